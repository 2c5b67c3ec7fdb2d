//! `vxgate run` start-up against a real etcd: flags that cannot work with
//! flannel's network config exit 2 before EAL starts (no EAL runtime
//! directory ever appears), `--access-ip` alone pins the subnet claimed, and
//! a SIGTERM while still starting ends cleanly with the final counters,
//! `/metrics` answers from the start (before etcd has the config) and a
//! taken `--metrics-addr` exits 2 before EAL starts, and a network config
//! vxgate cannot serve exits 1 before EAL starts.
//! The ports are `net_null` devices: no traffic leaves the process.
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::etcd::*;

const CONFIG: &str = r#"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#;
const UNDERLAY_IP: &str = "192.0.2.10";
const LIMIT: Duration = Duration::from_secs(60);

/// One `vxgate run`, killed and cleaned up (EAL runtime directory, output
/// files) when dropped, also when the test fails.
struct Vxgate {
    child: Child,
    prefix: String,
    out: tempfile::TempDir,
}

impl Vxgate {
    fn spawn(etcd: &Etcd, tag: &str, flags: &[&str]) -> Vxgate {
        Vxgate::spawn_on(etcd, tag, flags, "--lcores=0@0,1@1")
    }

    /// `spawn` with another EAL lcore option.
    fn spawn_on(etcd: &Etcd, tag: &str, flags: &[&str], lcores: &str) -> Vxgate {
        let out = tempfile::tempdir().unwrap();
        let file = |n: &str| Stdio::from(std::fs::File::create(out.path().join(n)).unwrap());
        let (stdout, stderr) = (file("stdout"), file("stderr"));
        Vxgate::spawn_to(etcd, tag, flags, lcores, out, stdout, stderr)
    }

    /// `spawn` with stdout and stderr where the caller wants them.
    #[allow(clippy::too_many_arguments)]
    fn spawn_to(
        etcd: &Etcd,
        tag: &str,
        flags: &[&str],
        lcores: &str,
        out: tempfile::TempDir,
        stdout: Stdio,
        stderr: Stdio,
    ) -> Vxgate {
        let prefix = format!("vxt-start-{tag}-{}", std::process::id());
        let child = Command::new(env!("CARGO_BIN_EXE_vxgate"))
            .args(["run", "--underlay", "net_null0", "--access", "net_null1"])
            .args(["--underlay-ip", &format!("{UNDERLAY_IP}/24")])
            .args(["--etcd-endpoints", &etcd.endpoint()])
            .args(flags)
            .args([
                "--",
                "--no-pci",
                lcores,
                "--vdev=net_null0",
                "--vdev=net_null1",
                "--log-level=lib.eal:warning",
                &format!("--file-prefix={prefix}"),
            ])
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn vxgate");
        Vxgate { child, prefix, out }
    }

    fn runtime_dir(&self) -> PathBuf {
        Path::new("/var/run/dpdk").join(&self.prefix)
    }

    /// EAL ran: its runtime directory is there, or, since a clean stop
    /// removes it, vxgate said so.
    fn eal_started(&self) -> bool {
        self.runtime_dir().exists() || self.text("stderr").contains("EAL started")
    }

    fn text(&self, name: &str) -> String {
        std::fs::read_to_string(self.out.path().join(name)).unwrap_or_default()
    }

    /// Waits for the exit; the code.
    fn wait(&mut self) -> Option<i32> {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            assert!(
                Instant::now() < deadline,
                "vxgate did not exit; stderr:\n{}",
                self.text("stderr")
            );
            vxgate::ops::pause(Duration::from_millis(20));
        }
    }

    /// Waits for the exit and checks it came with `code` and every one of
    /// `needles` on stderr, no panic, and before EAL made its runtime
    /// directory.
    fn exits_before_eal(&mut self, code: i32, needles: &[&str], what: &str) {
        let got = self.wait();
        let err = self.text("stderr");
        assert_eq!(got, Some(code), "{what}: {err}");
        for n in needles {
            assert!(err.contains(n), "{what}: stderr lacks {n:?}:\n{err}");
        }
        assert!(!err.contains("panicked"), "{err}");
        assert!(!self.eal_started(), "{what}: EAL started");
    }

    fn wait_until(&self, what: &str, mut cond: impl FnMut(&Vxgate) -> bool) {
        let deadline = Instant::now() + LIMIT;
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; stderr:\n{}",
                self.text("stderr")
            );
            vxgate::ops::pause(Duration::from_millis(50));
        }
    }

    fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM");
    }
}

impl Drop for Vxgate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(self.runtime_dir());
    }
}

