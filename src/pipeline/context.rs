//! The gateway's static configuration as the pipeline sees it, plus the
//! outer-header template built once from it (STYLE item 7).

use super::slowpath::is_martian;
use super::verdict::Side;
use crate::wire::ethernet::{self, ethertype};
use crate::wire::{checksum, ipv4, udp, vxlan, MacAddr, Vni};
use std::net::Ipv4Addr;

/// An IPv4 prefix, host order, with the host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    addr: u32,
    len: u8,
    /// `mask(len)`, kept so `contains` is one AND and one compare (the
    /// data plane's fast paths test several prefixes per packet).
    mask: u32,
}

impl Prefix {
    /// `None` if `len > 32`; host bits of `addr` are cleared.
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Prefix> {
        if len > 32 {
            return None;
        }
        Some(Prefix {
            addr: u32::from(addr) & mask(len),
            len,
            mask: mask(len),
        })
    }
    pub fn addr(self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }
    pub fn addr_u32(self) -> u32 {
        self.addr
    }
    pub fn prefix_len(self) -> u8 {
        self.len
    }
    #[inline]
    pub fn contains(self, ip: u32) -> bool {
        ip & self.mask == self.addr
    }
    /// The all-ones host address.
    #[inline]
    pub fn broadcast(self) -> u32 {
        self.addr | !self.mask
    }
    /// True when `other` lies entirely inside `self`.
    pub fn covers(self, other: Prefix) -> bool {
        other.len >= self.len && self.contains(other.addr)
    }
}

/// Network mask of `len` bits, host order.
#[inline]
pub const fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else if len >= 32 {
        u32::MAX
    } else {
        u32::MAX << (32 - len)
    }
}

/// An address that is never a packet's source (RFC 1812 5.3.7; Linux's
/// martian sources in `ip_route_input_slow`): "this network" 0/8,
/// loopback 127/8, multicast 224/4 and the limited broadcast. Class E
/// (240/4) is not among them: Linux forwards from it (only ICMP does not
/// answer it: `slowpath::is_martian`).
#[inline]
pub const fn never_a_source(ip: u32) -> bool {
    let a = ip >> 24;
    a == 0 || a == 127 || a & 0xf0 == 0xe0 || ip == u32::MAX
}

/// For the fast paths, by the first octet of a source as it lies in the
/// packet (one byte load and one table load, no byte swap): true for
/// the octets of `never_a_source` (0, 127, 224..=239) and for 255, whose
/// one such address, 255.255.255.255, takes a second compare to tell;
/// the fast paths leave all of 255/8 to the full path instead.
pub(crate) const MAYBE_NEVER_A_SOURCE: [bool; 256] = {
    let mut t = [false; 256];
    let mut a = 0;
    while a < 256 {
        t[a] = never_a_source((a as u32) << 24) || a == 255;
        a += 1;
    }
    t
};

/// The settings, as the configuration module resolves them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextConfig {
    pub underlay_ip: Ipv4Addr,
    pub underlay_mac: MacAddr,
    /// The underlay's on-link prefix (from `--underlay-ip IP/LEN`).
    pub underlay_prefix: Prefix,
    /// Next hop for PublicIPs off the on-link prefix.
    pub underlay_gateway: Option<Ipv4Addr>,
    pub access_ip: Ipv4Addr,
    pub access_mac: MacAddr,
    /// The gateway's own lease.
    pub subnet: Prefix,
    /// flannel's `Network`.
    pub network: Prefix,
    /// flannel's `SubnetLen`.
    pub subnet_len: u8,
    pub vni: Vni,
    /// VXLAN UDP destination port (`Backend.Port`, 8472 by default).
    pub udp_port: u16,
    /// Largest inner IPv4 packet a tunnel carries (underlay MTU - 50).
    pub tunnel_mtu: u16,
    /// The underlay port's MTU (direct-routed packets).
    pub underlay_mtu: u16,
    pub access_mtu: u16,
    /// The gateway's VtepMAC (inner source MAC it sends, inner destination
    /// MAC it accepts).
    pub vtep_mac: MacAddr,
    pub direct_routing: bool,
}

