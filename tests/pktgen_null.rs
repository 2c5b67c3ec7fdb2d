//! TX speed figures on one worker lcore: as fast as possible into net_null
//! (a sink) and into a net_ring loopback. Prints figures, asserts only
//! counts (no timed assertions). Build with --release for real numbers.
mod common;

use common::runtime_dir::RuntimeDir;
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

/// One measurement per process: closing a port releases it for good.
fn measure(tag: &str, extra: &[&str]) -> pktgen::report::Report {
    let pid = std::process::id();
    let _dir = RuntimeDir(format!("vxt-pg-{tag}-{pid}"));
    let eal = Eal::init(&[
        "--lcores=0@0,1@1".to_string(),
        "--no-pci".into(),
        "--in-memory".into(),
        format!("--file-prefix=vxt-pg-{tag}-{pid}"),
        "--log-level=lib.eal:warning".into(),
        "--vdev=net_null0".into(),
        "--vdev=net_ring0".into(),
    ])
    .expect("EAL starts");
    let mut v = vec!["pktgen", "--duration", "2", "--flows", "1024"];
    v.extend_from_slice(extra);
    let a = Cli::try_parse_from(v).expect("valid flags").a;
    let r = pktgen::measure(&eal, &a, Arc::new(AtomicBool::new(false))).unwrap();
    println!(
        "FIGURE pktgen {tag} {:?} {} B: tx {:.3} Mpps, rx {:.3} Mpps ({})",
        r.mode, r.size, r.tx_mpps, r.rx_mpps, r.lcores
    );
    r
}

#[test]
fn full_speed_inner_tx_into_net_null() {
    // net_null swallows what it is given; RX listens on an idle ring.
    let r = measure(
        "null",
        &["--tx-port", "net_null0", "--rx-port", "net_ring0"],
    );
    assert!(r.tx_packets > 0);
    assert_eq!(r.rx_packets, 0, "nothing comes back from a sink");
    assert_eq!(r.loss, r.tx_packets);
}

#[test]
fn full_speed_vxlan_tx_into_net_null() {
    let r = measure(
        "nullvx",
        &[
            "--tx-port",
            "net_null0",
            "--rx-port",
            "net_ring0",
            "--mode",
            "vxlan",
        ],
    );
    assert!(r.tx_packets > 0);
    assert_eq!(r.rx_packets, 0);
}

#[test]
fn full_speed_tx_and_rx_through_a_net_ring_loopback() {
    let r = measure("ringfast", &["--tx-port", "net_ring0"]);
    assert!(r.tx_packets > 0);
    assert_eq!(r.rx_packets, r.tx_packets, "a loopback ring loses nothing");
    assert_eq!(r.reordered, 0);
    assert_eq!(r.latency_samples, r.rx_packets);
}
