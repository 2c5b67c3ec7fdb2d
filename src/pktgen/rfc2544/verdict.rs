//! What one trial measured, and the verdict its counts give: pass, fail, or the generator's shortfall.

use super::MIN_SENT_SHARE;

/// What a trial proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Sent the offered rate and lost no more than the tolerance.
    Pass,
    /// Lost more than the tolerance (at the rate sent, which is at most the
    /// offered one): the DUT failed.
    Fail,
    /// The generator could not send the offered rate (fewer than
    /// [`MIN_SENT_SHARE`] of the frames due, see [`sent_enough`]) and nothing beyond the tolerance was lost,
    /// or it sent nothing at all: not a DUT failure, and the offered rate
    /// is not verified.
    GeneratorShort,
    /// Lost more than the tolerance, but not once the frames pktgen's own
    /// ports dropped are counted as arrived (its RX port's missed and
    /// no-buffer counts: a receiver that could not keep up): not a DUT
    /// failure, and the offered rate is not verified.
    GeneratorDropped,
    /// Cut short by SIGINT/SIGTERM: proves nothing.
    Interrupted,
}

/// What the trial closure reports.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measured {
    pub tx_packets: u64,
    /// Distinct frames received.
    pub rx_packets: u64,
    pub duplicates: u64,
    /// Achieved TX rate over the real sending time.
    pub tx_pps: f64,
    /// The trial's length as scheduled (`--trial`): frames were due at the
    /// offered rate for this long ([`sent_enough`]). 0 when unknown: then
    /// only a trial that sent nothing is `generator_short`.
    pub trial_s: f64,
    /// The trial was stopped early (SIGINT/SIGTERM).
    pub interrupted: bool,
    /// Frames pktgen's own RX port dropped meanwhile (missed and
    /// no-buffer).
    pub generator_drops: u64,
}

/// Whether a trial with these counts (`rx` distinct frames) loses no more
/// than the tolerance.
pub fn passes(tx: u64, rx: u64, tolerance_pct: f64) -> bool {
    let loss = tx.saturating_sub(rx);
    tx > 0 && (loss as f64) <= tolerance_pct / 100.0 * tx as f64
}

/// Whether the trial sent the offered rate: at least [`MIN_SENT_SHARE`] of
/// the frames due at `offered` pps over its scheduled length `m.trial_s`,
/// less one frame (the due count is whole frames: `offered * trial_s`
/// rounded either way by where the slots fall). Frames, not the achieved
/// rate `tx_pps`: a thread preempted at the end stretches the measured
/// sending time without costing a frame, and a trial that sent every frame
/// due has sent its rate.
pub fn sent_enough(offered: f64, m: &Measured) -> bool {
    m.tx_packets as f64 + 1.0 >= MIN_SENT_SHARE * offered * m.trial_s
}

/// The verdict of a trial at `offered` pps that measured `m`.
pub fn verdict(offered: f64, m: &Measured, tolerance_pct: f64) -> Verdict {
    if m.interrupted {
        Verdict::Interrupted
    } else if m.tx_packets == 0 {
        // Nothing reached the DUT: the generator (or its port) failed.
        Verdict::GeneratorShort
    } else if !passes(m.tx_packets, m.rx_packets, tolerance_pct) {
        // Frames pktgen's own RX port dropped are no evidence against the
        // DUT: counted as arrived, does the trial pass?
        let own = m.rx_packets.saturating_add(m.generator_drops);
        if m.generator_drops > 0 && passes(m.tx_packets, own, tolerance_pct) {
            Verdict::GeneratorDropped
        } else {
            Verdict::Fail
        }
    } else if !sent_enough(offered, m) {
        Verdict::GeneratorShort
    } else {
        Verdict::Pass
    }
}
