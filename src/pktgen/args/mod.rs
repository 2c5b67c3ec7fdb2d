//! The flags of `vxgate pktgen` and everything that checks them.
//!
//! [`PktgenArgs`] is the clap struct (its doc comments are the `--help`
//! text), with the limits and defaults of its flags as constants beside it
//! and accessors that apply the defaults. [`PktgenArgs::validate`] refuses
//! an out-of-range value or a contradictory combination before EAL starts
//! (a [`ConfigError`](crate::config::ConfigError) naming the flag: exit
//! code 2), and [`PktgenArgs::plan`] turns valid flags into the
//! [`FlowPlan`](super::flows::FlowPlan) the frames are built from. Nothing
//! here needs EAL or a port, so all of it is tested by parsing flags
//! alone; the checks that need a port (its driver, its link speed) are
//! `measure`'s.
//!
//! By file: `limits` (the constants), `flags` (the clap struct),
//! `defaults` (the accessors that apply the defaults, and the frame size,
//! MTUs and line rate that follow), `validate` (the ranges),
//! `addresses` (addresses, MACs, ports and lease subnets), `conflicts`
//! (contradictory or ignored combinations) and `plan`.

mod addresses;
mod conflicts;
mod defaults;
mod flags;
mod limits;
mod plan;
mod validate;

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod tests_support;

pub(super) use conflicts::no_tx_port;
pub use flags::PktgenArgs;
pub use limits::{
    DEFAULT_DRAIN_MS, DEFAULT_GW_IP, DEFAULT_LEASES, DEFAULT_MBUFS, DEFAULT_VNI, DEFAULT_VTEPS,
    DEFAULT_VTEP_BASE, DEFAULT_VXLAN_PORT, DEFAULT_WARMUP_MS, MAX_COUNT, MAX_DRAIN_MS,
    MAX_DURATION_S, MAX_FLOWS, MAX_LINE_RATE_MBPS, MAX_MBUFS, MAX_PCAP_FLOWS, MAX_RATE_PPS,
    MAX_SIZE, MAX_WARMUP_MS, MEMPOOL_CACHE, MIN_DURATION_S, MIN_LINE_RATE_MBPS, MIN_MBUFS,
    MIN_RATE_PPS, RING_DESC,
};
