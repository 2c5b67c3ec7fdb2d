//! `<prefix>/config` parsed and validated as flanneld reads it: each field, SubnetLen, the bounds, the backend.

use std::net::Ipv4Addr;
use std::str::FromStr;

use super::go_fields::{field, raw, OnNull};
use super::network_config::{ConfigError, NetworkConfig, VxlanBackend};
use super::{DEFAULT_VNI, DEFAULT_VXLAN_PORT, MAX_VALUE_BYTES, VXLAN};
use crate::control::go_json::{self, Json, Object};
use crate::control::subnet::{Subnet, SubnetError};

/// The least Backend.MTU: IPv4's minimum MTU (68) plus the 50 bytes of
/// VXLAN headers.
const MIN_BACKEND_MTU: u32 = 118;

/// The field a key names in its object, the key being the path the
/// operator reads in errors: `Backend.MTU` is `MTU` of the `Backend`
/// object.
fn field_name(key: &str) -> &str {
    key.rsplit_once('.').map_or(key, |(_, name)| name)
}

fn get_str<'a>(obj: &'a Object, key: &'static str) -> Result<Option<&'a str>, ConfigError> {
    field(obj, field_name(key), OnNull::Keep, |v| {
        v.as_str().ok_or(ConfigError::Type {
            key,
            expected: "a string",
        })
    })
}

fn get_bool(obj: &Object, key: &'static str) -> Result<Option<bool>, ConfigError> {
    field(obj, field_name(key), OnNull::Keep, |v| {
        v.as_bool().ok_or(ConfigError::Type {
            key,
            expected: "true or false",
        })
    })
}

/// A non-negative integer; `max` is a check of the value Go ends up
/// with, not of its type, so it applies to the last occurrence only.
fn get_uint(obj: &Object, key: &'static str, max: u64) -> Result<Option<u64>, ConfigError> {
    let n = field(obj, field_name(key), OnNull::Keep, |v| {
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
    match get_str(b, "Backend.Type")? {
        None => return Err(ConfigError::MissingBackendType),
        // flanneld lower-cases the type before it picks the backend.
        Some(t) if t.eq_ignore_ascii_case(VXLAN) => {}
        Some(other) => return Err(ConfigError::UnsupportedBackend(other.to_string())),
    }
    let vni = get_uint(b, "Backend.VNI", (1 << 24) - 1)?.map_or(DEFAULT_VNI, |v| v as u32);
    let port = match get_uint(b, "Backend.Port", u64::from(u16::MAX))? {
        None | Some(0) => DEFAULT_VXLAN_PORT,
        Some(p) => p as u16,
    };
    let mtu = get_uint(b, "Backend.MTU", u64::from(u32::MAX))?
        .filter(|m| *m > 0)
        .map(|m| m as u32);
    // flanneld gives flannel.1 `MTU - 50`, which the kernel refuses below
    // IPv4's 68: refused here too, before our lease is taken, not once the
    // ports are up (the lease would be left behind in etcd).
    if let Some(m) = mtu.filter(|m| *m < MIN_BACKEND_MTU) {
        return Err(ConfigError::Invalid {
            key: "Backend.MTU",
            value: m.to_string(),
            why: format!(
                "the tunnel MTU would be {}, below IPv4's minimum of 68: give at least {MIN_BACKEND_MTU} (68 plus the 50 bytes of VXLAN headers), or 0 or none for the underlay port's MTU",
                i64::from(m) - 50
            ),
        });
    }
    let direct_routing = get_bool(b, "Backend.DirectRouting")?.unwrap_or(false);
    let gbp = get_bool(b, "Backend.GBP")?.unwrap_or(false);
    Ok(VxlanBackend {
        vni,
        port,
        mtu,
        direct_routing,
        gbp,
    })
}
