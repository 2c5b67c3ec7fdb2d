//! Static neighbours: each on its link, none vxgate's own address, none given twice.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use super::addresses::special_addr;
use crate::config::{
    format_mac, parse_unicast_mac, Config, ConfigError, Ipv4Cidr, Side, StaticNeighbor,
};

pub(super) fn neighbors(
    specs: &[String],
    underlay_ip: Ipv4Cidr,
    subnet: Option<Ipv4Cidr>,
    access_ip: Option<Ipv4Cidr>,
) -> Result<Vec<StaticNeighbor>, ConfigError> {
    const KEY: &str = "neighbor";
    const FORMAT: &str = "write PORT,IP,MAC with PORT underlay or access, e.g. access,10.244.255.10,02:00:00:00:00:0a";
    let mut out = Vec::with_capacity(specs.len());
    let mut seen = HashSet::new();
    for spec in specs {
        let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
        let [side, ip, mac_s] = parts[..] else {
            return Err(ConfigError::invalid(
                KEY,
                spec,
                "not three comma-separated fields",
                FORMAT,
            ));
        };
        let side: Side = side.parse().map_err(|()| {
            ConfigError::invalid(KEY, spec, format!("unknown port `{side}`"), FORMAT)
        })?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| {
            ConfigError::invalid(KEY, spec, format!("`{ip}` is not an IPv4 address"), FORMAT)
        })?;
        special_addr(KEY, spec, ip)?;
        let mac = parse_unicast_mac(mac_s)
            .map_err(|e| ConfigError::invalid(KEY, spec, format!("MAC `{mac_s}`: {e}"), FORMAT))?;
        // The access address defaults to the subnet's first host.
        let (own, range) = match side {
            Side::Underlay => (Some(underlay_ip.addr()), Some(underlay_ip.network())),
            Side::Access => (
                access_ip
                    .map(|a| a.addr())
                    .or(subnet.map(|s| s.first_host())),
                // The access link is the subnet, which access-ip's own
                // prefix may not show: without --subnet it is checked
                // once known (`access_neighbors_on`, before EAL starts).
                subnet,
            ),
        };
        on_link(spec, side, ip, own, range, access_ip.is_none())?;
        if !seen.insert((side, ip)) {
            return Err(ConfigError::invalid(
                KEY,
                spec,
                format!("{side} neighbour {ip} is given twice"),
                "keep one entry per address",
            ));
        }
        out.push(StaticNeighbor { side, ip, mac });
    }
    Ok(out)
}

/// A neighbour's address on its link: inside `range`, not vxgate's `own`
/// address there, not the link's network or broadcast address (ranges
/// vxgate does not know yet are not checked). `own_defaulted`: the access
/// address is the subnet's first host, not given.
fn on_link(
    spec: &str,
    side: Side,
    ip: Ipv4Addr,
    own: Option<Ipv4Addr>,
    range: Option<Ipv4Cidr>,
    own_defaulted: bool,
) -> Result<(), ConfigError> {
    const KEY: &str = "neighbor";
    if let Some(range) = range.filter(|r| !r.contains(ip)) {
        return Err(ConfigError::invalid(
            KEY,
            spec,
            format!("{ip} is not on the {side} link ({range})"),
            "static neighbours must be directly reachable on their port",
        ));
    }
    if own == Some(ip) {
        let default = if side == Side::Access && own_defaulted {
            " (access-ip defaults to the subnet's first host)"
        } else {
            ""
        };
        return Err(ConfigError::invalid(
            KEY,
            spec,
            format!("{ip} is vxgate's own {side} address{default}"),
            "remove this neighbour; vxgate answers for its own address",
        ));
    }
    if let Some(range) = range.filter(|r| r.prefix_len() < 31) {
        let which = if ip == range.network_addr() {
            Some("network")
        } else if ip == range.broadcast_addr() {
            Some("broadcast")
        } else {
            None
        };
        if let Some(which) = which {
            return Err(ConfigError::invalid(
                KEY,
                spec,
                format!("{ip} is the {which} address of the {side} link {range}, not a host"),
                "give the neighbour's own address on the link",
            ));
        }
    }
    Ok(())
}

/// The access neighbours against the subnet and access address known only
/// once etcd's network config is read (without `subnet` and `access-ip`,
/// the checks of [`build`](super::build) could not place them).
pub(in crate::config) fn access_neighbors_on(
    cfg: &Config,
    subnet: Ipv4Cidr,
    access_ip: Ipv4Cidr,
) -> Result<(), ConfigError> {
    for n in cfg.neighbors.iter().filter(|n| n.side == Side::Access) {
        let spec = format!("access,{},{}", n.ip, format_mac(&n.mac));
        on_link(
            &spec,
            Side::Access,
            n.ip,
            Some(access_ip.addr()),
            Some(subnet),
            cfg.access_ip.is_none(),
        )?;
    }
    Ok(())
}

/// The access neighbours against flannel's Network, before the subnet
/// (inside it) is known.
pub(in crate::config) fn access_neighbors_in_network(
    cfg: &Config,
    network: Ipv4Cidr,
) -> Result<(), ConfigError> {
    let outside = cfg
        .neighbors
        .iter()
        .find(|n| n.side == Side::Access && !network.contains(n.ip));
    match outside {
        None => Ok(()),
        Some(n) => Err(ConfigError::invalid(
            "neighbor",
            format!("access,{},{}", n.ip, format_mac(&n.mac)),
            format!(
                "{} is outside flannel's Network {network}, which holds every subnet vxgate can be leased, so it cannot be on the access link",
                n.ip
            ),
            "static neighbours must be directly reachable on their port: give a host of the gateway's subnet",
        )),
    }
}
