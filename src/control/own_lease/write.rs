//! The guarded etcd writes acquisition and renewal both make: an etcd
//! lease granted for one put, and revoked when the put surely was not made
//! under it (never on a timeout, which may hide an applied put); puts that
//! apply only while the key is still at the revision it was read at; a
//! reservation of ours adopted, rewritten only when it does not hold our
//! attributes.

use std::time::{Duration, SystemTime};

use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp};

use super::holds_our_attrs;
use crate::control::registry::Registry;
use crate::control::schema::{LeaseAttrs, LeaseValue};
use crate::control::ControlError;

pub(super) async fn grant(reg: &mut Registry) -> Result<(i64, SystemTime), ControlError> {
    let ttl = i64::try_from(reg.opts.lease_ttl_s)
        .unwrap_or(i64::MAX)
        .max(1);
    let r = reg
        .request("lease grant", |c| {
            let mut lc = c.lease_client();
            async move { lc.grant(ttl, None).await }
        })
        .await?;
    Ok((
        r.id(),
        // A TTL beyond what SystemTime holds (only from a broken etcd)
        // is taken as "far away".
        SystemTime::now()
            .checked_add(Duration::from_secs(r.ttl().max(0) as u64))
            .unwrap_or(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX))),
    ))
}

pub(super) async fn revoke(reg: &mut Registry, id: i64) {
    let r = reg
        .request("lease revoke", |c| {
            let mut lc = c.lease_client();
            async move { lc.revoke(id).await }
        })
        .await;
    if let Err(e) = r {
        tracing::debug!(error = %e, id, "revoking an unused etcd lease failed; it will expire");
    }
}

/// Whether a transaction that failed with `txn_err` surely applied
/// nothing: etcd answered it (a refusal). A timeout may hide an applied
/// put, which revoking its lease would delete.
fn surely_not_applied(txn_err: &ControlError) -> bool {
    !matches!(txn_err, ControlError::Unreachable { .. })
}

/// Whether a read of our key after such a failure shows the put under
/// `id` not made: the key read (`Ok(None)`: no key) not under `id`.
fn read_shows_no_put(read: Result<Option<i64>, ()>, id: i64) -> bool {
    matches!(read, Ok(lease) if lease != Some(id))
}

/// `txn` for a transaction that puts `key` under `id`, a lease just
/// granted for it. If the transaction fails, the lease is revoked when
/// that is safe (below): the renewer retries every 2 to 30 s, and
/// each try would otherwise leave a lease of the full TTL behind.
pub(super) async fn txn_granted(
    reg: &mut Registry,
    t: Txn,
    key: &str,
    id: i64,
) -> Result<etcd_client::TxnResponse, ControlError> {
    let e = match reg.txn(t).await {
        Ok(r) => return Ok(r),
        Err(e) => e,
    };
    // Revoked only on a definite answer: etcd refused the transaction, or
    // a read shows the key not under `id` (`Ok(None)`: no key). An unused
    // lease expires on its own.
    let revocable = surely_not_applied(&e) || {
        let read = reg.get("get own", key, None).await;
        read_shows_no_put(
            read.map(|r| r.kvs().first().map(|kv| kv.lease()))
                .map_err(|_| ()),
            id,
        )
    };
    if revocable {
        revoke(reg, id).await;
    } else {
        tracing::debug!(id, error = %e, "transaction outcome unknown; its etcd lease is left to expire");
    }
    Err(e)
}

/// Keeps `key`, our reservation read as `value` at `mod_revision`, as a
/// reservation of ours: used as it is when it holds our attributes, else
/// (other attributes, or a value that cannot be read) rewritten with ours,
/// still without a lease, if unchanged since read. `Ok(false)`: it changed
/// meanwhile.
pub(super) async fn adopt_reservation(
    reg: &mut Registry,
    key: &str,
    value: &[u8],
    mod_revision: i64,
    attrs: &LeaseAttrs,
) -> Result<bool, ControlError> {
    if holds_our_attrs(value, attrs) {
        return Ok(true);
    }
    if !put_if_unchanged(reg, key, mod_revision, attrs.encode(), None).await? {
        return Ok(false);
    }
    let what = if LeaseValue::parse(value).is_ok() {
        "other attributes than ours"
    } else {
        "an unreadable value"
    };
    tracing::warn!(key, "our reservation held {what}; rewritten");
    Ok(true)
}

/// Puts `value` on `key` if the key is still at `mod_revision` (as read),
/// under `lease` (one just granted: `txn_granted`) or none; whether it did.
pub(super) async fn put_if_unchanged(
    reg: &mut Registry,
    key: &str,
    mod_revision: i64,
    value: String,
    lease: Option<i64>,
) -> Result<bool, ControlError> {
    let t = Txn::new()
        .when([Compare::mod_revision(key, CompareOp::Equal, mod_revision)])
        .and_then([TxnOp::put(
            key,
            value,
            lease.map(|id| PutOptions::new().with_lease(id)),
        )]);
    let r = match lease {
        Some(id) => txn_granted(reg, t, key, id).await?,
        None => reg.txn(t).await?,
    };
    Ok(r.succeeded())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A granted lease is revoked after a failed transaction only when the
    /// put is known not to have been made under it.
    #[test]
    fn a_granted_lease_is_revoked_only_on_a_definite_answer() {
        let id = 7;
        let refused = ControlError::Auth("permission denied".into());
        let timed_out = ControlError::Unreachable {
            endpoints: "e".into(),
            detail: "txn timed out".into(),
        };
        // etcd refused the transaction: nothing was applied.
        assert!(surely_not_applied(&refused));
        // Outcome unknown: only a read showing the key not under `id`.
        assert!(!surely_not_applied(&timed_out));
        assert!(!read_shows_no_put(Err(()), id), "read failed");
        assert!(!read_shows_no_put(Ok(Some(id)), id), "put made");
        assert!(read_shows_no_put(Ok(Some(3)), id));
        assert!(read_shows_no_put(Ok(Some(0)), id));
        assert!(read_shows_no_put(Ok(None), id));
    }
}
