//! `vxgate fwd`: an L2 forwarder between two ports on one lcore, the smallest
//! real data path. Every packet received on one port is sent on the other;
//! what the device does not take is freed and counted, never lost silently.
#![deny(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use crate::dpdk::{Burst, RxQueue, TxQueue};

/// Counters of one direction, written by the forwarding lcore only and read
/// by the main thread (single writer: load + store, no locked RMW).
#[derive(Default, Debug)]
pub struct DirCounters {
    pub rx: CachePadded<AtomicU64>,
    pub tx: AtomicU64,
    pub tx_full: AtomicU64,
}

#[derive(Default, Debug)]
pub struct FwdCounters {
    pub a_to_b: DirCounters,
    pub b_to_a: DirCounters,
    pub polls: AtomicU64,
}

#[inline(always)]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// Moves one burst from `rx` to `tx`; returns packets received.
#[inline(always)]
pub fn forward_once(rx: &mut RxQueue, tx: &mut TxQueue, c: &DirCounters) -> usize {
    let mut burst = Burst::new();
    let n = rx.rx(&mut burst);
    if n == 0 {
        return 0;
    }
    let sent = tx.tx(&mut burst);
    let dropped = burst.free_all();
    bump(&c.rx, n as u64);
    bump(&c.tx, sent as u64);
    if dropped > 0 {
        bump(&c.tx_full, dropped as u64);
    }
    n
}

/// The queues of both ports, owned by the forwarding lcore.
pub struct Forwarder {
    pub rx_a: RxQueue,
    pub tx_a: TxQueue,
    pub rx_b: RxQueue,
    pub tx_b: TxQueue,
}

impl Forwarder {
    /// Polls both directions until `stop` is set (checked between bursts).
    pub fn run(mut self, stop: &AtomicBool, c: &FwdCounters) {
        let mut polls = 0u64;
        while !stop.load(Ordering::Relaxed) {
            forward_once(&mut self.rx_a, &mut self.tx_b, &c.a_to_b);
            forward_once(&mut self.rx_b, &mut self.tx_a, &c.b_to_a);
            polls += 1;
            if polls & 0xfff == 0 {
                c.polls.store(polls, Ordering::Relaxed);
            }
        }
        c.polls.store(polls, Ordering::Relaxed);
    }
}
