//! The main lcore's work while the gateway runs: the slow path.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::pipeline::slowpath_loop::SlowPath;
use crate::table::NeighborPort;

/// Runs the slow path until `stop` is raised, its count of resolved
/// neighbours per port (`[underlay, access]`) kept in `neighbor_counts`.
pub(super) fn poll_slow_path(
    slow: &mut SlowPath,
    neighbor_counts: &[AtomicU64; 2],
    stop: &AtomicBool,
) {
    let t0 = Instant::now();
    while !stop.load(Relaxed) {
        let now = Instant::now();
        let n = slow.poll(now, (now - t0).as_nanos() as u64);
        for p in NeighborPort::ALL {
            let i = match p {
                NeighborPort::Underlay => 0,
                NeighborPort::Access => 1,
            };
            neighbor_counts[i].store(slow.neighbors.len(p) as u64, Relaxed);
        }
        if n == 0 {
            crate::ops::pause(Duration::from_micros(200));
        }
    }
}
