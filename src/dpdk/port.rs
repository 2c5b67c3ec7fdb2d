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
use std::collections::BTreeSet;
use std::ffi::{CStr, CString};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::burst::Burst;
use super::eal::{Eal, Live};
use super::error::{strerror, DpdkError, Result};
use super::mempool::Mempool;
use crate::ffi;

// RSS hash types (rte_ethdev.h macros that bindgen cannot evaluate).
const RSS_IPV4: u64 = 1 << 2;
const RSS_FRAG_IPV4: u64 = 1 << 3;
const RSS_NONFRAG_IPV4_TCP: u64 = 1 << 4;
const RSS_NONFRAG_IPV4_UDP: u64 = 1 << 5;

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

/// How to set a port up.
#[derive(Clone, Debug)]
pub struct PortConf {
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_desc: u16,
    pub tx_desc: u16,
    /// Spread flows over RX queues by their IPv4/UDP 5-tuple when >1 queue.
    pub rss: bool,
    pub promiscuous: bool,
    pub mtu: Option<u16>,
}

impl Default for PortConf {
    fn default() -> Self {
        PortConf {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            rss: true,
            promiscuous: true,
            mtu: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_nombuf: u64,
}

impl PortStats {
    /// Field by field the larger of `self` and `earlier`: the port's
    /// counters never go back (a reader that kept an earlier read serves
    /// counters, not resets, to Prometheus).
    pub fn at_least(self, earlier: PortStats) -> PortStats {
        PortStats {
            rx_packets: self.rx_packets.max(earlier.rx_packets),
            tx_packets: self.tx_packets.max(earlier.tx_packets),
            rx_bytes: self.rx_bytes.max(earlier.rx_bytes),
            tx_bytes: self.tx_bytes.max(earlier.tx_bytes),
            rx_missed: self.rx_missed.max(earlier.rx_missed),
            rx_errors: self.rx_errors.max(earlier.rx_errors),
            tx_errors: self.tx_errors.max(earlier.tx_errors),
            rx_nombuf: self.rx_nombuf.max(earlier.rx_nombuf),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub up: bool,
    pub speed_mbps: u32,
}

/// Facts about a port's driver, read once at configuration.
#[derive(Clone, Debug)]
pub struct PortInfo {
    pub driver: String,
    /// The bus of its device: `pci`, `vdev` (the software devices), ...;
    /// `?` when the driver does not say.
    pub bus: String,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    pub rss_hash_types: u64,
}

impl PortInfo {
    /// A software device (the `vdev` bus: `net_pcap`, `net_tap`,
    /// `net_af_packet`, ...), which copies each received frame in on the
    /// polling core, where a NIC writes it by DMA (so it may not be in this
    /// core's cache), and counts a failed buffer allocation per frame, where
    /// a NIC's driver counts a failed ring refill as a batch. Not told
    /// apart: `net_ring`, which passes frames another core wrote, and
    /// `net_af_xdp` in zero-copy mode, whose frames a NIC wrote.
    pub fn is_software(&self) -> bool {
        self.bus == "vdev"
    }
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

/// One RX queue of a started port; owned by one worker.
pub struct RxQueue {
    port: u16,
    queue: u16,
    /// Prefetch what the burst's first pass reads (`wants_prefetch`).
    prefetch: bool,
    /// Keeps the port started and its pool alive; not touched per burst.
    _dev: Arc<Device>,
}

/// One TX queue of a started port; owned by one worker.
pub struct TxQueue {
    port: u16,
    queue: u16,
    /// As in `RxQueue`.
    _dev: Arc<Device>,
}

impl RxQueue {
    /// Receives up to a burst into `burst` (which must be empty).
    #[inline(always)]
    pub fn rx(&mut self, burst: &mut Burst) -> usize {
        burst.rx(self.port, self.queue)
    }
    pub fn port_id(&self) -> u16 {
        self.port
    }
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Whether a burst's packets are worth prefetching before they are
    /// read (`Burst::prefetch`): on by default for devices that write
    /// frames by DMA, off for the software devices, whose frames this core
    /// has mostly just copied in (measured on `net_pcap`: 2-4 % slower
    /// with it).
    pub fn wants_prefetch(&self) -> bool {
        self.prefetch
    }

    /// Overrides the default of `wants_prefetch` (benchmarks, tests).
    pub fn set_prefetch(&mut self, on: bool) {
        self.prefetch = on;
    }
}

impl TxQueue {
    /// Sends what `burst` holds; unsent packets stay in it.
    #[inline(always)]
    pub fn tx(&mut self, burst: &mut Burst) -> usize {
        burst.tx(self.port, self.queue)
    }
    pub fn port_id(&self) -> u16 {
        self.port
    }
    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

impl Drop for TxQueue {
    /// Gives back the mbufs of packets sent but still held by the queue,
    /// where the driver can (many free them lazily, a ring's worth at a
    /// time; vector TX paths and some drivers answer -ENOTSUP and keep
    /// them until the port closes, which is why vxgate's final "mbufs in
    /// use" is counted after closing), so the pool has them back at once.
    fn drop(&mut self) {
        // SAFETY: this handle is the queue's only user (one per queue, not
        // Clone, handed out once per start); the port is started (`_dev`
        // keeps it so). An unsupported operation returns -ENOTSUP.
        unsafe { ffi::rte_eth_tx_done_cleanup(self.port, self.queue, 0) };
    }
}

/// Port ids of every device EAL probed, with their names (none when EAL
/// is not running).
pub fn available_ports() -> Vec<(u16, String)> {
    with_ethdev(|l| available(l)).unwrap_or_default()
}

fn available(l: &Locked) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    for id in 0..ffi::RTE_MAX_ETHPORTS as u16 {
        // SAFETY: any port id may be asked about; EAL runs (caller's Live).
        if unsafe { ffi::rte_eth_dev_is_valid_port(id) } == 1 {
            out.push((id, port_name(l, id)));
        }
    }
    out
}

fn port_name(_: &Locked, id: u16) -> String {
    let mut buf = [0 as std::os::raw::c_char; 64];
    // SAFETY: buf is large enough (RTE_ETH_NAME_MAX_LEN is 64) and
    // NUL-terminated by DPDK; the lock keeps the port from closing meanwhile.
    let rc = unsafe { ffi::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
    if rc != 0 {
        return format!("port{id}");
    }
    // SAFETY: DPDK wrote a NUL-terminated string into buf.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Finds a port by device name (`net_tap0`, `0000:3b:00.0`) or numeric id.
pub fn find_port(name_or_id: &str) -> Result<u16> {
    with_ethdev(|l| find(l, name_or_id)).unwrap_or_else(|| {
        Err(DpdkError::UnknownDevice {
            name: name_or_id.to_owned(),
            available: "none (EAL is not running)".into(),
        })
    })
}

/// The ports EAL probed as errors list them: `0=net_tap0, 1=net_tap1`.
pub(crate) fn available_text() -> String {
    with_ethdev(|l| available_text_of(l)).unwrap_or_else(|| "none (EAL is not running)".into())
}

fn available_text_of(l: &Locked) -> String {
    let list: Vec<String> = available(l)
        .into_iter()
        .map(|(id, n)| format!("{id}={n}"))
        .collect();
    if list.is_empty() {
        "none (no --vdev or -a device was probed)".into()
    } else {
        list.join(", ")
    }
}

fn find(l: &Locked, name_or_id: &str) -> Result<u16> {
    let unknown = || DpdkError::UnknownDevice {
        name: name_or_id.to_owned(),
        available: available_text_of(l),
    };
    if let Ok(id) = name_or_id.parse::<u16>() {
        // SAFETY: any port id may be asked about.
        if unsafe { ffi::rte_eth_dev_is_valid_port(id) } == 1 {
            return Ok(id);
        }
        return Err(unknown());
    }
    let cname = CString::new(name_or_id).map_err(|_| unknown())?;
    let mut id = 0u16;
    // SAFETY: cname is a valid C string; id is a valid out-pointer.
    let rc = unsafe { ffi::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
    if rc == 0 {
        Ok(id)
    } else {
        Err(unknown())
    }
}

/// The socket to set a port's queues up on: the port's, or any when DPDK
/// cannot tell (-1, `SOCKET_ID_ANY`, which the setup functions take as an
/// unsigned -1), never socket 0 in its place.
fn queue_socket(port_socket: i32) -> u32 {
    if port_socket < 0 {
        ffi::SOCKET_ID_ANY as u32
    } else {
        port_socket as u32
    }
}

/// The largest MTU ethdev lets a driver take, as `rte_eth_dev_set_mtu`
/// checks it: the driver's `max_mtu` when it gives one (not 65535), else
/// its frame limit minus the 18 bytes of Ethernet header and CRC
/// (ethdev's overhead then); `None` when there is neither.
fn largest_mtu(max_rx_pktlen: u32, max_mtu: u16) -> Option<u32> {
    const ETHER_HDR_AND_CRC: u32 = 14 + 4;
    if max_mtu != u16::MAX {
        Some(u32::from(max_mtu))
    } else if max_rx_pktlen != u32::MAX {
        Some(max_rx_pktlen.saturating_sub(ETHER_HDR_AND_CRC))
    } else {
        None
    }
}

/// Promiscuous mode: a driver without it (-ENOTSUP) receives everything
/// anyway; any other failure is an error.
fn promiscuous_failed(rc: i32) -> bool {
    rc != 0 && rc != -libc::ENOTSUP
}

/// What `Port::open` learns while setting a port up.
struct Setup {
    info: PortInfo,
    mac: [u8; 6],
    mtu: u16,
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

/// Configures port `id` and sets its queues up; `configured` tells the
/// caller whether the device needs closing on an error.
fn setup(
    _: &Locked,
    id: u16,
    name: &str,
    conf: &PortConf,
    pool: &Mempool,
    configured: &mut bool,
) -> Result<Setup> {
    let err = |op: &'static str, rc: i32| DpdkError::Port {
        port: id,
        name: name.to_owned(),
        op,
        reason: strerror(rc),
    };
    let mut dev: ffi::rte_eth_dev_info = Default::default();
    // SAFETY: id is valid; dev is a valid out-pointer.
    let rc = unsafe { ffi::rte_eth_dev_info_get(id, &mut dev) };
    if rc != 0 {
        return Err(err("dev_info_get", rc));
    }
    let driver = if dev.driver_name.is_null() {
        String::from("?")
    } else {
        // SAFETY: driver_name is a static NUL-terminated string of the PMD.
        unsafe { CStr::from_ptr(dev.driver_name) }
            .to_string_lossy()
            .into_owned()
    };
    // SAFETY: dev.device is the port's device, alive while the port is;
    // a bus's name is a static NUL-terminated string.
    let bus = unsafe {
        let bus = if dev.device.is_null() {
            std::ptr::null()
        } else {
            ffi::rte_dev_bus(dev.device)
        };
        let name = if bus.is_null() {
            std::ptr::null()
        } else {
            ffi::rte_bus_name(bus)
        };
        if name.is_null() {
            String::from("?")
        } else {
            CStr::from_ptr(name).to_string_lossy().into_owned()
        }
    };
    let info = PortInfo {
        driver,
        bus,
        max_rx_queues: dev.max_rx_queues,
        max_tx_queues: dev.max_tx_queues,
        rss_hash_types: dev.flow_type_rss_offloads,
    };
    if conf.rx_queues > info.max_rx_queues || conf.tx_queues > info.max_tx_queues {
        return Err(DpdkError::TooFewQueues {
            port: id,
            name: name.to_owned(),
            driver: info.driver,
            rx: conf.rx_queues,
            tx: conf.tx_queues,
            max_rx: info.max_rx_queues,
            max_tx: info.max_tx_queues,
        });
    }
    let mut eth_conf: ffi::rte_eth_conf = Default::default();
    let wanted = RSS_IPV4 | RSS_FRAG_IPV4 | RSS_NONFRAG_IPV4_TCP | RSS_NONFRAG_IPV4_UDP;
    let rss_hf = wanted & info.rss_hash_types;
    if conf.rss && conf.rx_queues > 1 && rss_hf != 0 {
        eth_conf.rxmode.mq_mode = ffi::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
        eth_conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
    }
    // SAFETY: id is valid and not started (not open through any Port);
    // eth_conf is a valid, initialised struct.
    let rc = unsafe { ffi::rte_eth_dev_configure(id, conf.rx_queues, conf.tx_queues, &eth_conf) };
    if rc != 0 {
        return Err(err("configure", rc));
    }
    *configured = true;
    let mut mtu_unlimited = None;
    if let Some(mtu) = conf.mtu {
        // SAFETY: id is valid.
        let rc = unsafe { ffi::rte_eth_dev_set_mtu(id, mtu) };
        if rc == -libc::ENOTSUP && dev.max_rx_pktlen == u32::MAX {
            // No MTU to set and no frame limit (net_ring, net_pcap):
            // frames of this MTU pass as they are.
            mtu_unlimited = Some(mtu);
        } else if rc != 0 {
            // ethdev checks the MTU against the driver's limits: say
            // them, the largest MTU included.
            let max = match largest_mtu(dev.max_rx_pktlen, dev.max_mtu) {
                Some(m) => format!(" to {m}"),
                None => String::new(),
            };
            return Err(DpdkError::Port {
                port: id,
                name: name.to_owned(),
                op: "set_mtu",
                reason: format!(
                    "MTU {mtu} refused ({}): driver {} takes frames up to {} bytes, MTUs from {}{max}",
                    strerror(rc),
                    info.driver,
                    dev.max_rx_pktlen,
                    dev.min_mtu,
                ),
            });
        }
    }
    // Ring sizes within the driver's limits (some take only their own).
    let (mut rx_desc, mut tx_desc) = (conf.rx_desc, conf.tx_desc);
    // SAFETY: id is configured; both are valid in/out pointers.
    let rc = unsafe { ffi::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_desc, &mut tx_desc) };
    if rc != 0 {
        return Err(err("adjust_nb_rx_tx_desc", rc));
    }
    if (rx_desc, tx_desc) != (conf.rx_desc, conf.tx_desc) {
        // The pool is sized for the configured rings (`--mbufs`): larger
        // ones need more of it.
        tracing::warn!(
            port = name,
            driver = %info.driver,
            rx_desc,
            tx_desc,
            wanted_rx = conf.rx_desc,
            wanted_tx = conf.tx_desc,
            "the driver's descriptor limits change the ring sizes; size --mbufs for them"
        );
    }
    // SAFETY: id is valid.
    let socket = queue_socket(unsafe { ffi::rte_eth_dev_socket_id(id) });
    for q in 0..conf.rx_queues {
        // SAFETY: id is configured; null rxconf means driver defaults; the
        // pool outlives the device (the Port and its queues hold an Arc of
        // it until the device is closed).
        let rc = unsafe {
            ffi::rte_eth_rx_queue_setup(id, q, rx_desc, socket, std::ptr::null(), pool.as_ptr())
        };
        if rc != 0 {
            return Err(err("rx_queue_setup", rc));
        }
    }
    for q in 0..conf.tx_queues {
        // SAFETY: id is configured; null txconf means driver defaults.
        let rc = unsafe { ffi::rte_eth_tx_queue_setup(id, q, tx_desc, socket, std::ptr::null()) };
        if rc != 0 {
            return Err(err("tx_queue_setup", rc));
        }
    }
    if conf.promiscuous {
        // SAFETY: id is valid.
        let rc = unsafe { ffi::rte_eth_promiscuous_enable(id) };
        if promiscuous_failed(rc) {
            return Err(err("promiscuous_enable", rc));
        }
    }
    let mut mac = ffi::rte_ether_addr::default();
    // SAFETY: id is valid; mac is a valid out-pointer.
    let rc = unsafe { ffi::rte_eth_macaddr_get(id, &mut mac) };
    if rc != 0 {
        return Err(err("macaddr_get", rc));
    }
    let mtu = match mtu_unlimited {
        Some(mtu) => mtu,
        None => {
            let mut mtu = 0u16;
            // SAFETY: id is valid; mtu is a valid out-pointer.
            let rc = unsafe { ffi::rte_eth_dev_get_mtu(id, &mut mtu) };
            if rc != 0 {
                return Err(err("get_mtu", rc));
            }
            mtu
        }
    };
    Ok(Setup {
        info,
        mac: mac.addr_bytes,
        mtu,
    })
}

/// Statistics of a port by id (the metrics thread reads them without
/// holding the Port); `None` for a port that is not there, when EAL is
/// not running, or when the driver failed to read its counters (ethdev
/// then hands back zeros, which must not pass for figures: a counter
/// that goes to zero is a reset to Prometheus).
pub fn port_stats(id: u16) -> Option<PortStats> {
    with_ethdev(|l| stats(l, id)).flatten()
}

fn stats(_: &Locked, id: u16) -> Option<PortStats> {
    let mut s = ffi::rte_eth_stats::default();
    // SAFETY: s is a valid out-pointer; an invalid id just returns an error.
    let rc = unsafe { ffi::rte_eth_stats_get(id, &mut s) };
    if rc != 0 {
        return None;
    }
    Some(PortStats {
        rx_packets: s.ipackets,
        tx_packets: s.opackets,
        rx_bytes: s.ibytes,
        tx_bytes: s.obytes,
        rx_missed: s.imissed,
        rx_errors: s.ierrors,
        tx_errors: s.oerrors,
        rx_nombuf: s.rx_nombuf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_go_on_any_socket_when_the_port_has_none() {
        assert_eq!(queue_socket(-1), u32::MAX, "SOCKET_ID_ANY, not socket 0");
        assert_eq!(queue_socket(ffi::SOCKET_ID_ANY), ffi::SOCKET_ID_ANY as u32);
        assert_eq!(queue_socket(0), 0);
        assert_eq!(queue_socket(1), 1);
    }

    /// The MTU error names the largest MTU: net_tap (DPDK 22.11) gives
    /// frames of 1522 bytes and no max_mtu, so 1504.
    #[test]
    fn the_largest_mtu_comes_from_max_mtu_else_the_frame_limit() {
        assert_eq!(largest_mtu(1522, u16::MAX), Some(1504));
        assert_eq!(largest_mtu(9728, 9710), Some(9710));
        assert_eq!(largest_mtu(u32::MAX, u16::MAX), None);
        assert_eq!(largest_mtu(10, u16::MAX), Some(0));
    }

    #[test]
    fn only_a_driver_without_promiscuous_mode_may_skip_it() {
        assert!(!promiscuous_failed(0));
        assert!(!promiscuous_failed(-libc::ENOTSUP));
        assert!(promiscuous_failed(-libc::EIO));
        assert!(promiscuous_failed(-libc::ENODEV));
    }
}
