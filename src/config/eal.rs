//! Reads the lcore set out of EAL arguments, so `--workers` is checked
//! before EAL starts rather than failing inside it.

/// Lcore ids go from 0 to `MAX_LCORE - 1` (DPDK's `RTE_MAX_LCORE`, fixed
/// when DPDK is built: 128 in Debian's packages).
pub const MAX_LCORE: u32 = crate::ffi::RTE_MAX_LCORE;

/// Why an EAL lcore argument could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot read EAL lcore argument `{option} {value}`: {problem}")]
pub struct LcoreArgError {
    pub option: String,
    pub value: String,
    pub problem: String,
}

/// Number of distinct lcores named by `-l`, `--lcores` or `-c`; `None`
/// when none is given, in which case EAL uses every CPU of the process and
/// nothing is checked. Lcore ids must be below [`MAX_LCORE`]. A second
/// lcore option is refused, as EAL refuses it ("Option -l is ignored,
/// because (-l) is set!", then a failed init).
pub fn lcore_count(eal: &[String]) -> Result<Option<usize>, LcoreArgError> {
    let Some((opt, value)) = lcore_option(eal)? else {
        return Ok(None);
    };
    let err = |problem: String| LcoreArgError {
        option: opt.to_owned(),
        value: shorten(value),
        problem,
    };
    if value.is_empty() {
        return Err(err("the option has no value".into()));
    }
    let count = if opt == "-c" {
        count_mask(value).map_err(err)?
    } else {
        count_lcore_list(value).map_err(err)?
    };
    if count == 0 {
        return Err(err("it names no lcore".into()));
    }
    Ok(Some(count))
}

/// The one lcore option of the EAL arguments (option, value), if any.
fn lcore_option(eal: &[String]) -> Result<Option<(&str, &str)>, LcoreArgError> {
    let mut last: Option<(&str, &str)> = None;
    let mut i = 0;
    while i < eal.len() {
        let arg = eal[i].as_str();
        let next = eal.get(i + 1).map_or("", String::as_str);
        let (found, consumed_next) = if arg == "-l" || arg == "--lcores" || arg == "-c" {
            (Some((arg, next)), true)
        } else if let Some(v) = arg.strip_prefix("--lcores=") {
            (Some(("--lcores", v)), false)
        } else if let Some(v) = arg.strip_prefix("-l").filter(|_| !arg.starts_with("--")) {
            (Some(("-l", v)), false)
        } else if let Some(v) = arg.strip_prefix("-c").filter(|_| !arg.starts_with("--")) {
            (Some(("-c", v)), false)
        } else {
            (None, false)
        };
        if let Some((opt, value)) = found {
            if let Some((first, first_value)) = last {
                return Err(LcoreArgError {
                    option: opt.to_owned(),
                    value: shorten(value),
                    problem: format!(
                        "`{first} {}` already names the lcores; EAL takes one of -l, -c and --lcores and fails on a second",
                        shorten(first_value)
                    ),
                });
            }
            last = Some((opt, value));
        }
        i += if consumed_next { 2 } else { 1 };
    }
    Ok(last)
}

/// A CPU the EAL arguments pin an lcore to that this machine does not
/// have online (`/sys/devices/system/cpu/online`), and that list: EAL
/// would fail with "lcore N unavailable" or "invalid parameter for
/// --lcores" after it started. With `-l` and `-c` lcore `i` runs on CPU
/// `i`; `--lcores` names the CPUs after `@` (an element without one runs
/// on the CPU of its id). EAL checks that each CPU exists, not that the
/// process's affinity (`taskset`, a cgroup) includes it, and neither does
/// this. `None` when every CPU is there, or when the option or the CPU
/// list cannot be read (then EAL judges).
pub fn cpu_not_online(eal: &[String]) -> Option<(u32, String)> {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    let online = online.trim().to_owned();
    cpu_outside(eal, &online).map(|c| (c, online))
}

