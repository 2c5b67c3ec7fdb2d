//! `vxgate pktgen` with bad flags, run as the binary: exit code 2 and a
//! message naming the flag, the problem and the fix, before EAL starts (no
//! DPDK needed), never a panic, a hang or a huge allocation. The last tests
//! start EAL (`--no-pci`, their own `--file-prefix`): a flag contradiction
//! found only against the port's link speed still exits 2, a missing port
//! (a runtime failure) exits 1.
mod common;
mod netns;

use common::runtime_dir::RuntimeDir;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Outcome {
    code: Option<i32>,
    stderr: String,
}

/// Runs `vxgate pktgen ARGS` (60 s at most: a hang fails the test).
fn pktgen(args: &[&str]) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vxgate"));
    cmd.arg("pktgen").args(args);
    run(cmd, args)
}

/// `vxgate pktgen ARGS` with at most `kib` KiB of address space (`ulimit
/// -v`): an allocation beyond it fails loudly instead of swapping.
fn pktgen_in(kib: u32, args: &[&str]) -> Outcome {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" pktgen \"$@\""))
        .arg(env!("CARGO_BIN_EXE_vxgate"))
        .args(args);
    run(cmd, args)
}

fn run(mut cmd: Command, args: &[&str]) -> Outcome {
    let t = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vxgate");
    let deadline = t + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("vxgate pktgen {args:?} hung");
        }
        vxgate::ops::pause(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    Outcome {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Exit 2, one `vxgate: invalid KEY ...` line naming `--KEY` and holding
/// every needle, no panic.
fn assert_flag_error(args: &[&str], key: &str, needles: &[&str]) -> Outcome {
    let o = pktgen(args);
    assert_eq!(o.code, Some(2), "{args:?}: stderr:\n{}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{args:?}: {}", o.stderr);
    assert!(
        o.stderr.starts_with(&format!("vxgate: invalid {key} ")),
        "{args:?}: {}",
        o.stderr
    );
    assert!(
        o.stderr.contains(&format!("--{key}")),
        "{args:?}: {}",
        o.stderr
    );
    for n in needles {
        assert!(o.stderr.contains(n), "{args:?}: {} lacks {n:?}", o.stderr);
    }
    o
}

const DST: [&str; 2] = ["--dst-mac", "02:00:00:00:00:02"];

fn with(base: &[&str], extra: &[&str]) -> Vec<String> {
    base.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn too_many_leases_are_refused_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("x.pcap");
    let args = with(
        &[
            "--leases",
            "4294967295",
            "--network",
            "0.0.0.0/0",
            "--subnet-len",
            "30",
            "--write-pcap",
            pcap.to_str().unwrap(),
        ],
        &DST,
    );
    // It once built the 2^30 subnets first (8.4 GB); that the count is
    // checked before any allocation is proven without a clock by
    // `pktgen::args::tests::lease_counts_are_checked_before_any_allocation`.
    assert_flag_error(&strs(&args), "leases", &["1073741823"]);
    assert!(!pcap.exists());
}

/// A pcap that cannot be written: the path and the OS's reason, once.
#[test]
fn an_unwritable_pcap_path_is_named_with_its_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let o = pktgen(&strs(&with(
        &["--write-pcap", dir.path().to_str().unwrap()],
        &DST,
    )));
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    let reason = "Is a directory (os error 21)";
    assert!(
        o.stderr
            .contains(&format!("writing {}: {reason}", dir.path().display())),
        "{}",
        o.stderr
    );
    assert_eq!(o.stderr.matches(reason).count(), 1, "{}", o.stderr);
}

/// The most leases (VTEPs) that fit are allowed; only those the flows use
/// are built (it once built all 2^30, 8.6 GB, or 2^24 VTEPs, 134 MB).
#[test]
fn the_most_leases_that_fit_write_a_pcap_in_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("x.pcap");
    let net = ["--network", "0.0.0.0/0", "--subnet-len", "30"];
    for (mode, key, n) in [
        ("inner", "--leases", "1073741823"),
        ("vxlan", "--vteps", "16777216"),
    ] {
        let a = with(
            &[
                &[
                    "--mode",
                    mode,
                    key,
                    n,
                    "--write-pcap",
                    pcap.to_str().unwrap(),
                ][..],
                &net,
            ]
            .concat(),
            &DST,
        );
        // 100 MB of address space: the run itself needs under 30 MB.
        let o = pktgen_in(100_000, &strs(&a));
        assert_eq!(o.code, Some(0), "{mode}: {}", o.stderr);
        assert!(
            o.stderr.contains(&format!("wrote 1024 {mode} frames")),
            "{}",
            o.stderr
        );
        assert_eq!(
            std::fs::metadata(&pcap).unwrap().len(),
            24 + 1024 * (16 + if mode == "inner" { 60 } else { 110 }),
            "one frame per flow"
        );
    }
}

