//! One writer churns a table (inserts, updates, removes, rebuilds) while
//! readers look up continuously; every value a reader sees must be one the
//! writer wrote whole, for that key, and after the writer stops every reader
//! must see exactly the final state.

use rand::Rng as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use vxgate::table::{map, LeaseTables, Packed, Reader, BULK};

const KEYS: u32 = 4096;
const WRITES: u64 = 1_000_000;
const READERS: usize = 3;

/// All three words derive from (key, version): a torn or misplaced value
/// fails `check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp([u64; 3]);

impl Stamp {
    fn new(key: u32, version: u64) -> Self {
        let k = u64::from(key);
        Stamp([
            version,
            version.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ k,
            !version ^ k.rotate_left(40),
        ])
    }

    /// The version, if this is a whole value written for `key`.
    fn check(&self, key: u32) -> Option<u64> {
        let v = self.0[0];
        (*self == Stamp::new(key, v)).then_some(v)
    }
}

impl Packed for Stamp {
    fn pack(&self) -> [u64; 3] {
        self.0
    }
    fn unpack(w: [u64; 3]) -> Self {
        Stamp(w)
    }
}

/// Keys spread over the address space, including 0.
fn key(i: u32) -> u32 {
    i.wrapping_mul(0x9e37_79b1)
}

/// A seeded generator: the same sequence on every run.
type Seeded = rand::rngs::StdRng;

fn rng(seed: u64) -> Seeded {
    rand::SeedableRng::seed_from_u64(seed)
}

/// What the writer publishes for the readers' checks.
struct Progress {
    /// Highest version the writer has started to write.
    started: AtomicU64,
    done: AtomicBool,
}

/// The state the writer leaves behind.
fn final_value(i: u32) -> Option<Stamp> {
    (i % 3 != 0).then(|| Stamp::new(key(i), WRITES + 1 + u64::from(i)))
}

fn verify(key: u32, seen: Option<Stamp>, progress: &Progress) -> bool {
    let Some(s) = seen else { return false };
    let v = s.check(key);
    assert!(v.is_some(), "torn or foreign value for key {key:#x}: {s:?}");
    // The writer announced this version before writing it; the Acquire
    // inside the lookup orders that announcement before this load.
    let started = progress.started.load(Ordering::Acquire);
    assert!(v <= Some(started), "{v:?} was never written (at {started})");
    true
}

fn read_until_done(
    mut reader: Reader<Stamp>,
    progress: &Progress,
    seed: u64,
    go: &Barrier,
) -> (u64, u64) {
    // The writer starts once every reader runs: on a busy machine a reader
    // scheduled late would find the writer done and look nothing up.
    go.wait();
    let mut rng = rng(seed);
    let mut keys = [0u32; BULK];
    let mut out = [None; BULK];
    let (mut lookups, mut hits) = (0u64, 0u64);
    while !progress.done.load(Ordering::Acquire) {
        reader.refresh();
        let k = key((rng.gen::<u64>() % u64::from(KEYS)) as u32);
        hits += u64::from(verify(k, reader.get(k), progress));
        for k in keys.iter_mut() {
            *k = key((rng.gen::<u64>() % u64::from(KEYS)) as u32);
        }
        reader.get_bulk(&keys, &mut out);
        for (k, o) in keys.iter().zip(&out) {
            hits += u64::from(verify(*k, *o, progress));
        }
        lookups += 1 + BULK as u64;
    }
    // Everything the writer did happens-before `done`: after one refresh
    // the reader must see the final state exactly.
    reader.refresh();
    for i in 0..KEYS {
        assert_eq!(reader.get(key(i)), final_value(i), "final state of key {i}");
    }
    let all: Vec<u32> = (0..KEYS).map(key).collect();
    let mut got = vec![None; all.len()];
    reader.get_bulk(&all, &mut got);
    for (i, g) in (0..KEYS).zip(&got) {
        assert_eq!(*g, final_value(i), "final bulk state of key {i}");
    }
    (lookups, hits)
}

