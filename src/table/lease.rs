//! Subnet -> lease and PublicIP -> VtepMACs, kept consistent by one writer.
//!
//! flannel leases are keyed by subnet; decap checks an outer source address
//! against the VtepMACs of every lease with that PublicIP. Two leases may
//! share a PublicIP (a node that changed subnet before its old lease
//! expired), with the same or different VtepMACs, so the PublicIP map is
//! derived from the lease map with a reference count per (PublicIP, MAC).

use std::collections::BTreeMap;

use crate::wire::MacAddr;

use super::map::{map, Packed, Reader, Writer};
use super::slot::WORDS;

/// VtepMACs published per PublicIP (what fits in one slot).
pub const MAX_VTEP_MACS: usize = 3;

/// A remote VTEP serving one subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LeaseEntry {
    /// Underlay address of the node, host order.
    pub public_ip: u32,
    pub vtep_mac: [u8; 6],
}

/// The VtepMACs seen behind one PublicIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VtepMacs {
    pub macs: [[u8; 6]; MAX_VTEP_MACS],
    /// How many of `macs` are in use (at most `MAX_VTEP_MACS`).
    pub len: u8,
}

impl VtepMacs {
    /// The MACs in use.
    pub fn as_slice(&self) -> &[[u8; 6]] {
        let n = usize::from(self.len).min(MAX_VTEP_MACS);
        &self.macs[..n]
    }

    pub fn contains(&self, mac: &[u8; 6]) -> bool {
        self.as_slice().contains(mac)
    }
}

fn mac_to_word(mac: &[u8; 6]) -> u64 {
    MacAddr(*mac).to_word()
}

fn word_to_mac(w: u64) -> [u8; 6] {
    MacAddr::from_word(w).0
}

impl Packed for LeaseEntry {
    fn pack(&self) -> [u64; WORDS] {
        [u64::from(self.public_ip), mac_to_word(&self.vtep_mac), 0]
    }
    fn unpack(w: [u64; WORDS]) -> Self {
        LeaseEntry {
            public_ip: w[0] as u32,
            vtep_mac: word_to_mac(w[1]),
        }
    }
}

impl VtepMacs {
    /// `unpack(words).contains(mac)` on the packed words of a table slot,
    /// without unpacking: the data plane's check of every decapsulated
    /// frame.
    #[inline]
    pub fn packed_contains(w: &[u64; WORDS], mac_word: u64) -> bool {
        const MAC_BITS: u64 = (1 << 48) - 1;
        // The count in the top byte, at most `MAX_VTEP_MACS` (3) used: the
        // first MAC, the second, the third, each if the count reaches it,
        // without an iterator's bookkeeping.
        const _: () = assert!(MAX_VTEP_MACS == 3 && WORDS == 3);
        let n = w[0] >> 56;
        let hit = |x: u64| (x ^ mac_word) & MAC_BITS == 0;
        (n >= 1 && hit(w[0])) || (n >= 2 && hit(w[1])) || (n >= 3 && hit(w[2]))
    }
}

impl Packed for VtepMacs {
    fn pack(&self) -> [u64; WORDS] {
        // The count rides in the top byte of the first MAC's word.
        [
            mac_to_word(&self.macs[0]) | (u64::from(self.len) << 56),
            mac_to_word(&self.macs[1]),
            mac_to_word(&self.macs[2]),
        ]
    }
    fn unpack(w: [u64; WORDS]) -> Self {
        VtepMacs {
            macs: [word_to_mac(w[0]), word_to_mac(w[1]), word_to_mac(w[2])],
            len: ((w[0] >> 56) as u8).min(MAX_VTEP_MACS as u8),
        }
    }
}

/// The control thread's side of the lease tables.
pub struct LeaseTables {
    leases: Writer<LeaseEntry>,
    vteps: Writer<VtepMacs>,
    /// PublicIP -> (VtepMAC, leases using it), oldest first. The newest
    /// `MAX_VTEP_MACS` are published; older ones wait for a free place.
    /// A B-tree, not a hash map: it never rehashes all its entries at once
    /// (tens of ms at a million PublicIPs), which an etcd event would wait
    /// for.
    macs: BTreeMap<u32, Vec<([u8; 6], u32)>>,
}