/// A configuration the pipeline cannot work with (setup tier).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    #[error("subnet {subnet}/{len} is not inside Network {network}/{nlen}: choose a --subnet inside Network")]
    SubnetOutsideNetwork {
        subnet: Ipv4Addr,
        len: u8,
        network: Ipv4Addr,
        nlen: u8,
    },
    #[error("SubnetLen {0} must be between Network's prefix length and 32, and equal the gateway subnet's length")]
    BadSubnetLen(u8),
    #[error("access IP {0} is not inside the gateway subnet: pass an --access-ip inside --subnet")]
    AccessIpOutsideSubnet(Ipv4Addr),
    #[error("{what} MTU {mtu} is below the IPv4 minimum of 68 (the tunnel MTU is Backend.MTU, else the underlay port's MTU, minus 50): raise the port's MTU or Backend.MTU")]
    MtuTooSmall { what: &'static str, mtu: u16 },
    #[error("tunnel MTU {tunnel} plus the 50 bytes of VXLAN headers exceeds the underlay MTU {underlay}: VXLAN frames would not fit the port (vxgate never fragments them)")]
    TunnelMtuAbovePort { tunnel: u16, underlay: u16 },
}

/// Outer Ethernet + IPv4 + UDP + VXLAN: the bytes prepended by encap.
pub const OUTER_LEN: usize =
    ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN + vxlan::HEADER_LEN;

/// Pre-built config plus the outer header template.
#[derive(Debug, Clone)]
pub struct Context {
    pub cfg: ContextConfig,
    subnet_mask: u32,
    template: [u8; OUTER_LEN],
    /// Unfolded sum of the template's IPv4 header (length, ident,
    /// destination and checksum zero) read as little-endian words, patched
    /// per packet.
    ip_sum_le: u32,
}

pub(crate) mod outer {
    pub const DST_MAC: core::ops::Range<usize> = 0..6;
    pub const IP: usize = 14;
    pub const IP_TOS: usize = IP + 1;
    pub const IP_LEN: usize = IP + 2;
    pub const IP_IDENT: usize = IP + 4;
    pub const IP_CSUM: usize = IP + 10;
    pub const IP_DST: usize = IP + 16;
    pub const UDP: usize = 34;
    pub const UDP_SPORT: usize = UDP;
    pub const UDP_LEN: usize = UDP + 4;
}

impl Context {
    pub fn new(cfg: ContextConfig) -> Result<Context, ContextError> {
        if !cfg.network.covers(cfg.subnet) {
            return Err(ContextError::SubnetOutsideNetwork {
                subnet: cfg.subnet.addr(),
                len: cfg.subnet.prefix_len(),
                network: cfg.network.addr(),
                nlen: cfg.network.prefix_len(),
            });
        }
        if cfg.subnet_len < cfg.network.prefix_len()
            || cfg.subnet_len > 32
            || cfg.subnet_len != cfg.subnet.prefix_len()
        {
            return Err(ContextError::BadSubnetLen(cfg.subnet_len));
        }
        if !cfg.subnet.contains(u32::from(cfg.access_ip)) {
            return Err(ContextError::AccessIpOutsideSubnet(cfg.access_ip));
        }
        for (what, mtu) in [
            ("tunnel", cfg.tunnel_mtu),
            ("underlay", cfg.underlay_mtu),
            ("access", cfg.access_mtu),
        ] {
            if mtu < 68 {
                return Err(ContextError::MtuTooSmall { what, mtu });
            }
        }
        // Encap checks the inner packet against the tunnel MTU only: with
        // the inner Ethernet header and the outer IPv4/UDP/VXLAN headers
        // (50 bytes in all) it must still fit the port.
        if usize::from(cfg.tunnel_mtu) + OUTER_LEN > usize::from(cfg.underlay_mtu) {
            return Err(ContextError::TunnelMtuAbovePort {
                tunnel: cfg.tunnel_mtu,
                underlay: cfg.underlay_mtu,
            });
        }
        let mut t = [0u8; OUTER_LEN];
        {
            let mut eth = ethernet::Frame::new_unchecked(&mut t[..]);
            eth.set_src(cfg.underlay_mac);
            eth.set_ethertype(ethertype::IPV4);
        }
        {
            let mut ip = ipv4::Packet::new_unchecked(&mut t[outer::IP..outer::UDP]);
            ip.set_ver_ihl(ipv4::HEADER_LEN);
            ip.set_frag(false, false, 0);
            ip.set_ttl(64);
            ip.set_protocol(ipv4::protocol::UDP);
            ip.set_src(cfg.underlay_ip);
        }
        {
            let mut u =
                udp::Packet::new_unchecked(&mut t[outer::UDP..outer::UDP + udp::HEADER_LEN]);
            u.set_dst_port(cfg.udp_port);
        }
        vxlan::Packet::new_unchecked(&mut t[outer::UDP + udp::HEADER_LEN..]).set_header(cfg.vni);
        let ip_sum_le = t[outer::IP..outer::UDP]
            .chunks_exact(2)
            .map(|w| le16([w[0], w[1]]))
            .sum();
        Ok(Context {
            cfg,
            subnet_mask: mask(cfg.subnet_len),
            template: t,
            ip_sum_le,
        })
    }

