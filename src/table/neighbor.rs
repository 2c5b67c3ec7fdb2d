//! IPv4 -> MAC neighbour tables, one per port.
//!
//! The slow-path thread resolves neighbours by ARP and writes them here;
//! workers only read. When an entry was last confirmed lives on the writer
//! side, so a refresh of a neighbour's age never touches a worker's cache.

use std::collections::HashMap;

use crate::wire::MacAddr;
use std::time::{Duration, Instant};

use super::map::{map, Packed, Reader, Writer};
use super::slot::WORDS;

/// The port a neighbour sits behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NeighborPort {
    Underlay,
    Access,
}

impl NeighborPort {
    pub const ALL: [NeighborPort; 2] = [NeighborPort::Underlay, NeighborPort::Access];
}

/// A resolved neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighborEntry {
    pub mac: [u8; 6],
    /// `NeighborEntry::STATIC`, ...
    pub flags: u8,
}

impl NeighborEntry {
    /// Configured (`--neighbor`): never ages out.
    pub const STATIC: u8 = 0x01;

    pub fn is_static(&self) -> bool {
        self.flags & Self::STATIC != 0
    }
}

impl Packed for NeighborEntry {
    fn pack(&self) -> [u64; WORDS] {
        // The flags ride in byte 6, above the MAC's 48 bits.
        [
            MacAddr(self.mac).to_word() | (u64::from(self.flags) << 48),
            0,
            0,
        ]
    }
    fn unpack(w: [u64; WORDS]) -> Self {
        NeighborEntry {
            mac: MacAddr::from_word(w[0]).0,
            flags: (w[0] >> 48) as u8,
        }
    }
}

/// One port's table with the confirmation times of its dynamic entries.
struct PortTable {
    map: Writer<NeighborEntry>,
    confirmed: HashMap<u32, Instant>,
}

/// The slow-path thread's side of both neighbour tables.
pub struct NeighborTables {
    underlay: PortTable,
    access: PortTable,
}

/// A worker's readers of both neighbour tables.
#[derive(Clone, Debug)]
pub struct NeighborReaders {
    pub underlay: Reader<NeighborEntry>,
    pub access: Reader<NeighborEntry>,
}

impl NeighborTables {
    /// Tables sized for `capacity_hint` neighbours per port.
    pub fn new(capacity_hint: usize) -> (Self, NeighborReaders) {
        let (u, ur) = map(capacity_hint);
        let (a, ar) = map(capacity_hint);
        let port = |map| PortTable {
            map,
            confirmed: HashMap::new(),
        };
        (
            NeighborTables {
                underlay: port(u),
                access: port(a),
            },
            NeighborReaders {
                underlay: ur,
                access: ar,
            },
        )
    }

    fn port(&self, port: NeighborPort) -> &PortTable {
        match port {
            NeighborPort::Underlay => &self.underlay,
            NeighborPort::Access => &self.access,
        }
    }

    fn port_mut(&mut self, port: NeighborPort) -> &mut PortTable {
        match port {
            NeighborPort::Underlay => &mut self.underlay,
            NeighborPort::Access => &mut self.access,
        }
    }

    /// Records a neighbour confirmed at `now` (an ARP reply or request from
    /// it). A static entry keeps its MAC: ARP does not override the config.
    /// Returns the previous entry.
    pub fn learn(
        &mut self,
        port: NeighborPort,
        ip: u32,
        mac: [u8; 6],
        now: Instant,
    ) -> Option<NeighborEntry> {
        let t = self.port_mut(port);
        let old = t.map.get(ip);
        if old.is_some_and(|e| e.is_static()) {
            return old;
        }
        t.map.insert(ip, NeighborEntry { mac, flags: 0 });
        t.confirmed.insert(ip, now);
        old
    }

