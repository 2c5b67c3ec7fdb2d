//! Our addresses probed on the wire (ARP, RFC 5227) before we answer for
//! them: the underlay's and, once known, the access address.

use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context as _};

use super::address_probe;
use super::open_ports::Ports;
use super::probing::{probe_verdict, wait_for_link};
use super::Started;
use crate::config::{Config, Ipv4Cidr};
use crate::control::{OwnLease, Subnet};
use crate::dpdk::Mempool;
use crate::pipeline::Counters;
use crate::wire::MacAddr;

/// Nobody else may answer for our underlay address: checked before
/// anything is written to etcd or announced (a second gateway given the
/// same --underlay-ip would take the first one's lease as its own); the
/// access address with it when the requested subnet already tells it.
/// Gives that access address (`Some(None)`: known only once the lease is
/// held); `None` on a stop during the probe, said already.
pub(super) fn probe_addresses(
    cfg: &Config,
    stop: &AtomicBool,
    requested: Option<Subnet>,
    ports: &mut Ports,
    pool: &Mempool,
    slow_counters: &Counters,
) -> Started<Option<Ipv4Addr>> {
    for p in [&ports.ul_port, &ports.ac_port] {
        if !p.info().is_software() {
            wait_for_link(p, stop);
        }
    }
    let access_known = requested
        .map(|s| Ipv4Cidr::new(s.addr, s.len))
        .transpose()
        .context("requested subnet is not a valid CIDR")?
        .map(|c| cfg.access_ip_for(c).addr());
    let mut probe_targets = vec![address_probe::Target {
        rx: &mut ports.ul_rx,
        tx: &mut ports.ul_tx[0],
        mac: MacAddr(ports.ul_port.mac()),
        ip: cfg.underlay_ip.addr(),
    }];
    if let Some(ip) = access_known {
        probe_targets.push(address_probe::Target {
            rx: &mut ports.ac_rx,
            tx: &mut ports.ac_tx[0],
            mac: MacAddr(ports.ac_port.mac()),
            ip,
        });
    }
    let probed = address_probe::probe(&mut probe_targets, pool, slow_counters, stop);
    drop(probe_targets);
    Ok(probe_verdict(cfg, probed, false)?.map(|()| access_known))
}

/// The access address: `--access-ip`, or our subnet's first host; inside
/// our subnet.
pub(super) fn access_ip_in(cfg: &Config, own: &OwnLease) -> anyhow::Result<Ipv4Cidr> {
    let subnet_cidr = Ipv4Cidr::new(own.subnet.addr, own.subnet.len)
        .map_err(|e| anyhow::anyhow!("own subnet {}: {e}", own.subnet))?;
    let access_ip = cfg.access_ip_for(subnet_cidr);
    if !subnet_cidr.contains(access_ip.addr()) {
        bail!(
            "--access-ip {access_ip} is not inside our subnet {}: pick an address inside it",
            own.subnet
        );
    }
    Ok(access_ip)
}

/// Probes the access address alone, once our lease has told it (`None`:
/// a stop came, said already).
pub(super) fn probe_access(
    cfg: &Config,
    stop: &AtomicBool,
    access_ip: Ipv4Cidr,
    ports: &mut Ports,
    pool: &Mempool,
    slow_counters: &Counters,
) -> Started<()> {
    let mut target = [address_probe::Target {
        rx: &mut ports.ac_rx,
        tx: &mut ports.ac_tx[0],
        mac: MacAddr(ports.ac_port.mac()),
        ip: access_ip.addr(),
    }];
    let probed = address_probe::probe(&mut target, pool, slow_counters, stop);
    probe_verdict(cfg, probed, true)
}
