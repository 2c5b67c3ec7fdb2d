//! The flags of `vxgate pktgen` and everything that checks them.
//!
//! [`PktgenArgs`] is the clap struct (its doc comments are the `--help`
//! text), with the limits and defaults of its flags as constants beside it
//! and accessors that apply the defaults. [`PktgenArgs::validate`] refuses
//! an out-of-range value or a contradictory combination before EAL starts
//! (a [`ConfigError`] naming the flag: exit code 2), and
//! [`PktgenArgs::plan`] turns valid flags into the [`FlowPlan`] the frames
//! are built from. Nothing here needs EAL or a port, so all of it is tested
//! by parsing flags alone; the checks that need a port (its driver, its
//! link speed) are `measure`'s.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::flows::{self, lease_subnet, vtep_ip, FlowPlan, Ipv4Net, Mode};
use super::headers::{parse_mac, Mac};
use super::payload;
use super::report::L1_OVERHEAD;
use super::PktgenError;
use crate::config::{format_mac, ConfigError};
use crate::dpdk;

/// Ethernet header and FCS: a frame of `--size` carries an MTU of
/// `size - FRAME_OVERHEAD`.
const FRAME_OVERHEAD: u32 = 14 + 4;
/// Standard Ethernet's largest frame (with FCS); larger ones are jumbo
/// frames, for which pktgen sets the ports' MTU.
const MAX_STANDARD_SIZE: u32 = 1518;
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

#[derive(clap::Args, Clone, Debug)]
pub struct PktgenArgs {
    /// Frames to send: `inner` (IPv4/UDP from bare-metal hosts) or `vxlan`
    /// (VXLAN from flannel nodes' VTEPs to the gateway).
    #[arg(long, value_enum, default_value_t = Mode::Inner)]
    pub mode: Mode,
    /// Frame size in bytes including the 4-byte FCS (default: 64 for inner,
    /// 114, the smallest that holds the stamp, for vxlan), up to 9618.
    /// Above 1518 (jumbo frames) the ports' MTU is set to size - 18.
    #[arg(allow_negative_numbers = true, long, value_name = "BYTES")]
    pub size: Option<u32>,
    /// Number of flows (address/port tuples), at most 65536 (1048576
    /// with --write-pcap). The UDP source port has 64512 values: above
    /// that, flows differ only by address (see docs/pktgen.md).
    #[arg(
        allow_negative_numbers = true,
        long,
        default_value_t = 1024,
        value_name = "N"
    )]
    pub flows: u32,
    /// inner only: destination subnets (comma-separated CIDRs); flow f goes
    /// to subnet f % count. Default: the first --leases lease subnets.
    #[arg(long, value_delimiter = ',', value_name = "CIDR")]
    pub dst_subnets: Vec<Ipv4Net>,
    /// The flannel Network the lease subnets are carved from.
    #[arg(long, default_value = "10.244.0.0/16", value_name = "CIDR")]
    pub network: Ipv4Net,
    /// flannel SubnetLen.
    #[arg(
        allow_negative_numbers = true,
        long,
        default_value_t = 24,
        value_name = "LEN"
    )]
    pub subnet_len: u8,
    /// inner only: number of lease subnets to send to (lease i = subnet i+1
    /// of --network), when --dst-subnets is not given (default 16).
    #[arg(allow_negative_numbers = true, long, value_name = "N")]
    pub leases: Option<u32>,
    /// First bare-metal host behind the gateway (host j = this + j): the
    /// source of inner frames, the destination inside vxlan frames.
    #[arg(long, default_value = "10.244.255.10", value_name = "IP")]
    pub host_ip: Ipv4Addr,
    /// Number of bare-metal hosts.
    #[arg(
        allow_negative_numbers = true,
        long,
        default_value_t = 1,
        value_name = "N"
    )]
    pub hosts: u32,
    /// Inner UDP destination port.
    #[arg(
        allow_negative_numbers = true,
        long,
        default_value_t = 5001,
        value_name = "PORT"
    )]
    pub udp_port: u16,
    // The vxlan-only flags have no clap default, so that one given with
    // --mode inner (which would ignore it) can be told and refused.
    /// vxlan only: number of sending VTEPs (VTEP i holds lease i; default 16).
    #[arg(allow_negative_numbers = true, long, value_name = "N")]
    pub vteps: Option<u32>,
    /// vxlan only: PublicIP of VTEP 0 (VTEP i = this + i; default
    /// 172.28.147.44).
    #[arg(long, value_name = "IP")]
    pub vtep_base: Option<Ipv4Addr>,
    /// vxlan only: the gateway's underlay IP (outer destination; default
    /// 172.28.147.40).
    #[arg(long, value_name = "IP")]
    pub gw_ip: Option<Ipv4Addr>,
    /// vxlan only: the gateway's VtepMAC (inner destination MAC; default
    /// the one `vxgate run` derives from --gw-ip and --vni when it has no
    /// --vtep-mac: 0e:01:ac:1c:93:28 for the defaults).
    #[arg(long, value_parser = parse_mac, value_name = "MAC")]
    pub gw_vtep_mac: Option<Mac>,
    /// vxlan only: VNI (default 1).
    #[arg(allow_negative_numbers = true, long, value_name = "VNI")]
    pub vni: Option<u32>,
    /// vxlan only: UDP destination port (default 8472).
    #[arg(allow_negative_numbers = true, long, value_name = "PORT")]
    pub vxlan_port: Option<u16>,
    /// Destination MAC of the (outer) Ethernet header: the gateway's access
    /// (inner) or underlay (vxlan) port MAC. Default: the RX port's MAC;
    /// required with --write-pcap (no port to take it from).
    #[arg(long, value_parser = parse_mac, value_name = "MAC")]
    pub dst_mac: Option<Mac>,
    /// Source MAC of the (outer) Ethernet header. Default: the TX port's MAC
    /// (02:00:00:00:00:01 with --write-pcap).
    #[arg(long, value_parser = parse_mac, value_name = "MAC")]
    pub src_mac: Option<Mac>,
    /// Port to send on: DPDK device name or port id. Required unless
    /// --write-pcap.
    #[arg(long, value_name = "DEV", value_parser = crate::config::device_name_arg)]
    pub tx_port: Option<String>,
    /// Port to receive on (default: the TX port).
    #[arg(long, value_name = "DEV", value_parser = crate::config::device_name_arg)]
    pub rx_port: Option<String>,
    /// MTU to set on the RX port, 576 to 9600 (default: as the TX port,
    /// size - 18 above 1518). Frames that come back through vxgate in inner
    /// mode are 50 bytes larger: e.g. --size 8968 --rx-mtu 9000.
    #[arg(allow_negative_numbers = true, long, value_name = "N")]
    pub rx_mtu: Option<u32>,
    /// Send rate in packets per second, 1 to 1e10 (default: as fast as
    /// possible). Not with --rfc2544.
    #[arg(allow_negative_numbers = true, long, value_name = "N")]
    pub rate_pps: Option<f64>,
    /// Stop sending after this many seconds, 0.001 to 315360000 (ten
    /// years). Not with --rfc2544 (see --trial).
    #[arg(allow_negative_numbers = true, long, value_name = "S")]
    pub duration: Option<f64>,
    /// Stop after this many packets, 1 to 2^48 (with --write-pcap: frames
    /// to write, default one per flow). Not with --rfc2544.
    #[arg(allow_negative_numbers = true, long, value_name = "N")]
    pub count: Option<u64>,
    /// After TX stops, wait this long (0 to 60000 ms, default 500) for
    /// missing frames before counting them as lost. Not with --write-pcap.
    #[arg(allow_negative_numbers = true, long, value_name = "MS")]
    pub drain_ms: Option<u64>,
    /// RFC 2544 warm-up: before the first trial send one frame per flow,
    /// spread over this long (0 to 60000 ms, default 500; 0: none), and wait
    /// up to --drain-ms for them, so that the device under test learns the
    /// addresses (ARP, MAC tables) before it is measured. They count in no
    /// trial. Only with --rfc2544.
    #[arg(allow_negative_numbers = true, long, value_name = "MS")]
    pub warmup_ms: Option<u64>,
    /// RFC 2544 throughput: binary search of the highest rate with no loss.
    #[arg(long)]
    pub rfc2544: bool,
    /// RFC 2544 trial duration in seconds, 0.001 to 315360000.
    #[arg(
        allow_negative_numbers = true,
        long,
        default_value_t = 2.0,
        value_name = "S",
        requires = "rfc2544"
    )]
    pub trial: f64,
    /// RFC 2544 search resolution, percent of line rate, in (0, 100].
    #[arg(
        allow_negative_numbers = true,
        long,
        default_value_t = 1.0,
        value_name = "PCT",
        requires = "rfc2544"
    )]
    pub resolution: f64,
    /// RFC 2544 accepted loss, percent of frames sent, in [0, 100].
    #[arg(
        allow_negative_numbers = true,
        long,
        default_value_t = 0.0,
        value_name = "PCT",
        requires = "rfc2544"
    )]
    pub loss_tolerance: f64,
    /// RFC 2544 lowest rate searched, 1 pps up to line rate (default: 1 % of
    /// line rate, at least 1 pps). Only with --rfc2544.
    #[arg(allow_negative_numbers = true, long, value_name = "N")]
    pub min_rate_pps: Option<f64>,
    /// Line rate in Mbit/s for RFC 2544, 1 to 1000000 (default: the TX
    /// port's link speed). Only with --rfc2544.
    #[arg(allow_negative_numbers = true, long, value_name = "MBPS")]
    pub line_rate_mbps: Option<f64>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Packet buffers in the pool, 4288 to 16777216 (default 16383). Not
    /// with --write-pcap.
    #[arg(allow_negative_numbers = true, long, value_name = "N")]
    pub mbufs: Option<u32>,
    /// Write the frames to this pcap file and exit, without starting EAL
    /// (so not with --tx-port, --rx-port, --rx-mtu, --rate-pps, --duration,
    /// --drain-ms, --warmup-ms, --min-rate-pps, --line-rate-mbps, --mbufs,
    /// --json, --rfc2544 or EAL arguments).
    #[arg(long, value_name = "FILE")]
    pub write_pcap: Option<PathBuf>,
    /// EAL arguments, after `--`.
    #[arg(last = true, value_name = "EAL_ARGS")]
    pub eal: Vec<String>,
}

