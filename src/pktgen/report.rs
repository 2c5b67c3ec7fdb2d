//! The result of a run: one JSON object, or a human-readable table.
use std::fmt::Write as _;

use super::flows::Mode;
use super::meter::Latency;
use super::rfc2544::{SearchResult, Verdict};

/// Bytes a frame occupies on the wire beyond its own: preamble, SFD and
/// inter-frame gap.
pub const L1_OVERHEAD: u32 = 20;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub mode: Mode,
    /// Frame size including the 4-byte FCS.
    pub size: u32,
    pub flows: u32,
    pub tx_port: String,
    pub rx_port: String,
    pub lcores: String,
    pub tx_packets: u64,
    /// Frames built but never taken by the TX device (freed at the end).
    pub tx_unsent: u64,
    /// Burst allocations that found the pool empty (each retried).
    pub tx_alloc_failures: u64,
    /// Sending ended early because the TX device took no frame for
    /// `engine::TX_STALL_S` (its ring full, its link down, or no frame
    /// could be built: `tx_stall_cause`).
    pub tx_stalled: bool,
    /// Why sending stalled: `"device"` (it took no frame) or `"pool"` (the
    /// mbuf pool stayed empty); `None` without a stall.
    pub tx_stall_cause: Option<&'static str>,
    /// Distinct frames of ours received.
    pub rx_packets: u64,
    /// Further copies of frames already received.
    pub duplicates: u64,
    /// Frames older than the duplicate window (`meter::DUP_WINDOW` behind
    /// the newest): not told from copies, not in `rx_packets`.
    pub stale: u64,
    /// `tx_packets - rx_packets` after the drain wait.
    pub loss: u64,
    /// Frames pktgen's own RX port dropped during the trial (missed and
    /// no-buffer): loss that may not be the DUT's.
    pub generator_drops: u64,
    pub loss_pct: f64,
    pub reordered: u64,
    pub reordered_global: u64,
    /// Our frames from an earlier trial, arriving during this one.
    pub late: u64,
    /// Frames received without our payload.
    pub rx_other: u64,
    /// Frames with our stamp but another run's id (an earlier pktgen
    /// process's frames arriving late): not received, not late.
    pub foreign: u64,
    /// Received frames whose stamp TSC was ahead of the receiver's (TSC skew
    /// between cores): in `rx_packets`, not in the latency histogram.
    pub negative_latency: u64,
    /// The random id this run put into its stamps (24 bits).
    pub run_id: u32,
    pub duration_s: f64,
    pub tx_mpps: f64,
    pub rx_mpps: f64,
    /// Layer-1 bit rate of what was sent (frame + 20 bytes per frame).
    pub tx_gbps: f64,
    pub latency_samples: u64,
    pub latency_ns: Latency,
    pub tsc_hz: u64,
    /// SIGINT/SIGTERM ended the run (or the RFC 2544 search) early.
    pub interrupted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rfc2544: Option<SearchResult>,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let mode = match self.mode {
            Mode::Inner => "inner",
            Mode::Vxlan => "vxlan",
        };
        let _ = writeln!(
            s,
            "vxgate pktgen: {mode} frames of {} B, {} flows, {} -> {} ({})",
            self.size, self.flows, self.tx_port, self.rx_port, self.lcores
        );
        // pps as well as Mpps: a low rate is not "0.000".
        let _ = writeln!(
            s,
            "  {:<18} {:>14} {:>10} {:>14}",
            "", "packets", "Mpps", "pps"
        );
        let _ = writeln!(
            s,
            "  {:<18} {:>14} {:>10.3} {:>14.1}   ({:.3} Gbit/s L1)",
            "sent",
            self.tx_packets,
            self.tx_mpps,
            self.tx_mpps * 1e6,
            self.tx_gbps
        );
        if self.tx_unsent > 0 || self.tx_alloc_failures > 0 {
            let _ = writeln!(
                s,
                "  {:<18} {:>14}   (built, never taken by the device; {} burst allocations found the pool empty)",
                "not sent", self.tx_unsent, self.tx_alloc_failures
            );
        }
        if self.tx_stall_cause == Some("pool") {
            let _ = writeln!(
                s,
                "  TX stalled: the mbuf pool stayed empty (no frame built for {} s), \
                 so sending ended early; give more --mbufs",
                super::engine::TX_STALL_S
            );
        } else if self.tx_stalled {
            let _ = writeln!(
                s,
                "  TX stalled: the device stopped accepting frames (none taken for {} s), \
                 so sending ended early",
                super::engine::TX_STALL_S
            );
        }
        let _ = writeln!(
            s,
            "  {:<18} {:>14} {:>10.3} {:>14.1}",
            "received",
            self.rx_packets,
            self.rx_mpps,
            self.rx_mpps * 1e6
        );
        let _ = writeln!(
            s,
            "  {:<18} {:>14}   (copies of frames already received, not in the count above)",
            "duplicates", self.duplicates
        );
        let _ = writeln!(
            s,
            "  {:<18} {:>14} {:>9.4} %",
            "lost", self.loss, self.loss_pct
        );
        if self.generator_drops > 0 {
            let _ = writeln!(
                s,
                "  {:<18} {:>14}   (dropped by pktgen's own RX port: missed or no buffer; \
                 part of the loss may be these, not the DUT's)",
                "own drops", self.generator_drops
            );
        }
        let _ = writeln!(
            s,
            "  {:<18} {:>14}   (globally {})",
            "reordered in flow", self.reordered, self.reordered_global
        );
        let _ = writeln!(
            s,
            "  {:<18} {:>14}   (late {}, of another run {})",
            "other frames", self.rx_other, self.late, self.foreign
        );
        let l = &self.latency_ns;
        match (l.min, l.p50, l.p99, l.p999, l.max, l.mean) {
            (Some(min), Some(p50), Some(p99), Some(p999), Some(max), Some(mean)) => {
                let _ = writeln!(
                    s,
                    "  latency ns ({} samples): min {min} p50 {p50} p99 {p99} p99.9 {p999} max \
                     {max} mean {mean:.0}",
                    self.latency_samples
                );
            }
            _ => {
                let _ = writeln!(
                    s,
                    "  latency ns ({} samples): none measured",
                    self.latency_samples
                );
            }
        }
        if self.stale > 0 {
            let _ = writeln!(
                s,
                "  {} frames arrived more than {} sequence numbers behind the newest \
                 (not told from copies): not counted received",
                self.stale,
                super::meter::DUP_WINDOW
            );
        }
        if self.negative_latency > 0 {
            let _ = writeln!(
                s,
                "  {} frames stamped ahead of the receiver's TSC (TSC skew between cores): \
                 received, left out of the latency figures",
                self.negative_latency
            );
        }
        let _ = writeln!(
            s,
            "  duration {:.6} s (first frame sent to end of sending)",
            self.duration_s
        );
        if self.interrupted {
            let _ = writeln!(s, "  interrupted (SIGINT/SIGTERM) before the end");
        }
        if let Some(r) = &self.rfc2544 {
            let _ = writeln!(
                s,
                "RFC 2544 throughput (loss <= {} %, resolution {} % of {:.0} pps line rate):",
                r.loss_tolerance_pct, r.resolution_pct, r.line_rate_pps
            );
            if r.warmup_ms > 0 {
                let _ = writeln!(
                    s,
                    "  warm-up: {} frames (one per flow, over {} ms) before the first trial, {} \
                     came back; counted in no trial",
                    r.warmup_frames, r.warmup_ms, r.warmup_received
                );
            } else {
                let _ = writeln!(
                    s,
                    "  no warm-up (--warmup-ms 0): the first trial met a DUT that had not \
                     learned the addresses yet"
                );
            }
            let _ = writeln!(
                s,
                "  {:>14} {:>14} {:>14} {:>14} {:>10} {:>10}  result",
                "offered pps", "sent pps", "sent", "received", "dup", "loss %"
            );
            for t in &r.trials {
                let verdict = match t.verdict {
                    Verdict::Pass => "pass".to_owned(),
                    Verdict::Fail => "fail".to_owned(),
                    Verdict::GeneratorShort => format!(
                        "generator could not send this rate (below {} %): not a DUT failure",
                        r.min_sent_pct
                    ),
                    Verdict::GeneratorDropped => format!(
                        "pktgen's own RX port dropped {} frames (missed, no buffer): not a DUT failure",
                        t.generator_drops
                    ),
                    Verdict::Interrupted => "interrupted: not counted".to_owned(),
                };
                let _ = writeln!(
                    s,
                    "  {:>14.0} {:>14.0} {:>14} {:>14} {:>10} {:>10.4}  {verdict}",
                    t.offered_pps, t.tx_pps, t.tx_packets, t.rx_packets, t.duplicates, t.loss_pct,
                );
            }
            match r.throughput_pps {
                Some(p) => {
                    let _ = writeln!(
                        s,
                        "  throughput: {:.0} pps = {:.3} Mpps = {:.3} Gbit/s L1, the highest rate \
                         verified (the figures above are from that trial)",
                        p,
                        p / 1e6,
                        p * f64::from((self.size + L1_OVERHEAD) * 8) / 1e9
                    );
                    if r.generator_limited {
                        let loss = if r.loss_tolerance_pct > 0.0 {
                            format!("with loss within the {}% tolerance", r.loss_tolerance_pct)
                        } else {
                            "lossless".to_owned()
                        };
                        let _ = writeln!(
                            s,
                            "  generator-limited: that is the rate pktgen could send, {loss}; \
                             the DUT may carry more"
                        );
                    }
                    if r.receiver_limited {
                        let _ = writeln!(
                            s,
                            "  receiver-limited: above it pktgen's own RX port dropped frames \
                             (generator_drops); the DUT may carry more"
                        );
                    }
                    if r.interrupted {
                        let _ = writeln!(
                            s,
                            "  interrupted: the search stopped early, a higher rate may pass"
                        );
                    }
                }
                None if r.interrupted => {
                    let _ = writeln!(s, "  throughput: interrupted before any rate was verified");
                }
                None if r.trials.iter().all(|t| t.tx_packets == 0) => {
                    let _ = writeln!(
                        s,
                        "  throughput: no rate verified, nothing was sent (the TX port took no \
                         frame): a generator failure, not the DUT's"
                    );
                }
                None => {
                    let _ = writeln!(s, "  throughput: no rate passed, not even the lowest");
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pktgen::rfc2544::{search, Measured, SearchConf};

    fn report(rfc2544: Option<SearchResult>) -> Report {
        Report {
            mode: Mode::Inner,
            size: 64,
            flows: 1,
            tx_port: "p".into(),
            rx_port: "p".into(),
            lcores: "main".into(),
            tx_packets: 10,
            tx_unsent: 0,
            tx_alloc_failures: 0,
            tx_stalled: false,
            tx_stall_cause: None,
            rx_packets: 10,
            duplicates: 0,
            stale: 0,
            loss: 0,
            generator_drops: 0,
            loss_pct: 0.0,
            reordered: 0,
            reordered_global: 0,
            late: 0,
            rx_other: 0,
            foreign: 0,
            negative_latency: 0,
            run_id: 1,
            duration_s: 1.0,
            tx_mpps: 0.0,
            rx_mpps: 0.0,
            tx_gbps: 0.0,
            latency_samples: 0,
            latency_ns: Latency::default(),
            tsc_hz: 1,
            interrupted: rfc2544.as_ref().is_some_and(|r| r.interrupted),
            rfc2544,
        }
    }

    fn conf() -> SearchConf {
        SearchConf {
            line_rate_pps: 1000.0,
            min_rate_pps: 10.0,
            resolution_pct: 10.0,
            loss_tolerance_pct: 0.0,
        }
    }

    /// A lossless DUT behind a generator that sends at most `gen` pps.
    fn gen(cap: f64) -> impl FnMut(f64) -> Measured {
        move |rate| Measured {
            tx_packets: rate.min(cap) as u64,
            rx_packets: rate.min(cap) as u64,
            duplicates: 0,
            tx_pps: rate.min(cap),
            trial_s: 1.0,
            interrupted: false,
            generator_drops: 0,
        }
    }

    #[test]
    fn a_search_interrupted_before_any_trial_says_so() {
        let r = report(Some(search(conf(), gen(f64::MAX), || true)));
        let t = r.to_table();
        assert!(
            t.contains("interrupted before any rate was verified"),
            "{t}"
        );
        assert!(!t.contains("no rate passed"), "{t}");
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["interrupted"], true);
        assert_eq!(v["rfc2544"]["interrupted"], true);
        assert!(v["rfc2544"]["throughput_pps"].is_null());
    }

    /// A receiver that drops what it cannot keep up with (its port's
    /// missed count): those trials are not the DUT's failures, and the
    /// table says the receiver may bound the throughput.
    #[test]
    fn a_receiver_limited_throughput_says_so() {
        let receiver = crate::pktgen::rfc2544::tests::receiver_keeping_up_to(400);
        let r = report(Some(search(conf(), receiver, || false)));
        let t = r.to_table();
        assert!(t.contains("own RX port dropped"), "{t}");
        assert!(t.contains("receiver-limited"), "{t}");
        assert!(!t.contains("  fail"), "{t}");
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        let rfc = &v["rfc2544"];
        assert_eq!(rfc["receiver_limited"], true);
        assert_eq!(rfc["trials"][0]["verdict"], "generator_dropped");
        assert!(rfc["trials"][0]["generator_drops"].as_u64().unwrap() > 0);
    }

    #[test]
    fn a_generator_limited_throughput_says_so() {
        let r = report(Some(search(conf(), gen(400.0), || false)));
        let t = r.to_table();
        assert!(t.contains("generator could not send this rate"), "{t}");
        assert!(t.contains("generator-limited"), "{t}");
        assert!(t.contains("throughput: 400 pps"), "{t}");
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        let rfc = &v["rfc2544"];
        assert_eq!(rfc["generator_limited"], true);
        assert_eq!(rfc["throughput_pps"], 400.0);
        assert_eq!(rfc["trials"][0]["verdict"], "generator_short");
        assert_eq!(rfc["trials"][0]["pass"], false);
        assert_eq!(v["interrupted"], false);
        assert!(t.contains("could send, lossless"), "{t}");
        // With a loss tolerance, a generator-limited trial that lost
        // within it is not called lossless.
        let lossy = |rate: f64| {
            let sent = rate.min(400.0) as u64;
            Measured {
                tx_packets: sent,
                rx_packets: sent - sent / 20,
                duplicates: 0,
                tx_pps: rate.min(400.0),
                trial_s: 1.0,
                interrupted: false,
                generator_drops: 0,
            }
        };
        let tolerant = SearchConf {
            loss_tolerance_pct: 10.0,
            ..conf()
        };
        let t = report(Some(search(tolerant, lossy, || false))).to_table();
        assert!(t.contains("generator-limited"), "{t}");
        assert!(t.contains("with loss within the 10% tolerance"), "{t}");
        assert!(!t.contains("lossless"), "{t}");
    }

    /// A throughput from a short trial with the DUT losing frames (sent
    /// in full) above it: no generator-limited claim, in the table or the
    /// JSON.
    #[test]
    fn a_dut_failure_above_a_short_trials_rate_is_not_called_generator_limited() {
        let mut n = 0;
        let trial = |rate: f64| {
            n += 1;
            let (tx, rx) = if n == 1 { (400, 400) } else { (rate as u64, 0) };
            Measured {
                tx_packets: tx,
                rx_packets: rx,
                tx_pps: tx as f64,
                trial_s: 1.0,
                ..Measured::default()
            }
        };
        let r = report(Some(search(conf(), trial, || false)));
        let t = r.to_table();
        assert!(t.contains("throughput: 400 pps"), "{t}");
        assert!(!t.contains("generator-limited"), "{t}");
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["rfc2544"]["generator_limited"], false);
        assert_eq!(v["rfc2544"]["trials"][1]["verdict"], "fail");
    }

    #[test]
    fn a_search_that_sent_nothing_blames_the_generator() {
        let r = report(Some(search(conf(), |_| Measured::default(), || false)));
        let t = r.to_table();
        assert!(t.contains("no rate verified, nothing was sent"), "{t}");
        assert!(
            !t.contains("no rate passed") && !t.contains(" fail\n"),
            "{t}"
        );
    }

    #[test]
    fn unsent_frames_and_duplicates_are_shown() {
        let mut r = report(None);
        assert!(!r.to_table().contains("stalled"));
        r.tx_unsent = 7;
        r.tx_alloc_failures = 3;
        r.duplicates = 2;
        r.tx_stalled = true;
        r.tx_stall_cause = Some("device");
        let t = r.to_table();
        assert!(
            t.contains("TX stalled: the device stopped accepting frames (none taken for 1 s)"),
            "{t}"
        );
        let mut pool = r.clone();
        pool.tx_stall_cause = Some("pool");
        let p = pool.to_table();
        assert!(
            p.contains("TX stalled: the mbuf pool stayed empty (no frame built for 1 s)")
                && p.contains("give more --mbufs")
                && !p.contains("stopped accepting"),
            "{p}"
        );
        let v: serde_json::Value = serde_json::from_str(&pool.to_json()).unwrap();
        assert_eq!(v["tx_stall_cause"], "pool");
        assert!(
            t.contains("not sent") && t.contains(" 7 ") && t.contains("3 burst"),
            "{t}"
        );
        assert!(
            t.lines()
                .any(|l| l.contains("duplicates") && l.contains(" 2 ")),
            "{t}"
        );
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(
            (v["tx_unsent"].as_u64(), v["tx_alloc_failures"].as_u64()),
            (Some(7), Some(3))
        );
        assert_eq!(v["tx_stalled"], true);
        assert_eq!(v["tx_stall_cause"], "device");
        assert_eq!(v["duplicates"], 2);
    }

    #[test]
    fn the_warm_up_is_shown_apart_from_the_trials() {
        use crate::pktgen::rfc2544::{search_after_warmup, Step, Warmup};
        let mut g = gen(f64::MAX);
        let r = search_after_warmup(
            conf(),
            Warmup::new(500, 16, 1000.0),
            |s| match s {
                Step::Warmup(w) => Measured {
                    tx_packets: w.frames,
                    rx_packets: 12,
                    tx_pps: w.rate_pps,
                    ..Default::default()
                },
                Step::Trial(rate) => g(rate),
            },
            || false,
        );
        let rep = report(Some(r));
        let t = rep.to_table();
        assert!(
            t.contains("warm-up: 16 frames (one per flow, over 500 ms) before the first trial, 12 came back"),
            "{t}"
        );
        let v: serde_json::Value = serde_json::from_str(&rep.to_json()).unwrap();
        let rfc = &v["rfc2544"];
        assert_eq!(
            (
                rfc["warmup_ms"].as_u64(),
                rfc["warmup_frames"].as_u64(),
                rfc["warmup_received"].as_u64()
            ),
            (Some(500), Some(16), Some(12))
        );
        assert_eq!(
            rfc["trials"][0]["tx_packets"], 1000,
            "no warm-up frame in it"
        );
        // --warmup-ms 0.
        let rep = report(Some(search_after_warmup(
            conf(),
            None,
            |s| match s {
                Step::Trial(rate) => gen(f64::MAX)(rate),
                Step::Warmup(_) => panic!("no warm-up asked for"),
            },
            || false,
        )));
        assert!(rep.to_table().contains("no warm-up (--warmup-ms 0)"));
        let v: serde_json::Value = serde_json::from_str(&rep.to_json()).unwrap();
        assert_eq!(v["rfc2544"]["warmup_frames"], 0);
    }

    #[test]
    fn latency_without_samples_is_null_not_zero() {
        let r = report(None);
        assert_eq!(r.latency_samples, 0);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        let l = &v["latency_ns"];
        for k in ["p50", "p99", "p999", "max", "min", "mean"] {
            assert!(l.get(k).is_some_and(|x| x.is_null()), "{k}: {l}");
        }
        assert_eq!(v["latency_samples"], 0);
        let t = r.to_table();
        assert!(t.contains("latency ns (0 samples): none measured"), "{t}");
        assert!(!t.contains("p50 0"), "{t}");
        // With samples: numbers.
        let mut r = report(None);
        r.latency_samples = 10;
        r.latency_ns = Latency {
            p50: Some(900),
            p99: Some(1500),
            p999: Some(2000),
            max: Some(2100),
            min: Some(700),
            mean: Some(950.4),
        };
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(
            (
                v["latency_ns"]["p50"].as_u64(),
                v["latency_ns"]["max"].as_u64()
            ),
            (Some(900), Some(2100))
        );
        let t = r.to_table();
        assert!(
            t.contains(
                "latency ns (10 samples): min 700 p50 900 p99 1500 p99.9 2000 max 2100 mean 950"
            ),
            "{t}"
        );
    }

    #[test]
    fn foreign_frames_and_negative_latencies_are_shown() {
        let r = report(None);
        let t = r.to_table();
        assert!(t.contains("of another run 0"), "{t}");
        assert!(!t.contains("ahead of the receiver"), "{t}");
        let mut r = report(None);
        r.foreign = 5;
        r.negative_latency = 3;
        let t = r.to_table();
        assert!(
            t.lines()
                .any(|l| l.contains("other frames") && l.contains("of another run 5")),
            "{t}"
        );
        assert!(
            t.contains("3 frames stamped ahead of the receiver's TSC"),
            "{t}"
        );
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(
            (v["foreign"].as_u64(), v["negative_latency"].as_u64()),
            (Some(5), Some(3))
        );
        assert_eq!(v["run_id"], 1);
    }
}
