//! `vxgate run`: wires the parts together. The metrics endpoint first (so
//! start-up can be watched, and a taken address is a config error), then
//! etcd's network config (it
//! decides whether `--subnet`/`--access-ip` can work: a config error before
//! EAL starts), then EAL and ports, our own lease, the tables, the workers on their lcores, the
//! slow path on the main lcore and the control plane on a tokio thread,
//! whose counters `/metrics` then serves; and the reverse on SIGINT/SIGTERM.
#![deny(unsafe_code)]

pub(crate) mod address_probe;
mod requested;
mod sink;
mod stats;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tracing::{error, info, warn};

use crate::config::{Config, ConfigError, DeviceRef, Side as CfgSide};
use crate::control::{Control, ControlStatus, EtcdOptions, NetworkConfig, OwnLease};
use crate::dpdk::{self, Eal, Mempool, Port, PortConf};
use crate::ops::{MetricsServer, MetricsSource, SwappableSource};
use crate::pipeline::context::{Context, ContextConfig, Prefix};
use crate::pipeline::slowpath_loop::SlowPath;
use crate::pipeline::tables::TableLookup;
use crate::pipeline::worker::{OutgoingQueue, PuntQueue, Queues, Worker, WorkerStats};
use crate::pipeline::{Counters, WorkerState};
use crate::table::{LeaseTables, NeighborPort, NeighborTables};
use crate::wire::{MacAddr, Vni};

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

/// Raises the stop flag when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Relaxed);
    }
}

