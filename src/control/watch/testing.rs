//! What the mirror's and the classifier's tests share: a recording sink,
//! a lease value, and a fresh mirror with its sink and counters.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use super::mirror::Mirror;
use crate::control::schema::LeaseAttrs;
use crate::control::status::ControlStatus;
use crate::control::subnet::Subnet;
use crate::control::LeaseSink;

/// A recording sink: the leases held, the calls made, and a PublicIP
/// it refuses (as the tables' sink refuses its link's edges).
#[derive(Default)]
pub(super) struct Rec(
    pub(super) BTreeMap<Subnet, LeaseAttrs>,
    pub(super) u32,
    pub(super) Option<Ipv4Addr>,
);
impl LeaseSink for Rec {
    fn upsert(&mut self, s: Subnet, l: &LeaseAttrs) {
        self.0.insert(s, l.clone());
        self.1 += 1;
    }
    fn remove(&mut self, s: Subnet) {
        self.0.remove(&s);
        self.1 += 1;
    }
    fn refuses(&self, l: &LeaseAttrs) -> Option<String> {
        (Some(l.public_ip) == self.2).then(|| "refused".to_string())
    }
}

pub(super) fn val(ip: u8, mac: u8) -> Vec<u8> {
    format!(r#"{{"PublicIP":"192.0.2.{ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{{"VNI":1,"VtepMAC":"02:00:00:00:00:{mac:02x}"}}}}"#)
        .into_bytes()
}

/// An empty mirror, a recording sink, fresh counters and a time.
pub(super) fn fixture() -> (Mirror, Rec, ControlStatus, Instant) {
    (
        Mirror::default(),
        Rec::default(),
        ControlStatus::new(),
        Instant::now(),
    )
}
