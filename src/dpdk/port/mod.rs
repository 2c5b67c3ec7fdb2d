//! Ethernet ports: open by device name or id, configure queues, start, stop,
//! and read MAC, link, MTU and statistics. RX and TX queues are separate
//! values so that each worker owns its own.
//!
//! What keeps this sound from safe code:
//! - a port id is open through one `Port` at a time (a process-wide set),
//!   so two handles never share a queue;
//! - queues exist only while their port is started: `start` hands them out,
//!   `stop` is refused while one is alive (another lcore may be polling);
//! - the device, its mempool and EAL stay while the port or any of its
//!   queues exists (an `Arc` taken at setup, none per burst); the last one
//!   dropped stops and closes the device, then lets the pool go;
//! - ethdev's control functions are not thread-safe: every call here but
//!   the burst ones (and a queue's own cleanup) holds one process-wide lock.
//!
//! Here: the process-wide lock, [`Port`], and the device it shares with its
//! queues. By file: `conf` ([`PortConf`]), `info` ([`PortInfo`], [`Link`]),
//! `stats` ([`PortStats`], also read by port id), `queue` ([`RxQueue`],
//! [`TxQueue`]), `lookup` (the ports EAL probed, a port by name or id) and
//! `setup` (configuring a port and its queues before it starts).

mod conf;
mod info;
mod lookup;
mod queue;
mod setup;
mod stats;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::eal::{Eal, Live};
use super::error::{strerror, DpdkError, Result};
use super::mempool::Mempool;
use crate::ffi;
use lookup::{find, port_name};
use setup::setup;
use stats::stats;

pub use conf::PortConf;
pub use info::{Link, PortInfo};
pub(crate) use lookup::available_text;
pub use lookup::{available_ports, find_port};
pub use queue::{RxQueue, TxQueue};
pub use stats::{port_stats, PortStats};

/// Port ids open through a `Port`; its lock serialises ethdev control calls.
static ETHDEV: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// The held lock: functions that take `&Locked` call ethdev's control path.
type Locked = MutexGuard<'static, BTreeSet<u16>>;

