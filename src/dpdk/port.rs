//! Ethernet ports: open by device name or id, configure queues, start, stop,
//! and read MAC, link, MTU and statistics. RX and TX queues are separate
//! values so that each worker owns its own.
use std::ffi::{CStr, CString};

use super::burst::Burst;
use super::error::{strerror, DpdkError, Result};
use super::mempool::Mempool;
use crate::ffi;

// RSS hash types (rte_ethdev.h macros that bindgen cannot evaluate).
const RSS_IPV4: u64 = 1 << 2;
const RSS_FRAG_IPV4: u64 = 1 << 3;
const RSS_NONFRAG_IPV4_TCP: u64 = 1 << 4;
const RSS_NONFRAG_IPV4_UDP: u64 = 1 << 5;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub up: bool,
    pub speed_mbps: u32,
}

/// Facts about a port's driver, read once at configuration.
#[derive(Clone, Debug)]
pub struct PortInfo {
    pub driver: String,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    pub rss_hash_types: u64,
}

/// A configured ethdev port. Stopped and closed on drop.
pub struct Port {
    id: u16,
    name: String,
    info: PortInfo,
    started: bool,
    /// The MTU asked for on a driver that has no MTU setting and no frame
    /// limit (net_ring, net_pcap): what `mtu()` reports.
    mtu_unlimited: Option<u16>,
}

/// One RX queue of a port; owned by one worker.
pub struct RxQueue {
    port: u16,
    queue: u16,
}

/// One TX queue of a port; owned by one worker.
pub struct TxQueue {
    port: u16,
    queue: u16,
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
    /// Gives back the mbufs of packets sent but still held by the queue:
    /// many NIC drivers free them lazily, a ring's worth at a time, and an
    /// mbuf count taken after the owner of the queue ended (vxgate's final
    /// "mbufs in use") would show them as in use. A driver without the
    /// operation frees at once and has nothing to give back.
    fn drop(&mut self) {
        // SAFETY: this handle is the queue's only user (one per queue, not
        // Clone, dropped by its owner); a port no longer valid (closed)
        // just returns -ENODEV, an unsupported operation -ENOTSUP.
        unsafe { ffi::rte_eth_tx_done_cleanup(self.port, self.queue, 0) };
    }
}

/// Port ids of every device EAL probed, with their names.
pub fn available_ports() -> Vec<(u16, String)> {
    let mut out = Vec::new();
    for id in 0..ffi::RTE_MAX_ETHPORTS as u16 {
        // SAFETY: any port id may be asked about.
        if unsafe { ffi::rte_eth_dev_is_valid_port(id) } == 1 {
            out.push((id, port_name(id)));
        }
    }
    out
}

