//! Lookup and write cost of the lockless table at 10, 10 000 and 1 000 000
//! entries, and the ratio of the largest to the smallest (the cost of
//! falling out of cache). Prints figures; asserts nothing about speed.
//!
//! cargo bench --bench table

use rand::Rng as _;
use std::hint::black_box;
use std::time::Instant;

use vxgate::table::{map, LeaseEntry, LeaseTables, Reader, Writer, BULK};

const SIZES: [usize; 3] = [10, 10_000, 1_000_000];
/// Lookups per timed pass.
const LOOKUPS: usize = 1 << 21;
/// Timed passes; the fastest is reported (least disturbed by neighbours).
const PASSES: usize = 5;

/// A seeded generator: the same sequence on every run.
type Seeded = rand::rngs::StdRng;

fn rng(seed: u64) -> Seeded {
    rand::SeedableRng::seed_from_u64(seed)
}

fn entry(key: u32) -> LeaseEntry {
    LeaseEntry {
        public_ip: key ^ 0xac1c_0000,
        vtep_mac: [0x02, 0, 0, 0, (key >> 8) as u8, key as u8],
    }
}

/// Distinct random keys (like subnet addresses spread over the space).
fn distinct_keys(n: usize, rng: &mut Seeded) -> Vec<u32> {
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    while keys.len() < n {
        let k = rng.gen::<u64>() as u32;
        if seen.insert(k) {
            keys.push(k);
        }
    }
    keys
}

fn best_ns_per_op(ops: usize, mut pass: impl FnMut()) -> f64 {
    (0..PASSES)
        .map(|_| {
            let t = Instant::now();
            pass();
            t.elapsed().as_secs_f64() * 1e9 / ops as f64
        })
        .fold(f64::INFINITY, f64::min)
}

struct Figures {
    insert: f64,
    update: f64,
    get: f64,
    bulk: f64,
    /// Lookup cost left exposed when each packet also does other work.
    get_work: f64,
    bulk_work: f64,
}

/// Stand-in for per-packet work between lookups (parsing, rewriting): a
/// dependent chain of ~60 cycles that fills the out-of-order window.
#[inline(always)]
fn work(mut x: u32) -> u32 {
    for _ in 0..20 {
        x = x.wrapping_mul(0x9e37_79b1).rotate_left(7);
    }
    x
}