    /// Installs a configured neighbour that never ages.
    pub fn set_static(
        &mut self,
        port: NeighborPort,
        ip: u32,
        mac: [u8; 6],
    ) -> Option<NeighborEntry> {
        let t = self.port_mut(port);
        t.confirmed.remove(&ip);
        t.map.insert(
            ip,
            NeighborEntry {
                mac,
                flags: NeighborEntry::STATIC,
            },
        )
    }

    /// Forgets a neighbour, static or not.
    pub fn remove(&mut self, port: NeighborPort, ip: u32) -> Option<NeighborEntry> {
        let t = self.port_mut(port);
        t.confirmed.remove(&ip);
        t.map.remove(ip)
    }

    pub fn get(&self, port: NeighborPort, ip: u32) -> Option<NeighborEntry> {
        self.port(port).map.get(ip)
    }

    /// When a dynamic neighbour was last confirmed.
    pub fn confirmed_at(&self, port: NeighborPort, ip: u32) -> Option<Instant> {
        self.port(port).confirmed.get(&ip).copied()
    }

    /// Dynamic neighbours not confirmed for `age` at `now`: the slow path
    /// sends each an ARP request to refresh it.
    pub fn stale(
        &self,
        port: NeighborPort,
        now: Instant,
        age: Duration,
    ) -> impl Iterator<Item = u32> + '_ {
        self.port(port)
            .confirmed
            .iter()
            .filter(move |(_, &t)| now.saturating_duration_since(t) >= age)
            .map(|(&ip, _)| ip)
    }

    /// Removes dynamic neighbours not confirmed for `max_age` at `now`;
    /// calls `on_expire` for each and returns how many went.
    pub fn expire(
        &mut self,
        now: Instant,
        max_age: Duration,
        mut on_expire: impl FnMut(NeighborPort, u32, NeighborEntry),
    ) -> usize {
        let mut n = 0;
        for port in NeighborPort::ALL {
            let t = self.port_mut(port);
            let map = &mut t.map;
            t.confirmed.retain(|&ip, &mut at| {
                if now.saturating_duration_since(at) < max_age {
                    return true;
                }
                if let Some(e) = map.remove(ip) {
                    on_expire(port, ip, e);
                    n += 1;
                }
                false
            });
        }
        n
    }

    /// Entries of one port as (IP, entry).
    pub fn entries(&self, port: NeighborPort) -> impl Iterator<Item = (u32, NeighborEntry)> + '_ {
        self.port(port).map.iter()
    }

    /// Number of neighbours on `port` (the `vxgate_neighbors{port}` gauge).
    pub fn len(&self, port: NeighborPort) -> usize {
        self.port(port).map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.underlay.map.is_empty() && self.access.map.is_empty()
    }

    /// New readers for one more worker.
    pub fn readers(&self) -> NeighborReaders {
        NeighborReaders {
            underlay: self.underlay.map.reader(),
            access: self.access.map.reader(),
        }
    }

    /// Frees replaced tables no worker holds; returns how many are held.
    pub fn reclaim(&mut self) -> usize {
        self.underlay.map.reclaim() + self.access.map.reclaim()
    }
}

impl std::fmt::Debug for NeighborTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NeighborTables")
            .field("underlay", &self.underlay.map)
            .field("access", &self.access.map)
            .finish()
    }
}

impl NeighborReaders {
    /// Picks up rebuilt tables; call at a burst boundary.
    #[inline]
    pub fn refresh(&mut self) {
        self.underlay.refresh();
        self.access.refresh();
    }

    #[inline]
    pub fn get(&self, port: NeighborPort, ip: u32) -> Option<NeighborEntry> {
        self.port(port).get(ip)
    }

