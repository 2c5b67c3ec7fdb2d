//! The workers launched on their lcores, one RX and one TX queue of each
//! port each; then `/metrics` serves the data plane's counters.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::metrics_endpoint::DataPlaneMetrics;
use super::open_ports::Ports;
use super::parts::Parts;
use super::stats::Shared;
use super::stop::StopOnDrop;
use crate::control::ControlStatus;
use crate::dpdk::{Eal, LcoreHandle};
use crate::ops::SwappableSource;
use crate::pipeline::context::Context;
use crate::pipeline::tables::TableLookup;
use crate::pipeline::worker::{Queues, Worker, WorkerStats};
use crate::pipeline::{Counters, WorkerState};

/// Launches worker `i` on the `i`th of `lcores` with the `i`th RX and TX
/// queue of each port (every queue of `ports` goes to a worker), its
/// counters in `shared`.
///
/// Gives the handles and the guard that raises `stop` when dropped: `run`
/// binds them in this order, so that, as here on a failed launch, the
/// workers are told to stop before their handles wait for them.
pub(super) fn start_workers(
    eal: &Eal,
    lcores: &[u32],
    stop: &Arc<AtomicBool>,
    ports: &mut Ports,
    shared: &mut Shared,
    parts: &Parts,
    ctx: &Context,
) -> anyhow::Result<(Vec<LcoreHandle>, StopOnDrop)> {
    let mut handles = Vec::new();
    // Declared after `handles`, so dropped before them: on any early return
    // the workers are told to stop before their handles wait for them.
    let stop_workers = StopOnDrop(Arc::clone(stop));
    // The RX queues taken (an empty list left in `ports`): the loop's
    // iterator owns them, and drops those left on a failed launch first.
    for (i, ((ulr, acr), lcore)) in std::mem::take(&mut ports.ul_rx)
        .into_iter()
        .zip(std::mem::take(&mut ports.ac_rx))
        .zip(lcores.iter().copied())
        .enumerate()
    {
        let counters = Arc::new(Counters::new());
        let wstats = Arc::new(WorkerStats::default());
        shared.counters.push(Arc::clone(&counters));
        shared.workers.push(Arc::clone(&wstats));
        let w = Worker {
            ctx: ctx.clone(),
            lookup: TableLookup {
                leases: parts.lease_readers.clone(),
                neighbors: parts.neighbor_readers.clone(),
            },
            state: WorkerState::new(counters, i as u16),
            underlay: Queues {
                rx: ulr,
                tx: ports.ul_tx.remove(0),
            },
            access: Queues {
                rx: acr,
                tx: ports.ac_tx.remove(0),
            },
            punt: Arc::clone(&parts.punt),
            outgoing: (i == 0).then(|| Arc::clone(&parts.outgoing)),
            stats: wstats,
            ns_per_tick: parts.ns_per_tick,
        };
        let s = Arc::clone(stop);
        handles.push(eal.launch(lcore, move || {
            w.run(&s);
            0
        })?);
    }
    Ok((handles, stop_workers))
}

/// `/metrics` from now on serves the data plane's figures from `shared`
/// beside the control plane's; frozen when the value given is dropped.
pub(super) fn serve_data_plane(
    slot: &Arc<SwappableSource>,
    shared: &Arc<Shared>,
    status: &Arc<ControlStatus>,
) -> DataPlaneMetrics {
    let src = Arc::clone(shared);
    slot.set(Arc::new(move || src.snapshot()));
    DataPlaneMetrics {
        slot: Arc::clone(slot),
        status: Arc::clone(status),
    }
}
