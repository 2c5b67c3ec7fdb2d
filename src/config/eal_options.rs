//! Whether EAL would take its arguments at all: every option one of
//! DPDK 22.11's, each with the value it needs, read as EAL's
//! `getopt_long` reads them. Checked before EAL starts (and by
//! `--check-config`), so a typo such as `--file-prefx` is a configuration
//! error (exit 2) rather than EAL's "invalid EAL arguments" after etcd was
//! asked (exit 1, which a service manager restarts forever).

/// EAL's short options (`eal_short_options`): (letter, takes a value).
const SHORT: &[(char, bool)] = &[
    ('a', true),
    ('b', true),
    ('c', true),
    ('s', true),
    ('d', true),
    ('h', false),
    ('l', true),
    ('S', true),
    ('m', true),
    ('n', true),
    ('r', true),
    ('v', false),
];

/// How a long option takes its value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Value {
    None,
    Required,
    /// Only as `--opt=VALUE`.
    Optional,
}

/// EAL's long options (`eal_long_options` of DPDK 22.11).
const LONG: &[(&str, Value)] = &[
    ("allow", Value::Required),
    ("base-virtaddr", Value::Required),
    ("block", Value::Required),
    ("create-uio-dev", Value::None),
    ("file-prefix", Value::Required),
    ("force-max-simd-bitwidth", Value::Required),
    ("help", Value::None),
    ("huge-dir", Value::Required),
    ("huge-unlink", Value::Optional),
    ("huge-worker-stack", Value::Optional),
    ("in-memory", Value::None),
    ("iova-mode", Value::Required),
    ("lcores", Value::Required),
    ("legacy-mem", Value::None),
    ("log-level", Value::Required),
    ("main-lcore", Value::Required),
    ("match-allocations", Value::None),
    ("mbuf-pool-ops-name", Value::Required),
    ("no-hpet", Value::None),
    ("no-huge", Value::None),
    ("no-pci", Value::None),
    ("no-shconf", Value::None),
    ("no-telemetry", Value::None),
    ("proc-type", Value::Required),
    ("single-file-segments", Value::None),
    ("socket-limit", Value::Required),
    ("socket-mem", Value::Required),
    ("syslog", Value::Optional),
    ("telemetry", Value::None),
    ("trace", Value::Required),
    ("trace-bufsz", Value::Required),
    ("trace-dir", Value::Required),
    ("trace-mode", Value::Required),
    ("vdev", Value::Required),
    ("vfio-intr", Value::Required),
    ("vfio-vf-token", Value::Required),
    ("vmware-tsc-map", Value::None),
];

/// What to do about an option EAL would refuse.
const FIX: &str = "correct the EAL arguments (after `--`, or the config file's `eal`); `dpdk-testpmd -h` lists EAL's options";

/// `Err((problem, fix))` when EAL would refuse `eal` (or, for `--help`,
/// print its usage and end the process).
pub fn check(eal: &[String]) -> Result<(), (String, String)> {
    let refuse = |problem: String| Err((problem, FIX.to_owned()));
    let mut i = 0;
    while i < eal.len() {
        let arg = eal[i].as_str();
        let next = eal.get(i + 1);
        i += 1;
        if arg == "--" {
            if let Some(rest) = eal.get(i) {
                return refuse(format!("`{rest}` follows a `--`, which ends EAL's options"));
            }
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let (full, value) = match find_long(name) {
                Ok(found) => found,
                Err(problem) => return refuse(problem),
            };
            let value = match (value, inline) {
                (Value::None, Some(_)) => {
                    return refuse(format!("`--{full}` takes no value, `{arg}` gives one"))
                }
                (Value::Required, None) => match next {
                    Some(v) => {
                        i += 1;
                        Some(v.as_str())
                    }
                    None => return refuse(format!("`--{full}` needs a value")),
                },
                (_, v) => v,
            };
            check_value(&format!("--{full}"), value)?;
            continue;
        }
        let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.is_empty()) else {
            return refuse(format!(
                "`{arg}` is no option; EAL takes options only (`-l 0-1`, `--vdev net_tap0`)"
            ));
        };
        // Short options, several in one argument (`-vl0-1`) as getopt
        // takes them; one that takes a value takes the rest, or the next.
        for (at, letter) in cluster.char_indices() {
            let Some(&(_, takes)) = SHORT.iter().find(|(c, _)| *c == letter) else {
                return refuse(format!("EAL has no option `-{letter}` (in `{arg}`)"));
            };
            if !takes {
                check_value(&format!("-{letter}"), None)?;
                continue;
            }
            let rest = &cluster[at + letter.len_utf8()..];
            let value = if !rest.is_empty() {
                rest
            } else if let Some(v) = next {
                i += 1;
                v.as_str()
            } else {
                return refuse(format!("`-{letter}` needs a value"));
            };
            check_value(&format!("-{letter}"), Some(value))?;
            break;
        }
    }
    Ok(())
}

