//! The slow-path thread: what workers punt. It learns neighbours from ARP,
//! holds packets for unresolved next hops (a small bounded queue each) while
//! it ARPs for them, fragments inner packets too big for the tunnel,
//! reassembles and answers fragmented pings to the gateway, sends
//! the start-up gratuitous ARPs and ages neighbours. It owns the neighbour
//! tables' writer; what it sends goes through worker 0 (`Outgoing`).
//! Allocation is fine here. The ARP and neighbour logic (`Resolver`) is
//! generic over the frame it holds and over how it sends (`ArpIo`), so it
//! runs in unit tests without EAL.
//!
//! This file is the thread's state and its loop (`SlowPath::poll`):
//! - `resolver/`: the ARP and neighbour logic (holding, learning,
//!   defending our addresses, ageing), with its timers;
//! - `outgoing.rs`: how the slow path's frames reach worker 0, and the
//!   resolver's way out on DPDK (`Tx`);
//! - `punted_fragments.rs`: frames punted to be fragmented, and fragments
//!   of pings to us, reassembled (`pipeline::reassembly`) and answered.
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::context::Context;
use super::drop_reason::{DropReason, SlowKind};
use super::reassembly::Reassembly;
use super::slowpath::{answerable_sender, arp_reply_in_place, is_own_mac};
use super::state::WorkerState;
use super::tables::TableLookup;
use super::verdict::{Side, Verdict};
use super::worker::{OutgoingQueue, PuntQueue, Punted};
use crate::dpdk::{Mbuf, Mempool};
use crate::table::NeighborTables;
use crate::wire::{arp, ethernet};

mod outgoing;
mod punted_fragments;
mod resolver;

pub(crate) use outgoing::new_frame;
use outgoing::{lose_held, queue, Tx};
pub use resolver::ageing::{
    forget_age, refresh_age, NEIGHBOR_PROBE, NEIGHBOR_PROBES, NEIGHBOR_REFRESH,
};
pub use resolver::defence::DEFEND_INTERVAL;
pub use resolver::learn::ARP_LOCKTIME;
use resolver::{ArpIo, Resolver};
pub use resolver::{ARP_RETRY, HOLD_PER_NEIGHBOR, HOLD_TOTAL, LATE_REPLY, RESOLVE_TIMEOUT};

/// Gratuitous ARPs at start: three over two seconds on both ports.
const GARP_TIMES: [Duration; 3] = [
    Duration::from_millis(0),
    Duration::from_millis(1000),
    Duration::from_millis(2000),
];

/// State of the slow-path thread.
pub struct SlowPath {
    pub ctx: Context,
    pub lookup: TableLookup,
    /// Its own counters (slow-path drops), summed with the workers'.
    pub state: WorkerState,
    pub neighbors: NeighborTables,
    pub punt: Arc<PuntQueue>,
    pub pool: Arc<Mempool>,
    pub outgoing: Arc<OutgoingQueue>,
    /// Held frames, our requests, refresh (`neighbors` is the table).
    arp: Resolver<Mbuf>,
    /// Fragmented pings to us being put back together.
    reasm: Reassembly,
    started: Instant,
    garps_sent: usize,
    last_ageing: Instant,
}

