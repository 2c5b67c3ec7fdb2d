//! What the pipeline needs from the lookup tables, independent of how the
//! tables are built (the lock-free tables implement this for the workers;
//! `testing::MapLookup` for tests).

use super::classify::BURST;
use super::verdict::Side;
use crate::wire::MacAddr;
use std::net::Ipv4Addr;

/// A remote VTEP's lease for one subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub public_ip: Ipv4Addr,
    pub vtep_mac: MacAddr,
}

impl Lease {
    /// A placeholder for arrays the lookups fill.
    pub const NONE: Lease = Lease {
        public_ip: Ipv4Addr::UNSPECIFIED,
        vtep_mac: MacAddr::ZERO,
    };
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

    /// For every bit `i` set in `want`: `out[i] = lease(keys[i])` when
    /// there is one; returns the bits of the keys found (`out` is left
    /// alone elsewhere). One call per burst; tables override it to overlap
    /// their memory accesses.
    fn leases_masked(&self, keys: &[u32; BURST], want: u32, out: &mut [Lease; BURST]) -> u32 {
        fill_masked(want, out, |i| self.lease(keys[i]))
    }

    /// Is `public_ip` (host order) a known VTEP, and is `mac` one of the
    /// VtepMACs of the leases it holds?
    fn vtep_match(&self, public_ip: u32, mac: MacAddr) -> VtepMatch;

    /// The bits `i` of `want` for which `vtep_match(ips[i], macs[i])` is
    /// `Ok`, for a whole burst, the MACs as words (`MacAddr::to_word`, as
    /// the header pass reads them); tables override it to overlap their
    /// memory accesses.
    fn vteps_ok_masked(&self, ips: &[u32; BURST], macs: &[u64; BURST], want: u32) -> u32 {
        (0..BURST)
            .filter(|&i| {
                want >> i & 1 == 1
                    && self.vtep_match(ips[i], MacAddr::from_word(macs[i])) == VtepMatch::Ok
            })
            .fold(0, |m, i| m | 1 << i)
    }

    /// The resolved MAC of `ip` (host order) on port `side`.
    fn neighbor(&self, side: Side, ip: u32) -> Option<MacAddr>;

    /// For every bit `i` set in `want`: `out[i] = neighbor(side, ips[i])`
    /// when it is resolved; returns the bits resolved (`out` is left alone
    /// elsewhere). Encap's next hops, a burst at a time; tables override
    /// it to overlap their memory accesses.
    fn neighbors_masked(
        &self,
        side: Side,
        ips: &[u32; BURST],
        want: u32,
        out: &mut [MacAddr; BURST],
    ) -> u32 {
        fill_masked(want, out, |i| self.neighbor(side, ips[i]))
    }
}

/// The one-at-a-time form of a masked lookup: `out[i] = get(i)` for every
/// bit `i` of `want` that `get` answers; returns those bits.
fn fill_masked<T>(want: u32, out: &mut [T; BURST], get: impl Fn(usize) -> Option<T>) -> u32 {
    let mut found = 0;
    for i in (0..BURST).filter(|i| want >> i & 1 == 1) {
        if let Some(v) = get(i) {
            out[i] = v;
            found |= 1 << i;
        }
    }
    found
}
