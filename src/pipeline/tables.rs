//! The pipeline's `Lookup` on the lockless tables: one value per worker,
//! holding its own readers (refreshed at burst boundaries).
use super::lookup::{Lease, Lookup, VtepMatch};
use super::verdict::Side;
use crate::table::{LeaseEntry, LeaseReaders, NeighborReaders, VtepMacs, BULK};
use crate::wire::MacAddr;
use std::net::Ipv4Addr;

// The pipeline's bursts are the tables' bulk-lookup unit.
const _: () = assert!(BULK == super::classify::BURST);

pub struct TableLookup {
    pub leases: LeaseReaders,
    pub neighbors: NeighborReaders,
}

impl TableLookup {
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
        let mut found = 0;
        self.leases.leases.get_masked(keys, want, |i, e| {
            out[i] = to_lease(e);
            found |= 1 << i;
        });
        found
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
        let r = match side {
            Side::Underlay => &self.neighbors.underlay,
            Side::Access => &self.neighbors.access,
        };
        r.get(ip).map(|n| MacAddr(n.mac))
    }
}

/// The neighbour table of a port.
pub fn side_port(side: Side) -> crate::table::NeighborPort {
    match side {
        Side::Underlay => crate::table::NeighborPort::Underlay,
        Side::Access => crate::table::NeighborPort::Access,
    }
}