/// A worker's readers of both lease tables.
#[derive(Clone, Debug)]
pub struct LeaseReaders {
    /// Subnet address (host order) -> lease.
    pub leases: Reader<LeaseEntry>,
    /// PublicIP (host order) -> VtepMACs.
    pub vteps: Reader<VtepMacs>,
}

impl LeaseTables {
    /// Tables sized for `capacity_hint` leases.
    pub fn new(capacity_hint: usize) -> (Self, LeaseReaders) {
        let (leases, lr) = map(capacity_hint);
        let (vteps, vr) = map(capacity_hint);
        let tables = LeaseTables {
            leases,
            vteps,
            macs: BTreeMap::new(),
        };
        (
            tables,
            LeaseReaders {
                leases: lr,
                vteps: vr,
            },
        )
    }

    /// Adds or changes the lease of `subnet`; returns the previous lease.
    /// Re-putting an identical lease changes nothing.
    pub fn upsert_lease(
        &mut self,
        subnet: u32,
        public_ip: u32,
        mac: [u8; 6],
    ) -> Option<LeaseEntry> {
        let entry = LeaseEntry {
            public_ip,
            vtep_mac: mac,
        };
        let old = self.leases.get(subnet);
        if old == Some(entry) {
            return old;
        }
        // The new (PublicIP, MAC) becomes valid before any lease points to
        // it, and the old one is withdrawn only after: a worker that sees
        // the lease also finds its VTEP.
        self.add_ref(public_ip, mac);
        self.leases.insert(subnet, entry);
        if let Some(o) = old {
            self.drop_ref(o.public_ip, o.vtep_mac);
        }
        old
    }

    /// Removes the lease of `subnet`; returns it.
    pub fn remove_lease(&mut self, subnet: u32) -> Option<LeaseEntry> {
        let old = self.leases.remove(subnet)?;
        self.drop_ref(old.public_ip, old.vtep_mac);
        Some(old)
    }

    /// The lease of `subnet`.
    pub fn lease(&self, subnet: u32) -> Option<LeaseEntry> {
        self.leases.get(subnet)
    }

    /// The published VtepMACs of `public_ip`.
    pub fn vtep_macs(&self, public_ip: u32) -> Option<VtepMacs> {
        self.vteps.get(public_ip)
    }

    /// Every lease as (subnet, lease), for diffing against an etcd listing.
    pub fn leases(&self) -> impl Iterator<Item = (u32, LeaseEntry)> + '_ {
        self.leases.iter()
    }

    /// Number of leases.
    pub fn len(&self) -> usize {
        self.leases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// VtepMACs of `public_ip`'s leases beyond the newest
    /// `MAX_VTEP_MACS`, which are published: frames from it with one of
    /// these are refused until a newer MAC's leases go.
    pub fn unpublished_vtep_macs(&self, public_ip: u32) -> usize {
        self.macs
            .get(&public_ip)
            .map_or(0, |l| l.len().saturating_sub(MAX_VTEP_MACS))
    }

    /// Number of PublicIPs with at least one lease.
    pub fn public_ips(&self) -> usize {
        self.vteps.len()
    }

    /// New readers for one more worker.
    pub fn readers(&self) -> LeaseReaders {
        LeaseReaders {
            leases: self.leases.reader(),
            vteps: self.vteps.reader(),
        }
    }

    /// Frees replaced tables no worker holds; returns how many are held.
    pub fn reclaim(&mut self) -> usize {
        self.leases.reclaim() + self.vteps.reclaim()
    }

    fn add_ref(&mut self, ip: u32, mac: [u8; 6]) {
        let list = self.macs.entry(ip).or_default();
        match list.iter_mut().find(|(m, _)| *m == mac) {
            Some((_, refs)) => *refs += 1,
            None => list.push((mac, 1)),
        }
        self.publish(ip);
    }

    fn drop_ref(&mut self, ip: u32, mac: [u8; 6]) {
        if let Some(list) = self.macs.get_mut(&ip) {
            if let Some(pos) = list.iter().position(|(m, _)| *m == mac) {
                list[pos].1 -= 1;
                if list[pos].1 == 0 {
                    list.remove(pos);
                }
            }
        }
        self.publish(ip);
    }

    /// Rewrites the PublicIP's slot from the writer-side list.
    fn publish(&mut self, ip: u32) {
        let list = match self.macs.get(&ip) {
            Some(l) if !l.is_empty() => l,
            _ => {
                self.macs.remove(&ip);
                self.vteps.remove(ip);
                return;
            }
        };
        let newest = &list[list.len().saturating_sub(MAX_VTEP_MACS)..];
        let mut v = VtepMacs {
            macs: [[0; 6]; MAX_VTEP_MACS],
            len: 0,
        };
        for ((slot, (mac, _)), n) in v.macs.iter_mut().zip(newest).zip(1u8..) {
            *slot = *mac;
            v.len = n;
        }
        self.vteps.insert(ip, v);
    }
}