/// A number as a person would type it (1e10, 0.5, 1e-320).
fn num(x: f64) -> String {
    if x != 0.0 && x.is_finite() && !(1e-4..1e9).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// Checks that `v` (flag `key`) is a number in `lo..=hi` (`unit` names it).
fn in_range(key: &'static str, v: f64, lo: f64, hi: f64, unit: &str) -> Result<(), ConfigError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        return Ok(());
    }
    let problem = if v.is_nan() {
        "not a number".to_string()
    } else if v < lo {
        format!("below the minimum, {} {unit}", num(lo))
    } else {
        format!("above the maximum, {} {unit}", num(hi))
    };
    Err(ConfigError::invalid(
        key,
        num(v),
        problem,
        format!("give --{key} from {} to {}", num(lo), num(hi)),
    ))
}

/// What `ip` is when it is no host's address: the unspecified address or
/// the (limited) broadcast address.
fn no_host_kind(ip: Ipv4Addr) -> &'static str {
    if ip.is_broadcast() {
        "the broadcast address"
    } else {
        "the unspecified address"
    }
}

/// An address pktgen puts on the wire (flag `key`, `what` it stands for)
/// may be neither 0.0.0.0 nor 255.255.255.255.
fn check_host_addr(key: &'static str, ip: Ipv4Addr, what: &str) -> Result<(), ConfigError> {
    if !ip.is_unspecified() && !ip.is_broadcast() {
        return Ok(());
    }
    Err(ConfigError::invalid(
        key,
        ip,
        format!("{ip} is {}, not a host's address", no_host_kind(ip)),
        format!("give --{key} as {what}: neither 0.0.0.0 nor 255.255.255.255"),
    ))
}

/// The last of `n` (at least 1) addresses counted from `first`, if all of
/// them stay below the broadcast address 255.255.255.255.
fn last_host(first: Ipv4Addr, n: u32) -> Option<u32> {
    u32::from(first)
        .checked_add(n.checked_sub(1)?)
        .filter(|last| *last < u32::MAX)
}

impl PktgenArgs {
    pub fn mbufs(&self) -> u32 {
        self.mbufs.unwrap_or(DEFAULT_MBUFS)
    }
    pub fn drain_ms(&self) -> u64 {
        self.drain_ms.unwrap_or(DEFAULT_DRAIN_MS)
    }
    /// The RFC 2544 warm-up (0 without --rfc2544, which has none).
    pub fn warmup_ms(&self) -> u64 {
        if self.rfc2544 {
            self.warmup_ms.unwrap_or(DEFAULT_WARMUP_MS)
        } else {
            0
        }
    }
    pub fn leases(&self) -> u32 {
        self.leases.unwrap_or(DEFAULT_LEASES)
    }
    pub fn vteps(&self) -> u32 {
        self.vteps.unwrap_or(DEFAULT_VTEPS)
    }
    pub fn vtep_base(&self) -> Ipv4Addr {
        self.vtep_base.unwrap_or(DEFAULT_VTEP_BASE)
    }
    pub fn gw_ip(&self) -> Ipv4Addr {
        self.gw_ip.unwrap_or(DEFAULT_GW_IP)
    }
    pub fn gw_vtep_mac(&self) -> Mac {
        self.gw_vtep_mac
            .unwrap_or_else(|| crate::config::default_vtep_mac(self.gw_ip(), self.vni()))
    }
    pub fn vni(&self) -> u32 {
        self.vni.unwrap_or(DEFAULT_VNI)
    }
    pub fn vxlan_port(&self) -> u16 {
        self.vxlan_port.unwrap_or(DEFAULT_VXLAN_PORT)
    }

    /// Frame size with FCS, the mode's default when not given.
    pub fn frame_size(&self) -> u32 {
        self.size
            .unwrap_or_else(|| FlowPlan::min_frame_len(self.mode) as u32 + 4)
    }

    /// The RX port's MTU: `--rx-mtu`, else the TX port's.
    pub fn rx_port_mtu(&self) -> Option<u16> {
        match self.rx_mtu {
            Some(m) => Some(m.min(u32::from(u16::MAX)) as u16),
            None => self.port_mtu(),
        }
    }

    /// The MTU of one port doing both TX and RX: the larger of --rx-mtu and
    /// what the TX frames need (`size - 18`), so never one too small for
    /// them; `None` (left as it is) for standard frames when --rx-mtu is
    /// not larger.
    pub fn shared_port_mtu(&self) -> Option<u16> {
        let need = self.frame_size().saturating_sub(FRAME_OVERHEAD);
        match self.rx_mtu {
            Some(r) if r >= need => Some(r.min(u32::from(u16::MAX)) as u16),
            _ => self.port_mtu(),
        }
    }

    /// The MTU the ports need for jumbo frames; `None`: standard frames,
    /// ports left as they are.
    pub fn port_mtu(&self) -> Option<u16> {
        let size = self.frame_size();
        (size > MAX_STANDARD_SIZE).then(|| (size - FRAME_OVERHEAD).min(u32::from(u16::MAX)) as u16)
    }

