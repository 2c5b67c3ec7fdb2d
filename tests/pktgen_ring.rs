//! pktgen over net_ring loopback devices (a net_ring's TX loops back to its
//! own RX). EAL starts once per process: run with `cargo nextest`.

mod common;

use common::pktgen::args;
use common::runtime_dir::RuntimeDir;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde_json::Value;
use vxgate::dpdk::Eal;
use vxgate::pktgen;

/// EAL with its own file prefix; `lcores` in `--lcores` syntax so that
/// three lcores can share the machine's two CPUs.
fn eal(tag: &str, lcores: &str, vdevs: &[&str]) -> (RuntimeDir, Eal) {
    let prefix = format!("vxt-pg-{tag}-{}", std::process::id());
    let mut a = vec![
        format!("--lcores={lcores}"),
        "--no-pci".into(),
        "--in-memory".into(),
        format!("--file-prefix={prefix}"),
        "--log-level=lib.eal:warning".into(),
    ];
    a.extend(vdevs.iter().map(|v| format!("--vdev={v}")));
    (RuntimeDir(prefix), Eal::init(&a).expect("EAL starts"))
}

/// `--rfc2544` from net_ring0 at a line rate of `mbps`, trials of
/// `trial` seconds, and `extra` flags.
fn rfc2544_on_ring0(mbps: &str, trial: &str, extra: &[&str]) -> pktgen::PktgenArgs {
    let mut a = vec![
        "--tx-port",
        "net_ring0",
        "--rfc2544",
        "--line-rate-mbps",
        mbps,
        "--trial",
        trial,
    ];
    a.extend_from_slice(extra);
    args(&a)
}

fn json(r: &pktgen::report::Report) -> Value {
    serde_json::from_str(&r.to_json()).expect("the report is one JSON object")
}

