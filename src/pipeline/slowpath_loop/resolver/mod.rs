//! The slow path's ARP and neighbour logic (`Resolver`), generic over the
//! frame it holds and over how it sends (`ArpIo`), so that it runs in unit
//! tests without EAL. This file holds the frames for unresolved next hops
//! while it ARPs for them; beside it:
//! - `learn.rs`: what an ARP teaches (Linux's rules, `ARP_LOCKTIME`);
//! - `defence.rs`: claims of our own addresses, logged and answered;
//! - `ageing.rs`: refreshing and forgetting learned neighbours.
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::ops::logging::RateLimitedLog;
use crate::pipeline::tables::side_port;
use crate::pipeline::verdict::Side;
use crate::table::NeighborTables;
use crate::wire::MacAddr;

pub(super) mod ageing;
pub(super) mod defence;
#[cfg(test)]
mod fixture;
pub(super) mod learn;

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
/// A reply to an ARP request of ours is taken this long after the request
/// (the held frames are given up after `RESOLVE_TIMEOUT`, the host not).
pub const LATE_REPLY: Duration = Duration::from_secs(30);

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

pub(super) struct Pending<F> {
    held: VecDeque<Held<F>>,
    since: Instant,
    last_request: Instant,
}

/// The slow path's ARP state: frames held per unresolved neighbour, the
/// requests it sent, and the neighbours' refresh. The neighbour tables
/// themselves are `SlowPath::neighbors`, passed in.
pub(crate) struct Resolver<F> {
    pub(super) pending: HashMap<(Side, u32), Pending<F>>,
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
    pub(super) locked_changes: u64,
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
    pub(crate) fn hold(
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

    /// Gives up on neighbours unresolved for `RESOLVE_TIMEOUT` (their held
    /// frames lost) and asks again for the others every `ARP_RETRY`.
    pub(crate) fn expire_pending(&mut self, io: &mut impl ArpIo<F>, now: Instant) {
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

    /// Frees everything held, counted as lost.
    pub(crate) fn shutdown(&mut self, io: &mut impl ArpIo<F>) {
        let pending = std::mem::take(&mut self.pending);
        for h in pending.into_values().flat_map(|p| p.held) {
            io.lose(h.answers_drop);
        }
        self.held_total = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::*;
    use super::*;
    use crate::pipeline::testing::HOST_IP;
    use crate::table::NeighborPort;

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
}
