//! List + watch of `<prefix>/subnets/`, a local mirror, and the resync diff.
//!
//! Every (re)connection re-lists at one revision and diffs the listing
//! against the mirror, then watches from that revision + 1. So after an
//! outage, a compaction, or even an etcd restored from backup (revisions
//! going back), the sink ends up equal to etcd's content.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use etcd_client::{EventType, WatchOptions};
use tokio::sync::Notify;

use super::backoff::{pause_after, Backoff, REPEAT_LOG};

/// A list+watch session that lasted this long resets the backoff.
const HEALTHY_SESSION: std::time::Duration = std::time::Duration::from_secs(10);
/// How often a watching session checks that its watches are not behind
/// the cluster (`quorum_check`). flanneld opens its watches with
/// `WithRequireLeader`, which etcd-client cannot ask for: without it a
/// member cut off from the others keeps a watch open and silent, and
/// answers HTTP/2 keepalives, while leases change elsewhere.
const QUORUM_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// One check of a watching session, from a linearizable read (`read`: the
/// cluster's revision, from the member the watches are on, with a quorum
/// behind it) and the lower of the revisions the two watch streams have
/// reported (`watched`; each stream is asked for its progress after every
/// check, and a member that keeps up answers within milliseconds). `due`:
/// the cluster's revision at the previous check. Returns the next `due`,
/// or why the session must end:
/// - a watch still below `due`: its member has not seen writes the
///   cluster made at least one check ago (cut off from its leader);
/// - the read failing: the member we watch on cannot serve a quorum read
///   (the session ends, and the next one starts on the next member).
fn quorum_check(
    read: Result<i64, ControlError>,
    due: Option<i64>,
    watched: i64,
) -> Result<Option<i64>, ControlError> {
    if let Some(due) = due.filter(|d| watched < *d) {
        return Err(ControlError::Etcd {
            op: "watch",
            detail: format!(
                "the watched etcd member is behind the cluster (revision {watched} where the cluster was at {due} a check ago): cut off from its leader?"
            ),
        });
    }
    read.map(Some)
}
use super::config_seen::{ConfigNews, ConfigSeen};
use super::own_lease::{keep_renewed, own_key_state, Listing, OwnKey, OwnLease};
use super::registry::{call, map_error, Registry};
use super::schema::{LeaseAttrs, LeaseValue, NetworkConfig};
use super::status::ControlStatus;
use super::subnet::{LeaseKey, Subnet};
use super::{ControlError, LeaseSink};
use crate::ops::logging::RateLimitedLog;

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

/// What one key/value means to us.
enum Classified {
    Valid(Subnet, LeaseAttrs),
    /// Well-formed, but not vxlan: ignored (and counted).
    OtherBackend(Subnet, String),
    /// Key fine, value malformed.
    BadValue(Subnet, String),
    BadKey(String),
    /// A subnet whose length is not SubnetLen: lookups mask destinations
    /// with SubnetLen, so it could never be reached (flanneld writes only
    /// SubnetLen leases; another length is hand-made or left from before a
    /// SubnetLen change).
    WrongLength(Subnet, LeaseAttrs),
}

/// `subnet_len` 0: any length is taken (no network config known).
fn classify(key: &str, value: &[u8], subnet_len: u8, sink: &dyn LeaseSink) -> Classified {
    let lk = match LeaseKey::parse(key) {
        Ok(k) => k,
        Err(e) => return Classified::BadKey(e.to_string()),
    };
    match LeaseValue::parse(value) {
        // Another backend's lease or a malformed value is that, whatever
        // its length.
        Ok(LeaseValue::Vxlan(a)) if subnet_len != 0 && lk.v4.len != subnet_len => {
            Classified::WrongLength(lk.v4, a)
        }
        Ok(LeaseValue::Vxlan(a)) => match unusable(&a).or_else(|| sink.refuses(&a)) {
            Some(why) => Classified::BadValue(lk.v4, why),
            None => Classified::Valid(lk.v4, a),
        },
        Ok(LeaseValue::OtherBackend { backend_type, .. }) => {
            Classified::OtherBackend(lk.v4, backend_type)
        }
        Err(e) => Classified::BadValue(lk.v4, e.to_string()),
    }
}

