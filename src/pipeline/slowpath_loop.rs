//! The slow-path thread: what workers punt. It learns neighbours from ARP,
//! holds packets for unresolved next hops (a small bounded queue each) while
//! it ARPs for them, fragments inner packets too big for the tunnel, sends
//! the start-up gratuitous ARPs and ages neighbours. It owns the neighbour
//! tables' writer; what it sends goes through worker 0 (`Outgoing`).
//! Allocation is fine here. The ARP and neighbour logic (`Resolver`) is
//! generic over the frame it holds and over how it sends (`ArpIo`), so it
//! runs in unit tests without EAL.
use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::classify::{ip_view, process_fragment, trim_to};
use super::context::Context;
use super::counters::Counters;
use super::drop_reason::{DropReason, SlowKind};
use super::fragment::{FragError, Fragmenter};
use super::slowpath::{
    answerable_sender, arp_reply_in_place, build_arp_request, build_gratuitous_arp, is_own_mac,
    MIN_FRAME_LEN,
};
use super::state::WorkerState;
use super::tables::{side_port, TableLookup};
use super::verdict::{Side, Verdict};
use super::worker::{Outgoing, OutgoingQueue, PuntQueue, Punted};
use crate::dpdk::{Mbuf, Mempool};
use crate::ops::logging::RateLimitedLog;
use crate::table::NeighborTables;
use crate::wire::{arp, ethernet, MacAddr};

/// Packets held per unresolved neighbour: all the pieces of the largest
/// datagram (64 KiB sent at MTU 1500 and cut again for the tunnel: 89),
/// so that the first one to a node is not lost while we ARP. Linux holds
/// `unres_qlen_bytes`, 212 992 bytes by default: about 140 full frames.
pub const HOLD_PER_NEIGHBOR: usize = 128;
/// Packets held for all neighbours together, at most: unresolved next
/// hops by the thousand (a cold start on a flat underlay) must not pin
/// the mempool the ports receive into. Also at most an eighth of the pool.
pub const HOLD_TOTAL: usize = 4096;
/// Give up on a neighbour (and drop what is held) after this long.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);
/// Re-send an ARP request for an unresolved neighbour this often.
pub const ARP_RETRY: Duration = Duration::from_secs(1);
/// Refresh a learned neighbour (ARP request) when it is this old, on
/// average: each neighbour's own age is 0.5-1.5 times this
/// (`refresh_age`)...
pub const NEIGHBOR_REFRESH: Duration = Duration::from_secs(60);
/// ...asking again this often until it answers (`NEIGHBOR_PROBES` probes,
/// the first unicast to its known MAC, the others broadcast)...
pub const NEIGHBOR_PROBE: Duration = Duration::from_secs(10);
/// Requests sent to a stale neighbour before it is forgotten.
pub const NEIGHBOR_PROBES: u32 = 3;
/// A known neighbour's MAC is changed by a (non-gratuitous) ARP only when
/// it was set at least this long ago (Linux's `locktime`): of several
/// replies to one broadcast request the first wins.
pub const ARP_LOCKTIME: Duration = Duration::from_secs(1);
/// A reply to an ARP request of ours is taken this long after the request
/// (the held frames are given up after `RESOLVE_TIMEOUT`, the host not).
pub const LATE_REPLY: Duration = Duration::from_secs(30);
/// A claim of one of our addresses is answered by a gratuitous ARP at most
/// this often a port (RFC 5227's DEFEND_INTERVAL).
pub const DEFEND_INTERVAL: Duration = Duration::from_secs(10);
/// Gratuitous ARPs at start: three over two seconds on both ports.
const GARP_TIMES: [Duration; 3] = [
    Duration::from_millis(0),
    Duration::from_millis(1000),
    Duration::from_millis(2000),
];

/// The index of `side` in `Resolver::defended` and `defence_due`.
fn defence_slot(side: Side) -> usize {
    match side {
        Side::Underlay => 0,
        Side::Access => 1,
    }
}

/// The age at which the neighbour `ip` is refreshed: 0.5-1.5 times
/// `NEIGHBOR_REFRESH`, spread by a hash of its address (as Linux draws
/// `reachable_time` from 0.5-1.5 times `base_reachable_time`), so that
/// neighbours learned together are not all asked again in the same tick.
pub fn refresh_age(ip: u32) -> Duration {
    // Fibonacci hashing: the top 32 bits of the product, in [0, 2^32).
    let h = u64::from(ip).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    let base = NEIGHBOR_REFRESH.as_millis() as u64;
    Duration::from_millis(base / 2 + ((base * h) >> 32))
}

/// The age at which the neighbour `ip` is forgotten when it does not
/// answer: `NEIGHBOR_PROBE` after its last probe.
pub fn forget_age(ip: u32) -> Duration {
    refresh_age(ip) + NEIGHBOR_PROBE * NEIGHBOR_PROBES
}

