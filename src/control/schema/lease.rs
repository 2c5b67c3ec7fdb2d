//! Lease values: read as flanneld's Go decodes them, written as flanneld writes them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::go_fields::{field, raw, OnNull};
use super::{MAX_VALUE_BYTES, VXLAN};
use crate::control::go_json::{self, Json};

/// A vxlan lease's attributes, as read from or written to etcd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseAttrs {
    pub public_ip: Ipv4Addr,
    pub public_ipv6: Option<Ipv6Addr>,
    pub backend_type: String,
    pub vtep_mac: [u8; 6],
    /// Older flanneld omits it; informative only.
    pub vni: Option<u32>,
}

/// A well-formed lease value: either ours to use, or another backend's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseValue {
    Vxlan(LeaseAttrs),
    /// `BackendType` other than "vxlan" (udp, host-gw, ...): ignored.
    OtherBackend {
        backend_type: String,
        public_ip: Ipv4Addr,
    },
}

/// Why a lease value was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("not a JSON object")]
    NotObject,
    #[error("{0} bytes, more than the {MAX_VALUE_BYTES} vxgate reads (flanneld writes about 150)")]
    TooLarge(usize),
    #[error("missing required field {0}")]
    Missing(&'static str),
    #[error("field {field} is not valid: {value}")]
    Invalid { field: &'static str, value: String },
}

/// An occurrence of lease field `field` that flanneld would refuse.
fn bad(field: &'static str) -> impl Fn(&Json) -> LeaseError {
    move |v| LeaseError::Invalid {
        field,
        value: v.to_string(),
    }
}

impl LeaseValue {
    /// Parses a lease value as flanneld's Go decodes it into `LeaseAttrs`
    /// (case-insensitive keys, each spelling applied in order, and
    /// refused if any spelling of a field could not be decoded).
    pub fn parse(bytes: &[u8]) -> Result<Self, LeaseError> {
        if bytes.len() > MAX_VALUE_BYTES {
            return Err(LeaseError::TooLarge(bytes.len()));
        }
        let v = go_json::parse(bytes).map_err(|e| LeaseError::Json(e.to_string()))?;
        let obj = v.as_object().ok_or(LeaseError::NotObject)?;
        // ip.IP4, *ip.IP6, string: see `OnNull`.
        // Both parsed as Go's net.ParseIP, which takes either family: an
        // IPv4-mapped IPv6 PublicIP is its IPv4 address (`ip.ParseIP4`),
        // an IPv4 PublicIPv6 its mapped form (`ip.ParseIP6`).
        let public_ip = field(obj, "PublicIP", OnNull::Parse, |v| {
            v.as_str()
                .and_then(|s| match IpAddr::from_str(s).ok()? {
                    IpAddr::V4(a) => Some(a),
                    IpAddr::V6(a) => a.to_ipv4_mapped(),
                })
                .ok_or_else(|| bad("PublicIP")(v))
        })?
        .ok_or(LeaseError::Missing("PublicIP"))?;
        let public_ipv6 = field(obj, "PublicIPv6", OnNull::Reset, |v| {
            v.as_str()
                .and_then(|s| match IpAddr::from_str(s).ok()? {
                    IpAddr::V4(a) => Some(a.to_ipv6_mapped()),
                    IpAddr::V6(a) => Some(a),
                })
                .ok_or_else(|| bad("PublicIPv6")(v))
        })?;
        let backend_type = field(obj, "BackendType", OnNull::Keep, |v| {
            v.as_str().ok_or_else(|| bad("BackendType")(v))
        })?
        .ok_or(LeaseError::Missing("BackendType"))?;
        if backend_type != VXLAN {
            return Ok(Self::OtherBackend {
                backend_type: backend_type.to_string(),
                public_ip,
            });
        }
        // A json.RawMessage, decoded by the vxlan backend: the last one.
        let data = match raw(obj, "BackendData") {
            None => return Err(LeaseError::Missing("BackendData")),
            Some(Json::Object(d)) => d,
            Some(v) => return Err(bad("BackendData")(v)),
        };
        // hardwareAddr parses itself; VNI is a plain uint32.
        let vtep_mac = field(data, "VtepMAC", OnNull::Parse, |v| {
            v.as_str()
                .and_then(parse_mac)
                .ok_or_else(|| bad("BackendData.VtepMAC")(v))
        })?
        .ok_or(LeaseError::Missing("BackendData.VtepMAC"))?;
        let vni = field(data, "VNI", OnNull::Keep, |v| {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad("BackendData.VNI")(v))
        })?;
        Ok(Self::Vxlan(LeaseAttrs {
            public_ip,
            public_ipv6,
            backend_type: VXLAN.to_string(),
            vtep_mac,
            vni,
        }))
    }
}

impl LeaseAttrs {
    /// The value flanneld would write, byte for byte in field order:
    /// `{"PublicIP":"…","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"…"}}`.
    pub fn encode(&self) -> String {
        let v6 = match self.public_ipv6 {
            Some(ip) => format!("\"{ip}\""),
            None => "null".to_string(),
        };
        let vni = match self.vni {
            Some(n) => format!("\"VNI\":{n},"),
            None => String::new(),
        };
        format!(
            "{{\"PublicIP\":\"{}\",\"PublicIPv6\":{v6},\"BackendType\":\"{}\",\"BackendData\":{{{vni}\"VtepMAC\":\"{}\"}}}}",
            self.public_ip,
            self.backend_type,
            // Go's `net.HardwareAddr.String()`: lowercase, colon-separated.
            crate::config::format_mac(&self.vtep_mac)
        )
    }
}

/// A VtepMAC as Go's `net.ParseMAC` reads it (6-byte forms): the config's
/// parser, which takes the same forms.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    crate::config::parse_mac(s).ok()
}
