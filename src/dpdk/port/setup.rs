//! Configuring a port before it starts: driver facts, RSS, MTU, ring sizes, queues, promiscuous mode, MAC.

use std::ffi::CStr;

use super::{Locked, PortConf, PortInfo};
use crate::dpdk::error::{strerror, DpdkError, Result};
use crate::dpdk::mempool::Mempool;
use crate::ffi;

// RSS hash types (rte_ethdev.h macros that bindgen cannot evaluate).
const RSS_IPV4: u64 = 1 << 2;
const RSS_FRAG_IPV4: u64 = 1 << 3;
const RSS_NONFRAG_IPV4_TCP: u64 = 1 << 4;
const RSS_NONFRAG_IPV4_UDP: u64 = 1 << 5;

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
pub(super) struct Setup {
    pub(super) info: PortInfo,
    pub(super) mac: [u8; 6],
    pub(super) mtu: u16,
}

/// Configures port `id` and sets its queues up; `configured` tells the
/// caller whether the device needs closing on an error.
pub(super) fn setup(
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
