//! Tests of the warm-up: one frame per flow, slowly, before the first trial and in no trial's counts.

use super::*;

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
