//! The pipeline's `Lookup` on the lockless tables: one value per worker,
//! holding its own readers (refreshed at burst boundaries).
use super::lookup::{Lease, Lookup, VtepMatch};
use super::verdict::Side;
use crate::table::{LeaseEntry, LeaseReaders, NeighborReaders, Packed, Reader, VtepMacs, BULK};
use crate::wire::MacAddr;
use std::net::Ipv4Addr;

// The pipeline's bursts are the tables' bulk-lookup unit.
const _: () = assert!(BULK == super::classify::BURST);

pub struct TableLookup {
    pub leases: LeaseReaders,
    pub neighbors: NeighborReaders,
}

impl TableLookup {
    /// Registers the calling thread with the tables' arc-swap (a one-time
    /// allocation per thread, shared by every table): one load of a table
    /// does it. A worker calls this on its lcore before its loop.
    pub fn attach_thread(&mut self) {
        self.leases.leases.reload();
    }

    /// Picks up tables the writer rebuilt (a quiescent point: call between bursts).
    #[inline]
    pub fn refresh(&mut self) {
        self.leases.refresh();
        self.neighbors.refresh();
    }
}

#[inline(always)]
fn to_lease(e: LeaseEntry) -> Lease {
    Lease {
        public_ip: Ipv4Addr::from(e.public_ip),
        vtep_mac: MacAddr(e.vtep_mac),
    }
}

impl Lookup for TableLookup {
    #[inline]
    fn lease(&self, subnet: u32) -> Option<Lease> {
        self.leases.lease(subnet).map(to_lease)
    }

    #[inline]
    fn leases_masked(&self, keys: &[u32; BULK], want: u32, out: &mut [Lease; BULK]) -> u32 {
        fill_masked(&self.leases.leases, keys, want, out, to_lease)
    }

    #[inline]
    fn vtep_match(&self, public_ip: u32, mac: MacAddr) -> VtepMatch {
        match self.leases.vtep_macs(public_ip) {
            None => VtepMatch::UnknownVtep,
            Some(m) if m.contains(&mac.0) => VtepMatch::Ok,
            Some(_) => VtepMatch::WrongMac,
        }
    }

    #[inline]
    fn vteps_ok_masked(&self, ips: &[u32; BULK], macs: &[u64; BULK], want: u32) -> u32 {
        let mut ok = 0;
        self.leases.vteps.get_masked_words(ips, want, |i, w| {
            if VtepMacs::packed_contains(w, macs[i]) {
                ok |= 1 << i;
            }
        });
        ok
    }

    #[inline]
    fn neighbor(&self, side: Side, ip: u32) -> Option<MacAddr> {
        self.neighbors
            .port(side_port(side))
            .get(ip)
            .map(|n| MacAddr(n.mac))
    }

    #[inline]
    fn neighbors_masked(
        &self,
        side: Side,
        ips: &[u32; BULK],
        want: u32,
        out: &mut [MacAddr; BULK],
    ) -> u32 {
        let port = self.neighbors.port(side_port(side));
        fill_masked(port, ips, want, out, |n| MacAddr(n.mac))
    }
}

/// A masked lookup into `out` through the table's bulk read
/// (`Reader::get_masked`); returns the bits found.
#[inline(always)]
fn fill_masked<V: Packed, T>(
    table: &Reader<V>,
    keys: &[u32; BULK],
    want: u32,
    out: &mut [T; BULK],
    convert: impl Fn(V) -> T,
) -> u32 {
    let mut found = 0;
    table.get_masked(keys, want, |i, v| {
        out[i] = convert(v);
        found |= 1 << i;
    });
    found
}