fn measure(n: usize, rng: &mut Seeded) -> Figures {
    let keys = distinct_keys(n, rng);
    // Inserting from empty includes the cost of every slot write; the map
    // is sized by its hint, so no rebuild happens here.
    let mut writer: Option<Writer<LeaseEntry>> = None;
    let mut reader: Option<Reader<LeaseEntry>> = None;
    let insert = best_ns_per_op(n, || {
        let (mut w, r) = map::<LeaseEntry>(n);
        for &k in &keys {
            w.insert(k, entry(k));
        }
        writer = Some(w);
        reader = Some(r);
    });
    let (Some(mut w), Some(mut r)) = (writer, reader) else {
        return Figures {
            insert,
            update: f64::NAN,
            get: f64::NAN,
            bulk: f64::NAN,
            get_work: f64::NAN,
            bulk_work: f64::NAN,
        };
    };
    r.refresh();

    let mut flip = 0u32;
    let update = best_ns_per_op(n, || {
        flip ^= 1;
        for &k in &keys {
            w.insert(k, entry(k ^ flip));
        }
    });

    // Random picks among the present keys, so large tables miss the cache.
    let probes: Vec<u32> = (0..LOOKUPS)
        .map(|_| keys[(rng.gen::<u64>() % n as u64) as usize])
        .collect();
    let get = best_ns_per_op(LOOKUPS, || {
        let mut acc = 0u32;
        for &k in &probes {
            if let Some(e) = r.get(k) {
                acc = acc.wrapping_add(e.public_ip);
            }
        }
        black_box(acc);
    });
    let mut out = [None; BULK];
    let bulk = best_ns_per_op(LOOKUPS, || {
        let mut acc = 0u32;
        for chunk in probes.chunks_exact(BULK) {
            r.get_bulk(chunk, &mut out);
            for e in out.iter().flatten() {
                acc = acc.wrapping_add(e.public_ip);
            }
        }
        black_box(acc);
    });
    let work_only = best_ns_per_op(LOOKUPS, || {
        let mut acc = 0u32;
        for &k in &probes {
            acc = work(acc ^ k);
        }
        black_box(acc);
    });
    let get_work = best_ns_per_op(LOOKUPS, || {
        let mut acc = 0u32;
        for &k in &probes {
            let ip = r.get(k).map_or(0, |e| e.public_ip);
            acc = work(acc ^ ip);
        }
        black_box(acc);
    });
    let bulk_work = best_ns_per_op(LOOKUPS, || {
        let mut acc = 0u32;
        for chunk in probes.chunks_exact(BULK) {
            r.get_bulk(chunk, &mut out);
            for e in &out {
                acc = work(acc ^ e.map_or(0, |e| e.public_ip));
            }
        }
        black_box(acc);
    });
    Figures {
        insert,
        update,
        get,
        bulk,
        get_work: get_work - work_only,
        bulk_work: bulk_work - work_only,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let mut rng = rng(0x2545_f491_4f6c_dd1d);
    println!(
        "{:>10} {:>10} {:>10} {:>8} {:>11} {:>9} {:>12}",
        "entries", "insert ns", "update ns", "get ns", "bulk32 ns", "get+w ns", "bulk32+w ns"
    );
    let figures: Vec<(usize, Figures)> = SIZES.iter().map(|&n| (n, measure(n, &mut rng))).collect();
    for (n, f) in &figures {
        println!(
            "{:>10} {:>10.1} {:>10.1} {:>8.2} {:>11.2} {:>9.2} {:>12.2}",
            n, f.insert, f.update, f.get, f.bulk, f.get_work, f.bulk_work
        );
    }
    if let (Some((_, small)), Some((_, big))) = (figures.first(), figures.last()) {
        println!(
            "ratio 1M/10: get {:.2}x, get_bulk32 {:.2}x",
            big.get / small.get,
            big.bulk / small.bulk
        );
        println!(
            "with per-packet work at 1M: {:.1} ns exposed per get, {:.1} per get_bulk32 lookup ({:.2}x)",
            big.get_work,
            big.bulk_work,
            big.get_work / big.bulk_work
        );
        println!("(+w: time per packet minus the ~60-cycle work alone; in-cache values are noise)");
    }
    write_latency();
}

/// How long one etcd event waits on the control thread, as the gateway
/// writes them: lease tables started at 1 024 leases grown to 1 000 000
/// (rebuilt in steps on the way), then 150 000 replacements (a lease gone,
/// another put: tombstones, and the rebuilds they bring). Each write is
/// timed on its own; the worst against the median is what a rebuild adds.
fn write_latency() {
    let (mut t, _readers) = LeaseTables::new(1024);
    let subnet = |i: u32| 0x0a00_0000u32.wrapping_add(i << 4);
    let mac = |i: u32| [0x02, 0, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8];
    let mut fill = Vec::with_capacity(1_000_000);
    for i in 0..1_000_000u32 {
        let s = Instant::now();
        t.upsert_lease(subnet(i), 0x6440_0000 + i, mac(i));
        fill.push(s.elapsed().as_nanos() as u64);
    }
    let mut churn = Vec::with_capacity(150_000);
    for j in 0..150_000u32 {
        let s = Instant::now();
        t.remove_lease(subnet(j));
        t.upsert_lease(subnet(2_000_000 + j), 0x6440_0000 + j, mac(j));
        churn.push(s.elapsed().as_nanos() as u64);
    }
    println!("\none etcd event on the control thread (LeaseTables, from 1 024 to 1 M leases):");
    for (what, mut ns) in [("put, growing to 1 M", fill), ("replace, at 1 M", churn)] {
        ns.sort_unstable();
        let (median, worst) = (ns[ns.len() / 2], ns[ns.len() - 1]);
        let over_1ms = ns.iter().filter(|&&n| n > 1_000_000).count();
        println!(
            "  {what:<20} median {:>6} ns, worst {:>9} ns ({:.0}x the median), {over_1ms} of {} over 1 ms",
            median,
            worst,
            worst as f64 / median as f64,
            ns.len()
        );
    }
}
