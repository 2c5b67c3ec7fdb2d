//! The resolver's test fixture: its way out recorded (`Rec`), the test
//! gateway's context and tables, and an injectable clock, shared by the
//! tests of `resolver` and its modules.
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::{ArpIo, Resolver, HOLD_TOTAL};
use crate::pipeline::context::Context;
use crate::pipeline::tables::side_port;
use crate::pipeline::testing::{self, ACCESS_IP, ACCESS_MAC};
use crate::pipeline::verdict::Side;
use crate::table::{NeighborReaders, NeighborTables};
use crate::wire::{arp, MacAddr};

/// An ARP request the resolver queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Req {
    pub(super) side: Side,
    pub(super) target: u32,
    pub(super) dst: MacAddr,
}

/// A released frame (frames are numbers here), the MAC filled in, and
/// whether a worker could see the neighbour when it was queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Released {
    pub(super) frame: u32,
    pub(super) mac: MacAddr,
    pub(super) visible: bool,
}

/// The resolver's way out in these tests: what it queues is recorded;
/// requests are refused once `room` is used up (a full queue).
pub(super) struct Rec {
    pub(super) requests: Vec<Req>,
    pub(super) released: Vec<Released>,
    pub(super) lost: usize,
    pub(super) room: usize,
    pub(super) readers: NeighborReaders,
    /// The ports whose address a gratuitous ARP defended.
    pub(super) announced: Vec<Side>,
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
pub(super) struct Fixture {
    pub(super) ctx: Context,
    pub(super) arp: Resolver<u32>,
    pub(super) nb: NeighborTables,
    pub(super) io: Rec,
    pub(super) t0: Instant,
}

impl Fixture {
    pub(super) fn new() -> Fixture {
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
    pub(super) fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }
    pub(super) fn hold(&mut self, frame: u32, side: Side, ip: Ipv4Addr, ms: u64) {
        let now = self.at(ms);
        let ip = u32::from(ip);
        self.arp
            .hold(&self.nb, &mut self.io, frame, side, ip, false, now);
    }
    pub(super) fn arp(&mut self, side: Side, r: arp::Repr, ms: u64) {
        let now = self.at(ms);
        self.arp
            .merge_arp(&self.ctx, &mut self.nb, &mut self.io, side, &r, now);
    }
    pub(super) fn age(&mut self, ms: u64) {
        let now = self.at(ms);
        self.arp.age(&mut self.nb, &mut self.io, now);
    }
    pub(super) fn mac(&self, side: Side, ip: Ipv4Addr) -> Option<MacAddr> {
        self.nb
            .get(side_port(side), u32::from(ip))
            .map(|e| MacAddr(e.mac))
    }
}

pub(super) fn mac(i: u32) -> MacAddr {
    let b = i.to_be_bytes();
    MacAddr([0x02, 0x10, b[0], b[1], b[2], b[3]])
}

/// `from`'s ARP reply to our access address.
pub(super) fn reply_to_us(from: (MacAddr, Ipv4Addr)) -> arp::Repr {
    arp::Repr {
        operation: arp::Operation::Reply,
        sender_mac: from.0,
        sender_ip: from.1,
        target_mac: ACCESS_MAC,
        target_ip: ACCESS_IP,
    }
}

/// A broadcast request from `from` for `target`.
pub(super) fn request(from: (MacAddr, Ipv4Addr), target: Ipv4Addr) -> arp::Repr {
    arp::Repr {
        operation: arp::Operation::Request,
        sender_mac: from.0,
        sender_ip: from.1,
        target_mac: MacAddr::ZERO,
        target_ip: target,
    }
}
