//! Tests of searches with short trials: the rate a short trial sent is a floor, never a pass above it.

use super::*;

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
    search_scripted(conf, &[scripted(short_sent, short_sent)], |rate| {
        scripted(rate, rate.min(carries))
    })
}

/// A search whose first trials measure `first`, in order, whatever their
/// rate, and every later one `later(rate)`. Returns the result and the
/// rates offered.
fn search_scripted(
    conf: SearchConf,
    first: &[Measured],
    later: impl Fn(f64) -> Measured,
) -> (SearchResult, Vec<f64>) {
    let mut offered = Vec::new();
    let r = search(
        conf,
        |rate| {
            offered.push(rate);
            first
                .get(offered.len() - 1)
                .copied()
                .unwrap_or_else(|| later(rate))
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
    let short = scripted(1287.0, 1287.0);
    let (r, _) = search_scripted(conf, &[short], |rate| scripted(rate, rate - 3.0));
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
        let fail = scripted(fail_sent, fail_sent - 3.0);
        search_scripted(conf, &[short, fail], |rate| {
            scripted(rate.min(1287.0), rate.min(1287.0))
        })
        .0
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

/// A black-box tester's search on a busy core (tbf at 1 225 pps, 5 %
/// loss tolerance): the first trial, offered 2 395 pps, sent 1 724 and
/// lost 38 % (`fail`); every later trial sent only 97 % of its rate
/// (`generator_short`, nothing lost). The search cannot go above a short
/// trial's rate, so it ends below the DUT's limit: generator-limited, as
/// the `fail` lies far above the throughput (the table then says the DUT
/// may carry more), where it used to say the DUT's limit was found.
#[test]
fn short_trials_below_a_distant_fail_are_generator_limited() {
    let conf = SearchConf {
        line_rate_pps: 2394.6,
        min_rate_pps: 23.946,
        resolution_pct: 1.0,
        loss_tolerance_pct: 5.0,
    };
    let fail = scripted(1723.5, 1723.5 * 0.622);
    let (r, _) = search_scripted(conf, &[fail], |rate| scripted(rate * 0.97, rate * 0.97));
    assert_eq!(r.trials[0].verdict, Verdict::Fail);
    assert!(r.trials[1..]
        .iter()
        .all(|t| t.verdict == Verdict::GeneratorShort));
    let t = r.throughput_pps.unwrap();
    assert!(t < 1225.0, "{t}");
    assert!(
        r.generator_limited,
        "the search never tried 1 209-1 724 pps"
    );
}
