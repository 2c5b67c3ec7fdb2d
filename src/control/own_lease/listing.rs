//! The lease list as acquisition reads it (every key under `subnets/`,
//! parsed as far as it goes), and the checks made on it before a subnet is
//! claimed: no other PublicIP announces our VtepMAC, and no other node
//! holds a key overlapping the subnet we ask for.

use std::net::Ipv4Addr;

use etcd_client::KeyValue;

use crate::control::schema::LeaseValue;
use crate::control::subnet::{LeaseKey, Subnet};
use crate::control::ControlError;

/// One listed lease key, parsed as far as possible.
pub(super) struct Listed {
    pub(super) key: String,
    pub(super) subnet: Subnet,
    pub(super) holder: Option<Ipv4Addr>,
    /// The VtepMAC of a vxlan lease.
    pub(super) vtep_mac: Option<[u8; 6]>,
    pub(super) value: Vec<u8>,
    pub(super) mod_revision: i64,
    pub(super) lease: i64,
}

pub(super) fn parse_listing(dir: &str, kvs: &[KeyValue]) -> Vec<Listed> {
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
pub(super) fn vtep_mac_free(
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

/// `SubnetTaken` when a key overlapping `s` is held by another PublicIP
/// (or its value cannot be read). Not asked when we hold `s`'s own key
/// already (a restart): we take it back, as we would without `--subnet`;
/// another node's key overlapping it (a covering shorter prefix, a second
/// key of `s`, a longer prefix inside it) was there while we ran, and the
/// watch logs the ones that claim our traffic.
pub(super) fn taken_by_another(
    listed: &[Listed],
    s: Subnet,
    public_ip: Ipv4Addr,
) -> Result<(), ControlError> {
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

/// `s`'s own key (`10.5.1.0-24`, not a dual-stack one), if `public_ip`
/// holds it.
pub(super) fn own_key_of<'a>(
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
