//! Traffic generator and measurement: `vxgate pktgen`.
//!
//! TX sends flows of inner (IPv4/UDP) or VXLAN frames built from per-flow
//! templates, paced by the TSC; RX finds the stamp each frame carries
//! (magic, flow, sequence, TSC) and measures loss, reordering and latency.
//! `--rfc2544` searches the zero-loss rate; `--write-pcap` writes benchmark
//! input files without starting EAL. See docs/pktgen.md.
#![deny(unsafe_code)]

pub mod engine;
pub mod flows;
pub mod headers;
pub mod meter;
pub mod payload;
pub mod pcap;
pub mod report;
pub mod rfc2544;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dpdk::{self, Eal, Mempool, Port, PortConf};
use engine::{Ctl, Engine, Layout, RxSide, TrialParams, TrialResult, TxGen};
use flows::{lease_subnet, vtep_ip, FlowPlan, Ipv4Net, Mode};
use headers::{parse_mac, Mac};
use meter::Meter;
use report::{Report, L1_OVERHEAD};

/// Largest frame (with FCS) that fits a default mbuf data room.
pub const MAX_SIZE: u32 = 2048;
/// Flow indices travel in 16 bits of the payload.
pub const MAX_FLOWS: u32 = 1 << 16;

#[derive(clap::Args, Clone, Debug)]
pub struct PktgenArgs {
    /// Frames to send: `inner` (IPv4/UDP from bare-metal hosts) or `vxlan`
    /// (VXLAN from flannel nodes' VTEPs to the gateway).
    #[arg(long, value_enum, default_value_t = Mode::Inner)]
    pub mode: Mode,
    /// Frame size in bytes including the 4-byte FCS (default: 64 for inner,
    /// 114, the smallest that holds the stamp, for vxlan).
    #[arg(long, value_name = "BYTES")]
    pub size: Option<u32>,
    /// Number of flows (distinct address/port tuples), at most 65536.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub flows: u32,
    /// inner: destination subnets (comma-separated CIDRs); flow f goes to
    /// subnet f % count. Default: the first --leases lease subnets.
    #[arg(long, value_delimiter = ',', value_name = "CIDR")]
    pub dst_subnets: Vec<Ipv4Net>,
    /// The flannel Network the lease subnets are carved from.
    #[arg(long, default_value = "10.244.0.0/16", value_name = "CIDR")]
    pub network: Ipv4Net,
    /// flannel SubnetLen.
    #[arg(long, default_value_t = 24, value_name = "LEN")]
    pub subnet_len: u8,
    /// inner: number of lease subnets to send to (lease i = subnet i+1 of
    /// --network), when --dst-subnets is not given.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub leases: u32,
    /// First bare-metal host behind the gateway (host j = this + j): the
    /// source of inner frames, the destination inside vxlan frames.
    #[arg(long, default_value = "10.244.255.10", value_name = "IP")]
    pub host_ip: Ipv4Addr,
    /// Number of bare-metal hosts.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub hosts: u32,
    /// Inner UDP destination port.
    #[arg(long, default_value_t = 5001, value_name = "PORT")]
    pub udp_port: u16,
    /// vxlan: number of sending VTEPs (VTEP i holds lease i).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub vteps: u32,
    /// vxlan: PublicIP of VTEP 0 (VTEP i = this + i).
    #[arg(long, default_value = "172.28.147.44", value_name = "IP")]
    pub vtep_base: Ipv4Addr,
    /// vxlan: the gateway's underlay IP (outer destination).
    #[arg(long, default_value = "172.28.147.40", value_name = "IP")]
    pub gw_ip: Ipv4Addr,
    /// vxlan: the gateway's VtepMAC (inner destination MAC).
    #[arg(long, value_parser = parse_mac, default_value = "0e:56:47:00:00:01", value_name = "MAC")]
    pub gw_vtep_mac: Mac,
    /// vxlan: VNI.
    #[arg(long, default_value_t = 1, value_name = "VNI")]
    pub vni: u32,
    /// vxlan: UDP destination port.
    #[arg(long, default_value_t = 8472, value_name = "PORT")]
    pub vxlan_port: u16,
    /// Destination MAC of the (outer) Ethernet header: the gateway's access
    /// (inner) or underlay (vxlan) port MAC. Default: the RX port's MAC.
    #[arg(long, value_parser = parse_mac, value_name = "MAC")]
    pub dst_mac: Option<Mac>,
    /// Source MAC of the (outer) Ethernet header. Default: the TX port's MAC
    /// (02:00:00:00:00:01 with --write-pcap).
    #[arg(long, value_parser = parse_mac, value_name = "MAC")]
    pub src_mac: Option<Mac>,
    /// Port to send on: DPDK device name or port id.
    #[arg(long, value_name = "DEV")]
    pub tx_port: Option<String>,
    /// Port to receive on (default: the TX port).
    #[arg(long, value_name = "DEV")]
    pub rx_port: Option<String>,
    /// Send rate in packets per second (default: as fast as possible).
    #[arg(long, value_name = "N")]
    pub rate_pps: Option<f64>,
    /// Stop sending after this many seconds.
    #[arg(long, value_name = "S")]
    pub duration: Option<f64>,
    /// Stop after this many packets (with --write-pcap: frames to write,
    /// default one per flow).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// After TX stops, wait this long for missing frames before counting
    /// them as lost.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub drain_ms: u64,
    /// RFC 2544 throughput: binary search of the highest rate with no loss.
    #[arg(long)]
    pub rfc2544: bool,
    /// RFC 2544 trial duration in seconds.
    #[arg(long, default_value_t = 2.0, value_name = "S")]
    pub trial: f64,
    /// RFC 2544 search resolution, percent of line rate.
    #[arg(long, default_value_t = 1.0, value_name = "PCT")]
    pub resolution: f64,
    /// RFC 2544 accepted loss, percent of frames sent.
    #[arg(long, default_value_t = 0.0, value_name = "PCT")]
    pub loss_tolerance: f64,
    /// RFC 2544 lowest rate searched (default: 1 % of line rate).
    #[arg(long, value_name = "N")]
    pub min_rate_pps: Option<f64>,
    /// Line rate in Mbit/s for RFC 2544 (default: the TX port's link speed).
    #[arg(long, value_name = "MBPS")]
    pub line_rate_mbps: Option<f64>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Packet buffers in the pool.
    #[arg(long, default_value_t = 16383, value_name = "N")]
    pub mbufs: u32,
    /// Write the frames to this pcap file and exit, without starting EAL.
    #[arg(long, value_name = "FILE")]
    pub write_pcap: Option<PathBuf>,
    /// EAL arguments, after `--`.
    #[arg(last = true, value_name = "EAL_ARGS")]
    pub eal: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PktgenError {
    #[error("--{flag}: {problem}")]
    Flag { flag: &'static str, problem: String },
    #[error("--tx-port is required to send (or give --write-pcap FILE to write frames)")]
    NoTxPort,
    #[error("--dst-mac is required with --write-pcap: give the gateway's access (inner) or underlay (vxlan) port MAC")]
    NoDstMac,
    #[error("port {port}: link speed unknown; give --line-rate-mbps for --rfc2544")]
    NoLineRate { port: String },
    #[error("writing {path}: {source}")]
    Pcap {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn flag(flag: &'static str, problem: impl Into<String>) -> PktgenError {
    PktgenError::Flag {
        flag,
        problem: problem.into(),
    }
}

impl PktgenArgs {
    /// Frame size with FCS, the mode's default when not given.
    pub fn frame_size(&self) -> u32 {
        self.size
            .unwrap_or_else(|| FlowPlan::min_frame_len(self.mode) as u32 + 4)
    }

    /// Checks the flags that do not need EAL.
    pub fn validate(&self) -> Result<(), PktgenError> {
        let size = self.frame_size();
        let min = FlowPlan::min_frame_len(self.mode) as u32 + 4;
        if size < min || size > MAX_SIZE {
            return Err(flag(
                "size",
                format!(
                    "{size} is outside {min}..={MAX_SIZE} for {:?} frames",
                    self.mode
                ),
            ));
        }
        if self.flows == 0 || self.flows > MAX_FLOWS {
            return Err(flag("flows", format!("must be 1..={MAX_FLOWS}")));
        }
        if self.hosts == 0
            || u32::from(self.host_ip)
                .checked_add(self.hosts - 1)
                .is_none()
        {
            return Err(flag("hosts", "must be at least 1 and fit after --host-ip"));
        }
        if self.subnet_len < self.network.prefix_len() || self.subnet_len > 30 {
            return Err(flag(
                "subnet-len",
                format!(
                    "must lie in {}..=30 for --network {}",
                    self.network.prefix_len(),
                    self.network
                ),
            ));
        }
        let positive = |name, v: Option<f64>| match v {
            Some(x) if !(x.is_finite() && x > 0.0) => Err(flag(name, "must be a positive number")),
            _ => Ok(()),
        };
        positive("rate-pps", self.rate_pps)?;
        positive("duration", self.duration)?;
        positive("trial", Some(self.trial))?;
        positive("min-rate-pps", self.min_rate_pps)?;
        positive("line-rate-mbps", self.line_rate_mbps)?;
        if !(self.resolution > 0.0 && self.resolution <= 100.0) {
            return Err(flag("resolution", "must be a percentage in (0, 100]"));
        }
        if !(0.0..=100.0).contains(&self.loss_tolerance) {
            return Err(flag("loss-tolerance", "must be a percentage in [0, 100]"));
        }
        if self.count == Some(0) {
            return Err(flag("count", "must be at least 1"));
        }
        match self.mode {
            Mode::Inner => {
                if self.dst_subnets.is_empty() && self.leases == 0 {
                    return Err(flag("leases", "must be at least 1 (or give --dst-subnets)"));
                }
            }
            Mode::Vxlan => {
                if self.vteps == 0 || self.vteps > 1 << 24 {
                    return Err(flag("vteps", "must be 1..=16777216"));
                }
                if self.vni > 0x00ff_ffff {
                    return Err(flag("vni", "must fit in 24 bits"));
                }
                let first = u32::from(self.vtep_base);
                if first.checked_add(self.vteps - 1).is_none() {
                    return Err(flag("vteps", "VTEP addresses run past 255.255.255.255"));
                }
                let gw = u32::from(self.gw_ip);
                if gw >= first && gw - first < self.vteps {
                    return Err(flag(
                        "gw-ip",
                        format!(
                            "{} is one of the VTEP addresses {}..{}: move --vtep-base",
                            self.gw_ip,
                            self.vtep_base,
                            vtep_ip(self.vtep_base, self.vteps - 1)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The lease subnets `0..n` of --network, or an error naming the limit.
    fn leases_of(&self, n: u32, what: &'static str) -> Result<Vec<Ipv4Net>, PktgenError> {
        (0..u64::from(n))
            .map(|i| {
                lease_subnet(self.network, self.subnet_len, i).ok_or_else(|| {
                    let max = (1u64 << (self.subnet_len - self.network.prefix_len())) - 1;
                    flag(
                        what,
                        format!(
                            "{n} leases do not fit in --network {} at --subnet-len {} (at most {max})",
                            self.network, self.subnet_len
                        ),
                    )
                })
            })
            .collect()
    }

    /// The validated frame plan, with MAC defaults from the ports.
    pub fn plan(&self, default_src: Mac, default_dst: Mac) -> Result<FlowPlan, PktgenError> {
        self.validate()?;
        let dst_nets = match self.mode {
            Mode::Inner if !self.dst_subnets.is_empty() => self.dst_subnets.clone(),
            Mode::Inner => self.leases_of(self.leases, "leases")?,
            Mode::Vxlan => Vec::new(),
        };
        let vtep_nets = match self.mode {
            Mode::Vxlan => self.leases_of(self.vteps, "vteps")?,
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
            vteps: self.vteps,
            vtep_base: self.vtep_base,
            vtep_nets,
            gw_ip: self.gw_ip,
            gw_vtep_mac: self.gw_vtep_mac,
            vni: self.vni,
            vxlan_port: self.vxlan_port,
        })
    }
}

/// `vxgate pktgen`: writes a pcap, or starts EAL, measures and prints.
pub fn run(args: PktgenArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.write_pcap {
        let n = write_pcap(&args)?;
        eprintln!(
            "vxgate pktgen: wrote {n} {:?} frames of {} B to {}",
            args.mode,
            args.frame_size(),
            path.display()
        );
        return Ok(());
    }
    args.validate()?;
    if args.tx_port.is_none() {
        return Err(PktgenError::NoTxPort.into());
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping exits at once.
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))?;
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let eal = Eal::init(&args.eal)?;
    let report = measure(&eal, &args, stop)?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    drop(eal);
    Ok(())
}

/// Writes the pcap of `args` (no EAL); returns the number of frames.
pub fn write_pcap(args: &PktgenArgs) -> Result<u64, PktgenError> {
    let Some(path) = &args.write_pcap else {
        return Err(flag("write-pcap", "no file given"));
    };
    let dst = args.dst_mac.ok_or(PktgenError::NoDstMac)?;
    let plan = args.plan([0x02, 0, 0, 0, 0, 0x01], dst)?;
    let n = args.count.unwrap_or(u64::from(args.flows));
    pcap::write_pcap(path, &plan, n).map_err(|source| PktgenError::Pcap {
        path: path.clone(),
        source,
    })?;
    Ok(n)
}

/// Waits up to `limit` for a port's link to come up (virtual devices and
/// TAPs take a moment after start).
fn wait_link(port: &Port, limit: Duration) {
    let t = Instant::now();
    while !port.link().up && t.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Opens the ports, runs the trial (or the RFC 2544 search) and reports.
/// EAL must be running; `stop` ends the run early.
pub fn measure(eal: &Eal, args: &PktgenArgs, stop: Arc<AtomicBool>) -> anyhow::Result<Report> {
    args.validate()?;
    let tx_name = args.tx_port.clone().ok_or(PktgenError::NoTxPort)?;
    let rx_name = args.rx_port.clone().unwrap_or_else(|| tx_name.clone());
    let pool = Arc::new(Mempool::new(
        "pktgen_pool",
        args.mbufs,
        256,
        dpdk::DEFAULT_DATA_ROOM,
    )?);
    let conf = PortConf::default();
    let (mut tx_port, _tx_rxq, mut txqs) = Port::open(&tx_name, &conf, &pool)?;
    let same = dpdk::find_port(&rx_name)? == tx_port.id();
    let (mut rx_port, mut rxqs) = if same {
        (None, _tx_rxq)
    } else {
        let (p, rxq, _txq) = Port::open(&rx_name, &conf, &pool)?;
        (Some(p), rxq)
    };
    tx_port.start()?;
    if let Some(p) = rx_port.as_mut() {
        p.start()?;
    }
    wait_link(&tx_port, Duration::from_secs(2));
    if let Some(p) = rx_port.as_ref() {
        wait_link(p, Duration::from_secs(2));
    }
    let rx_mac = rx_port.as_ref().map_or(tx_port.mac(), Port::mac);
    let plan = args.plan(tx_port.mac(), rx_mac)?;
    let hz = eal.tsc_hz();
    let (Some(txq), Some(rxq)) = (txqs.pop(), rxqs.pop()) else {
        anyhow::bail!("port set up without queues");
    };
    let tx = TxGen::new(txq, Arc::clone(&pool), plan.templates(), hz);
    let rx = RxSide::new(rxq, Meter::new(plan.flows, hz)?, hz);
    let layout = Layout::from_workers(&eal.worker_lcores());
    let ctl = Arc::new(Ctl::new(Arc::clone(&stop)));
    let mut engine = Engine::new(tx, rx, layout, ctl);
    let size = args.frame_size();
    let drain_s = args.drain_ms as f64 / 1000.0;

    let (best, rfc) = if args.rfc2544 {
        let mbps = match args.line_rate_mbps {
            Some(m) => m,
            None => match tx_port.link().speed_mbps {
                0 | u32::MAX => {
                    return Err(PktgenError::NoLineRate {
                        port: tx_port.name().into(),
                    }
                    .into())
                }
                s => f64::from(s),
            },
        };
        let line = mbps * 1e6 / f64::from((size + L1_OVERHEAD) * 8);
        let conf = rfc2544::SearchConf {
            line_rate_pps: line,
            min_rate_pps: args.min_rate_pps.unwrap_or(line / 100.0),
            resolution_pct: args.resolution,
            loss_tolerance_pct: args.loss_tolerance,
        };
        let mut results: Vec<TrialResult> = Vec::new();
        let mut failure: Option<engine::EngineError> = None;
        let r = rfc2544::search(
            conf,
            |rate| {
                let p = TrialParams {
                    rate_pps: Some(rate),
                    duration_s: Some(args.trial),
                    count: None,
                    drain_s,
                };
                match engine.trial(p) {
                    Ok(t) => {
                        results.push(t);
                        (t.tx.sent, t.rx.rx, tx_pps(&t, hz))
                    }
                    Err(e) => {
                        failure = Some(e);
                        (0, 0, 0.0)
                    }
                }
            },
            || stop.load(std::sync::atomic::Ordering::Relaxed),
        );
        if let Some(e) = failure {
            return Err(e.into());
        }
        let best = r
            .best_trial
            .and_then(|i| results.get(i))
            .or(results.last())
            .copied();
        (best, Some(r))
    } else {
        let p = TrialParams {
            rate_pps: args.rate_pps,
            duration_s: args.duration,
            count: args.count,
            drain_s,
        };
        (Some(engine.trial(p)?), None)
    };
    let lcores = engine.layout().describe();
    drop(engine);
    tx_port.stop();
    if let Some(p) = rx_port.as_mut() {
        p.stop();
    }
    let report = build_report(args, &plan, best, rfc, hz, &tx_name, &rx_name, lcores);
    drop(rx_port);
    drop(tx_port);
    drop(pool);
    Ok(report)
}

fn tx_pps(t: &TrialResult, hz: u64) -> f64 {
    let secs = secs(t, hz);
    if secs > 0.0 {
        t.tx.sent as f64 / secs
    } else {
        0.0
    }
}

fn secs(t: &TrialResult, hz: u64) -> f64 {
    t.tx.last_tsc.saturating_sub(t.tx.first_tsc) as f64 / hz.max(1) as f64
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    args: &PktgenArgs,
    plan: &FlowPlan,
    t: Option<TrialResult>,
    rfc2544: Option<rfc2544::SearchResult>,
    hz: u64,
    tx_port: &str,
    rx_port: &str,
    lcores: String,
) -> Report {
    let t = t.unwrap_or(TrialResult {
        tx: Default::default(),
        rx: Default::default(),
        latency: Default::default(),
        latency_samples: 0,
    });
    let size = args.frame_size();
    let d = secs(&t, hz);
    let per_s = |n: u64| if d > 0.0 { n as f64 / d } else { 0.0 };
    let loss = t.tx.sent.saturating_sub(t.rx.rx);
    Report {
        mode: plan.mode,
        size,
        flows: plan.flows,
        tx_port: tx_port.into(),
        rx_port: rx_port.into(),
        lcores,
        tx_packets: t.tx.sent,
        rx_packets: t.rx.rx,
        loss,
        loss_pct: if t.tx.sent > 0 {
            loss as f64 * 100.0 / t.tx.sent as f64
        } else {
            0.0
        },
        reordered: t.rx.reordered,
        reordered_global: t.rx.reordered_global,
        late: t.rx.late,
        rx_other: t.rx.other,
        duration_s: d,
        tx_mpps: per_s(t.tx.sent) / 1e6,
        rx_mpps: per_s(t.rx.rx) / 1e6,
        tx_gbps: per_s(t.tx.sent) * f64::from((size + L1_OVERHEAD) * 8) / 1e9,
        latency_samples: t.latency_samples,
        latency_ns: t.latency,
        tsc_hz: hz,
        rfc2544,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: PktgenArgs,
    }

    fn parse(args: &[&str]) -> Result<PktgenArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("pktgen").chain(args.iter().copied())).map(|c| c.a)
    }

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

    #[test]
    fn bad_flags_name_the_flag() {
        for (args, flag) in [
            (&["--size", "63"][..], "--size"),
            (&["--mode", "vxlan", "--size", "100"][..], "--size"),
            (&["--flows", "70000"][..], "--flows"),
            (&["--mode", "vxlan", "--vteps", "300"][..], "--vteps"),
            (&["--leases", "256"][..], "--leases"),
            (
                &["--mode", "vxlan", "--gw-ip", "172.28.147.50"][..],
                "--gw-ip",
            ),
            (&["--rate-pps", "0"][..], "--rate-pps"),
            (&["--resolution", "0"][..], "--resolution"),
        ] {
            let a = parse(args).unwrap();
            let e = a.plan([2; 6], [4; 6]).unwrap_err().to_string();
            assert!(e.starts_with(flag), "{args:?}: {e}");
        }
        assert!(parse(&["--dst-mac", "nope"]).is_err());
        assert!(parse(&["--dst-subnets", "10.1.0.0/16,bad"]).is_err());
    }

    #[test]
    fn pcap_needs_a_destination_mac() {
        let a = parse(&["--write-pcap", "/nonexistent/x.pcap"]).unwrap();
        assert!(matches!(write_pcap(&a), Err(PktgenError::NoDstMac)));
    }
}
