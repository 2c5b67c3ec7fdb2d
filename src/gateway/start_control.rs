//! `run`'s first phases: `/metrics` bound (or, for a check, tried), then
//! the control plane's runtime, the etcd client and flannel's network config.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context as _;
use tracing::info;

use super::check_config::bounded;
use super::metrics_endpoint::{bind_metrics, check_metrics_addr, control_source};
use super::stop::{until_stop, ControlRuntime};
use super::{etcd_options, stopped, Started};
use crate::config::Config;
use crate::control::{Control, NetworkConfig};
use crate::ops::{MetricsServer, SwappableSource};

/// The metrics endpoint, serving `slot`. A check leaves the port to the
/// vxgate that may be running, but refuses what the start would, and warns
/// as it would about the lease's renewal (the flags alone decide it: before
/// etcd, which may not answer).
pub(super) fn open_metrics(
    cfg: &Config,
    slot: &Arc<SwappableSource>,
) -> anyhow::Result<Option<MetricsServer>> {
    let metrics = match cfg.metrics_addr {
        Some(addr) if cfg.check_only => {
            check_metrics_addr(addr)?;
            None
        }
        Some(addr) => Some(bind_metrics(addr, Arc::clone(slot))?),
        None => None,
    };
    if cfg.check_only {
        crate::control::warn_about_renewal(
            cfg.subnet_lease_ttl.as_secs(),
            cfg.subnet_lease_renew_margin.as_secs() / 60,
        );
    }
    Ok(metrics)
}

/// The control plane as far as etcd's network config.
///
/// Fields drop in declaration order, the reverse of the order they are
/// made in: as they dropped when they were `run`'s locals (`control` moves
/// to its task, `rt` is dropped explicitly once the task has stopped).
pub(super) struct Etcd {
    pub(super) net: NetworkConfig,
    pub(super) control: Control,
    pub(super) rt: ControlRuntime,
}

/// The control plane's runtime, the etcd client (its status then behind
/// `slot`) and flannel's network config, which comes first.
pub(super) fn connect_etcd(
    cfg: &Config,
    stop: &Arc<AtomicBool>,
    slot: &SwappableSource,
) -> Started<Etcd> {
    let rt = ControlRuntime(Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("vxgate-control")
            .enable_all()
            .build()
            .context("tokio runtime")?,
    ));
    let connect = Control::connect(etcd_options(cfg));
    let connect = bounded(cfg.check_only, "connecting to etcd", connect);
    let Some(control) = until_stop(&rt, stop, connect) else {
        return stopped(cfg, "connecting to etcd");
    };
    let mut control = control?;
    slot.set(control_source(&control.status()));
    let read = bounded(
        cfg.check_only,
        "reading flannel's network config",
        control.network_config(),
    );
    let Some(net) = until_stop(&rt, stop, read) else {
        return stopped(cfg, "waiting for the network config");
    };
    let net: NetworkConfig = net?;
    info!(
        endpoints = %cfg.etcd.endpoints.join(","),
        prefix = %cfg.etcd.prefix,
        network = %net.network,
        subnet_len = net.subnet_len,
        "flannel network config read from etcd"
    );
    Ok(Some(Etcd { net, control, rt }))
}