/// Counts a held frame that will never be sent: `no_neighbor`, unless it
/// is an ICMP error about a packet counted already.
fn lose_held(counters: &Counters, answers_drop: bool) {
    if !answers_drop {
        counters.dropped(DropReason::NoNeighbor);
    }
}

/// How the resolver sends: `SlowPath`'s queues frames for worker 0 to
/// send; a test's records them.
pub(crate) trait ArpIo<F> {
    /// Queues our ARP request for `target` on `side`, to `eth_dst`
    /// (broadcast, or the neighbour's MAC for a unicast probe); `false`
    /// if it could not be built or queued.
    fn request(&mut self, side: Side, target: u32, eth_dst: MacAddr) -> bool;
    /// Queues a held frame for `next_hop`, its destination MAC set to
    /// `mac`; `received` as in `Outgoing`.
    fn release(&mut self, side: Side, next_hop: u32, frame: F, mac: MacAddr, received: bool);
    /// A held frame that will never be sent (`lose_held`).
    fn lose(&mut self, answers_drop: bool);
    /// Queues a gratuitous ARP for our address on `side` (defending it);
    /// `false` if it could not be built or queued.
    fn announce(&mut self, side: Side) -> bool;
}

/// A held frame; `answers_drop` as in `Verdict::Hold`.
struct Held<F> {
    frame: F,
    answers_drop: bool,
}

struct Pending<F> {
    held: VecDeque<Held<F>>,
    since: Instant,
    last_request: Instant,
}

/// The slow path's ARP state: frames held per unresolved neighbour, the
/// requests it sent, and the neighbours' refresh. The neighbour tables
/// themselves are `SlowPath::neighbors`, passed in.
pub(crate) struct Resolver<F> {
    pending: HashMap<(Side, u32), Pending<F>>,
    /// Frames in `pending`, all neighbours together.
    held_total: usize,
    /// At most this many (`HOLD_TOTAL`, or less for a small pool).
    hold_cap: usize,
    /// When we last sent an ARP request to each target (only those that
    /// were queued), for `LATE_REPLY`: a reply to one may create a
    /// neighbour; and a stale neighbour is asked once per `NEIGHBOR_PROBE`.
    asked: HashMap<(Side, u32), Instant>,
    /// ARPs claiming one of our addresses, logged once a minute per port
    /// and address, whatever MACs they come from.
    conflicts: RateLimitedLog,
    /// Conflict lines written.
    conflicts_logged: u64,
    /// When we last defended each port's address (underlay, access).
    defended: [Option<Instant>; 2],
    /// A claim came within `DEFEND_INTERVAL` of the last defence: one
    /// more is due when the interval is over.
    defence_due: [bool; 2],
    /// ARPs giving a known neighbour another MAC within `ARP_LOCKTIME`,
    /// ignored; logged at debug, once per port per 10 s.
    locked: RateLimitedLog,
    /// Such ARPs, all told.
    locked_changes: u64,
}

impl<F> Resolver<F> {
    pub(crate) fn new(hold_cap: usize) -> Resolver<F> {
        Resolver {
            pending: HashMap::new(),
            held_total: 0,
            hold_cap,
            asked: HashMap::new(),
            conflicts: RateLimitedLog::new(Duration::from_secs(60)),
            conflicts_logged: 0,
            defended: [None; 2],
            defence_due: [false; 2],
            locked: RateLimitedLog::new(Duration::from_secs(10)),
            locked_changes: 0,
        }
    }

    /// Sends a request and, only if it was queued, notes it as asked.
    fn request(&mut self, io: &mut impl ArpIo<F>, side: Side, ip: u32, dst: MacAddr, now: Instant) {
        if io.request(side, ip, dst) {
            self.asked.insert((side, ip), now);
        }
    }

    /// A frame for `ip` on `side` whose MAC was unknown to the worker:
    /// sent at once if the slow path knows it by now, else held (at most
    /// `HOLD_PER_NEIGHBOR` for `ip`, `hold_cap` in all) while we ARP.
    #[allow(clippy::too_many_arguments)]
    fn hold(
        &mut self,
        neighbors: &NeighborTables,
        io: &mut impl ArpIo<F>,
        frame: F,
        side: Side,
        ip: u32,
        answers_drop: bool,
        now: Instant,
    ) {
        if let Some(n) = neighbors.get(side_port(side), ip) {
            io.release(side, ip, frame, MacAddr(n.mac), !answers_drop);
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
            drop(frame);
            io.lose(answers_drop);
        } else {
            entry.held.push_back(Held {
                frame,
                answers_drop,
            });
            self.held_total += 1;
        }
        if now.saturating_duration_since(entry.last_request) >= ARP_RETRY {
            entry.last_request = now;
            self.request(io, side, ip, MacAddr::BROADCAST, now);
        }
    }