/// Runs `fut` unless `stop` is raised first.
fn until_stop<T>(
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

/// The port's MTU, or the largest one buffer of `data_room` holds when the
/// port's own is larger (a device that starts with a jumbo MTU nobody
/// asked for): then what vxgate advertises in ICMP fragmentation-needed and
/// checks against is what it can really carry, and the operator is told.
fn usable_mtu(port: &Port, flag: &str, data_room: u16) -> u16 {
    capped_mtu(port.name(), flag, port.mtu(), data_room)
}

/// The tunnel MTU (the largest inner IPv4 packet encap takes): Backend.MTU
/// minus the 50 bytes of VXLAN headers when set (SPEC), else the underlay
/// port's MTU minus 50, and never more than the port carries: a VXLAN
/// frame larger than the port's MTU would be lost in the driver,
/// uncounted, where a packet above the tunnel MTU gets ICMP
/// fragmentation-needed or is fragmented (when DF is clear).
fn tunnel_mtu(backend_mtu: Option<u32>, port_mtu: u16) -> u16 {
    let fits_port = port_mtu.saturating_sub(50);
    let Some(m) = backend_mtu else {
        return fits_port;
    };
    let wanted = m.saturating_sub(50);
    if wanted > u32::from(fits_port) {
        warn!(
            backend_mtu = m,
            port_mtu,
            tunnel_mtu = fits_port,
            "Backend.MTU in etcd exceeds the underlay port's MTU: the tunnel MTU is capped at the port's MTU minus 50 (larger packets get ICMP fragmentation-needed, or are fragmented when DF is clear); raise the port MTU (--underlay-mtu) or lower Backend.MTU"
        );
    }
    wanted.min(u32::from(fits_port)) as u16
}

fn capped_mtu(port: &str, flag: &str, mtu: u16, data_room: u16) -> u16 {
    let max = dpdk::mtu_for_data_room(data_room);
    if mtu > max {
        warn!(
            port,
            port_mtu = mtu,
            using = max,
            "port MTU above what one packet buffer holds: vxgate uses the smaller MTU (larger frames are dropped by the port); give --{flag} {mtu} to size the buffers for it"
        );
    }
    mtu.min(max)
}

/// The control plane's runtime, shut down without waiting for its tasks
/// or blocking threads on every way out of `run`: the etcd client's
/// background tasks hold nothing we need, and a name lookup of an etcd
/// host (`getaddrinfo` on a blocking thread) can take many seconds.
struct ControlRuntime(Option<tokio::runtime::Runtime>);

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
fn stopped_during_startup(cfg: &Config, stage: &str) -> anyhow::Result<()> {
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

/// `/metrics` from the control plane alone, the data plane's figures at
/// zero: while starting.
fn control_source(status: &Arc<ControlStatus>) -> Arc<dyn MetricsSource> {
    let status = Arc::clone(status);
    Arc::new(move || stats::control_snapshot(&status))
}

/// Binds `--metrics-addr` before anything else starts: an address that is
/// taken, not ours or not permitted is a config error (exit 2), found before
/// EAL rather than after it, the ports and our lease.
fn bind_metrics(addr: SocketAddr, source: Arc<SwappableSource>) -> anyhow::Result<MetricsServer> {
    crate::ops::serve(addr, source).map_err(|e| metrics_bind_error(addr, e))
}

/// What the address probe found, as the start goes on or ends (an address
/// in use other than the underlay's is the access address); `lease_held`:
/// our lease is in etcd already (it stays there, as on a stop).
fn probe_verdict(
    cfg: &Config,
    probed: address_probe::Probed,
    lease_held: bool,
) -> anyhow::Result<()> {
    let written = if lease_held {
        "Our lease stays in etcd, as on a stop; the next start takes it back"
    } else {
        "Nothing was written to etcd"
    };
    match probed {
        address_probe::Probed::Free => Ok(()),
        address_probe::Probed::Stopped => {
            stopped_during_startup(cfg, "probing our addresses")
        }
        address_probe::Probed::InUse { ip, mac } if ip == cfg.underlay_ip.addr() => bail!(
            "--underlay-ip {ip} is in use on the underlay: {mac} answers for it (ARP probe, RFC 5227). Another gateway or host holds this address; give each gateway its own --underlay-ip. {written}"
        ),
        address_probe::Probed::InUse { ip, mac } => bail!(
            "the access address {ip} is in use on the access segment: {mac} answers for it (ARP probe, RFC 5227). Give vxgate an --access-ip that no host of the subnet uses, or take the address off that host. {written}"
        ),
    }
}

/// How long a NIC's link is waited for before the address probe.
const LINK_WAIT: Duration = Duration::from_secs(5);

/// Waits up to `LINK_WAIT` for a NIC's link to come up (autonegotiation
/// takes a second or more), so that the address probe is not sent into a
/// link that is still down. The software devices are up once started.
fn wait_for_link(port: &Port, stop: &AtomicBool) {
    let t0 = Instant::now();
    while !port.link().up {
        if stop.load(Relaxed) {
            return;
        }
        if t0.elapsed() >= LINK_WAIT {
            warn!(
                port = port.name(),
                "underlay link still down after {LINK_WAIT:?}: its address is probed for conflicts anyway, and the probe may go unheard"
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `--check-config`'s version of [`bind_metrics`]: binds and closes at
/// once, so an address the start would refuse is refused alike. In use is
/// fine: the check may run beside the live vxgate that holds it.
fn check_metrics_addr(addr: SocketAddr) -> anyhow::Result<()> {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Ok(()),
        Err(e) => Err(metrics_bind_error(addr, e)),
    }
}

/// Why `addr` cannot be listened on, as a config error (exit 2) where the
/// operator must change it.
fn metrics_bind_error(addr: SocketAddr, e: std::io::Error) -> anyhow::Error {
    use std::io::ErrorKind;
    let problem = match e.kind() {
        ErrorKind::AddrInUse => "cannot listen: the address is already in use",
        ErrorKind::AddrNotAvailable => "cannot listen: no interface of this host has that address",
        ErrorKind::PermissionDenied => {
            "cannot listen: not permitted (a port below 1024 needs CAP_NET_BIND_SERVICE)"
        }
        _ => return anyhow::Error::new(e).context(format!("--metrics-addr {addr}")),
    };
    ConfigError::invalid(
        "metrics-addr",
        addr,
        problem,
        "give --metrics-addr a free HOST:PORT of this host (e.g. 127.0.0.1:9477), or stop what listens there (ss -ltnp)",
    )
    .into()
}

/// When dropped, freezes the data plane's figures in `/metrics` (read
/// once more, then served from memory) beside the control plane's live
/// ones. Dropped after the workers are joined and before the ports are
/// torn down: once it has run, no scrape reads them.
struct DataPlaneMetrics {
    slot: Arc<SwappableSource>,
    status: Arc<ControlStatus>,
}

impl Drop for DataPlaneMetrics {
    fn drop(&mut self) {
        freeze(&self.slot, &self.status, self.slot.snapshot());
    }
}

/// Serves `last`, the data plane's figures, from memory from now on,
/// beside the control plane's live ones.
fn freeze(slot: &SwappableSource, status: &Arc<ControlStatus>, last: crate::ops::MetricsSnapshot) {
    let status = Arc::clone(status);
    slot.set(Arc::new(move || stats::stopped_snapshot(&last, &status)));
}

/// How long `--check-config` waits for etcd's network config.
const CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// `f` (a step against etcd): as long as it takes when starting (flanneld
/// waits too), at most `CHECK_WAIT` when only checking.
async fn bounded<T, E>(
    check_only: bool,
    what: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T>
where
    E: Into<anyhow::Error>,
{
    if !check_only {
        return f.await.map_err(Into::into);
    }
    match tokio::time::timeout(CHECK_WAIT, f).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => anyhow::bail!(
            "--check-config: {what} did not succeed within {CHECK_WAIT:?} (etcd unreachable, or the config key missing: see the log above)"
        ),
    }
}

/// What `--check-config` prints when everything checked out.
fn check_report(cfg: &Config, net: &NetworkConfig, subnet: &str) -> String {
    format!(
        "configuration OK: underlay {} {}, access {}, subnet {subnet}, flannel Network {} (SubnetLen {}, VNI {}, port {}), {} worker(s), {} mbufs; EAL probes the devices at start\n",
        device(&cfg.underlay_dev),
        cfg.underlay_ip,
        device(&cfg.access_dev),
        net.network,
        net.subnet_len,
        net.backend.vni,
        net.backend.port,
        cfg.workers,
        cfg.mbufs,
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `--check-config` refuses a metrics address as the start would
    /// (same config error, exit 2), except one in use: the live vxgate's.
    #[test]
    fn check_config_refuses_metrics_addrs_the_start_would_refuse() {
        let config_error = |r: anyhow::Result<()>| {
            let e = r.expect_err("refused");
            let ce = e.downcast_ref::<ConfigError>().expect("a config error");
            assert_eq!(ce.key(), Some("metrics-addr"), "{ce}");
            assert_eq!(ce.exit_code(), 2, "{ce}");
            ce.to_string()
        };
        // Held by someone else: fine for a check.
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(check_metrics_addr(held.local_addr().unwrap()).is_ok());
        // Free: fine, and left free (the listener was closed).
        let free = held.local_addr().unwrap();
        drop(held);
        check_metrics_addr(free).unwrap();
        std::net::TcpListener::bind(free).expect("the check left the port free");
        // Not an address of this host (TEST-NET-3).
        let msg = config_error(check_metrics_addr("203.0.113.77:9477".parse().unwrap()));
        assert!(
            msg.contains("no interface of this host has that address"),
            "{msg}"
        );
        // A port below 1024 without the capability (the tests may run as
        // root, so the kernel's answer is given here).
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let msg = config_error(Err(metrics_bind_error(free, denied)));
        assert!(msg.contains("CAP_NET_BIND_SERVICE"), "{msg}");
    }

    #[test]
    fn mtu_is_capped_to_what_one_buffer_holds() {
        let room = dpdk::DEFAULT_DATA_ROOM;
        assert_eq!(capped_mtu("p", "underlay-mtu", 1500, room), 1500);
        assert_eq!(capped_mtu("p", "underlay-mtu", 2022, room), 2022);
        assert_eq!(capped_mtu("p", "underlay-mtu", 2034, room), 2022);
        assert_eq!(capped_mtu("p", "underlay-mtu", 9000, room), 2022);
        let jumbo = dpdk::data_room_for_mtus([Some(9000)]);
        assert_eq!(capped_mtu("p", "underlay-mtu", 9000, jumbo), 9000);
    }

    #[test]
    fn tunnel_mtu_is_backend_mtu_minus_50_within_the_port() {
        assert_eq!(tunnel_mtu(None, 1500), 1450);
        assert_eq!(tunnel_mtu(None, 9000), 8950);
        assert_eq!(tunnel_mtu(Some(1400), 1500), 1350);
        assert_eq!(tunnel_mtu(Some(1500), 1500), 1450);
        // Above the port: capped, so every VXLAN frame fits it.
        assert_eq!(tunnel_mtu(Some(9000), 1500), 1450);
        assert_eq!(tunnel_mtu(Some(u32::MAX), 9000), 8950);
        assert_eq!(tunnel_mtu(Some(10), 1500), 0);
    }
}
