//! Tests of SIGINT/SIGTERM: a stop before, during or between trials ends the search and verifies nothing more.

use super::*;

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
