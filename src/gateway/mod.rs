//! `vxgate run`: wires the parts together. The metrics endpoint first (so
//! start-up can be watched, and a taken address is a config error), then
//! etcd's network config (it
//! decides whether `--subnet`/`--access-ip` can work: a config error before
//! EAL starts), then EAL and ports, our own lease, the tables, the workers on their lcores, the
//! slow path on the main lcore and the control plane on a tokio thread,
//! whose counters `/metrics` then serves; and the reverse on SIGINT/SIGTERM.
//!
//! By file: `run`, the phases in order, and the options it hands etcd's
//! client are here. The phases: `start_control` (`/metrics` bound, etcd
//! connected, its network config read), `check_subnet` (the subnet asked
//! for checked before EAL; the end of `--check-config`), `start_eal`,
//! `open_ports` (the pool, the ports and their queues), `own_addresses`
//! (our addresses probed), `own_lease`, `configure` (the pipeline's
//! context), `parts` (the tables and queues the workers and the slow path
//! share), `control_task` (the control plane's task, started and stopped),
//! `workers` (launched on their lcores, their counters served),
//! `main_lcore` (the slow path polled until the stop), `shutdown` (the
//! workers joined, the ports closed, the final report). Their helpers:
//! `stop` (the stop flag, the waits it cuts short, the control runtime's
//! shutdown), `check_config` (`--check-config`'s time bound and report),
//! `metrics_endpoint` (`/metrics` bound first, its sources, frozen at the
//! end), `probing` (the link waited for, what the address probe found),
//! `mtu` (the ports' and the tunnel's MTUs), `address_probe` (the ARP
//! probe itself), `requested` (the subnet asked for), `sink` (leases into
//! the tables), `stats` (counters for `/metrics` and the final report).
#![deny(unsafe_code)]

pub(crate) mod address_probe;
mod check_config;
mod check_subnet;
mod configure;
mod control_task;
mod main_lcore;
mod metrics_endpoint;
mod mtu;
mod open_ports;
mod own_addresses;
mod own_lease;
mod parts;
mod probing;
mod requested;
mod shutdown;
mod sink;
mod start_control;
mod start_eal;
mod stats;
mod stop;
mod workers;

#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tracing::info;

use crate::config::{Config, DeviceRef};
use crate::control::{ControlStatus, EtcdOptions};
use crate::dpdk;
use crate::ops::SwappableSource;
use crate::pipeline::slowpath_loop::SlowPath;
use crate::pipeline::tables::TableLookup;
use crate::pipeline::{Counters, WorkerState};

use check_subnet::{check_requested, finish_check};
use configure::configure_data_plane;
use control_task::{lease_sink, spawn_control, stop_control};
use main_lcore::poll_slow_path;
use metrics_endpoint::control_source;
use open_ports::{new_pool, open_ports, vtep_mac_apart};
use own_addresses::{access_ip_in, probe_access, probe_addresses};
use own_lease::acquire_lease;
use parts::make_parts;
use shutdown::{close_ports, join_workers};
use start_control::{connect_etcd, open_metrics};
use start_eal::start_eal;
use stop::stopped_during_startup;
use workers::{serve_data_plane, start_workers};

// For `tests` (`use super::*`).
#[cfg(test)]
use crate::config::ConfigError;
#[cfg(test)]
use metrics_endpoint::check_metrics_addr;
#[cfg(test)]
use mtu::tunnel_mtu;

pub use requested::requested_subnet;
pub use sink::TableSink;
pub use stats::Shared;

fn device(d: &DeviceRef) -> String {
    d.to_string()
}

fn etcd_options(cfg: &Config) -> EtcdOptions {
    let mut o = EtcdOptions::new(cfg.etcd.endpoints.clone());
    o.prefix = cfg.etcd.prefix.clone();
    if let Some(tls) = &cfg.etcd.tls {
        o.cafile = tls.ca_file.clone();
        if let Some(id) = &tls.identity {
            o.certfile = Some(id.cert_file.clone());
            o.keyfile = Some(id.key_file.clone());
        }
    }
    if let Some(a) = &cfg.etcd.auth {
        o.username = Some(a.username.clone());
        o.password = Some(a.password.clone());
    }
    o.renew_margin_min = cfg.subnet_lease_renew_margin.as_secs() / 60;
    o.lease_ttl_s = cfg.subnet_lease_ttl.as_secs();
    o
}

/// A start-up phase's outcome: `None` when a stop came during it, already
/// said by `stopped_during_startup` (while what the phase made was still
/// held); `run` then returns at once.
type Started<T> = anyhow::Result<Option<T>>;

/// A phase's end on a stop during start-up: said, then `None`.
fn stopped<T>(cfg: &Config, stage: &str) -> Started<T> {
    stopped_during_startup(cfg, stage).map(|()| None)
}

