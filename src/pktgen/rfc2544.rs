//! RFC 2544 throughput: the highest rate at which a trial loses no more
//! than the tolerated share of frames, found by binary search between a low
//! rate and line rate. The search is pure; trials are a closure.
//!
//! A trial verifies a rate only if the generator actually sent it: a trial
//! that sent fewer than [`MIN_SENT_SHARE`] of the frames due at the offered
//! rate over the trial's length (less one frame, for rounding) says nothing
//! about the offered rate (the DUT never saw it). If it lost
//! nothing it verifies the rate that was sent; it is never a pass at the
//! offered rate. A trial cut short by SIGINT verifies nothing.
//!
//! Before the first trial an unscored warm-up (RFC 2544 section 23,
//! learning frames) sends one frame per flow at a low rate, so that a
//! device under test (a gateway resolving next hops by ARP, a switch
//! learning MACs) knows every address before it is measured; without it the
//! first trial, at line rate, loses the frames that wait for ARP and the
//! throughput found is below the real one. The warm-up counts in no trial.

/// A trial must send at least this share of the frames due at its offered
/// rate to count at that rate: 1 % slack for TSC pacing granularity and the
/// first burst's start-up, far below what a generator that cannot keep up
/// loses.
pub const MIN_SENT_SHARE: f64 = 0.99;

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

/// The unscored warm-up before the first trial.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Warmup {
    /// `--warmup-ms`: the frames are spread over this long.
    pub ms: u64,
    /// One per flow.
    pub frames: u64,
    pub rate_pps: f64,
}

impl Warmup {
    /// One frame per flow spread over `ms` milliseconds, never faster than
    /// line rate (then it takes longer); `None` for `ms == 0` (no warm-up).
    pub fn new(ms: u64, flows: u32, line_rate_pps: f64) -> Option<Warmup> {
        if ms == 0 || flows == 0 {
            return None;
        }
        let frames = u64::from(flows);
        let rate_pps = (frames as f64 * 1000.0 / ms as f64).min(line_rate_pps);
        Some(Warmup {
            ms,
            frames,
            rate_pps,
        })
    }
}

/// What the search asks the generator to do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step {
    /// Send the warm-up's frames and wait for them (counted in no trial).
    Warmup(Warmup),
    /// A trial at this offered rate (pps).
    Trial(f64),
}