impl std::fmt::Debug for LeaseTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseTables")
            .field("leases", &self.leases)
            .field("vteps", &self.vteps)
            .finish()
    }
}

impl LeaseReaders {
    /// Picks up rebuilt tables; call at a burst boundary.
    #[inline]
    pub fn refresh(&mut self) {
        self.leases.refresh();
        self.vteps.refresh();
    }

    /// The lease of a subnet address (host order).
    #[inline]
    pub fn lease(&self, subnet: u32) -> Option<LeaseEntry> {
        self.leases.get(subnet)
    }

    /// The VtepMACs behind a PublicIP (host order).
    #[inline]
    pub fn vtep_macs(&self, public_ip: u32) -> Option<VtepMacs> {
        self.vteps.get(public_ip)
    }

    /// Whether `mac` is a VtepMAC of a lease whose PublicIP is `public_ip`.
    #[inline]
    pub fn is_known_vtep(&self, public_ip: u32, mac: &[u8; 6]) -> bool {
        self.vteps.get(public_ip).is_some_and(|v| v.contains(mac))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_contains_matches_contains() {
        let macs = [[1, 2, 3, 4, 5, 6], [0xff; 6], [0, 0, 0, 0, 0, 1]];
        for len in 0..=3u8 {
            let v = VtepMacs { macs, len };
            let w = v.pack();
            for m in macs.iter().chain(&[[0u8; 6], [1, 2, 3, 4, 5, 7]]) {
                assert_eq!(
                    VtepMacs::packed_contains(&w, MacAddr(*m).to_word()),
                    v.contains(m),
                    "{len} {m:?}"
                );
            }
        }
    }

    const MAC_A: [u8; 6] = [0x16, 0xab, 0x0a, 0xe0, 0xe7, 0x60];
    const MAC_B: [u8; 6] = [0x0e, 0x01, 0x02, 0x03, 0x04, 0x05];
    const IP1: u32 = 0xac1c_932c; // 172.28.147.44
    const IP2: u32 = 0xac1c_932d;
    const NET1: u32 = 0x0af4_0100; // 10.244.1.0
    const NET2: u32 = 0x0af4_0200;
    const NET3: u32 = 0x0af4_0300;

    #[test]
    fn pack_round_trips() {
        let l = LeaseEntry {
            public_ip: u32::MAX,
            vtep_mac: [0xff; 6],
        };
        assert_eq!(LeaseEntry::unpack(l.pack()), l);
        let v = VtepMacs {
            macs: [MAC_A, MAC_B, [0xff; 6]],
            len: 3,
        };
        assert_eq!(VtepMacs::unpack(v.pack()), v);
        // Garbage words never produce a length past the array.
        assert_eq!(VtepMacs::unpack([u64::MAX; 3]).as_slice().len(), 3);
    }

    #[test]
    fn lease_lifecycle_updates_both_maps() {
        let (mut t, mut r) = LeaseTables::new(16);
        assert_eq!(t.upsert_lease(NET1, IP1, MAC_A), None);
        r.refresh();
        assert_eq!(
            r.lease(NET1),
            Some(LeaseEntry {
                public_ip: IP1,
                vtep_mac: MAC_A
            })
        );
        assert!(r.is_known_vtep(IP1, &MAC_A));
        assert!(!r.is_known_vtep(IP1, &MAC_B));
        assert!(!r.is_known_vtep(IP2, &MAC_A));

        // The node moves to another PublicIP and MAC.
        let old = t.upsert_lease(NET1, IP2, MAC_B);
        assert_eq!(old.map(|l| l.public_ip), Some(IP1));
        assert!(!r.is_known_vtep(IP1, &MAC_A));
        assert!(r.is_known_vtep(IP2, &MAC_B));
        assert_eq!(t.public_ips(), 1);

        assert_eq!(t.remove_lease(NET1).map(|l| l.vtep_mac), Some(MAC_B));
        assert_eq!(t.remove_lease(NET1), None);
        assert!(!r.is_known_vtep(IP2, &MAC_B));
        assert!(t.is_empty());
        assert_eq!(t.public_ips(), 0);
    }

    #[test]
    fn shared_public_ip_is_refcounted() {
        let (mut t, r) = LeaseTables::new(16);
        t.upsert_lease(NET1, IP1, MAC_A);
        t.upsert_lease(NET2, IP1, MAC_A);
        t.upsert_lease(NET3, IP1, MAC_B);
        let v = r.vtep_macs(IP1).expect("published");
        assert_eq!(v.as_slice(), &[MAC_A, MAC_B]);
        t.remove_lease(NET1);
        assert!(r.is_known_vtep(IP1, &MAC_A), "NET2 still uses MAC_A");
        t.remove_lease(NET2);
        assert!(!r.is_known_vtep(IP1, &MAC_A));
        assert!(r.is_known_vtep(IP1, &MAC_B));
        t.remove_lease(NET3);
        assert_eq!(r.vtep_macs(IP1), None);
    }

    #[test]
    fn reput_of_same_lease_is_idempotent() {
        let (mut t, _r) = LeaseTables::new(16);
        t.upsert_lease(NET1, IP1, MAC_A);
        for _ in 0..5 {
            t.upsert_lease(NET1, IP1, MAC_A);
        }
        // One reference only: a single remove withdraws the VTEP.
        t.remove_lease(NET1);
        assert_eq!(t.vtep_macs(IP1), None);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn more_macs_than_fit_publish_the_newest() {
        let (mut t, r) = LeaseTables::new(16);
        let macs: Vec<[u8; 6]> = (0..5u8).map(|i| [2, 0, 0, 0, 0, i]).collect();
        for (i, mac) in macs.iter().enumerate() {
            t.upsert_lease(NET1 + ((i as u32) << 8), IP1, *mac);
        }
        assert_eq!(r.vtep_macs(IP1).map(|v| v.len), Some(3));
        assert!(!r.is_known_vtep(IP1, &macs[0]));
        assert!(r.is_known_vtep(IP1, &macs[4]));
        // Withdrawing a published MAC lets an older one take its place.
        t.remove_lease(NET1 + (4 << 8));
        assert!(r.is_known_vtep(IP1, &macs[1]));
        assert!(!r.is_known_vtep(IP1, &macs[4]));
    }

    #[test]
    fn leases_iterates_everything() {
        let (mut t, _r) = LeaseTables::new(4);
        for i in 0..100u32 {
            t.upsert_lease(NET1 + (i << 8), IP1 + i, MAC_A);
        }
        let mut seen: Vec<u32> = t.leases().map(|(s, _)| s).collect();
        seen.sort_unstable();
        let want: Vec<u32> = (0..100u32).map(|i| NET1 + (i << 8)).collect();
        assert_eq!(seen, want);
        assert_eq!(t.public_ips(), 100);
    }
}