/// Runs the gateway until `stop` is raised: its phases in order.
///
/// Drop order: on every way out (each `?`, each return, the end) what
/// `run` holds is dropped in the reverse of the order it is bound in here,
/// where the phases' results are bound in the order of their making: the
/// workers told to stop before their handles wait for them, queues before
/// their ports, the ports before the pool, the pool before EAL, and
/// `/metrics` last. The end drops what matters explicitly, in this order.
pub fn run(cfg: Config, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    // Until the etcd client exists, a status of its own: not connected.
    let slot = Arc::new(SwappableSource::new(control_source(&Arc::new(
        ControlStatus::new(),
    ))));
    let _metrics = open_metrics(&cfg, &slot)?;
    // The machine's side of the configuration, before etcd (which may
    // keep a start waiting): EAL's options and the CPUs for the lcores,
    // the ports' devices.
    cfg.check_before_eal()?;
    let Some(mut etcd) = connect_etcd(&cfg, &stop, &slot)? else {
        return Ok(());
    };
    let Some(requested) = check_requested(&cfg, &stop, &mut etcd)? else {
        return Ok(());
    };
    if cfg.check_only {
        return finish_check(&cfg, &stop, &mut etcd, requested);
    }

    let Some((eal, lcores)) = start_eal(&cfg, &stop)? else {
        return Ok(());
    };
    let data_room = dpdk::data_room_for_mtus([cfg.underlay_mtu, cfg.access_mtu]);
    let pool = new_pool(&cfg, &eal, data_room)?;
    let Some(mut ports) = open_ports(&cfg, &stop, &eal, &pool, data_room)? else {
        return Ok(());
    };
    vtep_mac_apart(&cfg, etcd.net.backend.vni, &ports)?;
    let slow_counters = Arc::new(Counters::new());
    let Some(access_known) =
        probe_addresses(&cfg, &stop, requested, &mut ports, &pool, &slow_counters)?
    else {
        return Ok(());
    };
    // Our own lease, now that the ports can serve it.
    let Some((vtep_mac, own)) = acquire_lease(&cfg, &stop, &mut etcd, requested)? else {
        return Ok(());
    };
    let access_ip = access_ip_in(&cfg, &own)?;
    // Known only now (a subnet acquired, not requested): probed now.
    if access_known.is_none()
        && probe_access(&cfg, &stop, access_ip, &mut ports, &pool, &slow_counters)?.is_none()
    {
        return Ok(());
    }
    let ctx = configure_data_plane(
        &cfg, &etcd.net, &own, access_ip, &ports, data_room, vtep_mac,
    )?;
    let (lease_tables, parts) = make_parts(&cfg, &eal);

    // Control plane: watch leases into the tables until shutdown.
    let status = etcd.control.status();
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let table_sink = lease_sink(&cfg, lease_tables, &own, vtep_mac, &ctx);
    let control_task = spawn_control(&etcd.rt, etcd.control, table_sink, &shutdown);

    // Workers.
    let mut shared = Shared::new(
        ports.ul_port.id(),
        ports.ac_port.id(),
        Arc::clone(&status),
        Arc::clone(&pool),
    );
    // In this order, so the workers are told to stop before their handles
    // wait for them.
    let (handles, _stop_workers) =
        start_workers(&eal, &lcores, &stop, &mut ports, &mut shared, &parts, &ctx)?;
    shared.counters.push(Arc::clone(&slow_counters));
    let neighbor_counts = Arc::clone(&shared.neighbors);
    let mut slow = SlowPath::new(
        ctx.clone(),
        TableLookup {
            leases: parts.lease_readers,
            neighbors: parts.neighbor_readers,
        },
        WorkerState::new(slow_counters, cfg.workers),
        parts.neighbors,
        Arc::clone(&parts.punt),
        Arc::clone(&pool),
        Arc::clone(&parts.outgoing),
    );
    let shared = Arc::new(shared);
    let metrics = serve_data_plane(&slot, &shared, &status);
    info!("vxgate running");

    // The main lcore runs the slow path until told to stop.
    poll_slow_path(&mut slow, &neighbor_counts, &stop);

    // Stop: workers finish their burst, the control plane lets go (our lease
    // stays in etcd), ports stop, final counters.
    info!("stopping");
    join_workers(handles);
    slow.shutdown();
    drop(slow);
    drop(parts.punt);
    drop(parts.outgoing);
    stop_control(&etcd.rt, &shutdown, control_task);
    drop(etcd.rt);
    // `/metrics` frozen before the ports stop: a scrape must not read a
    // port's statistics while it is being stopped.
    drop(metrics);
    // The ports closed before the last count of the pool's mbufs in use.
    close_ports(ports, &shared, &slot, &status, &pool);
    drop(shared);
    drop(pool);
    drop(eal);
    Ok(())
}