/// Why a lease flanneld would decode can still not be a VTEP's (`None`:
/// it can): a PublicIP no host has (0/8, loopback, multicast, 240/4 and
/// the broadcast address) would only have us ARP for it or send to it,
/// and a VtepMAC that is zero or multicast is no interface's address.
/// flanneld writes neither; such a value is hand-made or damaged, so it is
/// counted and skipped as a malformed one is.
fn unusable(a: &LeaseAttrs) -> Option<String> {
    let ip = u32::from(a.public_ip);
    if crate::pipeline::context::never_a_source(ip) || ip >> 28 == 0xf {
        return Some(format!(
            "PublicIP {} is not a unicast address a VTEP can have",
            a.public_ip
        ));
    }
    let mac = a.vtep_mac;
    if mac[0] & 1 == 1 || mac == [0; 6] {
        return Some(format!(
            "BackendData.VtepMAC {} is not a unicast MAC address",
            crate::config::format_mac(&mac)
        ));
    }
    None
}

/// Why a key was skipped.
enum Skip {
    BadKey(String),
    BadValue(String),
    OtherBackend(String),
    /// Its subnet is already held under this other key.
    Duplicate(String),
    /// Not of this SubnetLen.
    WrongLength(u8),
    /// Another node's key for our subnet or a part of it (a second key of
    /// our subnet, or one of a longer prefix inside it): flannel nodes
    /// may route what it covers to that node, not to us.
    ClaimsOurs {
        ours: Subnet,
        holder: std::net::Ipv4Addr,
    },
}