fn etcd_with_config() -> Etcd {
    let etcd = Etcd::start();
    etcd.ctl(&["put", &format!("{PREFIX}/config"), CONFIG]);
    etcd
}

#[test]
fn flags_that_do_not_fit_the_network_config_exit_2_before_eal() {
    let etcd = etcd_with_config();
    let cases: [(&str, &[&str], &str); 7] = [
        (
            "nbr",
            &["--neighbor", "access,192.0.2.10,02:00:00:00:00:0a"],
            "192.0.2.10 is outside flannel's Network 10.244.0.0/16",
        ),
        // Without --subnet and --access-ip the access neighbours place the
        // subnet vxgate claims: they must share one, and not take its .1.
        (
            "two",
            &[
                "--neighbor",
                "access,10.244.9.10,02:00:00:00:00:0a",
                "--neighbor",
                "access,10.244.8.10,02:00:00:00:00:0b",
            ],
            "10.244.9.0/24 (from 10.244.9.10), and 10.244.8.10 is outside it",
        ),
        (
            "dot1",
            &["--neighbor", "access,10.244.9.1,02:00:00:00:00:0a"],
            "10.244.9.1 is vxgate's own access address",
        ),
        (
            "out",
            &["--subnet", "10.9.1.0/24"],
            "invalid subnet `10.9.1.0/24`: not inside Network 10.244.0.0/16",
        ),
        (
            "len",
            &["--subnet", "10.244.3.0/25"],
            "prefix length must equal SubnetLen /24",
        ),
        (
            "acc",
            &["--access-ip", "10.9.0.1/24"],
            "invalid access-ip `10.9.0.1/24`: its subnet 10.9.0.0/24 is not inside Network",
        ),
        (
            "wide",
            &["--access-ip", "10.244.7.1/16"],
            "invalid access-ip `10.244.7.1/16`: its prefix is wider than flannel's SubnetLen /24",
        ),
    ];
    for (tag, flags, needle) in cases {
        let mut vx = Vxgate::spawn(&etcd, tag, flags);
        vx.exits_before_eal(2, &[needle], &format!("{flags:?}"));
    }
    assert_no_lease(&etcd);
}

/// Nothing was registered.
fn assert_no_lease(etcd: &Etcd) {
    let leases = etcd.ctl(&[
        "get",
        "--prefix",
        "--keys-only",
        &format!("{PREFIX}/subnets/"),
    ]);
    assert!(leases.trim().is_empty(), "{leases}");
}

/// A network config vxgate cannot serve is etcd's to fix, not vxgate's
/// flags: exit 1 (the systemd unit restarts vxgate, and the start after the
/// fix picks it up), with the key and the reason, before EAL and no lease.
#[test]
fn a_network_config_vxgate_cannot_serve_exits_1_before_eal_naming_the_key() {
    let etcd = Etcd::start();
    let cases = [
        (
            "hgw",
            r#"{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}"#,
            "host-gw",
        ),
        (
            "net",
            r#"{"Network":"10.244.0.0/33","Backend":{"Type":"vxlan"}}"#,
            "10.244.0.0/33",
        ),
        // Found once the ports were up, after the lease was written,
        // until 2026-11-28.
        (
            "mtu",
            r#"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","MTU":100}}"#,
            "the tunnel MTU would be 50",
        ),
    ];
    for (tag, config, needle) in cases {
        etcd.ctl(&["put", &format!("{PREFIX}/config"), config]);
        let mut vx = Vxgate::spawn(&etcd, tag, &[]);
        let key = format!("invalid flannel network config at {PREFIX}/config");
        vx.exits_before_eal(1, &[&key, needle], config);
        // Said once: the error names its cause, which is not repeated.
        let err = vx.text("stderr");
        assert_eq!(err.matches(needle).count(), 1, "{config}: {err}");
    }
    assert_no_lease(&etcd);
}

#[test]
fn access_ip_alone_claims_its_subnet_and_sigterm_prints_final_counters() {
    let etcd = etcd_with_config();
    let mut vx = Vxgate::spawn(&etcd, "pin", &["--access-ip", "10.244.7.1/24"]);
    let key = lease_key("10.244.7.0-24");
    vx.wait_until("our lease for 10.244.7.0/24", |_| {
        etcd.ctl(&["get", &key]).contains(UNDERLAY_IP)
    });
    vx.wait_until("vxgate running", |v| {
        v.text("stderr").contains("vxgate running")
    });
    vx.sigterm();
    assert_eq!(vx.wait(), Some(0), "{}", vx.text("stderr"));
    let out = vx.text("stdout");
    assert!(out.contains("vxgate: final counters"), "{out}");
    assert!(
        out.contains("net_null0") && out.contains("net_null1"),
        "{out}"
    );
    // The lease stays for a restart to take back.
    assert!(etcd.ctl(&["get", &key]).contains(UNDERLAY_IP));
    // EAL ran (the marker the checks before EAL rely on), and the clean
    // stop removed its runtime directory.
    assert!(vx.eal_started() && !vx.runtime_dir().exists());
}

