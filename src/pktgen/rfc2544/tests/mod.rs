//! Tests of the search against simple rigs (a device's capacity, a generator's limit); the rigs the others share.

mod short_trials;
mod stops;
mod verdicts;
mod warm_up;

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
