//! IPv4 subnets and flannel lease keys (`10.244.1.0-24`, `10.5.1.0-24&fc00::-64`).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An aligned IPv4 prefix: `addr` has no bits set past `len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub len: u8,
}

/// Why a subnet or lease key could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubnetError {
    #[error("{0:?} is not of the form a.b.c.d/len or a.b.c.d-len")]
    Syntax(String),
    #[error("prefix length {0} is longer than 32")]
    PrefixTooLong(u8),
    #[error("{addr} has host bits set for a /{len} (network address would be {net})")]
    NotAligned {
        addr: Ipv4Addr,
        len: u8,
        net: Ipv4Addr,
    },
    #[error("IPv6 part {0:?} is not of the form addr-len with len <= 128")]
    Ipv6(String),
}

impl Subnet {
    /// An aligned subnet, or why not.
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Self, SubnetError> {
        if len > 32 {
            return Err(SubnetError::PrefixTooLong(len));
        }
        let net = Ipv4Addr::from(u32::from(addr) & mask(len));
        if net != addr {
            return Err(SubnetError::NotAligned { addr, len, net });
        }
        Ok(Self { addr, len })
    }

    /// The netmask as a host-order integer.
    pub fn mask(self) -> u32 {
        mask(self.len)
    }

    /// Number of addresses covered (2^(32-len)), as u64 so /0 fits.
    pub fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.len))
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    /// True when the two prefixes share at least one address.
    pub fn overlaps(self, other: Subnet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// Whether `other` lies entirely inside `self`.
    pub fn covers(self, other: Subnet) -> bool {
        other.len >= self.len && self.contains(other.addr)
    }

    /// flannel's key form: `10.244.1.0-24`.
    pub fn key_string(self) -> String {
        format!("{}-{}", self.addr, self.len)
    }

    /// Parses the flannel key form `a.b.c.d-len` (IPv4 only).
    pub fn parse_key(s: &str) -> Result<Self, SubnetError> {
        parse_with_sep(s, '-')
    }

    /// Parses CIDR notation `a.b.c.d/len`.
    pub fn parse_cidr(s: &str) -> Result<Self, SubnetError> {
        parse_with_sep(s, '/')
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

fn parse_with_sep(s: &str, sep: char) -> Result<Subnet, SubnetError> {
    let syntax = || SubnetError::Syntax(s.to_string());
    let (ip, len) = s.split_once(sep).ok_or_else(syntax)?;
    // Only plain decimal digits: u8::from_str would accept a leading '+'.
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax());
    }
    let len: u8 = len.parse().map_err(|_| syntax())?;
    let addr = Ipv4Addr::from_str(ip).map_err(|_| syntax())?;
    Subnet::new(addr, len)
}

/// CIDR notation, `10.244.1.0/24`.
impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Subnet {
    type Err = SubnetError;
    /// Accepts both `a.b.c.d/len` and `a.b.c.d-len`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains('/') {
            Self::parse_cidr(s)
        } else {
            Self::parse_key(s)
        }
    }
}

/// The last path element of a lease key: the IPv4 subnet and, for
/// dual-stack leases, the IPv6 subnet (kept for logging; not used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseKey {
    pub v4: Subnet,
    pub v6: Option<(Ipv6Addr, u8)>,
}

impl LeaseKey {
    /// Parses `10.5.1.0-24` or `10.5.1.0-24&fc00::-64`. Unlike flannel's
    /// regex (anchored only at the end) the whole string must match, so
    /// junk before the address is reported instead of silently dropped.
    pub fn parse(s: &str) -> Result<Self, SubnetError> {
        let (v4, v6) = match s.split_once('&') {
            Some((v4, v6)) => (v4, Some(v6)),
            None => (s, None),
        };
        let v4 = Subnet::parse_key(v4)?;
        let v6 = v6.map(parse_v6).transpose()?;
        Ok(Self { v4, v6 })
    }
}

fn parse_v6(s: &str) -> Result<(Ipv6Addr, u8), SubnetError> {
    let bad = || SubnetError::Ipv6(s.to_string());
    // The IPv6 address contains ':' but never '-', so the last '-' splits.
    let (ip, len) = s.rsplit_once('-').ok_or_else(bad)?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let len: u8 = len.parse().map_err(|_| bad())?;
    let ip = Ipv6Addr::from_str(ip).map_err(|_| bad())?;
    if len > 128 {
        return Err(bad());
    }
    Ok((ip, len))
}

impl fmt::Display for LeaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.v4.key_string())?;
        if let Some((ip, len)) = self.v6 {
            write!(f, "&{ip}-{len}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_cidr_round_trip() {
        let s = Subnet::parse_key("10.244.1.0-24").unwrap();
        assert_eq!(s.addr, Ipv4Addr::new(10, 244, 1, 0));
        assert_eq!(s.len, 24);
        assert_eq!(s.key_string(), "10.244.1.0-24");
        assert_eq!(s.to_string(), "10.244.1.0/24");
        assert_eq!("10.244.1.0/24".parse::<Subnet>().unwrap(), s);
        assert_eq!("10.244.1.0-24".parse::<Subnet>().unwrap(), s);
    }

    #[test]
    fn rejects_unaligned_long_and_junk() {
        assert!(matches!(
            Subnet::parse_key("10.244.1.5-24"),
            Err(SubnetError::NotAligned { .. })
        ));
        assert_eq!(
            Subnet::parse_key("10.0.0.0-33"),
            Err(SubnetError::PrefixTooLong(33))
        );
        for bad in [
            "10.0.0.0",
            "10.0.0.0-",
            "10.0.0.0-+8",
            "x10.0.0.0-8",
            "10.0.0-8",
            "10.0.0.0-1000",
        ] {
            assert!(Subnet::parse_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dual_stack_keys() {
        let k = LeaseKey::parse("10.5.1.0-24&fc00::-64").unwrap();
        assert_eq!(k.v4, Subnet::parse_key("10.5.1.0-24").unwrap());
        assert_eq!(k.v6, Some(("fc00::".parse().unwrap(), 64)));
        assert_eq!(k.to_string(), "10.5.1.0-24&fc00::-64");
        let k = LeaseKey::parse("10.12.13.0-24&fd00:12:13::-56").unwrap();
        assert_eq!(k.v6.unwrap().1, 56);
        assert!(LeaseKey::parse("10.5.1.0-24&fc00::").is_err());
        assert!(LeaseKey::parse("10.5.1.0-24&zz::-64").is_err());
        assert!(LeaseKey::parse("10.5.1.0-24&fc00::-129").is_err());
    }

    #[test]
    fn overlap_and_cover() {
        let a = Subnet::parse_cidr("10.5.0.0/16").unwrap();
        let b = Subnet::parse_cidr("10.5.7.0/24").unwrap();
        let c = Subnet::parse_cidr("10.6.0.0/24").unwrap();
        assert!(a.overlaps(b) && b.overlaps(a) && !a.overlaps(c));
        assert!(a.covers(b) && !b.covers(a));
        assert_eq!(
            Subnet::new(Ipv4Addr::UNSPECIFIED, 0).unwrap().size(),
            1 << 32
        );
    }
}