/// `--subnet` held by another node: refused before EAL starts and the
/// ports come up (exit 1, etcd's state to fix), naming the holder and
/// the key to delete if it is stale; nothing is written.
#[test]
fn a_subnet_held_by_another_node_is_refused_before_eal() {
    let etcd = etcd_with_config();
    let other = lease_value("192.0.2.77".parse().unwrap(), 77);
    // A plain key and a dual-stack one (`&` and the IPv6 subnet after it).
    for (tag, subnet, key) in [
        ("taken", "10.244.9.0/24", lease_key("10.244.9.0-24")),
        (
            "taken6",
            "10.244.10.0/24",
            lease_key("10.244.10.0-24&fc00::-64"),
        ),
    ] {
        etcd.ctl(&["put", &key, &other]);
        let mut vx = Vxgate::spawn(&etcd, tag, &["--subnet", subnet]);
        vx.exits_before_eal(
            1,
            &[
                "is held by another node",
                "192.0.2.77",
                &format!("etcdctl del '{key}'"),
            ],
            subnet,
        );
        assert_eq!(etcd.ctl(&["get", &key, "--print-value-only"]).trim(), other);
    }
}

/// `--check-config` (as `nginx -t`): a configuration that would start
/// says so and exits 0, one that would not exits as the start would, and
/// neither starts EAL, writes a lease nor binds the metrics port (it can
/// run beside a live vxgate); an etcd without the network config is
/// given up on after 10 s instead of waited for.
#[test]
fn check_config_checks_against_etcd_and_exits_before_eal() {
    let etcd = etcd_with_config();
    // The metrics port a running vxgate would hold.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics = held.local_addr().unwrap().to_string();
    let mut vx = Vxgate::spawn(
        &etcd,
        "chk",
        &[
            "--check-config",
            "--subnet",
            "10.244.9.0/24",
            "--metrics-addr",
            &metrics,
        ],
    );
    vx.exits_before_eal(0, &[], "a good configuration");
    let out = vx.text("stdout");
    assert!(
        out.contains("configuration OK") && out.contains("10.244.9.0/24"),
        "{out}"
    );
    assert_no_lease(&etcd);
    // A test TTL under the default margin passes with the start's warning.
    let mut vx = Vxgate::spawn(
        &etcd,
        "chkttl",
        &[
            "--check-config",
            "--subnet",
            "10.244.9.0/24",
            "--subnet-lease-ttl",
            "10",
        ],
    );
    vx.exits_before_eal(
        0,
        &["WARN", "not below the lease TTL; renewing at half the TTL"],
        "a short TTL",
    );
    assert!(vx.text("stdout").contains("configuration OK"));
    // Held by another node: refused as a start would refuse it.
    let key = lease_key("10.244.9.0-24");
    etcd.ctl(&["put", &key, &lease_value("192.0.2.77".parse().unwrap(), 77)]);
    let mut vx = Vxgate::spawn(
        &etcd,
        "chk2",
        &["--check-config", "--subnet", "10.244.9.0/24"],
    );
    vx.exits_before_eal(1, &["is held by another node"], "subnet taken");
    assert!(!vx.text("stdout").contains("configuration OK"));
    // A flag that does not fit the network config: exit 2.
    let mut vx = Vxgate::spawn(
        &etcd,
        "chk3",
        &["--check-config", "--subnet", "10.245.1.0/24"],
    );
    vx.exits_before_eal(2, &["10.245.1.0/24"], "subnet outside Network");
    // No network config in etcd: given up on (a start would wait).
    etcd.ctl(&["del", &format!("{PREFIX}/config")]);
    let mut vx = Vxgate::spawn(&etcd, "chk4", &["--check-config"]);
    vx.exits_before_eal(1, &["did not succeed within 10s"], "no config");
}

