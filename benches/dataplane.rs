//! The real data plane on DPDK devices: one `Worker` on lcore 1 reads a
//! pcap in a loop (`net_pcap`, `infinite_rx=1`) and sends into `net_null`.
//! Encap reads inner frames on the access port, decap VXLAN frames on the
//! underlay port. Prints Mpps and TSC cycles per packet measured over the
//! run after a warm-up, the verdict counters, and one `RESULT {json}` line.
//!
//! Settings (environment; `bench/dataplane.sh` writes matching pcaps):
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `VXB_MODE` | `encap`, `decap`, `encap_write` or `decap_write` (a write pass alone, see below) | `encap` |
//! | `VXB_PCAP` | input pcap (pktgen `--write-pcap`) | required |
//! | `VXB_LEASES` | leases in the tables (lease `i` as in docs/pktgen.md) | `10000` |
//! | `VXB_SECS` | measured seconds (after 1 s of warm-up) | `4` |
//! | `VXB_CHURN` | lease changes per second during the run | `0` |
//! | `VXB_TRAFFIC_LEASES` | leases (encap) or VTEPs (decap) the pcap's traffic uses, the first ones: half the churn rewrites theirs, of the first 1 000 at most (see `churn`) | `VXB_LEASES` |
//! | `VXB_HOSTS` | bare-metal hosts (static access neighbours) | `4` |
//! | `VXB_MBUFS` | mempool size (each pcap port holds its pcap in mbufs) | `4 * frames + 16384` |
//! | `VXB_DATA_ROOM` | bytes per mbuf, 128 of them headroom (a small room lets a pcap of a million frames fit in hugepages) | DPDK's default, 2176 |
//! | `VXB_PREFIX` | EAL `--file-prefix` | `vxb<pid>` |
//! | `VXB_WORKERS` | workers, each with its own pcap and null port (1 or 2) | `1` |
//! | `VXB_LCORES` | EAL lcore list (`-l`, or `--lcores` when it has `@`) | `0-1` |
//! | `VXB_PREFETCH` | `1`: prefetch every burst's headers as on a DMA device (`RxQueue::wants_prefetch`), `0`: never | the port's default (off: software devices) |
//!
//! `encap_write` and `decap_write` run no `Worker`: their lcore loop
//! receives a burst, rewrites every frame with the fast path's own write
//! pass alone (`vxgate::pipeline::encap_write_only`: the outer headers of
//! lease 0, no header check, no lookup, no flow hash;
//! `decap_write_only`: outer headers stripped, the frame addressed to
//! host 0, no check, no lookup) and sends it. That is the least any VXLAN
//! encap or decap adds to the I/O floor: the yardstick for what the
//! checks and lookups cost.
//!
//! Network layout (must match the pcaps): flannel Network 10.0.0.0/8 with
//! SubnetLen 28 (room for 1 000 000 leases), the gateway's own subnet
//! 10.255.255.240/28, access IP .241, hosts from .242; underlay
//! 172.28.147.40/24 with gateway 172.28.147.1 (one static neighbour for
//! every VTEP); VTEP `i` = 100.64.0.0 + i with VtepMAC 0e:56:54:i.
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vxgate::dpdk::{self, rdtsc, Burst, Eal, Mempool, Port, PortConf};
use vxgate::pipeline::context::{Context, ContextConfig, Prefix};
use vxgate::pipeline::tables::TableLookup;
use vxgate::pipeline::worker::{PuntQueue, Queues, Worker, WorkerStats};
use vxgate::pipeline::{
    decap_write_only, encap_write_only, CounterSnapshot, Counters, DropReason, Lease, SlowKind,
    WorkerState,
};
use vxgate::pktgen::flows;
use vxgate::table::{LeaseTables, NeighborPort, NeighborTables};
use vxgate::wire::{MacAddr, Vni};

