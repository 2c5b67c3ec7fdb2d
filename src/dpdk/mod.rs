//! Safe DPDK wrappers.
