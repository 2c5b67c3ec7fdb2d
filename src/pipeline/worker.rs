//! The worker lcore loop: RX a burst, classify + encap/decap it in place,
//! TX what goes out, hand slow-path work to the slow-path thread, free the
//! rest in bulk. No lock, no allocation, no syscall, no panic in the loop.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;

use super::classify::process_burst;
use super::context::Context;
use super::drop_reason::DropReason;
use super::fastpath;
use super::state::WorkerState;
use super::tables::TableLookup;
use super::verdict::{Side, Verdict};
use crate::dpdk::{rdtsc, Burst, Mbuf, RxQueue, TxQueue, BURST};

/// A packet handed to the slow-path thread, with why.
pub struct Punted {
    pub mbuf: Mbuf,
    /// The port it was received on.
    pub rx: Side,
    /// `Punt(..)` or `Hold { .. }`.
    pub verdict: Verdict,
}

/// Bounded lock-free queue from the workers to the slow-path thread.
pub type PuntQueue = ArrayQueue<Punted>;

/// A frame the slow path wants sent (ARP request, released held packet,
/// fragment). Worker 0 drains these into its TX queues: some drivers
/// (net_tap, net_af_packet) need as many RX as TX queues, so the slow
/// path cannot have a TX queue of its own without an RX queue nobody polls.
pub struct Outgoing {
    pub mbuf: Mbuf,
    pub side: Side,
    /// A received packet (or a piece of one) whose loss is a drop; not an
    /// ARP request of ours nor an ICMP error about a packet counted already.
    pub received: bool,
}

/// Bounded lock-free queue from the slow-path thread to worker 0.
pub type OutgoingQueue = ArrayQueue<Outgoing>;

/// Poll statistics of one worker (single writer, any reader).
#[derive(Debug, Default)]
pub struct WorkerStats {
    pub packets: CachePadded<AtomicU64>,
    pub busy_polls: AtomicU64,
    pub idle_polls: AtomicU64,
}

/// One port's queues owned by a worker.
pub struct Queues {
    pub rx: RxQueue,
    pub tx: TxQueue,
}

/// Everything one worker owns; moved onto its lcore.
pub struct Worker {
    pub ctx: Context,
    pub lookup: TableLookup,
    pub state: WorkerState,
    pub underlay: Queues,
    pub access: Queues,
    pub punt: Arc<PuntQueue>,
    /// Frames from the slow path to send (worker 0 only).
    pub outgoing: Option<Arc<OutgoingQueue>>,
    pub stats: Arc<WorkerStats>,
    /// Nanoseconds per TSC tick.
    pub ns_per_tick: f64,
}

/// Where a verdict sends a packet received on `rx`.
#[inline(always)]
fn out_port(v: Verdict) -> Option<Side> {
    match v {
        Verdict::TxUnderlay => Some(Side::Underlay),
        Verdict::TxAccess => Some(Side::Access),
        Verdict::Reply(s) => Some(s),
        _ => None,
    }
}

impl Worker {
    /// Polls both ports until `stop` is set (checked after every round).
    pub fn run(mut self, stop: &AtomicBool) {
        let (mut busy, mut idle, mut packets) = (0u64, 0u64, 0u64);
        let mut round = 0u32;
        // Before the loop, so that the loop's first table switch allocates
        // nothing.
        self.lookup.attach_thread();
        while !stop.load(Relaxed) {
            // The clock (for the ICMP rate limiter) every 16 rounds: reading
            // the TSC costs tens of cycles in a VM, and 16 rounds are a few µs.
            if round & 15 == 0 {
                self.state.now_ns = (rdtsc() as f64 * self.ns_per_tick) as u64;
            }
            round = round.wrapping_add(1);
            // A quiescent point: no table reference is held across it.
            self.lookup.refresh();
            // What the slow path released (held frames of a neighbour just
            // resolved) goes out before this round's packets can overtake it.
            self.send_outgoing();
            let n = self.poll(Side::Access) + self.poll(Side::Underlay);
            if n == 0 {
                idle += 1;
            } else {
                busy += 1;
                packets += n as u64;
            }
            if (busy + idle) & 0x3ff == 0 {
                self.publish_stats(busy, idle, packets);
            }
        }
        self.publish_stats(busy, idle, packets);
    }

    fn publish_stats(&self, busy: u64, idle: u64, packets: u64) {
        self.stats.busy_polls.store(busy, Relaxed);
        self.stats.idle_polls.store(idle, Relaxed);
        self.stats.packets.store(packets, Relaxed);
    }