const NETWORK: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 0);
const SUBNET_LEN: u8 = 28;
const OWN_SUBNET: Ipv4Addr = Ipv4Addr::new(10, 255, 255, 240);
const ACCESS_IP: Ipv4Addr = Ipv4Addr::new(10, 255, 255, 241);
const FIRST_HOST: Ipv4Addr = Ipv4Addr::new(10, 255, 255, 242);
const UNDERLAY_IP: Ipv4Addr = Ipv4Addr::new(172, 28, 147, 40);
const UNDERLAY_GW: Ipv4Addr = Ipv4Addr::new(172, 28, 147, 1);
const VTEP_BASE: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 0);
const ACCESS_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xaa];
const UNDERLAY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xbb];
const VTEP_MAC: [u8; 6] = [0x0e, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];
const GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const WARMUP: Duration = Duration::from_secs(1);

fn env<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| format!("{name}={v:?} is not a valid value")),
        Err(_) => Ok(default),
    }
}

/// Subnet address of lease `i`: pktgen's derivation (docs/pktgen.md), so
/// the tables hold exactly the leases the pcaps it writes talk to.
fn lease_subnet(i: u32) -> u32 {
    let net = flows::Ipv4Net::new(NETWORK, 8).expect("Network /8");
    flows::lease_subnet(net, SUBNET_LEN, u64::from(i))
        .map(|n| u32::from(n.network()))
        .expect("VXB_LEASES is bounded to the subnets of Network")
}

fn vtep_ip(i: u32) -> u32 {
    u32::from(flows::vtep_ip(VTEP_BASE, i))
}

fn vtep_mac(i: u32) -> [u8; 6] {
    flows::vtep_mac(i)
}

/// The MAC of bare-metal host `j` (a static access neighbour).
fn host_mac(j: u32) -> [u8; 6] {
    [0x02, 0x00, 0x00, 0x01, (j >> 8) as u8, j as u8]
}

/// Frames in a pcap file (classic format, either byte order).
fn pcap_frames(path: &str) -> Result<u64, String> {
    let b = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let le = match b.get(..4) {
        Some([0xd4, 0xc3, 0xb2, 0xa1]) | Some([0x4d, 0x3c, 0xb2, 0xa1]) => true,
        Some([0xa1, 0xb2, 0xc3, 0xd4]) | Some([0xa1, 0xb2, 0x3c, 0x4d]) => false,
        _ => return Err(format!("{path}: not a pcap file")),
    };
    let (mut off, mut n) = (24usize, 0u64);
    while let Some(h) = b.get(off + 8..off + 12) {
        let w = [h[0], h[1], h[2], h[3]];
        let caplen = if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        };
        off += 16 + caplen as usize;
        n += 1;
    }
    Ok(n)
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Encap,
    Decap,
    EncapWrite,
    DecapWrite,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Encap => "encap",
            Mode::Decap => "decap",
            Mode::EncapWrite => "encap_write",
            Mode::DecapWrite => "decap_write",
        }
    }
}

struct Settings {
    mode: Mode,
    /// Frames come in on the access port (encap and encap_write).
    encap: bool,
    pcap: String,
    leases: u32,
    secs: f64,
    churn: u32,
    hosts: u32,
    mbufs: u32,
    data_room: u16,
    /// Leases (encap) or VTEPs (decap) the pcap's traffic uses: the first
    /// ones; where the churn rewrites what the workers read.
    traffic_leases: u32,
    prefix: String,
    frames: u64,
    workers: usize,
    lcores: String,
    prefetch: Option<bool>,
}

