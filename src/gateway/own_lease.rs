//! Our own lease taken in etcd, once the ports can serve it.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tracing::info;

use super::start_control::Etcd;
use super::stop::until_stop;
use super::{stopped, Started};
use crate::config::Config;
use crate::control::{OwnLease, Subnet};
use crate::wire::MacAddr;

/// Our VtepMAC and the lease that announces it (the `requested` subnet, or
/// one etcd's list gives), in the order `run` binds them.
pub(super) fn acquire_lease(
    cfg: &Config,
    stop: &Arc<AtomicBool>,
    etcd: &mut Etcd,
    requested: Option<Subnet>,
) -> Started<([u8; 6], OwnLease)> {
    let vni = etcd.net.backend.vni;
    let vtep_mac = cfg.vtep_mac_for(vni);
    let Some(own) = until_stop(
        &etcd.rt,
        stop,
        etcd.control
            .acquire_own_lease(cfg.underlay_ip.addr(), vtep_mac, requested),
    ) else {
        return stopped(cfg, "acquiring our lease");
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
    Ok(Some((vtep_mac, own)))
}
