//! Bad input to the binary: a clear message and a non-zero exit, never a
//! panic (exit 101) or a hang.
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Outcome {
    code: Option<i32>,
    stderr: String,
    /// EAL's runtime directory of the run's --file-prefix was there after
    /// it ended (then removed).
    runtime_dir_left: bool,
}

/// Runs vxgate to its end, then removes what it left of EAL's runtime
/// directories.
fn vxgate(args: &[&str]) -> Outcome {
    let o = vxgate_leaving_dirs(args);
    remove_runtime_dirs();
    o
}

/// `vxgate` without the removal (for a run on another live run's prefix).
fn vxgate_leaving_dirs(args: &[&str]) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vxgate"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vxgate");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(_status) = child.try_wait().unwrap() {
            break;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("vxgate {args:?} hung");
        }
        vxgate::ops::pause(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let runtime_dir_left = args
        .iter()
        .find_map(|a| a.strip_prefix("--file-prefix="))
        .is_some_and(|p| std::path::Path::new("/var/run/dpdk").join(p).exists());
    Outcome {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        runtime_dir_left,
    }
}

/// EAL's runtime directories of this test process's vxgate runs.
fn remove_runtime_dirs() {
    let pid = std::process::id();
    if let Ok(dirs) = std::fs::read_dir("/var/run/dpdk") {
        for d in dirs.flatten() {
            let name = d.file_name().to_string_lossy().into_owned();
            if name.starts_with("vxt-cli-") && name.ends_with(&format!("-{pid}")) {
                let _ = std::fs::remove_dir_all(d.path());
            }
        }
    }
}

fn prefix(tag: &str) -> String {
    format!("--file-prefix=vxt-cli-{tag}-{}", std::process::id())
}

/// A configuration error found before EAL: exit 2, each of `needles` in
/// the message, no line of EAL's and no runtime directory of it.
fn assert_refused_before_eal(what: &str, o: &Outcome, needles: &[&str]) {
    assert_eq!(o.code, Some(2), "{what}: {}", o.stderr);
    for needle in needles {
        assert_clean_failure(o, needle);
    }
    assert!(
        !o.stderr.contains("EAL:"),
        "{what} started EAL:\n{}",
        o.stderr
    );
    assert!(!o.runtime_dir_left, "{what}: EAL's runtime directory made");
}

fn assert_clean_failure(o: &Outcome, needle: &str) {
    assert!(
        matches!(o.code, Some(c) if c != 0 && c != 101),
        "expected a non-zero, non-panic exit, got {:?}; stderr:\n{}",
        o.code,
        o.stderr
    );
    assert!(!o.stderr.contains("panicked"), "panicked:\n{}", o.stderr);
    assert!(
        o.stderr.contains(needle),
        "stderr lacks {needle:?}:\n{}",
        o.stderr
    );
}

