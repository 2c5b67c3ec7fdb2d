//! The receiver: polls its RX queue into the meter until TX is done and the drain is over.

use std::sync::atomic::Ordering;

use super::pace::deadline;
use super::Ctl;
use crate::dpdk::{rdtsc, Burst, RxQueue};
use crate::pktgen::meter::Meter;

/// The receiver: owns its RX queue and the meter.
pub struct RxSide {
    pub(super) rxq: RxQueue,
    pub(super) meter: Meter,
    drain_deadline: Option<u64>,
    hz: u64,
}

impl RxSide {
    pub fn new(rxq: RxQueue, meter: Meter, hz: u64) -> RxSide {
        RxSide {
            rxq,
            meter,
            drain_deadline: None,
            hz,
        }
    }

    pub(super) fn start(&mut self, first_seq: u64) {
        self.meter.reset(first_seq);
        self.drain_deadline = None;
    }

    #[inline(always)]
    pub(super) fn poll(&mut self, ctl: &Ctl) -> usize {
        let mut b = Burst::new();
        let n = self.rxq.rx(&mut b);
        if n == 0 {
            return 0;
        }
        let now = rdtsc();
        for i in 0..n {
            if let Some(m) = b.get_mut(i) {
                self.meter.account(m.data(), now);
            }
        }
        ctl.rx_ours.store(self.meter.counts().rx, Ordering::Relaxed);
        n
    }

    /// True once TX is done and either everything arrived, the drain
    /// time is over, or the operator stopped the run (Ctrl-C during a
    /// drain of up to a minute ends it, the report marked interrupted).
    pub(super) fn finished(&mut self, ctl: &Ctl, drain_s: f64) -> bool {
        if !ctl.tx_done.load(Ordering::Acquire) {
            return false;
        }
        if self.meter.counts().rx >= ctl.tx_sent() || ctl.stop.load(Ordering::Relaxed) {
            return true;
        }
        let now = rdtsc();
        let end = *self
            .drain_deadline
            .get_or_insert_with(|| deadline(now, drain_s, self.hz));
        now >= end
    }
}
