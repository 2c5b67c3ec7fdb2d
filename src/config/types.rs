//! Small typed values the configuration is made of: IPv4 prefixes, MACs,
//! device references, port sides and static neighbours.
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 address with a prefix length, e.g. `172.28.147.40/28`.
///
/// The address keeps its host bits: `--underlay-ip 172.28.147.40/28` is an
/// interface address, `--subnet 10.244.255.0/24` a network (checked by the
/// caller with [`Ipv4Cidr::is_network`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    len: u8,
}

/// Why a string is not `IP/LEN`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("no prefix length")]
    MissingLen,
    #[error("`{0}` is not an IPv4 address")]
    BadAddr(String),
    #[error("prefix length `{0}` is not a number from 0 to 32")]
    BadLen(String),
}

impl Ipv4Cidr {
    /// `len` above 32 is refused.
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Self, CidrError> {
        if len > 32 {
            return Err(CidrError::BadLen(len.to_string()));
        }
        Ok(Self { addr, len })
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Netmask as a host-order integer (`/24` -> `0xffff_ff00`).
    pub fn mask(&self) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0)
    }

    pub fn network_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    pub fn broadcast_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// The same prefix with the host bits cleared.
    pub fn network(&self) -> Ipv4Cidr {
        Ipv4Cidr {
            addr: self.network_addr(),
            len: self.len,
        }
    }

    /// True when no host bit is set (`10.244.255.0/24`).
    pub fn is_network(&self) -> bool {
        self.addr == self.network_addr()
    }

    /// True when the address is usable by a host on this prefix: not the
    /// network or broadcast address (on /31 and /32 every address is).
    pub fn is_host_addr(&self) -> bool {
        self.len >= 31 || (self.addr != self.network_addr() && self.addr != self.broadcast_addr())
    }

    /// Whether `ip` is this prefix's network or broadcast address (a /31
    /// or /32 has none: RFC 3021).
    pub fn is_edge(&self, ip: Ipv4Addr) -> bool {
        self.len < 31 && (ip == self.network_addr() || ip == self.broadcast_addr())
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network_addr())
    }

    /// True when the whole of `other` lies inside `self`.
    pub fn covers(&self, other: &Ipv4Cidr) -> bool {
        other.len >= self.len && self.contains(other.addr)
    }

    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        self.covers(other) || other.covers(self)
    }

    /// The first host address (`.1` on a /24): flannel's `cni0` address.
    pub fn first_host(&self) -> Ipv4Addr {
        let net = u32::from(self.network_addr());
        if self.len >= 31 {
            Ipv4Addr::from(net)
        } else {
            Ipv4Addr::from(net.wrapping_add(1))
        }
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, len) = s.trim().split_once('/').ok_or(CidrError::MissingLen)?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| CidrError::BadAddr(addr.to_owned()))?;
        let len_num: u8 = len.parse().map_err(|_| CidrError::BadLen(len.to_owned()))?;
        Ipv4Cidr::new(addr, len_num).map_err(|_| CidrError::BadLen(len.to_owned()))
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Why a string is not a MAC address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    #[error("not six hex octets of two digits each, separated by `:` (e.g. 0e:01:ac:1c:93:28) or all by `-`, or three dot-separated groups of four (0e01.ac1c.9328)")]
    Syntax,
    #[error("it is a multicast/broadcast address (lowest bit of the first octet set); a unicast MAC is needed")]
    NotUnicast,
    #[error("it is all zeros")]
    Zero,
}

/// Parses `aa:bb:cc:dd:ee:ff` (also `aa-bb-cc-dd-ee-ff`, and Go's
/// `net.ParseMAC` dotted form `aabb.ccdd.eeff`) into bytes; any MAC, the
/// forms flanneld reads from etcd. Exactly two hex digits per byte, one
/// separator throughout: `0e:1:…`, `+e:…`, `00:…:001` and `0e:01-…` are
/// refused.
pub fn parse_mac(s: &str) -> Result<[u8; 6], MacError> {
    // from_str_radix alone would take a sign (`+e`); check the digits.
    let byte = |p: &str| match p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()) {
        true => u8::from_str_radix(p, 16).map_err(|_| MacError::Syntax),
        false => Err(MacError::Syntax),
    };
    let mut out = [0u8; 6];
    if s.contains('.') {
        let mut groups = s.split('.');
        for pair in out.chunks_mut(2) {
            let g = groups.next().ok_or(MacError::Syntax)?;
            if g.len() != 4 || !g.is_ascii() {
                return Err(MacError::Syntax);
            }
            pair[0] = byte(&g[..2])?;
            pair[1] = byte(&g[2..])?;
        }
        return groups.next().map_or(Ok(out), |_| Err(MacError::Syntax));
    }
    let sep = if s.contains('-') { '-' } else { ':' };
    let mut parts = s.split(sep);
    for b in out.iter_mut() {
        *b = byte(parts.next().ok_or(MacError::Syntax)?)?;
    }
    parts.next().map_or(Ok(out), |_| Err(MacError::Syntax))
}