    /// The reader of one port, for `get_bulk`.
    #[inline]
    pub fn port(&self, port: NeighborPort) -> &Reader<NeighborEntry> {
        match port {
            NeighborPort::Underlay => &self.underlay,
            NeighborPort::Access => &self.access,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC1: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
    const MAC2: [u8; 6] = [0x02, 0, 0, 0, 0, 2];
    const HOST: u32 = 0x0af4_ff0a; // 10.244.255.10
    const GW: u32 = 0xac1c_9301;

    #[test]
    fn pack_round_trips() {
        let e = NeighborEntry {
            mac: [0xfe, 1, 2, 3, 4, 0xff],
            flags: 0xa5,
        };
        assert_eq!(NeighborEntry::unpack(e.pack()), e);
    }

    #[test]
    fn ports_are_separate() {
        let (mut t, mut r) = NeighborTables::new(8);
        let now = Instant::now();
        assert_eq!(t.learn(NeighborPort::Access, HOST, MAC1, now), None);
        t.learn(NeighborPort::Underlay, GW, MAC2, now);
        r.refresh();
        assert_eq!(r.get(NeighborPort::Access, HOST).map(|e| e.mac), Some(MAC1));
        assert_eq!(r.get(NeighborPort::Underlay, HOST), None);
        assert_eq!(r.get(NeighborPort::Underlay, GW).map(|e| e.mac), Some(MAC2));
        assert_eq!(t.len(NeighborPort::Access), 1);
        assert_eq!(t.len(NeighborPort::Underlay), 1);
    }

    #[test]
    fn learning_updates_mac_and_confirmation() {
        let (mut t, r) = NeighborTables::new(8);
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(10);
        t.learn(NeighborPort::Access, HOST, MAC1, t0);
        let old = t.learn(NeighborPort::Access, HOST, MAC2, t1);
        assert_eq!(old.map(|e| e.mac), Some(MAC1));
        assert_eq!(r.get(NeighborPort::Access, HOST).map(|e| e.mac), Some(MAC2));
        assert_eq!(t.confirmed_at(NeighborPort::Access, HOST), Some(t1));
    }

    #[test]
    fn static_entries_never_age_and_resist_arp() {
        let (mut t, r) = NeighborTables::new(8);
        let t0 = Instant::now();
        t.set_static(NeighborPort::Access, HOST, MAC1);
        let kept = t.learn(NeighborPort::Access, HOST, MAC2, t0);
        assert!(kept.is_some_and(|e| e.is_static()));
        assert_eq!(t.get(NeighborPort::Access, HOST).map(|e| e.mac), Some(MAC1));
        let gone = t.expire(
            t0 + Duration::from_secs(3600),
            Duration::from_secs(60),
            |_, _, _| {},
        );
        assert_eq!(gone, 0);
        assert!(r
            .get(NeighborPort::Access, HOST)
            .is_some_and(|e| e.is_static()));
        assert_eq!(
            t.remove(NeighborPort::Access, HOST).map(|e| e.mac),
            Some(MAC1)
        );
        assert!(t.is_empty());
    }

    #[test]
    fn stale_then_expire() {
        let (mut t, r) = NeighborTables::new(8);
        let t0 = Instant::now();
        t.learn(NeighborPort::Access, HOST, MAC1, t0);
        t.learn(
            NeighborPort::Underlay,
            GW,
            MAC2,
            t0 + Duration::from_secs(50),
        );
        let now = t0 + Duration::from_secs(70);
        let stale: Vec<u32> = t
            .stale(NeighborPort::Access, now, Duration::from_secs(30))
            .collect();
        assert_eq!(stale, vec![HOST]);
        assert_eq!(
            t.stale(NeighborPort::Underlay, now, Duration::from_secs(30))
                .count(),
            0
        );

        let mut expired = Vec::new();
        let n = t.expire(now, Duration::from_secs(60), |p, ip, e| {
            expired.push((p, ip, e.mac))
        });
        assert_eq!(n, 1);
        assert_eq!(expired, vec![(NeighborPort::Access, HOST, MAC1)]);
        assert_eq!(r.get(NeighborPort::Access, HOST), None);
        assert!(r.get(NeighborPort::Underlay, GW).is_some());
        assert_eq!(t.entries(NeighborPort::Underlay).count(), 1);
    }
}