    /// Destination masked with SubnetLen: the lease table key.
    #[inline]
    pub fn subnet_key(&self, dst: u32) -> u32 {
        dst & self.subnet_mask
    }

    /// One of the gateway's own addresses.
    #[inline]
    pub fn is_local(&self, ip: u32) -> bool {
        ip == u32::from(self.cfg.access_ip) || ip == u32::from(self.cfg.underlay_ip)
    }

    /// A broadcast address only our configuration reveals: the all-ones
    /// host of a SubnetLen subnet of Network, the network and broadcast
    /// address of our own subnet (the access segment) and of the
    /// underlay prefix. (The zero host of a remote subnet is its node's
    /// flannel.1 address, a unicast source.)
    pub fn is_directed_broadcast(&self, ip: u32) -> bool {
        let c = &self.cfg;
        let all_ones =
            |p: Prefix| p.prefix_len() <= 30 && (ip == p.broadcast() || ip == p.addr_u32());
        if all_ones(c.subnet) || all_ones(c.underlay_prefix) {
            return true;
        }
        c.subnet_len <= 30 && c.network.contains(ip) && ip | self.subnet_mask == u32::MAX
    }

    /// May a packet from `src` be forwarded (RFC 1812 5.3.7, Linux's
    /// `ip_route_input_slow` and `fib_validate_source`)? Not from an
    /// address that is never a source, nor from one of ours. Arrived from
    /// the underlay (decapsulated or DirectRouting), not from our own
    /// subnet either: only our access hosts hold those addresses (Linux's
    /// strict rp_filter). Other sources are not restricted there: nodes
    /// send from addresses outside Network too. From the access port only
    /// from our subnet, the access link, and not from its network or
    /// broadcast address, which no host there holds (Linux: a broadcast
    /// source is a martian): nothing is routed behind the access port, so
    /// any other source there is spoofed (a pod's or a node's address, to
    /// pass for it), as strict rp_filter would say. (The fast paths make
    /// the same test, branch-free.)
    #[inline]
    pub fn forwardable_source(&self, src: u32, from_underlay: bool) -> bool {
        !(never_a_source(src)
            || self.is_local(src)
            || self.is_access_edge(src)
            || (from_underlay == self.cfg.subnet.contains(src)))
    }

    /// The network or broadcast address of our subnet, the access link.
    #[inline]
    pub(crate) fn is_access_edge(&self, ip: u32) -> bool {
        ip == self.cfg.subnet.addr_u32() || ip == self.cfg.subnet.broadcast()
    }

