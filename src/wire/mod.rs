//! Header views and builders, zero-copy over packet bytes (pure Rust, no DPDK).
#![deny(unsafe_code)]