/// `--check-config` without `--subnet` checks what a start would take: its
/// own lease back, or a free subnet, and "no free subnet" when there is
/// none (exit 1, before EAL); a check interrupted by SIGTERM is no pass.
#[test]
fn check_config_finds_no_free_subnet_and_an_interrupted_check_is_no_pass() {
    let etcd = Etcd::start();
    let small = r#"{"Network":"10.244.0.0/22","SubnetLen":24,"Backend":{"Type":"vxlan"}}"#;
    etcd.ctl(&["put", &format!("{PREFIX}/config"), small]);
    let mut vx = Vxgate::spawn(&etcd, "free", &["--check-config"]);
    vx.exits_before_eal(0, &[], "a free subnet");
    assert!(vx.text("stdout").contains("a free one, acquired at start"));
    // SubnetMin is 10.244.1.0: three subnets, all held by other nodes.
    for i in 1..=3u8 {
        let key = lease_key(&format!("10.244.{i}.0-24"));
        let other = lease_value(format!("192.0.2.{}", 100 + i).parse().unwrap(), i);
        etcd.ctl(&["put", &key, &other]);
    }
    let mut vx = Vxgate::spawn(&etcd, "full", &["--check-config"]);
    vx.exits_before_eal(1, &["no free subnet left"], "every subnet held");
    // Ours among them: taken back.
    let key = lease_key("10.244.2.0-24");
    etcd.ctl(&["put", &key, &lease_value(UNDERLAY_IP.parse().unwrap(), 9)]);
    let mut vx = Vxgate::spawn(&etcd, "back", &["--check-config"]);
    vx.exits_before_eal(0, &[], "our own lease");
    let out = vx.text("stdout");
    assert!(
        out.contains("10.244.2.0/24 (ours, taken back at start)"),
        "{out}"
    );
    // No config: the check waits (up to 10 s); SIGTERM meanwhile is exit 1.
    // The renewal warning, which the flags alone decide, came before.
    etcd.ctl(&["del", &format!("{PREFIX}/config")]);
    let flags = ["--check-config", "--subnet-lease-ttl", "10"];
    let mut vx = Vxgate::spawn(&etcd, "intr", &flags);
    vx.wait_until("waiting for the config", |v| {
        v.text("stderr").contains("config")
    });
    vx.sigterm();
    vx.exits_before_eal(
        1,
        &["--check-config interrupted", "renewing at half the TTL"],
        "interrupted",
    );
    assert!(!vx.text("stdout").contains("final counters"));
}

