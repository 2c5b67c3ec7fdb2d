//! Stopping: the flag raised on drop, waits a stop cuts short, a stop during start-up, the control runtime let go.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use super::{device, stats};
use crate::config::Config;

/// Raises the stop flag when dropped.
pub(super) struct StopOnDrop(pub(super) Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Relaxed);
    }
}

/// Runs `fut` unless `stop` is raised first.
pub(super) fn until_stop<T>(
    rt: &tokio::runtime::Runtime,
    stop: &Arc<AtomicBool>,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    let stop = Arc::clone(stop);
    rt.block_on(async move {
        tokio::select! {
            v = fut => Some(v),
            _ = async {
                while !stop.load(Relaxed) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            } => None,
        }
    })
}

/// The control plane's runtime, shut down without waiting for its tasks
/// or blocking threads on every way out of `run`: the etcd client's
/// background tasks hold nothing we need, and a name lookup of an etcd
/// host (`getaddrinfo` on a blocking thread) can take many seconds.
pub(super) struct ControlRuntime(pub(super) Option<tokio::runtime::Runtime>);

impl std::ops::Deref for ControlRuntime {
    type Target = tokio::runtime::Runtime;
    fn deref(&self) -> &Self::Target {
        // Some until dropped.
        self.0
            .as_ref()
            .expect("control runtime used after shutdown")
    }
}

impl Drop for ControlRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// What a stop during start-up prints: SIGINT/SIGTERM always end with the
/// final counters (all zero: nothing was forwarded yet).
pub(super) fn stopped_during_startup(cfg: &Config, stage: &str) -> anyhow::Result<()> {
    if cfg.check_only {
        // Not a pass: a script reading the exit code must not take it for one.
        anyhow::bail!("--check-config interrupted while {stage}: nothing was checked to the end");
    }
    info!(stage, "stopped during start-up");
    crate::ops::print_out(&stats::final_report(
        &crate::ops::MetricsSnapshot::default(),
        &device(&cfg.underlay_dev),
        &device(&cfg.access_dev),
    ));
    Ok(())
}