impl SlowPath {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: Context,
        lookup: TableLookup,
        mut state: WorkerState,
        neighbors: NeighborTables,
        punt: Arc<PuntQueue>,
        pool: Arc<Mempool>,
        outgoing: Arc<OutgoingQueue>,
    ) -> SlowPath {
        state.in_slow_path = true;
        let now = Instant::now();
        let hold_cap = HOLD_TOTAL
            .min(pool.capacity() as usize / 8)
            .max(HOLD_PER_NEIGHBOR);
        SlowPath {
            ctx,
            lookup,
            state,
            neighbors,
            punt,
            pool,
            outgoing,
            arp: Resolver::new(hold_cap),
            reasm: Reassembly::default(),
            started: now,
            garps_sent: 0,
            last_ageing: now,
        }
    }

    /// Neighbours being resolved right now.
    pub fn pending_neighbors(&self) -> usize {
        self.arp.pending.len()
    }

    /// ARPs ignored because they gave a known neighbour another MAC within
    /// `ARP_LOCKTIME` of its last change.
    pub fn arp_changes_ignored(&self) -> u64 {
        self.arp.locked_changes
    }

    /// Splits the slow path into its resolver, the neighbour tables and
    /// the resolver's way out.
    fn arp_parts(&mut self) -> (&mut Resolver<Mbuf>, &mut NeighborTables, Tx<'_>) {
        let tx = Tx {
            ctx: &self.ctx,
            pool: &self.pool,
            outgoing: &self.outgoing,
            counters: &self.state.counters,
        };
        (&mut self.arp, &mut self.neighbors, tx)
    }

    /// Handles what is queued and what is due; returns packets handled.
    pub fn poll(&mut self, now: Instant, now_ns: u64) -> usize {
        self.state.now_ns = now_ns;
        self.lookup.refresh();
        let mut n = 0;
        while n < 256 {
            let Some(p) = self.punt.pop() else { break };
            self.handle(p, now);
            n += 1;
        }
        self.gratuitous_arps(now);
        self.reasm.expire(now, &self.state.counters);
        let (arp, _, mut tx) = self.arp_parts();
        arp.expire_pending(&mut tx, now);
        if now.saturating_duration_since(self.last_ageing) >= Duration::from_secs(1) {
            self.last_ageing = now;
            let (arp, neighbors, mut tx) = self.arp_parts();
            arp.age(neighbors, &mut tx, now);
        }
        n
    }

    fn handle(&mut self, p: Punted, now: Instant) {
        let Punted { mbuf, rx, verdict } = p;
        match verdict {
            Verdict::Hold {
                side,
                next_hop,
                answers_drop,
            } => self.hold(mbuf, side, next_hop, answers_drop, now),
            Verdict::Punt(SlowKind::Arp) => self.arp_punted(mbuf, rx, now),
            Verdict::Punt(SlowKind::Fragment) => self.fragment(mbuf, rx, now),
            // Nothing else is punted; count it rather than lose it silently.
            _ => self.state.counters.dropped(DropReason::NotForUs),
        }
    }

    /// Queues `m` for worker 0 to send; `received` as in `Outgoing`.
    fn send(&mut self, side: Side, m: Mbuf, received: bool) {
        queue(&self.outgoing, &self.state.counters, side, m, received);
    }

    /// Acts on a verdict for a frame the slow path produced or released.
    fn dispatch(&mut self, m: Mbuf, v: Verdict, now: Instant) {
        match v {
            Verdict::TxUnderlay => self.send(Side::Underlay, m, true),
            Verdict::TxAccess => self.send(Side::Access, m, true),
            Verdict::Reply(s) => self.send(s, m, true),
            Verdict::Hold {
                side,
                next_hop,
                answers_drop,
            } => self.hold(m, side, next_hop, answers_drop, now),
            // Drops were counted by the pipeline. A fragment punted again
            // does not fit the port after all (the tunnel MTU is clamped to
            // the underlay port's at start, so this should not happen):
            // dropped, and counted as what it is.
            Verdict::Punt(_) => self.state.counters.dropped(DropReason::MtuExceeded),
            Verdict::Drop(_) => {}
        }
    }

    fn hold(&mut self, m: Mbuf, side: Side, ip: u32, answers_drop: bool, now: Instant) {
        let (arp, neighbors, mut tx) = self.arp_parts();
        arp.hold(neighbors, &mut tx, m, side, ip, answers_drop, now);
    }

    fn gratuitous_arps(&mut self, now: Instant) {
        while self.garps_sent < GARP_TIMES.len()
            && now.saturating_duration_since(self.started) >= GARP_TIMES[self.garps_sent]
        {
            self.garps_sent += 1;
            let (_, _, mut tx) = self.arp_parts();
            for side in [Side::Underlay, Side::Access] {
                tx.announce(side);
            }
        }
    }

    /// An ARP frame a worker punted: learned from (`merge_arp`) and, when
    /// it is a request for the port's address (punted because its sender
    /// moved to another MAC), answered here, from the same buffer, as the
    /// worker answers the others (not from a sender it does not answer:
    /// `not_for_us`).
    fn arp_punted(&mut self, mut m: Mbuf, side: Side, now: Instant) {
        let parsed = m
            .data()
            .get(ethernet::HEADER_LEN..)
            .and_then(|b| arp::Packet::new_checked(b).ok())
            .and_then(|p| arp::Repr::parse(&p).ok());
        let Some(r) = parsed else {
            self.state.counters.dropped(DropReason::Truncated);
            return;
        };
        let (arp, neighbors, mut tx) = self.arp_parts();
        let ctx = tx.ctx;
        arp.merge_arp(ctx, neighbors, &mut tx, side, &r, now);
        let (our_mac, our_ip) = (self.ctx.port_mac(side), self.ctx.port_ip(side));
        let for_us = r.operation == arp::Operation::Request
            && r.target_ip == our_ip
            && r.sender_ip != our_ip
            && !is_own_mac(&self.ctx, r.sender_mac);
        if for_us && !answerable_sender(&self.ctx, &r) {
            // As a worker drops it (`handle_arp`).
            self.state.counters.dropped(DropReason::NotForUs);
            return;
        }
        if for_us && arp_reply_in_place(m.data_mut(), our_mac, our_ip, &r) {
            self.send(side, m, true);
        }
    }

    /// At shutdown, once the workers stopped: frees what is still queued
    /// or held, each counted as what it is, so the final counters add up:
    /// held frames as `no_neighbor` (as a held frame that is never sent),
    /// frames to fragment or to send as `tx_full`, fragments of pings to us
    /// still waiting for the rest of their datagram as `not_for_us` (as
    /// when they expire); ARP frames were counted as slow-path work already.
    pub fn shutdown(&mut self) {
        self.reasm.clear(&self.state.counters);
        while let Some(p) = self.punt.pop() {
            match p.verdict {
                Verdict::Hold { answers_drop, .. } => lose_held(&self.state.counters, answers_drop),
                Verdict::Punt(SlowKind::Arp) => {}
                _ => self.state.counters.dropped(DropReason::TxFull),
            }
        }
        let (arp, _, mut tx) = self.arp_parts();
        arp.shutdown(&mut tx);
        while let Some(o) = self.outgoing.pop() {
            if o.received {
                self.state.counters.dropped(DropReason::TxFull);
            }
        }
    }
}