/// Another node's lease announcing our VtepMAC (here a copied
/// `--vtep-mac`): `--check-config` refuses it, with `--subnet` (whose own
/// keys are all the start reads before EAL) and without, and so does the
/// start, once it reads the whole list to acquire our lease (after EAL):
/// exit 1, etcd's state or the flag to fix, as for a subnet held by
/// another node, naming the MAC, the key and the other PublicIP; no lease
/// of ours written. Another MAC passes.
#[test]
fn a_lease_of_another_node_with_our_vtep_mac_is_refused_by_the_check_and_the_start() {
    let etcd = etcd_with_config();
    let key = lease_key("10.244.77.0-24");
    let other = r#"{"PublicIP":"192.0.2.77","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0e:aa:bb:cc:dd:ee"}}"#;
    etcd.ctl(&["put", &key, other]);
    let needles = [
        "our VtepMAC 0e:aa:bb:cc:dd:ee is already announced by another node's lease (PublicIP 192.0.2.77",
        "--vtep-mac",
        "etcdctl del '/coreos.com/network/subnets/10.244.77.0-24'",
    ];
    let copied = ["--vtep-mac", "0e:aa:bb:cc:dd:ee"];
    for (tag, subnet) in [("mac", None), ("macsub", Some("10.244.9.0/24"))] {
        let mut flags = vec!["--check-config"];
        flags.extend(copied);
        flags.extend(subnet.iter().flat_map(|s| ["--subnet", s]));
        let mut vx = Vxgate::spawn(&etcd, tag, &flags);
        vx.exits_before_eal(1, &needles, tag);
        assert!(!vx.text("stdout").contains("configuration OK"));
    }
    let mut vx = Vxgate::spawn(
        &etcd,
        "macok",
        &["--check-config", "--vtep-mac", "0e:aa:bb:cc:dd:ef"],
    );
    vx.exits_before_eal(0, &[], "another VtepMAC");
    assert!(vx.text("stdout").contains("configuration OK"));
    let mut vx = Vxgate::spawn(&etcd, "macrun", &copied);
    let got = vx.wait();
    let err = vx.text("stderr");
    assert_eq!(got, Some(1), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
    assert!(
        !err.contains("panicked") && !err.contains("vxgate running"),
        "{err}"
    );
    // Refused by the acquisition's own read, the one after EAL.
    assert!(vx.eal_started(), "{err}");
    let keys = etcd.ctl(&[
        "get",
        "--prefix",
        "--keys-only",
        &format!("{PREFIX}/subnets/"),
    ]);
    assert_eq!(keys.trim(), key, "only the other node's lease");
    assert_eq!(etcd.ctl(&["get", &key, "--print-value-only"]).trim(), other);
}

/// An lcore placed on a CPU the machine does not have online (`-l`, or
/// `--lcores` after `@`): a configuration error (exit 2) before EAL,
/// which would fail on it ("lcore N unavailable", exit 1, restarted
/// forever by a service manager); `--check-config` finds it too. Placing
/// the lcores on CPUs that exist works.
#[test]
fn an_lcore_on_a_cpu_that_is_not_there_exits_2_before_eal() {
    let Some(missing) = common::cpu_not_online() else {
        return;
    };
    let etcd = etcd_with_config();
    let l = format!("-l0,{missing}");
    let placed_off = format!("--lcores=0@0,1@{missing}");
    for (tag, extra, lcores) in [
        ("cpu", None, &l),
        ("cpuchk", Some("--check-config"), &l),
        ("cpuat", Some("--check-config"), &placed_off),
    ] {
        let flags: Vec<&str> = extra.into_iter().collect();
        let mut vx = Vxgate::spawn_on(&etcd, tag, &flags, lcores);
        let needle = format!("an lcore would run on CPU {missing}");
        vx.exits_before_eal(2, &[&needle, "--lcores"], lcores);
    }
    assert_no_lease(&etcd);
    let placed = format!("--lcores=0@0,{missing}@0");
    let mut vx = Vxgate::spawn_on(&etcd, "cpuok", &["--check-config"], &placed);
    vx.exits_before_eal(0, &[], &placed);
}

/// `--check-config` finds what EAL would fail on in the hugepages, as a
/// start reports it after EAL (exit 1: the machine's state): a
/// `--huge-dir` that is no hugetlbfs mount, and more memory (`-m`) than
/// is free. Hugepages the suite reserved pass.
#[test]
fn check_config_finds_the_hugepages_eal_would_not_get() {
    let etcd = etcd_with_config();
    let plain = tempfile::tempdir().unwrap();
    let huge_dir = format!("--huge-dir={}", plain.path().display());
    let no_mount = format!(
        "no hugetlbfs is mounted for them at --huge-dir {}",
        plain.path().display()
    );
    for (tag, eal, needle) in [
        ("hugedir", huge_dir.as_str(), no_mount.as_str()),
        (
            "hugemem",
            "-m99999999",
            "MiB of hugepages are free; ask for less",
        ),
    ] {
        let mut vx = Vxgate::spawn_on(&etcd, tag, &["--check-config"], eal);
        vx.exits_before_eal(1, &[needle], eal);
        assert!(!vx.text("stdout").contains("configuration OK"));
    }
    let mut vx = Vxgate::spawn_on(&etcd, "hugeok", &["--check-config"], "-m64");
    vx.exits_before_eal(0, &[], "-m64");
    assert!(vx.text("stdout").contains("configuration OK"));
    assert_no_lease(&etcd);
}

#[test]
fn sigterm_while_waiting_for_the_config_exits_0_with_final_counters() {
    let etcd = Etcd::start(); // no <prefix>/config yet
    let mut vx = Vxgate::spawn(&etcd, "wait", &[]);
    vx.wait_until("the wait for the config", |v| {
        v.text("stderr").contains("flannel config not found")
    });
    vx.sigterm();
    assert_eq!(vx.wait(), Some(0), "{}", vx.text("stderr"));
    let out = vx.text("stdout");
    assert!(out.contains("vxgate: final counters"), "{out}");
    assert!(out.contains("encap 0 decap 0"), "{out}");
    assert!(!vx.eal_started(), "EAL was not started yet");
}

/// SIGTERM right as the ports have started, during the ARP probe of our
/// addresses (about half a second): one set of final counters, exit 0,
/// and no lease written. The probe's stop used to be said and then the
/// start went on to say it again at the lease (or, during the second
/// probe, to start the workers). Whichever stage the signal lands in on a
/// busy machine, the counters are said once.
#[test]
fn sigterm_during_the_address_probe_says_the_final_counters_once() {
    let etcd = etcd_with_config();
    let mut vx = Vxgate::spawn(&etcd, "probe", &[]);
    vx.wait_until("the ports started", |v| {
        v.text("stderr").contains("ports started")
    });
    vx.sigterm();
    assert_eq!(vx.wait(), Some(0), "{}", vx.text("stderr"));
    let out = vx.text("stdout");
    assert_eq!(out.matches("vxgate: final counters").count(), 1, "{out}");
    let err = vx.text("stderr");
    assert_eq!(err.matches("stopped during start-up").count(), 1, "{err}");
    if err.contains("stage=\"probing our addresses\"") {
        assert_no_lease(&etcd);
    }
}

/// `vxgate run ... 2>&1 | tee log`, then Ctrl-C: the signal reaches `tee`
/// too, so vxgate's last log lines and its final counters go to a pipe
/// nobody reads any more. It must still stop cleanly and exit 0; a print
/// to the closed pipe used to panic, which aborts the process.
#[test]
fn a_stop_whose_output_pipes_were_closed_still_exits_0() {
    let etcd = etcd_with_config();
    let out = tempfile::tempdir().unwrap();
    let lcores = "--lcores=0@0,1@1";
    let mut vx = Vxgate::spawn_to(
        &etcd,
        "pipe",
        &[],
        lcores,
        out,
        Stdio::piped(),
        Stdio::piped(),
    );
    let stderr = vx.child.stderr.take().unwrap();
    let (tx, running) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if line.contains("vxgate running") {
                let _ = tx.send(());
                return; // the read end of the pipe closes here
            }
        }
    });
    running
        .recv_timeout(LIMIT)
        .expect("vxgate did not report running");
    reader.join().unwrap();
    drop(vx.child.stdout.take());
    vx.sigterm();
    // None: killed by a signal (an abort).
    assert_eq!(vx.wait(), Some(0));
}

