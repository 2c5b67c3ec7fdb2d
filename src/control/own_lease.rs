//! Our own lease: acquire it as flanneld does (`local_manager.go`), then
//! keep it renewed. Renewal = a new etcd lease + a Put under it, like
//! flanneld, but guarded by a transaction so we never overwrite a subnet
//! that another node took after ours vanished.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use etcd_client::{
    Compare, CompareOp, GetOptions, KeyValue, PutOptions, Txn, TxnOp, TxnOpResponse,
};
use rand::Rng;
use tokio::sync::Notify;

use super::backoff::Backoff;
use super::registry::Registry;
use super::schema::{LeaseAttrs, LeaseValue, NetworkConfig, VXLAN};
use super::status::ControlStatus;
use super::subnet::{LeaseKey, Subnet};
use super::ControlError;
use crate::ops::logging::RateLimitedLog;

/// flanneld's `raceRetries`.
const RACE_RETRIES: u32 = 10;
/// flanneld picks among at most this many free subnets.
const FREE_CANDIDATES: usize = 100;
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

/// The lease we hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnLease {
    pub subnet: Subnet,
    /// Full etcd key, e.g. `/coreos.com/network/subnets/10.244.7.0-24`.
    pub key: String,
    pub attrs: LeaseAttrs,
    /// The etcd lease the key is attached to; 0 for a reservation.
    pub etcd_lease_id: i64,
    /// When the etcd lease runs out (local clock); None for a reservation.
    pub expiry: Option<SystemTime>,
}

impl OwnLease {
    pub fn is_reservation(&self) -> bool {
        self.etcd_lease_id == 0
    }
}

/// One listed lease key, parsed as far as possible.
struct Listed {
    key: String,
    subnet: Subnet,
    holder: Option<Ipv4Addr>,
    /// The VtepMAC of a vxlan lease.
    vtep_mac: Option<[u8; 6]>,
    value: Vec<u8>,
    mod_revision: i64,
    lease: i64,
}

fn parse_listing(dir: &str, kvs: &[KeyValue]) -> Vec<Listed> {
    kvs.iter()
        .filter_map(|kv| {
            let key = String::from_utf8(kv.key().to_vec()).ok()?;
            let lk = LeaseKey::parse(key.strip_prefix(dir)?).ok()?;
            let (holder, vtep_mac) = match LeaseValue::parse(kv.value()) {
                Ok(LeaseValue::Vxlan(a)) => (Some(a.public_ip), Some(a.vtep_mac)),
                Ok(LeaseValue::OtherBackend { public_ip, .. }) => (Some(public_ip), None),
                Err(_) => (None, None),
            };
            Some(Listed {
                key,
                subnet: lk.v4,
                holder,
                vtep_mac,
                value: kv.value().to_vec(),
                mod_revision: kv.mod_revision(),
                lease: kv.lease(),
            })
        })
        .collect()
}

/// `VtepMacTaken` when a vxlan lease of another PublicIP (any subnet,
/// with or without an etcd lease) announces `vtep_mac`: both gateways
/// would drop each other's lease as their own, and kernel nodes keep one
/// FDB entry per MAC, so one of the two would get no traffic. Leases of
/// our PublicIP are ours, whatever their MAC.
fn vtep_mac_free(
    listed: &[Listed],
    public_ip: Ipv4Addr,
    vtep_mac: [u8; 6],
) -> Result<(), ControlError> {
    let other = listed.iter().find_map(|l| match (l.holder, l.vtep_mac) {
        (Some(ip), Some(mac)) if mac == vtep_mac && ip != public_ip => Some((ip, l)),
        _ => None,
    });
    match other {
        Some((holder, l)) => Err(ControlError::VtepMacTaken {
            mac: crate::config::format_mac(&vtep_mac),
            holder,
            key: l.key.clone(),
        }),
        None => Ok(()),
    }
}

/// The PublicIP a lease value names, of any backend.
fn holder(value: &[u8]) -> Result<Ipv4Addr, super::LeaseError> {
    match LeaseValue::parse(value)? {
        LeaseValue::Vxlan(a) => Ok(a.public_ip),
        LeaseValue::OtherBackend { public_ip, .. } => Ok(public_ip),
    }
}

