//! flannel's JSON documents in etcd: the network `config` and lease values.
//!
//! Go's `encoding/json` matches object keys to struct fields
//! case-insensitively, so `"vni"` and `"VNI"` both reach `VNI` in flanneld,
//! and applies every spelling in document order. `go_json::parse` keeps
//! every occurrence; the readers below apply each field's Go type to them
//! (`field` with its `OnNull` rule, `raw`), so a document is accepted
//! exactly when flanneld would decode it, and read as flanneld reads it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::go_json::{self, Json, Object};
use super::subnet::{Subnet, SubnetError};

/// The UDP port the Linux kernel (and so flannel.1) uses when none is set.
pub const DEFAULT_VXLAN_PORT: u16 = 8472;
/// flanneld's `defaultVNI`.
pub const DEFAULT_VNI: u32 = 1;
/// The only backend vxgate speaks.
pub const VXLAN: &str = "vxlan";
/// The largest config or lease value read. flanneld's are about 150
/// bytes; a bigger one is refused as malformed before it is parsed, so a
/// huge value cannot hold the control thread (lease updates, renewals,
/// quorum checks) for long.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// A validated `<prefix>/config`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkConfig {
    pub network: Subnet,
    pub subnet_len: u8,
    pub subnet_min: Ipv4Addr,
    pub subnet_max: Ipv4Addr,
    pub backend: VxlanBackend,
    /// IPv6 keys that were present (e.g. `EnableIPv6`, `IPv6Network`);
    /// read but not supported yet, reported by the caller.
    pub ipv6_keys_ignored: Vec<String>,
}

/// `Backend` for `Type: "vxlan"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VxlanBackend {
    pub vni: u32,
    /// Resolved UDP destination port (0/absent -> 8472).
    pub port: u16,
    /// `Backend.MTU` if set (non-zero): the tunnel MTU is this minus 50.
    pub mtu: Option<u32>,
    pub direct_routing: bool,
    /// `Backend.GBP` (VXLAN Group Based Policy): read so that it can be
    /// reported; vxgate does not speak it (see `control::network_config`).
    pub gbp: bool,
}

/// What is wrong with `<prefix>/config`; each says what to change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("network config is not valid JSON ({0}); fix the value of <prefix>/config")]
    Json(String),
    #[error("network config must be a JSON object")]
    NotObject,
    #[error("network config is {0} bytes, more than the {MAX_VALUE_BYTES} vxgate reads (flanneld writes about 150); fix the value of <prefix>/config")]
    TooLarge(usize),
    #[error("network config key {key}: expected {expected}")]
    Type {
        key: &'static str,
        expected: &'static str,
    },
    #[error("network config has EnableIPv4=false; vxgate needs an IPv4 Network")]
    Ipv4Disabled,
    #[error("network config has no \"Network\"; add e.g. \"Network\": \"10.244.0.0/16\"")]
    MissingNetwork,
    #[error("network config key {key}: {value:?} is not valid: {why}")]
    Invalid {
        key: &'static str,
        value: String,
        why: String,
    },
    #[error("network config has no Backend.Type; flanneld treats that as \"udp\", vxgate needs \"Backend\": {{\"Type\": \"vxlan\"}}")]
    MissingBackendType,
    #[error("network config Backend.Type is {0:?}; vxgate only supports \"vxlan\" (set Backend.Type to \"vxlan\" or do not run vxgate on this network)")]
    UnsupportedBackend(String),
}

/// How a Go field takes a JSON null.
#[derive(Clone, Copy)]
enum OnNull {
    /// A plain field (string, bool, number): a null changes nothing.
    Keep,
    /// A type that parses itself (`UnmarshalJSON`: flannel's `ip.IP4`,
    /// `ip.IP4Net`, `hardwareAddr`): the null goes to the parser too.
    Parse,
    /// A pointer to such a type (`*ip.IP6`): a null makes it nil again.
    Reset,
}

