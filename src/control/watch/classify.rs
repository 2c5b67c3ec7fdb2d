//! What one listed or watched key/value under `subnets/` means to us: a
//! lease to deliver, or a key to skip and why (a malformed key or value,
//! another backend, a length other than SubnetLen, an address no VTEP can
//! have, a claim on our subnet). A skipped key is counted, and logged at a
//! limited rate per key (`SkipLog`).

use crate::control::schema::{LeaseAttrs, LeaseValue};
use crate::control::status::ControlStatus;
use crate::control::subnet::{LeaseKey, Subnet};
use crate::control::LeaseSink;
use crate::ops::logging::RateLimitedLog;

/// What one key/value means to us.
pub(super) enum Classified {
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
pub(super) fn classify(
    key: &str,
    value: &[u8],
    subnet_len: u8,
    sink: &dyn LeaseSink,
) -> Classified {
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
pub(super) enum Skip {
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

    /// Writes one line for the skips left unlogged because more keys were
    /// skipped within `SKIP_LOG_EVERY` than are tracked one by one (a
    /// flood of bad keys): each such key's own line is left out, but not
    /// without a word. Nothing when there were none.
    pub fn say_left_out(&self) {
        let left_out = self.0.take_left_out();
        if left_out > 0 {
            tracing::warn!(
                left_out,
                "more lease keys were skipped than are logged one by one; the lines of {left_out} more were left out (all are counted in vxgate_etcd_invalid_entries_total)"
            );
        }
    }
}

impl Skip {
    /// Counts the skip, and logs it unless `log` says the key was logged
    /// within `SKIP_LOG_EVERY` (the line then says how many were not).
    pub(super) fn report(&self, key: &str, st: &ControlStatus, log: &SkipLog) {
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

#[cfg(test)]
mod tests {
    use super::super::testing::fixture;
    use crate::control::subnet::Subnet;
    use std::net::Ipv4Addr;

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
        let (mut m, mut r, st, t) = fixture();
        let (text, ()) = crate::ops::logging::Buf::capture(|| {
            for i in 0..50 {
                let bad = format!(
                    r#"{{"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{{"VtepMAC":"zz{i}"}}}}"#
                );
                m.put("10.1.1.0-24", bad.as_bytes(), &mut r, &st, t);
            }
            m.put("10.1.2.0-24", b"{", &mut r, &st, t);
        });
        assert_eq!(st.invalid_entries_total(), 51);
        let of = |key: &str| text.lines().filter(|l| l.contains(key)).count();
        assert_eq!((of("10.1.1.0-24"), of("10.1.2.0-24")), (1, 1), "{text}");
    }

    /// More distinct bad keys within `SKIP_LOG_EVERY` than are tracked one
    /// by one (1 024): the lines past them are left out, and one line
    /// says how many, so the log never looks complete when it is not.
    #[test]
    fn a_flood_of_bad_keys_says_how_many_lines_it_left_out() {
        let (mut m, mut r, st, t) = fixture();
        let (text, ()) = crate::ops::logging::Buf::capture(|| {
            m.say_left_out();
            for i in 0..1100u32 {
                let key = format!("10.{}.{}.0-24", i / 256, i % 256);
                m.put(&key, b"{", &mut r, &st, t);
            }
            m.say_left_out();
            m.say_left_out();
        });
        assert_eq!(st.invalid_entries_total(), 1100);
        let skipped = text
            .lines()
            .filter(|l| l.contains("malformed value"))
            .count();
        let summaries: Vec<&str> = text.lines().filter(|l| l.contains("left_out=")).collect();
        // 1 024 keys, and the first of the rest in their shared slot.
        assert_eq!(skipped, 1025, "{text}");
        assert_eq!(summaries.len(), 1, "{text}");
        assert!(summaries[0].contains("left_out=75"), "{text}");
    }
}
