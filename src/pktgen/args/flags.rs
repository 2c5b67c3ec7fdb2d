//! [`PktgenArgs`], the clap struct of `vxgate pktgen`: its doc comments are the `--help` text.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::pktgen::flows::{Ipv4Net, Mode};
use crate::pktgen::headers::{parse_mac, Mac};

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
