//! What the pipeline needs from the lookup tables, independent of how the
//! tables are built (the lock-free tables implement this for the workers;
//! `testing::MapLookup` for tests).

use super::verdict::Side;
use crate::wire::MacAddr;
use std::net::Ipv4Addr;

/// A remote VTEP's lease for one subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub public_ip: Ipv4Addr,
    pub vtep_mac: MacAddr,
}

/// Result of checking a VXLAN packet's outer source and inner source MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VtepMatch {
    /// The outer source is no lease's PublicIP.
    UnknownVtep,
    /// Known VTEP, but the MAC is none of its VtepMACs.
    WrongMac,
    /// Known VTEP and one of its VtepMACs.
    Ok,
}

pub trait Lookup {
    /// The lease of `subnet` (destination masked with SubnetLen, host order).
    fn lease(&self, subnet: u32) -> Option<Lease>;

    /// `out[i] = lease(subnets[i])` for a whole burst; tables override this
    /// to overlap their memory accesses. `out` is at least as long as
    /// `subnets`; extra entries are left alone.
    fn leases_bulk(&self, subnets: &[u32], out: &mut [Option<Lease>]) {
        for (s, o) in subnets.iter().zip(out.iter_mut()) {
            *o = self.lease(*s);
        }
    }

    /// Is `public_ip` (host order) a known VTEP, and is `mac` one of the
    /// VtepMACs of the leases it holds?
    fn vtep_match(&self, public_ip: u32, mac: MacAddr) -> VtepMatch;

    /// `out[i] = vtep_match(ips[i], macs[i])` for a whole burst; tables
    /// override this to overlap their memory accesses.
    fn vtep_match_bulk(&self, ips: &[u32], macs: &[MacAddr], out: &mut [VtepMatch]) {
        for ((ip, mac), o) in ips.iter().zip(macs).zip(out.iter_mut()) {
            *o = self.vtep_match(*ip, *mac);
        }
    }

    /// The resolved MAC of `ip` (host order) on port `side`.
    fn neighbor(&self, side: Side, ip: u32) -> Option<MacAddr>;
}
