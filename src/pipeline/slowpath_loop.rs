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

use super::classify::{process_fragment, trim_to};
use super::context::Context;
use super::counters::Counters;
use super::drop_reason::{DropReason, SlowKind};
use super::fragment::{FragError, Fragmenter};
use super::slowpath::{arp_reply_in_place, build_arp_request, build_gratuitous_arp, is_own_mac};
use super::state::WorkerState;
use super::tables::{side_port, TableLookup};
use super::verdict::{Side, Verdict};
use super::worker::{Outgoing, OutgoingQueue, PuntQueue, Punted};
use crate::dpdk::{Mbuf, Mempool};
use crate::ops::logging::RateLimitedLog;
use crate::table::NeighborTables;
use crate::wire::{arp, ethernet, MacAddr};

/// Packets held per unresolved neighbour (the kernel's default is 3 + 101
/// bytes of queue; a few frames cover a TCP handshake or a ping burst).
pub const HOLD_PER_NEIGHBOR: usize = 16;
/// Packets held for all neighbours together, at most: unresolved next
/// hops by the thousand (a cold start on a flat underlay) must not pin
/// the mempool the ports receive into. Also at most an eighth of the pool.
pub const HOLD_TOTAL: usize = 4096;
/// Give up on a neighbour (and drop what is held) after this long.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);
/// Re-send an ARP request for an unresolved neighbour this often.
pub const ARP_RETRY: Duration = Duration::from_secs(1);
/// Refresh a learned neighbour (ARP request) when it is this old...
pub const NEIGHBOR_REFRESH: Duration = Duration::from_secs(60);
/// ...asking again this often until it answers (three probes)...
pub const NEIGHBOR_PROBE: Duration = Duration::from_secs(10);
/// ...and forget it when no reply came for this long.
pub const NEIGHBOR_MAX_AGE: Duration = Duration::from_secs(90);
/// A reply to an ARP request of ours is taken this long after the request
/// (the held frames are given up after `RESOLVE_TIMEOUT`, the host not).
pub const LATE_REPLY: Duration = Duration::from_secs(30);
/// Gratuitous ARPs at start: three over two seconds on both ports.
const GARP_TIMES: [Duration; 3] = [
    Duration::from_millis(0),
    Duration::from_millis(1000),
    Duration::from_millis(2000),
];

/// Counts a held frame that will never be sent: `no_neighbor`, unless it
/// is an ICMP error about a packet counted already.
fn lose_held(counters: &Counters, answers_drop: bool) {
    if !answers_drop {
        counters.dropped(DropReason::NoNeighbor);
    }
}

/// A held frame; `answers_drop` as in `Verdict::Hold`.
struct Held {
    mbuf: Mbuf,
    answers_drop: bool,
}

struct Pending {
    held: VecDeque<Held>,
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
    /// Frames in `pending`, all neighbours together.
    held_total: usize,
    /// At most this many (`HOLD_TOTAL`, or less for a small pool).
    hold_cap: usize,
    /// When we last sent an ARP request to each target, for
    /// `LATE_REPLY`: a reply to one may create a neighbour, and a stale
    /// neighbour is asked again only `NEIGHBOR_PROBE` after the last.
    asked: HashMap<(Side, u32), Instant>,
    /// ARPs claiming one of our addresses, logged once a minute each.
    conflicts: RateLimitedLog,
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
            pending: HashMap::new(),
            held_total: 0,
            hold_cap,
            asked: HashMap::new(),
            conflicts: RateLimitedLog::new(Duration::from_secs(60)),
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
        let o = Outgoing {
            mbuf: m,
            side,
            received,
        };
        if self.outgoing.push(o).is_err() && received {
            self.state.counters.dropped(DropReason::TxFull);
        }
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

