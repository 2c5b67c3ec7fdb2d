//! `vxgate fwd`, the bench's I/O floor, run as the bench runs it: a pcap
//! replayed from memory (`net_pcap`, `infinite_rx`) to `net_null` for a
//! second. It forwards, and once its ports closed no mbuf is in use; on
//! hugepages, a clean stop leaves none of EAL's files behind.
mod common;

use common::runtime_dir::{page_files, PageFiles, RuntimeDir};
use std::process::Command;

fn vxgate(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vxgate"))
        .args(args)
        .output()
        .expect("run vxgate");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fwd_replays_a_pcap_into_null_and_reports_no_leak() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("inner.pcap");
    let pcap = pcap.to_str().expect("utf-8 path");
    let (code, _, err) = vxgate(&[
        "pktgen",
        "--write-pcap",
        pcap,
        "--mode",
        "inner",
        "--dst-mac",
        "02:00:00:00:00:aa",
        "--flows",
        "64",
        "--count",
        "64",
    ]);
    assert_eq!(code, Some(0), "pktgen --write-pcap: {err}");
    let rx = format!("net_pcap0,rx_pcap={pcap},infinite_rx=1");
    let runtime = RuntimeDir(format!("vxt-fwd-{}", std::process::id()));
    let prefix = format!("--file-prefix={}", runtime.0);
    let (code, out, err) = vxgate(&[
        "fwd",
        "--port-a",
        "net_pcap0",
        "--port-b",
        "net_null0",
        "--duration",
        "1",
        "--mbufs",
        "4096",
        "--",
        "-l",
        "0-1",
        "--no-pci",
        "--in-memory",
        &prefix,
        "--vdev",
        &rx,
        "--vdev",
        "net_null0,no-rx=1",
        "--log-level=lib.eal:warning",
    ]);
    assert_eq!(code, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    // "a->b forwarded N (tx_full drops M)": something went through.
    let forwarded: u64 = out
        .split("a->b forwarded ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no a->b count in:\n{out}"));
    assert!(forwarded > 0, "{out}");
    // Once the ports closed (pcap's in-memory replay freed with them),
    // every mbuf is back in the pool.
    assert!(
        out.contains("mbufs in use once the ports closed 0 (leaked 0)"),
        "mbufs left in use:\n{out}"
    );
}

/// On hugepages (no `--in-memory`), a clean stop removes what EAL keeps
/// for secondary processes: the page files of the pages it still held and
/// its runtime directory.
#[test]
fn a_clean_stop_leaves_no_page_file_and_no_runtime_dir() {
    let runtime = RuntimeDir(format!("vxt-fwdclean-{}", std::process::id()));
    let _pages = PageFiles(&runtime.0);
    let prefix = format!("--file-prefix={}", runtime.0);
    let (code, out, err) = vxgate(&[
        "fwd",
        "--port-a",
        "net_null0",
        "--port-b",
        "net_null1",
        "--duration",
        "0.5",
        "--mbufs",
        "4096",
        "--",
        "-l",
        "0-1",
        "--no-pci",
        &prefix,
        "--vdev",
        "net_null0",
        "--vdev",
        "net_null1",
        "--log-level=lib.eal:warning",
    ]);
    assert_eq!(code, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("leaked 0)"), "{out}");
    let dir = format!("/var/run/dpdk/{}", runtime.0);
    assert!(!std::path::Path::new(&dir).exists(), "{dir} left behind");
    assert_eq!(page_files(&runtime.0), Vec::<std::path::PathBuf>::new());
}