/// A port id EAL has no port of: known only once EAL runs (exit 1), the
/// error lists the ports there are.
#[test]
fn unknown_port_id_is_refused_with_the_list_of_devices() {
    let p = prefix("dev");
    let o = vxgate(&[
        "fwd",
        "--port-a",
        "9",
        "--port-b",
        "net_null0",
        "--",
        "--no-pci",
        "--vdev=net_null0",
        // No page file left behind (the probed port is never closed).
        "--in-memory",
        &p,
    ]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert_clean_failure(&o, "unknown DPDK device \"9\"");
    assert!(
        o.stderr.contains("0=net_null0"),
        "lists what exists:\n{}",
        o.stderr
    );
}

/// A port name the EAL arguments create no device of: `fwd` and `pktgen`
/// refuse it before EAL (exit 2, the flag named), as `run` does.
#[test]
fn fwd_and_pktgen_refuse_a_port_without_its_vdev_before_eal() {
    let p = prefix("fwdnovdev");
    let fwd = vxgate(&[
        "fwd",
        "--port-a",
        "net_nothere9",
        "--port-b",
        "net_null0",
        "--",
        "--no-pci",
        "--vdev=net_null0",
        &p,
    ]);
    let p = prefix("pgnovdev");
    let pktgen = vxgate(&[
        "pktgen",
        "--tx-port",
        "net_ring0",
        "--rx-port",
        "net_ring5",
        "--count",
        "10",
        "--",
        "--no-pci",
        "--vdev=net_ring0",
        &p,
    ]);
    for (what, o, key) in [
        ("fwd", fwd, "invalid port-a `net_nothere9`"),
        ("pktgen", pktgen, "invalid rx-port `net_ring5`"),
    ] {
        assert_refused_before_eal(what, &o, &[key, "no virtual device of that name"]);
    }
}

/// An option EAL does not have: a configuration error before EAL (exit 2,
/// the option named), for `fwd`, `pktgen` and `run`, which EAL would
/// refuse with its whole usage text (exit 1, restarted for ever by a
/// service manager).
#[test]
fn bad_eal_arguments_are_refused_before_eal() {
    let p = prefix("eal");
    let fwd = vxgate(&[
        "fwd",
        "--port-a",
        "0",
        "--port-b",
        "1",
        "--",
        "--no-such-eal-flag",
        &p,
    ]);
    let pktgen = vxgate(&["pktgen", "--tx-port", "0", "--", "-m", "abc", &p]);
    let run = vxgate(&[
        "run",
        "--underlay",
        "0",
        "--underlay-ip",
        "172.28.147.40/27",
        "--access",
        "1",
        "--check-config",
        "--",
        "--file-prefx",
        "vx",
    ]);
    for (what, o, says) in [
        ("fwd", fwd, "EAL has no option `--no-such-eal-flag`"),
        ("pktgen", pktgen, "`-m abc`: EAL takes a number"),
        (
            "run",
            run,
            "EAL has no option `--file-prefx` (`--file-prefix`?)",
        ),
    ] {
        assert_refused_before_eal(what, &o, &[says]);
    }
}

#[test]
fn unprobeable_vdev_is_refused() {
    let p = prefix("vdev");
    let o = vxgate(&[
        "fwd",
        "--port-a",
        "0",
        "--port-b",
        "1",
        "--",
        "--no-pci",
        "--vdev=net_nosuchdriver0",
        &p,
    ]);
    assert_clean_failure(&o, "could not be probed");
}

/// A second process with the first one's --file-prefix: EAL cannot lock
/// its runtime files and sets no errno; the message says what it usually
/// means instead of "Success".
#[test]
fn a_second_process_with_the_same_file_prefix_is_told_why() {
    let p = prefix("dup");
    let eal = |lcore: &'static str| {
        [
            "--no-pci",
            "--vdev=net_null0",
            "--vdev=net_null1",
            "-l",
            lcore,
        ]
    };
    let fwd = ["fwd", "--port-a", "net_null0", "--port-b", "net_null1"];
    let first = Stopped(
        Command::new(env!("CARGO_BIN_EXE_vxgate"))
            .args(fwd)
            .args(["--duration", "20", "--"])
            .args(eal("0"))
            .arg(&p)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the first vxgate"),
        p.trim_start_matches("--file-prefix=").to_owned(),
    );
    let dir = format!("/var/run/dpdk/{}", p.trim_start_matches("--file-prefix="));
    let t = Instant::now();
    while !std::path::Path::new(&dir).join("config").exists() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the first vxgate did not start EAL"
        );
        vxgate::ops::pause(Duration::from_millis(20));
    }
    let args: Vec<&str> = fwd
        .iter()
        .copied()
        .chain(["--"])
        .chain(eal("1"))
        .chain([p.as_str()])
        .collect();
    let o = vxgate_leaving_dirs(&args);
    // The first one's directory is its own, not the failed second's.
    let kept = std::path::Path::new(&dir).join("config").exists();
    drop(first);
    assert_clean_failure(&o, "another DPDK process runs with the same --file-prefix");
    assert!(kept, "the running vxgate's {dir} was removed");
}

/// A vxgate child stopped when dropped (also when the test panics): a
/// clean stop (SIGTERM; SIGKILL after 30 s), then its runtime directory
/// and its page files (it runs without --in-memory, which would take the
/// lock away; a clean stop removes them itself, a killed one does not).
struct Stopped(std::process::Child, String);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        if self.0.wait_timeout(Duration::from_secs(30)).is_none() {
            self.0.kill().ok();
            self.0.wait().ok();
        }
        remove_runtime_dirs();
        common::runtime_dir::remove_page_files(&self.1);
    }
}

/// Waits for a child up to `limit`; `None` if it still runs.
trait WaitTimeout {
    fn wait_timeout(&mut self, limit: Duration) -> Option<std::process::ExitStatus>;
}

impl WaitTimeout for std::process::Child {
    fn wait_timeout(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let t = Instant::now();
        while t.elapsed() < limit {
            if let Ok(Some(s)) = self.try_wait() {
                return Some(s);
            }
            vxgate::ops::pause(Duration::from_millis(20));
        }
        None
    }
}