/// What our key's value and etcd lease say about it: one judgement for
/// the watch (the expiry gauge) and the renewer (what to write).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum OwnKey {
    /// Our PublicIP under an etcd lease.
    Ours,
    /// Our PublicIP without an etcd lease (an operator's reservation).
    Reservation,
    /// Another node's PublicIP.
    Taken(Ipv4Addr),
    /// A value that names no PublicIP (garbage): still our subnet, to be
    /// rewritten, as flanneld's next renewal would.
    Damaged,
    /// Our PublicIP under an etcd lease, but not our attributes (another
    /// VtepMAC, another backend): peers would send frames we drop, so it
    /// is rewritten now, not at the next renewal a day later.
    Altered,
}

pub(crate) fn own_key_state(value: &[u8], lease: i64, own: &LeaseAttrs) -> OwnKey {
    match holder(value) {
        Ok(ip) if ip == own.public_ip && lease == 0 => OwnKey::Reservation,
        Ok(ip) if ip == own.public_ip && holds_our_attrs(value, own) => OwnKey::Ours,
        Ok(ip) if ip == own.public_ip => OwnKey::Altered,
        Ok(ip) => OwnKey::Taken(ip),
        Err(_) => OwnKey::Damaged,
    }
}

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
    Done(OwnLease),
    Conflict,
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
            Attempt::Done(own) => {
                tracing::info!(subnet = %own.subnet, key = %own.key, reservation = own.is_reservation(), "own lease acquired");
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

/// `SubnetTaken` when a key overlapping `s` is held by another PublicIP
/// (or its value cannot be read). Not asked when we hold `s`'s own key
/// already (a restart): we take it back, as we would without `--subnet`;
/// another node's key overlapping it (a covering shorter prefix, a second
/// key of `s`, a longer prefix inside it) was there while we ran, and the
/// watch logs the ones that claim our traffic.
fn taken_by_another(listed: &[Listed], s: Subnet, public_ip: Ipv4Addr) -> Result<(), ControlError> {
    match listed
        .iter()
        .find(|l| l.subnet.overlaps(s) && l.holder != Some(public_ip))
    {
        Some(other) => Err(ControlError::SubnetTaken {
            subnet: s,
            holder: other
                .holder
                .map_or_else(|| "unreadable lease value".to_string(), |h| h.to_string()),
            key: other.key.clone(),
        }),
        None => Ok(()),
    }
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

/// `s`'s own key (`10.5.1.0-24`, not a dual-stack one), if `public_ip`
/// holds it.
fn own_key_of<'a>(
    listed: &'a [Listed],
    s: Subnet,
    public_ip: Ipv4Addr,
    dir: &str,
) -> Option<&'a Listed> {
    let key = format!("{dir}{}", s.key_string());
    listed
        .iter()
        .find(|l| l.key == key && l.holder == Some(public_ip))
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

/// What acquiring without `--subnet` would do.
enum Choice<'a> {
    /// A restart: our PublicIP already holds this usable lease.
    TakeBack(&'a Listed),
    /// Up to `FREE_CANDIDATES` free subnets (never empty), one to pick.
    Free(Vec<Subnet>),
}

/// As flanneld chooses: a usable lease of our PublicIP (a reservation
/// first), else the free subnets from SubnetMin on; `NoFreeSubnet` when
/// there is none.
fn choose<'a>(
    cfg: &NetworkConfig,
    listed: &'a [Listed],
    public_ip: Ipv4Addr,
) -> Result<Choice<'a>, ControlError> {
    let mut mine: Vec<&Listed> = listed
        .iter()
        .filter(|l| l.holder == Some(public_ip) && cfg.in_range(l.subnet))
        .collect();
    mine.sort_by_key(|l| l.lease != 0);
    if let Some(m) = mine.first() {
        return Ok(Choice::TakeBack(m));
    }
    let free = free_subnets(cfg, listed, FREE_CANDIDATES);
    if free.is_empty() {
        return Err(ControlError::NoFreeSubnet {
            min: cfg.subnet_min,
            max: cfg.subnet_max,
            other_lengths: other_length_blockers(cfg, listed),
        });
    }
    Ok(Choice::Free(free))
}