/// A million vxlan flow templates (115 MB) in 100 MB of address space:
/// a clear error and exit 1, not an allocation abort, and no file left
/// behind (no empty one, no temporary), an earlier file untouched.
#[test]
fn templates_beyond_the_memory_limit_exit_1_and_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("big.pcap");
    let a = with(
        &[
            "--mode",
            "vxlan",
            "--flows",
            "1048576",
            "--write-pcap",
            pcap.to_str().unwrap(),
        ],
        &DST,
    );
    let o = pktgen_in(100_000, &strs(&a));
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    for bad in ["panicked", "memory allocation of", "Aborted"] {
        assert!(!o.stderr.contains(bad), "{}", o.stderr);
    }
    assert!(
        o.stderr
            .contains("not enough memory for the frame templates of 1048576 flows")
            && o.stderr.contains("--flows"),
        "{}",
        o.stderr
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    std::fs::write(&pcap, b"earlier").unwrap();
    let o = pktgen_in(100_000, &strs(&a));
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert_eq!(std::fs::read(&pcap).unwrap(), b"earlier");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// The names in `dir`, sorted.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Kills the child if the test fails before it ends.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            self.0.kill().ok();
            self.0.wait().ok();
        }
    }
}

/// SIGINT or SIGTERM during a long --write-pcap, once its temporary file
/// exists: the write stops, the temporary file is removed (no partial
/// file, hidden or not), an earlier file is as it was, and the exit is
/// 130/143 with a line saying so. `ulimit -f` (4 GiB) bounds what a write
/// the signal failed to stop could put on the disk (SIGXFSZ ends it).
#[test]
fn a_signal_during_write_pcap_leaves_no_file_and_exits_130_or_143() {
    for (sig, code, name, earlier) in [
        ("INT", 130, "SIGINT", false),
        ("TERM", 143, "SIGTERM", true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let pcap = dir.path().join("big.pcap");
        if earlier {
            std::fs::write(&pcap, b"earlier").unwrap();
        }
        let a = with(
            &[
                "--count",
                "1000000000000",
                "--write-pcap",
                pcap.to_str().unwrap(),
            ],
            &DST,
        );
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("ulimit -f 4194304 && exec \"$0\" pktgen \"$@\"")
            .arg(env!("CARGO_BIN_EXE_vxgate"))
            .args(&a)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = Reap(cmd.spawn().expect("spawn vxgate"));
        let deadline = Instant::now() + Duration::from_secs(60);
        // Wait for the temporary file (the write under way).
        loop {
            let tmp = names_in(dir.path())
                .into_iter()
                .any(|n| n.starts_with(".big.pcap.") && n.ends_with(".tmp"));
            if tmp {
                break;
            }
            if let Some(st) = child.0.try_wait().unwrap() {
                panic!("pktgen ended ({st}) before its temporary file appeared");
            }
            assert!(Instant::now() < deadline, "no temporary file appeared");
            vxgate::ops::pause(Duration::from_millis(5));
        }
        let sent = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(child.0.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        while child.0.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "pktgen hung after SIG{sig}");
            vxgate::ops::pause(Duration::from_millis(10));
        }
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
        let status = child.0.wait().unwrap();
        assert_eq!(status.code(), Some(code), "{status} {stderr}");
        assert!(
            stderr.contains(&format!("interrupted by {name}"))
                && stderr.contains("not written")
                && !stderr.contains("panicked"),
            "{stderr}"
        );
        if earlier {
            assert_eq!(names_in(dir.path()), ["big.pcap"]);
            assert_eq!(std::fs::read(&pcap).unwrap(), b"earlier");
        } else {
            assert!(
                names_in(dir.path()).is_empty(),
                "{:?}",
                names_in(dir.path())
            );
        }
    }
}

