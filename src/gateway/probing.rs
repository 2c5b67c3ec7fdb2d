//! Around the address probe: a NIC's link waited for before it, and what its finding means for the start.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::bail;
use tracing::warn;

use super::address_probe;
use super::{stopped, Started};
use crate::config::Config;
use crate::dpdk::Port;

/// What the address probe found, as the start goes on (`Some`), ends on a
/// stop, said once here (`None`), or fails (an address in use other than
/// the underlay's is the access address); `lease_held`: our lease is in
/// etcd already (it stays there, as on a stop).
pub(super) fn probe_verdict(
    cfg: &Config,
    probed: address_probe::Probed,
    lease_held: bool,
) -> Started<()> {
    let written = if lease_held {
        "Our lease stays in etcd, as on a stop; the next start takes it back"
    } else {
        "Nothing was written to etcd"
    };
    match probed {
        address_probe::Probed::Free => Ok(Some(())),
        address_probe::Probed::Stopped => stopped(cfg, "probing our addresses"),
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
pub(super) fn wait_for_link(port: &Port, stop: &AtomicBool) {
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
        crate::ops::pause(Duration::from_millis(10));
    }
}
