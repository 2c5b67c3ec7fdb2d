//! Acquiring our lease at start, as flanneld does: the list read, a
//! `--subnet` claimed or a subnet chosen (`choose.rs`), its key created or
//! ours taken back under a transaction, retried when another node raced
//! us; then the older leases of our PublicIP released. Also the read-only
//! checks that refuse a start before EAL (`--subnet` fits the config and
//! is free; what `--check-config` reports).

use std::net::Ipv4Addr;

use etcd_client::{Compare, CompareOp, GetOptions, KeyValue, PutOptions, Txn, TxnOp};
use rand::Rng;

use super::choose::{choose, Choice};
use super::listing::{own_key_of, parse_listing, taken_by_another, vtep_mac_free, Listed};
use super::write::{adopt_reservation, grant, put_if_unchanged, revoke, txn_granted};
use super::OwnLease;
use crate::control::registry::Registry;
use crate::control::schema::{LeaseAttrs, NetworkConfig, VXLAN};
use crate::control::subnet::Subnet;
use crate::control::ControlError;

/// flanneld's `raceRetries`.
const RACE_RETRIES: u32 = 10;

/// Whether a requested subnet (`--subnet`) fits flannel's config: inside
/// `Network`, of length `SubnetLen`. `Err`: why not.
pub fn check_requested(cfg: &NetworkConfig, s: Subnet) -> Result<(), String> {
    if !cfg.network.covers(s) {
        return Err(format!("not inside Network {}", cfg.network));
    }
    if s.len != cfg.subnet_len {
        return Err(format!(
            "prefix length must equal SubnetLen /{}",
            cfg.subnet_len
        ));
    }
    Ok(())
}

enum Attempt {
    /// Ours, and how we came by it (for the log line).
    Done(OwnLease, How),
    Conflict,
}

/// How our lease was acquired.
#[derive(Debug, Clone, Copy)]
enum How {
    /// A free subnet's key, created.
    Created,
    /// A key our PublicIP already held (a restart), or a reservation.
    TakenBack,
}

impl How {
    fn as_str(self) -> &'static str {
        match self {
            How::Created => "created",
            How::TakenBack => "taken back",
        }
    }
}

/// The lease list read to acquire our lease, at its revision: it seeds
/// the watch's mirror, which then watches from the revision after it.
pub(crate) type Listing = (i64, Vec<KeyValue>);

/// Acquires our lease; also returns the list it was chosen from.
pub(crate) async fn acquire(
    reg: &mut Registry,
    cfg: &NetworkConfig,
    public_ip: Ipv4Addr,
    vtep_mac: [u8; 6],
    requested: Option<Subnet>,
) -> Result<(OwnLease, Listing), ControlError> {
    if let Some(s) = requested {
        check_requested(cfg, s).map_err(|why| ControlError::BadSubnet { subnet: s, why })?;
    }
    let attrs = LeaseAttrs {
        public_ip,
        public_ipv6: None,
        backend_type: VXLAN.to_string(),
        vtep_mac,
        vni: Some(cfg.backend.vni),
    };
    let dir = reg.subnets_dir();
    for attempt in 0..RACE_RETRIES {
        let (rev, mut kvs) = reg.list_subnets().await?;
        let listed = parse_listing(&dir, &kvs);
        // Checked on this list, not before EAL: the whole list is read
        // only once at start (it can be a million keys).
        vtep_mac_free(&listed, public_ip, vtep_mac)?;
        let step = match requested {
            Some(s) => claim_requested(reg, &listed, s, &attrs).await?,
            None => claim_any(reg, cfg, &listed, &attrs).await?,
        };
        match step {
            Attempt::Done(own, how) => {
                tracing::info!(subnet = %own.subnet, key = %own.key, reservation = own.is_reservation(), how = how.as_str(), "own lease acquired ({})", how.as_str());
                let deleted = release_stale(reg, &listed, &own).await;
                // The list seeds the watch: a lease just deleted would be
                // installed (and warned about as another subnet of our
                // PublicIP) until its delete event came.
                kvs.retain(|kv| !deleted.iter().any(|k| k.as_bytes() == kv.key()));
                return Ok((own, (rev, kvs)));
            }
            Attempt::Conflict => tracing::info!(
                attempt,
                "subnet taken concurrently by another node; retrying"
            ),
        }
    }
    Err(ControlError::RaceLost(RACE_RETRIES))
}

