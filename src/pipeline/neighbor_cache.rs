//! A per-burst cache of neighbour answers for the fast paths, so that a
//! burst to one or a few next hops looks each up once.

use super::lookup::Lookup;
use super::verdict::Side;
use crate::wire::MacAddr;

/// Neighbour answers within one burst, for the fast paths: most packets
/// of a burst go to one or a few next hops. Four entries indexed by the
/// address's low bits; only hits are kept (a miss takes the full path,
/// which holds the packet). Lives for one burst, so it is never staler
/// than the burst itself.
pub(crate) struct NeighborCache {
    side: Side,
    /// `ips[i]` resolved to `macs[i]`, the address with bit 32 set (so an
    /// empty entry, 0, matches no address: one compare per hit).
    ips: [u64; 4],
    macs: [MacAddr; 4],
}

impl NeighborCache {
    #[inline(always)]
    pub(crate) fn new(side: Side) -> NeighborCache {
        NeighborCache {
            side,
            ips: [0; 4],
            macs: [MacAddr::ZERO; 4],
        }
    }

    #[inline(always)]
    pub(crate) fn get<L: Lookup>(&mut self, lookup: &L, ip: u32) -> Option<MacAddr> {
        let i = (ip & 3) as usize;
        let key = u64::from(ip) | 1 << 32;
        if self.ips[i] == key {
            return Some(self.macs[i]);
        }
        let mac = lookup.neighbor(self.side, ip)?;
        self.ips[i] = key;
        self.macs[i] = mac;
        Some(mac)
    }
}