/// Every occurrence of field `name` (any spelling) in order, as Go's
/// decoder assigns them: the last one wins, but one that `read` refuses
/// fails the whole decode even when a later spelling is good (Go keeps
/// the first such error). `Err`: that first error.
fn field<'a, T, E>(
    obj: &'a Object,
    name: &str,
    on_null: OnNull,
    read: impl Fn(&'a Json) -> Result<T, E>,
) -> Result<Option<T>, E> {
    let mut last = None;
    for v in obj.get(name).into_iter().flat_map(|f| f.values()) {
        last = match (v.is_null(), on_null) {
            (true, OnNull::Keep) => last,
            (true, OnNull::Reset) => None,
            _ => Some(read(v)?),
        };
    }
    Ok(last)
}

/// A `json.RawMessage` (`Backend`, `BackendData`): the last occurrence
/// as it is, which flannel parses later; None if absent or a null (Go
/// keeps the literal `null`, which then decodes to nothing).
fn raw<'a>(obj: &'a Object, name: &str) -> Option<&'a Json> {
    obj.get(name).map(|f| f.last()).filter(|v| !v.is_null())
}

fn get_str<'a>(obj: &'a Object, key: &'static str) -> Result<Option<&'a str>, ConfigError> {
    field(obj, key, OnNull::Keep, |v| {
        v.as_str().ok_or(ConfigError::Type {
            key,
            expected: "a string",
        })
    })
}

fn get_bool(obj: &Object, key: &'static str) -> Result<Option<bool>, ConfigError> {
    field(obj, key, OnNull::Keep, |v| {
        v.as_bool().ok_or(ConfigError::Type {
            key,
            expected: "true or false",
        })
    })
}

/// A non-negative integer; `max` is a check of the value Go ends up
/// with, not of its type, so it applies to the last occurrence only.
fn get_uint(obj: &Object, key: &'static str, max: u64) -> Result<Option<u64>, ConfigError> {
    let n = field(obj, key, OnNull::Keep, |v| {
        v.as_u64().ok_or(ConfigError::Type {
            key,
            expected: "a non-negative integer",
        })
    })?;
    match n {
        Some(n) if n > max => Err(ConfigError::Invalid {
            key,
            value: n.to_string(),
            why: format!("must be at most {max}"),
        }),
        n => Ok(n),
    }
}

/// A string an `UnmarshalJSON` of flannel's parses (a null or a number
/// reaches it too, and fails).
fn self_parsed_str<'a>(v: &'a Json, key: &'static str) -> Result<&'a str, ConfigError> {
    v.as_str().ok_or(ConfigError::Type {
        key,
        expected: "a string",
    })
}

impl NetworkConfig {
    /// Parses and validates with flanneld's defaults (`pkg/subnet/config.go`).
    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        if bytes.len() > MAX_VALUE_BYTES {
            return Err(ConfigError::TooLarge(bytes.len()));
        }
        let v = go_json::parse(bytes).map_err(|e| ConfigError::Json(e.to_string()))?;
        let obj = v.as_object().ok_or(ConfigError::NotObject)?;

        if get_bool(obj, "EnableIPv4")? == Some(false) {
            return Err(ConfigError::Ipv4Disabled);
        }
        // Go's net.ParseCIDR, which flanneld uses, keeps the network of an
        // address with host bits set ("10.244.0.5/16" is 10.244.0.0/16).
        let network = field(obj, "Network", OnNull::Parse, |v| {
            let s = self_parsed_str(v, "Network")?;
            let invalid = |why: String| ConfigError::Invalid {
                key: "Network",
                value: s.to_string(),
                why,
            };
            let net = match Subnet::parse_cidr(s) {
                Err(SubnetError::NotAligned { net, len, .. }) => Subnet::new(net, len),
                parsed => parsed,
            }
            .map_err(|e| invalid(e.to_string()))?;
            // flanneld refuses an empty Network (0.0.0.0/0): every
            // destination would be the overlay's.
            if net.len == 0 {
                return Err(invalid(
                    "is the whole IPv4 space; define the overlay's own Network (flanneld refuses it too)"
                        .into(),
                ));
            }
            Ok(net)
        })?
        .ok_or(ConfigError::MissingNetwork)?;