/// --write-pcap to a symlink writes the file it names (the link stays a
/// link) and keeps that file's mode 0600; a new file gets the default
/// mode.
#[test]
fn write_pcap_writes_through_a_symlink_and_keeps_the_files_mode() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let real = dir.path().join("data/real.pcap");
    std::fs::write(&real, b"earlier").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("link.pcap");
    symlink("data/real.pcap", &link).unwrap();
    let write = |to: &std::path::Path| {
        let a = with(
            &["--count", "3", "--write-pcap", to.to_str().unwrap()],
            &DST,
        );
        let o = pktgen(&strs(&a));
        assert_eq!(o.code, Some(0), "{}", o.stderr);
    };
    write(&link);
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_symlink(), "the link was replaced");
    assert_eq!(std::fs::metadata(&real).unwrap().len(), 24 + 3 * (16 + 60));
    assert_eq!(mode(&real), 0o600);
    assert_eq!(names_in(dir.path()), ["data", "link.pcap"]);
    assert_eq!(names_in(&dir.path().join("data")), ["real.pcap"]);
    // A new file: the mode File::create gives (0666 less the umask).
    let reference = dir.path().join("reference");
    std::fs::File::create(&reference).unwrap();
    let fresh = dir.path().join("fresh.pcap");
    write(&fresh);
    assert_eq!(mode(&fresh), mode(&reference));
}

/// A group address as the source MAC: exit 2, naming --src-mac.
#[test]
fn a_multicast_or_broadcast_source_mac_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("x.pcap");
    for mac in ["ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01"] {
        assert_flag_error(
            &["--tx-port", "net_ring0", "--src-mac", mac],
            "src-mac",
            &[mac, "multicast or broadcast", "give a unicast --src-mac"],
        );
        let a = with(
            &["--src-mac", mac, "--write-pcap", pcap.to_str().unwrap()],
            &DST,
        );
        assert_flag_error(&strs(&a), "src-mac", &["give a unicast --src-mac"]);
    }
    assert!(!pcap.exists());
}

/// The all-zero MAC is no frame's source either: exit 2, naming --src-mac
/// (beside the multicast check), with --write-pcap as well.
#[test]
fn an_all_zero_source_mac_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("x.pcap");
    let zero = "00:00:00:00:00:00";
    assert_flag_error(
        &["--tx-port", "net_ring0", "--src-mac", zero],
        "src-mac",
        &[zero, "all-zero", "give a unicast --src-mac"],
    );
    let a = with(
        &["--src-mac", zero, "--write-pcap", pcap.to_str().unwrap()],
        &DST,
    );
    assert_flag_error(&strs(&a), "src-mac", &["give a unicast --src-mac"]);
    assert!(!pcap.exists());
}