    /// `--mode` as typed: `inner` or `vxlan`.
    pub(super) fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Inner => "inner",
            Mode::Vxlan => "vxlan",
        }
    }

    /// Line rate in packets per second of `mbps` at this frame size.
    pub fn line_rate_pps(&self, mbps: f64) -> f64 {
        mbps * 1e6 / f64::from((self.frame_size() + L1_OVERHEAD) * 8)
    }

    /// How many leases --network holds at --subnet-len (lease i is subnet
    /// i + 1: the first subnet is skipped, as flannel's SubnetMin does).
    fn max_leases(&self) -> u64 {
        let bits = u32::from(self.subnet_len.saturating_sub(self.network.prefix_len()));
        1u64.checked_shl(bits).unwrap_or(0).saturating_sub(1)
    }

    /// Checks the flags that do not need EAL: every numeric flag within its
    /// range, no contradictory combination. Errors exit with code 2.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let size = self.frame_size();
        let min = FlowPlan::min_frame_len(self.mode) as u32 + 4;
        if size < min || size > MAX_SIZE {
            return Err(ConfigError::invalid(
                "size",
                size,
                format!(
                    "{} frames need {min} to {MAX_SIZE} bytes (FCS included)",
                    self.mode_name()
                ),
                format!("give --size from {min} to {MAX_SIZE}"),
            ));
        }
        let (max_flows, why) = if self.write_pcap.is_some() {
            (
                MAX_PCAP_FLOWS,
                "a replay pcap holds at most a frame per lease of a million",
            )
        } else {
            (MAX_FLOWS, "flow indices travel in 16 bits")
        };
        if self.flows == 0 || self.flows > max_flows {
            return Err(ConfigError::invalid(
                "flows",
                self.flows,
                why,
                format!("give --flows from 1 to {max_flows}"),
            ));
        }
        check_host_addr(
            "host-ip",
            self.host_ip,
            "the first bare-metal host's address",
        )?;
        if self.hosts == 0 || last_host(self.host_ip, self.hosts).is_none() {
            return Err(ConfigError::invalid(
                "hosts",
                self.hosts,
                format!(
                    "need at least 1, and the hosts from --host-ip {} may not reach \
                     255.255.255.255 (the broadcast address)",
                    self.host_ip
                ),
                format!(
                    "give --hosts from 1 to {} (or a lower --host-ip)",
                    u32::MAX - u32::from(self.host_ip)
                ),
            ));
        }
        Self::check_udp_port("udp-port", self.udp_port)?;
        self.check_network()?;
        let mbufs = self.mbufs();
        if !(MIN_MBUFS..=MAX_MBUFS).contains(&mbufs) {
            return Err(ConfigError::invalid(
                "mbufs",
                mbufs,
                format!(
                    "pktgen needs at least {MIN_MBUFS} (the {RING_DESC}-descriptor RX rings of \
                     both ports and TX ring, bursts and per-lcore caches), a pool holds at most \
                     {MAX_MBUFS}"
                ),
                format!("give --mbufs from {MIN_MBUFS} to {MAX_MBUFS}"),
            ));
        }
        if let Some(r) = self.rate_pps {
            in_range("rate-pps", r, MIN_RATE_PPS, MAX_RATE_PPS, "packets/s")?;
        }
        if let Some(d) = self.duration {
            in_range("duration", d, MIN_DURATION_S, MAX_DURATION_S, "s")?;
        }
        if let Some(c) = self.count {
            if c == 0 || c > MAX_COUNT {
                return Err(ConfigError::invalid(
                    "count",
                    c,
                    "sequence numbers travel in 48 bits",
                    format!("give --count from 1 to {MAX_COUNT}"),
                ));
            }
        }
        self.check_sequence_room()?;
        self.check_src_mac()?;
        if self.drain_ms() > MAX_DRAIN_MS {
            return Err(ConfigError::invalid(
                "drain-ms",
                self.drain_ms(),
                format!("above the maximum, {MAX_DRAIN_MS} ms"),
                format!("give --drain-ms from 0 to {MAX_DRAIN_MS}"),
            ));
        }
        if let Some(w) = self.warmup_ms.filter(|w| *w > MAX_WARMUP_MS) {
            return Err(ConfigError::invalid(
                "warmup-ms",
                w,
                format!("above the maximum, {MAX_WARMUP_MS} ms"),
                format!("give --warmup-ms from 0 to {MAX_WARMUP_MS} (0: no warm-up)"),
            ));
        }
        in_range("trial", self.trial, MIN_DURATION_S, MAX_DURATION_S, "s")?;
        if !(self.resolution > 0.0 && self.resolution <= 100.0) {
            return Err(ConfigError::invalid(
                "resolution",
                num(self.resolution),
                "not a percentage in (0, 100]",
                "give --resolution above 0 and at most 100 (percent of line rate)",
            ));
        }
        if !(0.0..=100.0).contains(&self.loss_tolerance) {
            return Err(ConfigError::invalid(
                "loss-tolerance",
                num(self.loss_tolerance),
                "not a percentage in [0, 100]",
                "give --loss-tolerance from 0 to 100 (percent of frames sent)",
            ));
        }
        if let Some(m) = self.line_rate_mbps {
            in_range(
                "line-rate-mbps",
                m,
                MIN_LINE_RATE_MBPS,
                MAX_LINE_RATE_MBPS,
                "Mb/s",
            )?;
        }
        if let Some(m) = self.min_rate_pps {
            in_range("min-rate-pps", m, MIN_RATE_PPS, MAX_RATE_PPS, "packets/s")?;
        }
        self.check_rfc2544()?;
        self.check_write_pcap()?;
        crate::config::port_mtu("rx-mtu", self.rx_mtu)?;
        self.check_mode_flags()?;
        let (vteps, vtep_base, gw_ip, vni) =
            (self.vteps(), self.vtep_base(), self.gw_ip(), self.vni());
        match self.mode {
            Mode::Inner => {
                self.check_dst_subnets()?;
                // With --dst-subnets, --leases is not used; a value out of
                // range is still a mistake worth saying.
                if self.dst_subnets.is_empty() || self.leases.is_some() {
                    self.check_lease_count("leases", self.leases())?;
                }
            }
            Mode::Vxlan => {
                if vteps == 0 || vteps > 1 << 24 {
                    return Err(ConfigError::invalid(
                        "vteps",
                        vteps,
                        "VTEP MACs number VTEPs in 24 bits",
                        "give --vteps from 1 to 16777216",
                    ));
                }
                if vni > 0x00ff_ffff {
                    return Err(ConfigError::invalid(
                        "vni",
                        vni,
                        "a VNI has 24 bits",
                        "give --vni from 0 to 16777215",
                    ));
                }
                Self::check_udp_port("vxlan-port", self.vxlan_port())?;
                check_host_addr("gw-ip", gw_ip, "the gateway's underlay IP")?;
                check_host_addr("vtep-base", vtep_base, "VTEP 0's PublicIP")?;
                let first = u32::from(vtep_base);
                if last_host(vtep_base, vteps).is_none() {
                    return Err(ConfigError::invalid(
                        "vteps",
                        vteps,
                        format!(
                            "VTEP addresses from --vtep-base {vtep_base} reach 255.255.255.255 \
                             (the broadcast address)"
                        ),
                        "give fewer --vteps or a lower --vtep-base",
                    ));
                }
                self.check_lease_count("vteps", vteps)?;
                let gw = u32::from(gw_ip);
                if gw >= first && gw - first < vteps {
                    return Err(ConfigError::invalid(
                        "gw-ip",
                        gw_ip,
                        format!(
                            "one of the VTEP addresses {vtep_base}..{}",
                            vtep_ip(vtep_base, vteps - 1)
                        ),
                        "move --vtep-base (or --gw-ip) so that they do not overlap",
                    ));
                }
            }
        }
        Ok(())
    }

    /// --rate-pps for --duration may not send more frames than 48-bit
    /// sequence numbers count (they would wrap and show as reordered or
    /// late); a --count bounds the run itself.
    fn check_sequence_room(&self) -> Result<(), ConfigError> {
        let (Some(rate), Some(secs), None) = (self.rate_pps, self.duration, self.count) else {
            return Ok(());
        };
        if rate * secs <= MAX_COUNT as f64 {
            return Ok(());
        }
        Err(ConfigError::invalid(
            "duration",
            num(secs),
            format!(
                "at --rate-pps {} that is {} frames, more than the 2^48 sequence numbers the \
                 stamp counts in 48 bits",
                num(rate),
                num((rate * secs).floor())
            ),
            format!(
                "give --duration of at most {} s at this rate, a lower --rate-pps, or a --count \
                 of at most {MAX_COUNT}",
                num((MAX_COUNT as f64 / rate).floor())
            ),
        ))
    }

    /// A group (multicast or broadcast) address is no frame's source: a
    /// switch or NIC would drop such frames or flood them.
    fn check_src_mac(&self) -> Result<(), ConfigError> {
        const FIX: &str = "give a unicast --src-mac (first byte even, not all zero, e.g. \
                           02:00:00:00:00:01), or drop it to use the TX port's MAC";
        match self.src_mac {
            Some(m) if m[0] & 1 == 1 => Err(ConfigError::invalid(
                "src-mac",
                format_mac(&m),
                "a multicast or broadcast (group) address cannot be a frame's source",
                FIX,
            )),
            Some(m) if m == [0; 6] => Err(ConfigError::invalid(
                "src-mac",
                format_mac(&m),
                "the all-zero address is no station's, so no frame's source",
                FIX,
            )),
            _ => Ok(()),
        }
    }

    /// UDP port 0 (flag `key`) is reserved: no datagram is addressed to it.
    fn check_udp_port(key: &'static str, port: u16) -> Result<(), ConfigError> {
        if port != 0 {
            return Ok(());
        }
        Err(ConfigError::invalid(
            key,
            port,
            "port 0 is reserved, no UDP datagram is addressed to it",
            format!("give --{key} from 1 to 65535"),
        ))
    }

    /// The destinations of --dst-subnets are hosts of each subnet: in a /31
    /// or /32 every address, so neither may hold 0.0.0.0 or
    /// 255.255.255.255 (in longer prefixes hosts skip the network and
    /// broadcast addresses, which those two always are).
    fn check_dst_subnets(&self) -> Result<(), ConfigError> {
        for net in &self.dst_subnets {
            let bad = [Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST]
                .into_iter()
                .find(|ip| net.size() <= 2 && net.contains(*ip));
            if let Some(ip) = bad {
                return Err(ConfigError::invalid(
                    "dst-subnets",
                    net,
                    format!(
                        "pktgen sends to every address of a /{}, and {ip} is {}, not a \
                         host's address",
                        net.prefix_len(),
                        no_host_kind(ip)
                    ),
                    "give --dst-subnets of /30 or shorter there (their hosts skip the network \
                     and broadcast addresses), or other subnets",
                ));
            }
        }
        Ok(())
    }

    /// The flags only the other --mode uses would be silently ignored: a
    /// flag given explicitly for the wrong mode is refused.
    fn check_mode_flags(&self) -> Result<(), ConfigError> {
        let (mode, other, stray) = match self.mode {
            Mode::Inner => (
                "inner",
                "vxlan",
                vec![
                    ("vteps", self.vteps.map(|v| v.to_string())),
                    ("vtep-base", self.vtep_base.map(|v| v.to_string())),
                    ("gw-ip", self.gw_ip.map(|v| v.to_string())),
                    ("gw-vtep-mac", self.gw_vtep_mac.map(|m| format_mac(&m))),
                    ("vni", self.vni.map(|v| v.to_string())),
                    ("vxlan-port", self.vxlan_port.map(|v| v.to_string())),
                ],
            ),
            Mode::Vxlan => (
                "vxlan",
                "inner",
                vec![
                    (
                        "dst-subnets",
                        (!self.dst_subnets.is_empty()).then(|| {
                            self.dst_subnets
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(",")
                        }),
                    ),
                    ("leases", self.leases.map(|v| v.to_string())),
                ],
            ),
        };
        if let Some((key, Some(v))) = stray.into_iter().find(|(_, v)| v.is_some()) {
            return Err(ConfigError::invalid(
                key,
                v,
                format!("only --mode {other} frames use it, --mode {mode} would ignore it"),
                format!("drop --{key}, or give --mode {other}"),
            ));
        }
        Ok(())
    }

    /// --network must hold at least one lease subnet (the second /30 of a
    /// /29 at least), --subnet-len must lie between the two.
    fn check_network(&self) -> Result<(), ConfigError> {
        let plen = self.network.prefix_len();
        if plen >= 30 {
            return Err(ConfigError::invalid(
                "network",
                self.network,
                format!(
                    "a /{plen} is too small for lease subnets (--subnet-len is at most 30 and \
                     lease 0 is the network's second subnet)"
                ),
                "give a --network of /29 or shorter (default 10.244.0.0/16)",
            ));
        }
        if self.subnet_len <= plen || self.subnet_len > 30 {
            return Err(ConfigError::invalid(
                "subnet-len",
                self.subnet_len,
                format!(
                    "lease subnets of --network {} must be longer than /{plen} and at most /30",
                    self.network
                ),
                format!("give --subnet-len from {} to 30", plen + 1),
            ));
        }
        Ok(())
    }

    /// `n` leases (flag `key`) must fit in --network at --subnet-len.
    fn check_lease_count(&self, key: &'static str, n: u32) -> Result<(), ConfigError> {
        let max = self.max_leases();
        if n == 0 || u64::from(n) > max {
            let alt = match key {
                "leases" => " (or give --dst-subnets)",
                _ => "",
            };
            return Err(ConfigError::invalid(
                key,
                n,
                format!(
                    "lease i is subnet i + 1 of --network {} at --subnet-len {}: {max} fit",
                    self.network, self.subnet_len
                ),
                format!(
                    "give --{key} from 1 to {max}, a shorter --network prefix or a longer --subnet-len{alt}"
                ),
            ));
        }
        Ok(())
    }

    /// --write-pcap only writes a file: the flags that send, receive or
    /// start EAL would be silently ignored with it, so they are refused.
    fn check_write_pcap(&self) -> Result<(), ConfigError> {
        let Some(path) = &self.write_pcap else {
            return Ok(());
        };
        const IGNORED: &str = "--write-pcap writes frames to a file and sends nothing";
        let stray = [
            ("tx-port", self.tx_port.clone()),
            ("rx-port", self.rx_port.clone()),
            ("rx-mtu", self.rx_mtu.map(|m| m.to_string())),
            ("rate-pps", self.rate_pps.map(num)),
            ("duration", self.duration.map(num)),
            ("drain-ms", self.drain_ms.map(|v| v.to_string())),
            ("mbufs", self.mbufs.map(|v| v.to_string())),
            ("warmup-ms", self.warmup_ms.map(|v| v.to_string())),
            ("min-rate-pps", self.min_rate_pps.map(num)),
            ("line-rate-mbps", self.line_rate_mbps.map(num)),
            ("json", self.json.then(|| "true".to_owned())),
        ];
        if let Some((key, Some(v))) = stray.into_iter().find(|(_, v)| v.is_some()) {
            return Err(ConfigError::invalid(
                key,
                v,
                format!("{IGNORED}: --{key} would be ignored"),
                format!("drop --{key}, or drop --write-pcap to send"),
            ));
        }
        if !self.eal.is_empty() {
            return Err(ConfigError::invalid(
                "write-pcap",
                path.display(),
                format!(
                    "{IGNORED} without starting EAL: the EAL arguments after -- would be ignored"
                ),
                "drop the EAL arguments, or drop --write-pcap to send",
            ));
        }
        Ok(())
    }

    /// The RFC 2544 flags: only with --rfc2544, which picks rates and trial
    /// lengths itself; --min-rate-pps not above line rate.
    fn check_rfc2544(&self) -> Result<(), ConfigError> {
        if !self.rfc2544 {
            // --trial, --resolution, --loss-tolerance: clap's `requires`.
            const FIXED: &str = " (--rate-pps sets a fixed rate)";
            // With --write-pcap (which refuses --rfc2544 and --rate-pps),
            // refused in check_write_pcap as flags it ignores.
            let sending = |v: Option<f64>| v.filter(|_| self.write_pcap.is_none());
            let stray = [
                ("min-rate-pps", sending(self.min_rate_pps), FIXED),
                ("line-rate-mbps", sending(self.line_rate_mbps), FIXED),
                (
                    "warmup-ms",
                    sending(self.warmup_ms.map(|w| w as f64)),
                    " (a run at a fixed rate has no warm-up)",
                ),
            ];
            if let Some((key, Some(v), hint)) = stray.into_iter().find(|(_, v, _)| v.is_some()) {
                return Err(ConfigError::invalid(
                    key,
                    num(v),
                    "only the RFC 2544 search uses it",
                    format!("add --rfc2544, or drop --{key}{hint}"),
                ));
            }
            return Ok(());
        }
        if let Some(p) = &self.write_pcap {
            return Err(ConfigError::invalid(
                "write-pcap",
                p.display(),
                "--write-pcap writes frames without sending, --rfc2544 sends",
                "drop one of --write-pcap and --rfc2544",
            ));
        }
        let fixed = [
            ("rate-pps", self.rate_pps.map(num)),
            ("duration", self.duration.map(num)),
            ("count", self.count.map(|c| c.to_string())),
        ];
        if let Some((key, Some(v))) = fixed.into_iter().find(|(_, v)| v.is_some()) {
            return Err(ConfigError::invalid(
                key,
                v,
                "--rfc2544 sets the rate and the length of each trial itself",
                format!(
                    "drop --{key} (--trial sets the trial length, --min-rate-pps and \
                     --line-rate-mbps the rates searched), or drop --rfc2544"
                ),
            ));
        }
        if let (Some(min), Some(mbps)) = (self.min_rate_pps, self.line_rate_mbps) {
            self.check_min_rate(min, mbps, "--line-rate-mbps")?;
        }
        Ok(())
    }

    /// --min-rate-pps may not exceed the line rate of `mbps` (from `what`).
    pub fn check_min_rate(&self, min: f64, mbps: f64, what: &str) -> Result<(), ConfigError> {
        let line = self.line_rate_pps(mbps);
        if min > line {
            return Err(ConfigError::invalid(
                "min-rate-pps",
                num(min),
                format!(
                    "above the line rate the search starts at, {} packets/s ({} Mb/s from \
                     {what} at {} B frames)",
                    num(line.floor()),
                    num(mbps),
                    self.frame_size()
                ),
                format!(
                    "give --min-rate-pps from {} to {}",
                    num(MIN_RATE_PPS),
                    num(line.floor().max(MIN_RATE_PPS))
                ),
            ));
        }
        Ok(())
    }

    /// The lease subnets `0..n` of --network that the flows use, or an
    /// error naming the limit (checked here, where the list is built, before
    /// anything is allocated). Flow `f` uses lease `f % n`, so only the
    /// first min(n, --flows) are built: the frames are the same, and an
    /// allowed n of 2^30 does not allocate gigabytes.
    fn leases_of(&self, n: u32, key: &'static str) -> Result<Vec<Ipv4Net>, PktgenError> {
        self.check_lease_count(key, n)?;
        let built = n.min(self.flows);
        let mut nets = Vec::new();
        // Up to 2^20 with --write-pcap: an error, not an abort, if they
        // do not fit.
        nets.try_reserve_exact(built as usize)
            .map_err(|_| flows::NoMemory {
                what: format!("{built} lease subnets"),
                bytes: built as u128 * std::mem::size_of::<Ipv4Net>() as u128,
            })?;
        for i in 0..u64::from(built) {
            nets.push(
                lease_subnet(self.network, self.subnet_len, i).ok_or_else(|| {
                    ConfigError::invalid(key, n, "lease subnet out of range", "check --network")
                })?,
            );
        }
        Ok(nets)
    }

    /// The validated frame plan, with MAC defaults from the ports.
    pub fn plan(&self, default_src: Mac, default_dst: Mac) -> Result<FlowPlan, PktgenError> {
        self.validate()?;
        let dst_nets = match self.mode {
            Mode::Inner if !self.dst_subnets.is_empty() => self.dst_subnets.clone(),
            Mode::Inner => self.leases_of(self.leases(), "leases")?,
            Mode::Vxlan => Vec::new(),
        };
        let vtep_nets = match self.mode {
            Mode::Vxlan => self.leases_of(self.vteps(), "vteps")?,
            Mode::Inner => Vec::new(),
        };
        Ok(FlowPlan {
            mode: self.mode,
            frame_len: self.frame_size() as usize - 4,
            flows: self.flows,
            src_mac: self.src_mac.unwrap_or(default_src),
            dst_mac: self.dst_mac.unwrap_or(default_dst),
            dst_nets,
            host_ip: self.host_ip,
            hosts: self.hosts,
            udp_port: self.udp_port,
            vteps: self.vteps(),
            vtep_base: self.vtep_base(),
            vtep_nets,
            gw_ip: self.gw_ip(),
            gw_vtep_mac: self.gw_vtep_mac(),
            vni: self.vni(),
            vxlan_port: self.vxlan_port(),
            // A live run draws its own (`measure`).
            run_id: payload::PCAP_RUN_ID,
        })
    }
}