#[test]
fn ring_loopback_at_a_set_rate_on_split_lcores_loses_nothing() {
    let (_dir, eal) = eal("split", "0@0,1@0,2@1", &["net_ring0"]);
    let n = 20_000u64;
    let a = args(&[
        "--tx-port",
        "net_ring0",
        "--rate-pps",
        "100000",
        "--count",
        &n.to_string(),
        "--flows",
        "64",
        "--drain-ms",
        "2000",
    ]);
    let r = pktgen::measure(&eal, &a, Arc::new(AtomicBool::new(false))).unwrap();
    println!("{}", r.to_table());
    assert_eq!(r.lcores, "tx on lcore 1, rx on lcore 2");
    assert_eq!(r.tx_packets, n);
    assert_eq!(r.rx_packets, n);
    assert_eq!(r.loss, 0);
    assert_eq!((r.reordered, r.reordered_global, r.late), (0, 0, 0));
    assert_eq!(r.latency_samples, n, "one latency sample per packet");
    let v = json(&r);
    assert_eq!(v["tx_packets"], n);
    assert_eq!(v["rx_packets"], n);
    assert_eq!(v["loss"], 0);
    assert_eq!(
        (v["duplicates"].as_u64(), v["stale"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        (v["tx_unsent"].as_u64(), v["interrupted"].as_bool()),
        (Some(0), Some(false))
    );
    assert_eq!(v["reordered"], 0);
    let l = &v["latency_ns"];
    let (p50, p99, p999, max) = (
        l["p50"].as_u64().unwrap(),
        l["p99"].as_u64().unwrap(),
        l["p999"].as_u64().unwrap(),
        l["max"].as_u64().unwrap(),
    );
    assert!(p50 > 0 && p50 <= p99 && p99 <= p999 && p999 <= max, "{l}");
    assert!(v["duration_s"].as_f64().unwrap() > 0.0);
    assert!(v["tx_mpps"].as_f64().unwrap() > 0.0);
    assert!(v["rx_mpps"].as_f64().unwrap() > 0.0);
    assert!(v.get("rfc2544").is_none());
}

#[test]
fn ring_loopback_vxlan_frames_on_one_worker_for_a_duration() {
    let (_dir, eal) = eal("shared", "0@0,1@1", &["net_ring0"]);
    let a = args(&[
        "--tx-port",
        "net_ring0",
        "--mode",
        "vxlan",
        "--vteps",
        "8",
        "--flows",
        "256",
        "--rate-pps",
        "50000",
        "--duration",
        "0.5",
        "--size",
        "256",
    ]);
    let r = pktgen::measure(&eal, &a, Arc::new(AtomicBool::new(false))).unwrap();
    println!("{}", r.to_table());
    assert_eq!(r.lcores, "tx and rx on lcore 1");
    assert!(r.tx_packets > 0);
    assert_eq!(r.rx_packets, r.tx_packets);
    assert_eq!((r.loss, r.reordered), (0, 0));
    assert_eq!(r.latency_samples, r.tx_packets);
    assert_eq!(json(&r)["mode"], "vxlan");
}

#[test]
fn ring_loopback_rfc2544_on_the_main_lcore_finds_a_zero_loss_rate() {
    let (_dir, eal) = eal("rfc", "0@0", &["net_ring0"]);
    let a = rfc2544_on_ring0("20", "0.2", &["--resolution", "10", "--flows", "16"]);
    let r = pktgen::measure(&eal, &a, Arc::new(AtomicBool::new(false))).unwrap();
    println!("{}", r.to_table());
    assert_eq!(r.lcores, "tx and rx on the main lcore");
    let v = json(&r);
    let rfc = &v["rfc2544"];
    let trials = rfc["trials"].as_array().expect("trials listed");
    assert!(!trials.is_empty());
    let line = rfc["line_rate_pps"].as_f64().unwrap();
    assert!(
        (line - 20e6 / (84.0 * 8.0)).abs() < 1.0,
        "64 B at 20 Mbit/s"
    );
    // A loopback ring loses nothing: no trial fails. The first, at line
    // rate, passes unless the generator (on a CPU shared with the other
    // tests) fell behind the rate, which is then not counted as a pass.
    for t in trials {
        assert!(
            t["verdict"] == "pass" || t["verdict"] == "generator_short",
            "{t}"
        );
        assert_eq!(t["loss"], 0, "{t}");
        // A ring has no descriptors to miss and allocates nothing on RX.
        assert_eq!(t["generator_drops"], 0, "{t}");
    }
    assert_eq!(rfc["interrupted"], false);
    let tp = rfc["throughput_pps"].as_f64().expect("a rate verified");
    // Verified: the rate offered, or what was sent if a pass sent less.
    let best = &trials[rfc["best_trial"].as_u64().unwrap() as usize];
    assert!(
        tp <= best["tx_pps"].as_f64().unwrap() || tp == best["offered_pps"].as_f64().unwrap(),
        "{best}"
    );
    if trials[0]["pass"] == true {
        assert!(tp <= line && tp >= 0.99 * line, "{tp} at line rate {line}");
    }
    assert_eq!(v["generator_drops"], 0);
    assert_eq!(r.loss, 0);
    assert_eq!(r.rx_packets, r.tx_packets);
    // The default warm-up: one frame per flow, all back before trial 1.
    assert_eq!(
        (
            rfc["warmup_ms"].as_u64(),
            rfc["warmup_frames"].as_u64(),
            rfc["warmup_received"].as_u64()
        ),
        (Some(500), Some(16), Some(16))
    );
}

/// RFC 2544 section 23: learning frames before the first trial. The
/// warm-up sends one frame per flow and waits for them; they are in no
/// trial's counts (a loopback returns exactly what each trial sent), and
/// none arrives late in a trial.
#[test]
fn ring_loopback_rfc2544_warm_up_frames_are_sent_and_in_no_trial() {
    let (_dir, eal) = eal("warmup", "0@0", &["net_ring0"]);
    let a = rfc2544_on_ring0(
        "20",
        "0.2",
        &[
            "--resolution",
            "10",
            "--flows",
            "64",
            "--warmup-ms",
            "100",
            "--drain-ms",
            "2000",
        ],
    );
    let r = pktgen::measure(&eal, &a, Arc::new(AtomicBool::new(false))).unwrap();
    let table = r.to_table();
    println!("{table}");
    let v = json(&r);
    let rfc = &v["rfc2544"];
    assert_eq!(rfc["warmup_ms"], 100);
    assert_eq!(rfc["warmup_frames"], 64, "one frame per flow");
    assert_eq!(rfc["warmup_received"], 64, "all back before trial 1");
    assert!(
        table.contains("warm-up: 64 frames (one per flow, over 100 ms)"),
        "{table}"
    );
    let trials = rfc["trials"].as_array().expect("trials listed");
    assert!(!trials.is_empty());
    for t in trials {
        // Warm-up frames counted in a trial would show as received beyond
        // what it sent.
        assert_eq!(t["rx_packets"], t["tx_packets"], "{t}");
        assert_eq!(
            (t["loss"].as_u64(), t["duplicates"].as_u64()),
            (Some(0), Some(0)),
            "{t}"
        );
    }
    assert_eq!((r.rx_packets, r.loss), (r.tx_packets, 0));
    assert_eq!((r.late, r.foreign, r.rx_other), (0, 0, 0));
}

/// The reviewer's case: a 1 Tb/s line rate (1.49 Gpps) that no software
/// generator sends. The trials the generator could not send are not passes
/// at their offered rate, and the throughput is never above what was sent.
#[test]
fn ring_loopback_rfc2544_above_what_the_generator_sends_is_not_a_pass() {
    let (_dir, eal) = eal("rfcfast", "0@0", &["net_ring0"]);
    let a = rfc2544_on_ring0("1000000", "0.1", &["--resolution", "10", "--flows", "16"]);
    let r = pktgen::measure(&eal, &a, Arc::new(AtomicBool::new(false))).unwrap();
    let table = r.to_table();
    println!("{table}");
    let v = json(&r);
    let rfc = &v["rfc2544"];
    let trials = rfc["trials"].as_array().expect("trials listed");
    assert_eq!(trials[0]["verdict"], "generator_short", "{}", trials[0]);
    assert_eq!(trials[0]["pass"], false);
    let max_sent = trials
        .iter()
        .map(|t| t["tx_pps"].as_f64().unwrap())
        .fold(0.0, f64::max);
    let tp = rfc["throughput_pps"]
        .as_f64()
        .expect("what was sent, lossless");
    assert!(
        tp <= max_sent / pktgen::rfc2544::MIN_SENT_SHARE,
        "throughput {tp} above what was sent ({max_sent} pps)"
    );
    for t in trials {
        // A pass is only ever at a rate that was (within 1 %) sent.
        if t["pass"] == true {
            let (o, s) = (
                t["offered_pps"].as_f64().unwrap(),
                t["tx_pps"].as_f64().unwrap(),
            );
            assert!(s >= o * pktgen::rfc2544::MIN_SENT_SHARE, "{t}");
        }
    }
    assert!(
        table.contains("generator could not send this rate"),
        "{table}"
    );
    assert!(!table.contains("throughput: 1488095"), "{table}");
}

/// Low rates send what the rate allows, not whole bursts of 32, and the
/// rate is measured over the real sending time.
#[test]
fn ring_loopback_low_rates_send_what_the_rate_allows() {
    // A port is closed when a run ends: one ring per run.
    let (_dir, eal) = eal(
        "lowrate",
        "0@0,1@1",
        &["net_ring0", "net_ring1", "net_ring2"],
    );
    let no_stop = || Arc::new(AtomicBool::new(false));
    // 20 frames at 10 pps: every one sent and received, and paced, not
    // sent as a burst: the last one's slot is 1.9 s after the first's (the
    // least pacing allows; a slower machine only takes longer). How many a
    // rate sends in a given time is `engine::pace::tests`' job, on a clock of
    // its own.
    let a = args(&[
        "--tx-port",
        "net_ring0",
        "--rate-pps",
        "10",
        "--count",
        "20",
    ]);
    let r = pktgen::measure(&eal, &a, no_stop()).unwrap();
    println!("{}", r.to_table());
    assert_eq!((r.tx_packets, r.rx_packets), (20, 20));
    assert!(r.duration_s >= 1.9 && r.tx_mpps > 0.0, "{}", r.to_table());
    // 5 frames at full speed: a rate above 0, not 0 Mpps.
    let a = args(&["--tx-port", "net_ring1", "--count", "5"]);
    let r = pktgen::measure(&eal, &a, no_stop()).unwrap();
    println!("{}", r.to_table());
    assert_eq!((r.tx_packets, r.rx_packets), (5, 5));
    assert!(r.duration_s > 0.0 && r.tx_mpps > 0.0, "{}", r.to_table());
    // 3 frames at 100 pps: 3, not a burst of 32.
    let a = args(&[
        "--tx-port",
        "net_ring2",
        "--rate-pps",
        "100",
        "--count",
        "3",
    ]);
    let r = pktgen::measure(&eal, &a, no_stop()).unwrap();
    assert_eq!((r.tx_packets, r.rx_packets), (3, 3));
    assert!(r.tx_mpps > 0.0);
    let v = json(&r);
    assert_eq!(
        (v["tx_unsent"].as_u64(), v["tx_alloc_failures"].as_u64()),
        (Some(0), Some(0))
    );
}

/// A stop flag already set (SIGINT before the run): the search runs no
/// trial and says it was interrupted.
#[test]
fn ring_loopback_rfc2544_interrupted_at_once_says_interrupted() {
    let (_dir, eal) = eal("rfcint", "0@0", &["net_ring0"]);
    let a = rfc2544_on_ring0("10", "0.1", &[]);
    let r = pktgen::measure(&eal, &a, Arc::new(AtomicBool::new(true))).unwrap();
    let table = r.to_table();
    assert!(
        table.contains("interrupted before any rate was verified"),
        "{table}"
    );
    assert!(!table.contains("no rate passed"), "{table}");
    let v = json(&r);
    assert_eq!(v["interrupted"], true);
    assert_eq!(v["rfc2544"]["interrupted"], true);
    assert!(v["rfc2544"]["trials"].as_array().unwrap().is_empty());
    assert_eq!(v["rfc2544"]["warmup_frames"], 0, "no warm-up either");
}

#[test]
fn ring_loopback_jumbo_vxlan_frames_arrive_whole() {
    let (_dir, eal) = eal("jumbo", "0@0,1@1", &["net_ring0"]);
    let a = args(&[
        "--tx-port",
        "net_ring0",
        "--mode",
        "vxlan",
        "--flows",
        "64",
        "--rate-pps",
        "20000",
        "--count",
        "2000",
        "--size",
        "9018",
        "--rx-mtu",
        "9050",
    ]);
    // 9018-byte frames with FCS: MTU 9000; one port doing both sides takes
    // the larger RX MTU.
    assert_eq!((a.port_mtu(), a.rx_port_mtu()), (Some(9000), Some(9050)));
    let r = pktgen::measure(&eal, &a, Arc::new(AtomicBool::new(false))).unwrap();
    println!("{}", r.to_table());
    assert_eq!(r.tx_packets, 2000);
    assert_eq!(r.rx_packets, 2000, "every jumbo frame back, stamp intact");
    assert_eq!((r.loss, r.reordered), (0, 0));
    let v = json(&r);
    assert_eq!(v["size"], 9018);
}

/// A net_pcap RX port replaying a file (`infinite_rx`) holds one mbuf per
/// frame of it: with the pool's least `--mbufs`, TX finds the pool empty
/// and ends after a second, and the report blames the pool and asks for
/// more `--mbufs`, not the TX device, which refused nothing.
#[test]
fn a_run_whose_pool_stays_empty_says_so_and_not_that_the_device_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("replay.pcap");
    let w = args(&[
        "--write-pcap",
        pcap.to_str().unwrap(),
        "--dst-mac",
        "02:aa:00:00:00:01",
        "--flows",
        "4096",
        "--count",
        "4096",
    ]);
    assert_eq!(pktgen::write_pcap(&w).unwrap(), 4096);
    let replay = format!("net_pcap0,rx_pcap={},infinite_rx=1", pcap.display());
    let (_dir, eal) = eal("pool", "0@0,1@1", &["net_ring0", &replay]);
    let min = pktgen::MIN_MBUFS.to_string();
    let a = args(&[
        "--tx-port",
        "net_ring0",
        "--rx-port",
        "net_pcap0",
        "--count",
        "100000",
        "--mbufs",
        &min,
    ]);
    let r = pktgen::measure(&eal, &a, Arc::new(AtomicBool::new(false))).unwrap();
    let table = r.to_table();
    println!("{table}");
    assert!(r.tx_packets < 100_000, "{}", r.tx_packets);
    assert!(r.tx_stalled && r.tx_alloc_failures > 0, "{table}");
    assert_eq!(r.tx_stall_cause, Some("pool"), "{table}");
    assert!(
        table.contains("TX stalled: the mbuf pool stayed empty") && table.contains("--mbufs"),
        "{table}"
    );
    assert!(!table.contains("stopped accepting frames"), "{table}");
    assert_eq!(json(&r)["tx_stall_cause"], "pool");
}

/// Two rings not joined: net_ring0's TX loops to its own RX, which nobody
/// polls (RX is net_ring1), so its ring fills and then takes nothing. A
/// `--count` run, which has no deadline, once retried the refused frames
/// forever; it ends on its own now, with the refused frames unsent.
#[test]
fn a_count_run_ends_when_the_tx_device_stops_accepting_frames() {
    let (_dir, eal) = eal("stall", "0@0", &["net_ring0", "net_ring1"]);
    let a = args(&[
        "--tx-port",
        "net_ring0",
        "--rx-port",
        "net_ring1",
        "--count",
        "5000",
    ]);
    let r = pktgen::measure(&eal, &a, Arc::new(AtomicBool::new(false))).unwrap();
    let table = r.to_table();
    println!("{table}");
    assert!(r.tx_packets < 5000, "{}", r.tx_packets);
    assert!(r.tx_unsent > 0, "the refused frames are counted");
    assert!(r.tx_stalled && !r.interrupted);
    assert_eq!((r.rx_packets, r.loss), (0, r.tx_packets));
    assert!(
        table.contains("TX stalled: the device stopped accepting frames"),
        "{table}"
    );
    let v = json(&r);
    assert_eq!(v["tx_stalled"], true);
    assert_eq!(v["tx_stall_cause"], "device");
    assert_eq!(v["tx_unsent"].as_u64(), Some(r.tx_unsent));
    // Nothing received, nothing measured: the figures are null, not 0 ns.
    assert_eq!(v["latency_samples"], 0);
    for k in ["p50", "p99", "p999", "max", "min", "mean"] {
        assert!(v["latency_ns"][k].is_null(), "{k}: {}", v["latency_ns"]);
    }
    assert!(table.contains("(0 samples): none measured"), "{table}");
}

/// Ctrl-C while the receiver waits out a long drain (nothing comes back:
/// the rings are not joined) ends the wait instead of being ignored for up
/// to a minute, and the report says the run was interrupted (the frames
/// counted lost might still have been on their way).
#[test]
fn a_stop_during_the_drain_wait_ends_it_and_marks_the_run_interrupted() {
    let (_dir, eal) = eal("drainstop", "0@0", &["net_ring0", "net_ring1"]);
    let a = args(&[
        "--tx-port",
        "net_ring0",
        "--rx-port",
        "net_ring1",
        "--count",
        "10",
        "--drain-ms",
        "60000",
    ]);
    let stop = Arc::new(AtomicBool::new(false));
    let signal = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            vxgate::ops::pause(std::time::Duration::from_secs(2));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    let r = pktgen::measure(&eal, &a, stop).unwrap();
    signal.join().unwrap();
    println!("{}", r.to_table());
    // All ten sent (the stop came after TX, in the drain wait).
    assert_eq!((r.tx_packets, r.tx_unsent), (10, 0));
    assert_eq!((r.rx_packets, r.loss), (0, 10));
    assert!(r.interrupted, "the cut drain is reported");
    assert_eq!(json(&r)["interrupted"], true);
}

/// The same rings under `--rfc2544`: the warm-up (a count, no deadline)
/// stalls once the ring is full and ends; the trials then send nothing,
/// which is the generator's failure, not the DUT's.
#[test]
fn an_rfc2544_warm_up_ends_when_the_tx_device_stops_accepting_frames() {
    let (_dir, eal) = eal("stallrfc", "0@0", &["net_ring0", "net_ring1"]);
    let a = args(&[
        "--tx-port",
        "net_ring0",
        "--rx-port",
        "net_ring1",
        "--rfc2544",
        "--line-rate-mbps",
        "10",
        "--trial",
        "0.01",
        "--resolution",
        "10",
        "--flows",
        "2048",
        "--warmup-ms",
        "100",
        "--drain-ms",
        "0",
    ]);
    let r = pktgen::measure(&eal, &a, Arc::new(AtomicBool::new(false))).unwrap();
    let table = r.to_table();
    println!("{table}");
    let v = json(&r);
    let rfc = &v["rfc2544"];
    let sent = rfc["warmup_frames"].as_u64().unwrap();
    assert!(sent > 0 && sent < 2048, "warm-up sent {sent} of 2048");
    assert_eq!(rfc["warmup_received"], 0);
    assert_eq!(rfc["interrupted"], false);
    let trials = rfc["trials"].as_array().expect("trials listed");
    assert!(!trials.is_empty());
    for t in trials {
        assert_eq!(t["tx_packets"], 0, "{t}");
        assert_eq!(t["verdict"], "generator_short", "{t}");
    }
    assert!(rfc["throughput_pps"].is_null());
    assert!(table.contains("nothing was sent"), "{table}");
}