    /// Queues the frames held for `ip` to `mac`, in order.
    fn release_held(&mut self, io: &mut impl ArpIo<F>, side: Side, ip: u32, mac: MacAddr) {
        if let Some(p) = self.pending.remove(&(side, ip)) {
            self.held_total -= p.held.len();
            for h in p.held {
                io.release(side, ip, h.frame, mac, !h.answers_drop);
            }
        }
    }

    /// Learns from an ARP, as Linux does with `arp_accept` off: a
    /// neighbour we are resolving (an ARP request of ours is out) is
    /// created by its reply to us; a neighbour we know is updated by any
    /// ARP it sends, requests included, also requests for another host
    /// (RFC 826's merge; a static neighbour keeps its MAC), except that
    /// another MAC within `ARP_LOCKTIME` of the entry's last change is
    /// ignored unless the ARP is gratuitous or a request for our own
    /// address (Linux's `locktime`: the first of several replies wins; a
    /// host asking us from a new MAC, say after its NIC changed, is taken
    /// at once, as Linux's `neigh_event_ns` overrides it); anything else,
    /// such as replies between other hosts seen on a promiscuous port,
    /// unsolicited announcements or requests from unknown hosts, creates
    /// nothing. An ARP from one of our own MACs about another address (a
    /// loop or a spoof) is ignored.
    fn merge_arp(
        &mut self,
        ctx: &Context,
        neighbors: &mut NeighborTables,
        io: &mut impl ArpIo<F>,
        side: Side,
        r: &arp::Repr,
        now: Instant,
    ) {
        let ip = u32::from(r.sender_ip);
        if r.sender_ip == ctx.port_ip(side) {
            if r.sender_mac != ctx.port_mac(side) {
                self.address_conflict(side, r, now);
                self.defend(io, side, now);
            }
            return;
        }
        if is_own_mac(ctx, r.sender_mac)
            || !on_link(ctx, side, ip)
            || r.sender_mac == MacAddr::ZERO
            || r.sender_mac.is_multicast()
        {
            return;
        }
        let port = side_port(side);
        // A reply to a request of ours, also one that comes after we gave
        // up on the held frames (a slow host is still learned).
        let resolving = r.operation == arp::Operation::Reply
            && r.target_ip == ctx.port_ip(side)
            && (self.pending.contains_key(&(side, ip)) || self.asked.contains_key(&(side, ip)));
        let known = neighbors.get(port, ip);
        if !resolving && known.is_none() {
            return;
        }
        if known.is_none() {
            // The held frames are queued before the neighbour becomes
            // visible to the workers, so no newer packet a worker sends
            // itself can be queued ahead of them (worker 0 still sends
            // them asynchronously: docs/pipeline.md).
            self.release_held(io, side, ip, r.sender_mac);
        }
        let gratuitous = r.sender_ip == r.target_ip;
        let asks_us = r.operation == arp::Operation::Request && r.target_ip == ctx.port_ip(side);
        let locktime = if gratuitous || asks_us {
            Duration::ZERO
        } else {
            ARP_LOCKTIME
        };
        if let Err(kept) = neighbors.merge(port, ip, r.sender_mac.0, now, locktime) {
            self.locked_changes += 1;
            if let Some(suppressed) = self.locked.check_at(side.name(), now) {
                tracing::debug!(
                    port = side.name(),
                    ip = %r.sender_ip,
                    kept = %MacAddr(kept.mac),
                    ignored = %r.sender_mac,
                    suppressed,
                    "ARP: another MAC within the lock time of the neighbour's last change, ignored"
                );
            }
        }
    }

    /// Another host claims one of our addresses: nothing is learned, and
    /// the operator is told, at most once a minute per port and address
    /// (whatever MACs the claims come from; the line names the latest).
    fn address_conflict(&mut self, side: Side, r: &arp::Repr, now: Instant) {
        let key = format!("{}/{}", side.name(), r.sender_ip);
        if let Some(suppressed) = self.conflicts.check_at(&key, now) {
            self.conflicts_logged += 1;
            tracing::error!(
                port = side.name(),
                ip = %r.sender_ip,
                mac = %r.sender_mac,
                suppressed,
                "address conflict: another host announces our address (ARP); check the addressing of the segment"
            );
        }
    }

    /// Answers another host's claim of our address with one gratuitous
    /// ARP, at most once per `DEFEND_INTERVAL` a port (RFC 5227 2.4 (c),
    /// a router keeps its address): the hosts whose caches the claim moved
    /// point back at us, and two hosts that both keep the address cannot
    /// flood the segment. A claim within the interval is answered when it
    /// is over (`defend_due`), so the last word on the segment is ours.
    fn defend(&mut self, io: &mut impl ArpIo<F>, side: Side, now: Instant) {
        let i = defence_slot(side);
        if self.defended[i].is_some_and(|t| now.saturating_duration_since(t) < DEFEND_INTERVAL) {
            self.defence_due[i] = true;
            return;
        }
        if io.announce(side) {
            self.defended[i] = Some(now);
            self.defence_due[i] = false;
        } else {
            self.defence_due[i] = true;
        }
    }