/// UDP port 0 is no destination: --udp-port 0 and --vxlan-port 0 exit 2
/// naming the flag and its range.
#[test]
fn udp_port_zero_exits_2() {
    let tx = ["--tx-port", "net_ring0"];
    for (args, key) in [
        (&["--udp-port", "0"][..], "udp-port"),
        (&["--mode", "vxlan", "--udp-port", "0"][..], "udp-port"),
        (&["--mode", "vxlan", "--vxlan-port", "0"][..], "vxlan-port"),
    ] {
        let a = with(args, &tx);
        assert_flag_error(
            &strs(&a),
            key,
            &["port 0", &format!("give --{key} from 1 to 65535")],
        );
    }
    // The smallest and largest ports are fine (a pcap needs no EAL).
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("x.pcap");
    let write = ["--write-pcap", pcap.to_str().unwrap(), DST[0], DST[1]];
    for args in [
        &["--udp-port", "1"][..],
        &[
            "--mode",
            "vxlan",
            "--udp-port",
            "65535",
            "--vxlan-port",
            "1",
        ][..],
    ] {
        let a = with(args, &write);
        let o = pktgen(&strs(&a));
        assert_eq!(o.code, Some(0), "{args:?}: {}", o.stderr);
    }
}

/// An address pktgen would put on the wire may be neither the unspecified
/// address 0.0.0.0 nor the broadcast address 255.255.255.255: --gw-ip,
/// --host-ip, --vtep-base, the hosts and VTEPs counted from them, and the
/// destinations of --dst-subnets exit 2 naming the flag.
#[test]
fn unspecified_or_broadcast_addresses_on_the_wire_exit_2() {
    let tx = ["--tx-port", "net_ring0"];
    let vx = ["--mode", "vxlan"];
    for ip in ["0.0.0.0", "255.255.255.255"] {
        for (args, key) in [
            (with(&vx, &["--gw-ip", ip]), "gw-ip"),
            (with(&vx, &["--vtep-base", ip]), "vtep-base"),
            (with(&vx, &["--host-ip", ip]), "host-ip"),
            (with(&["--host-ip", ip], &[]), "host-ip"),
        ] {
            let a = with(&strs(&args), &tx);
            assert_flag_error(
                &strs(&a),
                key,
                &[ip, "not a host's address", &format!("give --{key} ")],
            );
        }
    }
    // Counted up to the broadcast address: blamed on the count.
    assert_flag_error(
        &[
            "--tx-port",
            "net_ring0",
            "--host-ip",
            "255.255.255.250",
            "--hosts",
            "6",
        ],
        "hosts",
        &["255.255.255.255", "give --hosts from 1 to 5"],
    );
    assert_flag_error(
        &[
            "--tx-port",
            "net_ring0",
            "--mode",
            "vxlan",
            "--vtep-base",
            "255.255.255.240",
            "--vteps",
            "16",
        ],
        "vteps",
        &[
            "255.255.255.255",
            "give fewer --vteps or a lower --vtep-base",
        ],
    );
    // A /31 or /32 destination subnet sends to all of its addresses.
    for net in [
        "0.0.0.0/32",
        "255.255.255.255/32",
        "255.255.255.254/31",
        "0.0.0.0/31",
    ] {
        assert_flag_error(
            &[
                "--tx-port",
                "net_ring0",
                "--dst-subnets",
                &format!("10.1.0.0/16,{net}"),
            ],
            "dst-subnets",
            &[net, "not a host's address"],
        );
    }
}

/// Sequence numbers are 48 bits: a rate kept for a duration may not need
/// more (they would wrap and show as reordered).
#[test]
fn a_rate_and_duration_beyond_48_bit_sequence_numbers_exit_2() {
    assert_flag_error(
        &[
            "--tx-port",
            "net_ring0",
            "--rate-pps",
            "1e10",
            "--duration",
            "315360000",
        ],
        "duration",
        &["2^48", "at most 28147 s at this rate", "--rate-pps"],
    );
}

