//! The loops an lcore runs: TX alone, RX alone, or both on one lcore.

use super::rx::RxSide;
use super::tx::{TxGen, TxOutcome};
use super::{Ctl, TrialParams};

pub(super) fn tx_loop(tx: &mut TxGen, p: &TrialParams, ctl: &Ctl) -> TxOutcome {
    let mut run = tx.start(p);
    while !run.done {
        tx.step(&mut run, ctl);
    }
    run.out
}

pub(super) fn rx_loop(rx: &mut RxSide, p: &TrialParams, ctl: &Ctl) {
    while !rx.finished(ctl, p.drain_s) {
        rx.poll(ctl);
    }
}

pub(super) fn both_loop(tx: &mut TxGen, rx: &mut RxSide, p: &TrialParams, ctl: &Ctl) -> TxOutcome {
    let mut run = tx.start(p);
    while !run.done {
        tx.step(&mut run, ctl);
        rx.poll(ctl);
    }
    rx_loop(rx, p, ctl);
    run.out
}
