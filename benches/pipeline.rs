//! Per-packet cost of the pure pipeline (no DPDK) on bursts of 32
//! `VecBuf`s with the real lock-free tables (`TableLookup`) holding 10,
//! 10 000 and 1 000 000 leases, the traffic spread over them (65 536
//! frames, one flow each, at 10 and 10 000 leases; 1 048 576 at a million,
//! so every lease is looked up): header parse
//! alone, the table lookup alone (`leases_masked` on a burst's keys),
//! classify+encap and classify+decap. The buffer refill every burst needs
//! is measured in the same run as the baseline. Prints ns/packet, the cost
//! over the refill, and the 1 M / 10 cost ratio of each, then encap with
//! every VTEP on the underlay's link against encap through one gateway;
//! criterion then times encap and decap at 10 000 leases.
//!
//! Layout: SPEC's gateway (`testing::config`) with Network 10.0.0.0/8 and
//! SubnetLen 28 (room for a million leases), own subnet 10.244.255.0/28;
//! lease `i` is subnet `i + 1` of Network, held by VTEP 100.64.0.0 + `i`
//! (off the underlay prefix: reached through the underlay gateway).
//!
//! With `VXP_COUNT=encap|decap` it instead runs that path over all frames
//! at 10 000 leases `VXP_ROUNDS` times (default 20), every burst through
//! `counted_burst`, for `bench/profile.sh` to count instructions under
//! callgrind (a count is exact where times on this machine are not);
//! `VXP_ONLINK` set puts every VTEP on the underlay's link (a neighbour
//! lookup per next hop instead of one gateway).

use criterion::{black_box, criterion_group, Criterion, Throughput};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use vxgate::pipeline::context::{Context, Prefix};
use vxgate::pipeline::tables::TableLookup;
use vxgate::pipeline::testing::{self, Ip};
use vxgate::pipeline::{
    buf::DEFAULT_HEADROOM, process_burst, Lease, Lookup, PacketBuf, Side, VecBuf, Verdict,
    WorkerState, BURST,
};
use vxgate::pktgen::flows;
use vxgate::table::{LeaseTables, NeighborPort, NeighborTables};
use vxgate::wire::{ethernet, ipv4, udp, vxlan, MacAddr};

const SUBNET_LEN: u8 = 28;
/// Frames (and flows) of a case, at least: a case of more leases gets
/// the next power of two above their number, one flow to each.
const FRAMES: usize = 65_536;
const SIZES: [u32; 3] = [10, 10_000, 1_000_000];

/// Lease `i`'s subnet and VTEP: pktgen's derivations (docs/pktgen.md).
fn lease_subnet(i: u32) -> u32 {
    let net = flows::Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 0), 8).expect("Network /8");
    flows::lease_subnet(net, SUBNET_LEN, u64::from(i))
        .map(|n| u32::from(n.network()))
        .expect("at most a million leases: inside Network")
}

fn vtep_ip(i: u32) -> Ipv4Addr {
    flows::vtep_ip(VTEP_BASE, i)
}

fn vtep_mac(i: u32) -> MacAddr {
    MacAddr(flows::vtep_mac(i))
}

/// VTEP `i` is this address + `i`; with `VXP_ONLINK` (count mode) the
/// underlay's /16 holds them all.
const VTEP_BASE: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 0);

fn context(on_link: bool) -> Context {
    let mut c = testing::config();
    c.network = Prefix::new(Ipv4Addr::new(10, 0, 0, 0), 8).expect("prefix");
    c.subnet = Prefix::new(Ipv4Addr::new(10, 244, 255, 0), SUBNET_LEN).expect("prefix");
    c.subnet_len = SUBNET_LEN;
    c.underlay_gateway = Some(testing::UNDERLAY_GW);
    if on_link {
        // Each VTEP is its own next hop: a neighbour per lease.
        c.underlay_ip = Ipv4Addr::new(100, 64, 255, 254);
        c.underlay_prefix = Prefix::new(VTEP_BASE, 16).expect("prefix");
        c.underlay_gateway = None;
    }
    Context::new(c).expect("valid bench context")
}