#[test]
fn port_mtus_are_set_and_size_the_buffers_and_the_tunnel_mtu() {
    let etcd = etcd_with_config();
    let mut vx = Vxgate::spawn(
        &etcd,
        "mtu",
        &[
            "--underlay-mtu",
            "9000",
            "--access-mtu",
            "9000",
            "--mbufs",
            "8192",
        ],
    );
    vx.wait_until("vxgate running", |v| {
        v.text("stderr").contains("vxgate running")
    });
    let log = vx.text("stderr");
    for needle in [
        "underlay_mtu=9000",
        "access_mtu=9000",
        // 9000 + Ethernet, FCS and two VLAN tags, rounded up to 1 KiB, + headroom.
        "data_room=9344",
        // No Backend.MTU in the config: the underlay port's less 50.
        "tunnel_mtu=8950",
    ] {
        assert!(log.contains(needle), "log lacks {needle}:\n{log}");
    }
    assert!(
        !log.contains("port MTU above what one packet buffer holds"),
        "the MTUs asked for fit the buffers: {log}"
    );
    vx.sigterm();
    assert_eq!(vx.wait(), Some(0), "{}", vx.text("stderr"));
}

/// Our key rewritten while vxgate runs. By another node (another PublicIP,
/// under its own etcd lease): said at once, not at the next renewal a day
/// later, and never overwritten while that node holds it; taken back as
/// soon as it lets go. By an operator, as flannel documents for making a
/// lease a reservation (the same value, no etcd lease): kept a reservation,
/// not put back under a lease.
#[test]
fn our_key_taken_by_another_node_or_made_a_reservation_while_running() {
    let etcd = etcd_with_config();
    let mut vx = Vxgate::spawn(&etcd, "taken", &["--subnet", "10.244.9.0/24"]);
    let key = lease_key("10.244.9.0-24");
    vx.wait_until("vxgate running", |v| {
        v.text("stderr").contains("vxgate running")
    });
    let ours = etcd.ctl(&["get", "--print-value-only", &key]);
    assert!(ours.contains(UNDERLAY_IP), "{ours}");

    let lease_id = etcd.ctl(&["lease", "grant", "600"]);
    let lease_id = lease_id
        .split_whitespace()
        .nth(1)
        .expect("lease <id> granted with TTL(600s)")
        .to_string();
    let theirs = ours.trim().replace(UNDERLAY_IP, "192.0.2.77");
    etcd.ctl(&["put", "--lease", &lease_id, &key, &theirs]);
    vx.wait_until("the takeover said", |v| {
        v.text("stderr").contains("OUR SUBNET WAS TAKEN")
    });
    vx.wait_until("the renewer finding it taken", |v| {
        v.text("stderr").contains("renewing our lease failed")
    });
    assert!(
        etcd.ctl(&["get", &key]).contains("192.0.2.77"),
        "not overwritten"
    );
    etcd.ctl(&["lease", "revoke", &lease_id]);
    vx.wait_until("our lease back once the other node let go", |_| {
        etcd.ctl(&["get", &key]).contains(UNDERLAY_IP)
    });

    etcd.ctl(&["put", &key, ours.trim()]);
    vx.wait_until("the reservation kept", |v| {
        v.text("stderr").contains("kept as a reservation")
    });
    let json = etcd.ctl(&["get", "-w", "json", &key]);
    assert!(!json.contains("\"lease\""), "no etcd lease: {json}");
    vx.sigterm();
    assert_eq!(vx.wait(), Some(0), "{}", vx.text("stderr"));
}

