//! The leases delivered to the sink, by subnet, and how each change
//! reaches it: a watched put or delete, or a whole re-list diffed against
//! what the sink holds (only the differences are told). Of two keys of
//! one subnet the newest write is held and the other stands by; a
//! malformed value never replaces a good entry; a skipped key is counted
//! once per value. What each key/value means is `classify.rs`'s to say.

use std::collections::BTreeMap;
use std::time::Instant;

use super::classify::{classify, Classified, Skip, SkipLog};
use crate::control::schema::LeaseAttrs;
use crate::control::status::ControlStatus;
use crate::control::subnet::{LeaseKey, Subnet};
use crate::control::LeaseSink;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    /// Last path element, e.g. `10.5.1.0-24` or `10.5.1.0-24&fc00::-64`.
    key: String,
    attrs: LeaseAttrs,
    /// The key's mod revision: of two keys of one subnet, the newer write
    /// is held.
    rev: i64,
    /// `value_hash` of its value (counted once per value when skipped).
    hash: u64,
}

/// Whether `a` was written after `b` (the same revision: one transaction;
/// the first key in key order is held, as in a listing).
fn newer(a: &Entry, b: &Entry) -> bool {
    a.rev > b.rev || (a.rev == b.rev && a.key < b.key)
}

/// The entry `newer` than every other.
fn newest<'a>(entries: impl Iterator<Item = &'a Entry>) -> Option<&'a Entry> {
    entries.fold(None, |best, e| match best {
        Some(b) if !newer(e, b) => Some(b),
        _ => Some(e),
    })
}