        let subnet_len = subnet_len(network, get_uint(obj, "SubnetLen", 255)?)?;
        let sub_size = 1u64 << (32 - u32::from(subnet_len));
        let net_base = u64::from(u32::from(network.addr));
        // Both fit in u32: SubnetLen >= Network.len + 2 and len <= 30.
        let default_min = net_base + sub_size;
        let default_max = net_base + network.size() - sub_size;
        let subnet_min = bound(obj, "SubnetMin", network, subnet_len, default_min)?;
        let subnet_max = bound(obj, "SubnetMax", network, subnet_len, default_max)?;
        if u32::from(subnet_min) > u32::from(subnet_max) {
            return Err(ConfigError::Invalid {
                key: "SubnetMin",
                value: subnet_min.to_string(),
                why: format!("is above SubnetMax {subnet_max}"),
            });
        }

        let backend = backend(obj)?;
        // Reported, not used: what Go would leave in each (not checked).
        let ipv6_keys_ignored = obj
            .fields()
            .filter_map(|f| f.last_set())
            .filter(|(k, v)| {
                let k = k.to_ascii_lowercase();
                (k.starts_with("ipv6") || k == "enableipv6") && v.as_bool() != Some(false)
            })
            .map(|(k, _)| k.to_string())
            .collect();
        Ok(Self {
            network,
            subnet_len,
            subnet_min,
            subnet_max,
            backend,
            ipv6_keys_ignored,
        })
    }

    /// Every subnet of `subnet_len` from SubnetMin to SubnetMax, in order.
    pub fn candidate_subnets(&self) -> impl Iterator<Item = Subnet> + '_ {
        let step = 1u64 << (32 - u32::from(self.subnet_len));
        let (lo, hi) = (
            u64::from(u32::from(self.subnet_min)),
            u64::from(u32::from(self.subnet_max)),
        );
        (0..)
            .map(move |i| lo + i * step)
            .take_while(move |a| *a <= hi)
            .filter_map(move |a| u32::try_from(a).ok())
            .map(move |a| Subnet {
                addr: Ipv4Addr::from(a),
                len: self.subnet_len,
            })
    }

    /// A subnet we may hold: inside Network with exactly SubnetLen.
    pub fn accepts(&self, s: Subnet) -> bool {
        s.len == self.subnet_len && self.network.covers(s)
    }

    /// A subnet flanneld would re-use on restart: also inside Min..Max.
    pub fn in_range(&self, s: Subnet) -> bool {
        self.accepts(s)
            && u32::from(s.addr) >= u32::from(self.subnet_min)
            && u32::from(s.addr) <= u32::from(self.subnet_max)
    }
}

fn subnet_len(network: Subnet, given: Option<u64>) -> Result<u8, ConfigError> {
    let invalid = |value: String, why: &str| ConfigError::Invalid {
        key: "SubnetLen",
        value,
        why: why.to_string(),
    };
    match given {
        Some(n) if n > 0 => {
            let n = u8::try_from(n).map_err(|_| invalid(n.to_string(), "must be at most 30"))?;
            if n > 30 {
                return Err(invalid(n.to_string(), "must be at most 30"));
            }
            if n < network.len + 2 {
                return Err(invalid(
                    n.to_string(),
                    "Network must hold at least four subnets (SubnetLen >= Network prefix + 2)",
                ));
            }
            Ok(n)
        }
        _ if network.len < 23 => Ok(24),
        _ if network.len <= 28 => Ok(network.len + 2),
        _ => Err(ConfigError::Invalid {
            key: "Network",
            value: network.to_string(),
            why: "too small; the shortest useful prefix is /28".to_string(),
        }),
    }
}

