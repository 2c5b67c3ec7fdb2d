//! Our key found gone (deleted, expired, or lost with etcd's data when
//! etcd was wiped or restored): it is re-created only under a network
//! config now in etcd that accepts our subnet, atomically with that config
//! (`Unfit`: why not), and the log says why it was gone, from what the
//! renewer recalls of the key's past (`Recall`).

use std::net::Ipv4Addr;

use etcd_client::{Compare, CompareOp};

use super::renew::RenewError;
use super::OwnLease;
use crate::control::registry::Registry;
use crate::control::schema::NetworkConfig;
use crate::control::status::ControlStatus;
use crate::control::subnet::Subnet;
use crate::control::ControlError;

/// Why our gone key is not re-created: etcd holds no network config that
/// accepts our subnet. flanneld never writes a lease before
/// `<prefix>/config` exists; after etcd was wiped or restored, a key
/// re-created at once would be a lease outside whatever config an
/// operator then puts back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unfit {
    #[error("etcd holds no network config at {key} (was etcd wiped or restored?): our lease is not re-created until it is back")]
    Missing { key: String },
    #[error("the network config at {key} is not valid ({why}): our lease is not re-created until a valid one that holds our subnet is back")]
    Invalid { key: String, why: String },
    #[error("our subnet {subnet} lies outside the network config now in etcd (Network {network}, SubnetLen {subnet_len}): not re-created; restart vxgate to take a subnet of the new network")]
    Outside {
        subnet: Subnet,
        network: Subnet,
        subnet_len: u8,
    },
}

/// What the renewer knows of our key's past, to say why it was gone when
/// it re-creates it.
#[derive(Debug)]
pub(crate) struct Recall {
    /// Another node's PublicIP on our key when it was last read.
    pub(super) taken_by: Option<Ipv4Addr>,
    /// `ControlStatus::data_replacements_total` when our key was last
    /// ours: a higher count now is etcd's data replaced since.
    pub(super) replacements: u64,
}

impl Recall {
    /// Our key ours now.
    pub(crate) fn ours(status: &ControlStatus) -> Recall {
        Recall {
            taken_by: None,
            replacements: status.data_replacements_total(),
        }
    }
}

/// The compare that makes re-creating our gone key atomic with the
/// network config just read (the config key still at its mod revision,
/// so present and unchanged), if that config accepts our subnet (parses,
/// vxlan, `subnet` inside Network with SubnetLen); else why not.
pub(super) async fn config_fits(reg: &mut Registry, subnet: Subnet) -> Result<Compare, RenewError> {
    let key = reg.config_key();
    let read = reg.read_config().await?;
    let Some(value) = read.value else {
        return Err(RenewError::NotRecreated(Unfit::Missing { key }));
    };
    match NetworkConfig::parse(&value) {
        Err(e) => Err(RenewError::NotRecreated(Unfit::Invalid {
            key,
            why: e.to_string(),
        })),
        Ok(cfg) if !cfg.accepts(subnet) => Err(RenewError::NotRecreated(Unfit::Outside {
            subnet,
            network: cfg.network,
            subnet_len: cfg.subnet_len,
        })),
        Ok(_) => Ok(Compare::mod_revision(
            key,
            CompareOp::Equal,
            read.mod_revision,
        )),
    }
}

/// Why our key was gone when the renewal re-created it (`own` as it was
/// before). etcd's delete event does not say; what we know does, in this
/// order: etcd's data replaced since our key was last ours (restored from
/// a snapshot, or wiped: the watch saw its revision go back or its
/// cluster ID change); the key held by another node when last read (its
/// holder's etcd lease ran out, or it was deleted: our subnet is free
/// again); a reservation deleted; else the etcd lease the key was under:
/// still there, someone deleted the key; not found, the key went with it
/// (it expired, renewals having failed until then, or was revoked).
pub(super) async fn log_recreated(
    reg: &mut Registry,
    own: &OwnLease,
    status: &ControlStatus,
    recall: &Recall,
) {
    let key = own.key.as_str();
    if status.data_replacements_total() != recall.replacements {
        tracing::error!(key, "OWN LEASE LOST WITH ETCD'S DATA: etcd's data was replaced since our lease was written (restored from a snapshot, or wiped: its revision went back or its cluster ID changed); re-created it");
        return;
    }
    if let Some(holder) = recall.taken_by {
        tracing::warn!(key, %holder, "our subnet is free again: the key {holder} held on it is gone (deleted, or its etcd lease ran out); taken back");
        return;
    }
    if own.is_reservation() {
        tracing::error!(
            key,
            "OWN RESERVATION WAS DELETED while running; re-created it as a normal lease"
        );
        return;
    }
    let old_lease = own.etcd_lease_id;
    let alive = lease_alive(reg, old_lease).await;
    match alive {
        Ok(true) => tracing::error!(key, "OWN LEASE WAS DELETED while running (its etcd lease was still alive); re-created it (flanneld would exit here)"),
        Ok(false) => tracing::error!(key, lease = old_lease, "OWN LEASE EXPIRED: our key went with its etcd lease, which ran out before a renewal reached etcd (or was revoked); re-created it"),
        Err(e) => tracing::error!(key, error = %e, "OWN LEASE VANISHED while running (deleted, or its etcd lease ran out: etcd could not be asked which); re-created it"),
    }
}

/// Whether etcd still has lease `id` (a TimeToLive of -1: not found).
async fn lease_alive(reg: &mut Registry, id: i64) -> Result<bool, ControlError> {
    let r = reg
        .request("lease ttl", |c| {
            let mut lc = c.lease_client();
            async move { lc.time_to_live(id, None).await }
        })
        .await?;
    Ok(r.ttl() > 0)
}