/// One `GET /metrics`: the reply's head and body.
fn scrape(addr: SocketAddr) -> (String, String) {
    get(addr, "/metrics")
}

/// One `GET path` on the metrics endpoint: the reply's head and body.
fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to --metrics-addr");
    // Generous: a server that does not answer fails here, not on a timing.
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("a complete reply");
    let (head, body) = resp.split_once("\r\n\r\n").expect("a reply head");
    (head.to_owned(), body.to_owned())
}

#[test]
fn metrics_answer_while_waiting_for_the_config() {
    let etcd = Etcd::start(); // no <prefix>/config: vxgate waits for it
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut vx = Vxgate::spawn(&etcd, "mwait", &["--metrics-addr", &addr.to_string()]);
    vx.wait_until("the wait for the config", |v| {
        v.text("stderr").contains("flannel config not found")
    });
    let (head, body) = scrape(addr);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let value = |name: &str| -> Option<f64> {
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    };
    for name in [
        "vxgate_etcd_connected",
        "vxgate_etcd_revision",
        "vxgate_own_lease_expiry_seconds",
    ] {
        assert_eq!(value(name), Some(0.0), "{name} in:\n{body}");
    }
    // No data plane yet: the contract's data-plane families are there at
    // zero (a scraper never finds a name missing), the workers' are not.
    for zero in [
        "vxgate_port_rx_packets_total{port=\"underlay\"}",
        "vxgate_port_errors_total{port=\"access\"}",
        "vxgate_encap_packets_total",
        "vxgate_drops_total{reason=\"no_route\"}",
        "vxgate_slowpath_packets_total{kind=\"arp\"}",
        "vxgate_leases",
        "vxgate_neighbors{port=\"access\"}",
        "vxgate_control_to_dataplane_seconds_count",
    ] {
        assert_eq!(value(zero), Some(0.0), "{zero} in:\n{body}");
    }
    assert!(!body.contains("vxgate_worker_"), "{body}");
    // Alive, not ready.
    let (head, body) = get(addr, "/healthz");
    assert!(
        head.starts_with("HTTP/1.1 200 OK") && body == "ok\n",
        "{head}{body}"
    );
    let (head, body) = get(addr, "/readyz");
    assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
    assert!(body.contains("data plane is not running"), "{body}");
    vx.sigterm();
    assert_eq!(vx.wait(), Some(0), "{}", vx.text("stderr"));
    assert!(!vx.eal_started(), "EAL was not started yet");
}

#[test]
fn metrics_serve_the_data_plane_once_it_runs() {
    let etcd = etcd_with_config();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut vx = Vxgate::spawn(&etcd, "mrun", &["--metrics-addr", &addr.to_string()]);
    vx.wait_until("vxgate running", |v| {
        v.text("stderr").contains("vxgate running")
    });
    let (head, body) = scrape(addr);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    for want in [
        "vxgate_port_rx_packets_total{port=\"underlay\"} ",
        "vxgate_worker_packets_total{worker=\"0\"} ",
        "vxgate_drops_total{reason=\"tx_full\"} 0",
        "vxgate_etcd_connected ",
    ] {
        assert!(
            body.lines().any(|l| l.starts_with(want)),
            "{want} in:\n{body}"
        );
    }
    // The pool as it runs: its size (`--mbufs`' default), and the mbufs
    // out of it, never more (net_null's RX makes and the worker frees
    // mbufs all the time, so no exact figure).
    let gauge = |name: &str| -> u64 {
        let line = body
            .lines()
            .find(|l| l.split_once(' ').is_some_and(|(n, _)| n == name))
            .unwrap_or_else(|| panic!("{name} in:\n{body}"));
        line.rsplit_once(' ').unwrap().1.parse().unwrap()
    };
    let (pool, in_use) = (gauge("vxgate_mbufs"), gauge("vxgate_mbufs_in_use"));
    assert_eq!(pool, 65_535);
    assert!(in_use <= pool, "{in_use} of {pool}");
    // Forwarding, with our lease held and the leases listed: ready (the
    // list may still be being applied just after "vxgate running").
    vx.wait_until("/readyz ready", |_| get(addr, "/readyz").1 == "ready\n");
    let (head, body) = get(addr, "/readyz");
    assert!(
        head.starts_with("HTTP/1.1 200 OK") && body == "ready\n",
        "{head}{body}"
    );
    vx.sigterm();
    assert_eq!(vx.wait(), Some(0), "{}", vx.text("stderr"));
}