/// `SubnetMin` / `SubnetMax`, flannel's `ip.IP4` (it parses itself).
fn bound(
    obj: &Object,
    key: &'static str,
    network: Subnet,
    subnet_len: u8,
    default: u64,
) -> Result<Ipv4Addr, ConfigError> {
    let invalid = |value: &str, why: &str| ConfigError::Invalid {
        key,
        value: value.to_string(),
        why: why.to_string(),
    };
    let given = field(obj, key, OnNull::Parse, |v| {
        let s = self_parsed_str(v, key)?;
        Ipv4Addr::from_str(s).map_err(|_| invalid(s, "not an IPv4 address"))
    })?;
    // flanneld takes 0.0.0.0 for "not set" (`config.SubnetMin == ip.IP4(0)`).
    let Some(ip) = given.filter(|ip| !ip.is_unspecified()) else {
        return u32::try_from(default)
            .map(Ipv4Addr::from)
            .map_err(|_| invalid(&default.to_string(), "out of the IPv4 range"));
    };
    if !network.contains(ip) {
        return Err(invalid(
            &ip.to_string(),
            &format!("not inside Network {network}"),
        ));
    }
    if Subnet::new(ip, subnet_len).is_err() {
        return Err(invalid(
            &ip.to_string(),
            &format!("not on a /{subnet_len} (SubnetLen) boundary"),
        ));
    }
    Ok(ip)
}