/// The long option `name` names, exactly or as the one option it begins
/// (getopt takes unambiguous abbreviations).
fn find_long(name: &str) -> Result<(&'static str, Value), String> {
    if let Some(&(full, v)) = LONG.iter().find(|(n, _)| *n == name) {
        return Ok((full, v));
    }
    let matches: Vec<&(&str, Value)> = LONG
        .iter()
        .filter(|(n, _)| !name.is_empty() && n.starts_with(name))
        .collect();
    match matches[..] {
        [&(full, v)] => Ok((full, v)),
        [] => Err(match closest(name) {
            Some(near) => format!("EAL has no option `--{name}` (`--{near}`?)"),
            None => format!("EAL has no option `--{name}`"),
        }),
        _ => Err(format!(
            "`--{name}` is the start of several EAL options ({})",
            matches
                .iter()
                .map(|(n, _)| format!("--{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The long option nearest to a mistyped `name` (at most two edits).
fn closest(name: &str) -> Option<&'static str> {
    LONG.iter()
        .map(|(n, _)| (strsim::levenshtein(name, n), *n))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, n)| n)
}

/// The values EAL would refuse that are cheap to tell here, and `--help`,
/// with which EAL prints its usage and ends the process.
fn check_value(opt: &str, value: Option<&str>) -> Result<(), (String, String)> {
    let number = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    let one_of = |v: &str, ok: &[&str]| ok.contains(&v);
    match (opt, value) {
        (_, Some("")) => Err((format!("`{opt}` is given an empty value"), FIX.to_owned())),
        ("--iova-mode", Some(v)) if !one_of(v, &["pa", "va"]) => Err((
            format!("`--iova-mode {v}`: EAL takes pa or va"),
            FIX.to_owned(),
        )),
        ("--proc-type", Some(v)) if !one_of(v, &["primary", "secondary", "auto"]) => Err((
            format!("`--proc-type {v}`: EAL takes primary, secondary or auto"),
            FIX.to_owned(),
        )),
        ("-h" | "--help", _) => Err((
            format!("with `{opt}` EAL prints its usage and ends the process"),
            "drop it; `dpdk-testpmd -h` prints EAL's usage".to_owned(),
        )),
        ("-m" | "-n" | "-r", Some(v)) if !number(v) => Err((
            format!("`{opt} {v}`: EAL takes a number here"),
            FIX.to_owned(),
        )),
        ("--socket-mem" | "--socket-limit", Some(v)) if !v.split(',').all(number) => Err((
            format!("`{opt} {v}`: EAL takes MiB per NUMA socket, comma-separated (`1024,0`)"),
            FIX.to_owned(),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_arguments_eal_takes_pass() {
        for ok in [
            "",
            "-l 0-1 --no-pci --in-memory --file-prefix vx --vdev net_tap0,iface=a --vdev=net_tap1",
            "-l0-1 -m256 -n 4 --socket-mem 1024,0 --huge-dir=/dev/hugepages --log-level=lib.eal:warning",
            "--lcores 0@0,1@1 -a 0000:3b:00.0 --allow=0000:3b:00.1 -b 0000:5e:00.0",
            "--iova-mode va --iova-mode=pa --proc-type primary --proc-type=auto",
            "-vl 0-1 --huge-unlink --huge-unlink=never --syslog --syslog=daemon --no-telemetry",
            // getopt's unambiguous abbreviations.
            "--file-pref vx --in-mem --huge-worker-stack=512",
            // A value that looks like an option is still the value.
            "--file-prefix -x -l 0",
        ] {
            assert_eq!(check(&args(ok)), Ok(()), "{ok}");
        }
    }

    #[test]
    fn what_eal_refuses_is_named() {
        for (bad, says) in [
            (
                "--file-prefx vx",
                "EAL has no option `--file-prefx` (`--file-prefix`?)",
            ),
            ("--in-memroy", "`--in-memory`?"),
            ("--bogus-opt", "EAL has no option `--bogus-opt`"),
            ("-l 0-1 --socket-mem", "`--socket-mem` needs a value"),
            ("-m abc", "`-m abc`: EAL takes a number"),
            ("-m", "`-m` needs a value"),
            ("--socket-mem 1G", "MiB per NUMA socket"),
            ("-x", "EAL has no option `-x`"),
            ("-lv", ""),
            ("--no-pci=1", "`--no-pci` takes no value"),
            ("--no", "is the start of several EAL options"),
            ("-l 0-1 0", "`0` is no option"),
            ("--help", "prints its usage and ends the process"),
            ("-vh", "prints its usage"),
            ("-l 0 -- -x", "follows a `--`"),
            ("--master-lcore 0", "EAL has no option `--master-lcore`"),
            ("--iova-mode xx", "EAL takes pa or va"),
            ("--iova-mode PA", "EAL takes pa or va"),
            ("--proc-type=foo", "primary, secondary or auto"),
            ("--file-prefix=", "`--file-prefix` is given an empty value"),
            ("--lcores=", "`--lcores` is given an empty value"),
            ("--log-level=", "given an empty value"),
        ] {
            match check(&args(bad)) {
                Err((problem, _)) => assert!(problem.contains(says), "{bad}: {problem}"),
                // `-lv`: `v` is -l's value (EAL then refuses the list).
                Ok(()) => assert_eq!(bad, "-lv"),
            }
        }
    }
}