/// A 64-bit hash of a value (SipHash with fixed keys: the same in every
/// re-list of this process).
fn value_hash(value: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// The leases delivered to the sink, by subnet.
#[derive(Default)]
pub(crate) struct Mirror {
    /// The network config's SubnetLen (0: not known, any length taken).
    subnet_len: u8,
    by_subnet: BTreeMap<Subnet, Entry>,
    /// Skipped keys and a hash of the value they were skipped for: a
    /// skipped entry is logged and counted once per value, not again at
    /// every re-list after a reconnect (no log flood, counters that count
    /// entries). A hash, not the value: values may be up to 64 KiB each.
    skipped: BTreeMap<String, u64>,
    /// Good leases under a second key of a subnet held under another
    /// (`10.5.1.0-24` and `10.5.1.0-24&fc00::-64`): not delivered, but
    /// the one to deliver when the held key goes, as a re-list would.
    standby: BTreeMap<Subnet, BTreeMap<String, Entry>>,
    log: SkipLog,
    /// The revision `put` gives the next test put.
    #[cfg(test)]
    test_rev: i64,
    /// Our subnet and PublicIP, once our lease is held.
    own: Option<(Subnet, std::net::Ipv4Addr)>,
}

impl Mirror {
    pub(crate) fn new(subnet_len: u8) -> Mirror {
        Mirror {
            subnet_len,
            ..Mirror::default()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_subnet.len()
    }

    /// Keys skipped as they are now (malformed, another backend, ...).
    pub(crate) fn skipped_len(&self) -> usize {
        self.skipped.len()
    }

    /// Says how many skipped keys' lines a flood of them left out
    /// (`SkipLog::say_left_out`).
    pub(crate) fn say_left_out(&self) {
        self.log.say_left_out();
    }

    /// Tells the mirror which subnet and PublicIP are ours.
    pub(crate) fn set_own(&mut self, subnet: Subnet, public_ip: std::net::Ipv4Addr) {
        self.own = Some((subnet, public_ip));
    }

    /// A skipped key `s` of another node that claims our subnet or a part
    /// of it (`s` is ours or lies inside ours), as the skip to report.
    /// A shorter prefix covering ours takes nothing from us: peers route
    /// by the longest prefix.
    fn claims_ours(&self, s: Subnet, attrs: &LeaseAttrs) -> Option<Skip> {
        let (ours, own_ip) = self.own?;
        (s.overlaps(ours) && s.len >= ours.len && attrs.public_ip != own_ip).then_some(
            Skip::ClaimsOurs {
                ours,
                holder: attrs.public_ip,
            },
        )
    }

    fn skip(&mut self, key: &str, value: &[u8], why: Skip, st: &ControlStatus) {
        self.skip_hashed(key, value_hash(value), why, st);
    }

    /// `skip` of a value known by its hash (`value_hash`).
    fn skip_hashed(&mut self, key: &str, hash: u64, why: Skip, st: &ControlStatus) {
        if self.skipped.get(key) != Some(&hash) {
            why.report(key, st, &self.log);
            self.skipped.insert(key.to_string(), hash);
        }
    }

    /// What `vxgate_leases` reports: what the sink installed when it
    /// says, else every lease held.
    fn publish_len(&self, sink: &dyn LeaseSink, st: &ControlStatus) {
        st.set_leases(sink.installed().unwrap_or(self.len()));
    }

    /// A PUT at revision `rev` (its key's mod revision). A malformed value
    /// never replaces a good entry; a well-formed non-vxlan value does
    /// remove it (that node left vxlan). A second key of a held subnet
    /// (`10.5.1.0-24` and `10.5.1.0-24&fc00::-64`) takes it over, newest
    /// write first, as every flannel node applies the last event; the
    /// other stands by.
    pub(super) fn put_at(
        &mut self,
        key: &str,
        value: &[u8],
        rev: i64,
        sink: &mut dyn LeaseSink,
        st: &ControlStatus,
        arrived: Instant,
    ) {
        match classify(key, value, self.subnet_len, &*sink) {
            Classified::BadKey(e) => self.skip(key, value, Skip::BadKey(e), st),
            Classified::WrongLength(s, a) => {
                let why = self
                    .claims_ours(s, &a)
                    .unwrap_or(Skip::WrongLength(self.subnet_len));
                self.skip(key, value, why, st)
            }
            Classified::BadValue(_, e) => self.skip(key, value, Skip::BadValue(e), st),
            Classified::OtherBackend(s, backend) => {
                self.skip(key, value, Skip::OtherBackend(backend), st);
                self.unstandby(s, key);
                if self.by_subnet.get(&s).is_some_and(|e| e.key == key) {
                    self.by_subnet.remove(&s);
                    if !self.promote(s, sink) {
                        sink.remove(s);
                    }
                    st.record_event(arrived);
                }
            }
            Classified::Valid(s, attrs) => {
                let new = Entry {
                    key: key.to_string(),
                    attrs,
                    rev,
                    hash: value_hash(value),
                };
                match self.by_subnet.get(&s) {
                    Some(e) if e.key != key => {
                        let held = e.clone();
                        match self.claims_ours(s, &new.attrs) {
                            Some(why) => {
                                self.skip_hashed(key, new.hash, why, st);
                                self.stand_by(s, new);
                            }
                            None if !newer(&new, &held) => {
                                let why = Skip::Duplicate(held.key.clone());
                                self.skip_hashed(key, new.hash, why, st);
                                self.stand_by(s, new);
                            }
                            None => {
                                let why = Skip::Duplicate(key.to_string());
                                self.skip_hashed(&held.key, held.hash, why, st);
                                self.unstandby(s, key);
                                self.skipped.remove(key);
                                if held.attrs != new.attrs {
                                    sink.upsert(s, &new.attrs);
                                    st.record_event(arrived);
                                }
                                self.by_subnet.insert(s, new);
                                self.stand_by(s, held);
                            }
                        }
                    }
                    Some(e) if e.attrs == new.attrs => {
                        // A daily re-put, or the good value back after a
                        // bad one: nothing to install, but a bad value
                        // again is news again.
                        self.skipped.remove(key);
                        self.by_subnet.insert(s, new);
                    }
                    _ => {
                        self.skipped.remove(key);
                        sink.upsert(s, &new.attrs);
                        st.record_event(arrived);
                        self.by_subnet.insert(s, new);
                    }
                }
            }
        }
        self.publish_len(sink, st);
    }

    /// `put_at` for tests: every put newer than the one before, as watch
    /// events are.
    #[cfg(test)]
    pub(super) fn put(
        &mut self,
        key: &str,
        value: &[u8],
        sink: &mut dyn LeaseSink,
        st: &ControlStatus,
        arrived: Instant,
    ) {
        self.test_rev += 1;
        self.put_at(key, value, self.test_rev, sink, st, arrived);
    }

    /// A DELETE (or expiry). Returns the subnet removed, if any.
    pub(super) fn delete(
        &mut self,
        key: &str,
        sink: &mut dyn LeaseSink,
        st: &ControlStatus,
        arrived: Instant,
    ) -> Option<Subnet> {
        self.skipped.remove(key);
        let s = LeaseKey::parse(key).ok()?.v4;
        self.unstandby(s, key);
        if !self.by_subnet.get(&s).is_some_and(|e| e.key == key) {
            return None;
        }
        self.by_subnet.remove(&s);
        if !self.promote(s, sink) {
            sink.remove(s);
        }
        st.record_event(arrived);
        self.publish_len(sink, st);
        Some(s)
    }

    fn stand_by(&mut self, s: Subnet, e: Entry) {
        self.standby.entry(s).or_default().insert(e.key.clone(), e);
    }

    fn unstandby(&mut self, s: Subnet, key: &str) {
        if let Some(keys) = self.standby.get_mut(&s) {
            keys.remove(key);
            if keys.is_empty() {
                self.standby.remove(&s);
            }
        }
    }

    /// The held key of `s` went: its newest standby key (the one a re-list
    /// would pick) takes over. False if none.
    fn promote(&mut self, s: Subnet, sink: &mut dyn LeaseSink) -> bool {
        let Some(keys) = self.standby.get_mut(&s) else {
            return false;
        };
        let Some(key) = newest(keys.values()).map(|e| e.key.clone()) else {
            return false;
        };
        let Some(e) = keys.remove(&key) else {
            return false;
        };
        if keys.is_empty() {
            self.standby.remove(&s);
        }
        self.skipped.remove(&key);
        sink.upsert(s, &e.attrs);
        self.by_subnet.insert(s, e);
        true
    }

    /// Replaces the mirror by a full listing of (key, value, mod revision),
    /// telling the sink only the differences (attribute changes included).
    /// Malformed values keep the previous good entry of the same key; of
    /// several keys of one subnet the newest write is held, as `put_at`
    /// would have left it.
    pub(super) fn resync_at(
        &mut self,
        listing: &[(String, Vec<u8>, i64)],
        sink: &mut dyn LeaseSink,
        st: &ControlStatus,
    ) -> Resynced {
        let mut next: BTreeMap<Subnet, Entry> = BTreeMap::new();
        let mut standby: BTreeMap<Subnet, BTreeMap<String, Entry>> = BTreeMap::new();
        let mut skips: Vec<(String, u64, Skip)> = Vec::new();
        for (key, value, rev) in listing {
            let hash = value_hash(value);
            let why = match classify(key, value, self.subnet_len, &*sink) {
                Classified::Valid(s, attrs) => {
                    let new = Entry {
                        key: key.clone(),
                        attrs,
                        rev: *rev,
                        hash,
                    };
                    let claim = self.claims_ours(s, &new.attrs);
                    match next.remove(&s) {
                        None if claim.is_none() => {
                            next.insert(s, new);
                            continue;
                        }
                        Some(held) if claim.is_none() && newer(&new, &held) => {
                            let why = Skip::Duplicate(new.key.clone());
                            skips.push((held.key.clone(), held.hash, why));
                            standby.entry(s).or_default().insert(held.key.clone(), held);
                            next.insert(s, new);
                            continue;
                        }
                        held => {
                            let why = match (claim, &held) {
                                (Some(c), _) => c,
                                (None, Some(h)) => Skip::Duplicate(h.key.clone()),
                                (None, None) => continue,
                            };
                            if let Some(h) = held {
                                next.insert(s, h);
                            }
                            standby.entry(s).or_default().insert(new.key.clone(), new);
                            why
                        }
                    }
                }
                Classified::BadValue(s, e) => {
                    if let Some(old) = self.by_subnet.get(&s).filter(|e| &e.key == key) {
                        next.entry(s).or_insert_with(|| old.clone());
                    }
                    Skip::BadValue(e)
                }
                Classified::OtherBackend(_, backend) => Skip::OtherBackend(backend),
                Classified::BadKey(e) => Skip::BadKey(e),
                Classified::WrongLength(s, a) => self
                    .claims_ours(s, &a)
                    .unwrap_or(Skip::WrongLength(self.subnet_len)),
            };
            skips.push((key.clone(), hash, why));
        }
        let skipped_now: std::collections::BTreeSet<String> =
            skips.iter().map(|(k, _, _)| k.clone()).collect();
        for (key, hash, why) in skips {
            self.skip_hashed(&key, hash, why, st);
        }
        self.skipped.retain(|k, _| skipped_now.contains(k));
        let gone: Vec<Subnet> = self
            .by_subnet
            .keys()
            .filter(|s| !next.contains_key(s))
            .copied()
            .collect();
        let mut diff = Resynced {
            removed: gone.len(),
            ..Resynced::default()
        };
        // Not recorded in the latency histogram: that measures watch events.
        for s in gone {
            sink.remove(s);
        }
        for (s, e) in &next {
            match self.by_subnet.get(s) {
                Some(o) if o.attrs == e.attrs => continue,
                Some(_) => diff.changed += 1,
                None => diff.added += 1,
            }
            sink.upsert(*s, &e.attrs);
        }
        self.by_subnet = next;
        self.standby = standby;
        self.publish_len(sink, st);
        diff
    }

    /// `resync_at` for tests: every key at one revision, so the first key
    /// of a subnet is held.
    #[cfg(test)]
    pub(super) fn resync(
        &mut self,
        listing: &[(String, Vec<u8>)],
        sink: &mut dyn LeaseSink,
        st: &ControlStatus,
    ) -> Resynced {
        let at: Vec<(String, Vec<u8>, i64)> = listing
            .iter()
            .map(|(k, v)| (k.clone(), v.clone(), 0))
            .collect();
        self.resync_at(&at, sink, st)
    }

    #[cfg(test)]
    pub(super) fn holds_key(&self, key: &str) -> bool {
        LeaseKey::parse(key)
            .ok()
            .and_then(|k| self.by_subnet.get(&k.v4))
            .is_some_and(|e| e.key == key)
    }
}

/// What a re-list changed in the sink, in leases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Resynced {
    pub(super) removed: usize,
    pub(super) added: usize,
    /// Held before and after, with other attributes.
    pub(super) changed: usize,
}

#[cfg(test)]
mod tests {
    use super::super::testing::{fixture, val, Rec};
    use super::*;
    use crate::control::schema::LeaseValue;
    use std::net::Ipv4Addr;

    #[test]
    fn put_delete_and_malformed_keeps_good() {
        let (mut m, mut r, st, t) = fixture();
        m.put("10.1.1.0-24", &val(1, 1), &mut r, &st, t);
        m.put("10.1.1.0-24", &val(1, 1), &mut r, &st, t); // idempotent re-put
        assert_eq!(r.1, 1);
        m.put("10.1.1.0-24", b"{garbage", &mut r, &st, t);
        assert_eq!(r.0.len(), 1);
        assert_eq!(st.invalid_entries_total(), 1);
        m.put(
            "10.1.1.0-24",
            br#"{"PublicIP":"192.0.2.1","BackendType":"host-gw"}"#,
            &mut r,
            &st,
            t,
        );
        assert!(r.0.is_empty());
        assert_eq!(st.ignored_non_vxlan_total(), 1);
        m.put("10.1.2.0-24", &val(2, 2), &mut r, &st, t);
        m.put("10.1.2.0-24&fc00::-64", &val(3, 3), &mut r, &st, t);
        // The newer key of the subnet is held; the other stands by.
        assert_eq!(
            r.0.values().next().unwrap().public_ip,
            Ipv4Addr::new(192, 0, 2, 3)
        );
        assert_eq!(m.delete("10.1.2.0-24", &mut r, &st, t), None);
        assert!(m.delete("10.1.2.0-24&fc00::-64", &mut r, &st, t).is_some());
        assert!(r.0.is_empty() && m.len() == 0);
    }

    /// Keys of other nodes that claim our subnet or part of it (a second
    /// key of it, a longer prefix inside it) are told apart from other
    /// skips; a shorter prefix covering ours, a key of ours, and keys
    /// elsewhere are not. Each is still skipped and counted.
    #[test]
    fn keys_claiming_our_subnet_are_told_apart() {
        let (mut m, mut r, st, t) = fixture();
        m.subnet_len = 24;
        let ours = Subnet::parse_key("10.1.1.0-24").unwrap();
        m.set_own(ours, Ipv4Addr::new(192, 0, 2, 1));
        m.put("10.1.1.0-24", &val(1, 1), &mut r, &st, t);
        let claims = |m: &Mirror, key: &str, v: &[u8]| {
            let lk = LeaseKey::parse(key).unwrap();
            let Ok(LeaseValue::Vxlan(a)) = LeaseValue::parse(v) else {
                panic!("{key}")
            };
            matches!(m.claims_ours(lk.v4, &a), Some(Skip::ClaimsOurs { holder, .. }) if holder == a.public_ip)
        };
        assert!(claims(&m, "10.1.1.0-24&fc00::-64", &val(9, 9)));
        assert!(claims(&m, "10.1.1.128-25", &val(9, 9)));
        assert!(
            !claims(&m, "10.1.0.0-16", &val(9, 9)),
            "covers ours: harmless"
        );
        assert!(!claims(&m, "10.1.1.0-24&fc00::-64", &val(1, 2)), "ours");
        assert!(!claims(&m, "10.1.2.128-25", &val(9, 9)), "elsewhere");
        for key in ["10.1.1.0-24&fc00::-64", "10.1.1.128-25", "10.1.0.0-16"] {
            m.put(key, &val(9, 9), &mut r, &st, t);
            assert!(!m.holds_key(key), "{key}");
        }
        assert_eq!(st.invalid_entries_total(), 3);
        assert!(m.holds_key("10.1.1.0-24"));
    }

    /// A value above MAX_VALUE_BYTES is a malformed value like any other
    /// (logged, counted, skipped), and never displaces a good entry.
    #[test]
    fn an_oversize_value_is_malformed_and_keeps_the_good_entry() {
        let (mut m, mut r, st, t) = fixture();
        m.put("10.1.1.0-24", &val(1, 1), &mut r, &st, t);
        let mut huge = val(9, 9);
        huge.resize(crate::control::schema::MAX_VALUE_BYTES + 1, b' ');
        m.put("10.1.1.0-24", &huge, &mut r, &st, t);
        let s = Subnet::parse_key("10.1.1.0-24").unwrap();
        assert_eq!(r.0[&s].public_ip, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(st.invalid_entries_total(), 1);
        m.resync(&[("10.1.1.0-24".to_string(), huge)], &mut r, &st);
        assert_eq!(r.0[&s].public_ip, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!((st.invalid_entries_total(), r.1), (1, 1));
    }

    /// A lease of another length than SubnetLen could never be reached:
    /// logged with its key and counted as an invalid entry, once per value,
    /// by a put and by a re-list alike; it never reaches the sink, and its
    /// delete takes nothing (the /24 at the same address stays).
    #[test]
    fn leases_of_another_length_than_subnet_len_are_counted_and_skipped() {
        let (mut m, mut r, st, t) = (
            Mirror::new(24),
            Rec::default(),
            ControlStatus::new(),
            Instant::now(),
        );
        m.put("10.1.8.0-24", &val(1, 1), &mut r, &st, t);
        m.put("10.1.8.0-23", &val(2, 2), &mut r, &st, t);
        m.put("10.1.8.0-23", &val(2, 2), &mut r, &st, t);
        m.put("10.1.9.0-25&fc00::-64", &val(3, 3), &mut r, &st, t);
        assert_eq!(st.invalid_entries_total(), 2);
        // Another backend's lease of another length is ignored as such
        // (one skipped entry, counted once, as another backend's).
        let host_gw = br#"{"PublicIP":"192.0.2.9","BackendType":"host-gw"}"#;
        m.put("10.1.10.0-23", host_gw, &mut r, &st, t);
        assert_eq!(st.invalid_entries_total(), 3);
        assert_eq!(st.ignored_non_vxlan_total(), 1);
        assert_eq!((r.0.len(), r.1, m.len()), (1, 1, 1));
        assert_eq!(m.delete("10.1.8.0-23", &mut r, &st, t), None);
        assert_eq!((r.0.len(), r.1), (1, 1));
        let listing = vec![
            ("10.1.8.0-24".to_string(), val(1, 1)),
            ("10.1.8.0-23".to_string(), val(2, 2)),
        ];
        m.resync(&listing, &mut r, &st);
        m.resync(&listing, &mut r, &st);
        assert_eq!(st.invalid_entries_total(), 4);
        assert_eq!((r.0.len(), r.1, m.len()), (1, 1, 1));
        // Without a known SubnetLen (0), every length is taken.
        let mut any = Mirror::default();
        any.put("10.1.8.0-23", &val(2, 2), &mut r, &st, t);
        assert_eq!(any.len(), 1);
    }

    #[test]
    fn skipped_entries_count_once_per_value() {
        let (mut m, mut r, st, t) = fixture();
        let host_gw = br#"{"PublicIP":"192.0.2.9","BackendType":"host-gw"}"#.to_vec();
        let listing = vec![
            ("10.1.1.0-24".to_string(), val(1, 1)),
            ("garbage".to_string(), val(2, 2)),
            ("10.1.3.0-24".to_string(), b"x".to_vec()),
            ("10.1.4.0-24".to_string(), host_gw.clone()),
        ];
        m.resync(&listing, &mut r, &st);
        let counts =
            |st: &ControlStatus| (st.invalid_entries_total(), st.ignored_non_vxlan_total());
        assert_eq!(counts(&st), (3, 1));
        // A re-list after a reconnect, and the same values put again.
        m.resync(&listing, &mut r, &st);
        m.put("10.1.3.0-24", b"x", &mut r, &st, t);
        m.put("10.1.4.0-24", &host_gw, &mut r, &st, t);
        assert_eq!(counts(&st), (3, 1));
        // Another bad value is another entry.
        m.put("10.1.3.0-24", b"y", &mut r, &st, t);
        assert_eq!(counts(&st), (4, 1));
        // Fixed, then broken again with an old value: counted again.
        m.put("10.1.3.0-24", &val(3, 3), &mut r, &st, t);
        m.put("10.1.3.0-24", b"y", &mut r, &st, t);
        assert_eq!(counts(&st), (5, 1));
        // Deleted while we were away, then back: counted again.
        m.resync(&listing[..1], &mut r, &st);
        m.resync(&listing, &mut r, &st);
        // (The host-gw lease counts among the skipped entries too.)
        assert_eq!(counts(&st), (8, 2));
        // A good key that goes bad, good again with its old value (nothing
        // to install), then bad again with the same value: counted twice.
        m.put("10.1.1.0-24", b"z", &mut r, &st, t);
        m.put("10.1.1.0-24", &val(1, 1), &mut r, &st, t);
        m.put("10.1.1.0-24", b"z", &mut r, &st, t);
        assert_eq!(counts(&st), (10, 2));
        // A second key for a held subnet is skipped, once.
        m.put("10.1.1.0-24&fc00::-64", &val(5, 5), &mut r, &st, t);
        m.put("10.1.1.0-24&fc00::-64", &val(5, 5), &mut r, &st, t);
        assert_eq!(counts(&st), (11, 2));
        assert_eq!(st.leases(), 1);
    }

    /// Two keys for one subnet (a v4 key and a dual-stack one): the newer
    /// write is held, as every flannel node applies the last event, and
    /// the other stands by and takes over when the held one goes (deleted,
    /// or turned to another backend), not only after the next reconnect;
    /// a re-put of the standby key (a renewal) makes it the newer.
    #[test]
    fn of_two_keys_of_a_subnet_the_newer_write_is_held() {
        let (mut m, mut r, st, t) = fixture();
        let s = Subnet::parse_key("10.1.2.0-24").unwrap();
        let ip = |r: &Rec| r.0.get(&s).map(|a| a.public_ip.octets()[3]);
        m.put("10.1.2.0-24", &val(1, 1), &mut r, &st, t);
        m.put("10.1.2.0-24&fc00::-64", &val(2, 2), &mut r, &st, t);
        assert_eq!(ip(&r), Some(2), "the newer key took over");
        m.delete("10.1.2.0-24&fc00::-64", &mut r, &st, t);
        assert_eq!(ip(&r), Some(1), "the standby key took over");
        assert!(m.holds_key("10.1.2.0-24"));
        m.put("10.1.2.0-24&fc00::-64", &val(3, 3), &mut r, &st, t);
        assert_eq!(ip(&r), Some(3));
        m.put("10.1.2.0-24", &val(1, 1), &mut r, &st, t);
        assert_eq!(ip(&r), Some(1), "re-put: the newer again");
        let host_gw = br#"{"PublicIP":"192.0.2.9","BackendType":"host-gw"}"#;
        m.put("10.1.2.0-24", host_gw, &mut r, &st, t);
        assert_eq!(ip(&r), Some(3), "left vxlan: the other key took over");
        m.delete("10.1.2.0-24&fc00::-64", &mut r, &st, t);
        assert_eq!(ip(&r), None, "no standby left");
        assert_eq!(st.leases(), 0);
    }

    /// A re-list holds, of several keys of a subnet, the one with the
    /// highest mod revision, whatever the key order, so a reconnect never
    /// changes which one is held; the standby order follows the
    /// revisions too, and keys written in one transaction (one revision)
    /// are held in key order.
    #[test]
    fn a_re_list_holds_the_newest_key_of_a_subnet() {
        let (mut m, mut r, st, t) = fixture();
        let s = Subnet::parse_key("10.1.2.0-24").unwrap();
        let ip = |r: &Rec| r.0.get(&s).map(|a| a.public_ip.octets()[3]);
        let at = |v: &[(&str, u8, i64)]| -> Vec<(String, Vec<u8>, i64)> {
            v.iter()
                .map(|(k, i, rev)| (k.to_string(), val(*i, *i), *rev))
                .collect()
        };
        let listing = at(&[
            ("10.1.2.0-24", 1, 30),
            ("10.1.2.0-24&fc00::-64", 2, 10),
            ("10.1.2.0-24&fc01::-64", 3, 20),
        ]);
        m.resync_at(&listing, &mut r, &st);
        assert_eq!(ip(&r), Some(1));
        m.resync_at(&listing, &mut r, &st);
        assert_eq!(ip(&r), Some(1), "a reconnect changes nothing");
        m.delete("10.1.2.0-24", &mut r, &st, t);
        assert_eq!(ip(&r), Some(3), "the newer standby");
        let listing = at(&[("10.1.2.0-24", 4, 40), ("10.1.2.0-24&fc00::-64", 5, 50)]);
        m.resync_at(&listing, &mut r, &st);
        assert_eq!(ip(&r), Some(5));
        let one_txn = at(&[("10.1.2.0-24", 6, 60), ("10.1.2.0-24&fc00::-64", 7, 60)]);
        m.resync_at(&one_txn, &mut r, &st);
        assert_eq!(ip(&r), Some(6));
        assert_eq!(st.leases(), 1);
    }

    #[test]
    fn resync_diffs_attrs_and_removes_vanished() {
        let (mut m, mut r, st, t) = fixture();
        for i in 1..=3u8 {
            m.put(&format!("10.1.{i}.0-24"), &val(i, i), &mut r, &st, t);
        }
        let listing = vec![
            ("10.1.1.0-24".to_string(), val(1, 1)),     // unchanged
            ("10.1.2.0-24".to_string(), val(2, 9)),     // new VtepMAC
            ("10.1.3.0-24".to_string(), b"x".to_vec()), // now malformed: kept
            ("10.1.4.0-24".to_string(), val(4, 4)),     // new
        ];
        let before = r.1;
        m.resync(&listing, &mut r, &st);
        assert_eq!(r.1 - before, 2);
        assert_eq!(r.0.len(), 4);
        let s2 = Subnet::parse_key("10.1.2.0-24").unwrap();
        assert_eq!(r.0[&s2].vtep_mac[5], 9);
        m.resync(&listing[..1], &mut r, &st);
        assert_eq!(r.0.len(), 1);
        assert!(m.holds_key("10.1.1.0-24") && !m.holds_key("10.1.2.0-24"));
    }
}