/// `vxgate fwd` between two net_null devices, with `eal` added to its EAL
/// arguments and a file prefix of its own (`tag`).
fn fwd_on_null_devices(tag: &str, eal: &[&str]) -> Outcome {
    let p = prefix(tag);
    let mut args = vec![
        "fwd",
        "--port-a",
        "net_null0",
        "--port-b",
        "net_null1",
        "--",
        "--no-pci",
        "--vdev=net_null0",
        "--vdev=net_null1",
    ];
    args.extend_from_slice(eal);
    args.push(&p);
    vxgate(&args)
}

/// A port whose `--vdev` is missing is a config error found before etcd
/// and EAL (exit 2, the flag named), by a start and by `--check-config`,
/// even with etcd unreachable: EAL would have started and the port
/// lookup failed (exit 1, restarted forever by a service manager).
#[test]
fn a_port_without_its_vdev_exits_2_before_etcd_and_eal() {
    for (tag, check) in [("novdev", None), ("novdevchk", Some("--check-config"))] {
        let p = prefix(tag);
        let mut args = vec![
            "run",
            "--underlay",
            "net_null0",
            "--access",
            "net_null1",
            "--underlay-ip",
            "172.28.147.40/24",
            "--etcd-endpoints",
            "http://127.0.0.1:1",
        ];
        args.extend(check);
        args.extend(["--", "--no-pci", "--vdev=net_null0", &p]);
        let o = vxgate(&args);
        assert_eq!(o.code, Some(2), "{tag}: {}", o.stderr);
        assert_clean_failure(&o, "net_null1");
        for part in ["access", "create no virtual device", "--vdev net_null1,"] {
            assert!(
                o.stderr.contains(part),
                "{tag}: lacks {part:?}:\n{}",
                o.stderr
            );
        }
        assert!(
            !o.stderr.contains("etcd"),
            "{tag}: waited for etcd:\n{}",
            o.stderr
        );
        assert!(!o.runtime_dir_left, "{tag}: EAL started");
    }
}