    /// May a packet from `src` be delivered to the gateway itself? The
    /// same rule as `forwardable_source`, but a packet from our own
    /// address is not a martian here (it is simply never answered:
    /// `is_peer`).
    #[inline]
    pub fn deliverable_source(&self, src: u32, from_underlay: bool) -> bool {
        !(never_a_source(src) || (from_underlay == self.cfg.subnet.contains(src)))
    }

    /// The longest ICMP error the gateway builds (whole IPv4 datagram):
    /// 576 bytes (RFC 1812 4.3.2.3), or less when a way back is narrower,
    /// as Linux's `icmp_send` cuts its quote to the route's MTU, so that
    /// an error never has to be fragmented.
    pub fn icmp_error_room(&self) -> usize {
        usize::from(self.cfg.access_mtu.min(self.cfg.tunnel_mtu)).min(576)
    }

    /// Does `ip` name one host we may answer: not one of the addresses
    /// that name no single host anywhere (`slowpath::is_martian`) nor a
    /// directed broadcast, nor one of our own addresses?
    pub fn is_peer(&self, ip: u32) -> bool {
        !is_martian(Ipv4Addr::from(ip)) && !self.is_directed_broadcast(ip) && !self.is_local(ip)
    }

    /// May the gateway send an ICMP error to `peer` about a datagram
    /// `peer` sent to `dst`? Only to a peer, and not about a datagram sent
    /// to a broadcast (RFC 1812 4.3.2.7). What needs no configuration is
    /// `slowpath::icmp_error_allowed`'s.
    pub fn icmp_error_to(&self, peer: u32, dst: u32) -> bool {
        self.is_peer(peer) && !self.is_directed_broadcast(dst)
    }

    /// Whether an inner frame the slow path got from the underlay came
    /// out of a tunnel (addressed to our VtepMAC, which decap checked)
    /// rather than plain from the wire (to the port's MAC).
    pub fn decapsulated(&self, frame: &[u8]) -> bool {
        frame.get(..6).is_some_and(|d| d == self.cfg.vtep_mac.0)
    }

    pub fn port_mac(&self, side: Side) -> MacAddr {
        match side {
            Side::Underlay => self.cfg.underlay_mac,
            Side::Access => self.cfg.access_mac,
        }
    }

    pub fn port_ip(&self, side: Side) -> Ipv4Addr {
        match side {
            Side::Underlay => self.cfg.underlay_ip,
            Side::Access => self.cfg.access_ip,
        }
    }

    /// The MTU the slow path fragments `Punt(Fragment)` frames to: small
    /// enough for every way out, the tunnel and the access port (a host
    /// sends to another host through us too).
    pub fn fragment_mtu(&self) -> u16 {
        self.cfg.tunnel_mtu.min(self.cfg.access_mtu)
    }

    /// DirectRouting reaches this VTEP: its PublicIP is on the underlay's
    /// link, so its pods get plain routed IPv4 instead of VXLAN.
    #[inline]
    pub fn direct_route(&self, public_ip: u32) -> bool {
        self.cfg.direct_routing && self.cfg.underlay_prefix.contains(public_ip)
    }

    /// The next hop on the underlay toward a VTEP's PublicIP: the PublicIP
    /// itself on the underlay's link, else the underlay gateway. `None`:
    /// off-link with no gateway, no route (Linux would answer the VXLAN
    /// send with "network unreachable"; ARPing for an address that is not
    /// on the link could never be answered).
    #[inline]
    pub fn underlay_next_hop(&self, public_ip: u32) -> Option<u32> {
        if self.cfg.underlay_prefix.contains(public_ip) {
            Some(public_ip)
        } else {
            self.cfg.underlay_gateway.map(u32::from)
        }
    }

