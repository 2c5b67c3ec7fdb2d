//! The subnet `run` will ask etcd for, checked before EAL starts; and for
//! `--check-config`, the lease list read as a start would read it.

use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context as _;

use super::check_config::{bounded, check_report};
use super::requested::{self, requested_subnet};
use super::start_control::Etcd;
use super::stop::{stopped_during_startup, until_stop};
use super::{stopped, Started};
use crate::config::{Config, Side as CfgSide};
use crate::control::Subnet;
use crate::dpdk;

/// The subnet asked for (`None`: any free one), once the flags agree with
/// flannel's network config, the subnet is free, and our credentials may
/// write the lease.
pub(super) fn check_requested(
    cfg: &Config,
    stop: &Arc<AtomicBool>,
    etcd: &mut Etcd,
) -> Started<Option<Subnet>> {
    // A ConfigError: `main` exits with code 2, before EAL starts.
    let access_neighbors: Vec<Ipv4Addr> = cfg
        .neighbors
        .iter()
        .filter(|n| n.side == CfgSide::Access)
        .map(|n| n.ip)
        .collect();
    let network = crate::config::Ipv4Cidr::new(etcd.net.network.addr, etcd.net.network.len)
        .context("flannel's Network is not a valid CIDR")?;
    cfg.check_access_neighbors_in_network(network)?;
    let requested = requested_subnet(cfg.subnet, cfg.access_ip, &access_neighbors, &etcd.net)?;
    requested::check_underlay_clear(requested, cfg.underlay_ip, &etcd.net)?;
    // With access neighbours a subnet is always requested, and a requested
    // subnet is the one acquired: this is their only check against it.
    if let Some(s) = requested {
        let cidr = crate::config::Ipv4Cidr::new(s.addr, s.len)
            .context("requested subnet is not a valid CIDR")?;
        cfg.check_access_neighbors(cidr, cfg.access_ip_for(cidr))?;
        // Held by another node: said now, before EAL and the ports start.
        let Some(free) = until_stop(
            &etcd.rt,
            stop,
            etcd.control.check_requested_free(cfg.underlay_ip.addr(), s),
        ) else {
            return stopped(cfg, "checking the requested subnet");
        };
        free?;
    }
    // A user that may read but not write the lease: said now, before EAL.
    let Some(writable) = until_stop(
        &etcd.rt,
        stop,
        bounded(
            cfg.check_only,
            "checking the right to write the lease",
            etcd.control.check_writable(requested),
        ),
    ) else {
        return stopped(cfg, "checking the right to write the lease");
    };
    writable?;
    Ok(Some(requested))
}

/// The end of `--check-config`: the whole lease list, as the start's
/// acquisition reads it (after EAL): another node's lease with our
/// VtepMAC, and without --subnet what a start would take, or
/// NoFreeSubnet; then the hugepages, and the report.
pub(super) fn finish_check(
    cfg: &Config,
    stop: &Arc<AtomicBool>,
    etcd: &mut Etcd,
    requested: Option<Subnet>,
) -> anyhow::Result<()> {
    let vtep_mac = cfg.vtep_mac_for(etcd.net.backend.vni);
    let read = bounded(
        true,
        "reading the leases",
        etcd.control
            .check_acquirable(cfg.underlay_ip.addr(), vtep_mac, requested),
    );
    let Some(back) = until_stop(&etcd.rt, stop, read) else {
        return stopped_during_startup(cfg, "reading the leases");
    };
    // The hugepages as EAL would find them (a start fails in EAL).
    dpdk::check_hugepages(&cfg.eal_args)?;
    let subnet = match (requested, back?) {
        (Some(s), _) => format!("{s} (free, or ours)"),
        (None, Some(s)) => format!("{s} (ours, taken back at start)"),
        (None, None) => "a free one, acquired at start".to_string(),
    };
    crate::ops::print_out(&check_report(cfg, &etcd.net, &subnet));
    Ok(())
}