/// Parses a MAC that a host or VTEP may use as its own (blanks around it
/// ignored): unicast, not zero.
pub fn parse_unicast_mac(s: &str) -> Result<[u8; 6], MacError> {
    let mac = parse_mac(s.trim())?;
    if mac[0] & 0x01 != 0 {
        return Err(MacError::NotUnicast);
    }
    if mac == [0; 6] {
        return Err(MacError::Zero);
    }
    Ok(mac)
}

/// `0e:01:ac:1c:93:28` form.
pub fn format_mac(mac: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    )
}

/// Which of the two DPDK ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Faces the Kubernetes nodes; carries VXLAN.
    Underlay,
    /// Faces the bare-metal hosts; carries plain IPv4.
    Access,
}

impl Side {
    pub const ALL: [Side; 2] = [Side::Underlay, Side::Access];

    /// 0 for underlay, 1 for access: the index into per-port arrays.
    pub fn index(self) -> usize {
        match self {
            Side::Underlay => 0,
            Side::Access => 1,
        }
    }

    /// The label used in flags and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Underlay => "underlay",
            Side::Access => "access",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Side {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "underlay" => Ok(Side::Underlay),
            "access" => Ok(Side::Access),
            _ => Err(()),
        }
    }
}

/// A neighbour given by configuration instead of ARP (`--neighbor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticNeighbor {
    pub side: Side,
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
}

/// A DPDK port named by device (`0000:3b:00.0`, `net_tap0`) or by port id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DeviceRef {
    /// All digits: a DPDK port id.
    PortId(u16),
    /// Anything else: matched against the ports' device names.
    Name(String),
}

impl fmt::Display for DeviceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceRef::PortId(id) => write!(f, "{id}"),
            DeviceRef::Name(name) => f.write_str(name),
        }
    }
}

/// A port flag's value (`fwd`'s `--port-a`/`--port-b`, `pktgen`'s
/// `--tx-port`/`--rx-port`) as clap takes it: trimmed, not empty,
/// canonical ([`canonical_device_name`]), so a bad one is a flag error
/// (exit 2) before EAL starts.
pub fn device_name_arg(s: &str) -> Result<String, String> {
    let name = s.trim();
    if name.is_empty() {
        return Err(format!("{EMPTY_DEVICE_NAME}: {DEVICE_NAME_FIX}"));
    }
    Ok(canonical_device_name(name))
}

/// What an empty port flag is, and what to give instead (`fwd`/`pktgen`
/// here, `run`'s `underlay`/`access` in `validate`).
pub(crate) const EMPTY_DEVICE_NAME: &str = "the device name is empty";
pub(crate) const DEVICE_NAME_FIX: &str =
    "give a PCI address (0000:3b:00.0), a vdev name (net_tap0) or a DPDK port id";