/// Deletes the other leases our PublicIP holds, as flanneld deletes one
/// that no longer fits the config: an older subnet (before `--subnet`
/// changed, SubnetMin/SubnetMax moved, or a reservation was made for us)
/// would stay up to its TTL (a day), the nodes routing it to us, where it
/// is dropped. Only a key still as listed goes (a compare on its
/// revision). A reservation (a key without an etcd lease) is an
/// operator's: it stays, with a warning. Best effort: a failure is logged
/// and the lease runs out by itself. Returns the keys deleted.
async fn release_stale(reg: &mut Registry, listed: &[Listed], own: &OwnLease) -> Vec<String> {
    let mut deleted = Vec::new();
    let ours = listed
        .iter()
        .filter(|l| l.holder == Some(own.attrs.public_ip) && l.key != own.key);
    for l in ours {
        if l.lease == 0 {
            tracing::warn!(key = %l.key, subnet = %l.subnet, own = %own.subnet, "a reservation for our PublicIP that we do not use: left as it is; nodes route its subnet to us, where it is dropped (delete it with etcdctl del '{}' if it is stale)", l.key);
            continue;
        }
        let t = Txn::new()
            .when([Compare::mod_revision(
                l.key.clone(),
                CompareOp::Equal,
                l.mod_revision,
            )])
            .and_then([TxnOp::delete(l.key.clone(), None)]);
        match reg.txn(t).await {
            Ok(r) if r.succeeded() => {
                tracing::info!(key = %l.key, subnet = %l.subnet, own = %own.subnet, "an older lease of ours, not used any more, deleted");
                deleted.push(l.key.clone());
            }
            Ok(_) => {
                tracing::debug!(key = %l.key, "older lease of ours changed meanwhile; left")
            }
            Err(e) => {
                tracing::warn!(key = %l.key, error = %e, "could not delete an older lease of ours; it runs out with its TTL")
            }
        }
    }
    deleted
}

/// Whether `--subnet` `s` could be claimed now: read only, so that a
/// subnet another node holds is refused before EAL starts and the ports
/// come up. Only `s`'s own keys are read (its dual-stack ones,
/// `<key>&<v6>`, share the prefix), not the whole list, which `acquire`
/// reads anyway and checks in full (keys of other lengths overlapping
/// `s` too) under its transaction.
pub(crate) async fn check_requested_free(
    reg: &mut Registry,
    public_ip: Ipv4Addr,
    s: Subnet,
) -> Result<(), ControlError> {
    let dir = reg.subnets_dir();
    let key = format!("{dir}{}", s.key_string());
    let r = reg
        .get("get subnet", key, Some(GetOptions::new().with_prefix()))
        .await?;
    let listed = parse_listing(&dir, r.kvs());
    if own_key_of(&listed, s, public_ip, &dir).is_some() {
        return Ok(());
    }
    taken_by_another(&listed, s, public_ip)
}

/// Whether our credentials may write the lease we would take: a user
/// that may only read (a role with `read` on the prefix) passed every
/// other check and failed only at the lease's write, after EAL and the
/// ports started. Writes nothing: the put sits in the branch of a
/// transaction whose compare never holds (no key has a create revision
/// below 0), and etcd checks the permissions of both branches before it
/// runs one. `key`: the requested subnet's key, else the subnets
/// directory itself.
pub(crate) async fn check_writable(
    reg: &mut Registry,
    requested: Option<Subnet>,
) -> Result<(), ControlError> {
    let dir = reg.subnets_dir();
    let key = match requested {
        Some(s) => format!("{dir}{}", s.key_string()),
        None => dir,
    };
    let t = Txn::new()
        .when([Compare::create_revision(key.clone(), CompareOp::Less, 0)])
        .and_then([TxnOp::put(key.clone(), Vec::new(), None)]);
    match reg.txn(t).await {
        Ok(r) if r.succeeded() => Err(ControlError::Etcd {
            op: "write check",
            detail: format!("etcd ran the put of a transaction whose compare cannot hold, on {key}"),
        }),
        Ok(_) => Ok(()),
        Err(ControlError::Auth(why)) => Err(ControlError::Auth(format!(
            "{why}; the user may not write {key}, where vxgate writes its lease (flanneld's role: readwrite on the prefix)"
        ))),
        Err(e) => Err(e),
    }
}

