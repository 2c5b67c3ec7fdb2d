//! The result of a run: one JSON object, or a human-readable table.
use std::fmt::Write as _;

use super::flows::Mode;
use super::meter::Latency;
use super::rfc2544::SearchResult;

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
    pub rx_packets: u64,
    /// `tx_packets - rx_packets` after the drain wait (0 if more arrived).
    pub loss: u64,
    pub loss_pct: f64,
    pub reordered: u64,
    pub reordered_global: u64,
    /// Our frames from an earlier trial, arriving during this one.
    pub late: u64,
    /// Frames received without our payload.
    pub rx_other: u64,
    pub duration_s: f64,
    pub tx_mpps: f64,
    pub rx_mpps: f64,
    /// Layer-1 bit rate of what was sent (frame + 20 bytes per frame).
    pub tx_gbps: f64,
    pub latency_samples: u64,
    pub latency_ns: Latency,
    pub tsc_hz: u64,
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
        let _ = writeln!(s, "  {:<18} {:>14} {:>10}", "", "packets", "Mpps");
        let _ = writeln!(
            s,
            "  {:<18} {:>14} {:>10.3}   ({:.3} Gbit/s L1)",
            "sent", self.tx_packets, self.tx_mpps, self.tx_gbps
        );
        let _ = writeln!(
            s,
            "  {:<18} {:>14} {:>10.3}",
            "received", self.rx_packets, self.rx_mpps
        );
        let _ = writeln!(
            s,
            "  {:<18} {:>14} {:>9.4} %",
            "lost", self.loss, self.loss_pct
        );
        let _ = writeln!(
            s,
            "  {:<18} {:>14}   (globally {})",
            "reordered in flow", self.reordered, self.reordered_global
        );
        let _ = writeln!(
            s,
            "  {:<18} {:>14}   (late {})",
            "other frames", self.rx_other, self.late
        );
        let l = &self.latency_ns;
        let _ = writeln!(
            s,
            "  latency ns ({} samples): min {} p50 {} p99 {} p99.9 {} max {} mean {:.0}",
            self.latency_samples, l.min, l.p50, l.p99, l.p999, l.max, l.mean
        );
        let _ = writeln!(s, "  duration {:.3} s", self.duration_s);
        if let Some(r) = &self.rfc2544 {
            let _ = writeln!(
                s,
                "RFC 2544 throughput (loss <= {} %, resolution {} % of {:.0} pps line rate):",
                r.loss_tolerance_pct, r.resolution_pct, r.line_rate_pps
            );
            let _ = writeln!(
                s,
                "  {:>14} {:>14} {:>14} {:>14} {:>10}  result",
                "offered pps", "sent pps", "sent", "received", "loss %"
            );
            for t in &r.trials {
                let _ = writeln!(
                    s,
                    "  {:>14.0} {:>14.0} {:>14} {:>14} {:>10.4}  {}",
                    t.offered_pps,
                    t.tx_pps,
                    t.tx_packets,
                    t.rx_packets,
                    t.loss_pct,
                    if t.pass { "pass" } else { "fail" }
                );
            }
            match r.throughput_pps {
                Some(p) => {
                    let _ = writeln!(
                        s,
                        "  throughput: {:.0} pps = {:.3} Mpps = {:.3} Gbit/s L1 (the figures above are from that trial)",
                        p,
                        p / 1e6,
                        p * f64::from((self.size + L1_OVERHEAD) * 8) / 1e9
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
