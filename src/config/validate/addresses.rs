//! Prefixes, addresses and MACs: the underlay's, its gateway, the subnet, access-ip, and the ranges none may use.

use std::net::Ipv4Addr;

use crate::config::{parse_unicast_mac, ConfigError, Ipv4Cidr};

fn cidr(key: &'static str, s: &str, example: &str) -> Result<Ipv4Cidr, ConfigError> {
    s.parse::<Ipv4Cidr>().map_err(|e| {
        ConfigError::invalid(key, s, e.to_string(), format!("write IP/LEN, {example}"))
    })
}

/// An interface address: not the network or broadcast address of its
/// prefix, not a special address.
pub(super) fn host_cidr(
    key: &'static str,
    s: &str,
    example: &str,
) -> Result<Ipv4Cidr, ConfigError> {
    let c = cidr(key, s, example)?;
    special_addr(key, s, c.addr())?;
    if !c.is_host_addr() {
        return Err(ConfigError::invalid(
            key,
            s,
            format!(
                "{} is the network or broadcast address of {}",
                c.addr(),
                c.network()
            ),
            format!(
                "give this interface's own address with the prefix length, e.g. {}/{}",
                c.first_host(),
                c.prefix_len()
            ),
        ));
    }
    Ok(c)
}

/// Ranges no interface, neighbour or overlay subnet may use, with what
/// they are.
const RESERVED: [(Ipv4Addr, u8, &str); 4] = [
    (
        Ipv4Addr::new(0, 0, 0, 0),
        8,
        "the \"this network\" range 0.0.0.0/8 (with the unspecified address 0.0.0.0)",
    ),
    (
        Ipv4Addr::new(127, 0, 0, 0),
        8,
        "the loopback range 127.0.0.0/8",
    ),
    (
        Ipv4Addr::new(224, 0, 0, 0),
        4,
        "the multicast range 224.0.0.0/4",
    ),
    (
        Ipv4Addr::new(240, 0, 0, 0),
        4,
        "the reserved range 240.0.0.0/4 (with the broadcast address 255.255.255.255)",
    ),
];

fn reserved_range(c: Ipv4Cidr) -> Option<&'static str> {
    RESERVED.iter().find_map(|&(addr, len, what)| {
        let r = Ipv4Cidr::new(addr, len).ok()?;
        r.overlaps(&c).then_some(what)
    })
}

/// Refuses an address in 0.0.0.0/8, 127.0.0.0/8, 224.0.0.0/4 or
/// 240.0.0.0/4.
pub(super) fn special_addr(key: &'static str, s: &str, ip: Ipv4Addr) -> Result<(), ConfigError> {
    if let Some(what) = Ipv4Cidr::new(ip, 32).ok().and_then(reserved_range) {
        return Err(ConfigError::invalid(
            key,
            s,
            format!("{ip} is in {what}, not a unicast host address"),
            "give a unicast address",
        ));
    }
    Ok(())
}

pub(super) fn gateway(s: &str, underlay_ip: Ipv4Cidr) -> Result<Ipv4Addr, ConfigError> {
    const KEY: &str = "underlay-gateway";
    let ip: Ipv4Addr = s.trim().parse().map_err(|_| {
        ConfigError::invalid(KEY, s, "not an IPv4 address", "write e.g. 172.28.147.33")
    })?;
    special_addr(KEY, s, ip)?;
    let net = underlay_ip.network();
    let on_link = Ipv4Cidr::new(ip, underlay_ip.prefix_len()).is_ok_and(|c| c.is_host_addr());
    if !net.contains(ip) || !on_link || ip == underlay_ip.addr() {
        return Err(ConfigError::invalid(
            KEY,
            s,
            format!("not another host on the underlay prefix {net} (underlay-ip {underlay_ip})"),
            "the gateway must be reachable on the underlay link; check underlay-ip's prefix length",
        ));
    }
    Ok(ip)
}

pub(super) fn subnet(s: &str, underlay_net: Ipv4Cidr) -> Result<Ipv4Cidr, ConfigError> {
    const KEY: &str = "subnet";
    let c = cidr(KEY, s, "e.g. 10.244.255.0/24")?;
    if c.prefix_len() > 30 || c.prefix_len() < 8 {
        return Err(ConfigError::invalid(
            KEY,
            s,
            "prefix length must be from /8 to /30 so the subnet has host addresses",
            "use flannel's SubnetLen, usually /24",
        ));
    }
    if !c.is_network() {
        return Err(ConfigError::invalid(
            KEY,
            s,
            "not a network address (host bits are set)",
            format!("use {}", c.network()),
        ));
    }
    if let Some(what) = reserved_range(c) {
        return Err(ConfigError::invalid(
            KEY,
            s,
            format!("it lies in {what}, which no overlay subnet may use"),
            "give a subnet of flannel's Network, e.g. 10.244.255.0/24",
        ));
    }
    if c.overlaps(&underlay_net) {
        return Err(ConfigError::invalid(
            KEY,
            s,
            format!("it overlaps the underlay prefix {underlay_net} (underlay-ip)"),
            "the overlay subnet and the underlay network must be disjoint; check both prefixes",
        ));
    }
    Ok(c)
}

pub(super) fn access_ip(
    s: &str,
    subnet: Option<Ipv4Cidr>,
    underlay_net: Ipv4Cidr,
) -> Result<Ipv4Cidr, ConfigError> {
    const KEY: &str = "access-ip";
    let c = host_cidr(KEY, s, "e.g. 10.244.255.1/24")?;
    match subnet {
        Some(sub) if !sub.covers(&c) => Err(ConfigError::invalid(
            KEY,
            s,
            format!("{} is not inside subnet {sub}", c.network()),
            format!(
                "give an address inside {sub} with a prefix length of at least /{}, or leave access-ip out to use {}/{}",
                sub.prefix_len(),
                sub.first_host(),
                sub.prefix_len()
            ),
        )),
        Some(sub) if sub.is_edge(c.addr()) => Err(access_ip_on_an_edge(c, sub)),
        _ if c.overlaps(&underlay_net) => Err(ConfigError::invalid(
            KEY,
            s,
            format!("it overlaps the underlay prefix {underlay_net} (underlay-ip)"),
            "the access side must be on the overlay subnet, not the underlay network",
        )),
        _ => Ok(c),
    }
}

/// access-ip `a` is `sub`'s network or broadcast address: the access
/// link is the whole subnet, whatever access-ip's own prefix, and its
/// edges are no host's address there. (Checked with `--subnet` here, and
/// against the subnet claimed around access-ip once flannel's SubnetLen is
/// known: `gateway::requested`.)
pub fn access_ip_on_an_edge(a: Ipv4Cidr, sub: Ipv4Cidr) -> ConfigError {
    ConfigError::invalid(
        "access-ip",
        a,
        format!(
            "{} is the network or broadcast address of subnet {sub}",
            a.addr()
        ),
        format!(
            "give a host address of {sub}, or leave access-ip out to use {}/{}",
            sub.first_host(),
            sub.prefix_len()
        ),
    )
}

pub(super) fn mac(key: &'static str, s: &str) -> Result<[u8; 6], ConfigError> {
    parse_unicast_mac(s).map_err(|e| {
        ConfigError::invalid(
            key,
            s,
            e.to_string(),
            "give a unicast MAC such as 0e:01:ac:1c:93:28",
        )
    })
}
