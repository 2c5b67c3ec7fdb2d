//! flannel's JSON documents in etcd: the network `config` and lease values.
//!
//! Go's `encoding/json` matches object keys to struct fields
//! case-insensitively, so `"vni"` and `"VNI"` both reach `VNI` in flanneld,
//! and applies every spelling in document order. `go_json::parse` keeps
//! every occurrence; the readers below apply each field's Go type to them
//! (`field` with its `OnNull` rule, `raw`), so a document is accepted
//! exactly when flanneld would decode it, and read as flanneld reads it.
//!
//! By file: `go_fields` (how Go's decoder applies every spelling of a
//! field), `network_config` (the validated config, its errors, the subnets
//! it allows), `config_parse` (the config parsed as flanneld parses it),
//! `lease` (lease values: parsed, and encoded as flanneld writes them).

mod config_parse;
mod go_fields;
mod lease;
mod network_config;

#[cfg(test)]
mod tests;

pub use lease::{parse_mac, LeaseAttrs, LeaseError, LeaseValue};
pub use network_config::{ConfigError, NetworkConfig, VxlanBackend};

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