/// `--tx-port` missing for a run that sends (not `--write-pcap`).
pub(super) fn no_tx_port() -> ConfigError {
    ConfigError::invalid(
        "tx-port",
        "(not given)",
        "pktgen needs a port to send on",
        "give --tx-port DEV (a DPDK device name or port id), or --write-pcap FILE to write \
         frames without starting EAL",
    )
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use clap::Parser;

    /// `PktgenArgs` on a command line of its own, as `vxgate pktgen` has it.
    #[derive(Parser)]
    pub(crate) struct Cli {
        #[command(flatten)]
        a: PktgenArgs,
    }

    /// The flags `args` parsed as `vxgate pktgen` would (not validated).
    pub(crate) fn parse(args: &[&str]) -> Result<PktgenArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("pktgen").chain(args.iter().copied())).map(|c| c.a)
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::{parse, Cli};
    use super::*;
    use crate::dpdk::PortConf;

    #[test]
    fn defaults_give_64_byte_inner_frames_to_16_leases() {
        let a = parse(&["--tx-port", "net_ring0"]).unwrap();
        let p = a.plan([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).unwrap();
        assert_eq!(p.frame_len, 60);
        assert_eq!(p.dst_nets.len(), 16);
        assert_eq!(p.dst_nets[15].to_string(), "10.244.16.0/24");
    }

    #[test]
    fn vxlan_default_size_fits_the_stamp() {
        let a = parse(&["--mode", "vxlan", "--vteps", "4"]).unwrap();
        assert_eq!(a.frame_size(), 114);
        let p = a.plan([2; 6], [4; 6]).unwrap();
        assert_eq!(p.vtep_nets[3].to_string(), "10.244.4.0/24");
    }

    #[test]
    fn eal_arguments_follow_the_double_dash() {
        let a = parse(&["--tx-port", "0", "--", "-l", "0-2", "--no-pci"]).unwrap();
        assert_eq!(a.eal, ["-l", "0-2", "--no-pci"]);
    }

    /// The validation error of `args` (which clap accepts).
    fn refused(args: &[&str]) -> ConfigError {
        let a = parse(args).unwrap_or_else(|e| panic!("{args:?}: clap refused: {e}"));
        match a.validate() {
            Ok(()) => panic!("{args:?} accepted"),
            Err(e) => e,
        }
    }

    /// `args` are refused for `key`, with a message naming `--key` (the
    /// fix) and containing `needle`; exit code 2.
    fn refused_for(args: &[&str], key: &str, needle: &str) {
        let e = refused(args);
        let msg = e.to_string();
        assert_eq!(e.key(), Some(key), "{args:?}: {msg}");
        assert!(
            msg.starts_with(&format!("invalid {key} ")),
            "{args:?}: {msg}"
        );
        assert!(msg.contains(&format!("--{key}")), "{args:?}: {msg}");
        assert!(msg.contains(needle), "{args:?}: {msg} lacks {needle:?}");
        assert_eq!(e.exit_code(), 2);
    }

    fn accepted(args: &[&str]) {
        let a = parse(args).unwrap_or_else(|e| panic!("{args:?}: clap refused: {e}"));
        if let Err(e) = a.validate() {
            panic!("{args:?} refused: {e}");
        }
    }

    #[test]
    fn jumbo_sizes_set_the_port_mtu() {
        let mtu = |size: &str| parse(&["--size", size]).unwrap().port_mtu();
        assert_eq!(mtu("64"), None);
        assert_eq!(mtu("1518"), None, "standard Ethernet's largest");
        assert_eq!(mtu("1519"), Some(1501));
        assert_eq!(mtu("9018"), Some(9000));
        assert_eq!(mtu("9618"), Some(9600));
        accepted(&["--size", "9618"]);
        // The RX port follows the TX port unless told otherwise.
        let a = parse(&["--size", "9018"]).unwrap();
        assert_eq!(a.rx_port_mtu(), Some(9000));
        let a = parse(&["--size", "8968", "--rx-mtu", "9000"]).unwrap();
        assert_eq!((a.port_mtu(), a.rx_port_mtu()), (Some(8950), Some(9000)));
        let a = parse(&["--size", "1518", "--rx-mtu", "1550"]).unwrap();
        assert_eq!((a.port_mtu(), a.rx_port_mtu()), (None, Some(1550)));
        accepted(&["--rx-mtu", "9600"]);
    }

    /// Fewer leases built than asked for (at most one per flow) give the
    /// same frames as all of them.
    #[test]
    fn leases_beyond_the_flows_change_no_frame() {
        for (mode, key, n) in [("inner", "--leases", "200"), ("vxlan", "--vteps", "200")] {
            let a = parse(&["--mode", mode, key, n, "--flows", "50"]).unwrap();
            let short = a.plan([2; 6], [4; 6]).unwrap();
            let mut full = short.clone();
            let all = a.leases_of(200, "leases").unwrap();
            assert_eq!(all.len(), 50, "built for the 50 flows only");
            let all: Vec<_> = (0..200)
                .map(|i| lease_subnet(a.network, a.subnet_len, i).unwrap())
                .collect();
            match a.mode {
                Mode::Inner => full.dst_nets = all,
                Mode::Vxlan => full.vtep_nets = all,
            }
            for f in 0..50 {
                assert_eq!(short.addrs(f), full.addrs(f), "{mode} flow {f}");
            }
        }
    }

    #[test]
    fn a_port_doing_both_never_gets_an_mtu_below_the_tx_frames() {
        let shared = |args: &[&str]| parse(args).unwrap().shared_port_mtu();
        // 1514-byte frames on a port asked for RX MTU 576: left as it is,
        // not 576 (None sorted below Some(576) once).
        assert_eq!(shared(&["--size", "1518", "--rx-mtu", "576"]), None);
        assert_eq!(shared(&["--size", "9018", "--rx-mtu", "1500"]), Some(9000));
        // The larger of the two otherwise.
        assert_eq!(shared(&["--size", "9018", "--rx-mtu", "9050"]), Some(9050));
        assert_eq!(shared(&["--size", "1518", "--rx-mtu", "1550"]), Some(1550));
        assert_eq!(shared(&["--size", "1518", "--rx-mtu", "1500"]), Some(1500));
        assert_eq!(shared(&["--size", "64", "--rx-mtu", "576"]), Some(576));
        assert_eq!(shared(&["--size", "9018"]), Some(9000));
        assert_eq!(shared(&[]), None);
        for size in [64u32, 1518, 1519, 4000, 9618] {
            for rx in ["576", "1500", "1550", "9000", "9600"] {
                let mtu = shared(&["--size", &size.to_string(), "--rx-mtu", rx]);
                if let Some(m) = mtu {
                    assert!(u32::from(m) + FRAME_OVERHEAD >= size, "{size} {rx}: {m}");
                } else {
                    assert!(size <= MAX_STANDARD_SIZE, "{size} {rx}: left as it is");
                }
            }
        }
    }

    #[test]
    fn a_group_source_mac_is_refused() {
        for mac in [
            "ff:ff:ff:ff:ff:ff",
            "01:00:5e:00:00:01",
            "33:33:00:00:00:01",
        ] {
            refused_for(&["--src-mac", mac], "src-mac", "give a unicast --src-mac");
            refused_for(
                &[
                    "--src-mac",
                    mac,
                    "--write-pcap",
                    "x.pcap",
                    "--dst-mac",
                    "02:00:00:00:00:02",
                ],
                "src-mac",
                mac,
            );
        }
        accepted(&["--src-mac", "02:00:00:00:00:01"]);
        accepted(&["--src-mac", "3c:fd:fe:00:00:01"]);
        // A broadcast destination is a test setup, not a mistake.
        accepted(&["--dst-mac", "ff:ff:ff:ff:ff:ff"]);
    }

    #[test]
    fn a_rate_for_a_duration_may_not_outrun_48_bit_sequence_numbers() {
        refused_for(
            &["--rate-pps", "1e10", "--duration", "315360000"],
            "duration",
            "give --duration of at most 28147 s at this rate",
        );
        refused_for(
            &["--rate-pps", "1e10", "--duration", "28148"],
            "duration",
            "2^48",
        );
        accepted(&["--rate-pps", "1e10", "--duration", "28147"]);
        // A --count bounds the run; neither alone says how many are sent.
        accepted(&[
            "--rate-pps",
            "1e10",
            "--duration",
            "315360000",
            "--count",
            "1000",
        ]);
        accepted(&["--duration", "315360000"]);
        accepted(&["--rate-pps", "1e10"]);
    }

    #[test]
    fn rfc2544_only_flags_say_so_in_their_help() {
        use clap::CommandFactory;
        let cmd = Cli::command();
        for id in ["min_rate_pps", "line_rate_mbps"] {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_id() == id)
                .unwrap_or_else(|| panic!("no {id}"));
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            assert!(help.contains("Only with --rfc2544"), "{id}: {help}");
        }
    }

    #[test]
    fn bad_flags_name_the_flag() {
        for (args, key) in [
            (&["--size", "63"][..], "size"),
            (&["--mode", "vxlan", "--size", "100"][..], "size"),
            (&["--size", "9619"][..], "size"),
            (&["--rx-mtu", "575"][..], "rx-mtu"),
            (&["--rx-mtu", "70000"][..], "rx-mtu"),
            (&["--flows", "70000"][..], "flows"),
            (&["--mode", "vxlan", "--vteps", "300"][..], "vteps"),
            (&["--leases", "256"][..], "leases"),
            (&["--leases", "0"][..], "leases"),
            (
                &["--mode", "vxlan", "--gw-ip", "172.28.147.50"][..],
                "gw-ip",
            ),
            (&["--rate-pps", "0"][..], "rate-pps"),
            (&["--rfc2544", "--resolution", "0"][..], "resolution"),
            (
                &["--rfc2544", "--loss-tolerance", "101"][..],
                "loss-tolerance",
            ),
            (&["--mode", "vxlan", "--vni", "16777216"][..], "vni"),
        ] {
            let a = parse(args).unwrap();
            let e = a.plan([2; 6], [4; 6]).unwrap_err();
            assert_eq!(e.flag(), Some(key), "{args:?}: {e}");
            assert!(e.to_string().contains(&format!("--{key}")), "{args:?}: {e}");
        }
        assert!(parse(&["--dst-mac", "nope"]).is_err());
        assert!(parse(&["--dst-subnets", "10.1.0.0/16,bad"]).is_err());
    }

    #[test]
    fn lease_counts_are_checked_before_any_allocation() {
        let args = [
            "--leases",
            "4294967295",
            "--network",
            "0.0.0.0/0",
            "--subnet-len",
            "30",
        ];
        refused_for(&args, "leases", "1073741823 fit");
        let a = parse(&args).unwrap();
        let e = a.leases_of(u32::MAX, "leases").unwrap_err();
        assert_eq!(e.flag(), Some("leases"));
        let e = a.plan([2; 6], [4; 6]).unwrap_err();
        assert_eq!(e.flag(), Some("leases"));
        // The most that fit is accepted, and only the leases the flows use
        // are built (flow f uses lease f % n).
        let most = [
            "--leases",
            "1073741823",
            "--network",
            "0.0.0.0/0",
            "--subnet-len",
            "30",
            "--flows",
            "8",
        ];
        accepted(&most);
        let p = parse(&most).unwrap().plan([2; 6], [4; 6]).unwrap();
        assert_eq!(p.dst_nets.len(), 8);
        let a = parse(&["--mode", "vxlan", "--vteps", "200", "--flows", "3"]).unwrap();
        let p = a.plan([2; 6], [4; 6]).unwrap();
        assert_eq!(
            (p.vtep_nets.len(), p.vteps),
            (3, 200),
            "VTEP f % 200 of 3 flows"
        );
        refused_for(&["--mode", "vxlan", "--vteps", "256"], "vteps", "255 fit");
        // --dst-subnets replaces the leases, but a --leases given with it is
        // still range-checked.
        refused_for(
            &["--dst-subnets", "10.1.0.0/16", "--leases", "4294967295"],
            "leases",
            "255 fit",
        );
        refused_for(
            &["--dst-subnets", "10.1.0.0/16", "--leases", "0"],
            "leases",
            "from 1 to 255",
        );
        accepted(&["--dst-subnets", "10.1.0.0/16", "--leases", "255"]);
        accepted(&["--dst-subnets", "10.1.0.0/16"]);
    }

    #[test]
    fn addresses_on_the_wire_are_hosts_and_ports_are_not_zero() {
        for ip in ["0.0.0.0", "255.255.255.255"] {
            refused_for(&["--host-ip", ip], "host-ip", "not a host's address");
            for key in ["gw-ip", "vtep-base"] {
                let f = format!("--{key}");
                refused_for(&["--mode", "vxlan", &f, ip], key, "neither 0.0.0.0 nor");
            }
        }
        // Up to the last address below the broadcast address.
        accepted(&["--host-ip", "255.255.255.254"]);
        accepted(&["--host-ip", "255.255.255.250", "--hosts", "5"]);
        refused_for(
            &["--host-ip", "255.255.255.250", "--hosts", "6"],
            "hosts",
            "give --hosts from 1 to 5",
        );
        accepted(&["--host-ip", "0.0.0.1", "--hosts", "4294967294"]);
        let vx = |base: &str, n: &str| {
            ["--mode", "vxlan", "--network", "0.0.0.0/0"]
                .into_iter()
                .chain(["--subnet-len", "30", "--vtep-base", base, "--vteps", n])
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let a = vx("255.255.255.239", "16");
        accepted(&a.iter().map(String::as_str).collect::<Vec<_>>());
        let a = vx("255.255.255.240", "16");
        refused_for(
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
            "vteps",
            "reach 255.255.255.255",
        );
        // /31 and /32 destinations away from the two are fine, as are
        // longer prefixes holding them (hosts skip network and broadcast).
        for net in [
            "10.1.0.0/31",
            "10.1.0.7/32",
            "0.0.0.0/30",
            "255.255.255.252/30",
        ] {
            accepted(&["--dst-subnets", net]);
        }
        for net in ["0.0.0.1/31", "255.255.255.255/32"] {
            refused_for(
                &["--dst-subnets", net],
                "dst-subnets",
                "not a host's address",
            );
        }
        // Port 0 only.
        refused_for(&["--udp-port", "0"], "udp-port", "from 1 to 65535");
        refused_for(
            &["--mode", "vxlan", "--vxlan-port", "0"],
            "vxlan-port",
            "from 1 to 65535",
        );
        accepted(&["--udp-port", "65535"]);
        accepted(&["--mode", "vxlan", "--vxlan-port", "1"]);
        // The all-zero source MAC, beside the group addresses.
        refused_for(
            &["--src-mac", "00:00:00:00:00:00"],
            "src-mac",
            "all-zero address",
        );
        accepted(&["--src-mac", "00:00:00:00:00:01"]);
    }

    #[test]
    fn numeric_flags_have_documented_ranges() {
        for (args, key, needle) in [
            (
                &["--duration", "1e10"][..],
                "duration",
                "above the maximum, 315360000 s",
            ),
            (
                &["--duration", "0"][..],
                "duration",
                "below the minimum, 0.001 s",
            ),
            (
                &["--duration", "inf"][..],
                "duration",
                "from 0.001 to 315360000",
            ),
            (&["--duration", "NaN"][..], "duration", "not a number"),
            (
                &["--rate-pps", "1e-320"][..],
                "rate-pps",
                "below the minimum, 1 packets/s",
            ),
            (&["--rate-pps", "0.5"][..], "rate-pps", "from 1 to 1e10"),
            (
                &["--rate-pps", "2e10"][..],
                "rate-pps",
                "above the maximum, 1e10",
            ),
            (&["--rate-pps=-5"][..], "rate-pps", "below"),
            (
                &["--rfc2544", "--line-rate-mbps", "1e-300"][..],
                "line-rate-mbps",
                "from 1 to 1000000",
            ),
            (
                &["--rfc2544", "--line-rate-mbps", "1000001"][..],
                "line-rate-mbps",
                "above the maximum, 1000000 Mb/s",
            ),
            (
                &["--drain-ms", "18446744073709551615"][..],
                "drain-ms",
                "from 0 to 60000",
            ),
            (
                &["--drain-ms", "60001"][..],
                "drain-ms",
                "above the maximum, 60000 ms",
            ),
            (&["--count", "0"][..], "count", "from 1 to 281474976710656"),
            (&["--count", "281474976710657"][..], "count", "48 bits"),
            (&["--rfc2544", "--trial", "1e10"][..], "trial", "315360000"),
            (&["--rfc2544", "--trial", "0"][..], "trial", "0.001"),
            (
                &["--rfc2544", "--min-rate-pps", "0.5"][..],
                "min-rate-pps",
                "from 1 to 1e10",
            ),
        ] {
            refused_for(args, key, needle);
        }
        for args in [
            &["--duration", "315360000"][..],
            &["--duration", "0.001"][..],
            &["--rate-pps", "1"][..],
            &["--rate-pps", "1e10"][..],
            &["--drain-ms", "0"][..],
            &["--drain-ms", "60000"][..],
            &["--count", "281474976710656"][..],
            &["--rfc2544", "--line-rate-mbps", "1"][..],
            &[
                "--rfc2544",
                "--line-rate-mbps",
                "1000000",
                "--trial",
                "0.001",
            ][..],
        ] {
            accepted(args);
        }
    }

    #[test]
    fn mbufs_must_cover_the_rings_and_fit_a_pool() {
        assert_eq!((MIN_MBUFS, MAX_MBUFS), (4288, 16_777_216));
        // MIN_MBUFS counts the rings pktgen opens with PortConf::default().
        let conf = PortConf::default();
        assert_eq!(u32::from(conf.rx_desc), RING_DESC);
        assert_eq!(u32::from(conf.tx_desc), RING_DESC);
        assert_eq!((conf.rx_queues, conf.tx_queues), (1, 1));
        for v in ["0", "383", "4287", "16777217", "2147483648", "4294967295"] {
            refused_for(&["--mbufs", v], "mbufs", "from 4288 to 16777216");
        }
        accepted(&["--mbufs", "4288"]);
        accepted(&["--mbufs", "16777216"]);
    }

    #[test]
    fn rfc2544_flags_may_not_contradict() {
        // min above the highest rate there is, above line rate, or of a
        // search that was not asked for.
        refused_for(
            &["--rfc2544", "--min-rate-pps", "1e300"],
            "min-rate-pps",
            "above the maximum, 1e10",
        );
        refused_for(
            &[
                "--rfc2544",
                "--line-rate-mbps",
                "10000",
                "--min-rate-pps",
                "2e7",
            ],
            "min-rate-pps",
            "above the line rate the search starts at, 14880952 packets/s",
        );
        accepted(&[
            "--rfc2544",
            "--line-rate-mbps",
            "10000",
            "--min-rate-pps",
            "14880952",
        ]);
        let a = parse(&["--rfc2544", "--min-rate-pps", "2e7"]).unwrap();
        a.validate().unwrap();
        let e = a
            .check_min_rate(2e7, 10_000.0, "port x's link speed")
            .unwrap_err();
        assert!(e.to_string().contains("from port x's link speed"), "{e}");
        refused_for(&["--min-rate-pps", "1000"], "min-rate-pps", "add --rfc2544");
        refused_for(
            &["--line-rate-mbps", "1000"],
            "line-rate-mbps",
            "add --rfc2544",
        );
        // Fixed-rate flags that the search would ignore.
        for (flag, v) in [("rate-pps", "1000"), ("duration", "5"), ("count", "100")] {
            refused_for(&["--rfc2544", &format!("--{flag}"), v], flag, "--trial");
        }
        refused_for(
            &[
                "--rfc2544",
                "--write-pcap",
                "x.pcap",
                "--dst-mac",
                "02:00:00:00:00:02",
            ],
            "write-pcap",
            "drop one of --write-pcap and --rfc2544",
        );
        // --trial, --resolution and --loss-tolerance need --rfc2544 (clap);
        // their defaults do not.
        for (flag, v) in [
            ("--trial", "5"),
            ("--resolution", "0.5"),
            ("--loss-tolerance", "1"),
        ] {
            let e = parse(&[flag, v])
                .err()
                .unwrap_or_else(|| panic!("{flag} alone accepted"));
            assert!(e.to_string().contains("--rfc2544"), "{e}");
            assert_eq!(e.exit_code(), 2);
            accepted(&["--rfc2544", flag, v]);
        }
        accepted(&[]);
    }

    #[test]
    fn flags_of_the_other_mode_are_refused_not_ignored() {
        for (flag, v) in [
            ("vteps", "8"),
            ("vtep-base", "172.28.147.100"),
            ("gw-ip", "172.28.147.40"),
            ("gw-vtep-mac", "0e:aa:bb:cc:dd:ee"),
            ("vni", "1"),
            ("vxlan-port", "4789"),
        ] {
            let f = format!("--{flag}");
            // Even the default value, given explicitly, would be ignored.
            refused_for(&[&f, v], flag, "give --mode vxlan");
            refused_for(
                &["--mode", "inner", &f, v],
                flag,
                "--mode inner would ignore it",
            );
            accepted(&["--mode", "vxlan", &f, v]);
        }
        for (flag, v) in [("dst-subnets", "10.1.0.0/16,10.2.0.0/16"), ("leases", "4")] {
            let f = format!("--{flag}");
            refused_for(&["--mode", "vxlan", &f, v], flag, "give --mode inner");
            accepted(&[&f, v]);
        }
        let e = refused(&[
            "--mode",
            "vxlan",
            "--dst-subnets",
            "10.1.0.0/16,10.2.0.0/16",
        ]);
        assert!(e.to_string().contains("`10.1.0.0/16,10.2.0.0/16`"), "{e}");
        // Flags both modes use stay accepted in both.
        for mode in ["inner", "vxlan"] {
            accepted(&[
                "--mode",
                mode,
                "--hosts",
                "4",
                "--host-ip",
                "10.244.255.20",
                "--udp-port",
                "9",
                "--network",
                "10.0.0.0/8",
                "--subnet-len",
                "16",
                "--flows",
                "8",
            ]);
        }
        // Defaults apply when the flags are not given.
        let a = parse(&["--mode", "vxlan"]).unwrap();
        let p = a.plan([2; 6], [4; 6]).unwrap();
        assert_eq!((p.vteps, p.vni, p.vxlan_port), (16, 1, 8472));
        assert_eq!((p.vtep_base, p.gw_ip), (DEFAULT_VTEP_BASE, DEFAULT_GW_IP));
        // The VtepMAC `vxgate run` takes without --vtep-mac, so default
        // VXLAN frames pass its inner destination MAC check.
        assert_eq!(p.gw_vtep_mac, [0x0e, 0x01, 172, 28, 147, 40]);
        let a = parse(&["--mode", "vxlan", "--gw-ip", "192.0.2.7", "--vni", "42"]).unwrap();
        let p = a.plan([2; 6], [4; 6]).unwrap();
        assert_eq!(p.gw_vtep_mac, crate::config::default_vtep_mac(p.gw_ip, 42));
        assert_eq!((a.mbufs(), a.drain_ms()), (16383, 500));
    }

    /// A replay pcap may hold more flows than pktgen sends: up to 2^20,
    /// a frame to each of a million leases (`tests/pktgen_pcap.rs` reads
    /// one back).
    #[test]
    fn replay_pcaps_may_hold_a_million_flows() {
        let with = |flows| {
            [
                "--write-pcap",
                "x.pcap",
                "--dst-mac",
                "02:00:00:00:00:02",
                "--network",
                "10.0.0.0/8",
                "--subnet-len",
                "28",
                "--host-ip",
                "10.255.255.242",
                "--flows",
                flows,
            ]
        };
        accepted(&with("1048576"));
        refused_for(&with("1048577"), "flows", "1048576");
        refused_for(&["--flows", "65537"], "flows", "16 bits");
    }

    #[test]
    fn write_pcap_refuses_drain_mbufs_and_the_rfc2544_rates() {
        for (flag, v) in [("drain-ms", "100"), ("mbufs", "8192")] {
            let f = format!("--{flag}");
            refused_for(
                &[
                    "--write-pcap",
                    "x.pcap",
                    "--dst-mac",
                    "02:00:00:00:00:02",
                    &f,
                    v,
                ],
                flag,
                "sends nothing",
            );
            accepted(&[&f, v]);
        }
        // The RFC 2544 rates: said not to apply, not "add --rfc2544" (which
        // --write-pcap refuses).
        for (flag, v) in [("line-rate-mbps", "1000"), ("min-rate-pps", "5")] {
            let f = format!("--{flag}");
            let e = refused(&[
                "--write-pcap",
                "x.pcap",
                "--dst-mac",
                "02:00:00:00:00:02",
                &f,
                v,
            ]);
            let msg = e.to_string();
            assert!(
                !msg.contains("add --rfc2544") && !msg.contains("--rate-pps"),
                "{msg}"
            );
            refused_for(
                &[
                    "--write-pcap",
                    "x.pcap",
                    "--dst-mac",
                    "02:00:00:00:00:02",
                    &f,
                    v,
                ],
                flag,
                "sends nothing",
            );
            accepted(&["--rfc2544", &f, v]);
        }
    }

    #[test]
    fn the_warm_up_is_an_rfc2544_flag_with_a_range() {
        assert_eq!(parse(&["--rfc2544"]).unwrap().warmup_ms(), 500);
        assert_eq!(parse(&[]).unwrap().warmup_ms(), 0, "no search, no warm-up");
        let a = parse(&["--rfc2544", "--warmup-ms", "0"]).unwrap();
        assert_eq!(a.warmup_ms(), 0);
        for v in ["0", "60000"] {
            accepted(&["--rfc2544", "--warmup-ms", v]);
        }
        for v in ["60001", "18446744073709551615"] {
            refused_for(
                &["--rfc2544", "--warmup-ms", v],
                "warmup-ms",
                "give --warmup-ms from 0 to 60000",
            );
        }
        refused_for(
            &["--warmup-ms", "100"],
            "warmup-ms",
            "add --rfc2544, or drop --warmup-ms (a run at a fixed rate has no warm-up)",
        );
        // --write-pcap sends nothing: refused as a flag it would ignore
        // (not with advice to add --rfc2544, which --write-pcap refuses).
        refused_for(
            &[
                "--write-pcap",
                "x.pcap",
                "--dst-mac",
                "02:00:00:00:00:02",
                "--warmup-ms",
                "100",
            ],
            "warmup-ms",
            "sends nothing",
        );
    }

    #[test]
    fn a_network_too_small_for_leases_is_blamed_on_network() {
        for net in ["255.255.255.255/32", "10.0.0.0/31", "10.0.0.0/30"] {
            refused_for(&["--network", net], "network", "/29 or shorter");
        }
        refused_for(
            &["--network", "10.0.0.0/24", "--subnet-len", "24"],
            "subnet-len",
            "from 25 to 30",
        );
        refused_for(&["--subnet-len", "31"], "subnet-len", "from 17 to 30");
        // A /29 holds one /30 lease (the second).
        accepted(&[
            "--network",
            "10.0.0.0/29",
            "--subnet-len",
            "30",
            "--leases",
            "1",
        ]);
        refused_for(
            &[
                "--network",
                "10.0.0.0/29",
                "--subnet-len",
                "30",
                "--leases",
                "2",
            ],
            "leases",
            "1 fit",
        );
    }
}
