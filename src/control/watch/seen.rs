//! What the watch says besides the leases, and what it keeps from one
//! session to the next to say it once: etcd's data replaced (a revision
//! gone back, another cluster ID), the network config changed or deleted,
//! and our own key taken by another node, gone, damaged or altered (the
//! renewer is woken to act on it; the expiry gauge follows the key).

use super::classify::SkipLog;
use super::mirror::Resynced;
use super::session::Session;
use crate::control::config_seen::{ConfigNews, ConfigSeen};
use crate::control::own_lease::{own_key_state, OwnKey};

/// What the watch loop keeps from one session to the next, besides the
/// mirror.
pub(super) struct Seen {
    pub(super) config: ConfigSeen,
    /// Our key's value when it was last said to be taken, and the
    /// PublicIP it names: a re-list after every reconnect does not say it
    /// again, and its going is said as our subnet free again.
    pub(super) own_taken: Option<(Vec<u8>, std::net::Ipv4Addr)>,
    /// The same for a damaged value on our key.
    pub(super) own_damaged: Option<Vec<u8>>,
    /// Damaged or altered values of our key, logged at a limited rate.
    pub(super) own_log: SkipLog,
    /// The cluster ID of the last list's etcd (None before the first):
    /// another one, or a revision gone back, is etcd's data replaced.
    pub(super) cluster_id: Option<u64>,
}

impl Session<'_> {
    /// Says so when etcd's data was replaced since the last list: the
    /// revision `rev` of this list below what we saw before (etcd restored
    /// from a snapshot, or wiped and started anew), or another cluster ID
    /// (`cluster_id`, 0: not told). The tables already hold what etcd
    /// holds now (`diff`: what the list changed).
    pub(super) fn replaced(&mut self, rev: i64, cluster_id: u64, diff: Resynced) {
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

    /// Our key as a watch event or a re-list shows it (`None`: gone). Taken
    /// by another node: said at once (not at the next renewal a day
    /// later), once per value; gone, made a reservation, or ours again
    /// after it was taken: the renewer looks at it now. Our lease's
    /// expiry is reported only while the key is ours.
    pub(super) fn own_key_seen(&mut self, key: &str, kv: Option<(&[u8], i64)>) {
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
                    if let Some(suppressed) = self.seen.own_log.check(key) {
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

    pub(super) fn config_seen(&mut self, value: Option<&[u8]>) {
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
