//! Tests of a trial's verdict: frames the generator did not send, or its own port dropped, are not the DUT's loss.

use super::*;

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