/// Tables of `n` leases, the underlay gateway (or, `on_link`, every VTEP)
/// and the host resolved.
fn tables(n: u32, on_link: bool) -> TableLookup {
    let (mut leases, lease_readers) = LeaseTables::new(n as usize + 1000);
    for i in 0..n {
        leases.upsert_lease(lease_subnet(i), u32::from(vtep_ip(i)), vtep_mac(i).0);
    }
    let (mut neighbors, neighbor_readers) = NeighborTables::new(n as usize + 64);
    let gw = u32::from(testing::UNDERLAY_GW);
    neighbors.set_static(NeighborPort::Underlay, gw, testing::UNDERLAY_GW_MAC.0);
    for i in (0..n).filter(|_| on_link) {
        let mac = [0x52, 0x54, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        neighbors.set_static(NeighborPort::Underlay, u32::from(vtep_ip(i)), mac);
    }
    let host = u32::from(testing::HOST_IP);
    neighbors.set_static(NeighborPort::Access, host, testing::HOST_MAC.0);
    // The writers may go: readers keep the published tables alive.
    drop((leases, neighbors));
    TableLookup {
        leases: lease_readers,
        neighbors: neighbor_readers,
    }
}

/// The lease frame `k` talks to: spread over all `n` leases.
fn lease_of(k: usize, n: u32) -> u32 {
    ((k as u64).wrapping_mul(2_654_435_761) % u64::from(n)) as u32
}

/// How many frames a case of `n` leases sends: enough to reach every
/// lease (`lease_of` is one-to-one on the first `n` frames for the
/// sizes here, all coprime with its multiplier).
fn frames_for(n: u32) -> usize {
    (n as usize).next_power_of_two().max(FRAMES)
}

/// 60-byte UDP frames from the host to a pod of lease `lease_of(k)`.
fn encap_frames(n: u32) -> Vec<Vec<u8>> {
    (0..frames_for(n))
        .map(|k| {
            let dst = Ipv4Addr::from(lease_subnet(lease_of(k, n)) + 2);
            let ip = Ip::new(testing::HOST_IP, dst);
            let sport = 1024 + (k as u16 & 0x7fff);
            let l4 = testing::udp_datagram(ip.src, dst, sport, 80, &testing::pattern(18));
            testing::ipv4_frame(testing::ACCESS_MAC, testing::HOST_MAC, ip, &l4)
        })
        .collect()
}

/// VXLAN frames (UDP checksum 0, as flannel.1 sends) from VTEP
/// `lease_of(k)` carrying a pod's 60-byte frame to the host.
fn decap_frames(n: u32) -> Vec<Vec<u8>> {
    (0..frames_for(n))
        .map(|k| {
            let l = lease_of(k, n);
            let pod = Ipv4Addr::from(lease_subnet(l) + 2);
            let ip = Ip::new(pod, testing::HOST_IP);
            let sport = 1024 + (k as u16 & 0x7fff);
            let l4 = testing::udp_datagram(pod, ip.dst, sport, 80, &testing::pattern(18));
            let inner = testing::ipv4_frame(testing::VTEP_MAC, vtep_mac(l), ip, &l4);
            let mut f = testing::vxlan_frame(vtep_ip(l), testing::VNI, &inner);
            f[40..42].copy_from_slice(&[0, 0]);
            f
        })
        .collect()
}

/// The lease-table keys of each burst of encap frames.
fn burst_keys(n: u32) -> Vec<[u32; BURST]> {
    (0..frames_for(n) / BURST)
        .map(|b| std::array::from_fn(|i| lease_subnet(lease_of(b * BURST + i, n))))
        .collect()
}

/// Header walk of a VXLAN frame as decap does it, without acting on it.
fn parse(frame: &[u8]) -> Option<u32> {
    let e = ethernet::Frame::new_checked(frame).ok()?;
    let ip = ipv4::Packet::new_checked(e.payload()).ok()?;
    if !ip.verify_checksum() {
        return None;
    }
    let u = udp::Packet::new_checked(ip.payload()).ok()?;
    let vx = vxlan::Packet::new_checked(u.payload()).ok()?;
    let ie = ethernet::Frame::new_checked(vx.payload()).ok()?;
    let iip = ipv4::Packet::new_checked(ie.payload()).ok()?;
    iip.verify_checksum()
        .then(|| iip.dst_u32() ^ vx.vni().get())
}

struct Case {
    ctx: Context,
    lookup: TableLookup,
    encap: Vec<Vec<u8>>,
    decap: Vec<Vec<u8>>,
    keys: Vec<[u32; BURST]>,
}

impl Case {
    fn new(n: u32) -> Case {
        Case::with_underlay(n, false)
    }

    fn with_underlay(n: u32, on_link: bool) -> Case {
        Case {
            ctx: context(on_link),
            lookup: tables(n, on_link),
            encap: encap_frames(n),
            decap: decap_frames(n),
            keys: burst_keys(n),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Step {
    Refill,
    /// The refill with the encap frames (shorter than the decap ones
    /// `Refill` uses): the baseline of the on-link comparison.
    RefillEncap,
    Parse,
    Lookup,
    Encap,
    Decap,
}

const STEPS: [(&str, Step); 6] = [
    ("refill_baseline", Step::Refill),
    ("refill_encap", Step::RefillEncap),
    ("parse", Step::Parse),
    ("lookup", Step::Lookup),
    ("classify_encap", Step::Encap),
    ("classify_decap", Step::Decap),
];

fn refill(bufs: &mut [VecBuf], frames: &[Vec<u8>]) {
    for (b, f) in bufs.iter_mut().zip(frames) {
        b.reset(DEFAULT_HEADROOM, f);
    }
}

/// Runs `step` on burst `b` of the case.
fn run_burst(
    c: &Case,
    step: Step,
    b: usize,
    st: &mut WorkerState,
    bufs: &mut [VecBuf],
    v: &mut [Verdict; BURST],
) {
    let range = b * BURST..(b + 1) * BURST;
    match step {
        Step::Refill => refill(bufs, &c.decap[range]),
        Step::RefillEncap => refill(bufs, &c.encap[range]),
        Step::Parse => {
            refill(bufs, &c.decap[range]);
            for buf in bufs.iter() {
                black_box(parse(buf.data()));
            }
        }
        Step::Lookup => {
            let mut out = [Lease::NONE; BURST];
            black_box(c.lookup.leases_masked(&c.keys[b], u32::MAX, &mut out));
            black_box(&out);
        }
        Step::Encap => {
            refill(bufs, &c.encap[range]);
            process_burst(&c.ctx, &c.lookup, st, Side::Access, bufs, v);
        }
        Step::Decap => {
            refill(bufs, &c.decap[range]);
            process_burst(&c.ctx, &c.lookup, st, Side::Underlay, bufs, v);
        }
    }
}

fn fresh_bufs() -> Vec<VecBuf> {
    (0..BURST)
        .map(|_| VecBuf::new(DEFAULT_HEADROOM, 256))
        .collect()
}

/// ns per packet of `step` over all frames: the best of 3 passes of 4
/// sweeps each (the machine's noise only ever adds time).
fn time_step(c: &Case, step: Step) -> f64 {
    let mut st = testing::worker();
    let mut bufs = fresh_bufs();
    let mut v = [Verdict::default(); BURST];
    let bursts = c.keys.len();
    for b in 0..bursts {
        run_burst(c, step, b, &mut st, &mut bufs, &mut v);
    }
    // Sanity: the paths really forward (else we would time drops).
    let want = match step {
        Step::Encap => Some(Verdict::TxUnderlay),
        Step::Decap => Some(Verdict::TxAccess),
        _ => None,
    };
    if let Some(w) = want {
        assert!(v.iter().all(|x| *x == w), "{v:?}");
    }
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..4 {
            for b in 0..bursts {
                run_burst(c, step, b, &mut st, &mut bufs, &mut v);
            }
        }
        best = best.min(t.elapsed().as_nanos() as f64 / (4 * bursts * BURST) as f64);
    }
    best
}

fn summary() {
    println!(
        "\nper packet (bursts of {BURST}, VecBuf, lock-free tables, {FRAMES} flows, {} at 1M leases):",
        frames_for(1_000_000)
    );
    println!(
        "  {:<16} {:>8} {:>8} {:>8}   (ns/packet at 10 / 10k / 1M leases; encap/decap/parse also as ns over the refill)",
        "step", "10", "10k", "1M"
    );
    let cases: Vec<(u32, Case)> = SIZES.iter().map(|&n| (n, Case::new(n))).collect();
    let mut rows = Vec::new();
    for (name, step) in STEPS {
        let ns: Vec<f64> = cases.iter().map(|(_, c)| time_step(c, step)).collect();
        rows.push((name, step, ns));
    }
    // Each path over the refill of its own frames (encap's are shorter).
    let (base, base_encap) = (rows[0].2.clone(), rows[1].2.clone());
    for (name, step, ns) in &rows {
        let over: Vec<f64> = match step {
            Step::Refill | Step::RefillEncap | Step::Lookup => ns.clone(),
            Step::Encap => ns.iter().zip(&base_encap).map(|(a, b)| a - b).collect(),
            _ => ns.iter().zip(&base).map(|(a, b)| a - b).collect(),
        };
        println!(
            "  {name:<16} {:8.1} {:8.1} {:8.1}   over refill {:6.1} {:6.1} {:6.1}   cost 1M/10 {:.2}x",
            ns[0],
            ns[1],
            ns[2],
            over[0],
            over[1],
            over[2],
            over[2] / over[0].max(0.01)
        );
    }
    // Every VTEP on the underlay's link (a next hop per lease, looked up
    // in bulk) against one underlay gateway, both at 10 000 leases.
    // Each over the encap frames' refill measured on its own case.
    let on_link = Case::with_underlay(10_000, true);
    let over = |c: &Case| time_step(c, Step::Encap) - time_step(c, Step::RefillEncap);
    let (via_gw, direct) = (over(&cases[1].1), over(&on_link));
    println!(
        "  encap, every VTEP on-link (10k next hops): {direct:.1} ns over the refill, {:.2}x encap through one gateway ({via_gw:.1})",
        direct / via_gw.max(0.01)
    );
}

fn bench(c: &mut Criterion) {
    let case = Case::new(10_000);
    let mut g = c.benchmark_group("burst32_10k_leases");
    g.throughput(Throughput::Elements(BURST as u64));
    for (name, step) in STEPS {
        let mut st = testing::worker();
        let mut bufs = fresh_bufs();
        let mut v = [Verdict::default(); BURST];
        let mut b = 0;
        g.bench_function(name, |bench| {
            bench.iter(|| {
                b = (b + 1) % case.keys.len();
                run_burst(&case, step, b, &mut st, &mut bufs, &mut v)
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}

/// The one function `bench/profile.sh` collects: `process_burst` alone,
/// without the refill around it.
#[inline(never)]
fn counted_burst(
    c: &Case,
    st: &mut WorkerState,
    side: Side,
    bufs: &mut [VecBuf],
    v: &mut [Verdict; BURST],
) -> usize {
    process_burst(&c.ctx, &c.lookup, st, side, bufs, v)
}

/// `VXP_COUNT`: runs one path for the instruction count and says how many
/// packets it sent on (all of them, or the count means nothing).
fn count(path: &str) {
    let (side, want) = match path {
        "encap" => (Side::Access, Verdict::TxUnderlay),
        "decap" => (Side::Underlay, Verdict::TxAccess),
        _ => panic!("VXP_COUNT is encap or decap, not {path:?}"),
    };
    let rounds: usize = std::env::var("VXP_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let c = Case::with_underlay(10_000, std::env::var_os("VXP_ONLINK").is_some());
    let frames = if side == Side::Access {
        &c.encap
    } else {
        &c.decap
    };
    let mut st = testing::worker();
    let mut bufs = fresh_bufs();
    let mut v = [Verdict::default(); BURST];
    let (mut packets, mut forwarded) = (0usize, 0usize);
    for _ in 0..rounds {
        for burst in frames.chunks_exact(BURST) {
            refill(&mut bufs, burst);
            packets += counted_burst(&c, &mut st, side, &mut bufs, &mut v);
            forwarded += v.iter().filter(|x| **x == want).count();
        }
    }
    println!("COUNT {path} packets {packets} forwarded {forwarded}");
}

fn main() {
    if let Ok(path) = std::env::var("VXP_COUNT") {
        count(&path);
        return;
    }
    summary();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
