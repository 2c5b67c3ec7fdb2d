//! The slow-path thread: what workers punt. It learns neighbours from ARP,
//! holds packets for unresolved next hops (a small bounded queue each) while
//! it ARPs for them, fragments inner packets too big for the tunnel, sends
//! the start-up gratuitous ARPs and ages neighbours. It owns the neighbour
//! tables' writer; what it sends goes through worker 0 (`Outgoing`).
//! Allocation is fine here.
use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::classify::{process_access, process_decapped, trim_to};
use super::context::Context;
use super::drop_reason::{DropReason, SlowKind};
use super::fragment::Fragmenter;
use super::slowpath::{build_arp_request, build_gratuitous_arp};
use super::state::WorkerState;
use super::tables::{side_port, TableLookup};
use super::verdict::{Side, Verdict};
use super::worker::{Outgoing, OutgoingQueue, PuntQueue, Punted};
use crate::dpdk::{Mbuf, Mempool};
use crate::table::NeighborTables;
use crate::wire::{arp, ethernet, MacAddr};

/// Packets held per unresolved neighbour (the kernel's default is 3 + 101
/// bytes of queue; a few frames cover a TCP handshake or a ping burst).
pub const HOLD_PER_NEIGHBOR: usize = 16;
/// Give up on a neighbour (and drop what is held) after this long.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);
/// Re-send an ARP request for an unresolved neighbour this often.
pub const ARP_RETRY: Duration = Duration::from_secs(1);
/// Refresh a learned neighbour (ARP request) when it is this old...
pub const NEIGHBOR_REFRESH: Duration = Duration::from_secs(60);
/// ...and forget it when no reply came for this long.
pub const NEIGHBOR_MAX_AGE: Duration = Duration::from_secs(90);
/// Gratuitous ARPs at start: three over two seconds on both ports.
const GARP_TIMES: [Duration; 3] = [
    Duration::from_millis(0),
    Duration::from_millis(1000),
    Duration::from_millis(2000),
];

struct Pending {
    held: VecDeque<Mbuf>,
    since: Instant,
    last_request: Instant,
}

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
    pending: HashMap<(Side, u32), Pending>,
    started: Instant,
    garps_sent: usize,
    last_ageing: Instant,
}

