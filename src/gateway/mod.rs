//! `vxgate run`: wires the parts together. The metrics endpoint first (so
//! start-up can be watched, and a taken address is a config error), then
//! etcd's network config (it
//! decides whether `--subnet`/`--access-ip` can work: a config error before
//! EAL starts), then EAL and ports, our own lease, the tables, the workers on their lcores, the
//! slow path on the main lcore and the control plane on a tokio thread,
//! whose counters `/metrics` then serves; and the reverse on SIGINT/SIGTERM.
//!
//! By file: `run` and the options it hands etcd's client are here; `stop`
//! (the stop flag, the waits it cuts short, the control runtime's
//! shutdown), `check_config` (`--check-config`'s time bound and report),
//! `metrics_endpoint` (`/metrics` bound first, its sources, frozen at the
//! end), `probing` (the link waited for, what the address probe found),
//! `mtu` (the ports' and the tunnel's MTUs), `address_probe` (the ARP
//! probe itself), `requested` (the subnet asked for), `sink` (leases into
//! the tables), `stats` (counters for `/metrics` and the final report).
#![deny(unsafe_code)]

pub(crate) mod address_probe;
mod check_config;
mod metrics_endpoint;
mod mtu;
mod probing;
mod requested;
mod sink;
mod stats;
mod stop;

#[cfg(test)]
mod tests;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tracing::{error, info};

use crate::config::{Config, ConfigError, DeviceRef, Side as CfgSide};
use crate::control::{Control, ControlStatus, EtcdOptions, NetworkConfig, OwnLease};
use crate::dpdk::{self, Eal, Mempool, Port, PortConf};
use crate::ops::SwappableSource;
use crate::pipeline::context::{Context, ContextConfig, Prefix};
use crate::pipeline::slowpath_loop::SlowPath;
use crate::pipeline::tables::TableLookup;
use crate::pipeline::worker::{OutgoingQueue, PuntQueue, Queues, Worker, WorkerStats};
use crate::pipeline::{Counters, WorkerState};
use crate::table::{LeaseTables, NeighborPort, NeighborTables};
use crate::wire::{MacAddr, Vni};

use check_config::{bounded, check_report};
use metrics_endpoint::{
    bind_metrics, check_metrics_addr, control_source, freeze, DataPlaneMetrics,
};
use mtu::{tunnel_mtu, usable_mtu};
use probing::{probe_verdict, wait_for_link};
use stop::{stopped_during_startup, until_stop, ControlRuntime, StopOnDrop};

pub use requested::requested_subnet;
pub use sink::TableSink;
pub use stats::Shared;

/// Punted packets waiting for the slow path, all workers together.
const PUNT_QUEUE: usize = 4096;

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