#[test]
fn time_and_rate_flags_out_of_range_exit_2() {
    for (args, key, needle) in [
        (&["--duration", "1e10"][..], "duration", "315360000"),
        (&["--rate-pps", "1e-320"][..], "rate-pps", "from 1 to 1e10"),
        (
            &["--rfc2544", "--line-rate-mbps", "1e-300"][..],
            "line-rate-mbps",
            "from 1 to 1000000",
        ),
        (
            &["--drain-ms", "18446744073709551615"][..],
            "drain-ms",
            "from 0 to 60000",
        ),
        (&["--count", "0"][..], "count", "from 1 to 281474976710656"),
        (&["--rfc2544", "--trial", "1e10"][..], "trial", "315360000"),
        (
            &["--rfc2544", "--warmup-ms", "60001"][..],
            "warmup-ms",
            "from 0 to 60000",
        ),
        (
            &["--rfc2544", "--warmup-ms", "18446744073709551615"][..],
            "warmup-ms",
            "above the maximum, 60000 ms",
        ),
    ] {
        // With a TX port: refused before EAL (no EAL arguments given at all).
        let a = with(args, &["--tx-port", "net_ring0"]);
        assert_flag_error(&strs(&a), key, &[needle]);
    }
}

#[test]
fn contradictory_rfc2544_flags_exit_2() {
    let tx = ["--tx-port", "net_ring0"];
    for (args, key, needle) in [
        (
            &["--rfc2544", "--min-rate-pps", "1e300"][..],
            "min-rate-pps",
            "above the maximum",
        ),
        (
            &[
                "--rfc2544",
                "--line-rate-mbps",
                "1000",
                "--min-rate-pps",
                "2e6",
            ][..],
            "min-rate-pps",
            "above the line rate",
        ),
        (
            &["--rfc2544", "--rate-pps", "1000"][..],
            "rate-pps",
            "--rfc2544",
        ),
        (&["--min-rate-pps", "1000"][..], "min-rate-pps", "--rfc2544"),
        (
            &["--warmup-ms", "100"][..],
            "warmup-ms",
            "add --rfc2544, or drop --warmup-ms",
        ),
    ] {
        let a = with(args, &tx);
        assert_flag_error(&strs(&a), key, &[needle]);
    }
    // --trial without --rfc2544: clap's own error, also exit 2.
    let o = pktgen(&["--trial", "5", "--tx-port", "net_ring0"]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stderr.contains("--rfc2544"), "{}", o.stderr);
}

#[test]
fn mbufs_out_of_range_exit_2_before_dpdk() {
    // 2147483648 crashed (SIGSEGV) inside rte_pktmbuf_pool_create; 0..383
    // blamed hugepages and asked for fewer.
    for v in ["0", "383", "4287", "2147483648", "16777217"] {
        assert_flag_error(
            &["--mbufs", v, "--tx-port", "net_ring0"],
            "mbufs",
            &["from 4288 to 16777216"],
        );
    }
}

#[test]
fn a_network_too_small_for_leases_exits_2_naming_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("x.pcap");
    let a = with(
        &[
            "--network",
            "255.255.255.255/32",
            "--write-pcap",
            pcap.to_str().unwrap(),
        ],
        &DST,
    );
    let o = assert_flag_error(&strs(&a), "network", &["/29 or shorter"]);
    assert!(!o.stderr.contains("32..=30"), "{}", o.stderr);
}

#[test]
fn missing_ports_and_macs_exit_2() {
    assert_flag_error(&[], "tx-port", &["--write-pcap"]);
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("x.pcap");
    assert_flag_error(
        &["--write-pcap", pcap.to_str().unwrap()],
        "dst-mac",
        &["port MAC"],
    );
}

#[test]
fn good_flags_still_write_a_pcap() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("ok.pcap");
    let a = with(
        &[
            "--network",
            "10.0.0.0/29",
            "--subnet-len",
            "30",
            "--leases",
            "1",
            "--count",
            "3",
            "--write-pcap",
            pcap.to_str().unwrap(),
        ],
        &DST,
    );
    let o = pktgen(&strs(&a));
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(
        std::fs::metadata(&pcap).unwrap().len(),
        24 + 3 * (16 + 60),
        "pcap header and three 60-byte frames"
    );
    // The mode as the flag spells it, not Rust's `Inner`.
    assert!(
        o.stderr
            .contains("vxgate pktgen: wrote 3 inner frames of 64 B to "),
        "{}",
        o.stderr
    );
}

