//! The underlay and access ports opened on the pool and started, one RX and
//! one TX queue per worker on each.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use tracing::info;

use super::{device, stopped, Started};
use crate::config::{Config, ConfigError};
use crate::dpdk::{self, Eal, Mempool, Port, PortConf, RxQueue, TxQueue};
use crate::wire::MacAddr;

/// Both ports, started, and their queues.
///
/// Fields drop in declaration order, which is the order `run` dropped
/// them in when they were its locals: every queue before either port,
/// the access side's first, then the access port, then the underlay's.
pub(super) struct Ports {
    pub(super) ac_tx: Vec<TxQueue>,
    pub(super) ac_rx: Vec<RxQueue>,
    pub(super) ul_tx: Vec<TxQueue>,
    pub(super) ul_rx: Vec<RxQueue>,
    pub(super) ac_port: Port,
    pub(super) ul_port: Port,
}

/// The pool of `--mbufs` buffers of `data_room` bytes the ports receive into.
pub(super) fn new_pool(cfg: &Config, eal: &Eal, data_room: u16) -> anyhow::Result<Arc<Mempool>> {
    let pool = Mempool::new(eal, "vxgate_pool", cfg.mbufs, 256, data_room)?;
    Ok(Arc::new(pool))
}

/// Opens and starts both ports, receiving into `pool` (of buffers of
/// `data_room` bytes). Two names for one port are a configuration error.
pub(super) fn open_ports(
    cfg: &Config,
    stop: &AtomicBool,
    eal: &Eal,
    pool: &Arc<Mempool>,
    data_room: u16,
) -> Started<Ports> {
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
    let mut ul_port = Port::open(eal, &ul_dev, &conf(cfg.underlay_mtu), pool)?;
    let mut ac_port = Port::open(eal, &ac_dev, &conf(cfg.access_mtu), pool)?;
    // A large pool and real NICs take seconds too: a stop asked for
    // meanwhile still comes before any link is brought up.
    if stop.load(Relaxed) {
        return stopped(cfg, "opening the ports");
    }
    let (ul_rx, ul_tx) = ul_port.start()?;
    let (ac_rx, ac_tx) = ac_port.start()?;
    info!(
        underlay = ul_port.name(),
        underlay_driver = %ul_port.info().driver,
        underlay_mac = %MacAddr(ul_port.mac()),
        access = ac_port.name(),
        access_driver = %ac_port.info().driver,
        access_mac = %MacAddr(ac_port.mac()),
        workers = usize::from(cfg.workers),
        mbufs = cfg.mbufs,
        data_room,
        underlay_mtu = ul_port.mtu(),
        access_mtu = ac_port.mtu(),
        "ports started"
    );
    Ok(Some(Ports {
        ac_tx,
        ac_rx,
        ul_tx,
        ul_rx,
        ac_port,
        ul_port,
    }))
}

/// Our VtepMAC (`--vtep-mac`, or the one derived for `vni`) must not be a
/// port's MAC: behind a port of the same MAC a tunnel's inner frame and a
/// plain frame off the wire would look alike (`Context::decapsulated`,
/// which tells them apart by that MAC for fragments and DirectRouting).
/// Known only once the ports are open; the configuration's to change
/// (exit 2), before anything is written to etcd.
pub(super) fn vtep_mac_apart(cfg: &Config, vni: u32, ports: &Ports) -> Result<(), ConfigError> {
    let vtep_mac = cfg.vtep_mac_for(vni);
    let clash = [("underlay", &ports.ul_port), ("access", &ports.ac_port)]
        .into_iter()
        .find(|(_, port)| port.mac() == vtep_mac);
    let Some((side, port)) = clash else {
        return Ok(());
    };
    let problem = format!(
        "it is the MAC of the {side} port {}; the VtepMAC must be a MAC of its own, as flannel.1's is",
        port.name()
    );
    let (problem, fix) = match cfg.vtep_mac {
        Some(_) => (
            problem,
            "leave --vtep-mac out (a locally administered MAC is derived from the underlay IP and VNI) or give another",
        ),
        None => (
            format!("the VtepMAC derived from the underlay IP and VNI: {problem}"),
            "give --vtep-mac with another locally administered MAC",
        ),
    };
    Err(ConfigError::invalid(
        "vtep-mac",
        MacAddr(vtep_mac).to_string(),
        problem,
        fix,
    ))
}