/// `cpu_not_online` against a given CPU list.
fn cpu_outside(eal: &[String], online: &str) -> Option<u32> {
    let (opt, value) = lcore_option(eal).ok()??;
    let placed: Vec<(u32, u32)> = match opt {
        "-c" => mask_bits(value).ok()?.into_iter().map(|b| (b, b)).collect(),
        _ => lcore_cpus(value)?,
    };
    let online = cpu_ranges(online)?;
    // The first placed CPU no online range holds.
    placed.into_iter().find_map(|(lo, hi)| {
        let mut c = lo;
        while let Some(&(_, end)) = online.iter().find(|(a, b)| (*a..=*b).contains(&c)) {
            if end >= hi {
                return None;
            }
            c = end + 1;
        }
        Some(c)
    })
}

/// The CPUs an `-l` or `--lcores` value places its lcores on, as ranges.
fn lcore_cpus(value: &str) -> Option<Vec<(u32, u32)>> {
    let mut cpus = Vec::new();
    for element in split_top_level(value)? {
        let at = element.find('@').filter(|at| !in_parens_at(element, *at));
        let part = match at {
            Some(at) => &element[at + 1..],
            None => element,
        };
        let flat: String = part.chars().filter(|c| *c != '(' && *c != ')').collect();
        cpus.extend(cpu_ranges(&flat)?);
    }
    Some(cpus)
}

/// The ranges of a kernel CPU list (`0-3,8`); `None` if it does not parse.
fn cpu_ranges(list: &str) -> Option<Vec<(u32, u32)>> {
    list.split(',')
        .map(|item| {
            let (lo, hi) = match item.trim().split_once('-') {
                Some((a, b)) => (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?),
                None => {
                    let n = item.trim().parse::<u32>().ok()?;
                    (n, n)
                }
            };
            (lo <= hi).then_some((lo, hi))
        })
        .collect()
}

/// How many lcores EAL makes when no lcore option is given: one per CPU
/// this process may run on (its affinity, `Cpus_allowed_list` in
/// `/proc/self/status`) whose id is below [`MAX_LCORE`]. `None` when the
/// list cannot be read (then only [`MAX_LCORE`] bounds the workers).
pub fn default_lcore_count() -> Option<usize> {
    count_cpu_list(&allowed_cpu_list()?)
}

/// The CPUs this process may run on (its affinity: `Cpus_allowed_list` in
/// `/proc/self/status`, as `taskset` or a cgroup set it), as a kernel CPU
/// list; `None` when it cannot be read.
pub fn allowed_cpu_list() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|l| l.trim().to_owned())
}

/// An EAL lcore option for `lcores` lcores that a shell takes as it is and
/// that places them only on CPUs of `allowed` (the process's affinity, a
/// kernel CPU list): `-l` with the first of those CPUs when enough of them
/// have ids that can be lcore ids, else `--lcores '(0-N)@(CPUS)'`, lcores
/// sharing the allowed CPUs (quoted: bash reads the parentheses as syntax).
/// Without a readable `allowed`, lcores sharing CPU 0.
pub fn lcore_option_for(lcores: usize, allowed: Option<&str>) -> String {
    let last = lcores.saturating_sub(1);
    let Some(ranges) = allowed.and_then(cpu_ranges) else {
        return format!("--lcores '(0-{last})@0'");
    };
    // `-l` ids are both lcore and CPU ids: only CPUs below MAX_LCORE.
    let mut picked: Vec<(u32, u32)> = Vec::new();
    let mut left = lcores as u64;
    for (lo, hi) in ranges.iter().copied().filter(|(lo, _)| *lo < MAX_LCORE) {
        if left == 0 {
            break;
        }
        let hi = hi.min(MAX_LCORE - 1);
        let take = (u64::from(hi - lo) + 1).min(left);
        picked.push((lo, lo + (take - 1) as u32));
        left -= take;
    }
    if left == 0 {
        return format!("-l {}", format_cpu_ranges(&picked));
    }
    format!("--lcores '(0-{last})@({})'", format_cpu_ranges(&ranges))
}