    /// Writes the outer header into `out` (exactly `OUTER_LEN` bytes) for
    /// an inner Ethernet frame of `inner_len` bytes, patching what varies
    /// per packet. `inner_len + 36` fits in u16 because callers checked
    /// the inner IPv4 length against the tunnel MTU. `ecn`: the inner
    /// packet's ECN field (two bits), copied into the outer TOS (RFC
    /// 6040's normal mode; the outer DSCP stays 0).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_outer(
        &self,
        out: &mut [u8],
        dst_mac: MacAddr,
        dst_ip: Ipv4Addr,
        ident: u16,
        src_port: u16,
        inner_len: u16,
        ecn: u8,
    ) {
        // A fixed-size view: the field writes below need no bounds checks.
        let Ok(out): Result<&mut [u8; OUTER_LEN], _> = out.try_into() else {
            return;
        };
        *out = self.template;
        out[outer::DST_MAC].copy_from_slice(&dst_mac.0);
        out[outer::IP_TOS] = ecn;
        // The checksum is summed over the words as they lie in memory
        // (little-endian reads): the ones' complement sum does not depend
        // on byte order (RFC 1071 2(B)), and the fields are stored in that
        // form anyway, so no byte swap is done twice.
        let ip_len = inner_len.wrapping_add((OUTER_LEN - ethernet::HEADER_LEN) as u16);
        let (len_wire, ident_wire) = (ip_len.to_be_bytes(), ident.to_be_bytes());
        out[outer::IP_LEN..outer::IP_LEN + 2].copy_from_slice(&len_wire);
        out[outer::IP_IDENT..outer::IP_IDENT + 2].copy_from_slice(&ident_wire);
        let d = dst_ip.octets();
        out[outer::IP_DST..outer::IP_DST + 4].copy_from_slice(&d);
        let d = u32::from_le_bytes(d);
        // The TOS byte is the high one of its little-endian word (the
        // template's is 0).
        let s = self.ip_sum_le
            + (u32::from(ecn) << 8)
            + le16(len_wire)
            + le16(ident_wire)
            + (d & 0xffff)
            + (d >> 16);
        out[outer::IP_CSUM..outer::IP_CSUM + 2]
            .copy_from_slice(&(!checksum::fold(s)).to_le_bytes());
        out[outer::UDP_SPORT..outer::UDP_SPORT + 2].copy_from_slice(&src_port.to_be_bytes());
        let udp_len = inner_len.wrapping_add((udp::HEADER_LEN + vxlan::HEADER_LEN) as u16);
        out[outer::UDP_LEN..outer::UDP_LEN + 2].copy_from_slice(&udp_len.to_be_bytes());
    }
}

