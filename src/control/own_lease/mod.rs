//! Our own lease: acquire it as flanneld does (`local_manager.go`), then
//! keep it renewed. Renewal = a new etcd lease + a Put under it, like
//! flanneld, but guarded by a transaction so we never overwrite a subnet
//! that another node took after ours vanished.
//!
//! This file holds the lease we hold (`OwnLease`) and the one judgement of
//! what our key's value says (`own_key_state`), shared by the watch and
//! the renewer. The rest, one concern a file:
//! - `acquire.rs`: acquiring our lease at start (a `--subnet`, ours taken
//!   back, or a free one), and the read-only checks made before EAL;
//! - `listing.rs`: the lease list as acquisition reads it, and the checks
//!   on it (VtepMAC free, subnet not another node's);
//! - `choose.rs`: which subnet to take without `--subnet`, and the subnet
//!   arithmetic behind it (free subnets, keys of other lengths);
//! - `write.rs`: the guarded etcd writes both sides make: leases granted
//!   and revoked, puts under a compare on the key's revision;
//! - `renew.rs`: one renewal of our key, whatever etcd now holds there;
//! - `recreate.rs`: our key found gone: re-created only under a network
//!   config that accepts our subnet, and why it was gone said;
//! - `renewer.rs`: the task that keeps our lease renewed: when to renew,
//!   retries, wake-ups.

mod acquire;
mod choose;
mod listing;
mod recreate;
mod renew;
mod renewer;
mod write;

use std::net::Ipv4Addr;
use std::time::SystemTime;

use super::schema::{LeaseAttrs, LeaseValue};
use super::subnet::Subnet;
pub use acquire::check_requested;
pub(crate) use acquire::{
    acquire, check_acquirable, check_requested_free, check_writable, Listing,
};
pub use renewer::warn_about_renewal;
pub(crate) use renewer::{keep_renewed, RENEW_RETRY, RENEW_RETRY_MAX};

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

/// Whether a stored value already says what our lease says: a vxlan
/// lease of our PublicIP and VtepMAC (the VNI is informative, the JSON's
/// spelling and key order free): a reservation holding it is used as it
/// is, never rewritten only to reformat it.
fn holds_our_attrs(value: &[u8], attrs: &LeaseAttrs) -> bool {
    matches!(LeaseValue::parse(value), Ok(LeaseValue::Vxlan(a))
        if a.public_ip == attrs.public_ip && a.vtep_mac == attrs.vtep_mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vxlan lease of PublicIP 192.0.2.`ip`, VtepMAC 02:00:00:00:00:`mac`.
    fn val(ip: u8, mac: u8) -> Vec<u8> {
        format!(r#"{{"PublicIP":"192.0.2.{ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{{"VNI":1,"VtepMAC":"02:00:00:00:00:{mac:02x}"}}}}"#)
            .into_bytes()
    }

    #[test]
    fn our_key_is_ours_a_reservation_taken_damaged_or_altered() {
        let me = LeaseAttrs {
            public_ip: Ipv4Addr::new(192, 0, 2, 1),
            public_ipv6: None,
            backend_type: "vxlan".into(),
            vtep_mac: [2, 0, 0, 0, 0, 1],
            vni: Some(1),
        };
        assert_eq!(own_key_state(&val(1, 1), 7, &me), OwnKey::Ours);
        assert_eq!(own_key_state(&val(1, 1), 0, &me), OwnKey::Reservation);
        assert_eq!(
            own_key_state(&val(9, 1), 7, &me),
            OwnKey::Taken(Ipv4Addr::new(192, 0, 2, 9))
        );
        assert_eq!(own_key_state(b"{", 7, &me), OwnKey::Damaged);
        // Our PublicIP with another VtepMAC, or another backend's value
        // naming it, under a lease: ours (flanneld finds leases by
        // PublicIP), to be rewritten with our attributes now.
        assert_eq!(own_key_state(&val(1, 2), 7, &me), OwnKey::Altered);
        let udp = br#"{"PublicIP":"192.0.2.1","BackendType":"udp"}"#;
        assert_eq!(own_key_state(udp, 7, &me), OwnKey::Altered);
        // Without a lease, any value naming our PublicIP is a reservation
        // (its attributes are the renewer's to judge).
        assert_eq!(own_key_state(&val(1, 2), 0, &me), OwnKey::Reservation);
        // The VNI and the JSON's spelling are not ours to insist on.
        let other_spelling = br#"{"publicip":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"02-00-00-00-00-01"}}"#;
        assert_eq!(own_key_state(other_spelling, 7, &me), OwnKey::Ours);
    }
}
