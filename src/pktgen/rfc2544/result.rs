//! What the search reports: each trial's record, the throughput found and what bounds it.

use super::search::SearchConf;
use super::verdict::Verdict;
use super::MIN_SENT_SHARE;

/// What one trial measured.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Trial {
    /// The rate asked for.
    pub offered_pps: f64,
    /// The rate the generator achieved (lower when it cannot keep up).
    pub tx_pps: f64,
    pub tx_packets: u64,
    /// Distinct frames received (duplicates not counted).
    pub rx_packets: u64,
    /// Extra copies of frames already received.
    pub duplicates: u64,
    pub loss: u64,
    pub loss_pct: f64,
    /// Frames pktgen's own RX port dropped during the trial (missed and
    /// no-buffer), part of `loss` or not: see `GeneratorDropped`.
    pub generator_drops: u64,
    pub verdict: Verdict,
    /// `verdict == pass`.
    pub pass: bool,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchResult {
    pub line_rate_pps: f64,
    pub resolution_pct: f64,
    pub loss_tolerance_pct: f64,
    /// [`MIN_SENT_SHARE`] in percent.
    pub min_sent_pct: f64,
    /// Highest verified rate: the offered rate of a passing trial, or the
    /// sent rate of a `generator_short` one within the loss tolerance;
    /// `None` when nothing
    /// was verified.
    pub throughput_pps: Option<f64>,
    /// The throughput comes from a trial whose generator could not send the
    /// offered rate, and no trial found the DUT losing frames at a rate
    /// above it: the DUT may carry more than this. False when the DUT
    /// failed above it (that is its limit).
    pub generator_limited: bool,
    /// A trial above the throughput lost frames that pktgen's own RX port
    /// dropped (`generator_dropped`): the receiver, not the DUT, may be
    /// what bounds the throughput.
    pub receiver_limited: bool,
    /// Index into `trials` of the trial that gives the throughput.
    pub best_trial: Option<usize>,
    /// SIGINT/SIGTERM stopped the search before it finished.
    pub interrupted: bool,
    /// `--warmup-ms` (0: no warm-up).
    pub warmup_ms: u64,
    /// Frames the warm-up sent before the first trial (one per flow), and
    /// how many of them came back; in no trial's counts.
    pub warmup_frames: u64,
    pub warmup_received: u64,
    pub trials: Vec<Trial>,
}

impl SearchResult {
    pub(super) fn new(conf: &SearchConf) -> SearchResult {
        SearchResult {
            line_rate_pps: conf.line_rate_pps,
            resolution_pct: conf.resolution_pct,
            loss_tolerance_pct: conf.loss_tolerance_pct,
            min_sent_pct: MIN_SENT_SHARE * 100.0,
            throughput_pps: None,
            generator_limited: false,
            receiver_limited: false,
            best_trial: None,
            interrupted: false,
            warmup_ms: 0,
            warmup_frames: 0,
            warmup_received: 0,
            trials: Vec::new(),
        }
    }
}