/// Two bytes as they lie in memory, read little-endian: how `write_outer`
/// sums the outer header (byte order does not matter to the sum).
#[inline(always)]
fn le16(b: [u8; 2]) -> u32 {
    u32::from(u16::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testing;

    #[test]
    fn prefix_math() {
        let p = Prefix::new(Ipv4Addr::new(10, 244, 255, 7), 24).unwrap();
        assert_eq!(p.addr(), Ipv4Addr::new(10, 244, 255, 0));
        assert!(p.contains(u32::from(Ipv4Addr::new(10, 244, 255, 200))));
        assert!(!p.contains(u32::from(Ipv4Addr::new(10, 244, 1, 1))));
        assert_eq!(p.broadcast(), u32::from(Ipv4Addr::new(10, 244, 255, 255)));
        assert!(Prefix::new(Ipv4Addr::UNSPECIFIED, 0)
            .unwrap()
            .contains(12345));
        assert!(Prefix::new(Ipv4Addr::UNSPECIFIED, 33).is_none());
        assert_eq!(mask(0), 0);
        assert_eq!(mask(32), u32::MAX);
    }

    #[test]
    fn rejects_inconsistent_config() {
        let good = testing::config();
        assert!(Context::new(good).is_ok());
        let mut c = good;
        c.subnet = Prefix::new(Ipv4Addr::new(10, 5, 0, 0), 24).unwrap();
        assert!(matches!(
            Context::new(c),
            Err(ContextError::SubnetOutsideNetwork { .. })
        ));
        let mut c = good;
        c.subnet_len = 25;
        assert_eq!(Context::new(c).err(), Some(ContextError::BadSubnetLen(25)));
        let mut c = good;
        c.access_ip = Ipv4Addr::new(10, 244, 1, 1);
        assert!(matches!(
            Context::new(c),
            Err(ContextError::AccessIpOutsideSubnet(_))
        ));
        let mut c = good;
        c.tunnel_mtu = 50;
        let e = Context::new(c).unwrap_err();
        assert!(e.to_string().contains("tunnel MTU 50"), "{e}");
        let mut c = good;
        c.tunnel_mtu = c.underlay_mtu - 49;
        assert_eq!(
            Context::new(c).err(),
            Some(ContextError::TunnelMtuAbovePort {
                tunnel: 1451,
                underlay: 1500
            })
        );
        c.tunnel_mtu -= 1;
        assert!(Context::new(c).is_ok());
    }

    #[test]
    fn template_checksum_patch_matches_full_computation() {
        let ctx = Context::new(testing::config()).unwrap();
        let mut out = [0u8; OUTER_LEN];
        for (len, ident, dst, ecn) in [
            (98u16, 0u16, [172, 28, 147, 44], 0u8),
            (1464, 0xffff, [255, 255, 255, 255], 3),
            (60, 7, [1, 2, 3, 4], 2),
            (60, 7, [1, 2, 3, 4], 1),
        ] {
            ctx.write_outer(
                &mut out,
                MacAddr::BROADCAST,
                Ipv4Addr::from(dst),
                ident,
                40000,
                len,
                ecn,
            );
            let ip = ipv4::Packet::new_unchecked(&out[14..34]);
            assert!(ip.verify_checksum());
            assert_eq!(usize::from(ip.total_len()), usize::from(len) + 36);
            // The ECN bits alone, the DSCP zero.
            assert_eq!(ip.dscp_ecn(), ecn);
        }
        // Exactly the bytes a full computation gives, over many lengths,
        // idents and destinations (a patched sum could differ in the
        // representation of zero).
        let mut x = 0x9e37_79b9u32;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let (len, ident) = ((x % 1465) as u16, (x >> 11) as u16);
            let dst = Ipv4Addr::from(x.rotate_left(7) ^ x);
            let ecn = (x >> 27) as u8 & 3;
            ctx.write_outer(&mut out, MacAddr::BROADCAST, dst, ident, 40000, len, ecn);
            let mut full = out;
            full[24..26].copy_from_slice(&[0, 0]);
            let want = checksum::checksum(&full[14..34]);
            assert_eq!(out[24..26], want.to_be_bytes(), "{len} {ident} {dst} {ecn}");
        }
    }

    #[test]
    fn never_a_source_is_rfc_1812_s_martian_list() {
        for a in 0..=255u32 {
            let want = a == 0 || a == 127 || (224..240).contains(&a);
            for low in [0, 1, 0x00ff_fffe, 0x00ff_ffff] {
                let ip = a << 24 | low;
                assert_eq!(never_a_source(ip), want || ip == u32::MAX, "{ip:#x}");
                // The fast paths' table never misses one.
                assert!(!never_a_source(ip) || MAYBE_NEVER_A_SOURCE[a as usize]);
            }
            assert_eq!(MAYBE_NEVER_A_SOURCE[a as usize], want || a == 255, "{a}");
        }
        for (ip, want) in [
            ([0, 0, 0, 0], true),
            ([0, 255, 1, 2], true),
            ([1, 0, 0, 0], false),
            ([126, 255, 255, 255], false),
            ([127, 0, 0, 1], true),
            ([128, 0, 0, 0], false),
            ([223, 255, 255, 255], false),
            ([224, 0, 0, 1], true),
            ([239, 255, 255, 255], true),
            ([240, 0, 0, 1], false),
            ([255, 255, 255, 254], false),
            ([255, 255, 255, 255], true),
        ] {
            let a = Ipv4Addr::from(ip);
            assert_eq!(never_a_source(u32::from(a)), want, "{a}");
            // Every such address is one ICMP never answers either.
            if want {
                assert!(super::super::slowpath::is_martian(a), "{a}");
            }
        }
    }
}