/// The first `limit` of `cfg.candidate_subnets()` that overlap no listed
/// key. The keys are sorted by their first address once and the
/// candidates, which ascend, walk them with one index, so a Network filled
/// from the front, as flanneld fills it, costs O(n log n) and not a scan
/// of every lease for every candidate (100 000 leases: 15 s of start-up
/// before).
fn free_subnets(cfg: &NetworkConfig, listed: &[Listed], limit: usize) -> Vec<Subnet> {
    let span = |s: Subnet| {
        let first = u64::from(u32::from(s.addr));
        (first, first + s.size() - 1)
    };
    let mut taken: Vec<(u64, u64)> = listed.iter().map(|l| span(l.subnet)).collect();
    taken.sort_unstable();
    let mut i = 0;
    cfg.candidate_subnets()
        .filter(|&c| {
            let (first, last) = span(c);
            // Keys ending before this candidate block none after it.
            while taken.get(i).is_some_and(|&(_, end)| end < first) {
                i += 1;
            }
            // Sorted by start: if the first key still ending at or after
            // `first` starts past the candidate, so do all the others.
            !taken.get(i).is_some_and(|&(start, _)| start <= last)
        })
        .take(limit)
        .collect()
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

/// The keys of another length than SubnetLen that overlap the range
/// leases are acquired from, for the "no free subnet" error: flanneld
/// never writes them, and one of a shorter length can block the whole
/// range. Empty when there are none.
fn other_length_blockers(cfg: &NetworkConfig, listed: &[Listed]) -> String {
    let blockers: Vec<String> = listed
        .iter()
        .filter(|l| l.subnet.len != cfg.subnet_len)
        .filter(|l| {
            // The key's addresses against SubnetMin .. the end of SubnetMax.
            let first = u64::from(u32::from(l.subnet.addr));
            let last = first + l.subnet.size() - 1;
            let min = u64::from(u32::from(cfg.subnet_min));
            let max = u64::from(u32::from(cfg.subnet_max)) + (1u64 << (32 - cfg.subnet_len)) - 1;
            first <= max && last >= min
        })
        .map(|l| {
            let holder = l
                .holder
                .map_or_else(|| "unreadable".into(), |h| h.to_string());
            format!("{} (PublicIP {holder})", l.key)
        })
        .collect();
    match blockers.as_slice() {
        [] => String::new(),
        [first, rest @ ..] => format!(
            " (keys of another length than SubnetLen {} block part of it: {first}{})",
            cfg.subnet_len,
            if rest.is_empty() {
                String::new()
            } else {
                format!(" and {} more", rest.len())
            }
        ),
    }
}

async fn grant(reg: &mut Registry) -> Result<(i64, SystemTime), ControlError> {
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

async fn revoke(reg: &mut Registry, id: i64) {
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
async fn txn_granted(
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
    Ok(Attempt::Done(OwnLease {
        subnet: s,
        key,
        attrs: attrs.clone(),
        etcd_lease_id: id,
        expiry: Some(expiry),
    }))
}

/// Whether a stored value already says what our lease says: a vxlan
/// lease of our PublicIP and VtepMAC (the VNI is informative, the JSON's
/// spelling and key order free): a reservation holding it is used as it
/// is, never rewritten only to reformat it.
fn holds_our_attrs(value: &[u8], attrs: &LeaseAttrs) -> bool {
    matches!(LeaseValue::parse(value), Ok(LeaseValue::Vxlan(a))
        if a.public_ip == attrs.public_ip && a.vtep_mac == attrs.vtep_mac)
}

/// Keeps `key`, our reservation read as `value` at `mod_revision`, as a
/// reservation of ours: used as it is when it holds our attributes, else
/// (other attributes, or a value that cannot be read) rewritten with ours,
/// still without a lease, if unchanged since read. `Ok(false)`: it changed
/// meanwhile.
async fn adopt_reservation(
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
        return Ok(Attempt::Done(OwnLease {
            subnet: l.subnet,
            key: l.key.clone(),
            attrs: attrs.clone(),
            etcd_lease_id: 0,
            expiry: None,
        }));
    }
    let (id, expiry) = grant(reg).await?;
    if !put_if_unchanged(reg, &l.key, l.mod_revision, attrs.encode(), Some(id)).await? {
        revoke(reg, id).await;
        return Ok(Attempt::Conflict);
    }
    Ok(Attempt::Done(OwnLease {
        subnet: l.subnet,
        key: l.key.clone(),
        attrs: attrs.clone(),
        etcd_lease_id: id,
        expiry: Some(expiry),
    }))
}

/// Our key as read: (value, etcd lease, mod revision).
type KeyRead = (Vec<u8>, i64, i64);

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

/// What the renewer knows of our key's past, to say why it was gone when
/// it re-creates it.
#[derive(Debug)]
pub(crate) struct Recall {
    /// Another node's PublicIP on our key when it was last read.
    taken_by: Option<Ipv4Addr>,
    /// `ControlStatus::data_replacements_total` when our key was last
    /// ours: a higher count now is etcd's data replaced since.
    replacements: u64,
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
async fn config_fits(reg: &mut Registry, subnet: Subnet) -> Result<Compare, RenewError> {
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

/// Why our key was gone when the renewal re-created it (`own` as it was
/// before). etcd's delete event does not say; what we know does, in this
/// order: etcd's data replaced since our key was last ours (restored from
/// a snapshot, or wiped: the watch saw its revision go back or its
/// cluster ID change); the key held by another node when last read (its
/// holder's etcd lease ran out, or it was deleted: our subnet is free
/// again); a reservation deleted; else the etcd lease the key was under:
/// still there, someone deleted the key; not found, the key went with it
/// (it expired, renewals having failed until then, or was revoked).
async fn log_recreated(
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

/// Puts `value` on `key` if the key is still at `mod_revision` (as read),
/// under `lease` (one just granted: `txn_granted`) or none; whether it did.
async fn put_if_unchanged(
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

fn changed() -> ControlError {
    ControlError::Etcd {
        op: "renew",
        detail: "the key changed during renewal; will retry".into(),
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

    /// Keys of another length than SubnetLen are named when they overlap
    /// SubnetMin .. the end of SubnetMax, and only then.
    #[test]
    fn keys_of_another_length_are_named_only_over_the_range() {
        let cfg =
            NetworkConfig::parse(br#"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#)
                .unwrap();
        let listed = |keys: &[&str]| -> Vec<Listed> {
            keys.iter()
                .map(|k| Listed {
                    key: k.to_string(),
                    subnet: Subnet::parse_key(k).unwrap(),
                    holder: Some(Ipv4Addr::new(192, 0, 2, 9)),
                    vtep_mac: None,
                    value: Vec::new(),
                    mod_revision: 1,
                    lease: 0,
                })
                .collect()
        };
        let named = other_length_blockers(&cfg, &listed(&["10.244.0.0-16"]));
        assert!(
            named.contains("10.244.0.0-16 (PublicIP 192.0.2.9)"),
            "{named}"
        );
        // Below SubnetMin (10.244.1.0), beyond the Network, or of
        // SubnetLen itself: not named.
        for key in ["10.244.0.0-25", "10.245.0.0-16", "10.244.7.0-24"] {
            assert_eq!(other_length_blockers(&cfg, &listed(&[key])), "", "{key}");
        }
        // The end of SubnetMax (10.244.255.0/24) counts.
        let last = other_length_blockers(&cfg, &listed(&["10.244.255.128-25"]));
        assert!(last.contains("10.244.255.128-25"), "{last}");
    }

    fn listed_subnet(subnet: Subnet) -> Listed {
        Listed {
            key: String::new(),
            subnet,
            holder: Some(Ipv4Addr::new(192, 0, 2, 9)),
            vtep_mac: None,
            value: Vec::new(),
            mod_revision: 1,
            lease: 1,
        }
    }

    /// The free subnets are those of the definition (every candidate of
    /// the range that no listed key overlaps, in order), whatever the
    /// keys: random keys of SubnetLen and of other lengths (longer and
    /// shorter, inside and around the range), over configs with and
    /// without SubnetMin/SubnetMax.
    #[test]
    fn free_subnets_are_the_candidates_no_key_overlaps() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        for cfg in [
            r#"{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}"#,
            r#"{"Network":"10.0.0.0/20","SubnetLen":28,"SubnetMin":"10.0.1.16","SubnetMax":"10.0.14.240","Backend":{"Type":"vxlan"}}"#,
            r#"{"Network":"10.0.0.0/8","SubnetLen":30,"SubnetMin":"10.255.255.0","Backend":{"Type":"vxlan"}}"#,
        ] {
            let cfg = NetworkConfig::parse(cfg.as_bytes()).unwrap();
            let net = u32::from(cfg.network.addr);
            let span = cfg.network.size().min(1 << 16) as u32;
            let base = u32::from(cfg.subnet_min).saturating_sub(span / 4).max(net);
            for round in 0..200 {
                let n = rng.gen_range(0..if round % 2 == 0 { 8 } else { 400 });
                let listed: Vec<Listed> = (0..n)
                    .map(|_| {
                        let len = match rng.gen_range(0..4) {
                            0 => rng.gen_range(cfg.network.len..=32),
                            _ => cfg.subnet_len,
                        };
                        let any = Subnet {
                            addr: Ipv4Addr::from(base.wrapping_add(rng.gen_range(0..span))),
                            len,
                        };
                        listed_subnet(Subnet {
                            addr: Ipv4Addr::from(u32::from(any.addr) & any.mask()),
                            len,
                        })
                    })
                    .collect();
                as_defined(&cfg, &listed, &format!("round {round}"));
            }
            // Keys on the candidates' edges: a host address at the first
            // or the last address of one, two at a time, with and without
            // a shorter key over four candidates.
            let cands: Vec<Subnet> = cfg.candidate_subnets().take(12).collect();
            let host = |a: u64| Subnet {
                addr: Ipv4Addr::from(a as u32),
                len: 32,
            };
            let edges: Vec<Subnet> = cands
                .iter()
                .flat_map(|c| {
                    let first = u64::from(u32::from(c.addr));
                    [host(first), host(first + c.size() - 1)]
                })
                .collect();
            let wide = Subnet {
                addr: Ipv4Addr::from(u32::from(cands[4].addr) & cands[4].mask() << 2),
                len: cfg.subnet_len - 2,
            };
            for (a, &ea) in edges.iter().enumerate() {
                for &eb in &edges[a..] {
                    for keys in [vec![ea, eb], vec![eb, wide, ea]] {
                        let listed: Vec<Listed> = keys.into_iter().map(listed_subnet).collect();
                        as_defined(&cfg, &listed, &format!("{ea} {eb}"));
                    }
                }
            }
        }
    }

    /// `free_subnets` against its definition, at several limits.
    fn as_defined(cfg: &NetworkConfig, listed: &[Listed], what: &str) {
        for limit in [1, 5, FREE_CANDIDATES] {
            let want: Vec<Subnet> = cfg
                .candidate_subnets()
                .filter(|c| !listed.iter().any(|l| l.subnet.overlaps(*c)))
                .take(limit)
                .collect();
            assert_eq!(free_subnets(cfg, listed, limit), want, "{what}");
        }
    }

    /// A Network filled from the front by 200 000 leases: the first free
    /// subnets after them, in one pass (the scan of every lease for every
    /// candidate took 15 s of start-up at 100 000).
    #[test]
    fn free_subnets_after_a_long_run_of_leases() {
        let cfg = NetworkConfig::parse(
            br#"{"Network":"10.0.0.0/8","SubnetLen":28,"Backend":{"Type":"vxlan"}}"#,
        )
        .unwrap();
        let first = u32::from(cfg.subnet_min);
        let listed: Vec<Listed> = (0..200_000u32)
            .rev()
            .map(|i| {
                listed_subnet(Subnet {
                    addr: Ipv4Addr::from(first + i * 16),
                    len: 28,
                })
            })
            .collect();
        let free = free_subnets(&cfg, &listed, 3);
        let at = |i: u32| Subnet {
            addr: Ipv4Addr::from(first + i * 16),
            len: 28,
        };
        assert_eq!(free, [at(200_000), at(200_001), at(200_002)]);
    }

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
