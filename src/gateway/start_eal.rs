//! EAL started, and the worker lcores it gives checked against `--workers`.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use anyhow::bail;
use tracing::info;

use super::{stopped, Started};
use crate::config::Config;
use crate::dpdk::Eal;

/// EAL and its worker lcores, at least `--workers` of them. `run` binds
/// them in this order, so that the lcores' list drops before EAL, as its
/// locals did.
pub(super) fn start_eal(cfg: &Config, stop: &AtomicBool) -> Started<(Eal, Vec<u32>)> {
    let eal = Eal::init(&cfg.eal_args)?;
    info!(
        main_lcore = eal.main_lcore(),
        worker_lcores = ?eal.worker_lcores(),
        "EAL started"
    );
    // EAL can take seconds (hugepages, device probes): a stop asked for
    // meanwhile ends here, before any port is started (its link brought up).
    if stop.load(Relaxed) {
        return stopped(cfg, "starting EAL");
    }
    // `Eal::init` moved the control runtime's threads, started before it,
    // to the main lcore's CPUs: the table writer is never preempted on a
    // worker's CPU while that worker spins on a slot it left half-written.
    let lcores = eal.worker_lcores();
    let workers = usize::from(cfg.workers);
    if lcores.len() < workers {
        bail!(
            "--workers {workers} needs {workers} worker lcores besides the main one, but EAL has {} ({:?}): widen -l",
            lcores.len(),
            lcores
        );
    }
    Ok(Some((eal, lcores)))
}
