//! The task that keeps our lease renewed while the watch runs: when to
//! renew (flanneld's TTL less the renew margin, with a word when that is
//! odd), the retries after a failure (a backoff cut short when etcd is
//! back, the config is put, or our key changes), and the wake-ups on
//! changes to our key that the watch sees.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use super::recreate::{Recall, Unfit};
use super::renew::{renew, RenewError};
use super::OwnLease;
use crate::control::backoff::Backoff;
use crate::control::registry::Registry;
use crate::control::status::ControlStatus;
use crate::control::ControlError;
use crate::ops::logging::RateLimitedLog;

/// Retry delays after a failed renewal: the control plane's jittered
/// backoff from this, doubling up to `RENEW_RETRY_MAX` (flanneld: 1 min
/// flat; ours starts shorter because a short test TTL would otherwise run
/// out). A retry is made at once when the watch has listed again
/// (etcd is back), whatever the delay left (`keep_renewed`).
pub(crate) const RENEW_RETRY: Duration = Duration::from_secs(2);
pub(crate) const RENEW_RETRY_MAX: Duration = Duration::from_secs(30);

/// A renewal that keeps failing is logged again at most this often.
const RENEW_LOG_EVERY: Duration = Duration::from_secs(300);

/// The least time between two rewrites of our key that changes to it woke:
/// another writer that keeps putting its own attributes under our key (a
/// second gateway with our PublicIP) costs etcd one write a second, not a
/// loop at etcd's speed.
const REPAIR_EVERY: Duration = Duration::from_secs(1);

/// `ttl - margin`, as flanneld renews (`time.Until(Expiration) -
/// renewMargin`, whatever the margin's share of the TTL). A margin that
/// is not below the TTL (a short test TTL under the default margin; the
/// configuration refuses it only when the margin was given) renews at
/// half the TTL.
pub(crate) fn renew_after(ttl_s: i64, margin_min: u64) -> Duration {
    let ttl = ttl_s.max(1) as u64;
    let margin = margin_min.saturating_mul(60);
    let margin = if margin < ttl { margin } else { ttl / 2 };
    Duration::from_secs(ttl - margin)
}

/// What is odd about renewing a lease of `ttl_s` seconds `margin_min`
/// minutes before expiry, if anything.
fn renewal_warning(ttl_s: u64, margin_min: u64) -> Option<&'static str> {
    let ttl = ttl_s.max(1);
    if margin_min.saturating_mul(60) >= ttl {
        return Some("the renew margin (--subnet-lease-renew-margin, default 60 min) is not below the lease TTL; renewing at half the TTL instead");
    }
    // As flanneld would, but worth a word: each renewal is a Grant and a
    // Put to etcd, and a watch event on every peer.
    (renew_after(ttl as i64, margin_min) < Duration::from_secs(60)).then_some(
        "the lease TTL leaves less than a minute between renewals; raise --subnet-lease-ttl or lower --subnet-lease-renew-margin",
    )
}

/// Logs [`renewal_warning`]: when the lease is kept renewed, and by
/// `--check-config`, which must say what the start would.
pub fn warn_about_renewal(ttl_s: u64, margin_min: u64) {
    if let Some(why) = renewal_warning(ttl_s, margin_min) {
        tracing::warn!(
            margin_min,
            ttl_s,
            renew_after = ?renew_after(ttl_s as i64, margin_min),
            "{why}"
        );
    }
}

