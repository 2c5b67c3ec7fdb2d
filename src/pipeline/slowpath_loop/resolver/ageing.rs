//! Ageing learned neighbours: each is refreshed at its own age (0.5-1.5
//! times `NEIGHBOR_REFRESH`, spread by its address), probed first unicast
//! then by broadcast, and forgotten when it does not answer.
use std::time::{Duration, Instant};

use super::{ArpIo, Resolver, LATE_REPLY};
use crate::pipeline::tables::side_port;
use crate::pipeline::verdict::Side;
use crate::table::NeighborTables;
use crate::wire::MacAddr;

/// Refresh a learned neighbour (ARP request) when it is this old, on
/// average: each neighbour's own age is 0.5-1.5 times this
/// (`refresh_age`)...
pub const NEIGHBOR_REFRESH: Duration = Duration::from_secs(60);
/// ...asking again this often until it answers (`NEIGHBOR_PROBES` probes,
/// the first unicast to its known MAC, the others broadcast)...
pub const NEIGHBOR_PROBE: Duration = Duration::from_secs(10);
/// Requests sent to a stale neighbour before it is forgotten.
pub const NEIGHBOR_PROBES: u32 = 3;

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

impl<F> Resolver<F> {
    /// Forgets the silent neighbours (at `forget_age`) and asks stale ones
    /// (from `refresh_age`) to confirm themselves, once per
    /// `NEIGHBOR_PROBE`: first unicast to the MAC we know (Linux's
    /// `NUD_PROBE`), then broadcast. A probe that could not be queued is
    /// not noted as asked, so it is tried again at the next tick.
    pub(crate) fn age(
        &mut self,
        neighbors: &mut NeighborTables,
        io: &mut impl ArpIo<F>,
        now: Instant,
    ) {
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
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;
    use crate::pipeline::testing::HOST_IP;
    use crate::table::NeighborPort;
    use std::collections::HashMap;

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
