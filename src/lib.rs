//! vxgate: a DPDK poll-mode VXLAN gateway that joins a flannel overlay as a
//! first-class VTEP. See README.md and docs/ for the architecture.
//!
//! Imports flow one way, top to bottom:
//! config, ops, control, pktgen -> pipeline -> table, wire -> dpdk -> ffi.
//! `wire` and `table` import nothing of ours, so they test on plain bytes.
pub mod config;
pub mod control;
pub mod dpdk;
pub mod ffi;
pub mod fwd;
pub mod gateway;
pub mod ops;
pub mod pipeline;
pub mod pktgen;
pub mod table;
pub mod wire;
