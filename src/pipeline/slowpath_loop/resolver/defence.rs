//! Another host claiming one of our addresses: nothing is learned, the
//! operator is told (at most once a minute per port and address), and the
//! address is defended with a gratuitous ARP at most once per
//! `DEFEND_INTERVAL` a port (RFC 5227).
use std::time::{Duration, Instant};

use super::{ArpIo, Resolver};
use crate::pipeline::verdict::Side;
use crate::wire::arp;

/// A claim of one of our addresses is answered by a gratuitous ARP at most
/// this often a port (RFC 5227's DEFEND_INTERVAL).
pub const DEFEND_INTERVAL: Duration = Duration::from_secs(10);

/// The index of `side` in `Resolver::defended` and `defence_due`.
fn defence_slot(side: Side) -> usize {
    match side {
        Side::Underlay => 0,
        Side::Access => 1,
    }
}

impl<F> Resolver<F> {
    /// Another host claims one of our addresses: nothing is learned, and
    /// the operator is told, at most once a minute per port and address
    /// (whatever MACs the claims come from; the line names the latest).
    pub(super) fn address_conflict(&mut self, side: Side, r: &arp::Repr, now: Instant) {
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
    pub(super) fn defend(&mut self, io: &mut impl ArpIo<F>, side: Side, now: Instant) {
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
    pub(super) fn defend_due(&mut self, io: &mut impl ArpIo<F>, now: Instant) {
        for side in [Side::Underlay, Side::Access] {
            if self.defence_due[defence_slot(side)] {
                self.defend(io, side, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;
    use crate::pipeline::testing::{ACCESS_IP, ACCESS_MAC, HOST_IP, UNDERLAY_IP};

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
}
