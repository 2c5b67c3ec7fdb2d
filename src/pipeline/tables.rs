//! The pipeline's `Lookup` on the lockless tables: one value per worker,
//! holding its own readers (refreshed at burst boundaries).
use super::lookup::{Lease, Lookup, VtepMatch};
use super::verdict::Side;
use crate::table::{LeaseEntry, LeaseReaders, NeighborReaders, BULK};
use crate::wire::MacAddr;
use std::net::Ipv4Addr;

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
    fn leases_bulk(&self, subnets: &[u32], out: &mut [Option<Lease>]) {
        let mut raw = [None; BULK];
        for (keys, outs) in subnets.chunks(BULK).zip(out.chunks_mut(BULK)) {
            let n = keys.len().min(outs.len());
            self.leases.leases.get_bulk(&keys[..n], &mut raw[..n]);
            for (o, r) in outs.iter_mut().zip(&raw[..n]) {
                *o = r.map(to_lease);
            }
        }
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
    fn vtep_match_bulk(&self, ips: &[u32], macs: &[MacAddr], out: &mut [VtepMatch]) {
        let mut found = [None; BULK];
        for ((ips, macs), outs) in ips
            .chunks(BULK)
            .zip(macs.chunks(BULK))
            .zip(out.chunks_mut(BULK))
        {
            let n = ips.len().min(macs.len()).min(outs.len());
            self.leases.vteps.get_bulk(&ips[..n], &mut found[..n]);
            for ((o, f), mac) in outs.iter_mut().zip(&found[..n]).zip(macs) {
                *o = match f {
                    None => VtepMatch::UnknownVtep,
                    Some(m) if m.contains(&mac.0) => VtepMatch::Ok,
                    Some(_) => VtepMatch::WrongMac,
                };
            }
        }
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