    /// The defences deferred by `defend` whose interval is over.
    fn defend_due(&mut self, io: &mut impl ArpIo<F>, now: Instant) {
        for side in [Side::Underlay, Side::Access] {
            if self.defence_due[defence_slot(side)] {
                self.defend(io, side, now);
            }
        }
    }

    /// Gives up on neighbours unresolved for `RESOLVE_TIMEOUT` (their held
    /// frames lost) and asks again for the others every `ARP_RETRY`.
    fn expire_pending(&mut self, io: &mut impl ArpIo<F>, now: Instant) {
        let mut retry = Vec::new();
        let held_total = &mut self.held_total;
        self.pending.retain(|&(side, ip), p| {
            if now.saturating_duration_since(p.since) >= RESOLVE_TIMEOUT {
                *held_total -= p.held.len();
                for h in &p.held {
                    io.lose(h.answers_drop);
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
            self.request(io, side, ip, MacAddr::BROADCAST, now);
        }
    }

    /// Forgets the silent neighbours (at `forget_age`) and asks stale ones
    /// (from `refresh_age`) to confirm themselves, once per
    /// `NEIGHBOR_PROBE`: first unicast to the MAC we know (Linux's
    /// `NUD_PROBE`), then broadcast. A probe that could not be queued is
    /// not noted as asked, so it is tried again at the next tick.
    fn age(&mut self, neighbors: &mut NeighborTables, io: &mut impl ArpIo<F>, now: Instant) {
        self.defend_due(io, now);
        self.asked
            .retain(|_, &mut t| now.saturating_duration_since(t) < LATE_REPLY);
        neighbors.expire(now, forget_age, |_, _, _| {});
        let mut refresh = Vec::new();
        for side in [Side::Underlay, Side::Access] {
            let port = side_port(side);
            for (ip, overdue) in neighbors.stale(port, now, refresh_age) {
                // Probe `k` is due from `overdue == k * NEIGHBOR_PROBE`;
                // `into` is how long it has been due.
                let k = (overdue.as_millis() / NEIGHBOR_PROBE.as_millis()) as u32;
                let into = overdue.saturating_sub(NEIGHBOR_PROBE * k);
                let due = self
                    .asked
                    .get(&(side, ip))
                    .map_or(true, |&t| now.saturating_duration_since(t) > into);
                if due {
                    refresh.push((side, ip, k));
                }
            }
        }
        for (side, ip, k) in refresh {
            let known = neighbors.get(side_port(side), ip).map(|e| MacAddr(e.mac));
            let dst = match known {
                Some(mac) if k == 0 => mac,
                _ => MacAddr::BROADCAST,
            };
            self.request(io, side, ip, dst, now);
        }
    }

    /// Frees everything held, counted as lost.
    fn shutdown(&mut self, io: &mut impl ArpIo<F>) {
        let pending = std::mem::take(&mut self.pending);
        for h in pending.into_values().flat_map(|p| p.held) {
            io.lose(h.answers_drop);
        }
        self.held_total = 0;
    }
}

/// Is `ip` a host we may learn on `side` (on-link, not ourselves)?
fn on_link(ctx: &Context, side: Side, ip: u32) -> bool {
    let c = &ctx.cfg;
    if ctx.is_local(ip) {
        return false;
    }
    match side {
        Side::Underlay => {
            c.underlay_prefix.contains(ip) || c.underlay_gateway.is_some_and(|g| u32::from(g) == ip)
        }
        Side::Access => c.subnet.contains(ip),
    }
}

/// Queues `m` for worker 0 to send; `received` as in `Outgoing`. `false`
/// (the frame freed, and counted `tx_full` if received) when the queue is
/// full.
fn queue(
    outgoing: &OutgoingQueue,
    counters: &Counters,
    side: Side,
    m: Mbuf,
    received: bool,
) -> bool {
    let o = Outgoing {
        mbuf: m,
        side,
        received,
    };
    if outgoing.push(o).is_err() {
        if received {
            counters.dropped(DropReason::TxFull);
        }
        return false;
    }
    true
}

/// A fresh buffer of `len` bytes.
pub(crate) fn new_frame(pool: &Mempool, len: usize) -> Option<Mbuf> {
    let mut m = pool.alloc()?;
    m.append(len)?;
    Some(m)
}

/// The resolver's way out on DPDK: frames from the pool, queued for
/// worker 0.
struct Tx<'a> {
    ctx: &'a Context,
    pool: &'a Mempool,
    outgoing: &'a OutgoingQueue,
    counters: &'a Counters,
}

impl ArpIo<Mbuf> for Tx<'_> {
    fn request(&mut self, side: Side, target: u32, eth_dst: MacAddr) -> bool {
        let Some(mut m) = new_frame(self.pool, MIN_FRAME_LEN) else {
            return false;
        };
        let (mac, ip) = (self.ctx.port_mac(side), self.ctx.port_ip(side));
        build_arp_request(eth_dst, mac, ip, Ipv4Addr::from(target), m.data_mut()).is_some()
            && queue(self.outgoing, self.counters, side, m, false)
    }

    fn release(&mut self, side: Side, _next_hop: u32, mut m: Mbuf, mac: MacAddr, received: bool) {
        if let Some(d) = m.data_mut().get_mut(0..6) {
            d.copy_from_slice(&mac.0);
        }
        queue(self.outgoing, self.counters, side, m, received);
    }

    fn lose(&mut self, answers_drop: bool) {
        lose_held(self.counters, answers_drop);
    }

    fn announce(&mut self, side: Side) -> bool {
        let Some(mut m) = new_frame(self.pool, MIN_FRAME_LEN) else {
            return false;
        };
        let (mac, ip) = (self.ctx.port_mac(side), self.ctx.port_ip(side));
        build_gratuitous_arp(mac, ip, m.data_mut()).is_some()
            && queue(self.outgoing, self.counters, side, m, false)
    }
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
    /// Held frames, our requests, refresh (`neighbors` is the table).
    arp: Resolver<Mbuf>,
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

    /// A fresh buffer whose data is its whole room, to be cut to what is
    /// written into it.
    fn new_room(&self) -> Option<Mbuf> {
        let mut m = self.pool.alloc()?;
        let room = m.tailroom();
        m.append(room)?;
        Some(m)
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

    fn fragment(&mut self, mut m: Mbuf, rx: Side, now: Instant) {
        let mtu = self.ctx.fragment_mtu();
        let as_is = ip_view(&*m).is_ok_and(|ip| forward_as_is(ip.total_len(), ip.dont_frag(), mtu));
        if as_is {
            // A fragment that follows the rest of its datagram here
            // (`frag_order`): forwarded as it is.
            let v = process_fragment(&self.ctx, &self.lookup, &mut self.state, rx, &mut *m);
            return self.dispatch(m, v, now);
        }
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
        let (arp, _, mut tx) = self.arp_parts();
        arp.shutdown(&mut tx);
        while let Some(o) = self.outgoing.pop() {
            if o.received {
                self.state.counters.dropped(DropReason::TxFull);
            }
        }
    }
}

/// Whether a frame punted as `Punt(Fragment)` goes on as it is rather
/// than cut to `mtu`: it fits, or it has DF set, which a worker punts only
/// as a fragment following its datagram (`frag_order`) once it passed the
/// MTU of its real way out, which may be larger than `mtu` (DirectRouting
/// on a 1500-byte underlay with a 1450-byte tunnel). Its way is checked
/// again on the way out, with a fragmentation-needed if it does not fit.
fn forward_as_is(total: u16, dont_frag: bool, mtu: u16) -> bool {
    total <= mtu || dont_frag
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testing::{self, ACCESS_IP, ACCESS_MAC, HOST_IP, UNDERLAY_IP};
    use crate::table::{NeighborPort, NeighborReaders};

    #[test]
    fn a_punted_frame_is_cut_only_when_too_big_and_free_to_be() {
        assert!(forward_as_is(1450, false, 1450));
        assert!(!forward_as_is(1451, false, 1450));
        // DF set: a follower that passed its way out's MTU (1500 on the
        // underlay by DirectRouting), never cut.
        assert!(forward_as_is(1480, true, 1450));
    }

    /// An ARP request the resolver queued.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Req {
        side: Side,
        target: u32,
        dst: MacAddr,
    }

    /// A released frame (frames are numbers here), the MAC filled in, and
    /// whether a worker could see the neighbour when it was queued.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Released {
        frame: u32,
        mac: MacAddr,
        visible: bool,
    }

