//! A validated `<prefix>/config`: its fields, what can be wrong with it, and the subnets it allows.

use std::net::Ipv4Addr;

use super::MAX_VALUE_BYTES;
use crate::control::subnet::Subnet;

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

impl NetworkConfig {
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