/// The neighbour table of a port.
pub fn side_port(side: Side) -> crate::table::NeighborPort {
    match side {
        Side::Underlay => crate::table::NeighborPort::Underlay,
        Side::Access => crate::table::NeighborPort::Access,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::classify::BURST;
    use crate::table::{LeaseTables, NeighborPort, NeighborTables};
    use rand::{rngs::StdRng, Rng, SeedableRng};
    use std::time::Instant;

    /// The bulk lookups the fast paths make give, bit by bit, what the
    /// single lookups give on the real tables (present and absent keys,
    /// any mask), and leave the other entries of `out` alone.
    #[test]
    fn masked_lookups_match_single_lookups_on_the_real_tables() {
        let mut rng = StdRng::seed_from_u64(6);
        let (mut leases, lr) = LeaseTables::new(64);
        let (mut neighbors, nr) = NeighborTables::new(64);
        let mac = |i: u32| [0x02, 0, 0, 0, (i >> 8) as u8, i as u8];
        // Leases 10.244.i.0/24 on VTEPs 100.64.0.(i % 50) (several leases
        // per VTEP); every other VTEP resolved on the underlay, every third
        // host on the access side.
        for i in 0..200u32 {
            let vtep = 0x6440_0000 + i % 50;
            leases.upsert_lease(0x0af4_0000 | i << 8, vtep, mac(i % 50));
            if i % 2 == 0 {
                neighbors.learn(NeighborPort::Underlay, vtep, mac(1000 + i), Instant::now());
            }
            if i % 3 == 0 {
                neighbors.learn(
                    NeighborPort::Access,
                    0x0af4_ff00 + i,
                    mac(2000 + i),
                    Instant::now(),
                );
            }
        }
        let mut lk = TableLookup {
            leases: lr,
            neighbors: nr,
        };
        lk.refresh();
        let mut hits = [0u32; 4];
        for _ in 0..200 {
            let want: u32 = rng.gen();
            let subnets: [u32; BURST] =
                std::array::from_fn(|_| 0x0af4_0000 | rng.gen_range(0..260u32) << 8);
            let vteps: [u32; BURST] =
                std::array::from_fn(|_| 0x6440_0000 + rng.gen_range(0..60u32));
            // The VTEP's own MAC half of the time, another one otherwise.
            let vtep_macs: [u64; BURST] = std::array::from_fn(|i| {
                let own = vteps[i] - 0x6440_0000;
                MacAddr(mac(if rng.gen() { own } else { rng.gen_range(0..60) })).to_word()
            });
            let hosts: [u32; BURST] =
                std::array::from_fn(|_| 0x0af4_ff00 + rng.gen_range(0..256u32));

            // Sentinels: where a key is not asked for or not found, `out`
            // keeps them.
            let lease_sentinel = Lease {
                public_ip: std::net::Ipv4Addr::new(203, 0, 113, 99),
                vtep_mac: MacAddr([0xee; 6]),
            };
            let mac_sentinel = MacAddr([0xdd; 6]);
            let mut out = [lease_sentinel; BURST];
            let found = lk.leases_masked(&subnets, want, &mut out);
            let vtep_ok = lk.vteps_ok_masked(&vteps, &vtep_macs, want);
            let mut hops = [mac_sentinel; BURST];
            let resolved = lk.neighbors_masked(Side::Underlay, &vteps, want, &mut hops);
            let mut host_macs = [mac_sentinel; BURST];
            let hosts_found = lk.neighbors_masked(Side::Access, &hosts, want, &mut host_macs);
            for (h, m) in hits.iter_mut().zip([found, vtep_ok, resolved, hosts_found]) {
                *h += m.count_ones();
            }
            for i in 0..BURST {
                let asked = want >> i & 1 == 1;
                let bit = |m: u32| m >> i & 1 == 1;
                let single = lk.lease(subnets[i]).filter(|_| asked);
                assert_eq!(bit(found), single.is_some(), "lease {i}");
                assert_eq!(out[i], single.unwrap_or(lease_sentinel), "lease {i}");
                let ok = asked
                    && lk.vtep_match(vteps[i], MacAddr::from_word(vtep_macs[i])) == VtepMatch::Ok;
                assert_eq!(bit(vtep_ok), ok, "vtep {i}");
                let hop = lk.neighbor(Side::Underlay, vteps[i]).filter(|_| asked);
                assert_eq!(bit(resolved), hop.is_some(), "next hop {i}");
                assert_eq!(hops[i], hop.unwrap_or(mac_sentinel), "next hop {i}");
                let host = lk.neighbor(Side::Access, hosts[i]).filter(|_| asked);
                assert_eq!(bit(hosts_found), host.is_some(), "host {i}");
                assert_eq!(host_macs[i], host.unwrap_or(mac_sentinel), "host {i}");
            }
        }
        // Each lookup found keys, and missed others.
        assert!(hits.iter().all(|&h| h > 100 && h < 200 * 16), "{hits:?}");
    }
}