    /// The resolver's way out in these tests: what it queues is recorded;
    /// requests are refused once `room` is used up (a full queue).
    struct Rec {
        requests: Vec<Req>,
        released: Vec<Released>,
        lost: usize,
        room: usize,
        readers: NeighborReaders,
        /// The ports whose address a gratuitous ARP defended.
        announced: Vec<Side>,
    }

    impl ArpIo<u32> for Rec {
        fn request(&mut self, side: Side, target: u32, dst: MacAddr) -> bool {
            if self.room == 0 {
                return false;
            }
            self.room -= 1;
            self.requests.push(Req { side, target, dst });
            true
        }
        fn release(&mut self, side: Side, next_hop: u32, frame: u32, mac: MacAddr, _: bool) {
            // What a worker's reader shows at this moment.
            self.readers.refresh();
            let visible = self.readers.get(side_port(side), next_hop).is_some();
            self.released.push(Released {
                frame,
                mac,
                visible,
            });
        }
        fn lose(&mut self, _: bool) {
            self.lost += 1;
        }
        fn announce(&mut self, side: Side) -> bool {
            self.announced.push(side);
            true
        }
    }

    /// The resolver with the test gateway's context, its tables, and an
    /// injectable clock (`at`), as `SlowPath::poll` is given its time.
    struct Fixture {
        ctx: Context,
        arp: Resolver<u32>,
        nb: NeighborTables,
        io: Rec,
        t0: Instant,
    }

