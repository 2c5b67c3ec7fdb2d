//! The MTUs `run` uses: each port's, capped to what one buffer holds, and the tunnel's.

use tracing::warn;

use crate::dpdk::{self, Port};

/// The port's MTU, or the largest one buffer of `data_room` holds when the
/// port's own is larger (a device that starts with a jumbo MTU nobody
/// asked for): then what vxgate advertises in ICMP fragmentation-needed and
/// checks against is what it can really carry, and the operator is told.
pub(super) fn usable_mtu(port: &Port, flag: &str, data_room: u16) -> u16 {
    capped_mtu(port.name(), flag, port.mtu(), data_room)
}

/// The tunnel MTU (the largest inner IPv4 packet encap takes): Backend.MTU
/// minus the 50 bytes of VXLAN headers when set (SPEC), else the underlay
/// port's MTU minus 50, and never more than the port carries: a VXLAN
/// frame larger than the port's MTU would be lost in the driver,
/// uncounted, where a packet above the tunnel MTU gets ICMP
/// fragmentation-needed or is fragmented (when DF is clear).
pub(super) fn tunnel_mtu(backend_mtu: Option<u32>, port_mtu: u16) -> u16 {
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

pub(super) fn capped_mtu(port: &str, flag: &str, mtu: u16, data_room: u16) -> u16 {
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
