//! IPv4 -> MAC neighbour tables, one per port.
//!
//! The slow-path thread resolves neighbours by ARP and writes them here;
//! workers only read. When an entry was last confirmed, and when its MAC
//! was last set, live on the writer side, so a refresh of a neighbour's age
//! never touches a worker's cache.

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

/// When a dynamic entry was last confirmed (an ARP from it at its MAC),
/// and when its MAC was last set (created or changed: Linux's
/// `neigh->updated`, which the lock time counts from).
#[derive(Clone, Copy, Debug)]
struct Times {
    confirmed: Instant,
    updated: Instant,
}

/// One port's table with the times of its dynamic entries.
struct PortTable {
    map: Writer<NeighborEntry>,
    times: HashMap<u32, Times>,
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
            times: HashMap::new(),
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

    /// Records a neighbour confirmed at `now` at `mac`, whatever it was
    /// before (no lock time: see `merge` for what ARP may change). A static
    /// entry keeps its MAC: ARP does not override the config. Returns the
    /// previous entry.
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
        let updated = match (old, t.times.get(&ip)) {
            (Some(e), Some(at)) if e.mac == mac => at.updated,
            _ => now,
        };
        if old.map(|e| e.mac) != Some(mac) {
            t.map.insert(ip, NeighborEntry { mac, flags: 0 });
        }
        t.times.insert(
            ip,
            Times {
                confirmed: now,
                updated,
            },
        );
        old
    }

    /// An ARP from `ip` at `mac` at `now`, as Linux's `arp_process` takes
    /// it: a new entry is created, the same MAC confirms the entry, and
    /// another MAC replaces it only when `locktime` has passed since the
    /// entry's MAC was last set (so of several replies to one broadcast
    /// request the first wins). The caller passes `Duration::ZERO` to
    /// override at once (a gratuitous ARP). A static entry is kept. Returns
    /// the previous entry as `learn` does, or `Err(kept)` when another MAC
    /// came within the lock time: ignored, the entry neither changed nor
    /// confirmed (Linux's `neigh_update` without `NEIGH_UPDATE_F_OVERRIDE`).
    pub fn merge(
        &mut self,
        port: NeighborPort,
        ip: u32,
        mac: [u8; 6],
        now: Instant,
        locktime: Duration,
    ) -> Result<Option<NeighborEntry>, NeighborEntry> {
        let t = self.port_mut(port);
        if let Some(old) = t.map.get(ip) {
            let locked = !old.is_static()
                && old.mac != mac
                && t.times
                    .get(&ip)
                    .is_some_and(|at| now.saturating_duration_since(at.updated) < locktime);
            if locked {
                return Err(old);
            }
        }
        Ok(self.learn(port, ip, mac, now))
    }

    /// Installs a configured neighbour that never ages.
    pub fn set_static(
        &mut self,
        port: NeighborPort,
        ip: u32,
        mac: [u8; 6],
    ) -> Option<NeighborEntry> {
        let t = self.port_mut(port);
        t.times.remove(&ip);
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
        t.times.remove(&ip);
        t.map.remove(ip)
    }

    pub fn get(&self, port: NeighborPort, ip: u32) -> Option<NeighborEntry> {
        self.port(port).map.get(ip)
    }

    /// When a dynamic neighbour was last confirmed.
    pub fn confirmed_at(&self, port: NeighborPort, ip: u32) -> Option<Instant> {
        self.port(port).times.get(&ip).map(|at| at.confirmed)
    }

    /// When a dynamic neighbour's MAC was last set (created or changed).
    pub fn updated_at(&self, port: NeighborPort, ip: u32) -> Option<Instant> {
        self.port(port).times.get(&ip).map(|at| at.updated)
    }

    /// Dynamic neighbours not confirmed for `age(ip)` at `now` (an age
    /// per neighbour), each with how long it has been stale: the slow path
    /// sends each an ARP request to refresh it.
    pub fn stale<'a>(
        &'a self,
        port: NeighborPort,
        now: Instant,
        age: impl Fn(u32) -> Duration + 'a,
    ) -> impl Iterator<Item = (u32, Duration)> + 'a {
        self.port(port).times.iter().filter_map(move |(&ip, at)| {
            now.saturating_duration_since(at.confirmed)
                .checked_sub(age(ip))
                .map(|overdue| (ip, overdue))
        })
    }

    /// Removes dynamic neighbours not confirmed for `max_age(ip)` at `now`;
    /// calls `on_expire` for each and returns how many went.
    pub fn expire(
        &mut self,
        now: Instant,
        max_age: impl Fn(u32) -> Duration,
        mut on_expire: impl FnMut(NeighborPort, u32, NeighborEntry),
    ) -> usize {
        let mut n = 0;
        for port in NeighborPort::ALL {
            let t = self.port_mut(port);
            let map = &mut t.map;
            t.times.retain(|&ip, at| {
                if now.saturating_duration_since(at.confirmed) < max_age(ip) {
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
            |_| Duration::from_secs(60),
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
        let stale: Vec<(u32, Duration)> = t
            .stale(NeighborPort::Access, now, |_| Duration::from_secs(30))
            .collect();
        assert_eq!(
            stale,
            vec![(HOST, Duration::from_secs(40))],
            "and by how long"
        );
        assert_eq!(
            t.stale(NeighborPort::Underlay, now, |_| Duration::from_secs(30))
                .count(),
            0
        );
        // An age per neighbour.
        let per_ip = |ip| Duration::from_secs(if ip == GW { 10 } else { 80 });
        let stale: Vec<(u32, Duration)> = t.stale(NeighborPort::Underlay, now, per_ip).collect();
        assert_eq!(stale, vec![(GW, Duration::from_secs(10))]);
        assert_eq!(t.stale(NeighborPort::Access, now, per_ip).count(), 0);

        let mut expired = Vec::new();
        let n = t.expire(
            now,
            |_| Duration::from_secs(60),
            |p, ip, e| expired.push((p, ip, e.mac)),
        );
        assert_eq!(n, 1);
        assert_eq!(expired, vec![(NeighborPort::Access, HOST, MAC1)]);
        assert_eq!(r.get(NeighborPort::Access, HOST), None);
        assert!(r.get(NeighborPort::Underlay, GW).is_some());
        assert_eq!(t.entries(NeighborPort::Underlay).count(), 1);
    }

    /// Linux's locktime: within it of the last change of an entry's MAC,
    /// another MAC is ignored (the entry is not confirmed either), the same
    /// MAC confirms; after it, or with no lock time (a gratuitous ARP),
    /// another MAC is installed. Confirming does not restart the lock.
    #[test]
    fn merge_keeps_the_first_mac_within_the_locktime() {
        let (mut t, r) = NeighborTables::new(8);
        let (p, lock) = (NeighborPort::Access, Duration::from_secs(1));
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let e = |mac| NeighborEntry { mac, flags: 0 };
        assert_eq!(t.merge(p, HOST, MAC1, t0, lock), Ok(None), "created");
        assert_eq!(
            t.merge(p, HOST, MAC2, ms(500), lock),
            Err(e(MAC1)),
            "locked"
        );
        assert_eq!(t.get(p, HOST), Some(e(MAC1)));
        assert_eq!(t.confirmed_at(p, HOST), Some(t0), "not confirmed by it");
        assert_eq!(t.merge(p, HOST, MAC1, ms(900), lock), Ok(Some(e(MAC1))));
        assert_eq!(t.confirmed_at(p, HOST), Some(ms(900)), "confirmed");
        assert_eq!(t.updated_at(p, HOST), Some(t0), "the MAC was set at t0");
        assert_eq!(t.merge(p, HOST, MAC2, ms(1500), lock), Ok(Some(e(MAC1))));
        assert_eq!(r.get(p, HOST), Some(e(MAC2)), "changed after the lock");
        assert_eq!(t.updated_at(p, HOST), Some(ms(1500)));
        assert_eq!(
            t.merge(p, HOST, MAC1, ms(1600), Duration::ZERO),
            Ok(Some(e(MAC2))),
            "no lock time: at once"
        );
        assert_eq!(t.get(p, HOST), Some(e(MAC1)));
        t.set_static(p, GW, MAC1);
        let kept = t.merge(p, GW, MAC2, ms(5000), lock);
        assert!(kept.is_ok_and(|old| old.is_some_and(|o| o.is_static())));
        assert_eq!(t.get(p, GW).map(|e| e.mac), Some(MAC1));
    }
}
