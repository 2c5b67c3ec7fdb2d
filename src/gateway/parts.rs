//! The tables and queues the workers and the slow path are built from:
//! leases from etcd (written by the control thread), neighbours (by the
//! slow path), and the queues between the workers and the slow path.

use std::sync::Arc;

use crate::config::{Config, Side as CfgSide};
use crate::dpdk::Eal;
use crate::pipeline::worker::{OutgoingQueue, PuntQueue};
use crate::table::{LeaseReaders, LeaseTables, NeighborPort, NeighborReaders, NeighborTables};

/// Punted packets waiting for the slow path, all workers together.
const PUNT_QUEUE: usize = 4096;

/// What the workers and the slow path share or split between them.
///
/// Fields drop in declaration order, the reverse of the order
/// [`make_parts`] makes them in: as they dropped when they were `run`'s
/// locals.
pub(super) struct Parts {
    /// Nanoseconds per TSC tick.
    pub(super) ns_per_tick: f64,
    /// Frames from the slow path for worker 0 to send.
    pub(super) outgoing: Arc<OutgoingQueue>,
    pub(super) punt: Arc<PuntQueue>,
    pub(super) neighbor_readers: NeighborReaders,
    /// The slow path's: the static neighbours of the flags in them.
    pub(super) neighbors: NeighborTables,
    pub(super) lease_readers: LeaseReaders,
}

/// The lease tables' writer (for the control plane) and the parts.
pub(super) fn make_parts(cfg: &Config, eal: &Eal) -> (LeaseTables, Parts) {
    let (lease_tables, lease_readers) = LeaseTables::new(1024);
    let (mut neighbors, neighbor_readers) = NeighborTables::new(256);
    for n in &cfg.neighbors {
        let port = match n.side {
            CfgSide::Underlay => NeighborPort::Underlay,
            CfgSide::Access => NeighborPort::Access,
        };
        neighbors.set_static(port, u32::from(n.ip), n.mac);
    }
    let punt = Arc::new(PuntQueue::new(PUNT_QUEUE));
    let outgoing = Arc::new(OutgoingQueue::new(PUNT_QUEUE));
    let tsc_ns = 1e9 / eal.tsc_hz() as f64;
    let parts = Parts {
        ns_per_tick: tsc_ns,
        outgoing,
        punt,
        neighbor_readers,
        neighbors,
        lease_readers,
    };
    (lease_tables, parts)
}
