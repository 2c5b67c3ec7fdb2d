//! Which subnet vxgate asks etcd for, checked against flannel's network
//! config before EAL starts: a `--subnet` or `--access-ip` that cannot work
//! with this overlay is a configuration error (exit 2), not a failure after
//! the ports are up.

use std::net::Ipv4Addr;

use crate::config::{access_ip_on_an_edge, ConfigError, Ipv4Cidr};
use crate::control::{check_requested, NetworkConfig, Subnet};

/// `--subnet` when given; else, with `--access-ip`, the subnet of
/// `SubnetLen` around it (the hosts already use that address as their
/// gateway, so no other subnet can serve them); else, with static access
/// neighbours, the subnet of `SubnetLen` around them (those hosts already
/// hold their addresses; they must share one subnet); else `None`: any
/// free one. So the access link is known, and every access neighbour
/// checked against it, before EAL starts.
pub fn requested_subnet(
    subnet: Option<Ipv4Cidr>,
    access_ip: Option<Ipv4Cidr>,
    access_neighbors: &[Ipv4Addr],
    net: &NetworkConfig,
) -> Result<Option<Subnet>, ConfigError> {
    let fix = || {
        format!(
            "give a /{} inside flannel's Network {} (etcd config), or leave it out to acquire a free subnet",
            net.subnet_len, net.network
        )
    };
    if let Some(c) = subnet {
        let s = Subnet::new(c.network_addr(), c.prefix_len())
            .map_err(|e| ConfigError::invalid("subnet", c, e.to_string(), fix()))?;
        check_requested(net, s).map_err(|why| ConfigError::invalid("subnet", c, why, fix()))?;
        return Ok(Some(s));
    }
    let Some(a) = access_ip else {
        return neighbors_subnet(access_neighbors, net);
    };
    if a.prefix_len() < net.subnet_len {
        return Err(ConfigError::invalid(
            "access-ip",
            a,
            format!(
                "its prefix is wider than flannel's SubnetLen /{}: hosts would send other nodes' subnets to vxgate's access port",
                net.subnet_len
            ),
            format!("give /{} (or longer)", net.subnet_len),
        ));
    }
    let s = subnet_around(a.addr(), net).map_err(|why| {
        ConfigError::invalid(
            "access-ip",
            a,
            format!("its subnet {why}"),
            "give an address inside flannel's Network (etcd config), or leave access-ip out",
        )
    })?;
    match Ipv4Cidr::new(s.addr, s.len) {
        Ok(c) if c.is_edge(a.addr()) => Err(access_ip_on_an_edge(a, c)),
        _ => Ok(Some(s)),
    }
}

/// The subnet of `SubnetLen` around `ip`, which vxgate claims for the
/// hosts that already use it; `Err`: "SUBNET is WHY" it cannot.
fn subnet_around(ip: Ipv4Addr, net: &NetworkConfig) -> Result<Subnet, String> {
    let around = Ipv4Cidr::new(ip, net.subnet_len).map_err(|e| e.to_string())?;
    let s = Subnet::new(around.network_addr(), net.subnet_len).map_err(|e| e.to_string())?;
    check_requested(net, s).map_err(|why| format!("{s} is {why}"))?;
    Ok(s)
}

/// The subnet vxgate will hold must not overlap its own underlay prefix
/// (its hosts and its nodes would share addresses): the requested one
/// exactly; without one, any subnet flannel's `SubnetMin`..`SubnetMax`
/// could hand out (a Network that holds the underlay is fine when those
/// leave it out, as flanneld's own nodes need too).
pub fn check_underlay_clear(
    requested: Option<Subnet>,
    underlay: Ipv4Cidr,
    net: &NetworkConfig,
) -> Result<(), ConfigError> {
    let (lo, hi) = (
        u32::from(underlay.network_addr()),
        u32::from(underlay.broadcast_addr()),
    );
    let size = |len: u8| 1u64 << (32 - u32::from(len));
    let (from, to, what) = match requested {
        Some(s) => (
            u64::from(u32::from(s.addr)),
            u64::from(u32::from(s.addr)) + size(s.len) - 1,
            format!("the subnet vxgate claims, {s},"),
        ),
        None => (
            u64::from(u32::from(net.subnet_min)),
            u64::from(u32::from(net.subnet_max)) + size(net.subnet_len) - 1,
            format!(
                "flannel's SubnetMin..SubnetMax ({}..{}, the subnets vxgate may acquire)",
                net.subnet_min, net.subnet_max
            ),
        ),
    };
    if from <= u64::from(hi) && u64::from(lo) <= to {
        return Err(ConfigError::invalid(
            "underlay-ip",
            underlay,
            format!("{what} overlaps the underlay prefix {underlay}: overlay and underlay addresses must be disjoint"),
            "give --subnet outside the underlay prefix, or set SubnetMin/SubnetMax in etcd's network config to leave the underlay out",
        ));
    }
    Ok(())
}