/// `--huge-dir` on a plain directory while hugepages are free: EAL would
/// find no hugetlbfs there ("reserved, but no mounted hugetlbfs found"),
/// so it is refused before EAL starts; the error names the mount and the
/// --huge-dir, not a shortage of pages, and no runtime directory is left.
#[test]
fn a_huge_dir_without_hugetlbfs_is_named_and_leaves_no_runtime_dir() {
    let dir = tempfile::tempdir().unwrap();
    let huge = format!("--huge-dir={}", dir.path().display());
    let o = fwd_on_null_devices("huge", &[&huge]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert_clean_failure(
        &o,
        &format!(
            "no hugetlbfs is mounted for them at --huge-dir {}",
            dir.path().display()
        ),
    );
    assert!(
        o.stderr.contains("mount -t hugetlbfs"),
        "says how to fix it:\n{}",
        o.stderr
    );
    assert!(!o.stderr.contains("no free hugepages"), "{}", o.stderr);
    assert!(!o.runtime_dir_left, "EAL's runtime directory left behind");
}

/// Hugepages free, but fewer than `-m` asks for: the error says how many
/// are free and to ask for less, not that none are reserved.
#[test]
fn more_memory_than_the_free_hugepages_is_named_as_such() {
    // With --in-memory EAL's runtime directory stays empty; without, it
    // holds EAL's config and fbarrays when the memory fails.
    for (tag, in_memory) in [("mem", Some("--in-memory")), ("memf", None)] {
        let mut eal = vec!["-m", "99999999"];
        eal.extend(in_memory);
        let o = fwd_on_null_devices(tag, &eal);
        assert_eq!(o.code, Some(1), "{}", o.stderr);
        assert_clean_failure(&o, "MiB of hugepages are free; ask for less");
        assert!(!o.stderr.contains("no free hugepages"), "{}", o.stderr);
        // The runtime directory EAL made before it failed (with the
        // prefix's lock held: this process's) is gone.
        assert!(!o.runtime_dir_left, "{tag}: runtime directory left behind");
    }
}

#[test]
fn same_port_twice_is_refused_before_eal() {
    let o = vxgate(&[
        "fwd",
        "--port-a",
        "net_null0",
        "--port-b",
        "net_null0",
        "--",
        "--no-pci",
    ]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert_clean_failure(&o, "same device as --port-a");
}

/// An empty (or blank) port name is a flag error: exit 2, EAL not started
/// (it would print its own lines first).
#[test]
fn empty_port_names_are_refused_before_eal() {
    for args in [
        vec!["fwd", "--port-a", "", "--port-b", "net_null1"],
        vec!["fwd", "--port-a", "net_null0", "--port-b", "  "],
        vec!["pktgen", "--tx-port", ""],
        vec!["pktgen", "--tx-port", "net_ring0", "--rx-port", " "],
    ] {
        let mut all = args.clone();
        all.extend(["--", "--no-pci", "--in-memory"]);
        let o = vxgate(&all);
        assert_eq!(o.code, Some(2), "{args:?}: {}", o.stderr);
        assert_clean_failure(&o, "the device name is empty");
        assert!(
            !o.stderr.contains("EAL:"),
            "{args:?}: EAL started:\n{}",
            o.stderr
        );
    }
}

/// Pages reserved and free, but no hugetlbfs mounted (a mount namespace
/// of the test's own with every hugetlbfs unmounted): the error names the
/// missing mount, not a shortage of pages.
#[test]
fn a_missing_hugetlbfs_mount_is_named_as_such() {
    let free: u64 =
        std::fs::read_to_string("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
            .ok()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
    assert!(
        free > 0,
        "the test suite reserves hugepages (scripts/setup.sh)"
    );
    let p = prefix("nofs");
    let script = format!(
        "for m in $(awk '$3 == \"hugetlbfs\" {{print $2}}' /proc/mounts); do umount \"$m\" || exit 99; done; \
         exec {} fwd --port-a net_null0 --port-b net_null1 -- --no-pci --vdev=net_null0 --vdev=net_null1 {p}",
        env!("CARGO_BIN_EXE_vxgate")
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare");
    let o = Outcome {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        runtime_dir_left: std::path::Path::new("/var/run/dpdk")
            .join(p.trim_start_matches("--file-prefix="))
            .exists(),
    };
    assert_ne!(o.code, Some(99), "could not unmount: {}", o.stderr);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert_clean_failure(&o, "no hugetlbfs is mounted");
    assert!(!o.stderr.contains("no free hugepages"), "{}", o.stderr);
    assert!(!o.stderr.contains("EAL:"), "EAL not started:\n{}", o.stderr);
    assert!(
        !o.runtime_dir_left,
        "EAL not started, yet a runtime directory"
    );
}

#[test]
fn fwd_runs_for_a_set_duration_and_prints_counters() {
    let p = prefix("dur");
    let out = Command::new(env!("CARGO_BIN_EXE_vxgate"))
        .args([
            "fwd",
            "--port-a",
            "net_null0",
            "--port-b",
            "net_null1",
            "--duration",
            "0.5",
            "--",
            "-l",
            "0-1",
            "--no-pci",
            "--vdev=net_null0",
            "--vdev=net_null1",
            &p,
        ])
        .output()
        .unwrap();
    remove_runtime_dirs();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("a->b forwarded"), "{text}");
    assert!(text.contains("(tx_full drops 0)"), "{text}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("warning"), "{err}");
    let rate: f64 = text
        .split("rate ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|r| r.parse().ok())
        .expect("a rate figure");
    assert!(rate > 0.0, "{text}");
}

/// `vxgate run` with `flags` and EAL's `eal` against a real etcd holding
/// a network config: what is known only once EAL runs (port identity,
/// queues) comes after etcd's network config has been read.
fn run_with_network_config(tag: &str, flags: &[&str], eal: &[&str]) -> Outcome {
    let etcd = common::etcd::Etcd::start();
    etcd.ctl(&[
        "put",
        &format!("{}/config", common::etcd::PREFIX),
        r#"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#,
    ]);
    let endpoint = etcd.endpoint();
    let p = prefix(tag);
    let mut args = vec!["run", "--etcd-endpoints", &endpoint];
    args.extend([
        "--underlay-ip",
        "172.28.147.40/27",
        "--subnet",
        "10.244.255.0/24",
    ]);
    args.extend(flags);
    args.extend(["--", "--no-pci"]);
    args.extend(eal);
    args.push(&p);
    vxgate(&args)
}

#[test]
fn run_refuses_one_port_named_twice_by_id_and_by_name() {
    let o = run_with_network_config(
        "same",
        &["--underlay", "0", "--access", "net_null0"],
        &["--vdev=net_null0"],
    );
    assert_eq!(o.code, Some(2), "a configuration error: {}", o.stderr);
    assert_clean_failure(&o, "it is the same port as --underlay 0");
}

/// A device with fewer queues than `--workers` asks for (net_af_packet
/// without `qpairs`: one pair; on `lo`, which it only opens: the port is
/// refused before it is configured) is known only once EAL runs; like a
/// port named twice it is the configuration's to change (exit 2, no
/// restart loop), not a runtime failure.
#[test]
fn run_refuses_more_workers_than_a_device_has_queues() {
    let o = run_with_network_config(
        "queues",
        &[
            "--underlay",
            "net_af_packet0",
            "--access",
            "net_null0",
            "--workers",
            "2",
            "--mbufs",
            "8192",
        ],
        &[
            "--vdev=net_af_packet0,iface=lo",
            "--vdev=net_null0",
            "--lcores",
            "0@0,1@0,2@0",
        ],
    );
    assert_eq!(o.code, Some(2), "a configuration error: {}", o.stderr);
    assert_clean_failure(&o, "needs 2 RX / 2 TX queues (one of each per worker) but driver net_af_packet offers 1 / 1; use fewer --workers, or give the device more queues (net_af_packet: qpairs=2 in its --vdev)");
}

#[test]
fn fwd_duration_out_of_range_is_a_usage_error() {
    for (d, needle) in [
        ("inf", "give seconds from 0 to"),
        ("1e20", "give seconds from 0 to"),
        ("nan", "give seconds from 0 to"),
        ("soon", "is not a number of seconds"),
    ] {
        let o = vxgate(&["fwd", "--port-a", "0", "--port-b", "1", "--duration", d]);
        assert_eq!(o.code, Some(2), "--duration {d}: {}", o.stderr);
        assert_clean_failure(&o, needle);
    }
}

/// A negative number is read as the option's value and refused as a
/// number, not taken for an unknown option with clap's advice to put it
/// after `--` (where it would become an EAL argument).
#[test]
fn negative_numbers_are_refused_as_values() {
    let run = [
        "run",
        "--underlay",
        "net_null0",
        "--underlay-ip",
        "172.28.147.40/28",
        "--access",
        "net_null1",
        "--etcd-endpoints",
        "http://127.0.0.1:1",
    ];
    let cases: [(Vec<&str>, &str); 5] = [
        ([&run[..], &["--workers", "-1"]].concat(), "--workers"),
        (
            [&run[..], &["--subnet-lease-ttl", "-5"]].concat(),
            "--subnet-lease-ttl",
        ),
        (
            vec!["fwd", "--port-a", "0", "--port-b", "1", "--duration", "-1"],
            "seconds",
        ),
        (
            vec!["fwd", "--port-a", "0", "--port-b", "1", "--mbufs", "-1"],
            "--mbufs",
        ),
        (vec!["pktgen", "--count", "-3"], "--count"),
    ];
    for (args, needle) in cases {
        let o = vxgate(&args);
        assert_eq!(o.code, Some(2), "{args:?}: {}", o.stderr);
        assert!(!o.stderr.contains("-- -"), "{args:?}: {}", o.stderr);
        assert_clean_failure(&o, needle);
    }
}

#[test]
fn fwd_mbufs_out_of_range_is_a_usage_error() {
    for n in ["0", "383", "4095", "16777217", "2147483648"] {
        let o = vxgate(&["fwd", "--port-a", "0", "--port-b", "1", "--mbufs", n]);
        assert_eq!(o.code, Some(2), "--mbufs {n}: {}", o.stderr);
        assert_clean_failure(&o, "--mbufs");
    }
}

#[test]
fn fwd_refuses_one_port_named_twice_by_id_and_by_name() {
    let p = prefix("fwdsame");
    let o = vxgate(&[
        "fwd",
        "--port-a",
        "0",
        "--port-b",
        "net_null0",
        "--duration",
        "0.2",
        "--",
        "--no-pci",
        "--vdev=net_null0",
        "--vdev=net_null1",
        &p,
    ]);
    assert_eq!(o.code, Some(2), "a flag error: {}", o.stderr);
    assert_clean_failure(&o, "it names the same port as --port-a 0");
}

/// `--help` of every subcommand names the EAL arguments alike, and the
/// top-level example gives `fwd` its own `--file-prefix`, as the README
/// asks of every DPDK process.
#[test]
fn help_texts_agree_on_eal_args_and_give_a_file_prefix() {
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vxgate"))
            .args(args)
            .output()
            .expect("run vxgate");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for cmd in ["run", "fwd", "pktgen"] {
        let text = help(&[cmd, "--help"]);
        assert!(text.contains("[EAL_ARGS]"), "{cmd} --help:\n{text}");
        assert!(!text.contains("EAL ARGS"), "{cmd} --help:\n{text}");
    }
    let top = help(&["--help"]);
    let example = top
        .lines()
        .skip_while(|l| !l.contains("vxgate fwd"))
        .take(2)
        .collect::<String>();
    assert!(example.contains("--file-prefix"), "{top}");
}

/// An lcore on a CPU that is not online: `fwd` and `pktgen` refuse it
/// before EAL (exit 2, the CPU named), as `run` does, where EAL would
/// print its whole usage text and fail with "invalid EAL arguments".
#[test]
fn fwd_and_pktgen_refuse_an_lcore_on_a_cpu_that_is_not_there_before_eal() {
    let Some(missing) = common::cpu_not_online() else {
        return;
    };
    let l = format!("-l0-{missing}");
    let o = fwd_on_null_devices("fwdcpu", &[&l]);
    let p = prefix("pgcpu");
    let pktgen = vxgate(&[
        "pktgen",
        "--tx-port",
        "net_ring0",
        "--count",
        "10",
        "--",
        &l,
        "--no-pci",
        "--vdev=net_ring0",
        &p,
    ]);
    let needle = format!("an lcore would run on CPU {missing}");
    for (what, o) in [("fwd", o), ("pktgen", pktgen)] {
        assert_refused_before_eal(what, &o, &[&needle]);
    }
}

/// A net_pcap port replaying its file (`infinite_rx`) holds one mbuf per
/// frame: with the fewest --mbufs, nothing is left to forward with, and no
/// driver says so. fwd warns at start, naming --mbufs, rather than
/// forwarding nothing in silence.
#[test]
fn fwd_warns_when_the_started_ports_leave_too_few_mbufs() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("replay.pcap");
    let w = std::process::Command::new(env!("CARGO_BIN_EXE_vxgate"))
        .args(["pktgen", "--write-pcap", pcap.to_str().unwrap()])
        .args([
            "--dst-mac",
            "02:00:00:00:00:01",
            "--flows",
            "4096",
            "--count",
            "4096",
        ])
        .output()
        .unwrap();
    assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
    let replay = format!("--vdev=net_pcap0,rx_pcap={},infinite_rx=1", pcap.display());
    let p = prefix("fwdpool");
    let o = vxgate(&[
        "fwd",
        "--port-a",
        "net_pcap0",
        "--port-b",
        "net_null0",
        "--mbufs",
        "4096",
        "--duration",
        "0.3",
        "--",
        "-l",
        "0-1",
        "--no-pci",
        &replay,
        "--vdev=net_null0",
        &p,
    ]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("vxgate fwd: warning: the started ports hold")
            && o.stderr.contains("give more --mbufs"),
        "{}",
        o.stderr
    );
}

/// A device the EAL arguments ask for whose probe fails (here a pcap file
/// that is not there; a net_tap whose interface name is taken fails the
/// same way) is named as such, not as a device name never given.
#[test]
fn a_vdev_that_failed_to_probe_is_named_as_such() {
    let p = prefix("noprobe");
    let o = vxgate(&[
        "fwd",
        "--port-a",
        "net_pcap0",
        "--port-b",
        "net_null0",
        "--duration",
        "0.2",
        "--",
        "--no-pci",
        "--in-memory",
        "--vdev=net_pcap0,rx_pcap=/nonexistent/vxgate-test.pcap",
        "--vdev",
        "net_null0",
        &p,
    ]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert_clean_failure(
        &o,
        "device \"net_pcap0\" was asked for with --vdev, but EAL could not set it up",
    );
    assert!(!o.stderr.contains("unknown DPDK device"), "{}", o.stderr);
    // Ports by id: without the failed device every later id is one lower,
    // and port 0 would silently be net_null0. Refused the same.
    let p = prefix("noprobeid");
    let o = vxgate(&[
        "fwd",
        "--port-a",
        "0",
        "--port-b",
        "1",
        "--duration",
        "0.2",
        "--",
        "--no-pci",
        "--in-memory",
        "--vdev=net_pcap0,rx_pcap=/nonexistent/vxgate-test.pcap",
        "--vdev=net_null0",
        "--vdev=net_null1",
        &p,
    ]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert_clean_failure(&o, "device \"net_pcap0\" was asked for with --vdev");
}