#[test]
fn a_metrics_addr_in_use_exits_2_before_eal_and_etcd() {
    let etcd = Etcd::start(); // no config: vxgate would wait for it
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut vx = Vxgate::spawn(&etcd, "minuse", &["--metrics-addr", &addr]);
    vx.exits_before_eal(2, &["metrics-addr", &addr, "already in use"], "in use");
    // Neither etcd's config wait nor EAL came before the error.
    let err = vx.text("stderr");
    assert!(!err.contains("flannel config not found"), "{err}");
    assert!(!err.contains("EAL"), "{err}");
    drop(taken);
}

/// `--check-config` refuses a metrics address the start refuses, with the
/// same message and exit code (2), before etcd; one in use it passes (the
/// live vxgate holds it).
#[test]
fn check_config_refuses_a_metrics_addr_the_start_would_refuse() {
    let etcd = Etcd::start(); // no config: neither may get that far
    let addr = "203.0.113.77:9477"; // TEST-NET-3: no interface has it
    let mut start = Vxgate::spawn(&etcd, "mnotours", &["--metrics-addr", addr]);
    let needles = ["metrics-addr", addr, "no interface of this host"];
    start.exits_before_eal(2, &needles, "start");
    let mut check = Vxgate::spawn(
        &etcd,
        "mnotourschk",
        &["--check-config", "--metrics-addr", addr],
    );
    check.exits_before_eal(2, &needles, "check");
    let line = |v: &Vxgate| {
        let err = v.text("stderr");
        err.lines()
            .find(|l| l.contains("invalid metrics-addr"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no metrics-addr error in:\n{err}"))
    };
    assert_eq!(line(&check), line(&start));
    assert!(!check.text("stdout").contains("configuration OK"));
}

/// Each thread's name and `Cpus_allowed_list`, from `/proc/<pid>/task`.
fn thread_cpus(pid: u32) -> Vec<(String, String)> {
    let tasks = Path::new("/proc").join(pid.to_string()).join("task");
    let mut out = Vec::new();
    for t in std::fs::read_dir(&tasks).unwrap() {
        let dir = t.unwrap().path();
        // A thread that ended since the listing has neither.
        let (Ok(comm), Ok(status)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("status")),
        ) else {
            continue;
        };
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or_default();
        out.push((comm.trim().to_string(), cpus.trim().to_string()));
    }
    out
}

/// With `-l 0-1` only the worker lcore's thread runs on CPU 1. Threads
/// vxgate starts before EAL pins anything (signals, metrics, the control
/// runtime, which writes the tables a worker spins on) and those started
/// later run on the main lcore's CPU 0: a poll-mode worker does not share
/// its CPU with scrapes, signal handling or etcd.
#[test]
fn only_the_worker_runs_on_the_worker_lcore_s_cpu() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(cpus >= 2, "needs 2 CPUs, has {cpus}");
    let etcd = etcd_with_config();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let flags = ["--metrics-addr", &addr.to_string(), "--mbufs", "4096"];
    let mut vx = Vxgate::spawn_on(&etcd, "affinity", &flags, "-l0-1");
    vx.wait_until("vxgate running", |v| {
        v.text("stderr").contains("vxgate running")
    });
    // Served once: the metrics threads have done their work.
    let (head, _) = scrape(addr);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let threads = thread_cpus(vx.child.id());
    for name in [
        "vxgate-signals",
        "vxgate-metrics",
        // vxgate-metrics-close, cut to comm's 15 bytes.
        "vxgate-metrics-",
        "vxgate-control",
        "rte-worker-1",
    ] {
        assert!(
            threads.iter().any(|(comm, _)| comm == name),
            "no {name} thread: {threads:?}"
        );
    }
    for (comm, cpus) in &threads {
        let want = if comm.starts_with("rte-worker-") {
            "1"
        } else {
            "0"
        };
        assert_eq!(cpus, want, "{comm}'s CPUs; all threads: {threads:?}");
    }
    vx.sigterm();
    assert_eq!(vx.wait(), Some(0), "{}", vx.text("stderr"));
}
