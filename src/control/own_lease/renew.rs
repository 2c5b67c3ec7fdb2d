//! One renewal of our key: a fresh etcd lease and a put under it, guarded
//! by a transaction that applies only while the key still holds what we
//! wrote; else judged by what etcd now holds there (made a reservation,
//! taken by another node, damaged or altered, or gone: then re-created,
//! see `recreate.rs`).

use std::net::Ipv4Addr;

use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp, TxnOpResponse};

use super::recreate::{config_fits, log_recreated, Recall, Unfit};
use super::write::{adopt_reservation, grant, put_if_unchanged, revoke, txn_granted};
use super::{own_key_state, OwnKey, OwnLease};
use crate::control::registry::Registry;
use crate::control::status::ControlStatus;
use crate::control::ControlError;

/// Our key as read: (value, etcd lease, mod revision).
type KeyRead = (Vec<u8>, i64, i64);

/// Why a renewal did not leave our key ours.
#[derive(Debug)]
pub(crate) enum RenewError {
    Failed(ControlError),
    /// Our key is gone, and no network config lets us re-create it.
    NotRecreated(Unfit),
}

impl From<ControlError> for RenewError {
    fn from(e: ControlError) -> Self {
        RenewError::Failed(e)
    }
}

/// Writes our key under a fresh etcd lease: succeeds if the key is still
/// ours (same etcd lease, or our PublicIP), damaged (an unreadable value:
/// rewritten) or gone (then re-created, only under a network config that
/// accepts our subnet: `NotRecreated` otherwise). A key naming another
/// PublicIP is `SubnetTaken`.
pub(crate) async fn renew(
    reg: &mut Registry,
    own: &mut OwnLease,
    status: &ControlStatus,
    recall: &mut Recall,
) -> Result<(), RenewError> {
    let taken = |own: &OwnLease, holder: Ipv4Addr| ControlError::SubnetTaken {
        subnet: own.subnet,
        holder: holder.to_string(),
        key: own.key.clone(),
    };
    // Re-creating a reservation found gone: under a config that fits.
    let mut recreate_under = None;
    if own.is_reservation() {
        // Only woken when the key changed: ours still (an operator re-put
        // it) is left alone, our reservation with other attributes (a
        // VtepMAC peers would send to and we would drop) or a damaged
        // value is rewritten, still without a lease, as at start-up
        // (`take_back`); another PublicIP's is not ours; gone, it is
        // re-created.
        let r = reg.get("get own", own.key.clone(), None).await?;
        if let Some(kv) = r.kvs().first() {
            recall.taken_by = None;
            return match own_key_state(kv.value(), kv.lease(), &own.attrs) {
                OwnKey::Ours => Ok(()),
                OwnKey::Taken(ip) => {
                    recall.taken_by = Some(ip);
                    Err(taken(own, ip).into())
                }
                // Ours put back as a reservation, with other attributes
                // under a lease too: our reservation, as we hold it.
                OwnKey::Reservation | OwnKey::Damaged | OwnKey::Altered => {
                    let (v, rev) = (kv.value(), kv.mod_revision());
                    let adopted = adopt_reservation(reg, &own.key, v, rev, &own.attrs).await?;
                    Ok(adopted.then_some(()).ok_or_else(changed)?)
                }
            };
        }
        recreate_under = Some(config_fits(reg, own.subnet).await?);
    }
    let (id, expiry) = grant(reg).await?;
    let put = || {
        TxnOp::put(
            own.key.clone(),
            own.attrs.encode(),
            Some(PutOptions::new().with_lease(id)),
        )
    };
    // A reservation is re-created only where no key is: `lease == 0` would
    // also match another node's reservation. Our lease is renewed at once
    // only while it still holds what we wrote: another value put under our
    // etcd lease (another node's PublicIP, other attributes) is judged
    // below, as one under another lease is.
    let first = match recreate_under {
        Some(config) => vec![
            Compare::version(own.key.clone(), CompareOp::Equal, 0),
            config,
        ],
        None => vec![
            Compare::lease(own.key.clone(), CompareOp::Equal, own.etcd_lease_id),
            Compare::value(own.key.clone(), CompareOp::Equal, own.attrs.encode()),
        ],
    };
    let t = Txn::new()
        .when(first)
        .and_then([put()])
        .or_else([TxnOp::get(own.key.clone(), None)]);
    let resp = txn_granted(reg, t, &own.key, id).await?;
    let mut ok = resp.succeeded();
    if ok && own.is_reservation() {
        log_recreated(reg, own, status, recall).await;
    }
    if !ok {
        let current: Option<KeyRead> = resp
            .op_responses()
            .into_iter()
            .find_map(|r| match r {
                TxnOpResponse::Get(g) => Some(
                    g.kvs()
                        .first()
                        .map(|kv| (kv.value().to_vec(), kv.lease(), kv.mod_revision())),
                ),
                _ => None,
            })
            .flatten();
        if current.is_some() {
            recall.taken_by = None;
        }
        match current {
            None => {
                // The lease just granted holds nothing: revoked if the
                // config does not let us re-create the key.
                let config = match config_fits(reg, own.subnet).await {
                    Ok(c) => c,
                    Err(e) => {
                        revoke(reg, id).await;
                        return Err(e);
                    }
                };
                let t = Txn::new()
                    .when([
                        Compare::version(own.key.clone(), CompareOp::Equal, 0),
                        config,
                    ])
                    .and_then([put()]);
                ok = txn_granted(reg, t, &own.key, id).await?.succeeded();
                if ok {
                    log_recreated(reg, own, status, recall).await;
                }
            }
            Some((v, lease, mod_revision)) => match own_key_state(&v, lease, &own.attrs) {
                OwnKey::Reservation => {
                    // An operator made our key a reservation (flannel's
                    // documented `etcdctl put` of the value without a
                    // lease): it stays one.
                    revoke(reg, id).await;
                    tracing::info!(key = %own.key, "our lease was made a reservation in etcd; kept as a reservation (no more renewals)");
                    own.etcd_lease_id = 0;
                    own.expiry = None;
                    // If the key moved meanwhile, the retry judges it as
                    // the reservation it now is.
                    let adopted =
                        adopt_reservation(reg, &own.key, &v, mod_revision, &own.attrs).await?;
                    return Ok(adopted.then_some(()).ok_or_else(changed)?);
                }
                OwnKey::Taken(ip) => {
                    revoke(reg, id).await;
                    recall.taken_by = Some(ip);
                    return Err(taken(own, ip).into());
                }
                // Our PublicIP under another etcd lease, or a damaged
                // value: ours, rewritten if still what was read.
                state => {
                    let value = own.attrs.encode();
                    ok = put_if_unchanged(reg, &own.key, mod_revision, value, Some(id)).await?;
                    // The watch said so when it saw the value (at a
                    // limited rate: a writer in a loop makes one of these
                    // a second).
                    if ok && matches!(state, OwnKey::Damaged | OwnKey::Altered) {
                        tracing::debug!(key = %own.key, ?state, "our key rewritten with our attributes");
                    }
                }
            },
        }
    }
    if !ok {
        revoke(reg, id).await;
        return Err(changed().into());
    }
    own.etcd_lease_id = id;
    own.expiry = Some(expiry);
    Ok(())
}

fn changed() -> ControlError {
    ControlError::Etcd {
        op: "renew",
        detail: "the key changed during renewal; will retry".into(),
    }
}