/// A kernel CPU list (`0-3,8`) of ranges.
fn format_cpu_ranges(ranges: &[(u32, u32)]) -> String {
    ranges
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// CPUs of a kernel CPU list (`0-3,8,10-11`) with an id below
/// [`MAX_LCORE`]; `None` if it does not parse.
fn count_cpu_list(list: &str) -> Option<usize> {
    let ranges = cpu_ranges(list)?;
    Some(
        ranges
            .into_iter()
            .filter(|(lo, _)| *lo < MAX_LCORE)
            .map(|(lo, hi)| (hi.min(MAX_LCORE - 1) - lo) as usize + 1)
            .sum(),
    )
}

/// A value cut to 200 characters for messages (an lcore list can be long).
pub(super) fn shorten(s: &str) -> String {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}… ({} more characters)", &s[..i], s[i..].chars().count()),
        None => s.to_owned(),
    }
}

fn too_high(what: &str) -> String {
    format!(
        "{what}: lcore ids go from 0 to {} (RTE_MAX_LCORE is {MAX_LCORE} in this DPDK build)",
        MAX_LCORE - 1
    )
}

/// Bits set in a hexadecimal core mask; a bit at or above [`MAX_LCORE`] is
/// refused.
fn count_mask(mask: &str) -> Result<usize, String> {
    let bits = mask_bits(mask)?;
    if let Some(&highest) = bits.iter().max().filter(|b| **b >= MAX_LCORE) {
        return Err(too_high(&format!("the mask sets bit {highest}")));
    }
    Ok(bits.len())
}

/// The bits set in a hexadecimal core mask (`0x1f`, `1f`).
fn mask_bits(mask: &str) -> Result<Vec<u32>, String> {
    const SYNTAX: &str = "a core mask is hexadecimal, e.g. 0x1f";
    let hex = mask
        .strip_prefix("0x")
        .or_else(|| mask.strip_prefix("0X"))
        .unwrap_or(mask);
    if hex.is_empty() {
        return Err(SYNTAX.into());
    }
    let mut bits = Vec::new();
    // The last digit holds lcores 0-3, the one before it 4-7, and so on.
    for (pos, c) in hex.chars().rev().enumerate() {
        let digit = c.to_digit(16).ok_or_else(|| SYNTAX.to_owned())?;
        for bit in (0..4).filter(|b| digit >> b & 1 == 1) {
            bits.push(u32::try_from(pos * 4 + bit).map_err(|_| SYNTAX.to_owned())?);
        }
    }
    Ok(bits)
}

/// Counts lcore ids in `-l 0-3,5` or `--lcores '(0-3)@1,4@2,5'` syntax; the
/// `@cpus` part says where an lcore runs and does not add lcores. Ranges are
/// merged, not expanded, so a long list costs memory in proportion to its
/// length only.
fn count_lcore_list(list: &str) -> Result<usize, String> {
    const SYNTAX: &str = "expected a list such as 0-4 or 0,2,4 or (0-3)@1";
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for element in split_top_level(list).ok_or(SYNTAX)? {
        let lcores = match element.find('@') {
            Some(at) if !in_parens_at(element, at) => &element[..at],
            _ => element,
        };
        let inner = lcores
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or(lcores);
        for item in inner.split(',') {
            let item = item.trim();
            let id = |s: &str| -> Result<u32, String> {
                let s = s.trim();
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SYNTAX.into());
                }
                match s.parse::<u32>() {
                    Ok(n) if n < MAX_LCORE => Ok(n),
                    _ => Err(too_high(&format!("lcore {s}"))),
                }
            };
            let (lo, hi) = match item.split_once('-') {
                Some((a, b)) => (id(a)?, id(b)?),
                None => {
                    let n = id(item)?;
                    (n, n)
                }
            };
            if lo > hi {
                return Err(format!(
                    "the range {lo}-{hi} goes downwards; write {hi}-{lo}"
                ));
            }
            ranges.push((lo, hi));
        }
    }
    ranges.sort_unstable();
    let mut count = 0usize;
    let mut covered_to: Option<u32> = None; // highest id counted so far
    for (lo, hi) in ranges {
        let from = match covered_to {
            Some(c) if c >= hi => continue,
            Some(c) if c >= lo => c + 1,
            _ => lo,
        };
        count += (hi - from) as usize + 1;
        covered_to = Some(hi);
    }
    Ok(count)
}