fn port_name(id: u16) -> String {
    let mut buf = [0 as std::os::raw::c_char; 64];
    // SAFETY: buf is large enough (RTE_ETH_NAME_MAX_LEN is 64) and NUL-terminated by DPDK.
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
    let unknown = || DpdkError::UnknownDevice {
        name: name_or_id.to_owned(),
        available: {
            let list: Vec<String> = available_ports()
                .into_iter()
                .map(|(id, n)| format!("{id}={n}"))
                .collect();
            if list.is_empty() {
                "none (no --vdev or -a device was probed)".into()
            } else {
                list.join(", ")
            }
        },
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

impl Port {
    /// Opens, configures and sets up the queues of a port (not started).
    pub fn open(
        name_or_id: &str,
        conf: &PortConf,
        pool: &Mempool,
    ) -> Result<(Port, Vec<RxQueue>, Vec<TxQueue>)> {
        let id = find_port(name_or_id)?;
        let name = port_name(id);
        let err = |op: &'static str, rc: i32| DpdkError::Port {
            port: id,
            name: name.clone(),
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
        let info = PortInfo {
            driver,
            max_rx_queues: dev.max_rx_queues,
            max_tx_queues: dev.max_tx_queues,
            rss_hash_types: dev.flow_type_rss_offloads,
        };
        if conf.rx_queues > info.max_rx_queues || conf.tx_queues > info.max_tx_queues {
            return Err(DpdkError::Port {
                port: id,
                name,
                op: "configure",
                reason: format!(
                    "needs {} RX / {} TX queues but driver {} offers {} / {}: use fewer workers",
                    conf.rx_queues,
                    conf.tx_queues,
                    info.driver,
                    info.max_rx_queues,
                    info.max_tx_queues
                ),
            });
        }
        let mut eth_conf: ffi::rte_eth_conf = Default::default();
        let wanted = RSS_IPV4 | RSS_FRAG_IPV4 | RSS_NONFRAG_IPV4_TCP | RSS_NONFRAG_IPV4_UDP;
        let rss_hf = wanted & info.rss_hash_types;
        if conf.rss && conf.rx_queues > 1 && rss_hf != 0 {
            eth_conf.rxmode.mq_mode = ffi::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
            eth_conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        // SAFETY: id is valid and stopped; eth_conf is a valid, initialised struct.
        let rc =
            unsafe { ffi::rte_eth_dev_configure(id, conf.rx_queues, conf.tx_queues, &eth_conf) };
        if rc != 0 {
            return Err(err("configure", rc));
        }
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
                // them (a max_mtu of 65535 means the driver gave none).
                let max = if dev.max_mtu == u16::MAX {
                    String::new()
                } else {
                    format!(" to {}", dev.max_mtu)
                };
                return Err(DpdkError::Port {
                    port: id,
                    name: name.clone(),
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
        // SAFETY: id is valid.
        let socket = unsafe { ffi::rte_eth_dev_socket_id(id) }.max(0) as u32;
        let mut rxq = Vec::with_capacity(conf.rx_queues as usize);
        for q in 0..conf.rx_queues {
            // SAFETY: id is configured; null rxconf means driver defaults; the pool
            // outlives the port (caller's contract: drop ports before pools).
            let rc = unsafe {
                ffi::rte_eth_rx_queue_setup(
                    id,
                    q,
                    conf.rx_desc,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            };
            if rc != 0 {
                return Err(err("rx_queue_setup", rc));
            }
            rxq.push(RxQueue { port: id, queue: q });
        }
        let mut txq = Vec::with_capacity(conf.tx_queues as usize);
        for q in 0..conf.tx_queues {
            // SAFETY: id is configured; null txconf means driver defaults.
            let rc = unsafe {
                ffi::rte_eth_tx_queue_setup(id, q, conf.tx_desc, socket, std::ptr::null())
            };
            if rc != 0 {
                return Err(err("tx_queue_setup", rc));
            }
            txq.push(TxQueue { port: id, queue: q });
        }
        let port = Port {
            id,
            name,
            info,
            started: false,
            mtu_unlimited,
        };
        if conf.promiscuous {
            // Some virtual devices cannot do it; they receive everything anyway.
            // SAFETY: id is valid.
            let _ = unsafe { ffi::rte_eth_promiscuous_enable(id) };
        }
        Ok((port, rxq, txq))
    }

    pub fn start(&mut self) -> Result<()> {
        // SAFETY: the port is configured with its queues set up.
        let rc = unsafe { ffi::rte_eth_dev_start(self.id) };
        if rc != 0 {
            return Err(DpdkError::Port {
                port: self.id,
                name: self.name.clone(),
                op: "start",
                reason: strerror(rc),
            });
        }
        self.started = true;
        Ok(())
    }

    pub fn stop(&mut self) {
        if self.started {
            // SAFETY: the port is started; stopping has no other precondition
            // (workers using its queues have been joined by the caller).
            unsafe { ffi::rte_eth_dev_stop(self.id) };
            self.started = false;
        }
    }

    pub fn id(&self) -> u16 {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn info(&self) -> &PortInfo {
        &self.info
    }

    pub fn mac(&self) -> [u8; 6] {
        let mut a = ffi::rte_ether_addr::default();
        // SAFETY: id is valid; a is a valid out-pointer.
        unsafe { ffi::rte_eth_macaddr_get(self.id, &mut a) };
        a.addr_bytes
    }

    /// The device's MTU, or the one asked for when the driver has no MTU
    /// setting and no frame limit.
    pub fn mtu(&self) -> u16 {
        if let Some(mtu) = self.mtu_unlimited {
            return mtu;
        }
        let mut mtu = 1500u16;
        // SAFETY: id is valid; mtu is a valid out-pointer.
        unsafe { ffi::rte_eth_dev_get_mtu(self.id, &mut mtu) };
        mtu
    }

    pub fn link(&self) -> Link {
        let mut l = ffi::rte_eth_link::default();
        // SAFETY: id is valid; l is a valid out-pointer.
        unsafe { ffi::rte_eth_link_get_nowait(self.id, &mut l) };
        Link {
            up: l.link_status() != 0,
            speed_mbps: l.link_speed,
        }
    }

    pub fn stats(&self) -> PortStats {
        port_stats(self.id)
    }
}

/// Statistics of a port by id (the metrics thread reads them without
/// holding the Port).
pub fn port_stats(id: u16) -> PortStats {
    let mut s = ffi::rte_eth_stats::default();
    // SAFETY: s is a valid out-pointer; an invalid id just returns an error.
    unsafe { ffi::rte_eth_stats_get(id, &mut s) };
    PortStats {
        rx_packets: s.ipackets,
        tx_packets: s.opackets,
        rx_bytes: s.ibytes,
        tx_bytes: s.obytes,
        rx_missed: s.imissed,
        rx_errors: s.ierrors,
        tx_errors: s.oerrors,
        rx_nombuf: s.rx_nombuf,
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        self.stop();
        // SAFETY: the port is stopped; no queue handle is used after this
        // (workers are joined before ports are dropped).
        unsafe { ffi::rte_eth_dev_close(self.id) };
    }
}
