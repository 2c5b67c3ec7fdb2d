//! One list+watch session: list `<prefix>/subnets/` at one revision and
//! diff it into the mirror, then watch the subnets and the config key from
//! the revision after it, applying each event, until the watch fails, is
//! compacted, or a quorum check finds its member behind the cluster.
//!
//! The loop that starts one session after another is `watch::run`; what a
//! session says about our own key, the config and etcd's data is in
//! `seen.rs`.

use std::future::Future;
use std::time::Instant;

use etcd_client::{EventType, WatchOptions};
use tokio::sync::Notify;

use super::mirror::Mirror;
use super::seen::Seen;
use crate::control::own_lease::Listing;
use crate::control::registry::{call, map_error, Registry};
use crate::control::schema::LeaseAttrs;
use crate::control::status::ControlStatus;
use crate::control::{ControlError, LeaseSink};

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

/// Why one list+watch session ended.
pub(super) enum SessionEnd {
    Compacted,
    Failed(ControlError),
}

pub(super) struct Session<'a> {
    pub(super) reg: &'a mut Registry,
    pub(super) mirror: &'a mut Mirror,
    pub(super) sink: &'a mut dyn LeaseSink,
    pub(super) status: &'a ControlStatus,
    pub(super) own_key: Option<&'a str>,
    /// Our lease's attributes, as we write them (with `own_key`).
    pub(super) own_attrs: Option<&'a LeaseAttrs>,
    /// Wakes the renewer to look at our key (deleted, taken, made a
    /// reservation).
    pub(super) own_key_changed: &'a Notify,
    /// Bumped after every list that succeeded: etcd is reachable, and a
    /// renewal waiting out its backoff is retried now.
    pub(super) etcd_back: &'a tokio::sync::watch::Sender<u64>,
    /// Bumped at every put of the config key: a renewer waiting for a
    /// config that lets it re-create our key looks again now.
    pub(super) config_put: &'a tokio::sync::watch::Sender<u64>,
    /// The list our lease was acquired from, for the first session to use
    /// instead of reading it again (taken by it).
    pub(super) seed: &'a mut Option<Listing>,
    pub(super) seen: &'a mut Seen,
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

    /// `first`: no list has succeeded yet, so this one is no resync;
    /// cleared once it has.
    pub(super) async fn run(&mut self, first: &mut bool) -> SessionEnd {
        let rev = match self.list_and_diff().await {
            Ok(r) => r,
            Err(e) => return SessionEnd::Failed(e),
        };
        if !std::mem::replace(first, false) {
            self.status.add_resync();
        }
        self.status.set_connected(true);
        self.mirror.say_left_out();
        tracing::info!(
            revision = rev,
            leases = self.mirror.len(),
            skipped = self.mirror.skipped_len(),
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
                    // A flood of bad keys is summed up within a tick.
                    self.mirror.say_left_out();
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
                                    "our own key is gone from etcd (deleted, or its etcd lease expired); the renewer re-creates it (once the network config, if it no longer holds our lease, does again)"
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