/// Splits at commas that are not inside parentheses.
fn split_top_level(s: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return None;
    }
    out.push(&s[start..]);
    Some(out)
}

fn in_parens_at(s: &str, pos: usize) -> bool {
    let before = &s[..pos];
    before.matches('(').count() > before.matches(')').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    /// The suggested lcore option is shell-safe and uses allowed CPUs only.
    #[test]
    fn lcore_option_for_uses_the_allowed_cpus() {
        // Enough allowed CPUs: plain -l on the first of them.
        assert_eq!(lcore_option_for(3, Some("2-3,6-9")), "-l 2-3,6");
        assert_eq!(lcore_option_for(2, Some("5,7")), "-l 5,7");
        // Too few: lcores share them, quoted for the shell.
        assert_eq!(lcore_option_for(3, Some("4-5")), "--lcores '(0-2)@(4-5)'");
        // CPUs above MAX_LCORE cannot be -l ids, but can be placed on.
        assert_eq!(
            lcore_option_for(2, Some("130-131")),
            "--lcores '(0-1)@(130-131)'"
        );
        assert_eq!(lcore_option_for(2, None), "--lcores '(0-1)@0'");
        assert_eq!(lcore_option_for(2, Some("junk")), "--lcores '(0-1)@0'");
        // Every suggestion is a valid lcore option for that many lcores
        // on CPUs the list allows.
        for (n, allowed) in [(3, "2-3,6-9"), (3, "4-5"), (2, "130-131")] {
            let opt = lcore_option_for(n, Some(allowed));
            let (flag, value) = opt.split_once(' ').unwrap();
            let value = value.trim_matches('\'');
            assert_eq!(lcore_count(&v(&[flag, value])), Ok(Some(n)), "{opt}");
            assert_eq!(cpu_outside(&v(&[flag, value]), allowed), None, "{opt}");
        }
    }

    #[test]
    fn lcore_forms() {
        assert_eq!(lcore_count(&v(&["-n", "4"])), Ok(None));
        // Lcores placed on CPUs the machine does not have (EAL: "lcore N
        // unavailable"), found before EAL.
        let outside = |args: &[&str], online: &str| cpu_outside(&v(args), online);
        assert_eq!(outside(&["-l", "0-2"], "0-1"), Some(2));
        assert_eq!(outside(&["-l", "0-1"], "0-1"), None);
        assert_eq!(outside(&["-l0,3"], "0-1,3"), None);
        assert_eq!(outside(&["-c", "0x5"], "0-1"), Some(2));
        assert_eq!(outside(&["-c", "0x3"], "0,1"), None);
        assert_eq!(outside(&["--lcores", "0@0,1@1,2@1"], "0-1"), None);
        assert_eq!(outside(&["--lcores", "0@2,1@1"], "0-1"), Some(2));
        assert_eq!(outside(&["--lcores", "(0-1)@(0-2)"], "0-1"), Some(2));
        assert_eq!(outside(&["--lcores", "5@0,6@1,(7-9)@(0,1)"], "0-1"), None);
        assert_eq!(outside(&["--lcores=(0-2)"], "0-1"), Some(2));
        assert_eq!(outside(&["-n", "4"], "0"), None);
        assert_eq!(outside(&["-l", "0-2"], "garbage"), None);
        assert_eq!(lcore_count(&v(&["-l", "0-4", "-n", "4"])), Ok(Some(5)));
        assert_eq!(lcore_count(&v(&["-l0,2,4"])), Ok(Some(3)));
        assert_eq!(lcore_count(&v(&["--lcores=(0-3)@1,4@2,5"])), Ok(Some(6)));
        assert_eq!(lcore_count(&v(&["--lcores", "0@(0,1),1-2"])), Ok(Some(3)));
        assert_eq!(lcore_count(&v(&["-c", "0x1f"])), Ok(Some(5)));
        assert_eq!(lcore_count(&v(&["-cff"])), Ok(Some(8)));
        // A second lcore option: EAL refuses it, so do we.
        for twice in [
            &["-l", "0-7", "-l", "0-1"][..],
            &["-c", "0x3", "--lcores", "0-1"],
            &["-l0-1", "-cff"],
        ] {
            let e = lcore_count(&v(twice)).unwrap_err();
            assert!(e.problem.contains("already names the lcores"), "{e}");
        }
        // Other long options starting with -l / -c are not lcore options.
        assert_eq!(
            lcore_count(&v(&["--log-level", "8", "--create-uio-dev"])),
            Ok(None)
        );
        assert!(lcore_count(&v(&["-l", "4-2"])).is_err());
        assert!(lcore_count(&v(&["-l"])).is_err());
        assert!(lcore_count(&v(&["-c", "0xg"])).is_err());
        assert!(lcore_count(&v(&["-c", "0x0"])).is_err());
        assert!(lcore_count(&v(&["--lcores", "(0-1"])).is_err());
        assert!(lcore_count(&v(&["-l", "+1"])).is_err());
        assert!(lcore_count(&v(&["-l", "0,,1"])).is_err());
    }

    #[test]
    fn cpu_lists_count_the_cpus_eal_can_use() {
        assert_eq!(count_cpu_list("0-1"), Some(2));
        assert_eq!(count_cpu_list("0"), Some(1));
        assert_eq!(count_cpu_list("0-3,8,10-11"), Some(7));
        let max = MAX_LCORE;
        assert_eq!(
            count_cpu_list(&format!("0-{}", max + 63)),
            Some(max as usize)
        );
        assert_eq!(count_cpu_list(&format!("{max}-{}", max + 3)), Some(0));
        assert_eq!(count_cpu_list("3-1"), None);
        assert_eq!(count_cpu_list("x"), None);
        // This process's own list reads.
        assert!(default_lcore_count().is_some_and(|n| n >= 1));
    }

    #[test]
    fn overlapping_ranges_count_once() {
        assert_eq!(lcore_count(&v(&["-l", "0-3,2-5,5,1"])), Ok(Some(6)));
        assert_eq!(lcore_count(&v(&["-l", "4-7,0-1,0-7"])), Ok(Some(8)));
        assert_eq!(lcore_count(&v(&["-l", "0-1,3-4"])), Ok(Some(4)));
        assert_eq!(
            lcore_count(&v(&["--lcores", "(0-3)@0,(2-5)@1"])),
            Ok(Some(6))
        );
        let max = MAX_LCORE - 1;
        assert_eq!(
            lcore_count(&v(&["-l", &format!("0-{max}")])),
            Ok(Some(MAX_LCORE as usize))
        );
    }

    #[test]
    fn lcore_ids_above_rte_max_lcore_are_refused() {
        for list in [
            format!("{MAX_LCORE}"),
            format!("0-{MAX_LCORE}"),
            "0-4294967295".to_owned(),
            "99999999999".to_owned(),
        ] {
            let err = lcore_count(&v(&["-l", &list])).unwrap_err();
            assert!(err.problem.contains("RTE_MAX_LCORE"), "{list}: {err}");
        }
        // A mask bit at RTE_MAX_LCORE or above.
        let mask = format!("0x1{}", "0".repeat(MAX_LCORE as usize / 4));
        let err = lcore_count(&v(&["-c", &mask])).unwrap_err();
        assert!(err.problem.contains("RTE_MAX_LCORE"), "{err}");
        let ok = format!("0x8{}", "0".repeat(MAX_LCORE as usize / 4 - 1));
        assert_eq!(lcore_count(&v(&["-c", &ok])), Ok(Some(1)));
        assert_eq!(
            lcore_count(&v(&["-c", "0x000000000000000000000000000000000000000f"])),
            Ok(Some(4))
        );
    }

    #[test]
    fn a_long_lcore_list_is_counted_without_expanding_it() {
        // 10 KB of large ranges: counted from the ranges, not by listing
        // every id (which once took hundreds of MB).
        let list = vec!["0-127"; 2000].join(",");
        assert!(list.len() > 10_000);
        assert_eq!(lcore_count(&v(&["-l", &list])), Ok(Some(128)));
        let list = (0..2000)
            .map(|i| format!("{}", i % 128))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(lcore_count(&v(&["-l", &list])), Ok(Some(128)));
    }
}