    impl Fixture {
        fn new() -> Fixture {
            let (nb, readers) = NeighborTables::new(4096);
            Fixture {
                ctx: testing::context(),
                arp: Resolver::new(HOLD_TOTAL),
                nb,
                io: Rec {
                    requests: Vec::new(),
                    released: Vec::new(),
                    lost: 0,
                    room: usize::MAX,
                    readers,
                    announced: Vec::new(),
                },
                t0: Instant::now(),
            }
        }
        fn at(&self, ms: u64) -> Instant {
            self.t0 + Duration::from_millis(ms)
        }
        fn hold(&mut self, frame: u32, side: Side, ip: Ipv4Addr, ms: u64) {
            let now = self.at(ms);
            let ip = u32::from(ip);
            self.arp
                .hold(&self.nb, &mut self.io, frame, side, ip, false, now);
        }
        fn arp(&mut self, side: Side, r: arp::Repr, ms: u64) {
            let now = self.at(ms);
            self.arp
                .merge_arp(&self.ctx, &mut self.nb, &mut self.io, side, &r, now);
        }
        fn age(&mut self, ms: u64) {
            let now = self.at(ms);
            self.arp.age(&mut self.nb, &mut self.io, now);
        }
        fn mac(&self, side: Side, ip: Ipv4Addr) -> Option<MacAddr> {
            self.nb
                .get(side_port(side), u32::from(ip))
                .map(|e| MacAddr(e.mac))
        }
    }

    fn mac(i: u32) -> MacAddr {
        let b = i.to_be_bytes();
        MacAddr([0x02, 0x10, b[0], b[1], b[2], b[3]])
    }

    /// `from`'s ARP reply to our access address.
    fn reply_to_us(from: (MacAddr, Ipv4Addr)) -> arp::Repr {
        arp::Repr {
            operation: arp::Operation::Reply,
            sender_mac: from.0,
            sender_ip: from.1,
            target_mac: ACCESS_MAC,
            target_ip: ACCESS_IP,
        }
    }

    /// A broadcast request from `from` for `target`.
    fn request(from: (MacAddr, Ipv4Addr), target: Ipv4Addr) -> arp::Repr {
        arp::Repr {
            operation: arp::Operation::Request,
            sender_mac: from.0,
            sender_ip: from.1,
            target_mac: MacAddr::ZERO,
            target_ip: target,
        }
    }

    /// Linux's locktime: of two replies to our broadcast request, 500 ms
    /// apart, the first wins; a reply at the known MAC confirms; another
    /// MAC 1.5 s after the entry was set is installed; a gratuitous ARP
    /// (sender address == target address) with a new MAC is applied at
    /// once, and so is a request for our address (the host asks us from
    /// its new MAC: Linux's `neigh_event_ns` overrides the lock); a
    /// request for another host from another MAC within the lock time is
    /// ignored as a reply is.
    #[test]
    fn the_first_arp_reply_wins_for_a_second_unless_gratuitous() {
        let mut f = Fixture::new();
        let (h, a) = (HOST_IP, Side::Access);
        f.hold(1, a, h, 0);
        assert_eq!(
            f.io.requests,
            [Req {
                side: a,
                target: u32::from(h),
                dst: MacAddr::BROADCAST
            }]
        );
        f.arp(a, reply_to_us((mac(1), h)), 0);
        assert_eq!(f.mac(a, h), Some(mac(1)), "learned from the first reply");
        f.arp(a, reply_to_us((mac(2), h)), 500);
        assert_eq!(f.mac(a, h), Some(mac(1)), "a second reply 500 ms later");
        assert_eq!(f.arp.locked_changes, 1);
        f.arp(a, reply_to_us((mac(1), h)), 700);
        let port = NeighborPort::Access;
        assert_eq!(f.nb.confirmed_at(port, u32::from(h)), Some(f.at(700)));
        f.arp(a, reply_to_us((mac(2), h)), 1500);
        assert_eq!(f.mac(a, h), Some(mac(2)), "after the lock time");
        f.arp(a, request((mac(3), h), h), 1600);
        assert_eq!(f.mac(a, h), Some(mac(3)), "gratuitous: at once");
        let other = Ipv4Addr::new(10, 244, 255, 77);
        f.arp(a, request((mac(4), h), other), 1700);
        assert_eq!(
            f.mac(a, h),
            Some(mac(3)),
            "a request for another host within the lock"
        );
        assert_eq!(f.arp.locked_changes, 2);
        f.arp(a, request((mac(4), h), other), 2600);
        assert_eq!(f.mac(a, h), Some(mac(4)), "a request after it");
        assert_eq!(f.arp.locked_changes, 2);
        // The host changes its MAC twice within a second and asks us from
        // each new one: both are taken at once.
        f.arp(a, request((mac(5), h), ACCESS_IP), 2700);
        assert_eq!(f.mac(a, h), Some(mac(5)), "a request for us: at once");
        f.arp(a, request((mac(6), h), ACCESS_IP), 2800);
        assert_eq!(f.mac(a, h), Some(mac(6)), "again within the lock");
        assert_eq!(f.arp.locked_changes, 2);
    }

