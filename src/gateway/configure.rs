//! The data plane's configuration: the pipeline's `Context` from the flags,
//! flannel's network config, our lease and the ports.

use std::net::Ipv4Addr;

use anyhow::Context as _;
use tracing::info;

use super::mtu::{tunnel_mtu, usable_mtu};
use super::open_ports::Ports;
use crate::config::{Config, Ipv4Cidr};
use crate::control::{NetworkConfig, OwnLease};
use crate::pipeline::context::{Context, ContextConfig, Prefix};
use crate::wire::{MacAddr, Vni};

/// The context every worker and the slow path get a copy of: our
/// addresses, the tunnel's parameters and the MTUs the ports can carry
/// in buffers of `data_room` bytes.
pub(super) fn configure_data_plane(
    cfg: &Config,
    net: &NetworkConfig,
    own: &OwnLease,
    access_ip: Ipv4Cidr,
    ports: &Ports,
    data_room: u16,
    vtep_mac: [u8; 6],
) -> anyhow::Result<Context> {
    let vni = net.backend.vni;
    let (ul_mtu, ac_mtu) = (
        usable_mtu(&ports.ul_port, "underlay-mtu", data_room),
        usable_mtu(&ports.ac_port, "access-mtu", data_room),
    );
    let tunnel_mtu = tunnel_mtu(net.backend.mtu, ul_mtu);
    let prefix = |a: Ipv4Addr, l: u8| Prefix::new(a, l).context("prefix length above 32");
    let ctx = Context::new(ContextConfig {
        underlay_ip: cfg.underlay_ip.addr(),
        underlay_mac: MacAddr(ports.ul_port.mac()),
        underlay_prefix: prefix(cfg.underlay_ip.network_addr(), cfg.underlay_ip.prefix_len())?,
        underlay_gateway: cfg.underlay_gateway,
        access_ip: access_ip.addr(),
        access_mac: MacAddr(ports.ac_port.mac()),
        subnet: prefix(own.subnet.addr, own.subnet.len)?,
        network: prefix(net.network.addr, net.network.len)?,
        subnet_len: net.subnet_len,
        vni: Vni::new(vni).context("VNI above 24 bits")?,
        udp_port: net.backend.port,
        tunnel_mtu,
        underlay_mtu: ul_mtu,
        access_mtu: ac_mtu,
        vtep_mac: MacAddr(vtep_mac),
        direct_routing: net.backend.direct_routing,
    })?;
    info!(
        vni,
        port = net.backend.port,
        tunnel_mtu,
        access_ip = %access_ip,
        underlay_ip = %cfg.underlay_ip,
        underlay_gateway = %cfg
            .underlay_gateway
            .map_or_else(|| "none".to_string(), |g| g.to_string()),
        network = %net.network,
        direct_routing = net.backend.direct_routing,
        "data plane configured"
    );
    Ok(ctx)
}
