//! `<prefix>/config` while vxgate runs: what changed, said once. vxgate
//! keeps the config it started with (flanneld does too; a restart applies
//! a new one), so the watch only tells the operator, and compares what the
//! config means, not its bytes: the same config rewritten (reformatted,
//! defaults spelt out) is no news.
use super::schema::NetworkConfig;

/// What a config event or re-list says that is news.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ConfigNews {
    /// Another config than the running one: what differs.
    Changed(String),
    /// A value that is no valid config: why.
    Invalid(String),
    Deleted,
    /// After a deletion or a change, the running config again.
    Back,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Same,
    Differs,
    Deleted,
}

/// The config as last seen: a re-list after every reconnect reads it
/// again, and each change is said once.
pub(crate) struct ConfigSeen {
    raw: Vec<u8>,
    /// The config vxgate runs with.
    running: NetworkConfig,
    state: State,
}

impl ConfigSeen {
    /// `running`: the config vxgate started with, read from `raw`.
    pub(crate) fn new(running: NetworkConfig, raw: Vec<u8>) -> ConfigSeen {
        ConfigSeen {
            raw,
            running,
            state: State::Same,
        }
    }

    /// `value`: the config's value, None when the key is gone.
    pub(crate) fn seen(&mut self, value: Option<&[u8]>) -> Option<ConfigNews> {
        let Some(v) = value else {
            // Said once until a value is back.
            let was = std::mem::replace(&mut self.state, State::Deleted);
            return (was != State::Deleted).then_some(ConfigNews::Deleted);
        };
        if v == self.raw.as_slice() && self.state != State::Deleted {
            return None;
        }
        self.raw = v.to_vec();
        match NetworkConfig::parse(v) {
            Ok(c) if c == self.running => {
                let was = std::mem::replace(&mut self.state, State::Same);
                (was != State::Same).then_some(ConfigNews::Back)
            }
            Ok(c) => {
                self.state = State::Differs;
                Some(ConfigNews::Changed(differences(&self.running, &c)))
            }
            Err(e) => {
                self.state = State::Differs;
                Some(ConfigNews::Invalid(e.to_string()))
            }
        }
    }
}

/// `Key old -> new` for every field that differs, flanneld's key names.
fn differences(old: &NetworkConfig, new: &NetworkConfig) -> String {
    fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
        v.map_or_else(|| "unset".into(), |v| v.to_string())
    }
    let (o, n) = (&old.backend, &new.backend);
    let fields = [
        ("Network", old.network.to_string(), new.network.to_string()),
        (
            "SubnetLen",
            old.subnet_len.to_string(),
            new.subnet_len.to_string(),
        ),
        (
            "SubnetMin",
            old.subnet_min.to_string(),
            new.subnet_min.to_string(),
        ),
        (
            "SubnetMax",
            old.subnet_max.to_string(),
            new.subnet_max.to_string(),
        ),
        ("Backend.VNI", o.vni.to_string(), n.vni.to_string()),
        ("Backend.Port", o.port.to_string(), n.port.to_string()),
        ("Backend.MTU", opt(o.mtu), opt(n.mtu)),
        (
            "Backend.DirectRouting",
            o.direct_routing.to_string(),
            n.direct_routing.to_string(),
        ),
        ("Backend.GBP", o.gbp.to_string(), n.gbp.to_string()),
        (
            "IPv6 keys",
            format!("{:?}", old.ipv6_keys_ignored),
            format!("{:?}", new.ipv6_keys_ignored),
        ),
    ];
    fields
        .iter()
        .filter(|(_, a, b)| a != b)
        .map(|(k, a, b)| format!("{k} {a} -> {b}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: &[u8] = br#"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#;

    fn seen() -> ConfigSeen {
        ConfigSeen::new(NetworkConfig::parse(RUNNING).unwrap(), RUNNING.to_vec())
    }

    /// A deleted config is said once, not again at every re-list while it
    /// stays deleted; back unchanged it is said once more, and a second
    /// deletion is news again.
    #[test]
    fn a_deleted_config_is_reported_once_until_it_is_back() {
        let mut c = seen();
        assert_eq!(c.seen(Some(RUNNING)), None);
        assert_eq!(c.seen(None), Some(ConfigNews::Deleted));
        assert_eq!(c.seen(None), None, "a re-list while it stays deleted");
        assert_eq!(c.seen(None), None);
        assert_eq!(c.seen(Some(RUNNING)), Some(ConfigNews::Back));
        assert_eq!(c.seen(Some(RUNNING)), None);
        assert_eq!(c.seen(None), Some(ConfigNews::Deleted));
        let other = br#"{"Network":"10.245.0.0/16","Backend":{"Type":"vxlan"}}"#;
        assert!(matches!(c.seen(Some(other)), Some(ConfigNews::Changed(_))));
        assert_eq!(c.seen(Some(other)), None);
    }

    /// The same config in other bytes (reformatted, other key case,
    /// defaults spelt out) is no news; a real change names its fields,
    /// once; going back to the running config is said once.
    #[test]
    fn changes_are_compared_by_meaning_and_name_their_fields() {
        let mut c = seen();
        for same in [
            &br#"{ "Network": "10.244.0.0/16", "Backend": { "Type": "vxlan" } }"#[..],
            br#"{"network":"10.244.0.0/16","backend":{"type":"vxlan"}}"#,
            br#"{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1,"Port":8472}}"#,
        ] {
            assert_eq!(c.seen(Some(same)), None, "{}", String::from_utf8_lossy(same));
        }
        let vni5 = br#"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":5,"MTU":1400}}"#;
        assert_eq!(
            c.seen(Some(vni5)),
            Some(ConfigNews::Changed(
                "Backend.VNI 1 -> 5, Backend.MTU unset -> 1400".into()
            ))
        );
        assert_eq!(c.seen(Some(vni5)), None);
        assert_eq!(c.seen(Some(RUNNING)), Some(ConfigNews::Back));
        let bad = br#"{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}"#;
        match c.seen(Some(bad)) {
            Some(ConfigNews::Invalid(why)) => assert!(why.contains("host-gw"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(c.seen(Some(bad)), None);
    }
}