fn ethdev() -> Locked {
    // The set changes by single inserts and removes: a panic elsewhere
    // while the lock was held cannot have left it half-updated.
    ETHDEV.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` with EAL held and the lock taken; `None` when EAL is not
/// running (not started yet, or cleaned up: its memory is gone).
fn with_ethdev<T>(f: impl FnOnce(&mut Locked) -> T) -> Option<T> {
    let _eal = Live::acquire()?;
    Some(f(&mut ethdev()))
}

/// A configured ethdev port, opened once per process. Its queues come
/// from `start`; the device is stopped and closed when the port and all
/// its queues are gone.
pub struct Port {
    dev: Arc<Device>,
    info: PortInfo,
    mac: [u8; 6],
    mtu: u16,
    rx_queues: u16,
    tx_queues: u16,
}

/// What a port and its queues share; the last of them to go stops and
/// closes the device, then lets the pool and EAL go.
struct Device {
    id: u16,
    name: String,
    /// Changed only through `Arc::get_mut`, i.e. while no queue exists.
    started: bool,
    /// The driver refers to the pool until the device is closed.
    pool: Arc<Mempool>,
    _eal: Live,
}

impl Drop for Device {
    fn drop(&mut self) {
        let mut lock = ethdev();
        close(&mut lock, self.id, &self.name, self.started, &self.pool);
    }
}

/// Stops (when started) and closes port `id` and takes it out of the open
/// set. A device that does not close may still use `pool`: then the id
/// stays taken and the pool is kept for the rest of the process.
fn close(lock: &mut Locked, id: u16, name: &str, started: bool, pool: &Arc<Mempool>) {
    if started {
        // SAFETY: the port is started; no queue handle of it is left (the
        // caller holds the last reference), so no lcore polls it.
        let rc = unsafe { ffi::rte_eth_dev_stop(id) };
        if rc != 0 {
            tracing::error!(
                port = id,
                name,
                "stopping the port failed: {}",
                strerror(rc)
            );
        }
    }
    // SAFETY: nothing uses the port's queues any more (as above).
    let rc = unsafe { ffi::rte_eth_dev_close(id) };
    if rc != 0 {
        tracing::error!(
            port = id,
            name,
            "closing the port failed: {}; it stays open and keeps its mempool",
            strerror(rc)
        );
        std::mem::forget(Arc::clone(pool));
        lock.insert(id);
        return;
    }
    lock.remove(&id);
}

impl Port {
    /// Opens, configures and sets up the queues of a port (not started).
    /// The port, and later its queues, keep `pool` alive. Refused when the
    /// port is already open in this process.
    pub fn open(eal: &Eal, name_or_id: &str, conf: &PortConf, pool: &Arc<Mempool>) -> Result<Port> {
        let mut lock = ethdev();
        let id = find(&lock, name_or_id)?;
        let name = port_name(&lock, id);
        let refuse = |op: &'static str, reason: String| DpdkError::Port {
            port: id,
            name: name.clone(),
            op,
            reason,
        };
        if conf.rx_queues == 0 || conf.tx_queues == 0 {
            return Err(refuse(
                "configure",
                format!(
                    "{} RX / {} TX queues asked for: a port needs at least one of each",
                    conf.rx_queues, conf.tx_queues
                ),
            ));
        }
        if lock.contains(&id) {
            return Err(refuse(
                "open",
                "already open in this process: a port is opened once (drop the other Port and its queues first)"
                    .into(),
            ));
        }
        let mut configured = false;
        match setup(&lock, id, &name, conf, pool, &mut configured) {
            Ok(s) => {
                lock.insert(id);
                Ok(Port {
                    dev: Arc::new(Device {
                        id,
                        name,
                        started: false,
                        pool: Arc::clone(pool),
                        _eal: Live::new(eal),
                    }),
                    info: s.info,
                    mac: s.mac,
                    mtu: s.mtu,
                    rx_queues: conf.rx_queues,
                    tx_queues: conf.tx_queues,
                })
            }
            Err(e) => {
                // A configured device keeps its queues (and whatever mbufs
                // they took from the pool): close it, as a dropped Port would.
                if configured {
                    close(&mut lock, id, &name, false, pool);
                }
                Err(e)
            }
        }
    }

    /// Starts the port and hands out its queues, one value per queue.
    /// Refused while started (its queues are out).
    pub fn start(&mut self) -> Result<(Vec<RxQueue>, Vec<TxQueue>)> {
        let dev = match Arc::get_mut(&mut self.dev) {
            Some(dev) if !dev.started => dev,
            _ => {
                return Err(self.error(
                    "start",
                    "already started: its queues are out (stop it, after they are dropped, to start again)"
                        .into(),
                ))
            }
        };
        let _lock = ethdev();
        // SAFETY: the port is configured with its queues set up and stopped;
        // no queue handle exists (get_mut), so nothing polls it meanwhile.
        let rc = unsafe { ffi::rte_eth_dev_start(dev.id) };
        if rc != 0 {
            return Err(self.error("start", strerror(rc)));
        }
        dev.started = true;
        let (port, dev) = (self.dev.id, &self.dev);
        let prefetch = !self.info.is_software();
        let rx = (0..self.rx_queues)
            .map(|queue| RxQueue {
                port,
                queue,
                prefetch,
                _dev: Arc::clone(dev),
            })
            .collect();
        let tx = (0..self.tx_queues)
            .map(|queue| TxQueue {
                port,
                queue,
                _dev: Arc::clone(dev),
            })
            .collect();
        Ok((rx, tx))
    }

    /// Stops the port (`start` starts it again). Refused while any of its
    /// queues is alive: an lcore may be polling it.
    pub fn stop(&mut self) -> Result<()> {
        let queues = Arc::strong_count(&self.dev) - 1;
        let Some(dev) = Arc::get_mut(&mut self.dev) else {
            return Err(self.error(
                "stop",
                format!(
                    "{queues} of its queues are still alive: drop every RxQueue and TxQueue \
                     (join the lcores that poll them) first"
                ),
            ));
        };
        if !dev.started {
            return Ok(());
        }
        let _lock = ethdev();
        // SAFETY: the port is started and no queue handle of it exists
        // (get_mut), so no lcore polls it.
        let rc = unsafe { ffi::rte_eth_dev_stop(dev.id) };
        if rc != 0 {
            // Still started for ethdev: the drop tries again, then closes.
            return Err(self.error("stop", strerror(rc)));
        }
        dev.started = false;
        Ok(())
    }

    fn error(&self, op: &'static str, reason: String) -> DpdkError {
        DpdkError::Port {
            port: self.dev.id,
            name: self.dev.name.clone(),
            op,
            reason,
        }
    }

    pub fn id(&self) -> u16 {
        self.dev.id
    }

    pub fn name(&self) -> &str {
        &self.dev.name
    }

    pub fn info(&self) -> &PortInfo {
        &self.info
    }

    /// The port's MAC address (read at open).
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The device's MTU, or the one asked for when the driver has no MTU
    /// setting and no frame limit (read at open, which fails when it
    /// cannot be read).
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    pub fn link(&self) -> Link {
        let mut l = ffi::rte_eth_link::default();
        let _lock = ethdev();
        // SAFETY: the port is open (self); l is a valid out-pointer. A
        // driver without link status leaves it zeroed: down.
        unsafe { ffi::rte_eth_link_get_nowait(self.dev.id, &mut l) };
        Link {
            up: l.link_status() != 0,
            speed_mbps: l.link_speed,
        }
    }

    /// `None` when the driver could not read them (see [`port_stats`]).
    pub fn stats(&self) -> Option<PortStats> {
        stats(&ethdev(), self.dev.id)
    }
}