/// Keeps our lease alive until the task is dropped. A reservation is left
/// alone unless it is deleted, then it is re-created as a normal lease.
///
/// `etcd_back` changes whenever the watch has listed again: etcd is
/// reachable, and a renewal that failed is retried at once, not when its
/// backoff (up to `RENEW_RETRY_MAX`) runs out, which could let our key
/// expire after etcd was back or leave it unrenewed, and /readyz
/// unready, long after. `config_put` changes at every put of the network
/// config: a key that was not re-created for want of a config that fits
/// is tried again at once.
pub(crate) async fn keep_renewed(
    mut reg: Registry,
    mut own: OwnLease,
    status: Arc<ControlStatus>,
    key_changed: Arc<Notify>,
    mut etcd_back: tokio::sync::watch::Receiver<u64>,
    mut config_put: tokio::sync::watch::Receiver<u64>,
) {
    let margin = reg.opts.renew_margin_min;
    let granted = reg.opts.lease_ttl_s as i64;
    warn_about_renewal(reg.opts.lease_ttl_s, margin);
    let mut last_repair: Option<tokio::time::Instant> = None;
    let mut recall = Recall::ours(&status);
    // Why our gone key is not re-created, as last said (once per state).
    let mut unfit_said: Option<Unfit> = None;
    loop {
        let wait = match own.expiry {
            None => None,
            Some(exp) => {
                let ttl = exp.duration_since(SystemTime::now()).unwrap_or_default();
                // Renew `margin` before expiry (`renew_after`).
                let after = renew_after(granted, margin);
                let lead = Duration::from_secs(granted.max(1) as u64).saturating_sub(after);
                Some(ttl.saturating_sub(lead))
            }
        };
        let woken = match wait {
            Some(w) => {
                tokio::select! {
                    _ = tokio::time::sleep(w) => false,
                    _ = key_changed.notified() => true,
                }
            }
            None => {
                key_changed.notified().await;
                true
            }
        };
        if woken {
            if let Some(t) = last_repair {
                tokio::time::sleep(REPAIR_EVERY.saturating_sub(t.elapsed())).await;
            }
            last_repair = Some(tokio::time::Instant::now());
        }
        // A client idle for a day holds an expired auth token (etcd's
        // simple tokens last 5 min): start the renewal on a fresh one.
        if let Err(e) = reg.reconnect().await {
            tracing::debug!(error = %e, "etcd reconnect for renewal failed");
        }
        let (retry_min, retry_max) = reg.opts.renew_retry;
        let mut retry = Backoff::between(retry_min, retry_max);
        let repeats = RateLimitedLog::new(RENEW_LOG_EVERY);
        let mut failures = 0u64;
        loop {
            // A list that succeeds from now on, during this attempt too,
            // ends the wait after a failure.
            etcd_back.borrow_and_update();
            config_put.borrow_and_update();
            match renew(&mut reg, &mut own, &status, &mut recall).await {
                Ok(()) => {
                    status.set_own_expiry(own.expiry);
                    recall = Recall::ours(&status);
                    unfit_said = None;
                    if failures > 0 {
                        tracing::info!(key = %own.key, failures, "own lease renewed after failures");
                    }
                    tracing::debug!(key = %own.key, lease = own.etcd_lease_id, "own lease renewed");
                    break;
                }
                Err(RenewError::NotRecreated(why)) => {
                    failures += 1;
                    // Nothing written: no lease of ours (/readyz says so).
                    status.clear_own_expiry();
                    status.add_renew_failure();
                    if unfit_said.as_ref() != Some(&why) {
                        tracing::error!(key = %own.key, "{why}");
                        unfit_said = Some(why);
                    }
                }
                Err(RenewError::Failed(e)) => {
                    failures += 1;
                    if matches!(e, ControlError::SubnetTaken { .. }) {
                        // Our old etcd lease no longer holds our subnet.
                        status.clear_own_expiry();
                    }
                    status.add_renew_failure();
                    if let Some(suppressed) = repeats.check("renew") {
                        tracing::error!(error = %e, key = %own.key, failures, suppressed, "renewing our lease failed; retrying (every {retry_min:?} to {retry_max:?}, and as soon as etcd is back; logged every {RENEW_LOG_EVERY:?})");
                    }
                }
            }
            // Only failures get here.
            tokio::select! {
                _ = tokio::time::sleep(retry.next_delay()) => {}
                // Our key changed again (say the other holder left).
                _ = key_changed.notified() => {}
                // The watch listed again: etcd is back. (An `Err`, the
                // watch gone, disables this branch.)
                Ok(()) = etcd_back.changed() => {
                    tracing::debug!(key = %own.key, "etcd is back; retrying the renewal now");
                }
                // The network config was put: perhaps one that lets us
                // re-create our key.
                Ok(()) = config_put.changed() => {
                    tracing::debug!(key = %own.key, "network config put; retrying the renewal now");
                }
            }
            // The next try on the next member: the failure may be this
            // one's.
            if let Err(e) = reg.fail_over().await {
                tracing::debug!(error = %e, "etcd reconnect for renewal failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As flanneld: the margin before expiry, however large a share of
    /// the TTL; half the TTL only when the margin is not below it.
    #[test]
    fn short_ttls_and_margins_are_warned_about() {
        // The default margin (60 min) over a test TTL: half the TTL.
        assert!(renewal_warning(10, 60).is_some_and(|w| w.contains("not below the lease TTL")));
        assert!(renewal_warning(3600, 60).is_some_and(|w| w.contains("not below")));
        // Under a minute between renewals.
        assert!(renewal_warning(3630, 60).is_some_and(|w| w.contains("less than a minute")));
        // flanneld's defaults: nothing to say.
        assert_eq!(renewal_warning(86_400, 60), None);
        assert_eq!(renewal_warning(3660, 60), None);
    }

    #[test]
    fn renewal_is_the_margin_before_expiry_as_flanneld() {
        assert_eq!(renew_after(86_400, 60), Duration::from_secs(82_800));
        assert_eq!(renew_after(3600, 1), Duration::from_secs(3540));
        assert_eq!(renew_after(86_400, 1_000), Duration::from_secs(26_400));
        assert_eq!(renew_after(86_400, 1_439), Duration::from_secs(60));
        assert_eq!(renew_after(90, 1), Duration::from_secs(30));
        assert_eq!(renew_after(4, 60), Duration::from_secs(2));
        assert_eq!(renew_after(60, 1), Duration::from_secs(30));
    }
}
