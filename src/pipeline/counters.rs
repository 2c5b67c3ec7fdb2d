//! Per-worker packet counters: one writer (the worker), any readers.
//!
//! Single writer, so an increment is a relaxed load and store (no locked
//! read-modify-write); readers see monotonic values. Each worker's block is
//! cache-padded so workers never share a line. Totals are summed on read.

use super::drop_reason::{DropReason, SlowKind};
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
struct Block {
    drops: [AtomicU64; DropReason::COUNT],
    slowpath: [AtomicU64; SlowKind::COUNT],
    encap: AtomicU64,
    decap: AtomicU64,
    routed: AtomicU64,
}

/// One worker's counters. Share it with readers through an `Arc`; only
/// the owning worker may call the increment methods.
#[derive(Debug, Default)]
pub struct Counters {
    block: CachePadded<Block>,
}

#[inline]
fn add(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

impl Counters {
    pub fn new() -> Counters {
        Counters::default()
    }
    #[inline]
    pub fn dropped(&self, r: DropReason) {
        add(&self.block.drops[r.index()], 1);
    }
    /// `n` drops under `r` at once (a burst's, a datagram's fragments).
    #[inline]
    pub fn drops(&self, r: DropReason, n: u64) {
        add(&self.block.drops[r.index()], n);
    }
    #[inline]
    pub fn slowpath(&self, k: SlowKind) {
        add(&self.block.slowpath[k.index()], 1);
    }
    #[inline]
    pub fn encap(&self) {
        add(&self.block.encap, 1);
    }
    #[inline]
    pub fn decap(&self) {
        add(&self.block.decap, 1);
    }
    /// `n` encapsulations at once (the burst fast path counts per burst).
    #[inline]
    pub fn encaps(&self, n: u64) {
        add(&self.block.encap, n);
    }
    #[inline]
    pub fn decaps(&self, n: u64) {
        add(&self.block.decap, n);
    }
    /// A packet forwarded as plain IPv4 by DirectRouting (to or from a
    /// node on the underlay's link), without VXLAN.
    #[inline]
    pub fn routed(&self) {
        add(&self.block.routed, 1);
    }
    /// A copy of the current values (from any thread).
    pub fn snapshot(&self) -> CounterSnapshot {
        let mut s = CounterSnapshot::default();
        for (o, c) in s.drops.iter_mut().zip(&self.block.drops) {
            *o = c.load(Relaxed);
        }
        for (o, c) in s.slowpath.iter_mut().zip(&self.block.slowpath) {
            *o = c.load(Relaxed);
        }
        s.encap = self.block.encap.load(Relaxed);
        s.decap = self.block.decap.load(Relaxed);
        s.routed = self.block.routed.load(Relaxed);
        s
    }
}

/// Plain counter values, summed over workers for export.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CounterSnapshot {
    pub drops: [u64; DropReason::COUNT],
    pub slowpath: [u64; SlowKind::COUNT],
    pub encap: u64,
    pub decap: u64,
    pub routed: u64,
}

impl CounterSnapshot {
    pub fn drop_count(&self, r: DropReason) -> u64 {
        self.drops[r.index()]
    }
    pub fn slowpath_count(&self, k: SlowKind) -> u64 {
        self.slowpath[k.index()]
    }
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }
    pub fn add(&mut self, o: &CounterSnapshot) {
        for (a, b) in self.drops.iter_mut().zip(&o.drops) {
            *a += b;
        }
        for (a, b) in self.slowpath.iter_mut().zip(&o.slowpath) {
            *a += b;
        }
        self.encap += o.encap;
        self.decap += o.decap;
        self.routed += o.routed;
    }
    /// The sum over all workers' counters.
    pub fn sum<'a>(workers: impl IntoIterator<Item = &'a Counters>) -> CounterSnapshot {
        let mut s = CounterSnapshot::default();
        for w in workers {
            s.add(&w.snapshot());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_and_sums_across_threads() {
        let a = Arc::new(Counters::new());
        let b = Arc::new(Counters::new());
        let writers: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .map(|c| {
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.dropped(DropReason::NoRoute);
                        c.encap();
                    }
                    c.slowpath(SlowKind::Fragment);
                    c.decap();
                    c.routed();
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let s = CounterSnapshot::sum([&*a, &*b]);
        assert_eq!(s.drop_count(DropReason::NoRoute), 2000);
        assert_eq!(s.total_drops(), 2000);
        assert_eq!(s.encap, 2000);
        assert_eq!(s.decap, 2);
        assert_eq!(s.routed, 2);
        assert_eq!(s.slowpath_count(SlowKind::Fragment), 2);
        assert_eq!(s.slowpath_count(SlowKind::Arp), 0);
    }

    #[test]
    fn blocks_do_not_share_cache_lines() {
        assert!(core::mem::align_of::<Counters>() >= 64);
        assert_eq!(core::mem::size_of::<Counters>() % 64, 0);
    }
}