#[test]
fn readers_see_only_whole_values_during_churn_and_rebuilds() {
    // Start tiny so the churn rebuilds (grows, then cleans tombstones) many times.
    let (mut writer, reader) = map::<Stamp>(4);
    let progress = Arc::new(Progress {
        started: AtomicU64::new(0),
        done: AtomicBool::new(false),
    });

    let go = Arc::new(Barrier::new(READERS + 1));
    let readers: Vec<_> = (0..READERS)
        .map(|n| {
            let r = reader.clone();
            let p = Arc::clone(&progress);
            let go = Arc::clone(&go);
            thread::spawn(move || read_until_done(r, &p, 0x2545_f491_4f6c_dd1d + n as u64, &go))
        })
        .collect();
    drop(reader);
    go.wait();

    let mut rng = rng(0x9e37_79b9_7f4a_7c15);
    let mut generations = 0;
    for version in 1..=WRITES {
        let i = (rng.gen::<u64>() % u64::from(KEYS)) as u32;
        progress.started.store(version, Ordering::Release);
        // Phases of mostly inserts and mostly removes, so the table grows,
        // fills with tombstones and shrinks again, many times.
        let remove_odds = if (version / (WRITES / 20)) % 2 == 1 {
            3
        } else {
            1
        };
        if rng.gen::<u64>() % 4 < remove_odds {
            writer.remove(key(i));
        } else {
            writer.insert(key(i), Stamp::new(key(i), version));
        }
        generations = writer.generation();
    }
    for i in 0..KEYS {
        progress
            .started
            .store(WRITES + 1 + u64::from(i), Ordering::Release);
        match final_value(i) {
            Some(v) => writer.insert(key(i), v),
            None => writer.remove(key(i)),
        };
    }
    progress.done.store(true, Ordering::Release);

    let mut total = (0, 0);
    for r in readers {
        let (lookups, hits) = r.join().expect("reader thread");
        assert!(
            hits > 0,
            "a reader never found anything in {lookups} lookups"
        );
        total = (total.0 + lookups, total.1 + hits);
    }
    assert!(
        generations >= 5,
        "only {generations} rebuilds: the test did not exercise them"
    );
    assert_eq!(writer.reclaim(), 0, "every reader dropped its tables");
    println!(
        "{} lookups, {} hits, {} table generations",
        total.0, total.1, generations
    );
}

/// Keys that stay in the table the whole time, only ever updated in place,
/// are found by every lookup, single and bulk, while the other keys of the
/// same table are inserted and removed around them and the table is
/// rebuilt: a reader that misses a present key (a slot retired and
/// published again, or a probe cut short) fails here, where the test above
/// only checks that what it finds is whole.
#[test]
fn keys_present_throughout_are_never_missed_during_churn_and_rebuilds() {
    const PINNED: u32 = 8;
    let (mut writer, reader) = map::<Stamp>(4);
    for i in 0..PINNED {
        writer.insert(key(i), Stamp::new(key(i), 0));
    }
    let done = Arc::new(AtomicBool::new(false));
    let go = Arc::new(Barrier::new(2));
    let looker = {
        let mut r = reader.clone();
        let done = Arc::clone(&done);
        let go = Arc::clone(&go);
        thread::spawn(move || {
            go.wait();
            let mut rng = rng(7);
            let (mut lookups, mut misses) = (0u64, 0u64);
            let mut out = [None; BULK];
            while !done.load(Ordering::Acquire) {
                r.refresh();
                let keys: [u32; BULK] =
                    std::array::from_fn(|_| key((rng.gen::<u64>() % u64::from(PINNED)) as u32));
                misses += u64::from(r.get(keys[0]).is_none());
                r.get_bulk(&keys, &mut out);
                misses += out.iter().filter(|o| o.is_none()).count() as u64;
                lookups += 1 + BULK as u64;
            }
            (lookups, misses)
        })
    };
    drop(reader);
    go.wait();
    let mut rng = rng(8);
    for version in 1..=WRITES / 2 {
        let p = (rng.gen::<u64>() % u64::from(PINNED)) as u32;
        writer.insert(key(p), Stamp::new(key(p), version));
        let i = PINNED + (rng.gen::<u64>() % u64::from(KEYS - PINNED)) as u32;
        if rng.gen::<bool>() {
            writer.remove(key(i));
        } else {
            writer.insert(key(i), Stamp::new(key(i), version));
        }
        writer.reclaim();
    }
    done.store(true, Ordering::Release);
    let (lookups, misses) = looker.join().unwrap();
    eprintln!("FIGURE {lookups} lookups of keys present throughout, {misses} missed");
    assert!(lookups > 0);
    assert_eq!(misses, 0, "a key present throughout was missed");
}

