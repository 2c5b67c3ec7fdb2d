//! What the resolver learns from an ARP, as Linux does with `arp_accept`
//! off: a neighbour we are resolving is created by its reply, a known one
//! updated (within `ARP_LOCKTIME` of its last change only by a gratuitous
//! ARP or a request for our address), anything else ignored; a claim of
//! our own address goes to `defence`.
use std::time::{Duration, Instant};

use super::{ArpIo, Resolver};
use crate::pipeline::context::Context;
use crate::pipeline::slowpath::is_own_mac;
use crate::pipeline::tables::side_port;
use crate::pipeline::verdict::Side;
use crate::table::NeighborTables;
use crate::wire::{arp, MacAddr};

/// A known neighbour's MAC is changed by a (non-gratuitous) ARP only when
/// it was set at least this long ago (Linux's `locktime`): of several
/// replies to one broadcast request the first wins.
pub const ARP_LOCKTIME: Duration = Duration::from_secs(1);

impl<F> Resolver<F> {
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
    pub(crate) fn merge_arp(
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

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;
    use crate::pipeline::testing::{ACCESS_IP, HOST_IP};
    use crate::table::NeighborPort;
    use std::net::Ipv4Addr;

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
}