    /// One burst from port `rx`; returns the packets received.
    #[inline(always)]
    pub fn poll(&mut self, rx: Side) -> usize {
        let queue = match rx {
            Side::Access => &mut self.access.rx,
            Side::Underlay => &mut self.underlay.rx,
        };
        let mut burst = Burst::new();
        let n = queue.rx(&mut burst);
        if n == 0 {
            return 0;
        }
        // From a NIC the headers are not in this core's cache yet: ask for
        // the whole burst's before the first pass waits on each in turn.
        if queue.wants_prefetch() {
            let (front, len) = fastpath::touched(rx);
            burst.prefetch(front, len);
        }
        let mut verdicts = [Verdict::Drop(DropReason::Truncated); BURST];
        process_burst(
            &self.ctx,
            &self.lookup,
            &mut self.state,
            rx,
            burst.as_mut_slice(),
            &mut verdicts,
        );
        // The common case: the whole burst leaves by one port, in place
        // (a tag compare per packet, not a full `Verdict` compare).
        let uniform = match verdicts[0] {
            Verdict::TxUnderlay => verdicts[1..n]
                .iter()
                .all(|v| matches!(v, Verdict::TxUnderlay))
                .then_some(Side::Underlay),
            Verdict::TxAccess => verdicts[1..n]
                .iter()
                .all(|v| matches!(v, Verdict::TxAccess))
                .then_some(Side::Access),
            _ => None,
        };
        if let Some(side) = uniform {
            self.flush(side, &mut burst);
            return n;
        }
        let mut to_underlay = Burst::new();
        let mut to_access = Burst::new();
        for (i, v) in verdicts.iter().enumerate().take(n) {
            match *v {
                Verdict::Drop(_) => {} // counted by the pipeline; freed in bulk below
                Verdict::Punt(_) | Verdict::Hold { .. } => {
                    if let Some(m) = burst.take(i) {
                        self.punt(m, rx, *v);
                    }
                }
                v => {
                    let out = match out_port(v) {
                        Some(Side::Underlay) => &mut to_underlay,
                        Some(Side::Access) => &mut to_access,
                        // Only Drop/Punt/Hold have no port, handled above.
                        None => continue,
                    };
                    let Some(m) = burst.take(i) else { continue };
                    // Cannot overflow: at most BURST packets came in.
                    if let Err(m) = out.push(m) {
                        drop(m);
                        self.state.counters.dropped(DropReason::TxFull);
                    }
                }
            }
        }
        burst.free_all();
        self.flush(Side::Underlay, &mut to_underlay);
        self.flush(Side::Access, &mut to_access);
        n
    }

    /// Sends up to a burst of what the slow path queued.
    #[inline(always)]
    fn send_outgoing(&mut self) {
        let Some(q) = &self.outgoing else { return };
        if q.is_empty() {
            return;
        }
        let (mut ul, mut ac) = (Burst::new(), Burst::new());
        // Which frames of each burst are received packets, whose loss is a
        // drop (`Outgoing::received`); our ARP requests and ICMP errors
        // about packets counted already are not.
        let (mut ul_received, mut ac_received) = ([false; BURST], [false; BURST]);
        for _ in 0..BURST {
            let Some(o) = q.pop() else { break };
            let (b, received) = match o.side {
                Side::Underlay => (&mut ul, &mut ul_received),
                Side::Access => (&mut ac, &mut ac_received),
            };
            let at = b.len();
            match b.push(o.mbuf) {
                Ok(()) => received[at] = o.received,
                Err(_) if o.received => self.state.counters.dropped(DropReason::TxFull),
                Err(_) => {}
            }
        }
        self.flush_marked(Side::Underlay, &mut ul, &ul_received);
        self.flush_marked(Side::Access, &mut ac, &ac_received);
    }

    /// Sends a burst of received packets; what the port does not take is
    /// freed and counted as `tx_full`.
    #[inline(always)]
    fn flush(&mut self, side: Side, b: &mut Burst) {
        self.flush_marked(side, b, &[true; BURST]);
    }

    /// Sends a burst; of what the port does not take (freed), the frames
    /// `received` marks are counted as `tx_full`.
    #[inline(always)]
    fn flush_marked(&mut self, side: Side, b: &mut Burst, received: &[bool; BURST]) {
        if b.is_empty() {
            return;
        }
        let queued = b.len();
        let sent = match side {
            Side::Underlay => self.underlay.tx.tx(b),
            Side::Access => self.access.tx.tx(b),
        };
        b.free_all();
        for _ in 0..lost_received(received, queued, sent) {
            self.state.counters.dropped(DropReason::TxFull);
        }
    }

    #[inline(always)]
    fn punt(&mut self, m: Mbuf, rx: Side, verdict: Verdict) {
        if let Err(p) = self.punt.push(Punted {
            mbuf: m,
            rx,
            verdict,
        }) {
            // The slow path is overloaded: a held packet is lost for want of
            // its neighbour; any other punt is a full queue. An ICMP error
            // about a dropped packet was counted with that packet.
            match p.verdict {
                Verdict::Hold {
                    answers_drop: true, ..
                } => {}
                Verdict::Hold { .. } => self.state.counters.dropped(DropReason::NoNeighbor),
                _ => self.state.counters.dropped(DropReason::TxFull),
            }
            drop(p);
        }
    }
}

/// How many of a burst's `queued` frames that the port did not take (the
/// tail from `sent` on: `tx_burst` sends a prefix) `received` marks.
#[inline(always)]
fn lost_received(received: &[bool; BURST], queued: usize, sent: usize) -> usize {
    let queued = queued.min(BURST);
    received[sent.min(queued)..queued]
        .iter()
        .filter(|r| **r)
        .count()
}

// Workers and punted packets move between threads.
const _: () = {
    const fn is_send<T: Send>() {}
    is_send::<Worker>();
    is_send::<Punted>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_received_frames_the_port_did_not_take_are_lost() {
        let mut received = [false; BURST];
        // An ARP request of ours, a forwarded packet, an ICMP error about a
        // packet counted already, two forwarded packets.
        received[1] = true;
        received[3] = true;
        received[4] = true;
        assert_eq!(lost_received(&received, 5, 5), 0);
        assert_eq!(lost_received(&received, 5, 0), 3);
        assert_eq!(lost_received(&received, 5, 2), 2);
        assert_eq!(lost_received(&received, 5, 4), 1);
        assert_eq!(lost_received(&[true; BURST], 32, 10), 22);
        // A device claiming more than was queued loses nothing.
        assert_eq!(lost_received(&[true; BURST], 3, 7), 0);
        assert_eq!(lost_received(&[true; BURST], 40, 0), BURST);
    }
}
