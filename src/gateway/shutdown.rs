//! The end of `run`: the workers joined, the ports stopped and closed, and
//! the final counters printed with the mbufs still in use.

use std::sync::Arc;

use tracing::error;

use super::metrics_endpoint::freeze;
use super::open_ports::Ports;
use super::stats::{self, Shared};
use crate::control::ControlStatus;
use crate::dpdk::{LcoreHandle, Mempool};
use crate::ops::SwappableSource;

/// Waits for every worker to finish its burst; a code other than 0 is
/// logged.
pub(super) fn join_workers(handles: Vec<LcoreHandle>) {
    for h in handles {
        let code = h.join();
        if code != 0 {
            error!(code, "worker ended abnormally");
        }
    }
}

/// Stops and closes both ports, freezes `/metrics` at the final counters
/// and prints them, with the mbufs of `pool` still in use once the ports
/// closed.
pub(super) fn close_ports(
    ports: Ports,
    shared: &Shared,
    slot: &SwappableSource,
    status: &Arc<ControlStatus>,
    pool: &Mempool,
) {
    let Ports {
        ac_tx,
        ac_rx,
        ul_tx,
        ul_rx,
        mut ac_port,
        mut ul_port,
    } = ports;
    // Every queue went to a worker, joined above: the ports can stop (the
    // RX lists were emptied by `start_workers`).
    drop((ul_rx, ac_rx));
    drop((ul_tx, ac_tx));
    for p in [&mut ul_port, &mut ac_port] {
        if let Err(e) = p.stop() {
            error!("{e}");
        }
    }
    let snap = shared.snapshot();
    // From now on `/metrics` serves the figures printed here (the ports'
    // counters read once they stopped).
    freeze(slot, status, snap.clone());
    let report = stats::final_report(&snap, ul_port.name(), ac_port.name());
    // Closed, a port's driver holds no mbuf; running, many keep the ones
    // they sent until their ring wraps (vector TX paths, virtio) and some
    // refill RX in batches, so only a count taken now tells a leak.
    drop(ul_port);
    drop(ac_port);
    let in_use = pool.in_use();
    crate::ops::print_out(&format!(
        "{report}  mbufs in use once the ports closed {in_use} (leaked {in_use})\n"
    ));
}