impl SlowPath {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: Context,
        lookup: TableLookup,
        state: WorkerState,
        neighbors: NeighborTables,
        punt: Arc<PuntQueue>,
        pool: Arc<Mempool>,
        outgoing: Arc<OutgoingQueue>,
    ) -> SlowPath {
        let now = Instant::now();
        SlowPath {
            ctx,
            lookup,
            state,
            neighbors,
            punt,
            pool,
            outgoing,
            pending: HashMap::new(),
            started: now,
            garps_sent: 0,
            last_ageing: now,
        }
    }

    /// Neighbours being resolved right now.
    pub fn pending_neighbors(&self) -> usize {
        self.pending.len()
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
        self.expire_pending(now);
        if now.saturating_duration_since(self.last_ageing) >= Duration::from_secs(1) {
            self.last_ageing = now;
            self.age_neighbors(now);
        }
        n
    }

    fn handle(&mut self, p: Punted, now: Instant) {
        let Punted { mbuf, rx, verdict } = p;
        match verdict {
            Verdict::Hold { side, next_hop } => self.hold(mbuf, side, next_hop, now),
            Verdict::Punt(SlowKind::Arp) => self.learn_from_arp(mbuf, rx, now),
            Verdict::Punt(SlowKind::Fragment) => self.fragment(mbuf, rx, now),
            // Nothing else is punted; count it rather than lose it silently.
            _ => self.state.counters.dropped(DropReason::NotForUs),
        }
    }

    fn send(&mut self, side: Side, m: Mbuf) {
        if self.outgoing.push(Outgoing { mbuf: m, side }).is_err() {
            self.state.counters.dropped(DropReason::TxFull);
        }
    }

    /// Acts on a verdict for a frame the slow path produced or released.
    fn dispatch(&mut self, mut m: Mbuf, v: Verdict, now: Instant) {
        match v {
            Verdict::TxUnderlay => self.send(Side::Underlay, m),
            Verdict::TxAccess => self.send(Side::Access, m),
            Verdict::Reply(s) => self.send(s, m),
            Verdict::Hold { side, next_hop } => {
                if let Some(mac) = self.neighbors.get(side_port(side), next_hop) {
                    if let Some(d) = m.data_mut().get_mut(0..6) {
                        d.copy_from_slice(&mac.mac);
                    }
                    self.send(side, m);
                } else {
                    self.hold(m, side, next_hop, now);
                }
            }
            // Drops were counted by the pipeline. A fragment punted again
            // does not fit the port after all (the tunnel MTU is clamped to
            // the underlay port's at start, so this should not happen):
            // dropped, and counted as what it is.
            Verdict::Punt(_) => self.state.counters.dropped(DropReason::MtuExceeded),
            Verdict::Drop(_) => {}
        }
    }

    fn hold(&mut self, mut m: Mbuf, side: Side, ip: u32, now: Instant) {
        if let Some(n) = self.neighbors.get(side_port(side), ip) {
            if let Some(d) = m.data_mut().get_mut(0..6) {
                d.copy_from_slice(&n.mac);
            }
            self.send(side, m);
            return;
        }
        let entry = self.pending.entry((side, ip)).or_insert_with(|| Pending {
            held: VecDeque::new(),
            since: now,
            // Due at once; `now` itself if the clock is younger than that.
            last_request: now.checked_sub(ARP_RETRY).unwrap_or(now),
        });
        if entry.held.len() >= HOLD_PER_NEIGHBOR {
            self.state.counters.dropped(DropReason::NoNeighbor);
            return;
        }
        entry.held.push_back(m);
        if now.saturating_duration_since(entry.last_request) >= ARP_RETRY {
            entry.last_request = now;
            self.arp_request(side, ip);
        }
    }

    fn new_frame(&self, bytes_len: usize) -> Option<Mbuf> {
        let mut m = self.pool.alloc()?;
        m.append(bytes_len)?;
        Some(m)
    }

    /// A fresh buffer whose data is its whole room, to be cut to what is
    /// written into it.
    fn new_room(&self) -> Option<Mbuf> {
        let mut m = self.pool.alloc()?;
        let room = m.tailroom();
        m.append(room)?;
        Some(m)
    }

    fn arp_request(&mut self, side: Side, target: u32) {
        let Some(mut m) = self.new_frame(super::slowpath::MIN_FRAME_LEN) else {
            return;
        };
        let (mac, ip) = (self.ctx.port_mac(side), self.ctx.port_ip(side));
        if build_arp_request(mac, ip, Ipv4Addr::from(target), m.data_mut()).is_some() {
            self.send(side, m);
        }
    }

    fn gratuitous_arps(&mut self, now: Instant) {
        while self.garps_sent < GARP_TIMES.len()
            && now.saturating_duration_since(self.started) >= GARP_TIMES[self.garps_sent]
        {
            self.garps_sent += 1;
            for side in [Side::Underlay, Side::Access] {
                let Some(mut m) = self.new_frame(super::slowpath::MIN_FRAME_LEN) else {
                    continue;
                };
                let (mac, ip) = (self.ctx.port_mac(side), self.ctx.port_ip(side));
                if build_gratuitous_arp(mac, ip, m.data_mut()).is_some() {
                    self.send(side, m);
                }
            }
        }
    }

    /// Is `ip` a host we may learn on `side` (on-link, not ourselves)?
    fn on_link(&self, side: Side, ip: u32) -> bool {
        let c = &self.ctx.cfg;
        if self.ctx.is_local(ip) {
            return false;
        }
        match side {
            Side::Underlay => {
                c.underlay_prefix.contains(ip)
                    || c.underlay_gateway.is_some_and(|g| u32::from(g) == ip)
            }
            Side::Access => c.subnet.contains(ip),
        }
    }

    fn learn_from_arp(&mut self, m: Mbuf, side: Side, now: Instant) {
        let parsed = m
            .data()
            .get(ethernet::HEADER_LEN..)
            .and_then(|b| arp::Packet::new_checked(b).ok())
            .and_then(|p| arp::Repr::parse(&p).ok());
        drop(m);
        let Some(r) = parsed else {
            self.state.counters.dropped(DropReason::Truncated);
            return;
        };
        let ip = u32::from(r.sender_ip);
        if !self.on_link(side, ip) || r.sender_mac == MacAddr::ZERO || r.sender_mac.0[0] & 1 != 0 {
            return;
        }
        self.neighbors
            .learn(side_port(side), ip, r.sender_mac.0, now);
        if let Some(p) = self.pending.remove(&(side, ip)) {
            for mut h in p.held {
                if let Some(d) = h.data_mut().get_mut(0..6) {
                    d.copy_from_slice(&r.sender_mac.0);
                }
                self.send(side, h);
            }
        }
    }

    fn fragment(&mut self, m: Mbuf, rx: Side, now: Instant) {
        let mtu = self.ctx.fragment_mtu(rx);
        let Ok(mut frag) = Fragmenter::new(m.data(), mtu) else {
            self.state.counters.dropped(DropReason::MtuExceeded);
            return;
        };
        while !frag.is_done() {
            // Each fragment is written straight into a fresh buffer's whole
            // room, then cut to its length: no copy, and any MTU the
            // buffers hold fragments as 1500 does.
            let Some(mut f) = self.new_room() else {
                self.state.counters.dropped(DropReason::TxFull);
                return;
            };
            let len = match frag.next_into(f.data_mut()) {
                Ok(Some(len)) => len,
                Ok(None) => return,
                Err(_) => {
                    self.state.counters.dropped(DropReason::MtuExceeded);
                    return;
                }
            };
            if !trim_to(&mut *f, len) {
                self.state.counters.dropped(DropReason::MtuExceeded);
                return;
            }
            let v = match rx {
                Side::Access => process_access(&self.ctx, &self.lookup, &mut self.state, &mut *f),
                Side::Underlay => {
                    process_decapped(&self.ctx, &self.lookup, &mut self.state, &mut *f)
                }
            };
            self.dispatch(f, v, now);
        }
    }

    fn expire_pending(&mut self, now: Instant) {
        let mut retry = Vec::new();
        let counters = &self.state.counters;
        self.pending.retain(|&(side, ip), p| {
            if now.saturating_duration_since(p.since) >= RESOLVE_TIMEOUT {
                for _ in 0..p.held.len() {
                    counters.dropped(DropReason::NoNeighbor);
                }
                return false;
            }
            if now.saturating_duration_since(p.last_request) >= ARP_RETRY {
                p.last_request = now;
                retry.push((side, ip));
            }
            true
        });
        for (side, ip) in retry {
            self.arp_request(side, ip);
        }
    }

    fn age_neighbors(&mut self, now: Instant) {
        let mut refresh = Vec::new();
        for side in [Side::Underlay, Side::Access] {
            refresh.extend(
                self.neighbors
                    .stale(side_port(side), now, NEIGHBOR_REFRESH)
                    .map(|ip| (side, ip)),
            );
        }
        for (side, ip) in refresh {
            self.arp_request(side, ip);
        }
        self.neighbors.expire(now, NEIGHBOR_MAX_AGE, |_, _, _| {});
    }
}