    fn hold(&mut self, mut m: Mbuf, side: Side, ip: u32, answers_drop: bool, now: Instant) {
        if let Some(n) = self.neighbors.get(side_port(side), ip) {
            if let Some(d) = m.data_mut().get_mut(0..6) {
                d.copy_from_slice(&n.mac);
            }
            self.send(side, m, !answers_drop);
            return;
        }
        // The neighbour is resolved (ARP) even when its frame cannot be
        // held: a full queue must not keep it from ever being learned.
        let entry = self.pending.entry((side, ip)).or_insert_with(|| Pending {
            held: VecDeque::new(),
            since: now,
            // Due at once; `now` itself if the clock is younger than that.
            last_request: now.checked_sub(ARP_RETRY).unwrap_or(now),
        });
        if entry.held.len() >= HOLD_PER_NEIGHBOR || self.held_total >= self.hold_cap {
            drop(m);
            lose_held(&self.state.counters, answers_drop);
        } else {
            entry.held.push_back(Held {
                mbuf: m,
                answers_drop,
            });
            self.held_total += 1;
        }
        if now.saturating_duration_since(entry.last_request) >= ARP_RETRY {
            entry.last_request = now;
            self.arp_request(side, ip, now);
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

    fn arp_request(&mut self, side: Side, target: u32, now: Instant) {
        let Some(mut m) = self.new_frame(super::slowpath::MIN_FRAME_LEN) else {
            return;
        };
        let (mac, ip) = (self.ctx.port_mac(side), self.ctx.port_ip(side));
        if build_arp_request(mac, ip, Ipv4Addr::from(target), m.data_mut()).is_some() {
            self.asked.insert((side, target), now);
            self.send(side, m, false);
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
                    self.send(side, m, false);
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

    /// An ARP frame a worker punted: learned from (`merge_arp`) and, when
    /// it is a request for the port's address (punted because its sender
    /// moved to another MAC), answered here, from the same buffer, as the
    /// worker answers the others.
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
        self.merge_arp(side, &r, now);
        let (our_mac, our_ip) = (self.ctx.port_mac(side), self.ctx.port_ip(side));
        let for_us = r.operation == arp::Operation::Request
            && r.target_ip == our_ip
            && r.sender_ip != our_ip
            && !is_own_mac(&self.ctx, r.sender_mac);
        if for_us && arp_reply_in_place(m.data_mut(), our_mac, our_ip, &r) {
            self.send(side, m, true);
        }
    }

    /// Learns from an ARP, as Linux does with `arp_accept` off: a
    /// neighbour we are resolving (an ARP request of ours is out) is
    /// created by its reply to us; a neighbour we know is updated by any
    /// ARP it sends, requests included, also requests for another host
    /// (RFC 826's merge; a static neighbour keeps its MAC); anything else,
    /// such as replies between other hosts seen on a promiscuous port,
    /// unsolicited announcements or requests from unknown hosts, creates
    /// nothing. An ARP from one of our own MACs about another address
    /// (a loop or a spoof) is ignored.
    fn merge_arp(&mut self, side: Side, r: &arp::Repr, now: Instant) {
        let ip = u32::from(r.sender_ip);
        if r.sender_ip == self.ctx.port_ip(side) {
            if r.sender_mac != self.ctx.port_mac(side) {
                self.address_conflict(side, r, now);
            }
            return;
        }
        if is_own_mac(&self.ctx, r.sender_mac)
            || !self.on_link(side, ip)
            || r.sender_mac == MacAddr::ZERO
            || r.sender_mac.is_multicast()
        {
            return;
        }
        let port = side_port(side);
        // A reply to a request of ours, also one that comes after we gave
        // up on the held frames (a slow host is still learned).
        let resolving = r.operation == arp::Operation::Reply
            && r.target_ip == self.ctx.port_ip(side)
            && (self.pending.contains_key(&(side, ip)) || self.asked.contains_key(&(side, ip)));
        if !resolving && self.neighbors.get(port, ip).is_none() {
            return;
        }
        self.neighbors.learn(port, ip, r.sender_mac.0, now);
        if let Some(p) = self.pending.remove(&(side, ip)) {
            self.held_total -= p.held.len();
            for mut h in p.held {
                if let Some(d) = h.mbuf.data_mut().get_mut(0..6) {
                    d.copy_from_slice(&r.sender_mac.0);
                }
                self.send(side, h.mbuf, !h.answers_drop);
            }
        }
    }

    /// Another host claims one of our addresses: nothing is learned, and
    /// the operator is told (at most once a minute).
    fn address_conflict(&self, side: Side, r: &arp::Repr, now: Instant) {
        if let Some(suppressed) = self.conflicts.check_at(&r.sender_mac.to_string(), now) {
            tracing::error!(
                port = side.name(),
                ip = %r.sender_ip,
                mac = %r.sender_mac,
                suppressed,
                "address conflict: another host announces our address (ARP); check the addressing of the segment"
            );
        }
    }

    fn fragment(&mut self, m: Mbuf, rx: Side, now: Instant) {
        let mtu = self.ctx.fragment_mtu(rx);
        let mut frag = match Fragmenter::new(m.data(), mtu) {
            Ok(f) => f,
            // Malformed options, or a fragment ending past byte 65535 of
            // its datagram: a bad header, whatever its size.
            Err(FragError::NotIpv4 | FragError::BeyondMaxDatagram) => {
                return self.state.counters.dropped(DropReason::BadIpv4)
            }
            Err(_) => return self.state.counters.dropped(DropReason::MtuExceeded),
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
            // As a fragment of what was received on `rx`, or of the
            // gateway's own packet (an echo reply).
            let v = process_fragment(&self.ctx, &self.lookup, &mut self.state, rx, &mut *f);
            self.dispatch(f, v, now);
        }
    }

    fn expire_pending(&mut self, now: Instant) {
        let mut retry = Vec::new();
        let counters = &self.state.counters;
        let held_total = &mut self.held_total;
        self.pending.retain(|&(side, ip), p| {
            if now.saturating_duration_since(p.since) >= RESOLVE_TIMEOUT {
                *held_total -= p.held.len();
                for h in &p.held {
                    lose_held(counters, h.answers_drop);
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
            self.arp_request(side, ip, now);
        }
    }

    /// Forgets the silent neighbours and asks stale ones to confirm
    /// themselves, each at most every `NEIGHBOR_PROBE` (not at every tick).
    fn age_neighbors(&mut self, now: Instant) {
        self.asked
            .retain(|_, &mut t| now.saturating_duration_since(t) < LATE_REPLY);
        self.neighbors.expire(now, NEIGHBOR_MAX_AGE, |_, _, _| {});
        let mut refresh = Vec::new();
        for side in [Side::Underlay, Side::Access] {
            refresh.extend(
                self.neighbors
                    .stale(side_port(side), now, NEIGHBOR_REFRESH)
                    .map(|ip| (side, ip)),
            );
        }
        for key in refresh {
            let due = self.asked.get(&key).map_or(true, |&t| {
                now.saturating_duration_since(t) >= NEIGHBOR_PROBE
            });
            if due {
                self.arp_request(key.0, key.1, now);
            }
        }
    }

    /// At shutdown, once the workers stopped: frees what is still queued
    /// or held, each counted as what it is, so the final counters add up:
    /// held frames as `no_neighbor` (as a held frame that is never sent),
    /// frames to fragment or to send as `tx_full`; ARP frames were counted
    /// as slow-path work already.
    pub fn shutdown(&mut self) {
        while let Some(p) = self.punt.pop() {
            match p.verdict {
                Verdict::Hold { answers_drop, .. } => lose_held(&self.state.counters, answers_drop),
                Verdict::Punt(SlowKind::Arp) => {}
                _ => self.state.counters.dropped(DropReason::TxFull),
            }
        }
        let pending = std::mem::take(&mut self.pending);
        for h in pending.into_values().flat_map(|p| p.held) {
            lose_held(&self.state.counters, h.answers_drop);
        }
        self.held_total = 0;
        while let Some(o) = self.outgoing.pop() {
            if o.received {
                self.state.counters.dropped(DropReason::TxFull);
            }
        }
    }
}
