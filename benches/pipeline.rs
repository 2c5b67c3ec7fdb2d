//! Per-packet cost of the pure pipeline on bursts of 32 `VecBuf`s with the
//! HashMap test lookup: parse only, classify+encap, classify+decap, and the
//! buffer refill alone as the baseline (every iteration refills the 32
//! buffers in place, without allocating). Prints ns/packet and the ratio
//! to the baseline measured in the same run.

use criterion::{black_box, criterion_group, Criterion, Throughput};
use std::time::{Duration, Instant};
use vxgate::pipeline::testing::{self, MapLookup};
use vxgate::pipeline::{buf::DEFAULT_HEADROOM, process_burst, Side, VecBuf, Verdict, BURST};
use vxgate::wire::{ethernet, ipv4, udp, vxlan};

struct Setup {
    ctx: vxgate::pipeline::Context,
    lookup: MapLookup,
    encap_frames: Vec<Vec<u8>>,
    decap_frames: Vec<Vec<u8>>,
}

fn setup() -> Setup {
    Setup {
        ctx: testing::context(),
        lookup: MapLookup::standard(),
        // 64 bytes of UDP data: a 106-byte inner frame.
        encap_frames: (0..BURST)
            .map(|i| testing::host_to_pod(64 + i % 4))
            .collect(),
        decap_frames: (0..BURST)
            .map(|i| testing::pod_to_host(64 + i % 4))
            .collect(),
    }
}

fn refill(bufs: &mut [VecBuf], frames: &[Vec<u8>]) {
    for (b, f) in bufs.iter_mut().zip(frames) {
        b.reset(DEFAULT_HEADROOM, f);
    }
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

type Step = fn(&Setup, &mut vxgate::pipeline::WorkerState, &mut [VecBuf], &mut [Verdict]);

fn steps() -> [(&'static str, Step); 4] {
    [
        ("refill_baseline", |s, _, bufs, _| {
            refill(bufs, &s.decap_frames)
        }),
        ("parse", |s, _, bufs, _| {
            refill(bufs, &s.decap_frames);
            for b in bufs.iter() {
                black_box(parse(vxgate::pipeline::PacketBuf::data(b)));
            }
        }),
        ("classify_encap", |s, st, bufs, v| {
            refill(bufs, &s.encap_frames);
            process_burst(&s.ctx, &s.lookup, st, Side::Access, bufs, v);
        }),
        ("classify_decap", |s, st, bufs, v| {
            refill(bufs, &s.decap_frames);
            process_burst(&s.ctx, &s.lookup, st, Side::Underlay, bufs, v);
        }),
    ]
}

fn fresh_bufs() -> Vec<VecBuf> {
    (0..BURST)
        .map(|_| VecBuf::new(DEFAULT_HEADROOM, 256))
        .collect()
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let mut g = c.benchmark_group("burst32");
    g.throughput(Throughput::Elements(BURST as u64));
    for (name, step) in steps() {
        let mut st = testing::worker();
        let mut bufs = fresh_bufs();
        let mut v = [Verdict::default(); BURST];
        g.bench_function(name, |b| b.iter(|| step(&s, &mut st, &mut bufs, &mut v)));
        // Sanity: the paths really forward (else we would time drops).
        if name == "classify_encap" {
            assert!(v.iter().all(|x| *x == Verdict::TxUnderlay), "{v:?}");
        }
        if name == "classify_decap" {
            assert!(v.iter().all(|x| *x == Verdict::TxAccess), "{v:?}");
        }
    }
    g.finish();
}

/// A plain timed loop after criterion, for a compact ns/packet summary.
fn summary() {
    let s = setup();
    let mut results = Vec::new();
    for (name, step) in steps() {
        let mut st = testing::worker();
        let mut bufs = fresh_bufs();
        let mut v = [Verdict::default(); BURST];
        let iters = 200_000u32;
        for _ in 0..iters / 10 {
            step(&s, &mut st, &mut bufs, &mut v);
        }
        let t = Instant::now();
        for _ in 0..iters {
            step(&s, &mut st, &mut bufs, &mut v);
        }
        let ns = t.elapsed().as_nanos() as f64 / f64::from(iters) / BURST as f64;
        results.push((name, ns));
    }
    let base = results[0].1;
    println!("\nper packet (burst of {BURST}, VecBuf, HashMap lookup):");
    for (name, ns) in &results {
        println!(
            "  {name:<16} {ns:8.1} ns/packet  ({:5.2}x refill baseline, {:6.1} ns over it)",
            ns / base,
            ns - base
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
