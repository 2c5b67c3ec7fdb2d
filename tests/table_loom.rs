//! loom model of the per-slot seqlock in `src/table/slot.rs`.
//!
//! The very same source file is compiled here against loom's atomics (the
//! `sync` module below replaces the library's `src/table/sync.rs`), and
//! loom explores every interleaving and every value the C11 memory model
//! lets a Relaxed/Acquire load return. The assertion: a reader never
//! returns a torn value, nor one key's value for another key.
//!
//! Runs in a plain `cargo test --test table_loom`; no `--cfg loom` needed
//! (and `--cfg loom` cannot build this crate: tokio hides `tokio::net`
//! under it, which the etcd client stack needs).

mod sync {
    pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

    /// Under loom a spinning reader must yield so the writer can finish.
    pub(crate) fn spin_wait() {
        loom::thread::yield_now();
    }
}

#[allow(dead_code)]
#[path = "../src/table/slot.rs"]
mod slot;

use loom::sync::Arc;
use loom::thread;
use slot::{Probe, Slot};

const K1: u32 = 0x0af4_0100;
const K2: u32 = 0x0af4_0200;

/// A value whose three words all derive from one version and the key.
fn value(key: u32, version: u64) -> [u64; 3] {
    let k = u64::from(key);
    [version, version ^ k.rotate_left(21), !version ^ k]
}

/// Returns the version if `w` is `value(key, v)` for some `v`.
fn version_of(key: u32, w: [u64; 3]) -> Option<u64> {
    let v = w[0];
    (w == value(key, v)).then_some(v)
}

/// Explores with a bound on preemptions (the usual loom practice: bugs
/// need few of them): 3 in release builds (~1 min), 2 in debug builds so a
/// plain `cargo test` stays under a minute. `LOOM_MAX_PREEMPTIONS`
/// overrides it.
fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(if cfg!(debug_assertions) { 2 } else { 3 });
    }
    b.check(f);
}

/// A reader racing two in-place updates of K1 (versions 2 and 3 over 1):
/// every value `read` returns (`None`: none to give, ask again) is whole,
/// one K1 really had, never older than the one before; after the writer,
/// the last.
fn reads_during_two_in_place_updates(read: fn(&Slot, u32) -> Option<[u64; 3]>) {
    model(move || {
        let slot = Arc::new(Slot::new());
        slot.publish(K1, value(K1, 1));

        let w = Arc::clone(&slot);
        let writer = thread::spawn(move || {
            w.publish(K1, value(K1, 2));
            w.publish(K1, value(K1, 3));
        });

        let mut last = 0;
        for _ in 0..2 {
            if let Some(words) = read(&slot, K1) {
                let v = version_of(K1, words).expect("torn value");
                assert!((1..=3).contains(&v), "version {v} never written");
                assert!(v >= last, "went back from {last} to {v}");
                last = v;
            }
        }
        writer.join().expect("writer");
        assert_eq!(read(&slot, K1), Some(value(K1, 3)));
    });
}

#[test]
fn reader_never_sees_a_torn_update() {
    reads_during_two_in_place_updates(|slot, k| match slot.probe(k) {
        Probe::Hit(words) => Some(words),
        other => panic!("live key not found: {other:?}"),
    });
}

#[test]
fn reused_tombstone_never_leaks_the_old_key() {
    model(|| {
        let slot = Arc::new(Slot::new());
        slot.publish(K1, value(K1, 1));

        let w = Arc::clone(&slot);
        let writer = thread::spawn(move || {
            // Remove K1, then reuse its tombstone for K2.
            w.retire();
            w.publish(K2, value(K2, 2));
        });

        match slot.probe(K1) {
            Probe::Hit(words) => assert_eq!(version_of(K1, words), Some(1)),
            Probe::Miss => {}
            Probe::Empty => panic!("a written slot never reads as empty"),
        }
        match slot.probe(K2) {
            Probe::Hit(words) => assert_eq!(version_of(K2, words), Some(2)),
            Probe::Miss => {}
            Probe::Empty => panic!("a written slot never reads as empty"),
        }
        writer.join().expect("writer");
        assert_eq!(slot.probe(K1), Probe::Miss);
    });
}

#[test]
fn first_publication_of_an_empty_slot() {
    model(|| {
        let slot = Arc::new(Slot::new());
        let w = Arc::clone(&slot);
        let writer = thread::spawn(move || w.publish(K1, value(K1, 7)));
        match slot.probe(K1) {
            Probe::Hit(words) => assert_eq!(version_of(K1, words), Some(7)),
            Probe::Empty => {}
            Probe::Miss => panic!("no other key was ever here"),
        }
        writer.join().expect("writer");
    });
}

/// `try_hit` (the bulk lookups' fast path) racing two in-place updates of
/// its key. (Without this, an Acquire on `try_hit`'s first load weakened
/// to Relaxed passed the other models.)
#[test]
fn try_hit_never_sees_a_torn_in_place_update() {
    reads_during_two_in_place_updates(Slot::try_hit);
}

#[test]
fn try_hit_returns_only_whole_values_of_its_key() {
    model(|| {
        let slot = Arc::new(Slot::new());
        slot.publish(K1, value(K1, 1));

        let w = Arc::clone(&slot);
        let writer = thread::spawn(move || {
            w.publish(K1, value(K1, 2));
            w.retire();
            w.publish(K2, value(K2, 3));
        });

        // `None` is always allowed (the caller then probes); a `Some` must
        // be a whole value that K1 really had.
        if let Some(words) = slot.try_hit(K1) {
            let v = version_of(K1, words).expect("torn value or another key's");
            assert!((1..=2).contains(&v), "version {v} never written for K1");
        }
        writer.join().unwrap();
        assert_eq!(slot.try_hit(K2), Some(value(K2, 3)));
        assert_eq!(slot.try_hit(K1), None);
    });
}