/// The subnet of `SubnetLen` around the access neighbours, which must all
/// lie in it and in `Network`; `None` without any.
fn neighbors_subnet(ips: &[Ipv4Addr], net: &NetworkConfig) -> Result<Option<Subnet>, ConfigError> {
    let Some(&first) = ips.first() else {
        return Ok(None);
    };
    let fix = "give --subnet (or --access-ip) for the access link, and access neighbours inside it";
    let invalid = |ip: Ipv4Addr, why: String| {
        ConfigError::invalid("neighbor", format!("access,{ip},…"), why, fix)
    };
    let s = subnet_around(first, net).map_err(|why| {
        invalid(
            first,
            format!(
                "without --subnet and --access-ip vxgate would claim the subnet around it: {why}"
            ),
        )
    })?;
    if let Some(&other) = ips.iter().find(|ip| !s.contains(**ip)) {
        return Err(invalid(
            other,
            format!(
                "without --subnet and --access-ip vxgate claims the subnet around the access neighbours, {s} (from {first}), and {other} is outside it: the access link is one subnet of flannel's SubnetLen /{}",
                net.subnet_len
            ),
        ));
    }
    Ok(Some(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> NetworkConfig {
        NetworkConfig::parse(br#"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#).unwrap()
    }

    fn cidr(s: &str) -> Option<Ipv4Cidr> {
        let (a, l) = s.split_once('/').unwrap();
        Some(Ipv4Cidr::new(a.parse().unwrap(), l.parse().unwrap()).unwrap())
    }

    fn requested_subnet_t(
        subnet: Option<Ipv4Cidr>,
        access_ip: Option<Ipv4Cidr>,
        net: &NetworkConfig,
    ) -> Result<Option<Subnet>, ConfigError> {
        requested_subnet(subnet, access_ip, &[], net)
    }

    fn err(r: Result<Option<Subnet>, ConfigError>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 2);
        e.to_string()
    }

    #[test]
    fn subnet_flag_must_fit_the_network_config() {
        let n = net();
        let got = requested_subnet_t(cidr("10.244.255.0/24"), None, &n).unwrap();
        assert_eq!(got, Some(Subnet::parse_key("10.244.255.0-24").unwrap()));
        let e = err(requested_subnet_t(cidr("10.9.1.0/24"), None, &n));
        assert!(
            e.contains("invalid subnet `10.9.1.0/24`")
                && e.contains("not inside Network 10.244.0.0/16"),
            "{e}"
        );
        let e = err(requested_subnet_t(cidr("10.244.255.0/25"), None, &n));
        assert!(e.contains("SubnetLen /24"), "{e}");
        // --subnet wins over --access-ip (config validation already
        // checked that the access address lies inside it).
        let got = requested_subnet_t(cidr("10.244.3.0/24"), cidr("10.244.3.9/24"), &n).unwrap();
        assert_eq!(got, Some(Subnet::parse_key("10.244.3.0-24").unwrap()));
    }

    #[test]
    fn access_ip_alone_picks_its_subnet() {
        let n = net();
        assert_eq!(requested_subnet_t(None, None, &n).unwrap(), None);
        let got = requested_subnet_t(None, cidr("10.244.7.200/24"), &n).unwrap();
        assert_eq!(got, Some(Subnet::parse_key("10.244.7.0-24").unwrap()));
        let got = requested_subnet_t(None, cidr("10.244.7.200/26"), &n).unwrap();
        assert_eq!(got, Some(Subnet::parse_key("10.244.7.0-24").unwrap()));
        let e = err(requested_subnet_t(None, cidr("10.244.7.1/16"), &n));
        assert!(e.contains("invalid access-ip") && e.contains("/24"), "{e}");
        let e = err(requested_subnet_t(None, cidr("10.9.0.1/24"), &n));
        assert!(e.contains("10.9.0.0/24 is not inside Network"), "{e}");
        // The subnet's edges are no host's, whatever access-ip's prefix.
        for a in ["10.244.7.0/32", "10.244.7.255/32", "10.244.7.0/31"] {
            let e = err(requested_subnet_t(None, cidr(a), &n));
            assert!(
                e.contains("invalid access-ip")
                    && e.contains("network or broadcast address of subnet 10.244.7.0/24"),
                "{a}: {e}"
            );
        }
    }

    #[test]
    fn access_neighbors_alone_pick_their_subnet() {
        let n = net();
        let ip = |s: &str| -> Ipv4Addr { s.parse().unwrap() };
        let got = requested_subnet(None, None, &[ip("10.244.9.10"), ip("10.244.9.200")], &n);
        assert_eq!(
            got.unwrap(),
            Some(Subnet::parse_key("10.244.9.0-24").unwrap())
        );
        // Two subnets: no access link holds both.
        let e = err(requested_subnet(
            None,
            None,
            &[ip("10.244.9.10"), ip("10.244.8.10")],
            &n,
        ));
        assert!(
            e.contains("invalid neighbor") && e.contains("10.244.8.10 is outside it"),
            "{e}"
        );
        // Outside Network (or SubnetMin..SubnetMax).
        let e = err(requested_subnet(None, None, &[ip("10.9.0.1")], &n));
        assert!(
            e.contains("10.9.0.0/24") && e.contains("not inside Network"),
            "{e}"
        );
        // --subnet and --access-ip win: the neighbours are checked against
        // them by the config's own checks.
        let got = requested_subnet(cidr("10.244.3.0/24"), None, &[ip("10.244.9.10")], &n);
        assert_eq!(
            got.unwrap(),
            Some(Subnet::parse_key("10.244.3.0-24").unwrap())
        );
        let got = requested_subnet(None, cidr("10.244.4.1/24"), &[ip("10.244.9.10")], &n);
        assert_eq!(
            got.unwrap(),
            Some(Subnet::parse_key("10.244.4.0-24").unwrap())
        );
    }

    #[test]
    fn the_held_subnet_never_overlaps_the_underlay() {
        let n = net(); // 10.244.0.0/16, SubnetMin 10.244.1.0, SubnetMax 10.244.255.0
        let ul = |s: &str| cidr(s).unwrap();
        let sub = |k: &str| Some(Subnet::parse_key(k).unwrap());
        // Disjoint: fine either way.
        check_underlay_clear(None, ul("172.28.147.40/28"), &n).unwrap();
        check_underlay_clear(sub("10.244.5.0-24"), ul("172.28.147.40/28"), &n).unwrap();
        // The underlay inside Network but outside the requested subnet.
        check_underlay_clear(sub("10.244.5.0-24"), ul("10.244.0.40/28"), &n).unwrap();
        // ... and below SubnetMin: acquiring is fine too.
        check_underlay_clear(None, ul("10.244.0.40/28"), &n).unwrap();
        let e = err(
            check_underlay_clear(sub("10.244.5.0-24"), ul("10.244.5.200/28"), &n).map(|_| None),
        );
        assert!(
            e.contains("invalid underlay-ip") && e.contains("10.244.5.0/24"),
            "{e}"
        );
        let e = err(check_underlay_clear(None, ul("10.244.9.1/24"), &n).map(|_| None));
        assert!(
            e.contains("SubnetMin..SubnetMax (10.244.1.0..10.244.255.0"),
            "{e}"
        );
        // A /0 underlay overlaps everything.
        let e = err(check_underlay_clear(None, ul("172.28.147.40/0"), &n).map(|_| None));
        assert!(e.contains("overlaps the underlay prefix"), "{e}");
    }
}