#[test]
fn lease_readers_follow_lease_churn() {
    const SUBNETS: u32 = 512;
    let (mut tables, readers) = LeaseTables::new(8);
    let done = Arc::new(AtomicBool::new(false));
    let subnet = |i: u32| 0x0a00_0000 | (i << 8);
    // Each subnet's lease always points to a PublicIP and MAC derived from
    // the subnet and a version, so a reader can check what it sees.
    let ip_of = |i: u32, v: u32| 0xac00_0000 | (i << 8) | (v & 0xff);
    let mac_of = |i: u32, v: u32| {
        let [a, b, c, d] = (i ^ v.rotate_left(16)).to_be_bytes();
        [0x02, a, b, c, d, (v & 0xff) as u8]
    };

    let threads: Vec<_> = (0..2)
        .map(|n| {
            let mut r = readers.clone();
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let mut rng = rng(77 + n);
                let mut seen = 0u64;
                while !done.load(Ordering::Acquire) {
                    r.refresh();
                    let i = (rng.gen::<u64>() % u64::from(SUBNETS)) as u32;
                    if let Some(l) = r.lease(subnet(i)) {
                        let v = l.public_ip & 0xff;
                        assert_eq!(l.public_ip, ip_of(i, v), "lease of {i}");
                        assert_eq!(l.vtep_mac, mac_of(i, v), "lease of {i} torn");
                        seen += 1;
                    }
                }
                r.refresh();
                for i in 0..SUBNETS {
                    let want = (i % 2 == 0).then(|| (ip_of(i, 0), mac_of(i, 0)));
                    let got = r.lease(subnet(i)).map(|l| (l.public_ip, l.vtep_mac));
                    assert_eq!(got, want, "final lease of {i}");
                    if let Some((ip, mac)) = want {
                        assert!(r.is_known_vtep(ip, &mac), "final vtep of {i}");
                    }
                }
                seen
            })
        })
        .collect();

    let mut rng = rng(5);
    for _ in 0..50_000 {
        let i = (rng.gen::<u64>() % u64::from(SUBNETS)) as u32;
        let v = (rng.gen::<u64>() % 4) as u32 + 1;
        if rng.gen::<u64>() % 3 == 0 {
            tables.remove_lease(subnet(i));
        } else {
            tables.upsert_lease(subnet(i), ip_of(i, v), mac_of(i, v));
        }
    }
    for i in 0..SUBNETS {
        if i % 2 == 0 {
            tables.upsert_lease(subnet(i), ip_of(i, 0), mac_of(i, 0));
        } else {
            tables.remove_lease(subnet(i));
        }
    }
    done.store(true, Ordering::Release);
    for t in threads {
        t.join().expect("reader thread");
    }
    assert_eq!(tables.len(), SUBNETS as usize / 2);
    assert_eq!(tables.public_ips(), SUBNETS as usize / 2);
    let mut listed: Vec<u32> = tables.leases().map(|(s, _)| s).collect();
    listed.sort_unstable();
    let want: Vec<u32> = (0..SUBNETS).step_by(2).map(subnet).collect();
    assert_eq!(listed, want);
}