/// `Backend`, a `json.RawMessage` flanneld decodes once it has the whole
/// config: its last occurrence counts (a null there is no backend).
fn backend(obj: &Object) -> Result<VxlanBackend, ConfigError> {
    let b = match raw(obj, "Backend") {
        None => return Err(ConfigError::MissingBackendType),
        Some(Json::Object(b)) => b,
        Some(_) => {
            return Err(ConfigError::Type {
                key: "Backend",
                expected: "an object",
            })
        }
    };
    match get_str(b, "Type")? {
        None => return Err(ConfigError::MissingBackendType),
        // flanneld lower-cases the type before it picks the backend.
        Some(t) if t.eq_ignore_ascii_case(VXLAN) => {}
        Some(other) => return Err(ConfigError::UnsupportedBackend(other.to_string())),
    }
    let vni = get_uint(b, "VNI", (1 << 24) - 1)?.map_or(DEFAULT_VNI, |v| v as u32);
    let port = match get_uint(b, "Port", u64::from(u16::MAX))? {
        None | Some(0) => DEFAULT_VXLAN_PORT,
        Some(p) => p as u16,
    };
    let mtu = get_uint(b, "MTU", u64::from(u32::MAX))?
        .filter(|m| *m > 0)
        .map(|m| m as u32);
    let direct_routing = get_bool(b, "DirectRouting")?.unwrap_or(false);
    let gbp = get_bool(b, "GBP")?.unwrap_or(false);
    Ok(VxlanBackend {
        vni,
        port,
        mtu,
        direct_routing,
        gbp,
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(s: &str) -> Result<NetworkConfig, ConfigError> {
        NetworkConfig::parse(s.as_bytes())
    }

    #[test]
    fn config_defaults_like_flanneld() {
        let c = cfg(r#"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#).unwrap();
        assert_eq!(c.subnet_len, 24);
        assert_eq!(c.subnet_min, Ipv4Addr::new(10, 244, 1, 0));
        assert_eq!(c.subnet_max, Ipv4Addr::new(10, 244, 255, 0));
        assert_eq!(
            c.backend,
            VxlanBackend {
                vni: 1,
                port: 8472,
                mtu: None,
                direct_routing: false,
                gbp: false
            }
        );
        assert_eq!(c.candidate_subnets().count(), 255);
        let c = cfg(r#"{"Network":"10.5.0.0/26","Backend":{"Type":"vxlan","Port":0}}"#).unwrap();
        assert_eq!((c.subnet_len, c.backend.port), (28, 8472));
        assert_eq!(c.subnet_max, Ipv4Addr::new(10, 5, 0, 48));
    }

    /// flanneld reads a SubnetMin/SubnetMax of 0.0.0.0 as not set, and
    /// refuses an empty Network.
    #[test]
    fn zero_bounds_are_unset_and_the_whole_space_is_no_network_as_in_flanneld() {
        let c = cfg(r#"{"Network":"10.244.0.0/16","SubnetMin":"0.0.0.0","SubnetMax":"0.0.0.0","Backend":{"Type":"vxlan"}}"#)
            .unwrap();
        assert_eq!(c.subnet_min, Ipv4Addr::new(10, 244, 1, 0));
        assert_eq!(c.subnet_max, Ipv4Addr::new(10, 244, 255, 0));
        // In a Network at 0.0.0.0 too: the first subnet stays skipped.
        let c = cfg(r#"{"Network":"0.0.0.0/8","SubnetMin":"0.0.0.0","Backend":{"Type":"vxlan"}}"#)
            .unwrap();
        assert_eq!(c.subnet_min, Ipv4Addr::new(0, 0, 1, 0));
        for net in ["0.0.0.0/0", "10.1.2.3/0"] {
            let e = cfg(&format!(
                r#"{{"Network":"{net}","Backend":{{"Type":"vxlan"}}}}"#
            ));
            assert!(
                matches!(&e, Err(ConfigError::Invalid { key: "Network", value, why })
                    if value == net && why.contains("whole IPv4 space")),
                "{net}: {e:?}"
            );
        }
    }

    #[test]
    fn config_keys_are_case_insensitive_and_the_last_wins_as_in_go() {
        let c = cfg(r#"{"network":"10.1.0.0/16","subnetlen":25,"BACKEND":{"type":"vxlan","vni":7,"port":4789,"mtu":9000,"directrouting":true}}"#)
            .unwrap();
        assert_eq!(c.network, Subnet::parse_cidr("10.1.0.0/16").unwrap());
        assert_eq!(c.subnet_len, 25);
        assert_eq!(
            c.backend,
            VxlanBackend {
                vni: 7,
                port: 4789,
                mtu: Some(9000),
                direct_routing: true,
                gbp: false
            }
        );
        let c =
            cfg(r#"{"network":"10.9.0.0/16","Network":"10.1.0.0/16","Backend":{"Type":"vxlan"}}"#)
                .unwrap();
        assert_eq!(c.network.addr, Ipv4Addr::new(10, 1, 0, 0));
        // Go applies keys in document order: the last spelling wins, even
        // over the exact one; a null changes no plain field (SubnetLen).
        let c = cfg(
            r#"{"Network":"10.1.0.0/16","network":"10.9.0.0/16","SubnetLen":26,"Backend":{"Type":"vxlan"},"backend":{"type":"vxlan","VNI":5},"SUBNETLEN":null}"#,
        )
        .unwrap();
        assert_eq!(c.network.addr, Ipv4Addr::new(10, 9, 0, 0));
        assert_eq!((c.subnet_len, c.backend.vni), (26, 5));
        let l = LeaseValue::parse(
            br#"{"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:01"},"publicip":"192.0.2.9"}"#,
        );
        assert!(
            matches!(&l, Ok(LeaseValue::Vxlan(a)) if a.public_ip == Ipv4Addr::new(192, 0, 2, 9)),
            "peers send to the last PublicIP: {l:?}"
        );
    }

    /// Go's encoding/json applies every spelling of a field in order: a
    /// plain field (string, bool, number) of the wrong type is an error
    /// Go remembers while it goes on, and a field whose type parses itself
    /// (ip.IP4, ip.IP4Net, hardwareAddr) aborts the decode when its parse
    /// fails, a null included. Either way flanneld refuses the document,
    /// whichever spelling comes first, so vxgate refuses it too.
    #[test]
    fn any_bad_spelling_of_a_field_refuses_the_document_as_go_does() {
        let lease = |fields: &str| {
            LeaseValue::parse(
                format!(
                    r#"{{{fields},"BackendType":"vxlan","BackendData":{{"VtepMAC":"02:00:00:00:00:01"}}}}"#
                )
                .as_bytes(),
            )
        };
        for (bad, good) in [
            (r#""PublicIP":5"#, r#""publicip":"1.2.3.4""#),
            (r#""PublicIP":null"#, r#""publicip":"1.2.3.4""#),
            (r#""PublicIP":"1.2.3.400""#, r#""publicip":"1.2.3.4""#),
            (r#""PublicIPv6":7"#, r#""PublicIP":"1.2.3.4""#),
            (r#""BackendType":5"#, r#""PublicIP":"1.2.3.4""#),
        ] {
            for doc in [format!("{bad},{good}"), format!("{good},{bad}")] {
                let l = lease(&doc);
                assert!(matches!(l, Err(LeaseError::Invalid { .. })), "{doc}: {l:?}");
            }
        }
        let data = |d: &str| {
            LeaseValue::parse(
                format!(r#"{{"PublicIP":"1.2.3.4","BackendType":"vxlan","BackendData":{{{d}}}}}"#)
                    .as_bytes(),
            )
        };
        for d in [
            r#""VtepMAC":"02:00:00:00:00:01","vtepmac":null"#,
            r#""vtepmac":5,"VtepMAC":"02:00:00:00:00:01""#,
            r#""VtepMAC":"02:00:00:00:00:01","VNI":-1,"vni":1"#,
            r#""VtepMAC":"02:00:00:00:00:01","vni":1,"VNI":4294967296"#,
        ] {
            assert!(data(d).is_err(), "{d}");
        }
        // What Go accepts: a null of a plain field or of a pointer (which
        // it resets), and a bad BackendData that a later one replaces
        // (a json.RawMessage: only the last is decoded).
        let ok = lease(
            r#""PublicIP":"1.2.3.4","BackendType":null,"PublicIPv6":"fc00::1","publicipv6":null"#,
        );
        assert!(
            matches!(&ok, Ok(LeaseValue::Vxlan(a)) if a.public_ipv6.is_none()),
            "{ok:?}"
        );
        let ok = LeaseValue::parse(
            br#"{"PublicIP":"1.2.3.4","BackendType":"vxlan","BackendData":{"VtepMAC":5},"backenddata":{"VtepMAC":"02:00:00:00:00:09","VNI":null}}"#,
        );
        assert!(
            matches!(&ok, Ok(LeaseValue::Vxlan(a)) if a.vtep_mac[5] == 9 && a.vni.is_none()),
            "{ok:?}"
        );

        let config = |fields: &str| cfg(&format!(r#"{{{fields},"Backend":{{"Type":"vxlan"}}}}"#));
        for (bad, good) in [
            (r#""Network":5"#, r#""network":"10.1.0.0/16""#),
            (r#""Network":null"#, r#""network":"10.1.0.0/16""#),
            (
                r#""SubnetMin":"x""#,
                r#""network":"10.1.0.0/16","subnetmin":"10.1.2.0""#,
            ),
            (r#""SubnetMax":null"#, r#""network":"10.1.0.0/16""#),
            (
                r#""SubnetLen":"24""#,
                r#""network":"10.1.0.0/16","subnetlen":24"#,
            ),
            (r#""EnableIPv4":1"#, r#""network":"10.1.0.0/16""#),
        ] {
            for doc in [format!("{bad},{good}"), format!("{good},{bad}")] {
                assert!(config(&doc).is_err(), "{doc}");
            }
        }
        assert!(
            cfg(r#"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan","VNI":"1","vni":1}}"#)
                .is_err()
        );
        // Backend is a json.RawMessage: the last one, even a null (which
        // flanneld reads as no Type: udp).
        assert_eq!(
            cfg(r#"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan"},"backend":null}"#),
            Err(ConfigError::MissingBackendType)
        );
        assert_eq!(
            cfg(r#"{"Network":"10.1.0.0/16","Backend":5,"backend":{"Type":"vxlan","VNI":3}}"#)
                .map(|c| c.backend.vni),
            Ok(3)
        );
    }

    /// A value above MAX_VALUE_BYTES is refused before it is parsed; one
    /// just below, of thousands of keys, is read as usual (the keys are
    /// grouped in one pass: `go_json`'s test counts the lookups).
    #[test]
    fn values_above_the_bound_are_refused_before_parsing() {
        let head = r#"{"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:01"}"#;
        let mut v = head.to_string();
        let mut i = 0;
        while v.len() < MAX_VALUE_BYTES - 40 {
            v.push_str(&format!(r#","x{i}":{i}"#));
            i += 1;
        }
        v.push_str(r#","publicip":"192.0.2.9"}"#);
        assert!(v.len() <= MAX_VALUE_BYTES && i > 5_000, "{} {i}", v.len());
        let l = LeaseValue::parse(v.as_bytes());
        assert!(
            matches!(&l, Ok(LeaseValue::Vxlan(a)) if a.public_ip == Ipv4Addr::new(192, 0, 2, 9)),
            "{l:?}"
        );
        // Trailing blanks are valid JSON: only the size refuses these.
        let pad = |s: &str| format!("{s}{}", " ".repeat(MAX_VALUE_BYTES + 1 - s.len()));
        let over = pad(&v);
        assert_eq!(
            LeaseValue::parse(over.as_bytes()),
            Err(LeaseError::TooLarge(MAX_VALUE_BYTES + 1))
        );
        let config = pad(r#"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan"}}"#);
        assert_eq!(
            cfg(&config),
            Err(ConfigError::TooLarge(MAX_VALUE_BYTES + 1))
        );
        assert!(cfg(config.trim_end()).is_ok());
    }

    #[test]
    fn config_errors_are_specific() {
        assert_eq!(
            cfg(r#"{"Network":"10.1.0.0/16","Backend":{"Type":"udp"}}"#),
            Err(ConfigError::UnsupportedBackend("udp".into()))
        );
        assert_eq!(
            cfg(r#"{"Network":"10.1.0.0/16"}"#),
            Err(ConfigError::MissingBackendType)
        );
        assert_eq!(
            cfg(r#"{"Backend":{"Type":"vxlan"}}"#),
            Err(ConfigError::MissingNetwork)
        );
        let bad = [
            r#"{"Network":"10.1.0.0/16","SubnetLen":31,"Backend":{"Type":"vxlan"}}"#,
            r#"{"Network":"10.1.0.0/16","SubnetLen":17,"Backend":{"Type":"vxlan"}}"#,
            r#"{"Network":"10.1.0.0/29","Backend":{"Type":"vxlan"}}"#,
            r#"{"Network":"10.1.0.0/16","SubnetMin":"10.2.0.0","Backend":{"Type":"vxlan"}}"#,
            r#"{"Network":"10.1.0.0/16","SubnetMax":"10.1.0.7","Backend":{"Type":"vxlan"}}"#,
            r#"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan","VNI":16777216}}"#,
            r#"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan","Port":"8472"}}"#,
            r#"{"Network":"10.1.0.0/16","EnableIPv4":false,"Backend":{"Type":"vxlan"}}"#,
            "[1]",
            "{",
        ];
        for b in bad {
            let e = cfg(b).unwrap_err();
            assert!(!e.to_string().is_empty(), "{b}");
        }
    }

    #[test]
    fn type_and_network_are_read_as_flanneld_reads_them() {
        // flanneld lower-cases Backend.Type and masks Network's host bits.
        let c = cfg(r#"{"Network":"10.1.0.5/16","Backend":{"Type":"VXLAN","GBP":true}}"#).unwrap();
        assert_eq!(c.network, Subnet::parse_cidr("10.1.0.0/16").unwrap());
        assert_eq!(c.subnet_min, Ipv4Addr::new(10, 1, 1, 0));
        assert!(c.backend.gbp);
        assert_eq!(
            cfg(r#"{"Network":"10.1.0.0/16","Backend":{"Type":"VXLAN-GPE"}}"#),
            Err(ConfigError::UnsupportedBackend("VXLAN-GPE".into()))
        );
        for bad in ["10.1.0.5/33", "10.1.0.256/16", "10.1.0.0"] {
            let json = format!(r#"{{"Network":"{bad}","Backend":{{"Type":"vxlan"}}}}"#);
            assert!(
                matches!(cfg(&json), Err(ConfigError::Invalid { key: "Network", .. })),
                "{bad}"
            );
        }
        assert_eq!(
            cfg(r#"{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan","GBP":1}}"#),
            Err(ConfigError::Type {
                key: "GBP",
                expected: "true or false"
            })
        );
    }

    #[test]
    fn ipv6_keys_are_reported() {
        let c = cfg(r#"{"Network":"10.1.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"vxlan"}}"#)
            .unwrap();
        assert_eq!(
            c.ipv6_keys_ignored,
            vec!["EnableIPv6".to_string(), "IPv6Network".to_string()]
        );
    }

    #[test]
    fn lease_value_round_trip_exact_bytes() {
        let text = r#"{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}"#;
        let LeaseValue::Vxlan(a) = LeaseValue::parse(text.as_bytes()).unwrap() else {
            panic!("not vxlan")
        };
        assert_eq!(a.public_ip, Ipv4Addr::new(192, 168, 64, 3));
        assert_eq!(a.vtep_mac, [0xc6, 0xd2, 0x32, 0x6f, 0x8f, 0x44]);
        assert_eq!(a.vni, Some(1));
        assert_eq!(a.encode(), text);
    }

    /// What Go's net.ParseMAC takes for a 6-byte address, and nothing else.
    #[test]
    fn macs_parse_as_go_parses_them() {
        let m = Some([0x02, 0, 0, 0, 0, 0x0a]);
        for ok in ["02:00:00:00:00:0a", "02-00-00-00-00-0A", "0200.0000.000a"] {
            assert_eq!(parse_mac(ok), m, "{ok}");
        }
        for bad in [
            "+2:00:00:00:00:0a",
            "02:00:00:00:00:+a",
            "2:00:00:00:00:0a",
            "02:00:00:00:00",
            "02:00:00:00:00:0a:0b",
            "02:00-00:00:00:0a",
            "0200.0000.000a.0000",
            "0200.0000",
            "+200.0000.000a",
            "02é0.0000.000a",
            "",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn lease_value_variants() {
        let p = |s: &str| LeaseValue::parse(s.as_bytes());
        let LeaseValue::Vxlan(a) =
            p(r#"{"publicip":"10.0.0.1","backendtype":"vxlan","backenddata":{"vtepmac":"02-00-00-00-00-0A"}}"#).unwrap()
        else {
            panic!("not vxlan")
        };
        assert_eq!((a.vni, a.vtep_mac[5]), (None, 10));
        assert!(matches!(
            p(r#"{"PublicIP":"10.0.0.1","BackendType":"host-gw"}"#),
            Ok(LeaseValue::OtherBackend { .. })
        ));
        let bad = [
            r#"{"BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:01"}}"#,
            r#"{"PublicIP":"10.0.0.300","BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:01"}}"#,
            r#"{"PublicIP":"10.0.0.1","BackendData":{"VtepMAC":"02:00:00:00:00:01"}}"#,
            r#"{"PublicIP":"10.0.0.1","BackendType":"vxlan"}"#,
            r#"{"PublicIP":"10.0.0.1","BackendType":"vxlan","BackendData":{}}"#,
            r#"{"PublicIP":"10.0.0.1","BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:01"}}"#,
            r#"{"PublicIP":"10.0.0.1","BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:01","VNI":-1}}"#,
            r#"{"PublicIP":"10.0.0.1","PublicIPv6":"x","BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:01"}}"#,
            r#"{"PublicIP":1,"BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:01"}}"#,
            "not json",
            "[]",
        ];
        for b in bad {
            assert!(p(b).is_err(), "{b}");
        }
    }

    /// PublicIP and PublicIPv6 are read as Go's net.ParseIP reads them:
    /// either family, an IPv4-mapped PublicIP as its IPv4 address, an IPv4
    /// PublicIPv6 in its mapped form; an IPv6 PublicIP is no lease.
    #[test]
    fn public_addresses_take_either_family_as_go_parse_ip() {
        let p = |ip: &str, ip6: &str| {
            LeaseValue::parse(format!(r#"{{"PublicIP":"{ip}","PublicIPv6":"{ip6}","BackendType":"vxlan","BackendData":{{"VtepMAC":"02:00:00:00:00:01"}}}}"#).as_bytes())
        };
        let Ok(LeaseValue::Vxlan(a)) = p("::ffff:192.0.2.1", "192.0.2.7") else {
            panic!("refused")
        };
        assert_eq!(a.public_ip, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(
            a.public_ipv6,
            Some(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped())
        );
        assert!(p("fc00::1", "fc00::2").is_err());
    }
}