/// A device name as DPDK names the port: a PCI address (`[DOMAIN:]BUS:
/// DEV.FN`, hex in any case) becomes `dddd:bb:dd.f` in lower case, as the
/// PCI bus names its ports, so `0000:3B:00.0` and `3b:00.0` find the port
/// `0000:3b:00.0` and are seen to be one device; other names (vdevs) as
/// given.
pub fn canonical_device_name(name: &str) -> String {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let parts: Vec<&str> = name.split(':').collect();
    let (domain, bus, devfn) = match parts[..] {
        [d, b, df] => (d, b, df),
        [b, df] => ("0000", b, df),
        _ => return name.to_owned(),
    };
    let Some((dev, func)) = devfn.split_once('.') else {
        return name.to_owned();
    };
    let func_ok = func.len() == 1 && matches!(func.as_bytes()[0], b'0'..=b'7');
    if hex(domain, 4) && hex(bus, 2) && hex(dev, 2) && func_ok {
        format!("{domain}:{bus}:{dev}.{func}").to_ascii_lowercase()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_names_are_canonical() {
        for (given, canonical) in [
            ("0000:3b:00.0", "0000:3b:00.0"),
            ("0000:3B:00.0", "0000:3b:00.0"),
            ("3b:00.1", "0000:3b:00.1"),
            ("ABCD:FF:1F.7", "abcd:ff:1f.7"),
            ("net_tap0", "net_tap0"),
            ("Net_Tap0", "Net_Tap0"),
            ("0000:3b:00.8", "0000:3b:00.8"),
            ("0000:3b:00", "0000:3b:00"),
            ("net_pcap0,rx_pcap=a:b.0", "net_pcap0,rx_pcap=a:b.0"),
        ] {
            assert_eq!(canonical_device_name(given), canonical, "{given}");
        }
    }

    #[test]
    fn cidr_parts() {
        let c: Ipv4Cidr = "172.28.147.40/28".parse().unwrap();
        assert_eq!(c.network_addr(), Ipv4Addr::new(172, 28, 147, 32));
        assert_eq!(c.broadcast_addr(), Ipv4Addr::new(172, 28, 147, 47));
        assert!(!c.is_network());
        assert!(c.is_host_addr());
        assert!(c.contains(Ipv4Addr::new(172, 28, 147, 33)));
        assert!(!c.contains(Ipv4Addr::new(172, 28, 147, 48)));
        let all: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert_eq!(all.mask(), 0);
        assert!(all.covers(&c));
        assert!(c.overlaps(&all));
        assert_eq!(
            "10.244.255.0/24".parse::<Ipv4Cidr>().unwrap().first_host(),
            Ipv4Addr::new(10, 244, 255, 1)
        );
        assert_eq!("1.2.3.4".parse::<Ipv4Cidr>(), Err(CidrError::MissingLen));
        assert!(matches!(
            "1.2.3.4/33".parse::<Ipv4Cidr>(),
            Err(CidrError::BadLen(_))
        ));
        assert!(matches!(
            "1.2.3/8".parse::<Ipv4Cidr>(),
            Err(CidrError::BadAddr(_))
        ));
    }

    #[test]
    fn macs() {
        assert_eq!(
            parse_unicast_mac("0e:01:AC:1c:93:28"),
            Ok([0x0e, 0x01, 0xac, 0x1c, 0x93, 0x28])
        );
        assert_eq!(
            parse_unicast_mac("01:00:5e:00:00:01"),
            Err(MacError::NotUnicast)
        );
        assert_eq!(parse_unicast_mac("00:00:00:00:00:00"), Err(MacError::Zero));
        assert_eq!(parse_mac("0e:01:ac:1c:93"), Err(MacError::Syntax));
        assert_eq!(parse_mac("0e:01:ac:1c:93:28:11"), Err(MacError::Syntax));
        assert_eq!(parse_mac("0e:01:ac:1c:93:zz"), Err(MacError::Syntax));
        assert_eq!(
            parse_mac("0E-01-AC-1C-93-28"),
            Ok([0x0e, 0x01, 0xac, 0x1c, 0x93, 0x28])
        );
        for bad in [
            "+e:01:ac:1c:93:28",
            "0e:01:ac:1c:93:+8",
            "0e:01:ac:1c:93:-8",
            "00:01:ac:1c:93:001",
            "0e:1:ac:1c:93:28",
            "e:01:ac:1c:93:28",
            "0e:01-ac-1c-93-28",
            "0e-01-ac-1c-93:28",
            "0e::ac:1c:93:28",
            "0e:01:ac:1c:93:28:",
            "0e 01 ac 1c 93 28",
            "0e:01:ac:1c:93:é8",
            "0e01.ac1c.9328.0000",
            "0e01.ac1c",
            "+e01.ac1c.9328",
            "0eé.ac1c.9328",
            "",
        ] {
            assert_eq!(parse_mac(bad), Err(MacError::Syntax), "{bad}");
        }
        assert_eq!(
            parse_mac("0E01.ac1c.9328"),
            Ok([0x0e, 0x01, 0xac, 0x1c, 0x93, 0x28])
        );
        assert_eq!(
            parse_unicast_mac(" 0e:01:ac:1c:93:28 "),
            Ok([0x0e, 0x01, 0xac, 0x1c, 0x93, 0x28])
        );
        assert_eq!(format_mac(&[0x0e, 1, 2, 3, 4, 0xff]), "0e:01:02:03:04:ff");
    }
}