async fn claim_requested(
    reg: &mut Registry,
    listed: &[Listed],
    s: Subnet,
    attrs: &LeaseAttrs,
) -> Result<Attempt, ControlError> {
    // A restart: our own key of `s` is taken back, whatever else overlaps.
    if let Some(mine) = own_key_of(listed, s, attrs.public_ip, &reg.subnets_dir()) {
        return take_back(reg, mine, attrs).await;
    }
    taken_by_another(listed, s, attrs.public_ip)?;
    match listed.iter().find(|l| l.subnet == s) {
        Some(mine) => take_back(reg, mine, attrs).await,
        None => create(reg, s, attrs).await,
    }
}

async fn claim_any(
    reg: &mut Registry,
    cfg: &NetworkConfig,
    listed: &[Listed],
    attrs: &LeaseAttrs,
) -> Result<Attempt, ControlError> {
    match choose(cfg, listed, attrs.public_ip)? {
        Choice::TakeBack(m) => take_back(reg, m, attrs).await,
        Choice::Free(free) => {
            let pick = free[rand::thread_rng().gen_range(0..free.len())];
            create(reg, pick, attrs).await
        }
    }
}

/// Read only, for `--check-config`: what `acquire` would refuse on the
/// whole list. `VtepMacTaken` (with `--subnet` too, which
/// `check_requested_free` checked on its own keys only); without
/// `requested`, the subnet a start would take back, `None` when it would
/// take a free one, or `NoFreeSubnet`. With it: `None`.
pub(crate) async fn check_acquirable(
    reg: &mut Registry,
    cfg: &NetworkConfig,
    public_ip: Ipv4Addr,
    vtep_mac: [u8; 6],
    requested: Option<Subnet>,
) -> Result<Option<Subnet>, ControlError> {
    let dir = reg.subnets_dir();
    let (_, kvs) = reg.list_subnets().await?;
    let listed = parse_listing(&dir, &kvs);
    vtep_mac_free(&listed, public_ip, vtep_mac)?;
    if requested.is_some() {
        return Ok(None);
    }
    Ok(match choose(cfg, &listed, public_ip)? {
        Choice::TakeBack(m) => Some(m.subnet),
        Choice::Free(_) => None,
    })
}

/// Creates a free subnet's key: `If(version==0) Then(Put with lease)`.
async fn create(
    reg: &mut Registry,
    s: Subnet,
    attrs: &LeaseAttrs,
) -> Result<Attempt, ControlError> {
    let key = format!("{}{}", reg.subnets_dir(), s.key_string());
    let (id, expiry) = grant(reg).await?;
    let t = Txn::new()
        .when([Compare::version(key.clone(), CompareOp::Equal, 0)])
        .and_then([TxnOp::put(
            key.clone(),
            attrs.encode(),
            Some(PutOptions::new().with_lease(id)),
        )]);
    if !txn_granted(reg, t, &key, id).await?.succeeded() {
        revoke(reg, id).await;
        return Ok(Attempt::Conflict);
    }
    Ok(Attempt::Done(
        OwnLease {
            subnet: s,
            key,
            attrs: attrs.clone(),
            etcd_lease_id: id,
            expiry: Some(expiry),
        },
        How::Created,
    ))
}

/// Re-uses a key our PublicIP holds. A reservation stays one (no lease);
/// its value is rewritten only if our attributes changed.
async fn take_back(
    reg: &mut Registry,
    l: &Listed,
    attrs: &LeaseAttrs,
) -> Result<Attempt, ControlError> {
    if l.lease == 0 {
        if !adopt_reservation(reg, &l.key, &l.value, l.mod_revision, attrs).await? {
            return Ok(Attempt::Conflict);
        }
        return Ok(Attempt::Done(
            OwnLease {
                subnet: l.subnet,
                key: l.key.clone(),
                attrs: attrs.clone(),
                etcd_lease_id: 0,
                expiry: None,
            },
            How::TakenBack,
        ));
    }
    let (id, expiry) = grant(reg).await?;
    if !put_if_unchanged(reg, &l.key, l.mod_revision, attrs.encode(), Some(id)).await? {
        revoke(reg, id).await;
        return Ok(Attempt::Conflict);
    }
    Ok(Attempt::Done(
        OwnLease {
            subnet: l.subnet,
            key: l.key.clone(),
            attrs: attrs.clone(),
            etcd_lease_id: id,
            expiry: Some(expiry),
        },
        How::TakenBack,
    ))
}