    /// ARPs claiming our address from 100 MACs within a minute: one line
    /// (the key is the port and the address, not the MAC); the next after
    /// a minute; the other port's address has its own line. Nothing is
    /// learned.
    #[test]
    fn address_conflicts_log_once_a_minute_whatever_the_mac() {
        let mut f = Fixture::new();
        for i in 0..100u32 {
            f.arp(
                Side::Access,
                request((mac(i), ACCESS_IP), ACCESS_IP),
                u64::from(i) * 500,
            );
        }
        assert_eq!(f.arp.conflicts_logged, 1);
        f.arp(Side::Access, reply_to_us((mac(100), ACCESS_IP)), 59_999);
        assert_eq!(f.arp.conflicts_logged, 1);
        f.arp(Side::Access, reply_to_us((mac(101), ACCESS_IP)), 60_000);
        assert_eq!(f.arp.conflicts_logged, 2, "a minute later");
        let other = request((mac(102), UNDERLAY_IP), UNDERLAY_IP);
        f.arp(Side::Underlay, other, 60_001);
        assert_eq!(f.arp.conflicts_logged, 3, "the underlay address");
        assert!(f.nb.is_empty());
    }

    /// A claim of our address is answered by one gratuitous ARP, then no
    /// other for 10 s on that port, whatever the claims, but one when the
    /// 10 s are over if a claim came meanwhile; each port on its own.
    #[test]
    fn a_claim_of_our_address_is_defended_once_per_ten_seconds() {
        let mut f = Fixture::new();
        for i in 0..20u32 {
            f.arp(
                Side::Access,
                request((mac(i), ACCESS_IP), ACCESS_IP),
                u64::from(i) * 400,
            );
        }
        assert_eq!(f.io.announced, vec![Side::Access], "one in the first 8 s");
        f.arp(Side::Access, reply_to_us((mac(30), ACCESS_IP)), 9_999);
        assert_eq!(f.io.announced.len(), 1);
        f.arp(Side::Access, reply_to_us((mac(31), ACCESS_IP)), 10_000);
        assert_eq!(f.io.announced, vec![Side::Access, Side::Access]);
        let other = request((mac(32), UNDERLAY_IP), UNDERLAY_IP);
        f.arp(Side::Underlay, other, 10_001);
        assert_eq!(
            f.io.announced,
            vec![Side::Access, Side::Access, Side::Underlay]
        );
        // Nothing deferred: the claims of the first 8 s were answered at
        // 10 s by the one then.
        f.age(20_000);
        assert_eq!(f.io.announced.len(), 3);
        // A claim within the interval is answered once it is over (at the
        // next one-second tick), whatever came in between.
        f.arp(Side::Access, reply_to_us((mac(33), ACCESS_IP)), 22_000);
        f.arp(Side::Access, reply_to_us((mac(34), ACCESS_IP)), 25_000);
        assert_eq!(f.io.announced.len(), 4, "22 s: 12 s after the last");
        f.arp(Side::Access, reply_to_us((mac(35), ACCESS_IP)), 26_000);
        f.age(31_999);
        assert_eq!(f.io.announced.len(), 4);
        f.age(32_000);
        assert_eq!(f.io.announced.len(), 5, "the deferred one");
        assert_eq!(f.io.announced[4], Side::Access);
        f.age(60_000);
        assert_eq!(f.io.announced.len(), 5, "one, not one a second");
        // Our own frames looped back, and other hosts' ARP, claim nothing.
        f.arp(
            Side::Access,
            request((ACCESS_MAC, ACCESS_IP), ACCESS_IP),
            70_000,
        );
        f.arp(Side::Access, request((mac(40), HOST_IP), ACCESS_IP), 70_001);
        f.age(90_000);
        assert_eq!(f.io.announced.len(), 5);
    }

    /// Frames held for a neighbour are queued, in order and to the MAC of
    /// its reply, before the neighbour becomes visible to the workers.
    #[test]
    fn held_frames_are_queued_before_the_neighbour_is_visible() {
        let mut f = Fixture::new();
        let (h, a) = (HOST_IP, Side::Access);
        for frame in 1..=3 {
            f.hold(frame, a, h, 0);
        }
        assert_eq!(f.io.requests.len(), 1, "one request");
        f.arp(a, reply_to_us((mac(1), h)), 10);
        let want: Vec<Released> = (1..=3)
            .map(|frame| Released {
                frame,
                mac: mac(1),
                visible: false,
            })
            .collect();
        assert_eq!(f.io.released, want);
        f.io.readers.refresh();
        assert!(f
            .io
            .readers
            .get(NeighborPort::Access, u32::from(h))
            .is_some());
        assert_eq!(f.arp.pending.len(), 0);
        assert_eq!(f.arp.held_total, 0);
        // Later frames go out at once.
        f.hold(4, a, h, 20);
        assert_eq!(f.io.released.len(), 4);
        assert_eq!(f.io.lost, 0);
    }