/// A key skipped again and again with ever new values (a writer stuck in
/// a loop) is logged at most this often; every skip is still counted.
const SKIP_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Log lines of one kind rate-limited per key (a lease key, a
/// PublicIP): at most one every `SKIP_LOG_EVERY` (10 s) per key, the
/// next one saying how many were left out. The skipped entries' lines
/// use it, and so do the sinks' repeated warnings.
pub struct SkipLog(RateLimitedLog);

impl Default for SkipLog {
    fn default() -> Self {
        SkipLog(RateLimitedLog::new(SKIP_LOG_EVERY))
    }
}

impl SkipLog {
    /// One line per `interval` and key instead (tests).
    pub fn every(interval: std::time::Duration) -> Self {
        SkipLog(RateLimitedLog::new(interval))
    }

    /// `Some(suppressed)` when a line for `key` may be written now,
    /// `suppressed` being how many were left out since the last one;
    /// `None` to stay quiet.
    pub fn check(&self, key: &str) -> Option<u64> {
        self.0.check(key)
    }
}

impl Skip {
    /// Counts the skip, and logs it unless `log` says the key was logged
    /// within `SKIP_LOG_EVERY` (the line then says how many were not).
    fn report(&self, key: &str, st: &ControlStatus, log: &SkipLog) {
        st.add_invalid();
        if let Skip::OtherBackend(_) = self {
            // SPEC: "ignored and counted". Counted among the skipped
            // entries, its one etcd counter, and apart, so an operator
            // can tell a node of another backend from a broken value.
            st.add_ignored();
        }
        let Some(suppressed) = log.0.check(key) else {
            return;
        };
        match self {
            Skip::BadKey(error) => {
                tracing::warn!(key, %error, suppressed, "skipping lease with a malformed key");
            }
            Skip::BadValue(error) => {
                tracing::warn!(key, %error, suppressed, "skipping lease with a malformed value");
            }
            Skip::OtherBackend(backend_type) => {
                tracing::info!(
                    key,
                    backend_type,
                    suppressed,
                    "ignoring a lease of a non-vxlan backend"
                );
            }
            Skip::Duplicate(other) => {
                tracing::warn!(
                    key,
                    other,
                    suppressed,
                    "skipping lease: its subnet is already held under another key"
                );
            }
            Skip::ClaimsOurs { ours, holder } => {
                tracing::error!(
                    key,
                    %holder,
                    %ours,
                    suppressed,
                    "ANOTHER NODE'S KEY CLAIMS (PART OF) OUR SUBNET: flannel nodes may send what it covers to {holder}; skipped here (delete the key if it is stale)"
                );
            }
            Skip::WrongLength(subnet_len) => {
                tracing::warn!(
                    key,
                    subnet_len,
                    suppressed,
                    "skipping lease: its length is not the network config's SubnetLen, so no destination could match it (a hand-made lease, or one from before a SubnetLen change?)"
                );
            }
        }
    }
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
    fn put_at(
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
    fn put(
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
    fn delete(
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
    fn resync_at(
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
    fn resync(
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
    fn holds_key(&self, key: &str) -> bool {
        LeaseKey::parse(key)
            .ok()
            .and_then(|k| self.by_subnet.get(&k.v4))
            .is_some_and(|e| e.key == key)
    }
}

/// What a re-list changed in the sink, in leases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Resynced {
    removed: usize,
    added: usize,
    /// Held before and after, with other attributes.
    changed: usize,
}

/// Why one list+watch session ended.
enum SessionEnd {
    Compacted,
    Failed(ControlError),
}

/// What the watch loop keeps from one session to the next, besides the
/// mirror.
struct Seen {
    config: ConfigSeen,
    /// Our key's value when it was last said to be taken, and the
    /// PublicIP it names: a re-list after every reconnect does not say it
    /// again, and its going is said as our subnet free again.
    own_taken: Option<(Vec<u8>, std::net::Ipv4Addr)>,
    /// The same for a damaged value on our key.
    own_damaged: Option<Vec<u8>>,
    /// Damaged or altered values of our key, logged at a limited rate.
    own_log: SkipLog,
    /// The cluster ID of the last list's etcd (None before the first):
    /// another one, or a revision gone back, is etcd's data replaced.
    cluster_id: Option<u64>,
}

struct Session<'a> {
    reg: &'a mut Registry,
    mirror: &'a mut Mirror,
    sink: &'a mut dyn LeaseSink,
    status: &'a ControlStatus,
    own_key: Option<&'a str>,
    /// Our lease's attributes, as we write them (with `own_key`).
    own_attrs: Option<&'a LeaseAttrs>,
    /// Wakes the renewer to look at our key (deleted, taken, made a
    /// reservation).
    own_key_changed: &'a Notify,
    /// Bumped after every list that succeeded: etcd is reachable, and a
    /// renewal waiting out its backoff is retried now.
    etcd_back: &'a tokio::sync::watch::Sender<u64>,
    /// Bumped at every put of the config key: a renewer waiting for a
    /// config that lets it re-create our key looks again now.
    config_put: &'a tokio::sync::watch::Sender<u64>,
    /// The list our lease was acquired from, for the first session to use
    /// instead of reading it again (taken by it).
    seed: &'a mut Option<Listing>,
    seen: &'a mut Seen,
}

impl Session<'_> {
    /// The key below `dir`. A key that is not UTF-8 keeps its bad bytes
    /// as U+FFFD, so that it is reported as a malformed key, not dropped
    /// unseen.
    fn suffix(&self, dir: &str, key: &[u8]) -> Option<String> {
        let rest = key.strip_prefix(dir.as_bytes())?;
        Some(String::from_utf8_lossy(rest).into_owned())
    }

    async fn list_and_diff(&mut self) -> Result<i64, ControlError> {
        let (seeded, (rev, kvs)) = match self.seed.take() {
            Some(listing) => (true, listing),
            None => (false, self.reg.list_subnets().await?),
        };
        let dir = self.reg.subnets_dir();
        let listing: Vec<(String, Vec<u8>, i64)> = kvs
            .iter()
            .filter_map(|kv| {
                let key = self.suffix(&dir, kv.key())?;
                Some((key, kv.value().to_vec(), kv.mod_revision()))
            })
            .collect();
        // Read before the listing is applied, so that a failed read
        // leaves the mirror for the next session's list to diff against.
        let config = self.reg.read_config().await?;
        let diff = self.mirror.resync_at(&listing, self.sink, self.status);
        // Before our key is looked at: the renewer, woken by it, says our
        // key went with etcd's data.
        self.replaced(rev, config.cluster_id, diff);
        // A config changed (or deleted) while we were away is said now, as
        // one changed while watching would have been.
        self.config_seen(config.value.as_deref());
        // Our key as it is now: taken or gone while we were away is acted
        // on now, as on the watch, not at the next renewal a day later.
        // (Not in the list our lease was acquired from: it shows our key
        // as it was before we wrote it; the watch, from the revision after
        // that list, delivers our write.)
        if let Some(own) = self.own_key.filter(|_| !seeded) {
            let kv = kvs.iter().find(|kv| kv.key() == own.as_bytes());
            self.own_key_seen(own, kv.map(|kv| (kv.value(), kv.lease())));
        }
        self.status.reset_revision(rev);
        self.status.saw_etcd();
        self.etcd_back.send_modify(|n| *n = n.wrapping_add(1));
        Ok(rev)
    }

    /// Says so when etcd's data was replaced since the last list: the
    /// revision `rev` of this list below what we saw before (etcd restored
    /// from a snapshot, or wiped and started anew), or another cluster ID
    /// (`cluster_id`, 0: not told). The tables already hold what etcd
    /// holds now (`diff`: what the list changed).
    fn replaced(&mut self, rev: i64, cluster_id: u64, diff: Resynced) {
        let old_rev = self.status.revision();
        let Some(old_cluster) = self.seen.cluster_id.replace(cluster_id) else {
            return;
        };
        let cluster_changed = old_cluster != cluster_id && old_cluster != 0 && cluster_id != 0;
        if rev >= old_rev && !cluster_changed {
            return;
        }
        self.status.add_data_replacement();
        let cluster = if cluster_changed {
            format!("changed ({old_cluster:x} -> {cluster_id:x})")
        } else {
            "unchanged".to_string()
        };
        let Resynced {
            removed,
            added,
            changed,
        } = diff;
        tracing::warn!(
            old_revision = old_rev,
            revision = rev,
            cluster_changed,
            removed,
            added,
            changed,
            "etcd's data was replaced (restored from a snapshot, or wiped and started anew): revision {old_rev} -> {rev}, cluster ID {cluster}; the re-list removed {removed}, added {added} and changed {changed} leases: the tables hold what etcd holds now"
        );
    }

    /// `first`: no list has succeeded yet, so this one is no resync;
    /// cleared once it has.
    async fn run(&mut self, first: &mut bool) -> SessionEnd {
        let rev = match self.list_and_diff().await {
            Ok(r) => r,
            Err(e) => return SessionEnd::Failed(e),
        };
        if !std::mem::replace(first, false) {
            self.status.add_resync();
        }
        self.status.set_connected(true);
        tracing::info!(
            revision = rev,
            leases = self.mirror.len(),
            "etcd leases listed; watching"
        );
        let opts = self.reg.opts.clone();
        let dir = self.reg.subnets_dir();
        let config_key = self.reg.config_key();
        // Two watches on exactly what was just read (flanneld's
        // `<prefix>/subnets` and its config key), not all of `<prefix>/`:
        // an etcd role that grants flanneld's reads lets both be created.
        // etcd-client drops a watch's creation reply even when it says the
        // watch was cancelled (say, permission denied), which would leave a
        // silent watch; reading the same ranges first rules that out.
        let from = WatchOptions::new().with_start_revision(rev.saturating_add(1));
        let mut renewed = false;
        // The watchers must live: dropping one closes its request stream.
        let (mut subnets_watcher, mut subnets, mut config_watcher, mut config) = loop {
            let mut wc = self.reg.watcher();
            let (sw, s) = match call(
                "watch",
                &opts,
                wc.watch(dir.clone(), Some(from.clone().with_prefix())),
            )
            .await
            {
                Ok(w) => w,
                Err(e) => return SessionEnd::Failed(e),
            };
            let (cw, c) = match call(
                "watch",
                &opts,
                wc.watch(config_key.clone(), Some(from.clone())),
            )
            .await
            {
                Ok(w) => w,
                Err(e) => return SessionEnd::Failed(e),
            };
            // The same goes for an auth token that expired between the
            // read and the watches (etcd 3.4 still answers such a
            // stream's progress requests, so the quorum checks would not
            // notice): a read with that token after them shows it was
            // good for them. If not, new token, new watches, same revision.
            match self.reg.revision_with_this_token().await {
                Ok(_) => break (sw, s, cw, c),
                Err(ControlError::AuthToken(why)) if !renewed => {
                    renewed = true;
                    if let Err(e) = self.reg.renew_token(&why).await {
                        return SessionEnd::Failed(e);
                    }
                }
                Err(e) => return SessionEnd::Failed(e),
            }
        };
        let mut quorum = tokio::time::interval(QUORUM_CHECK);
        quorum.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        quorum.reset();
        // The read runs beside the watches: events never wait for it.
        let mut reading: Option<std::pin::Pin<Box<dyn Future<Output = _> + Send>>> = None;
        let (mut due, mut subnets_rev, mut config_rev) = (None, rev, rev);
        loop {
            let (message, from_subnets) = tokio::select! {
                m = subnets.message() => (m, true),
                m = config.message() => (m, false),
                _ = quorum.tick(), if reading.is_none() => {
                    reading = Some(Box::pin(self.reg.quorum_read()));
                    continue;
                }
                read = async { reading.as_mut().expect("guarded by is_some").await }, if reading.is_some() => {
                    reading = None;
                    let (read, reg) = read;
                    // A token renewed for the read serves what follows.
                    self.reg.client = reg.client;
                    match quorum_check(read, due, subnets_rev.min(config_rev)) {
                        Ok(next) => due = next,
                        Err(e) => return SessionEnd::Failed(e),
                    }
                    // Where each stream's member is now: answered on the
                    // stream itself, so from the member that serves it.
                    for w in [&mut subnets_watcher, &mut config_watcher] {
                        if let Err(e) = w.request_progress().await {
                            return SessionEnd::Failed(map_error("watch", &opts, e));
                        }
                    }
                    continue;
                }
            };
            let resp = match message {
                Ok(Some(r)) => r,
                Ok(None) => {
                    return SessionEnd::Failed(ControlError::Unreachable {
                        endpoints: opts.endpoints.join(","),
                        detail: "watch stream closed".into(),
                    })
                }
                Err(e) => return SessionEnd::Failed(map_error("watch", &opts, e)),
            };
            let arrived = Instant::now();
            if resp.compact_revision() != 0 {
                tracing::warn!(
                    compacted = resp.compact_revision(),
                    "watch revision was compacted; re-listing"
                );
                self.status.add_compaction();
                return SessionEnd::Compacted;
            }
            if resp.canceled() {
                return SessionEnd::Failed(ControlError::Etcd {
                    op: "watch",
                    detail: format!("cancelled by etcd: {}", resp.cancel_reason()),
                });
            }
            if !resp.events().is_empty() {
                // News from etcd whether or not it changes anything (a
                // daily identical re-put): the event age says etcd talks.
                self.status.saw_etcd();
            }
            for ev in resp.events() {
                let Some(kv) = ev.kv() else { continue };
                if kv.key() == config_key.as_bytes() {
                    let value = (ev.event_type() == EventType::Put).then(|| kv.value());
                    self.config_seen(value);
                    if value.is_some() {
                        self.config_put.send_modify(|n| *n = n.wrapping_add(1));
                    }
                    continue;
                }
                let Some(key) = self.suffix(&dir, kv.key()) else {
                    continue;
                };
                let key = key.as_str();
                let own = self.own_key.filter(|k| k.as_bytes() == kv.key());
                match ev.event_type() {
                    EventType::Put => {
                        if let Some(own) = own {
                            self.own_key_seen(own, Some((kv.value(), kv.lease())));
                        }
                        let rev = kv.mod_revision();
                        self.mirror
                            .put_at(key, kv.value(), rev, self.sink, self.status, arrived)
                    }
                    EventType::Delete => {
                        self.mirror.delete(key, self.sink, self.status, arrived);
                        if let Some(own) = own {
                            // A delete event does not say whether
                            // someone deleted it or its etcd lease ran
                            // out: the renewer finds out, and says.
                            match &self.seen.own_taken {
                                Some((_, holder)) => tracing::warn!(
                                    key,
                                    %holder,
                                    "the key of our subnet, held by {holder}, is gone from etcd (deleted, or its etcd lease expired): our subnet is free again; taking it back"
                                ),
                                None => tracing::error!(
                                    key,
                                    "our own key is gone from etcd (deleted, or its etcd lease expired); re-creating it"
                                ),
                            }
                            self.own_key_seen(own, None);
                        }
                    }
                }
            }
            if let Some(h) = resp.header() {
                self.status.set_revision(h.revision());
                let seen = if from_subnets {
                    &mut subnets_rev
                } else {
                    &mut config_rev
                };
                *seen = (*seen).max(h.revision());
            }
        }
    }

    /// Our key as a watch event or a re-list shows it (`None`: gone). Taken
    /// by another node: said at once (not at the next renewal a day
    /// later), once per value; gone, made a reservation, or ours again
    /// after it was taken: the renewer looks at it now. Our lease's
    /// expiry is reported only while the key is ours.
    fn own_key_seen(&mut self, key: &str, kv: Option<(&[u8], i64)>) {
        let Some(own) = self.own_attrs else {
            return;
        };
        let seen = kv.map(|(v, lease)| (v, own_key_state(v, lease, own)));
        if !matches!(seen, Some((_, OwnKey::Damaged | OwnKey::Altered))) {
            self.seen.own_damaged = None;
        }
        let Some((value, state)) = seen else {
            self.seen.own_taken = None;
            self.status.clear_own_expiry();
            self.own_key_changed.notify_one();
            return;
        };
        match state {
            OwnKey::Taken(holder) => {
                self.status.clear_own_expiry();
                if self.seen.own_taken.as_ref().map(|(v, _)| v.as_slice()) != Some(value) {
                    tracing::error!(key, %holder, "OUR SUBNET WAS TAKEN in etcd by {holder}; the peers now send its traffic there");
                    self.seen.own_taken = Some((value.to_vec(), holder));
                }
                self.own_key_changed.notify_one();
            }
            OwnKey::Damaged | OwnKey::Altered => {
                // Still ours: the expiry gauge stays, the renewer repairs it.
                self.seen.own_taken = None;
                if self.seen.own_damaged.as_deref() != Some(value) {
                    let what = if state == OwnKey::Damaged {
                        "an unreadable value"
                    } else {
                        "other attributes than ours (VtepMAC or backend): peers would send us frames we drop"
                    };
                    // Another writer in a loop: one line per SKIP_LOG_EVERY.
                    if let Some(suppressed) = self.seen.own_log.0.check(key) {
                        tracing::warn!(key, suppressed, "our key holds {what}; rewriting it");
                    }
                    self.seen.own_damaged = Some(value.to_vec());
                }
                self.own_key_changed.notify_one();
            }
            OwnKey::Reservation => {
                self.seen.own_taken = None;
                self.own_key_changed.notify_one();
            }
            OwnKey::Ours => {
                if self.seen.own_taken.take().is_some() {
                    self.own_key_changed.notify_one();
                }
            }
        }
    }

    fn config_seen(&mut self, value: Option<&[u8]>) {
        match self.seen.config.seen(value) {
            Some(ConfigNews::Deleted) => tracing::warn!(
                "flannel network config was deleted from etcd; vxgate keeps running with the config it started with"
            ),
            Some(ConfigNews::Changed(what)) => tracing::warn!(
                changed = %what,
                "flannel network config changed in etcd; restart vxgate to apply it (running with the old one)"
            ),
            Some(ConfigNews::Invalid(why)) => tracing::warn!(
                error = %why,
                "flannel network config in etcd is no longer valid; vxgate keeps running with the one it started with (a restart would refuse it)"
            ),
            Some(ConfigNews::Back) => {
                tracing::info!("flannel network config in etcd is again the one vxgate runs with")
            }
            None => {}
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn run<F>(
    mut reg: Registry,
    own: Option<OwnLease>,
    mut seed: Option<Listing>,
    config: NetworkConfig,
    raw_config: Vec<u8>,
    status: Arc<ControlStatus>,
    sink: &mut dyn LeaseSink,
    shutdown: F,
) -> Result<(), ControlError>
where
    F: Future<Output = ()> + Send,
{
    let own_key_changed = Arc::new(Notify::new());
    let (etcd_back, etcd_back_rx) = tokio::sync::watch::channel(0u64);
    let (config_put, config_put_rx) = tokio::sync::watch::channel(0u64);
    let own_key = own.as_ref().map(|o| o.key.clone());
    let own_attrs = own.as_ref().map(|o| o.attrs.clone());
    let own_subnet = own.as_ref().map(|o| (o.subnet, o.attrs.public_ip));
    let renewer = own.map(|o| {
        tokio::spawn(keep_renewed(
            reg.clone(),
            o,
            status.clone(),
            own_key_changed.clone(),
            etcd_back_rx,
            config_put_rx,
        ))
    });
    let mut mirror = Mirror::new(config.subnet_len);
    if let Some((subnet, public_ip)) = own_subnet {
        mirror.set_own(subnet, public_ip);
    }
    let mut seen = Seen {
        config: ConfigSeen::new(config, raw_config),
        own_taken: None,
        own_damaged: None,
        own_log: SkipLog::default(),
        cluster_id: None,
    };
    let mut backoff = Backoff::new();
    // The same error again and again (etcd down for hours) is one line a
    // minute, with how many were left out.
    let repeats = RateLimitedLog::new(REPEAT_LOG);
    // Until a list succeeds: a session that failed before it is no resync.
    let mut first = true;
    tokio::pin!(shutdown);
    let result = loop {
        let mut session = Session {
            reg: &mut reg,
            mirror: &mut mirror,
            sink: &mut *sink,
            status: &status,
            own_key: own_key.as_deref(),
            own_attrs: own_attrs.as_ref(),
            own_key_changed: &own_key_changed,
            etcd_back: &etcd_back,
            config_put: &config_put,
            seed: &mut seed,
            seen: &mut seen,
        };
        let started = Instant::now();
        let end = tokio::select! {
            _ = &mut shutdown => break Ok(()),
            end = session.run(&mut first) => end,
        };
        status.set_connected(false);
        // A session that held is a fresh start; one that ends at once (a
        // watch cancelled as it is made) keeps backing off: no spin.
        if started.elapsed() >= HEALTHY_SESSION {
            backoff.reset();
            // Another outage after a recovery is said at once.
            repeats.forget();
        }
        let delay = backoff.next_delay();
        let failed = matches!(end, SessionEnd::Failed(_));
        let mut back = None;
        if let SessionEnd::Failed(e) = end {
            if let Some(suppressed) = repeats.check(&e.to_string()) {
                tracing::warn!(error = %e, suppressed, retry_in = ?delay, "etcd watch interrupted; keeping the last known leases and retrying");
            }
            tokio::select! {
                _ = &mut shutdown => break Ok(()),
                b = pause_after(&e, delay, &reg.opts.endpoints) => back = b,
            }
        }
        // Fresh connections and auth token for the next session; after
        // an error, on the member that came back if one did, else on the
        // next member (the error may be this one's).
        let next = match back {
            Some(at) => reg.go_to(at).await,
            None if failed => reg.fail_over().await,
            None => reg.reconnect().await,
        };
        if let Err(e) = next {
            tracing::debug!(error = %e, "etcd reconnect failed; will retry");
        }
    };
    if let Some(r) = renewer {
        r.abort();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// A recording sink: the leases held, the calls made, and a PublicIP
    /// it refuses (as the tables' sink refuses its link's edges).
    #[derive(Default)]
    struct Rec(BTreeMap<Subnet, LeaseAttrs>, u32, Option<Ipv4Addr>);
    impl LeaseSink for Rec {
        fn upsert(&mut self, s: Subnet, l: &LeaseAttrs) {
            self.0.insert(s, l.clone());
            self.1 += 1;
        }
        fn remove(&mut self, s: Subnet) {
            self.0.remove(&s);
            self.1 += 1;
        }
        fn refuses(&self, l: &LeaseAttrs) -> Option<String> {
            (Some(l.public_ip) == self.2).then(|| "refused".to_string())
        }
    }

    fn val(ip: u8, mac: u8) -> Vec<u8> {
        format!(r#"{{"PublicIP":"192.0.2.{ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{{"VNI":1,"VtepMAC":"02:00:00:00:00:{mac:02x}"}}}}"#)
            .into_bytes()
    }

    /// An empty mirror, a recording sink, fresh counters and a time.
    fn fixture() -> (Mirror, Rec, ControlStatus, Instant) {
        (
            Mirror::default(),
            Rec::default(),
            ControlStatus::new(),
            Instant::now(),
        )
    }

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

    /// A lease no VTEP could have (a PublicIP no host has, a VtepMAC no
    /// interface has) is counted and skipped as a malformed one, and keeps
    /// the good entry of its key; the boundaries of each class pass.
    #[test]
    fn leases_no_vtep_could_have_are_skipped_and_keep_the_good_entry() {
        let (mut m, mut r, st, t) = fixture();
        let lease = |ip: &str, mac: &str| {
            format!(
                r#"{{"PublicIP":"{ip}","BackendType":"vxlan","BackendData":{{"VtepMAC":"{mac}"}}}}"#
            )
            .into_bytes()
        };
        let good = "02:00:00:00:00:01";
        m.put("10.1.1.0-24", &lease("192.0.2.1", good), &mut r, &st, t);
        let bad = [
            ("0.0.0.0", good),
            ("0.1.2.3", good),
            ("127.0.0.1", good),
            ("224.0.0.5", good),
            ("239.255.255.255", good),
            ("240.0.0.1", good),
            ("255.255.255.255", good),
            ("192.0.2.1", "01:00:5e:00:00:01"),
            ("192.0.2.1", "00:00:00:00:00:00"),
            ("192.0.2.1", "ff:ff:ff:ff:ff:ff"),
        ];
        for (n, (ip, mac)) in bad.iter().enumerate() {
            m.put("10.1.1.0-24", &lease(ip, mac), &mut r, &st, t);
            assert_eq!(st.invalid_entries_total(), n as u64 + 1, "{ip} {mac}");
            let s = Subnet::parse_key("10.1.1.0-24").unwrap();
            assert_eq!(r.0[&s].public_ip, Ipv4Addr::new(192, 0, 2, 1));
        }
        for (n, ip) in ["1.0.0.0", "126.255.255.255", "128.0.0.1", "223.255.255.255"]
            .iter()
            .enumerate()
        {
            let key = format!("10.1.{}.0-24", n + 2);
            m.put(&key, &lease(ip, "0e:00:00:00:00:02"), &mut r, &st, t);
            assert!(m.holds_key(&key), "{ip}");
        }
        assert_eq!(st.invalid_entries_total(), bad.len() as u64);
        // So is one the sink refuses (an edge of its link).
        r.2 = Some(Ipv4Addr::new(192, 0, 2, 77));
        m.put("10.1.1.0-24", &lease("192.0.2.77", good), &mut r, &st, t);
        assert_eq!(st.invalid_entries_total(), bad.len() as u64 + 1);
        let s = Subnet::parse_key("10.1.1.0-24").unwrap();
        assert_eq!(r.0[&s].public_ip, Ipv4Addr::new(192, 0, 2, 1));
        // A re-list judges them the same way.
        let listing = vec![
            ("10.1.1.0-24".to_string(), lease("224.0.0.5", good)),
            ("10.1.9.0-24".to_string(), lease("127.0.0.1", good)),
            ("10.1.10.0-24".to_string(), lease("192.0.2.77", good)),
        ];
        m.resync(&listing, &mut r, &st);
        assert_eq!(r.0[&s].public_ip, Ipv4Addr::new(192, 0, 2, 1));
        assert!(!m.holds_key("10.1.9.0-24") && !m.holds_key("10.1.10.0-24"));
    }

    /// A writer that keeps putting new bad values under one key: every one
    /// counted, but one log line per `SKIP_LOG_EVERY` and key (the next
    /// saying how many it left out); another key is logged at once.
    #[test]
    fn skips_of_one_key_are_all_counted_but_logged_at_a_limited_rate() {
        let lines = crate::ops::logging::Buf::default();
        let sub = tracing_subscriber::fmt()
            .with_writer(lines.clone())
            .with_ansi(false)
            .finish();
        let (mut m, mut r, st, t) = fixture();
        tracing::subscriber::with_default(sub, || {
            for i in 0..50 {
                let bad = format!(
                    r#"{{"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{{"VtepMAC":"zz{i}"}}}}"#
                );
                m.put("10.1.1.0-24", bad.as_bytes(), &mut r, &st, t);
            }
            m.put("10.1.2.0-24", b"{", &mut r, &st, t);
        });
        assert_eq!(st.invalid_entries_total(), 51);
        let text = lines.text();
        let of = |key: &str| text.lines().filter(|l| l.contains(key)).count();
        assert_eq!((of("10.1.1.0-24"), of("10.1.2.0-24")), (1, 1), "{text}");
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
        huge.resize(super::super::schema::MAX_VALUE_BYTES + 1, b' ');
        m.put("10.1.1.0-24", &huge, &mut r, &st, t);
        let s = Subnet::parse_key("10.1.1.0-24").unwrap();
        assert_eq!(r.0[&s].public_ip, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(st.invalid_entries_total(), 1);
        m.resync(&[("10.1.1.0-24".to_string(), huge)], &mut r, &st);
        assert_eq!(r.0[&s].public_ip, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!((st.invalid_entries_total(), r.1), (1, 1));
    }

    #[test]
    fn our_key_is_ours_a_reservation_taken_damaged_or_altered() {
        let me = LeaseAttrs {
            public_ip: Ipv4Addr::new(192, 0, 2, 1),
            public_ipv6: None,
            backend_type: "vxlan".into(),
            vtep_mac: [2, 0, 0, 0, 0, 1],
            vni: Some(1),
        };
        assert_eq!(own_key_state(&val(1, 1), 7, &me), OwnKey::Ours);
        assert_eq!(own_key_state(&val(1, 1), 0, &me), OwnKey::Reservation);
        assert_eq!(
            own_key_state(&val(9, 1), 7, &me),
            OwnKey::Taken(Ipv4Addr::new(192, 0, 2, 9))
        );
        assert_eq!(own_key_state(b"{", 7, &me), OwnKey::Damaged);
        // Our PublicIP with another VtepMAC, or another backend's value
        // naming it, under a lease: ours (flanneld finds leases by
        // PublicIP), to be rewritten with our attributes now.
        assert_eq!(own_key_state(&val(1, 2), 7, &me), OwnKey::Altered);
        let udp = br#"{"PublicIP":"192.0.2.1","BackendType":"udp"}"#;
        assert_eq!(own_key_state(udp, 7, &me), OwnKey::Altered);
        // Without a lease, any value naming our PublicIP is a reservation
        // (its attributes are the renewer's to judge).
        assert_eq!(own_key_state(&val(1, 2), 0, &me), OwnKey::Reservation);
        // The VNI and the JSON's spelling are not ours to insist on.
        let other_spelling = br#"{"publicip":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"02-00-00-00-00-01"}}"#;
        assert_eq!(own_key_state(other_spelling, 7, &me), OwnKey::Ours);
    }

    #[test]
    fn quorum_checks_end_only_a_session_whose_watch_is_behind_or_unverifiable() {
        let failed = || {
            Err(ControlError::Unreachable {
                endpoints: "e".into(),
                detail: "get timed out".into(),
            })
        };
        // The first check only notes the cluster's revision.
        assert_eq!(quorum_check(Ok(100), None, 90).unwrap(), Some(100));
        // Watches that reached it: the next revision is due.
        assert_eq!(quorum_check(Ok(120), Some(100), 100).unwrap(), Some(120));
        assert_eq!(quorum_check(Ok(120), Some(100), 130).unwrap(), Some(120));
        // A watch still behind what the cluster had a check ago: its member
        // missed writes, whatever this read says.
        let e = quorum_check(Ok(140), Some(120), 119).unwrap_err();
        assert!(e.to_string().contains("behind the cluster"), "{e}");
        // A failed read: the watched member (the read goes to it alone)
        // cannot serve a quorum read.
        assert!(quorum_check(failed(), Some(100), 100).is_err());
        assert!(quorum_check(failed(), None, 100).is_err());
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
