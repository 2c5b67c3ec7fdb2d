//! The limits and defaults of `vxgate pktgen`'s flags.

use std::net::Ipv4Addr;

use crate::dpdk;

/// Ethernet header and FCS: a frame of `--size` carries an MTU of
/// `size - FRAME_OVERHEAD`.
pub(super) const FRAME_OVERHEAD: u32 = 14 + 4;
/// Standard Ethernet's largest frame (with FCS); larger ones are jumbo
/// frames, for which pktgen sets the ports' MTU.
pub(super) const MAX_STANDARD_SIZE: u32 = 1518;
/// Largest frame (with FCS): the largest port MTU vxgate sets, framed.
pub const MAX_SIZE: u32 = *dpdk::PORT_MTU_RANGE.end() as u32 + FRAME_OVERHEAD;
/// Flow indices travel in 16 bits of the payload.
pub const MAX_FLOWS: u32 = 1 << 16;
/// Flows of a pcap written for replay (`--write-pcap`): enough for a
/// frame to every one of a million leases or VTEPs; flows past
/// [`MAX_FLOWS`] carry their index modulo 2^16 (nothing receives them as
/// pktgen flows).
pub const MAX_PCAP_FLOWS: u32 = 1 << 20;

/// `--rate-pps` and `--min-rate-pps`: from one packet per second...
pub const MIN_RATE_PPS: f64 = 1.0;
/// ... to 10 Gpps, well above 64-byte line rate at 1 Tb/s (1.49 Gpps).
pub const MAX_RATE_PPS: f64 = 1e10;
/// `--duration` and `--trial`: from 1 ms (one pacing lag) ...
pub const MIN_DURATION_S: f64 = 0.001;
/// ... to ten years, as `vxgate fwd --duration`.
pub const MAX_DURATION_S: f64 = 10.0 * 365.0 * 86_400.0;
/// `--drain-ms`: at most a minute.
pub const MAX_DRAIN_MS: u64 = 60_000;
/// `--warmup-ms`: at most a minute.
pub const MAX_WARMUP_MS: u64 = 60_000;
/// `--line-rate-mbps`: 1 Mb/s ...
pub const MIN_LINE_RATE_MBPS: f64 = 1.0;
/// ... to 1 Tb/s.
pub const MAX_LINE_RATE_MBPS: f64 = 1_000_000.0;
/// `--count`: sequence numbers travel in 48 bits of the payload.
pub const MAX_COUNT: u64 = 1 << 48;
/// Per-lcore mempool cache of pktgen's pool.
pub const MEMPOOL_CACHE: u32 = 256;
/// RX and TX descriptors per queue of the ports pktgen opens
/// (`PortConf::default()`).
pub const RING_DESC: u32 = 1024;
/// `--mbufs` at least: the RX rings of the TX and the RX port and the TX
/// ring full, a burst in hand on each side, and a full mempool cache (1.5 x
/// the cache size, DPDK's flush threshold) on each of the three lcores
/// that take from the pool (main, TX, RX): 4288.
pub const MIN_MBUFS: u32 =
    3 * RING_DESC + 2 * dpdk::BURST as u32 + 3 * (MEMPOOL_CACHE + MEMPOOL_CACHE / 2);
/// `--mbufs` at most: what one pool may hold (2^24).
pub const MAX_MBUFS: u32 = dpdk::MAX_MBUFS;
/// Defaults of the flags that have no clap default (see `PktgenArgs`).
pub const DEFAULT_MBUFS: u32 = 16383;
pub const DEFAULT_DRAIN_MS: u64 = 500;
pub const DEFAULT_WARMUP_MS: u64 = 500;
pub const DEFAULT_LEASES: u32 = 16;
pub const DEFAULT_VTEPS: u32 = 16;
pub const DEFAULT_VTEP_BASE: Ipv4Addr = Ipv4Addr::new(172, 28, 147, 44);
pub const DEFAULT_GW_IP: Ipv4Addr = Ipv4Addr::new(172, 28, 147, 40);
pub const DEFAULT_VNI: u32 = 1;
pub const DEFAULT_VXLAN_PORT: u16 = 8472;
