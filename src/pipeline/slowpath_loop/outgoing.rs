//! How the slow path's frames reach worker 0, which sends them: fresh
//! buffers from the pool, the `Outgoing` queue (a full queue counted as
//! `tx_full`), the count of held frames never sent, and the resolver's way
//! out on DPDK (`Tx`, its `ArpIo`).
use std::net::Ipv4Addr;

use super::resolver::ArpIo;
use crate::dpdk::{Mbuf, Mempool};
use crate::pipeline::context::Context;
use crate::pipeline::counters::Counters;
use crate::pipeline::drop_reason::DropReason;
use crate::pipeline::slowpath::{build_arp_request, build_gratuitous_arp, MIN_FRAME_LEN};
use crate::pipeline::verdict::Side;
use crate::pipeline::worker::{Outgoing, OutgoingQueue};
use crate::wire::MacAddr;

/// Counts a held frame that will never be sent: `no_neighbor`, unless it
/// is an ICMP error about a packet counted already.
pub(super) fn lose_held(counters: &Counters, answers_drop: bool) {
    if !answers_drop {
        counters.dropped(DropReason::NoNeighbor);
    }
}

/// Queues `m` for worker 0 to send; `received` as in `Outgoing`. `false`
/// (the frame freed, and counted `tx_full` if received) when the queue is
/// full.
pub(super) fn queue(
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
pub(super) struct Tx<'a> {
    pub(super) ctx: &'a Context,
    pub(super) pool: &'a Mempool,
    pub(super) outgoing: &'a OutgoingQueue,
    pub(super) counters: &'a Counters,
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