fn settings() -> Result<Settings, String> {
    let mode: String = env("VXB_MODE", "encap".to_string())?;
    let mode = match mode.as_str() {
        "encap" => Mode::Encap,
        "decap" => Mode::Decap,
        "encap_write" => Mode::EncapWrite,
        "decap_write" => Mode::DecapWrite,
        m => {
            return Err(format!(
                "VXB_MODE={m}: use encap, decap, encap_write or decap_write"
            ))
        }
    };
    let pcap: String = env("VXB_PCAP", String::new())?;
    if pcap.is_empty() {
        return Err("set VXB_PCAP to a pcap written by `vxgate pktgen --write-pcap`".into());
    }
    let frames = pcap_frames(&pcap)?;
    let leases = env("VXB_LEASES", 10_000u32)?;
    if leases == 0 || leases > 1_048_000 {
        return Err(format!(
            "VXB_LEASES={leases}: between 1 and 1048000 (Network /8, SubnetLen 28)"
        ));
    }
    Ok(Settings {
        mode,
        encap: matches!(mode, Mode::Encap | Mode::EncapWrite),
        pcap,
        leases,
        secs: env("VXB_SECS", 4.0f64)?,
        churn: env("VXB_CHURN", 0u32)?,
        hosts: env("VXB_HOSTS", 4u32)?,
        mbufs: env("VXB_MBUFS", (4 * frames + 16384) as u32)?,
        traffic_leases: env("VXB_TRAFFIC_LEASES", leases)?,
        data_room: match env("VXB_DATA_ROOM", dpdk::DEFAULT_DATA_ROOM)? {
            // The headroom and an encapsulated 64-byte frame at least.
            r @ 256.. => r,
            r => return Err(format!("VXB_DATA_ROOM={r}: at least 256")),
        },
        prefix: env("VXB_PREFIX", format!("vxb{}", std::process::id()))?,
        frames,
        workers: match env("VXB_WORKERS", 1usize)? {
            w @ 1..=2 => w,
            w => return Err(format!("VXB_WORKERS={w}: 1 or 2")),
        },
        lcores: env("VXB_LCORES", "0-1".to_string())?,
        prefetch: match env("VXB_PREFETCH", String::new())?.as_str() {
            "" => None,
            "0" => Some(false),
            "1" => Some(true),
            p => return Err(format!("VXB_PREFETCH={p}: 0 or 1")),
        },
    })
}

fn context() -> Result<Context, String> {
    let p = |a, l| Prefix::new(a, l).ok_or("prefix length");
    Context::new(ContextConfig {
        underlay_ip: UNDERLAY_IP,
        underlay_mac: MacAddr(UNDERLAY_MAC),
        underlay_prefix: p(UNDERLAY_IP, 24)?,
        underlay_gateway: Some(UNDERLAY_GW),
        access_ip: ACCESS_IP,
        access_mac: MacAddr(ACCESS_MAC),
        subnet: p(OWN_SUBNET, SUBNET_LEN)?,
        network: p(NETWORK, 8)?,
        subnet_len: SUBNET_LEN,
        vni: Vni::new(1).ok_or("vni")?,
        udp_port: 8472,
        tunnel_mtu: 1450,
        underlay_mtu: 1500,
        access_mtu: 1500,
        vtep_mac: MacAddr(VTEP_MAC),
        direct_routing: false,
    })
    .map_err(|e| e.to_string())
}

