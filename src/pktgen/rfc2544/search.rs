//! The binary search for the throughput, and the same search after a warm-up.

use super::result::{SearchResult, Trial};
use super::steps::{Step, Warmup};
use super::verdict::{sent_enough, verdict, Measured, Verdict};

#[derive(Clone, Copy, Debug)]
pub struct SearchConf {
    pub line_rate_pps: f64,
    pub min_rate_pps: f64,
    /// Stop when the pass/fail bracket is narrower than this % of line rate.
    pub resolution_pct: f64,
    pub loss_tolerance_pct: f64,
}

/// Runs the search: first at line rate, then halving the bracket
/// [floor, lowest rate not verified] until it is narrower than the
/// resolution. The floor is `--min-rate-pps`, raised by every verified
/// rate above it (the offered rate of a pass, or the rate a
/// `generator_short` trial sent): no trial goes below a verified rate. A
/// floor that no trial verified (still the minimum rate: a short trial
/// sent less than it, or nothing passed) is tried before the search gives
/// up. The throughput is the best verified rate. `trial(rate)` measures
/// one trial; `stop` ends the search early (an interrupted run), as does
/// an interrupted trial.
pub fn search(
    conf: SearchConf,
    mut trial: impl FnMut(f64) -> Measured,
    mut stop: impl FnMut() -> bool,
) -> SearchResult {
    let step = (conf.resolution_pct / 100.0 * conf.line_rate_pps).max(1.0);
    let mut lo = conf.min_rate_pps.max(0.0);
    // Whether `lo` is a verified rate rather than only the minimum rate.
    let mut lo_verified = false;
    let mut hi = conf.line_rate_pps;
    // Whether the trial that set `hi` last was `generator_short`: then the
    // generator, not the DUT, kept the search from going higher.
    let mut hi_from_short = false;
    let mut rate = hi;
    let mut out = SearchResult::new(&conf);
    let mut tested_low = false;
    // Rates at which the DUT lost frames it was given: see `dut_failed_at`.
    let mut dut_failures = Vec::new();
    loop {
        if stop() {
            out.interrupted = true;
            break;
        }
        let m = trial(rate);
        let v = verdict(rate, &m, conf.loss_tolerance_pct);
        let loss = m.tx_packets.saturating_sub(m.rx_packets);
        out.trials.push(Trial {
            offered_pps: rate,
            tx_pps: m.tx_pps,
            tx_packets: m.tx_packets,
            rx_packets: m.rx_packets,
            duplicates: m.duplicates,
            loss,
            loss_pct: if m.tx_packets == 0 {
                0.0
            } else {
                loss as f64 * 100.0 / m.tx_packets as f64
            },
            generator_drops: m.generator_drops,
            verdict: v,
            pass: v == Verdict::Pass,
        });
        if rate <= conf.min_rate_pps {
            tested_low = true;
        }
        let verified = match v {
            Verdict::Interrupted => {
                out.interrupted = true;
                break;
            }
            // Verifies the offered rate, but never more than was sent (a
            // pass may have sent 1 % less).
            Verdict::Pass => {
                lo = lo.max(rate);
                lo_verified = true;
                Some(rate.min(m.tx_pps))
            }
            // Not verified at `rate`: search below it. A short trial that
            // lost nothing beyond the tolerance still proves the rate it
            // did send (if any, never above the offered one). That rate
            // raises the floor only if it is above it: one below the
            // minimum rate leaves the minimum rate, unverified, as the
            // floor (still to be tried).
            Verdict::GeneratorShort => {
                hi = rate;
                hi_from_short = true;
                let sent = (m.tx_packets > 0).then_some(m.tx_pps.min(rate));
                if let Some(r) = sent.filter(|&r| r >= lo) {
                    lo = r;
                    lo_verified = true;
                }
                sent
            }
            Verdict::Fail => {
                hi = rate;
                hi_from_short = false;
                dut_failures.push(dut_failed_at(rate, &m));
                None
            }
            // Not verified, for want of evidence either way: below it.
            Verdict::GeneratorDropped => {
                hi = rate;
                hi_from_short = false;
                None
            }
        };
        if let Some(r) = verified.filter(|r| out.throughput_pps.map_or(true, |t| *r > t)) {
            out.throughput_pps = Some(r);
            out.best_trial = Some(out.trials.len() - 1);
        }
        if hi - lo <= step {
            // The floor was never verified (nothing passed above it, or a
            // short trial sent less than it): try it before giving up.
            if !lo_verified && !tested_low && conf.min_rate_pps > 0.0 {
                rate = conf.min_rate_pps;
                continue;
            }
            break;
        }
        rate = (lo + hi) / 2.0;
    }
    let verified = out.throughput_pps.unwrap_or(0.0);
    // Generator-limited when a short trial set the search's last upper
    // bound (the generator kept it from trying higher), unless the DUT
    // failed within the resolution above the throughput: then that
    // failure, not pktgen, bounds it. A failure further up leaves a gap
    // the search never tried (a short trial on a busy core after a `fail`
    // far above: the DUT may carry more than the throughput).
    let dut_bound = dut_failures
        .iter()
        .any(|&r| r > verified && r - verified <= step);
    out.generator_limited = out.throughput_pps.is_some() && hi_from_short && !dut_bound;
    out.receiver_limited = out
        .trials
        .iter()
        .any(|t| t.verdict == Verdict::GeneratorDropped && t.offered_pps > verified);
    out
}

/// The rate at which a `fail` trial offered at `offered` pps found the DUT
/// losing frames: the offered rate if the frames were sent in full
/// ([`sent_enough`]), else the rate actually sent (at most the offered
/// one).
fn dut_failed_at(offered: f64, m: &Measured) -> f64 {
    if sent_enough(offered, m) {
        offered
    } else {
        m.tx_pps.min(offered)
    }
}

/// The search after a warm-up: `step(Step::Warmup(w))` once before the
/// first trial (unless `warmup` is `None` or `stop` is already set), then
/// [`search`] with `step(Step::Trial(rate))` as its trials. A warm-up cut
/// short by SIGINT ends the search before any trial.
pub fn search_after_warmup(
    conf: SearchConf,
    warmup: Option<Warmup>,
    mut step: impl FnMut(Step) -> Measured,
    mut stop: impl FnMut() -> bool,
) -> SearchResult {
    let mut learned = Measured::default();
    if let Some(w) = warmup {
        if !stop() {
            learned = step(Step::Warmup(w));
        }
    }
    let mut out = if learned.interrupted {
        let mut r = SearchResult::new(&conf);
        r.interrupted = true;
        r
    } else {
        search(conf, |rate| step(Step::Trial(rate)), &mut stop)
    };
    out.warmup_ms = warmup.map_or(0, |w| w.ms);
    out.warmup_frames = learned.tx_packets;
    out.warmup_received = learned.rx_packets;
    out
}