fn eal(tag: &str) -> (RuntimeDir, Vec<String>) {
    eal_on(tag, &["-l", "0"])
}

/// As [`eal`], with `lcores` as the EAL arguments that choose the lcores.
fn eal_on(tag: &str, lcores: &[&str]) -> (RuntimeDir, Vec<String>) {
    let prefix = format!("vxt-pgcli-{tag}-{}", std::process::id());
    let mut args = vec!["--".to_owned()];
    args.extend(lcores.iter().map(|s| s.to_string()));
    args.extend([
        "--no-pci".into(),
        "--in-memory".into(),
        format!("--file-prefix={prefix}"),
        "--vdev=net_ring0".into(),
        "--log-level=lib.eal:warning".into(),
    ]);
    (RuntimeDir(prefix), args)
}

#[test]
fn min_rate_above_the_ports_link_speed_exits_2() {
    // net_ring reports a 10 Gb/s link: 14.88 Mpps at 64 B.
    let (_dir, eal) = eal("minrate");
    let mut a = vec![
        "--tx-port".to_string(),
        "net_ring0".into(),
        "--rfc2544".into(),
        "--min-rate-pps".into(),
        "1e9".into(),
    ];
    a.extend(eal);
    let o = pktgen(&strs(&a));
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    assert!(
        o.stderr.contains("invalid min-rate-pps")
            && o.stderr.contains("port net_ring0's link speed"),
        "{}",
        o.stderr
    );
}

/// A port id EAL has no port of is known only once EAL runs: a runtime
/// failure, exit 1 (a name without its --vdev is exit 2 before EAL:
/// `cli_errors::fwd_and_pktgen_refuse_a_port_without_its_vdev_before_eal`).
#[test]
fn a_missing_port_is_a_runtime_failure_exit_1() {
    let (_dir, eal) = eal("noport");
    let mut a = vec!["--tx-port".to_string(), "7".into()];
    a.extend(eal);
    let o = pktgen(&strs(&a));
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("unknown DPDK device \"7\""),
        "{}",
        o.stderr
    );
}

/// net_null as the receiving port hands back buffers it never wrote
/// (pktgen would count stale stamps of its own frames): refused naming
/// --rx-port, exit 2, whether given as --rx-port or as the TX port without
/// one; as --tx-port beside a real receiver it still runs.
#[test]
fn net_null_as_the_receiving_port_exits_2() {
    for (i, ports) in [
        &["--tx-port", "net_ring0", "--rx-port", "net_null1"][..],
        &["--tx-port", "net_null0", "--rx-port", "net_null1"],
        &["--tx-port", "net_null0"],
    ]
    .iter()
    .enumerate()
    {
        let (_dir, mut eal) = eal(&format!("nullrx{i}"));
        eal.extend(["--vdev=net_null0".into(), "--vdev=net_null1".into()]);
        let mut a: Vec<String> = ports.iter().map(|s| s.to_string()).collect();
        a.extend(["--count".into(), "100".into()]);
        a.extend(eal);
        let o = pktgen(&strs(&a));
        assert_eq!(o.code, Some(2), "{ports:?}: {}", o.stderr);
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
        assert!(
            o.stderr.contains("invalid rx-port")
                && o.stderr.contains("driver net_null cannot receive")
                && o.stderr.contains("--rx-port"),
            "{ports:?}: {}",
            o.stderr
        );
        assert!(!o.stderr.contains("still in use"), "{}", o.stderr);
    }
    let (_dir, mut eal) = eal("nulltx");
    eal.push("--vdev=net_null0".into());
    let mut a: Vec<String> = [
        "--tx-port",
        "net_null0",
        "--rx-port",
        "net_ring0",
        "--count",
        "100",
    ]
    .map(str::to_owned)
    .into();
    a.extend(eal);
    let o = pktgen(&strs(&a));
    assert_eq!(o.code, Some(0), "{}", o.stderr);
}