/// Applies `per_sec` lease changes a second until `until`, spread evenly
/// over time, half of them where the workers read: encap re-points a lease
/// the traffic uses (`k < span`) between VTEP `k` and VTEP `k + leases`
/// (both behind the underlay gateway); decap gives the traffic's VTEP `k`
/// a second lease with another VtepMAC and takes it away again (its own
/// MAC stays valid, its slot is rewritten). The other half insert and
/// remove leases past the traffic's. No packet loses its way: the run must
/// still drop nothing. Returns how many changes were made.
fn churn(
    tables: &mut LeaseTables,
    leases: u32,
    span: u32,
    per_sec: u32,
    until: Instant,
    encap: bool,
) -> u64 {
    let start = Instant::now();
    let (mut done, mut next) = (0u64, 0u32);
    const POOL: u32 = 1000;
    // The first POOL at most: decap's second leases have a subnet each.
    let span = span.clamp(1, leases.min(POOL));
    // Encap: lease k points at VTEP k + leases; decap: VTEP k has its
    // second lease (subnet `leases + POOL + k`).
    let mut moved = vec![false; span as usize];
    while Instant::now() < until {
        let due = (start.elapsed().as_secs_f64() * f64::from(per_sec)) as u64;
        while done < due {
            // Each half walks its own sequence (one counter for both would
            // give each half only every other key).
            let n = next / 2;
            if next % 2 == 0 {
                let i = leases + n % POOL;
                if tables.lease(lease_subnet(i)).is_some() {
                    tables.remove_lease(lease_subnet(i));
                } else {
                    tables.upsert_lease(lease_subnet(i), vtep_ip(i), vtep_mac(i));
                }
            } else {
                // Scattered over the traffic's leases.
                let k = n.wrapping_mul(7919) % span;
                let m = &mut moved[k as usize];
                if encap {
                    let v = if *m { k } else { k + leases };
                    tables.upsert_lease(lease_subnet(k), vtep_ip(v), vtep_mac(v));
                } else if *m {
                    tables.remove_lease(lease_subnet(leases + POOL + k));
                } else {
                    let second = lease_subnet(leases + POOL + k);
                    tables.upsert_lease(second, vtep_ip(k), vtep_mac(k + leases));
                }
                *m = !*m;
            }
            next = next.wrapping_add(1);
            done += 1;
            if done % 1000 == 0 {
                tables.reclaim();
            }
        }
        vxgate::ops::pause(Duration::from_micros(200));
    }
    done
}

