//! List + watch of `<prefix>/subnets/`, a local mirror, and the resync diff.
//!
//! Every (re)connection re-lists at one revision and diffs the listing
//! against the mirror, then watches from that revision + 1. So after an
//! outage, a compaction, or even an etcd restored from backup (revisions
//! going back), the sink ends up equal to etcd's content.
//!
//! This file holds the loop of sessions (`run`): the renewer started
//! beside it, the backoff and the reconnects between sessions. The rest,
//! one concern a file:
//! - `session.rs`: one list+watch session: the list and its diff, the two
//!   watches and their events, the quorum checks;
//! - `seen.rs`: what the watch says besides the leases, once per change:
//!   our own key taken, gone or damaged, the network config changed,
//!   etcd's data replaced;
//! - `mirror.rs`: the leases delivered to the sink; applies a put, a
//!   delete or a whole listing, telling the sink only the differences;
//! - `classify.rs`: what one key/value means to us, and how a skipped one
//!   is counted and logged.

mod classify;
mod mirror;
mod seen;
mod session;
#[cfg(test)]
mod testing;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use super::backoff::{pause_after, Backoff, REPEAT_LOG};
use super::config_seen::ConfigSeen;
use super::own_lease::{keep_renewed, Listing, OwnLease};
use super::registry::Registry;
use super::schema::NetworkConfig;
use super::status::ControlStatus;
use super::{ControlError, LeaseSink};
use crate::ops::logging::RateLimitedLog;
pub use classify::SkipLog;
use mirror::Mirror;
use seen::Seen;
use session::{Session, SessionEnd};

/// A list+watch session that lasted this long resets the backoff.
const HEALTHY_SESSION: std::time::Duration = std::time::Duration::from_secs(10);

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
