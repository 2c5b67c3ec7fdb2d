//! pktgen through the kernel: two net_tap devices joined by a Linux bridge
//! (no IP address anywhere), TX on one, RX on the other, all in a network
//! namespace of the test's own. Needs root and iproute2; the bridge is
//! removed on success and on failure, and the namespace with the process.
mod common;

use common::runtime_dir::RuntimeDir;
mod netns;

use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;
use vxgate::dpdk::Eal;
use vxgate::pktgen::{self, PktgenArgs};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    a: PktgenArgs,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("iproute2 runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A kernel bridge over the two TAPs; deleted on drop (also on panic).
struct Bridge {
    name: String,
}

impl Bridge {
    fn new(name: String, ports: &[&str]) -> Bridge {
        ip(&["link", "add", &name, "type", "bridge"]);
        let br = Bridge { name };
        for p in ports {
            // No IPv6 either: the kernel would send router solicitations and
            // MLD reports through the bridge (harmless, but not our frames).
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{p}/disable_ipv6"), "1");
            ip(&["link", "set", p, "master", &br.name]);
            ip(&["link", "set", p, "up"]);
        }
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", br.name),
            "1",
        );
        ip(&["link", "set", &br.name, "up"]);
        br
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .status();
    }
}

#[test]
fn tap_pair_through_a_kernel_bridge_delivers_every_packet() {
    let pid = std::process::id();
    let (ta, tb) = (format!("vxtA{pid}"), format!("vxtB{pid}"));
    let _dir = RuntimeDir(format!("vxt-pg-tap-{pid}"));
    netns::enter_private_netns();
    let eal = Eal::init(&[
        "--lcores=0@0,1@0,2@1".to_string(),
        "--no-pci".into(),
        "--in-memory".into(),
        format!("--file-prefix=vxt-pg-tap-{pid}"),
        "--log-level=lib.eal:warning".into(),
        format!("--vdev=net_tap0,iface={ta}"),
        format!("--vdev=net_tap1,iface={tb}"),
    ])
    .expect("EAL with two net_tap devices");
    let _bridge = Bridge::new(format!("br-vxt{pid}"), &[&ta, &tb]);
    let n = 5_000u64;
    // Destination MACs the bridge has not learned (and that are not its
    // ports' own addresses, which it would keep for itself): flooded to tap1.
    let a = Cli::try_parse_from([
        "pktgen",
        "--tx-port",
        "net_tap0",
        "--rx-port",
        "net_tap1",
        "--src-mac",
        "02:00:00:00:00:a1",
        "--dst-mac",
        "02:00:00:00:00:b1",
        "--rate-pps",
        "20000",
        "--count",
        &n.to_string(),
        "--flows",
        "32",
        "--size",
        "256",
        "--drain-ms",
        "2000",
    ])
    .expect("valid flags")
    .a;
    let r = pktgen::measure(&eal, &a, Arc::new(AtomicBool::new(false))).unwrap();
    println!("{}", r.to_table());
    assert_eq!(r.tx_packets, n);
    assert_eq!(
        r.rx_packets, r.tx_packets,
        "the bridge delivered every frame"
    );
    assert_eq!(r.loss, 0);
    assert_eq!(r.latency_samples, n);
}