#[derive(Clone, Copy, Debug)]
pub struct SearchConf {
    pub line_rate_pps: f64,
    pub min_rate_pps: f64,
    /// Stop when the pass/fail bracket is narrower than this % of line rate.
    pub resolution_pct: f64,
    pub loss_tolerance_pct: f64,
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
    fn new(conf: &SearchConf) -> SearchResult {
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
                let sent = (m.tx_packets > 0).then_some(m.tx_pps.min(rate));
                if let Some(r) = sent.filter(|&r| r >= lo) {
                    lo = r;
                    lo_verified = true;
                }
                sent
            }
            Verdict::Fail => {
                hi = rate;
                dut_failures.push(dut_failed_at(rate, &m));
                None
            }
            // Not verified, for want of evidence either way: below it.
            Verdict::GeneratorDropped => {
                hi = rate;
                None
            }
        };
        if let Some(r) = verified.filter(|r| out.throughput_pps.map_or(true, |t| *r > t)) {
            out.throughput_pps = Some(r);
            out.generator_limited = v == Verdict::GeneratorShort;
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
    // Generator-limited only if the DUT failed at no rate above the
    // throughput: otherwise that failure, not pktgen, bounds it.
    if dut_failures.iter().any(|&r| r > verified) {
        out.generator_limited = false;
    }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn conf() -> SearchConf {
        SearchConf {
            line_rate_pps: 1_000_000.0,
            min_rate_pps: 10_000.0,
            resolution_pct: 1.0,
            loss_tolerance_pct: 0.0,
        }
    }

    /// A device that loses everything above `cap` pps, fed by a generator
    /// that sends at most `gen` pps (for one second).
    fn rig(cap: f64, gen: f64) -> impl FnMut(f64) -> Measured {
        move |rate| {
            let sent = rate.min(gen);
            let tx = sent as u64;
            let rx = if sent <= cap { tx } else { cap as u64 };
            Measured {
                tx_packets: tx,
                rx_packets: rx,
                duplicates: 0,
                tx_pps: sent,
                trial_s: 1.0,
                interrupted: false,
                generator_drops: 0,
            }
        }
    }

    fn device(cap: f64) -> impl FnMut(f64) -> Measured {
        rig(cap, f64::MAX)
    }

    #[test]
    fn finds_the_capacity_within_the_resolution() {
        let r = search(conf(), device(637_000.0), || false);
        let t = r.throughput_pps.expect("some rate passes");
        assert!(t <= 637_000.0 && t > 637_000.0 - 10_000.0, "{t}");
        let best = &r.trials[r.best_trial.unwrap()];
        assert!(best.pass && best.offered_pps == t);
        assert!(!r.generator_limited && !r.interrupted && !r.receiver_limited);
        assert!(
            r.trials.len() <= 9,
            "log2(100) + 2 trials, got {}",
            r.trials.len()
        );
    }

    #[test]
    fn line_rate_that_passes_ends_the_search_at_once() {
        let r = search(conf(), device(f64::MAX), || false);
        assert_eq!(r.trials.len(), 1);
        assert_eq!(r.throughput_pps, Some(1_000_000.0));
    }

    #[test]
    fn nothing_passing_tries_the_low_rate_and_reports_none() {
        let r = search(conf(), device(1.0), || false);
        assert_eq!(r.throughput_pps, None);
        assert!(r.trials.iter().any(|t| t.offered_pps == 10_000.0));
        assert!(r
            .trials
            .iter()
            .all(|t| !t.pass && t.verdict == Verdict::Fail));
    }

    #[test]
    fn a_generator_that_cannot_send_the_rate_verifies_only_what_it_sent() {
        // The DUT carries anything; the generator tops out at 190 kpps.
        let r = search(conf(), rig(f64::MAX, 190_000.0), || false);
        assert_eq!(r.trials[0].verdict, Verdict::GeneratorShort);
        assert!(!r.trials[0].pass, "1 Mpps was asked for, 190 kpps sent");
        let t = r.throughput_pps.expect("190 kpps verified");
        assert!(t <= 190_000.0, "never above what was sent: {t}");
        assert!(t > 190_000.0 - 10_000.0, "{t}");
        assert!(r.generator_limited);
        // No trial passes at a rate the generator did not send.
        for tr in &r.trials {
            assert_eq!(
                tr.pass,
                tr.tx_packets as f64 + 1.0 >= tr.offered_pps * MIN_SENT_SHARE,
                "{tr:?}"
            );
            assert_ne!(tr.verdict, Verdict::Fail, "{tr:?}");
        }
        // Within 1 % of the offered rate still passes, but verifies only
        // the rate sent.
        let r = search(conf(), rig(f64::MAX, 995_000.0), || false);
        assert_eq!(r.trials.len(), 1);
        assert_eq!(r.trials[0].verdict, Verdict::Pass);
        assert_eq!(r.throughput_pps, Some(995_000.0));
        assert!(!r.generator_limited);
    }

    /// The throughput is never above a rate some trial actually sent
    /// (and the DUT carried), also when passes sent up to 1 % less.
    #[test]
    fn throughput_is_never_above_any_rate_actually_sent() {
        let conf = SearchConf {
            resolution_pct: 0.1,
            ..conf()
        };
        // The generator sends 99.2 % of each rate; the DUT carries 995 kpps.
        let r = search(
            conf,
            |rate| rig(995_000.0, f64::MAX)(rate * 0.992),
            || false,
        );
        let t = r.throughput_pps.unwrap();
        let best = r.trials[r.best_trial.unwrap()];
        assert!(best.pass && t <= best.tx_pps, "{t} from {best:?}");
        assert!(t <= 995_000.0, "{t}");
    }

    /// A lossless DUT seen through a receiver that misses every frame
    /// above `cap` pps (its port's missed count says so).
    pub(crate) fn receiver_keeping_up_to(cap: u64) -> impl FnMut(f64) -> Measured {
        move |rate| {
            let tx = rate as u64;
            let missed = tx.saturating_sub(cap);
            Measured {
                tx_packets: tx,
                rx_packets: tx - missed,
                tx_pps: rate,
                trial_s: 1.0,
                generator_drops: missed,
                ..Measured::default()
            }
        }
    }

    /// Loss that pktgen's own RX port accounts for (it missed the frames:
    /// its ring was full) is not the DUT's: not `fail`, not verified; loss
    /// beyond it still is.
    #[test]
    fn loss_pktgens_own_ports_account_for_is_no_dut_failure() {
        let m = |rx, drops| Measured {
            tx_packets: 1000,
            rx_packets: rx,
            tx_pps: 1e6,
            trial_s: 0.001,
            generator_drops: drops,
            ..Measured::default()
        };
        assert_eq!(verdict(1e6, &m(900, 100), 0.0), Verdict::GeneratorDropped);
        assert_eq!(verdict(1e6, &m(900, 99), 0.0), Verdict::Fail);
        assert_eq!(verdict(1e6, &m(900, 0), 0.0), Verdict::Fail);
        assert_eq!(verdict(1e6, &m(1000, 5), 0.0), Verdict::Pass);
        // In a search: a receiver that keeps up to 400 kpps only; the DUT
        // carries anything. Nothing above 400 kpps is verified, nothing
        // is blamed on the DUT.
        let r = search(conf(), receiver_keeping_up_to(400_000), || false);
        assert_eq!(r.trials[0].verdict, Verdict::GeneratorDropped);
        assert!(r.trials.iter().all(|t| t.verdict != Verdict::Fail));
        assert!(r.receiver_limited, "the receiver bounds what was verified");
        let t = r.throughput_pps.unwrap();
        assert!(t <= 400_000.0 && t > 390_000.0, "{t}");
        assert_eq!(r.trials[0].generator_drops, 600_000);
    }

    /// The tester's search: line rate 1488 pps; the first trial sent
    /// 1287 pps (generator_short, nothing lost). That rate is verified, so
    /// no later trial goes below it: the search narrows the bracket
    /// [1287, 1488] (the trials were 751, 383, 199, ... pps before).
    #[test]
    fn a_rate_a_short_trial_sent_is_the_floor_of_the_search() {
        let conf = SearchConf {
            line_rate_pps: 1488.0,
            min_rate_pps: 14.88,
            resolution_pct: 1.0,
            loss_tolerance_pct: 0.0,
        };
        // A lossless DUT; the generator sends at most 1287 pps.
        let mut offered = Vec::new();
        let r = search(
            conf,
            |rate| {
                offered.push(rate);
                rig(f64::MAX, 1287.0)(rate)
            },
            || false,
        );
        assert_eq!(r.trials[0].verdict, Verdict::GeneratorShort);
        assert!(
            offered.iter().all(|&o| o >= 1287.0),
            "no trial below the verified 1287 pps: {offered:?}"
        );
        assert_eq!(r.throughput_pps, Some(1287.0));
        assert!(r.generator_limited);
        // log2((1488 - 1287) / 14.88) trials after the first, not a walk
        // down to the minimum rate.
        assert_eq!(offered.len(), 5, "{offered:?}");
        // Scripted: the first trial was short (the thread descheduled),
        // the next ones, in the bracket above 1287, send their rate and
        // the DUT carries up to 1400 pps.
        let (r, offered) = short_first(conf, 1287.0, 1400.0);
        assert_eq!(offered[1], (1287.0 + 1488.0) / 2.0, "{offered:?}");
        assert!(offered.iter().all(|&o| o >= 1287.0), "{offered:?}");
        let t = r.throughput_pps.unwrap();
        assert!(t > 1400.0 - 14.88 && t < 1401.0, "{t} from {offered:?}");
        assert!(!r.generator_limited, "a pass gives the throughput");
        // A short trial whose measured rate reads above the offered one
        // (its first frame left late) verifies no more than was offered.
        let r = search(
            conf,
            |rate| Measured {
                tx_pps: rate * 1.2,
                ..scripted(rate * 0.5, rate * 0.5)
            },
            || false,
        );
        assert_eq!(r.trials[0].verdict, Verdict::GeneratorShort);
        assert_eq!(r.trials.len(), 1, "the bracket is closed at once");
        assert_eq!(r.throughput_pps, Some(1488.0));
    }

    /// A scripted trial: `tx_pps` sent for one second, `carried` of it
    /// received.
    fn scripted(tx_pps: f64, carried: f64) -> Measured {
        Measured {
            tx_packets: tx_pps as u64,
            rx_packets: carried as u64,
            tx_pps,
            trial_s: 1.0,
            ..Measured::default()
        }
    }

    /// A search whose first trial is `generator_short`: it sent only
    /// `short_sent` pps (the thread descheduled), all of it carried; every
    /// later trial sends its rate in full and the DUT carries up to
    /// `carries` pps of it. Returns the result and the rates offered.
    fn short_first(conf: SearchConf, short_sent: f64, carries: f64) -> (SearchResult, Vec<f64>) {
        let mut offered = Vec::new();
        let r = search(
            conf,
            |rate| {
                offered.push(rate);
                if offered.len() == 1 {
                    scripted(short_sent, short_sent)
                } else {
                    scripted(rate, rate.min(carries))
                }
            },
            || false,
        );
        (r, offered)
    }

    /// The re-tester's searches: line rate 1488 pps, `--min-rate-pps`
    /// 1000, and a first trial that sent less than the minimum rate.
    fn short_first_below_the_minimum(
        resolution_pct: f64,
        short_sent: f64,
        carries: f64,
    ) -> (SearchResult, Vec<f64>) {
        let conf = SearchConf {
            line_rate_pps: 1488.0,
            min_rate_pps: 1000.0,
            resolution_pct,
            loss_tolerance_pct: 0.0,
        };
        short_first(conf, short_sent, carries)
    }

    /// A short trial that sent less than `--min-rate-pps` verifies only
    /// what it sent: the minimum rate is still the floor, unverified, and
    /// is tried before the search gives up. A device that passes 1000 pps
    /// is reported at 1000 pps (as without the short trial), not at the
    /// 738 pps the short trial sent.
    #[test]
    fn a_short_trial_below_the_minimum_rate_still_tries_the_minimum_rate() {
        // Resolution 10 %: the control run's trials, 1488, 1244, 1122,
        // 1000, but the first one short.
        let (r, offered) = short_first_below_the_minimum(10.0, 738.0, 1000.0);
        assert_eq!(offered, [1488.0, 1244.0, 1122.0, 1000.0]);
        assert_eq!(r.trials[0].verdict, Verdict::GeneratorShort);
        assert_eq!(r.trials[3].verdict, Verdict::Pass);
        assert_eq!(r.throughput_pps, Some(1000.0));
        assert_eq!(r.best_trial, Some(3));
        assert!(!r.generator_limited, "a pass gives the throughput");
        // Resolution 1 %: the bracket [1000, 1488] is bisected down to
        // 1007.6 pps, then 1000 is tried.
        let (r, offered) = short_first_below_the_minimum(1.0, 738.0, 1000.0);
        assert_eq!(
            &offered[..3],
            [1488.0, 1244.0, 1122.0],
            "bisects [1000, 1488]: {offered:?}"
        );
        assert_eq!(offered.last(), Some(&1000.0), "{offered:?}");
        assert!(offered.iter().all(|&o| o >= 1000.0), "{offered:?}");
        assert_eq!(r.throughput_pps, Some(1000.0));
        assert!(!r.generator_limited);
    }

    /// A device that fails at every rate, after a first trial that was
    /// short (692 pps sent, nothing lost): the minimum rate is tried and
    /// fails, and the throughput is the best verified rate, the 692 pps
    /// the short trial sent.
    #[test]
    fn a_device_failing_every_rate_after_a_short_trial_is_tried_at_the_minimum() {
        let (r, offered) = short_first_below_the_minimum(1.0, 692.0, 0.0);
        assert_eq!(offered[0], 1488.0);
        assert_eq!(offered.last(), Some(&1000.0), "{offered:?}");
        assert_eq!(
            offered.iter().filter(|&&o| o == 1000.0).count(),
            1,
            "{offered:?}"
        );
        assert!(r.trials[1..].iter().all(|t| t.verdict == Verdict::Fail));
        assert!(
            r.trials
                .iter()
                .any(|t| (t.offered_pps - 1007.625).abs() < 1e-9),
            "{offered:?}"
        );
        assert_eq!(r.throughput_pps, Some(692.0));
        assert_eq!(r.best_trial, Some(0));
        assert!(
            !r.generator_limited,
            "the DUT failed above 692 pps with every frame sent"
        );
    }

    /// Generator-limited only when no trial above the throughput was a
    /// DUT failure: a throughput from a short trial, with the DUT losing
    /// frames sent in full just above it, is the DUT's limit.
    #[test]
    fn a_dut_failing_above_a_short_trials_rate_is_not_generator_limited() {
        let conf = SearchConf {
            line_rate_pps: 1488.0,
            min_rate_pps: 14.88,
            resolution_pct: 1.0,
            loss_tolerance_pct: 0.0,
        };
        // First trial short at 1287 pps, lossless; every later trial (all
        // in [1287, 1488]) sent in full and lost frames.
        let mut n = 0;
        let r = search(
            conf,
            |rate| {
                n += 1;
                if n == 1 {
                    scripted(1287.0, 1287.0)
                } else {
                    scripted(rate, rate - 3.0)
                }
            },
            || false,
        );
        assert_eq!(r.throughput_pps, Some(1287.0));
        assert!(r.trials[1..].iter().all(|t| t.verdict == Verdict::Fail));
        assert!(!r.generator_limited, "the DUT failed above 1287 pps");
        // The same, but the later trials are short too (lossless): the
        // generator, not the DUT, bounds the throughput.
        let r = search(
            conf,
            |rate| scripted(rate.min(1287.0), rate.min(1287.0)),
            || false,
        );
        assert_eq!(r.throughput_pps, Some(1287.0));
        assert!(r.generator_limited);
        // A fail that was itself short counts at the rate it sent: above
        // the throughput it is a DUT failure, below it it is not.
        let script = |fail_sent: f64| {
            let mut n = 0;
            search(
                conf,
                move |rate| {
                    n += 1;
                    match n {
                        1 => scripted(1287.0, 1287.0),
                        2 => scripted(fail_sent, fail_sent - 3.0),
                        _ => scripted(rate.min(1287.0), rate.min(1287.0)),
                    }
                },
                || false,
            )
        };
        let r = script(1300.0);
        assert_eq!(r.trials[1].verdict, Verdict::Fail);
        assert_eq!(r.throughput_pps, Some(1287.0));
        assert!(!r.generator_limited, "lost frames at 1300 pps sent");
        let r = script(1200.0);
        assert_eq!(r.trials[1].verdict, Verdict::Fail);
        assert_eq!(r.throughput_pps, Some(1287.0));
        assert!(r.generator_limited, "lost frames only below 1287 pps");
    }

    #[test]
    fn a_short_trial_that_loses_frames_is_a_dut_failure() {
        // Generator at 500 kpps, DUT at 300 kpps: the 1 Mpps trial sent
        // 500 kpps and lost some: fail, not short.
        let r = search(conf(), rig(300_000.0, 500_000.0), || false);
        assert_eq!(r.trials[0].verdict, Verdict::Fail);
        let t = r.throughput_pps.unwrap();
        assert!(t <= 300_000.0 && t > 290_000.0, "{t}");
        assert!(!r.generator_limited);
    }

    #[test]
    fn a_trial_that_sent_nothing_is_the_generators_failure_not_the_duts() {
        let v = verdict(1e6, &Measured::default(), 0.0);
        assert_ne!(v, Verdict::Fail);
        assert_eq!(v, Verdict::GeneratorShort);
        // A port that takes nothing: every trial short, no rate verified
        // (not 0 pps), the low end still tried.
        let r = search(conf(), |_| Measured::default(), || false);
        assert!(r
            .trials
            .iter()
            .all(|t| t.verdict == Verdict::GeneratorShort && !t.pass));
        assert!(r.trials.iter().any(|t| t.offered_pps == 10_000.0));
        assert_eq!((r.throughput_pps, r.best_trial), (None, None));
        assert!(!r.generator_limited);
    }

    /// The tester's trial: 1 s at 106.96 pps sent 107 frames (every one
    /// due), lost none, but TX noticed the deadline 11.2 ms late, so its
    /// rate over the measured time read 105.82 pps. Every frame due was
    /// sent: a pass, not `generator_short`.
    #[test]
    fn a_trial_that_sent_every_frame_due_passes_whatever_its_measured_rate() {
        let m = |tx: u64, tx_pps: f64| Measured {
            tx_packets: tx,
            rx_packets: tx,
            tx_pps,
            trial_s: 1.0,
            ..Measured::default()
        };
        assert_eq!(verdict(106.96, &m(107, 105.82), 0.0), Verdict::Pass);
        // 99 % of 106.96 due is 105.89 frames: 105 (one frame of
        // rounding) still passes, 104 is short.
        assert_eq!(verdict(106.96, &m(105, 105.0), 0.0), Verdict::Pass);
        assert_eq!(
            verdict(106.96, &m(104, 104.0), 0.0),
            Verdict::GeneratorShort
        );
        // At high rates one frame is nothing: 1 Mpps for 10 s needs
        // 9 899 999 frames.
        let ten = |tx: u64| Measured {
            trial_s: 10.0,
            ..m(tx, tx as f64 / 10.0)
        };
        assert_eq!(verdict(1e6, &ten(9_899_999), 0.0), Verdict::Pass);
        assert_eq!(verdict(1e6, &ten(9_899_998), 0.0), Verdict::GeneratorShort);
        // A high measured rate cannot make up for frames not sent.
        assert_eq!(
            verdict(
                1e6,
                &Measured {
                    tx_pps: 1e6,
                    ..ten(5_000_000)
                },
                0.0
            ),
            Verdict::GeneratorShort
        );
    }

    #[test]
    fn tolerance_accepts_small_loss() {
        assert!(passes(1000, 995, 0.5));
        assert!(!passes(1000, 994, 0.5));
        assert!(
            !passes(0, 0, 100.0),
            "a trial that sent nothing proves nothing"
        );
    }

    /// A gateway that drops the first `flows` frames it sees (one per flow,
    /// while it resolves each next hop by ARP) and then carries anything:
    /// as in `rig`, one second of frames per trial.
    fn learning_gateway(flows: u64) -> impl FnMut(Step) -> Measured {
        let mut unlearned = flows;
        move |step| {
            let (tx, pps) = match step {
                Step::Warmup(w) => (w.frames, w.rate_pps),
                Step::Trial(rate) => (rate as u64, rate),
            };
            let dropped = tx.min(unlearned);
            unlearned -= dropped;
            Measured {
                tx_packets: tx,
                rx_packets: tx - dropped,
                duplicates: 0,
                tx_pps: pps,
                trial_s: 1.0,
                interrupted: false,
                generator_drops: 0,
            }
        }
    }

    #[test]
    fn a_warm_up_lets_the_dut_learn_before_the_first_trial() {
        // Without a warm-up the first trial, at line rate, loses the frames
        // the gateway held back for ARP: the throughput found is below the
        // rate it really carries.
        let r = search_after_warmup(conf(), None, learning_gateway(16), || false);
        assert_eq!(r.trials[0].verdict, Verdict::Fail);
        assert_eq!(r.trials[0].loss, 16);
        assert!(r.throughput_pps.unwrap() < 1_000_000.0);
        assert_eq!((r.warmup_ms, r.warmup_frames, r.warmup_received), (0, 0, 0));
        // With one: the first trial passes at line rate; the warm-up's
        // frames (all lost here) are in no trial's counts.
        let w = Warmup::new(500, 16, 1_000_000.0);
        let mut steps = Vec::new();
        let mut gw = learning_gateway(16);
        let r = search_after_warmup(
            conf(),
            w,
            |s| {
                steps.push(s);
                gw(s)
            },
            || false,
        );
        assert_eq!(
            steps,
            [
                Step::Warmup(Warmup {
                    ms: 500,
                    frames: 16,
                    rate_pps: 32.0
                }),
                Step::Trial(1_000_000.0)
            ],
            "one warm-up, first"
        );
        assert_eq!(r.trials.len(), 1);
        let t = r.trials[0];
        assert_eq!(
            (t.verdict, t.tx_packets, t.rx_packets, t.loss),
            (Verdict::Pass, 1_000_000, 1_000_000, 0)
        );
        assert_eq!(r.throughput_pps, Some(1_000_000.0));
        assert_eq!(
            (r.warmup_ms, r.warmup_frames, r.warmup_received),
            (500, 16, 0)
        );
    }

    #[test]
    fn the_warm_up_sends_one_frame_per_flow_slowly() {
        assert_eq!(Warmup::new(0, 1024, 1e6), None, "--warmup-ms 0: none");
        let w = Warmup::new(500, 1024, 14_880_952.0).unwrap();
        assert_eq!((w.frames, w.rate_pps), (1024, 2048.0));
        // 65536 flows in 1 ms would be 65.5 Mpps: line rate at most.
        let w = Warmup::new(1, 65536, 14_880_952.0).unwrap();
        assert_eq!((w.frames, w.rate_pps), (65536, 14_880_952.0));
        let w = Warmup::new(60_000, 1, 1e6).unwrap();
        assert_eq!(w.frames, 1);
        assert!(w.rate_pps > 0.0);
    }

    #[test]
    fn a_stop_before_or_during_the_warm_up_runs_no_trial() {
        let w = Warmup::new(500, 16, 1_000_000.0);
        let mut calls = 0;
        let r = search_after_warmup(
            conf(),
            w,
            |s| {
                calls += 1;
                device(f64::MAX)(match s {
                    Step::Warmup(w) => w.rate_pps,
                    Step::Trial(r) => r,
                })
            },
            || true,
        );
        assert_eq!(calls, 0, "no warm-up after SIGINT");
        assert!(r.interrupted && r.trials.is_empty());
        assert_eq!((r.warmup_ms, r.warmup_frames), (500, 0));
        // SIGINT during the warm-up: it is cut short, no trial follows.
        let r = search_after_warmup(
            conf(),
            w,
            |s| match s {
                Step::Warmup(_) => Measured {
                    tx_packets: 3,
                    rx_packets: 3,
                    interrupted: true,
                    ..Default::default()
                },
                Step::Trial(_) => panic!("a trial after an interrupted warm-up"),
            },
            || false,
        );
        assert!(r.interrupted && r.trials.is_empty());
        assert_eq!((r.throughput_pps, r.best_trial), (None, None));
        assert_eq!((r.warmup_frames, r.warmup_received), (3, 3));
    }

    #[test]
    fn stop_ends_the_search() {
        let mut n = 0;
        let r = search(conf(), device(500_000.0), || {
            n += 1;
            n > 2
        });
        assert_eq!(r.trials.len(), 2);
        assert!(r.interrupted);
    }

    #[test]
    fn an_interrupted_trial_is_neither_a_pass_nor_the_best() {
        // Trial 1 (1 Mpps) fails, trial 2 (505 kpps) passes, trial 3 is cut
        // short by SIGINT with everything it sent received.
        let mut dev = device(600_000.0);
        let mut n = 0;
        let r = search(
            conf(),
            |rate| {
                n += 1;
                let mut m = dev(rate);
                m.interrupted = n == 3;
                m
            },
            || false,
        );
        assert_eq!(r.trials.len(), 3);
        assert!(r.interrupted);
        let last = r.trials[2];
        assert_eq!((last.verdict, last.pass), (Verdict::Interrupted, false));
        assert_eq!(r.best_trial, Some(1));
        assert_eq!(r.throughput_pps, Some(r.trials[1].offered_pps));
        // Interrupted in the first trial, which lost nothing: nothing verified.
        let r = search(
            conf(),
            |rate| Measured {
                interrupted: true,
                ..device(f64::MAX)(rate)
            },
            || false,
        );
        assert_eq!((r.throughput_pps, r.best_trial), (None, None));
        assert!(r.interrupted && !r.trials[0].pass);
        // Stopped before any trial.
        let r = search(conf(), device(f64::MAX), || true);
        assert!(r.interrupted && r.trials.is_empty());
        assert_eq!(r.throughput_pps, None);
    }
}