    /// Refresh ages are 0.5-1.5 times NEIGHBOR_REFRESH, spread over
    /// addresses in a row, and the forget age is the last probe plus one
    /// probe interval.
    #[test]
    fn refresh_ages_are_spread_around_the_base() {
        let base = 0xac1c_0000u32;
        let ages: Vec<Duration> = (0..2000).map(|i| refresh_age(base + i)).collect();
        let (lo, hi) = (NEIGHBOR_REFRESH / 2, NEIGHBOR_REFRESH * 3 / 2);
        assert!(ages.iter().all(|&a| lo <= a && a < hi));
        // Every 5 s bucket of the 60 s spread is used, none by a tenth.
        let mut buckets = [0u32; 12];
        for a in &ages {
            buckets[((a.as_millis() - lo.as_millis()) / 5000) as usize] += 1;
        }
        assert!(buckets.iter().all(|&n| n > 0 && n < 200), "{buckets:?}");
        let ip = base + 7;
        assert_eq!(
            forget_age(ip),
            refresh_age(ip) + NEIGHBOR_PROBE * NEIGHBOR_PROBES
        );
    }

    /// 2000 neighbours learned at one instant, aged every second: their
    /// refresh probes are spread over many ticks; each is asked three
    /// times, NEIGHBOR_PROBE apart, first unicast to its MAC, then by
    /// broadcast, and forgotten NEIGHBOR_PROBE after the last probe.
    #[test]
    fn refresh_probes_are_spread_and_unicast_first() {
        let mut f = Fixture::new();
        let base = 0xac1c_0000u32; // 172.28.0.0/16, the underlay's link here
        let n = 2000u32;
        for i in 0..n {
            f.nb.learn(NeighborPort::Underlay, base + i, mac(i).0, f.t0);
        }
        let mut per_tick = Vec::new();
        let mut probes: HashMap<u32, Vec<(u64, MacAddr)>> = HashMap::new();
        for s in 1..=130u64 {
            f.age(s * 1000);
            per_tick.push(f.io.requests.len());
            for r in f.io.requests.drain(..) {
                assert_eq!(r.side, Side::Underlay);
                probes.entry(r.target).or_default().push((s, r.dst));
            }
        }
        let busiest = per_tick.iter().max().copied().unwrap_or(0);
        let ticks_used = per_tick.iter().filter(|&&c| c > 0).count();
        assert!(busiest < 200, "at most a tenth in one tick: {busiest}");
        assert!(ticks_used >= 60, "over many ticks: {ticks_used}");
        assert_eq!(probes.len(), n as usize, "every neighbour asked");
        for i in 0..n {
            let ip = base + i;
            let first = refresh_age(ip).as_millis().div_ceil(1000) as u64;
            let want = [
                (first, mac(i)),
                (first + 10, MacAddr::BROADCAST),
                (first + 20, MacAddr::BROADCAST),
            ];
            assert_eq!(probes[&ip], want, "neighbour {i}");
        }
        assert_eq!(f.nb.len(NeighborPort::Underlay), 0, "all forgotten");
    }

    /// A refresh probe that could not be queued is not noted as asked: it
    /// is tried again at the next tick (still unicast), and then not again
    /// until NEIGHBOR_PROBE later.
    #[test]
    fn a_refresh_probe_that_could_not_be_queued_is_retried() {
        let mut f = Fixture::new();
        let (h, a) = (HOST_IP, Side::Access);
        f.nb.learn(NeighborPort::Access, u32::from(h), mac(1).0, f.t0);
        let due = refresh_age(u32::from(h)).as_millis() as u64;
        f.io.room = 0;
        f.age(due);
        assert!(f.io.requests.is_empty(), "the queue was full");
        f.io.room = usize::MAX;
        f.age(due + 1000);
        let probe = Req {
            side: a,
            target: u32::from(h),
            dst: mac(1),
        };
        assert_eq!(f.io.requests, [probe], "retried, unicast");
        f.age(due + 2000);
        f.age(due + 9000);
        assert_eq!(f.io.requests.len(), 1, "not at every tick");
        f.age(due + 10_000);
        assert_eq!(f.io.requests.len(), 2);
        assert_eq!(f.io.requests[1].dst, MacAddr::BROADCAST);
        // The reply to it confirms the neighbour: no more probes.
        f.arp(a, reply_to_us((mac(1), h)), due + 10_100);
        f.age(due + 20_000);
        assert_eq!(f.io.requests.len(), 2);
        assert_eq!(f.mac(a, h), Some(mac(1)));
    }
}