/// A jumbo `--size` on a port whose driver cannot take its MTU (DPDK
/// 22.11's net_tap: frames up to 1522 bytes): a runtime failure, exit 1,
/// naming the MTU and the driver's limits, its largest MTU (1504) too.
#[test]
fn a_jumbo_size_a_tap_cannot_take_is_refused_with_its_limits() {
    let (_dir, mut eal) = eal("tapmtu");
    // The child pktgen inherits this thread's private namespace: its TAP
    // never appears in the machine's.
    netns::enter_private_netns();
    let iface = format!("vxpg{}", std::process::id() % 100_000);
    eal.push(format!("--vdev=net_tap0,iface={iface}"));
    let mut a = vec!["--tx-port", "net_tap0", "--size", "9018"];
    a.extend(DST);
    let mut a: Vec<String> = a.into_iter().map(str::to_owned).collect();
    a.extend(eal);
    let o = pktgen(&strs(&a));
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    for needle in [
        "net_tap0",
        "MTU 9000 refused",
        "frames up to 1522 bytes",
        "to 1504",
    ] {
        assert!(o.stderr.contains(needle), "lacks {needle}: {}", o.stderr);
    }
}

#[test]
fn write_pcap_refuses_the_flags_it_would_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("x.pcap");
    let p = pcap.to_str().unwrap();
    for (flag, value) in [
        ("--tx-port", Some("net_null0")),
        ("--rx-port", Some("net_null1")),
        ("--rx-mtu", Some("9000")),
        ("--rate-pps", Some("1000")),
        ("--duration", Some("5")),
        ("--drain-ms", Some("100")),
        ("--mbufs", Some("8192")),
        ("--warmup-ms", Some("100")),
        ("--line-rate-mbps", Some("1000")),
        ("--min-rate-pps", Some("5")),
        ("--json", None),
    ] {
        let mut a = with(&["--write-pcap", p, flag], &DST);
        if let Some(v) = value {
            a.insert(3, v.to_owned());
        }
        let key = flag.trim_start_matches("--");
        let o = assert_flag_error(&strs(&a), key, &["sends nothing", &format!("drop {flag}")]);
        // No advice that --write-pcap would refuse in turn.
        assert!(!o.stderr.contains("add --rfc2544"), "{}", o.stderr);
    }
    let a = with(&["--write-pcap", p], &DST);
    let mut a = strs(&a);
    a.extend(["--", "--no-pci"]);
    assert_flag_error(&a, "write-pcap", &["EAL arguments", "would be ignored"]);
    assert!(!pcap.exists(), "nothing may be written after a flag error");
}

/// A flag only the other `--mode` uses would be silently ignored: exit 2
/// naming it, before EAL starts, even when it holds the default value.
#[test]
fn flags_of_the_other_mode_exit_2_naming_the_flag() {
    for (flag, value) in [
        ("--vteps", "4"),
        ("--vtep-base", "172.28.147.100"),
        ("--gw-ip", "172.28.147.40"),
        ("--gw-vtep-mac", "0e:aa:bb:cc:dd:ee"),
        ("--vni", "1"),
        ("--vxlan-port", "4789"),
    ] {
        let key = flag.trim_start_matches("--");
        for mode in [&["--mode", "inner"][..], &[][..]] {
            let a = with(&["--tx-port", "net_ring0", flag, value], mode);
            assert_flag_error(
                &strs(&a),
                key,
                &[
                    "--mode inner would ignore it",
                    &format!("drop {flag}, or give --mode vxlan"),
                ],
            );
        }
    }
    for (flag, value) in [("--dst-subnets", "10.1.0.0/16"), ("--leases", "4")] {
        let key = flag.trim_start_matches("--");
        assert_flag_error(
            &["--mode", "vxlan", "--tx-port", "net_ring0", flag, value],
            key,
            &[
                "--mode vxlan would ignore it",
                &format!("drop {flag}, or give --mode inner"),
            ],
        );
    }
    // --leases beside --dst-subnets is not used, but still range-checked.
    for n in ["0", "256"] {
        assert_flag_error(
            &[
                "--tx-port",
                "net_ring0",
                "--dst-subnets",
                "10.1.0.0/16",
                "--leases",
                n,
            ],
            "leases",
            &["give --leases from 1 to 255"],
        );
    }
}

