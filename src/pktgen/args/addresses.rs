//! Checks of what goes on the wire: addresses, the source MAC, UDP ports, subnets, leases.

use std::net::Ipv4Addr;

use super::PktgenArgs;
use crate::config::{format_mac, ConfigError};

/// What `ip` is when it is no host's address: the unspecified address or
/// the (limited) broadcast address.
fn no_host_kind(ip: Ipv4Addr) -> &'static str {
    if ip.is_broadcast() {
        "the broadcast address"
    } else {
        "the unspecified address"
    }
}

/// An address pktgen puts on the wire (flag `key`, `what` it stands for)
/// may be neither 0.0.0.0 nor 255.255.255.255.
pub(super) fn check_host_addr(
    key: &'static str,
    ip: Ipv4Addr,
    what: &str,
) -> Result<(), ConfigError> {
    if !ip.is_unspecified() && !ip.is_broadcast() {
        return Ok(());
    }
    Err(ConfigError::invalid(
        key,
        ip,
        format!("{ip} is {}, not a host's address", no_host_kind(ip)),
        format!("give --{key} as {what}: neither 0.0.0.0 nor 255.255.255.255"),
    ))
}

/// The last of `n` (at least 1) addresses counted from `first`, if all of
/// them stay below the broadcast address 255.255.255.255.
pub(super) fn last_host(first: Ipv4Addr, n: u32) -> Option<u32> {
    u32::from(first)
        .checked_add(n.checked_sub(1)?)
        .filter(|last| *last < u32::MAX)
}

impl PktgenArgs {
    /// How many leases --network holds at --subnet-len (lease i is subnet
    /// i + 1: the first subnet is skipped, as flannel's SubnetMin does).
    fn max_leases(&self) -> u64 {
        let bits = u32::from(self.subnet_len.saturating_sub(self.network.prefix_len()));
        1u64.checked_shl(bits).unwrap_or(0).saturating_sub(1)
    }

    /// A group (multicast or broadcast) address is no frame's source: a
    /// switch or NIC would drop such frames or flood them.
    pub(super) fn check_src_mac(&self) -> Result<(), ConfigError> {
        const FIX: &str = "give a unicast --src-mac (first byte even, not all zero, e.g. \
                           02:00:00:00:00:01), or drop it to use the TX port's MAC";
        match self.src_mac {
            Some(m) if m[0] & 1 == 1 => Err(ConfigError::invalid(
                "src-mac",
                format_mac(&m),
                "a multicast or broadcast (group) address cannot be a frame's source",
                FIX,
            )),
            Some(m) if m == [0; 6] => Err(ConfigError::invalid(
                "src-mac",
                format_mac(&m),
                "the all-zero address is no station's, so no frame's source",
                FIX,
            )),
            _ => Ok(()),
        }
    }

    /// UDP port 0 (flag `key`) is reserved: no datagram is addressed to it.
    pub(super) fn check_udp_port(key: &'static str, port: u16) -> Result<(), ConfigError> {
        if port != 0 {
            return Ok(());
        }
        Err(ConfigError::invalid(
            key,
            port,
            "port 0 is reserved, no UDP datagram is addressed to it",
            format!("give --{key} from 1 to 65535"),
        ))
    }

    /// The destinations of --dst-subnets are hosts of each subnet: in a /31
    /// or /32 every address, so neither may hold 0.0.0.0 or
    /// 255.255.255.255 (in longer prefixes hosts skip the network and
    /// broadcast addresses, which those two always are).
    pub(super) fn check_dst_subnets(&self) -> Result<(), ConfigError> {
        for net in &self.dst_subnets {
            let bad = [Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST]
                .into_iter()
                .find(|ip| net.size() <= 2 && net.contains(*ip));
            if let Some(ip) = bad {
                return Err(ConfigError::invalid(
                    "dst-subnets",
                    net,
                    format!(
                        "pktgen sends to every address of a /{}, and {ip} is {}, not a \
                         host's address",
                        net.prefix_len(),
                        no_host_kind(ip)
                    ),
                    "give --dst-subnets of /30 or shorter there (their hosts skip the network \
                     and broadcast addresses), or other subnets",
                ));
            }
        }
        Ok(())
    }

    /// --network must hold at least one lease subnet (the second /30 of a
    /// /29 at least), --subnet-len must lie between the two.
    pub(super) fn check_network(&self) -> Result<(), ConfigError> {
        let plen = self.network.prefix_len();
        if plen >= 30 {
            return Err(ConfigError::invalid(
                "network",
                self.network,
                format!(
                    "a /{plen} is too small for lease subnets (--subnet-len is at most 30 and \
                     lease 0 is the network's second subnet)"
                ),
                "give a --network of /29 or shorter (default 10.244.0.0/16)",
            ));
        }
        if self.subnet_len <= plen || self.subnet_len > 30 {
            return Err(ConfigError::invalid(
                "subnet-len",
                self.subnet_len,
                format!(
                    "lease subnets of --network {} must be longer than /{plen} and at most /30",
                    self.network
                ),
                format!("give --subnet-len from {} to 30", plen + 1),
            ));
        }
        Ok(())
    }

    /// `n` leases (flag `key`) must fit in --network at --subnet-len.
    pub(super) fn check_lease_count(&self, key: &'static str, n: u32) -> Result<(), ConfigError> {
        let max = self.max_leases();
        if n == 0 || u64::from(n) > max {
            let alt = match key {
                "leases" => " (or give --dst-subnets)",
                _ => "",
            };
            return Err(ConfigError::invalid(
                key,
                n,
                format!(
                    "lease i is subnet i + 1 of --network {} at --subnet-len {}: {max} fit",
                    self.network, self.subnet_len
                ),
                format!(
                    "give --{key} from 1 to {max}, a shorter --network prefix or a longer --subnet-len{alt}"
                ),
            ));
        }
        Ok(())
    }
}