/// The lcore loop of `encap_write` (a burst in on the access port, every
/// frame rewritten to lease 0 through the gateway by encap's write pass
/// alone, the burst out on the underlay port) and `decap_write` (the
/// other way, every frame to host 0); counted as the worker's loop counts
/// (packets received, frames rewritten, unsent frames dropped).
fn write_loop(mut w: Worker, stop: &AtomicBool, encap: bool) {
    let lease = Lease {
        public_ip: Ipv4Addr::from(vtep_ip(0)),
        vtep_mac: MacAddr(vtep_mac(0)),
    };
    let gateway = MacAddr(GW_MAC);
    let host = MacAddr(host_mac(0));
    let (mut ident, mut packets, mut busy, mut idle) = (0u16, 0u64, 0u64, 0u64);
    while !stop.load(Relaxed) {
        let mut burst = Burst::new();
        let (rx, tx) = if encap {
            (&mut w.access.rx, &mut w.underlay.tx)
        } else {
            (&mut w.underlay.rx, &mut w.access.tx)
        };
        let n = rx.rx(&mut burst);
        if n == 0 {
            idle += 1;
        } else {
            busy += 1;
            packets += n as u64;
            let bufs = burst.as_mut_slice();
            if encap {
                let written = encap_write_only(&w.ctx, bufs, lease, gateway, &mut ident);
                w.state.counters.encaps(written as u64);
            } else {
                let written = decap_write_only(&w.ctx, bufs, host);
                w.state.counters.decaps(written as u64);
            }
            tx.tx(&mut burst);
            for _ in 0..burst.free_all() {
                w.state.counters.dropped(DropReason::TxFull);
            }
        }
        if (busy + idle) & 0x3ff == 0 {
            w.stats.packets.store(packets, Relaxed);
        }
    }
    w.stats.packets.store(packets, Relaxed);
    w.stats.busy_polls.store(busy, Relaxed);
    w.stats.idle_polls.store(idle, Relaxed);
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dataplane bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let s = settings()?;
    let ctx = context()?;
    let lcore_flag = if s.lcores.contains('@') {
        "--lcores"
    } else {
        "-l"
    };
    let mut eal_args = vec![lcore_flag.to_string(), s.lcores.clone(), "--no-pci".into()];
    for w in 0..s.workers {
        eal_args.push("--vdev".into());
        eal_args.push(format!("net_pcap{w},rx_pcap={},infinite_rx=1", s.pcap));
        eal_args.push("--vdev".into());
        eal_args.push(format!("net_null{w},no-rx=1"));
    }
    eal_args.extend([
        "--file-prefix".to_string(),
        s.prefix.clone(),
        "--log-level=lib.eal:warning".into(),
    ]);
    let eal = Eal::init(&eal_args).map_err(|e| e.to_string())?;
    let lcores = eal.worker_lcores();
    if lcores.len() < s.workers {
        return Err(format!(
            "EAL has {} worker lcores for {} workers: set VXB_LCORES",
            lcores.len(),
            s.workers
        ));
    }
    let tsc_hz = eal.tsc_hz();
    let pool = Arc::new(
        Mempool::new(&eal, "vxb_pool", s.mbufs, 256, s.data_room)
            .map_err(|e| format!("{e} (VXB_MBUFS={}, more hugepages?)", s.mbufs))?,
    );
    let conf = PortConf::default();
    // Worker w: its own pcap port (RX) and null port (TX), queue 0 of each.
    let mut ports = Vec::new();
    let mut queues = Vec::new();
    for w in 0..s.workers {
        let mut pcap =
            Port::open(&eal, &format!("net_pcap{w}"), &conf, &pool).map_err(|e| e.to_string())?;
        let mut null =
            Port::open(&eal, &format!("net_null{w}"), &conf, &pool).map_err(|e| e.to_string())?;
        let (mut pcap_rx, mut pcap_tx) = pcap.start().map_err(|e| e.to_string())?;
        let (mut null_rx, mut null_tx) = null.start().map_err(|e| e.to_string())?;
        if let Some(on) = s.prefetch {
            pcap_rx[0].set_prefetch(on);
        }
        let pcap_q = Queues {
            rx: pcap_rx.remove(0),
            tx: pcap_tx.remove(0),
        };
        let null_q = Queues {
            rx: null_rx.remove(0),
            tx: null_tx.remove(0),
        };
        queues.push(if s.encap {
            (pcap_q, null_q)
        } else {
            (null_q, pcap_q)
        });
        ports.push((pcap, null));
    }

    // Tables: N leases, the underlay gateway and the hosts as static neighbours.
    let t0 = Instant::now();
    let (mut leases, lease_readers) = LeaseTables::new(s.leases as usize + 2000);
    for i in 0..s.leases {
        leases.upsert_lease(lease_subnet(i), vtep_ip(i), vtep_mac(i));
    }
    let (mut neighbors, neighbor_readers) = NeighborTables::new(64);
    neighbors.set_static(NeighborPort::Underlay, u32::from(UNDERLAY_GW), GW_MAC);
    for j in 0..s.hosts {
        let mac = host_mac(j);
        neighbors.set_static(NeighborPort::Access, u32::from(FIRST_HOST) + j, mac);
    }
    let fill_s = t0.elapsed().as_secs_f64();

    let stop = Arc::new(AtomicBool::new(false));
    let mut all_counters = Vec::new();
    let mut all_stats = Vec::new();
    let mut handles = Vec::new();
    for (w, (access, underlay)) in queues.into_iter().enumerate() {
        let counters = Arc::new(Counters::new());
        let stats = Arc::new(WorkerStats::default());
        let worker = Worker {
            ctx: ctx.clone(),
            lookup: TableLookup {
                leases: lease_readers.clone(),
                neighbors: neighbor_readers.clone(),
            },
            state: WorkerState::new(Arc::clone(&counters), w as u16),
            underlay,
            access,
            punt: Arc::new(PuntQueue::new(1024)),
            outgoing: None,
            stats: Arc::clone(&stats),
            ns_per_tick: 1e9 / tsc_hz as f64,
        };
        let stop = Arc::clone(&stop);
        let write_only = matches!(s.mode, Mode::EncapWrite | Mode::DecapWrite);
        let encap = s.encap;
        handles.push(
            eal.launch(lcores[w], move || {
                if write_only {
                    write_loop(worker, &stop, encap);
                } else {
                    worker.run(&stop);
                }
                0
            })
            .map_err(|e| e.to_string())?,
        );
        all_counters.push(counters);
        all_stats.push(stats);
    }
    drop((lease_readers, neighbor_readers));
    let packets_now = || -> u64 { all_stats.iter().map(|st| st.packets.load(Relaxed)).sum() };

    // Warm up, then measure between two samples of the workers' packet counts.
    vxgate::ops::pause(WARMUP);
    let (p0, c0) = (packets_now(), rdtsc());
    let until = Instant::now() + Duration::from_secs_f64(s.secs);
    let changes = if s.churn > 0 {
        churn(
            &mut leases,
            s.leases,
            s.traffic_leases,
            s.churn,
            until,
            s.encap,
        )
    } else {
        vxgate::ops::pause(until.saturating_duration_since(Instant::now()));
        0
    };
    let (p1, c1) = (packets_now(), rdtsc());
    stop.store(true, Relaxed);
    for h in handles {
        let code = h.join();
        if code != 0 {
            return Err(format!("worker ended with code {code}"));
        }
    }

    let packets = p1.saturating_sub(p0);
    let secs = (c1 - c0) as f64 / tsc_hz as f64;
    let mpps = packets as f64 / secs / 1e6;
    // Cycles of one worker core per packet: all workers' cycles over all packets.
    let cpp = (c1 - c0) as f64 * s.workers as f64 / packets.max(1) as f64;
    let busy: u64 = all_stats.iter().map(|st| st.busy_polls.load(Relaxed)).sum();
    let idle: u64 = all_stats.iter().map(|st| st.idle_polls.load(Relaxed)).sum();
    let mut snap = CounterSnapshot::default();
    for c in &all_counters {
        snap.add(&c.snapshot());
    }
    let (mut rx_packets, mut tx_packets, mut rx_nombuf) = (0, 0, 0);
    for (pcap, null) in &ports {
        let (rxs, txs) = (
            dpdk::port_stats(pcap.id()).unwrap_or_default(),
            dpdk::port_stats(null.id()).unwrap_or_default(),
        );
        rx_packets += rxs.rx_packets;
        rx_nombuf += rxs.rx_nombuf;
        tx_packets += txs.tx_packets;
    }
    let total = packets_now();
    let good = if s.encap { snap.encap } else { snap.decap };
    let drops: Vec<String> = DropReason::ALL
        .iter()
        .filter(|r| snap.drop_count(**r) > 0)
        .map(|r| format!("{}={}", r.name(), snap.drop_count(*r)))
        .collect();
    let slow: u64 = SlowKind::ALL.iter().map(|k| snap.slowpath_count(*k)).sum();
    let mode = s.mode.name();
    println!(
        "{mode}: {} worker(s), leases {} churn {}/s ({changes} changes) pcap {} frames, tables filled in {fill_s:.2} s",
        s.workers, s.leases, s.churn, s.frames
    );
    println!(
        "  {mpps:.2} Mpps, {cpp:.1} cycles/packet over {secs:.2} s (TSC {:.3} GHz); polls busy {busy} idle {idle}",
        tsc_hz as f64 / 1e9
    );
    println!(
        "  worker rx {total}, {mode} {good}, slowpath {slow}, drops {}; port rx {} tx {} (rx_nombuf {})",
        if drops.is_empty() {
            "none".into()
        } else {
            drops.join(" ")
        },
        rx_packets, tx_packets, rx_nombuf
    );
    println!(
        "RESULT {{\"mode\":\"{mode}\",\"workers\":{},\"leases\":{},\"churn_per_s\":{},\"changes\":{changes},\"mpps\":{mpps:.3},\"cycles_per_packet\":{cpp:.1},\"tsc_hz\":{tsc_hz},\"packets\":{packets},\"drops\":{},\"frames\":{}}}",
        s.workers,
        s.leases,
        s.churn,
        snap.total_drops(),
        s.frames
    );

    drop(ports);
    drop(pool);
    drop(eal);
    // Most packets must have been forwarded, or the figure times drops.
    if total == 0 || good < total / 10 * 9 || snap.total_drops() > total / 10 {
        return Err(format!(
            "only {good} of {total} packets were sent on by {mode} (drops {}): the pcap does not match the tables",
            snap.total_drops()
        ));
    }
    Ok(())
}