/// Runs the gateway until `stop` is raised.
pub fn run(cfg: Config, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    // Until the etcd client exists, a status of its own: not connected.
    let slot = Arc::new(SwappableSource::new(control_source(&Arc::new(
        ControlStatus::new(),
    ))));
    // A check leaves the port to the vxgate that may be running, but
    // refuses what the start would, and warns as it would about the
    // lease's renewal (the flags alone decide it: before etcd, which may
    // not answer).
    let _metrics = match cfg.metrics_addr {
        Some(addr) if cfg.check_only => {
            check_metrics_addr(addr)?;
            None
        }
        Some(addr) => Some(bind_metrics(addr, Arc::clone(&slot))?),
        None => None,
    };
    if cfg.check_only {
        crate::control::warn_about_renewal(
            cfg.subnet_lease_ttl.as_secs(),
            cfg.subnet_lease_renew_margin.as_secs() / 60,
        );
    }
    // The machine's side of the configuration, before etcd (which may
    // keep a start waiting): EAL's options and the CPUs for the lcores,
    // the ports' devices.
    cfg.check_before_eal()?;
    // The control plane's runtime; etcd's network config comes first.
    let rt = ControlRuntime(Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("vxgate-control")
            .enable_all()
            .build()
            .context("tokio runtime")?,
    ));
    let connect = Control::connect(etcd_options(&cfg));
    let connect = bounded(cfg.check_only, "connecting to etcd", connect);
    let Some(control) = until_stop(&rt, &stop, connect) else {
        return stopped_during_startup(&cfg, "connecting to etcd");
    };
    let mut control = control?;
    slot.set(control_source(&control.status()));
    let read = bounded(
        cfg.check_only,
        "reading flannel's network config",
        control.network_config(),
    );
    let Some(net) = until_stop(&rt, &stop, read) else {
        return stopped_during_startup(&cfg, "waiting for the network config");
    };
    let net: NetworkConfig = net?;
    info!(
        endpoints = %cfg.etcd.endpoints.join(","),
        prefix = %cfg.etcd.prefix,
        network = %net.network,
        subnet_len = net.subnet_len,
        "flannel network config read from etcd"
    );
    // A ConfigError: `main` exits with code 2, before EAL starts.
    let access_neighbors: Vec<Ipv4Addr> = cfg
        .neighbors
        .iter()
        .filter(|n| n.side == CfgSide::Access)
        .map(|n| n.ip)
        .collect();
    let network = crate::config::Ipv4Cidr::new(net.network.addr, net.network.len)
        .context("flannel's Network is not a valid CIDR")?;
    cfg.check_access_neighbors_in_network(network)?;
    let requested = requested_subnet(cfg.subnet, cfg.access_ip, &access_neighbors, &net)?;
    requested::check_underlay_clear(requested, cfg.underlay_ip, &net)?;
    // With access neighbours a subnet is always requested, and a requested
    // subnet is the one acquired: this is their only check against it.
    if let Some(s) = requested {
        let cidr = crate::config::Ipv4Cidr::new(s.addr, s.len)
            .context("requested subnet is not a valid CIDR")?;
        cfg.check_access_neighbors(cidr, cfg.access_ip_for(cidr))?;
        // Held by another node: said now, before EAL and the ports start.
        let Some(free) = until_stop(
            &rt,
            &stop,
            control.check_requested_free(cfg.underlay_ip.addr(), s),
        ) else {
            return stopped_during_startup(&cfg, "checking the requested subnet");
        };
        free?;
    }
    // A user that may read but not write the lease: said now, before EAL.
    let Some(writable) = until_stop(
        &rt,
        &stop,
        bounded(
            cfg.check_only,
            "checking the right to write the lease",
            control.check_writable(requested),
        ),
    ) else {
        return stopped_during_startup(&cfg, "checking the right to write the lease");
    };
    writable?;
    if cfg.check_only {
        // The whole list, as the start's acquisition reads it (after EAL):
        // another node's lease with our VtepMAC, and without --subnet
        // what a start would take, or NoFreeSubnet.
        let vtep_mac = cfg.vtep_mac_for(net.backend.vni);
        let read = bounded(
            true,
            "reading the leases",
            control.check_acquirable(cfg.underlay_ip.addr(), vtep_mac, requested),
        );
        let Some(back) = until_stop(&rt, &stop, read) else {
            return stopped_during_startup(&cfg, "reading the leases");
        };
        // The hugepages as EAL would find them (a start fails in EAL).
        dpdk::check_hugepages(&cfg.eal_args)?;
        let subnet = match (requested, back?) {
            (Some(s), _) => format!("{s} (free, or ours)"),
            (None, Some(s)) => format!("{s} (ours, taken back at start)"),
            (None, None) => "a free one, acquired at start".to_string(),
        };
        crate::ops::print_out(&check_report(&cfg, &net, &subnet));
        return Ok(());
    }

    let eal = Eal::init(&cfg.eal_args)?;
    info!(
        main_lcore = eal.main_lcore(),
        worker_lcores = ?eal.worker_lcores(),
        "EAL started"
    );
    // EAL can take seconds (hugepages, device probes): a stop asked for
    // meanwhile ends here, before any port is started (its link brought up).
    if stop.load(Relaxed) {
        return stopped_during_startup(&cfg, "starting EAL");
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
    let data_room = dpdk::data_room_for_mtus([cfg.underlay_mtu, cfg.access_mtu]);
    let pool = Arc::new(Mempool::new(
        &eal,
        "vxgate_pool",
        cfg.mbufs,
        256,
        data_room,
    )?);
    // One RX and one TX queue per worker on each port.
    let conf = |mtu| PortConf {
        rx_queues: cfg.workers,
        tx_queues: cfg.workers,
        mtu,
        ..PortConf::default()
    };
    let (ul_dev, ac_dev) = (device(&cfg.underlay_dev), device(&cfg.access_dev));
    // A configuration error found only now (exit 2: a restart cannot
    // help), as the same name given twice is before EAL.
    if dpdk::find_port(&ul_dev)? == dpdk::find_port(&ac_dev)? {
        return Err(ConfigError::invalid(
            "access",
            &ac_dev,
            format!("it is the same port as --underlay {ul_dev}"),
            "give two different ports",
        )
        .into());
    }
    let mut ul_port = Port::open(&eal, &ul_dev, &conf(cfg.underlay_mtu), &pool)?;
    let mut ac_port = Port::open(&eal, &ac_dev, &conf(cfg.access_mtu), &pool)?;
    // A large pool and real NICs take seconds too: a stop asked for
    // meanwhile still comes before any link is brought up.
    if stop.load(Relaxed) {
        return stopped_during_startup(&cfg, "opening the ports");
    }
    let (mut ul_rx, mut ul_tx) = ul_port.start()?;
    let (mut ac_rx, mut ac_tx) = ac_port.start()?;
    info!(
        underlay = ul_port.name(),
        underlay_driver = %ul_port.info().driver,
        underlay_mac = %MacAddr(ul_port.mac()),
        access = ac_port.name(),
        access_driver = %ac_port.info().driver,
        access_mac = %MacAddr(ac_port.mac()),
        workers,
        mbufs = cfg.mbufs,
        data_room,
        underlay_mtu = ul_port.mtu(),
        access_mtu = ac_port.mtu(),
        "ports started"
    );

    // Nobody else may answer for our underlay address: checked before
    // anything is written to etcd or announced (a second gateway given the
    // same --underlay-ip would take the first one's lease as its own); the
    // access address with it when the requested subnet already tells it.
    let slow_counters = Arc::new(Counters::new());
    for p in [&ul_port, &ac_port] {
        if !p.info().is_software() {
            wait_for_link(p, &stop);
        }
    }
    let access_known = requested
        .map(|s| crate::config::Ipv4Cidr::new(s.addr, s.len))
        .transpose()
        .context("requested subnet is not a valid CIDR")?
        .map(|c| cfg.access_ip_for(c).addr());
    let mut probe_targets = vec![address_probe::Target {
        rx: &mut ul_rx,
        tx: &mut ul_tx[0],
        mac: MacAddr(ul_port.mac()),
        ip: cfg.underlay_ip.addr(),
    }];
    if let Some(ip) = access_known {
        probe_targets.push(address_probe::Target {
            rx: &mut ac_rx,
            tx: &mut ac_tx[0],
            mac: MacAddr(ac_port.mac()),
            ip,
        });
    }
    let probed = address_probe::probe(&mut probe_targets, &pool, &slow_counters, &stop);
    drop(probe_targets);
    probe_verdict(&cfg, probed, false)?;

    // Our own lease, now that the ports can serve it.
    let vni = net.backend.vni;
    let vtep_mac = cfg.vtep_mac_for(vni);
    let Some(own) = until_stop(
        &rt,
        &stop,
        control.acquire_own_lease(cfg.underlay_ip.addr(), vtep_mac, requested),
    ) else {
        return stopped_during_startup(&cfg, "acquiring our lease");
    };
    let own: OwnLease = own?;
    info!(
        subnet = %own.subnet,
        key = %own.key,
        public_ip = %cfg.underlay_ip.addr(),
        reservation = own.is_reservation(),
        vtep_mac = %MacAddr(vtep_mac),
        "own lease held"
    );

    let subnet_cidr = crate::config::Ipv4Cidr::new(own.subnet.addr, own.subnet.len)
        .map_err(|e| anyhow::anyhow!("own subnet {}: {e}", own.subnet))?;
    let access_ip = cfg.access_ip_for(subnet_cidr);
    if !subnet_cidr.contains(access_ip.addr()) {
        bail!(
            "--access-ip {access_ip} is not inside our subnet {}: pick an address inside it",
            own.subnet
        );
    }
    // Known only now (a subnet acquired, not requested): probed now.
    if access_known.is_none() {
        let mut target = [address_probe::Target {
            rx: &mut ac_rx,
            tx: &mut ac_tx[0],
            mac: MacAddr(ac_port.mac()),
            ip: access_ip.addr(),
        }];
        let probed = address_probe::probe(&mut target, &pool, &slow_counters, &stop);
        probe_verdict(&cfg, probed, true)?;
    }
    let (ul_mtu, ac_mtu) = (
        usable_mtu(&ul_port, "underlay-mtu", data_room),
        usable_mtu(&ac_port, "access-mtu", data_room),
    );
    let tunnel_mtu = tunnel_mtu(net.backend.mtu, ul_mtu);
    let prefix = |a: Ipv4Addr, l: u8| Prefix::new(a, l).context("prefix length above 32");
    let ctx = Context::new(ContextConfig {
        underlay_ip: cfg.underlay_ip.addr(),
        underlay_mac: MacAddr(ul_port.mac()),
        underlay_prefix: prefix(cfg.underlay_ip.network_addr(), cfg.underlay_ip.prefix_len())?,
        underlay_gateway: cfg.underlay_gateway,
        access_ip: access_ip.addr(),
        access_mac: MacAddr(ac_port.mac()),
        subnet: prefix(own.subnet.addr, own.subnet.len)?,
        network: prefix(net.network.addr, net.network.len)?,
        subnet_len: net.subnet_len,
        vni: Vni::new(vni).context("VNI above 24 bits")?,
        udp_port: net.backend.port,
        tunnel_mtu,
        underlay_mtu: ul_mtu,
        access_mtu: ac_mtu,
        vtep_mac: MacAddr(vtep_mac),
        direct_routing: net.backend.direct_routing,
    })?;
    info!(
        vni,
        port = net.backend.port,
        tunnel_mtu,
        access_ip = %access_ip,
        underlay_ip = %cfg.underlay_ip,
        underlay_gateway = %cfg
            .underlay_gateway
            .map_or_else(|| "none".to_string(), |g| g.to_string()),
        network = %net.network,
        direct_routing = net.backend.direct_routing,
        "data plane configured"
    );

    // Tables: leases from etcd (control thread), neighbours (slow path).
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

    // Control plane: watch leases into the tables until shutdown.
    let status = control.status();
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let mut table_sink = TableSink {
        tables: lease_tables,
        own: Some(own.subnet),
        own_ip: cfg.underlay_ip.addr(),
        own_vtep_mac: vtep_mac,
        underlay: ctx.cfg.underlay_prefix,
        repeat_log: Default::default(),
    };
    let control_task = {
        let shutdown = Arc::clone(&shutdown);
        rt.spawn(async move {
            let r = control.run(&mut table_sink, shutdown.notified()).await;
            if let Err(e) = &r {
                error!("control plane stopped: {e}");
            }
            r
        })
    };

    // Workers.
    let mut shared = Shared::new(
        ul_port.id(),
        ac_port.id(),
        Arc::clone(&status),
        Arc::clone(&pool),
    );
    let mut handles = Vec::new();
    // Declared after `handles`, so dropped before them: on any early return
    // the workers are told to stop before their handles wait for them.
    let _stop_workers = StopOnDrop(Arc::clone(&stop));
    for (i, ((ulr, acr), lcore)) in ul_rx
        .into_iter()
        .zip(ac_rx)
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
                leases: lease_readers.clone(),
                neighbors: neighbor_readers.clone(),
            },
            state: WorkerState::new(counters, i as u16),
            underlay: Queues {
                rx: ulr,
                tx: ul_tx.remove(0),
            },
            access: Queues {
                rx: acr,
                tx: ac_tx.remove(0),
            },
            punt: Arc::clone(&punt),
            outgoing: (i == 0).then(|| Arc::clone(&outgoing)),
            stats: wstats,
            ns_per_tick: tsc_ns,
        };
        let s = Arc::clone(&stop);
        handles.push(eal.launch(lcore, move || {
            w.run(&s);
            0
        })?);
    }
    shared.counters.push(Arc::clone(&slow_counters));
    let neighbor_counts = Arc::clone(&shared.neighbors);
    let mut slow = SlowPath::new(
        ctx.clone(),
        TableLookup {
            leases: lease_readers,
            neighbors: neighbor_readers,
        },
        WorkerState::new(slow_counters, workers as u16),
        neighbors,
        Arc::clone(&punt),
        Arc::clone(&pool),
        Arc::clone(&outgoing),
    );
    let shared = Arc::new(shared);
    let metrics = {
        let src = Arc::clone(&shared);
        slot.set(Arc::new(move || src.snapshot()));
        DataPlaneMetrics {
            slot: Arc::clone(&slot),
            status: Arc::clone(&status),
        }
    };
    info!("vxgate running");

    // The main lcore runs the slow path until told to stop.
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
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    // Stop: workers finish their burst, the control plane lets go (our lease
    // stays in etcd), ports stop, final counters.
    info!("stopping");
    for h in handles {
        let code = h.join();
        if code != 0 {
            error!(code, "worker ended abnormally");
        }
    }
    slow.shutdown();
    drop(slow);
    drop(punt);
    drop(outgoing);
    shutdown.notify_waiters();
    shutdown.notify_one();
    let _ =
        rt.block_on(async { tokio::time::timeout(Duration::from_millis(500), control_task).await });
    drop(rt);
    // `/metrics` frozen before the ports stop: a scrape must not read a
    // port's statistics while it is being stopped.
    drop(metrics);
    // Every queue went to a worker, joined above: the ports can stop.
    drop((ul_tx, ac_tx));
    for p in [&mut ul_port, &mut ac_port] {
        if let Err(e) = p.stop() {
            error!("{e}");
        }
    }
    let snap = shared.snapshot();
    // From now on `/metrics` serves the figures printed here (the ports'
    // counters read once they stopped).
    freeze(&slot, &status, snap.clone());
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
    drop(shared);
    drop(pool);
    drop(eal);
    Ok(())
}
