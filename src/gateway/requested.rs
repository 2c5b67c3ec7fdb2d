//! Which subnet vxgate asks etcd for, checked against flannel's network
//! config before EAL starts: a `--subnet` or `--access-ip` that cannot work
//! with this overlay is a configuration error (exit 2), not a failure after
//! the ports are up.

use crate::config::{ConfigError, Ipv4Cidr};
use crate::control::{check_requested, NetworkConfig, Subnet};

/// `--subnet` when given; else, with `--access-ip`, the subnet of
/// `SubnetLen` around it (the hosts already use that address as their
/// gateway, so no other subnet can serve them); else `None`: any free one.
pub fn requested_subnet(
    subnet: Option<Ipv4Cidr>,
    access_ip: Option<Ipv4Cidr>,
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
        return Ok(None);
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
    let around = Ipv4Cidr::new(a.addr(), net.subnet_len)
        .map_err(|e| ConfigError::invalid("access-ip", a, e.to_string(), fix()))?
        .network_addr();
    let s = Subnet::new(around, net.subnet_len)
        .map_err(|e| ConfigError::invalid("access-ip", a, e.to_string(), fix()))?;
    check_requested(net, s).map_err(|why| {
        ConfigError::invalid(
            "access-ip",
            a,
            format!("its subnet {s} is {why}"),
            "give an address inside flannel's Network (etcd config), or leave access-ip out",
        )
    })?;
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

    fn err(r: Result<Option<Subnet>, ConfigError>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 2);
        e.to_string()
    }

    #[test]
    fn subnet_flag_must_fit_the_network_config() {
        let n = net();
        let got = requested_subnet(cidr("10.244.255.0/24"), None, &n).unwrap();
        assert_eq!(got, Some(Subnet::parse_key("10.244.255.0-24").unwrap()));
        let e = err(requested_subnet(cidr("10.9.1.0/24"), None, &n));
        assert!(
            e.contains("invalid subnet `10.9.1.0/24`")
                && e.contains("not inside Network 10.244.0.0/16"),
            "{e}"
        );
        let e = err(requested_subnet(cidr("10.244.255.0/25"), None, &n));
        assert!(e.contains("SubnetLen /24"), "{e}");
        // --subnet wins over --access-ip (config validation already
        // checked that the access address lies inside it).
        let got = requested_subnet(cidr("10.244.3.0/24"), cidr("10.244.3.9/24"), &n).unwrap();
        assert_eq!(got, Some(Subnet::parse_key("10.244.3.0-24").unwrap()));
    }

    #[test]
    fn access_ip_alone_picks_its_subnet() {
        let n = net();
        assert_eq!(requested_subnet(None, None, &n).unwrap(), None);
        let got = requested_subnet(None, cidr("10.244.7.200/24"), &n).unwrap();
        assert_eq!(got, Some(Subnet::parse_key("10.244.7.0-24").unwrap()));
        let got = requested_subnet(None, cidr("10.244.7.200/26"), &n).unwrap();
        assert_eq!(got, Some(Subnet::parse_key("10.244.7.0-24").unwrap()));
        let e = err(requested_subnet(None, cidr("10.244.7.1/16"), &n));
        assert!(e.contains("invalid access-ip") && e.contains("/24"), "{e}");
        let e = err(requested_subnet(None, cidr("10.9.0.1/24"), &n));
        assert!(e.contains("10.9.0.0/24 is not inside Network"), "{e}");
    }
}