/// Runs `vxgate pktgen ARGS` with RUST_LOG set to `rust_log` (or unset).
fn pktgen_logged(args: &[&str], rust_log: Option<&str>) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vxgate"));
    cmd.arg("pktgen").args(args).env_remove("RUST_LOG");
    if let Some(l) = rust_log {
        cmd.env("RUST_LOG", l);
    }
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run vxgate");
    Outcome {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// pktgen installs a logger on stderr: warnings by default, what RUST_LOG
/// asks for otherwise (the link line is logged at info).
#[test]
fn pktgen_logs_to_stderr_at_warn_or_rust_log() {
    for (tag, rust_log, shown) in [("loginfo", Some("info"), true), ("logwarn", None, false)] {
        let (_dir, eal) = eal(tag);
        let mut a = vec![
            "--tx-port".to_string(),
            "net_ring0".into(),
            "--count".into(),
            "10".into(),
        ];
        a.extend(eal);
        let o = pktgen_logged(&strs(&a), rust_log);
        assert_eq!(o.code, Some(0), "{}", o.stderr);
        assert_eq!(
            o.stderr.contains("pktgen: link up")
                && o.stderr.contains("net_ring0")
                && o.stderr.contains("mac="),
            shown,
            "RUST_LOG={rust_log:?}: {}",
            o.stderr
        );
    }
}

/// TX on one ring, RX on another: the TX ring's own frames come back to a
/// queue nobody polls, the ring fills, TX stalls and the run ends (exit
/// 0, saying so); what waits in that queue is freed before the pool goes,
/// so DPDK reports no mbuf still in use.
#[test]
fn a_run_whose_tx_port_hears_itself_frees_what_it_heard() {
    let (_dir, mut eal) = eal("selfheard");
    eal.push("--vdev=net_ring1".into());
    let mut a = vec![
        "--tx-port".to_string(),
        "net_ring0".into(),
        "--rx-port".into(),
        "net_ring1".into(),
        "--count".into(),
        "5000".into(),
    ];
    a.extend(eal);
    let o = pktgen_logged(&strs(&a), None);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stderr.contains("stopped accepting frames"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("still in use"), "{}", o.stderr);
}

/// Frames still on the polled RX queue when the last trial ends (RX stops
/// at once with `--drain-ms 0` while a loopback ring still holds what TX
/// sent last) are received and freed before the pool goes: no mbuf still
/// in use, no leaked pool, EAL cleaned up. The RX lcore behind (sharing a
/// CPU with TX) leaves the most there; each layout runs twice, as the
/// leak it guards against showed in about half the runs.
#[test]
fn frames_left_on_the_polled_queue_are_freed_before_the_pool_goes() {
    for (i, lcores) in ["0@0,1@0,2@1", "0@0,1@1,2@1"]
        .iter()
        .flat_map(|l| [l, l])
        .enumerate()
    {
        let lcores_arg = format!("--lcores={lcores}");
        let (_dir, eal) = eal_on(&format!("rxleft{i}"), &[&lcores_arg]);
        let mut a: Vec<String> = [
            "--tx-port",
            "net_ring0",
            "--count",
            "200000",
            "--drain-ms",
            "0",
            "--json",
        ]
        .map(str::to_owned)
        .into();
        a.extend(eal);
        let o = pktgen_logged(&strs(&a), None);
        assert_eq!(o.code, Some(0), "{lcores}: {}", o.stderr);
        for bad in ["leaked", "still in use", "rte_eal_cleanup skipped"] {
            assert!(!o.stderr.contains(bad), "{lcores}: {}", o.stderr);
        }
    }
}
