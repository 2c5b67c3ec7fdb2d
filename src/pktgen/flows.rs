//! Who talks to whom: the address derivations (lease subnets, VTEP IPs and
//! MACs, host addresses) and the per-flow frame templates built from them.
//!
//! Derivations (documented in docs/pktgen.md; the benchmark puts matching
//! leases into the gateway's tables):
//! - lease `i` (0-based) = subnet number `i + 1` of `Network` at
//!   `SubnetLen` (flannel's default `SubnetMin` is the subnet after the
//!   network address), e.g. 10.244.1.0/24, 10.244.2.0/24, ...
//! - VTEP `i` holds lease `i`; its PublicIP is `vtep_base + i` and its
//!   VtepMAC is `0e:56:54:` followed by `i` as 24 bits.
//! - a host inside a subnet is `network + 2 + k` (skipping the network
//!   address and `.1`, the subnet's gateway, and never the broadcast).
//! - bare-metal host `j` behind the gateway is `host_ip + j`.
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use super::headers::{
    self, pseudo_header_sum, push_eth, push_ipv4, push_udp, push_vxlan, sum16, Mac, INNER_HDRS,
    IPV4_LEN, UDP_LEN, VXLAN_OVERHEAD,
};
use super::payload::{self, FIXED_LEN, PAYLOAD_LEN, STAMP_LEN};

/// An IPv4 prefix, stored with host bits cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Net {
    addr: u32,
    len: u8,
}

impl Ipv4Net {
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Ipv4Net> {
        if len > 32 {
            return None;
        }
        Some(Ipv4Net {
            addr: u32::from(addr) & mask(len),
            len,
        })
    }
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }
    pub fn prefix_len(&self) -> u8 {
        self.len
    }
    /// Addresses in the prefix.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.len))
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.len) == self.addr
    }
    /// Host `k` (wrapping): `network + 2 + k` in prefixes of 4 or more
    /// addresses, else any address of the prefix.
    pub fn host(&self, k: u64) -> Ipv4Addr {
        let size = self.size();
        let off = if size >= 4 {
            2 + k % (size - 3)
        } else {
            k % size
        };
        Ipv4Addr::from(self.addr.wrapping_add(off as u32))
    }
    /// Subnet `n` of length `sub_len` inside this prefix, if it exists.
    pub fn subnet(&self, sub_len: u8, n: u64) -> Option<Ipv4Net> {
        if sub_len < self.len || sub_len > 32 || n >= 1u64 << (sub_len - self.len) {
            return None;
        }
        let addr = u64::from(self.addr) + (n << (32 - u32::from(sub_len)));
        Ipv4Net::new(Ipv4Addr::from(addr as u32), sub_len)
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.len)
    }
}

impl FromStr for Ipv4Net {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an IPv4 prefix (want a.b.c.d/len)");
        let (a, l) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let len: u8 = l.parse().map_err(|_| bad())?;
        Ipv4Net::new(addr, len).ok_or_else(bad)
    }
}

/// Lease `i`: subnet `i + 1` of `network` at `subnet_len`.
pub fn lease_subnet(network: Ipv4Net, subnet_len: u8, i: u64) -> Option<Ipv4Net> {
    network.subnet(subnet_len, i + 1)
}

/// VTEP `i`'s PublicIP.
pub fn vtep_ip(base: Ipv4Addr, i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base).wrapping_add(i))
}

/// VTEP `i`'s VtepMAC: locally administered, unicast, `0e:56:54` + `i`.
pub fn vtep_mac(i: u32) -> Mac {
    let b = i.to_be_bytes();
    [0x0e, 0x56, 0x54, b[1], b[2], b[3]]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// IPv4/UDP frames as bare-metal hosts send them to the gateway.
    Inner,
    /// VXLAN frames as flannel nodes send them to the gateway.
    Vxlan,
}

/// Everything that shapes the frames, validated.
#[derive(Clone, Debug)]
pub struct FlowPlan {
    pub mode: Mode,
    /// Bytes on the wire without the 4-byte FCS.
    pub frame_len: usize,
    pub flows: u32,
    /// Outer (vxlan) or only (inner) Ethernet addresses.
    pub src_mac: Mac,
    pub dst_mac: Mac,
    /// inner: destination subnets, flow `f` goes to `dst_nets[f % n]`.
    pub dst_nets: Vec<Ipv4Net>,
    /// Bare-metal hosts behind the gateway: `host_ip + j`, `j < hosts`.
    pub host_ip: Ipv4Addr,
    pub hosts: u32,
    pub udp_port: u16,
    /// vxlan: VTEP `v` (`v < vteps`) sends from lease `v`'s subnet.
    pub vteps: u32,
    pub vtep_base: Ipv4Addr,
    pub vtep_nets: Vec<Ipv4Net>,
    pub gw_ip: Ipv4Addr,
    pub gw_vtep_mac: Mac,
    pub vni: u32,
    pub vxlan_port: u16,
    /// Carried in every frame's stamp: a random id per live run (so that
    /// frames of an earlier run are told apart), `PCAP_RUN_ID` in a pcap.
    pub run_id: u32,
}

/// The addresses of one flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowAddrs {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    /// vxlan only: the sending VTEP.
    pub vtep: u32,
    pub outer_sport: u16,
}

impl FlowPlan {
    /// Where the payload starts in the frames this plan builds.
    pub fn payload_offset(&self) -> usize {
        match self.mode {
            Mode::Inner => INNER_HDRS,
            Mode::Vxlan => INNER_HDRS + VXLAN_OVERHEAD,
        }
    }

    /// The smallest frame (without FCS) that holds headers and payload.
    pub fn min_frame_len(mode: Mode) -> usize {
        let hdrs = match mode {
            Mode::Inner => INNER_HDRS,
            Mode::Vxlan => INNER_HDRS + VXLAN_OVERHEAD,
        };
        (hdrs + PAYLOAD_LEN).max(60)
    }

    pub fn addrs(&self, f: u32) -> FlowAddrs {
        let sport = 1024 + (f % 64512) as u16;
        match self.mode {
            Mode::Inner => {
                let n = self.dst_nets.len().max(1) as u32;
                let dst = self
                    .dst_nets
                    .get((f % n) as usize)
                    .map_or(Ipv4Addr::UNSPECIFIED, |net| net.host(u64::from(f / n)));
                FlowAddrs {
                    src: vtep_ip(self.host_ip, f % self.hosts.max(1)),
                    dst,
                    sport,
                    dport: self.udp_port,
                    vtep: 0,
                    outer_sport: 0,
                }
            }
            Mode::Vxlan => {
                let v = f % self.vteps.max(1);
                let src = self
                    .vtep_nets
                    .get(v as usize)
                    .map_or(Ipv4Addr::UNSPECIFIED, |net| {
                        net.host(u64::from(f / self.vteps.max(1)))
                    });
                FlowAddrs {
                    src,
                    dst: vtep_ip(self.host_ip, f % self.hosts.max(1)),
                    sport,
                    dport: self.udp_port,
                    vtep: v,
                    // The kernel's VXLAN source port range, 32768-60999.
                    outer_sport: 32768 + (f % 28232) as u16,
                }
            }
        }
    }

    /// Builds every flow's template; an error, not an abort, when they do
    /// not fit in memory (`--flows` up to 2^20 with `--write-pcap`).
    pub fn templates(&self) -> Result<Templates, NoMemory> {
        let hdr = self.payload_offset();
        let stride = hdr + FIXED_LEN;
        let flows = self.flows as usize;
        let mut bytes = Vec::new();
        let mut sums = Vec::new();
        let need = stride
            .checked_mul(flows)
            .zip(flows.checked_mul(std::mem::size_of::<u64>()));
        let reserved = need.is_some_and(|(b, _)| bytes.try_reserve_exact(b).is_ok())
            && sums.try_reserve_exact(flows).is_ok();
        if !reserved {
            return Err(NoMemory {
                what: format!("the frame templates of {} flows", self.flows),
                bytes: need.map_or(u128::MAX, |(b, s)| b as u128 + s as u128),
            });
        }
        for f in 0..self.flows {
            let start = bytes.len();
            let a = self.addrs(f);
            let inner_len = self.frame_len - (hdr - INNER_HDRS);
            let (inner_src_mac, inner_dst_mac) = match self.mode {
                Mode::Inner => (self.src_mac, self.dst_mac),
                Mode::Vxlan => {
                    let outer_ip_len = (self.frame_len - headers::ETH_LEN) as u16;
                    push_eth(&mut bytes, self.dst_mac, self.src_mac);
                    push_ipv4(
                        &mut bytes,
                        vtep_ip(self.vtep_base, a.vtep),
                        self.gw_ip,
                        outer_ip_len,
                        f as u16,
                    );
                    // Outer UDP checksum zero, as Linux VXLAN sends by default.
                    push_udp(
                        &mut bytes,
                        a.outer_sport,
                        self.vxlan_port,
                        outer_ip_len - IPV4_LEN as u16,
                    );
                    push_vxlan(&mut bytes, self.vni);
                    (vtep_mac(a.vtep), self.gw_vtep_mac)
                }
            };
            let ip_len = (inner_len - headers::ETH_LEN) as u16;
            let udp_len = ip_len - IPV4_LEN as u16;
            push_eth(&mut bytes, inner_dst_mac, inner_src_mac);
            push_ipv4(&mut bytes, a.src, a.dst, ip_len, f as u16);
            push_udp(&mut bytes, a.sport, a.dport, udp_len);
            payload::write_fixed(&mut bytes, self.run_id, f as u16);
            // The zero padding and zero stamp add nothing to the sum.
            let udp_start = start + hdr - UDP_LEN;
            let s = pseudo_header_sum(a.src, a.dst, udp_len) + sum16(&bytes[udp_start..]);
            sums.push(s);
        }
        Ok(Templates {
            frame_len: self.frame_len,
            hdr_len: hdr,
            stride,
            bytes,
            sums,
        })
    }
}

/// A buffer whose size the flags decide could not be allocated.
#[derive(Debug, thiserror::Error)]
#[error(
    "not enough memory for {what} ({bytes} bytes); give fewer --flows, or allow pktgen more \
     memory (ulimit -v)"
)]
pub struct NoMemory {
    pub what: String,
    pub bytes: u128,
}

// `write_frame` sums the per-packet stamp as starting at an odd offset of
// the UDP segment.
const _: () = assert!((UDP_LEN + FIXED_LEN) % 2 == 1);

/// Per-flow headers plus payload prefix, and each flow's partial UDP sum.
pub struct Templates {
    frame_len: usize,
    hdr_len: usize,
    stride: usize,
    bytes: Vec<u8>,
    sums: Vec<u64>,
}

impl Templates {
    pub fn flows(&self) -> u32 {
        self.sums.len() as u32
    }

    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Writes flow `flow`'s frame with `seq` and `tsc` into `out` (exactly
    /// `frame_len` bytes) and completes the inner UDP checksum
    /// incrementally. False (and `out` untouched) on a bad flow or length.
    #[inline(always)]
    pub fn write_frame(&self, flow: u32, seq: u64, tsc: u64, out: &mut [u8]) -> bool {
        let f = flow as usize;
        let (Some(tpl), Some(&sum)) = (
            self.bytes.get(f * self.stride..(f + 1) * self.stride),
            self.sums.get(f),
        ) else {
            return false;
        };
        if out.len() != self.frame_len {
            return false;
        }
        let (head, rest) = out.split_at_mut(self.stride);
        head.copy_from_slice(tpl);
        let (stamp, pad) = rest.split_at_mut(STAMP_LEN);
        let Ok(stamp) = <&mut [u8; STAMP_LEN]>::try_from(stamp) else {
            return false;
        };
        payload::write_stamp(stamp, seq, tsc);
        // The stamp starts at an odd offset of the UDP segment (after the
        // 7-byte fixed part, whose last byte the template's sum counted as
        // a high byte): its words are summed behind a zero byte.
        let mut aligned = [0u8; STAMP_LEN + 1];
        aligned[1..].copy_from_slice(stamp);
        let c = headers::udp_checksum_from_sum(sum + sum16(&aligned));
        pad.fill(0);
        let cs = self.hdr_len - 2;
        head[cs..cs + 2].copy_from_slice(&c.to_be_bytes());
        true
    }
}

/// A plan for unit tests of this module and its neighbours.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub(crate) fn plan(mode: Mode, frame_len: usize, flows: u32) -> FlowPlan {
        let network: Ipv4Net = "10.244.0.0/16".parse().unwrap();
        FlowPlan {
            mode,
            frame_len,
            flows,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            dst_nets: (0..4)
                .map(|i| lease_subnet(network, 24, i).unwrap())
                .collect(),
            host_ip: Ipv4Addr::new(10, 244, 255, 10),
            hosts: 3,
            udp_port: 5001,
            vteps: 3,
            vtep_base: Ipv4Addr::new(172, 28, 147, 44),
            vtep_nets: (0..3)
                .map(|i| lease_subnet(network, 24, i).unwrap())
                .collect(),
            gw_ip: Ipv4Addr::new(172, 28, 147, 40),
            gw_vtep_mac: [0x0e, 0, 0, 0, 0, 0x40],
            vni: 1,
            vxlan_port: 8472,
            run_id: 0x00c0ffee,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::plan;
    use super::*;

    #[test]
    fn derivations_follow_the_documented_rules() {
        let net: Ipv4Net = "10.244.0.0/16".parse().unwrap();
        assert_eq!(
            lease_subnet(net, 24, 0).unwrap().to_string(),
            "10.244.1.0/24"
        );
        assert_eq!(
            lease_subnet(net, 24, 253).unwrap().to_string(),
            "10.244.254.0/24"
        );
        assert_eq!(lease_subnet(net, 24, 255), None);
        assert_eq!(
            vtep_ip(Ipv4Addr::new(172, 28, 147, 44), 3),
            Ipv4Addr::new(172, 28, 147, 47)
        );
        assert_eq!(vtep_mac(0x010203), [0x0e, 0x56, 0x54, 1, 2, 3]);
        let sub: Ipv4Net = "10.244.7.0/24".parse().unwrap();
        assert_eq!(sub.host(0), Ipv4Addr::new(10, 244, 7, 2));
        assert_eq!(sub.host(252), Ipv4Addr::new(10, 244, 7, 254));
        assert_eq!(sub.host(253), Ipv4Addr::new(10, 244, 7, 2), "wraps");
    }

    #[test]
    fn prefixes_parse_and_clear_host_bits() {
        let n: Ipv4Net = "10.244.3.7/24".parse().unwrap();
        assert_eq!(n.to_string(), "10.244.3.0/24");
        assert!(n.contains(Ipv4Addr::new(10, 244, 3, 255)));
        assert!(!n.contains(Ipv4Addr::new(10, 244, 4, 0)));
        assert!("10.244.0.0/33".parse::<Ipv4Net>().is_err());
        assert!("10.244.0.0".parse::<Ipv4Net>().is_err());
    }

    #[test]
    fn inner_flows_spread_over_subnets_and_hosts() {
        let p = plan(Mode::Inner, 60, 16);
        let a = p.addrs(5);
        assert_eq!(
            a.dst,
            Ipv4Addr::new(10, 244, 2, 3),
            "subnet 5%4=1, host 5/4=1"
        );
        assert_eq!(a.src, Ipv4Addr::new(10, 244, 255, 12), "host 5%3=2");
        assert_eq!(a.sport, 1029);
    }

    #[test]
    fn vxlan_flows_come_from_their_vteps_lease() {
        let p = plan(Mode::Vxlan, 110, 16);
        let a = p.addrs(4);
        assert_eq!(a.vtep, 1);
        assert_eq!(a.src, Ipv4Addr::new(10, 244, 2, 3), "lease 1, host 4/3=1");
        assert_eq!(a.dst, Ipv4Addr::new(10, 244, 255, 11));
        assert_eq!(a.outer_sport, 32772);
    }

    #[test]
    fn frames_carry_a_correct_udp_checksum_for_any_stamp() {
        for (mode, len) in [(Mode::Inner, 60), (Mode::Inner, 1514), (Mode::Vxlan, 111)] {
            let p = plan(mode, len, 8);
            let t = p.templates().unwrap();
            let mut f = vec![0xaau8; len];
            for (flow, seq, tsc) in [(0, 0, 0), (7, 123_456_789, u64::MAX), (3, 1 << 47, 99)] {
                assert!(t.write_frame(flow, seq, tsc, &mut f));
                let st = payload::find(&f).expect("stamp found");
                assert_eq!(
                    (st.run, st.flow as u32, st.seq, st.tsc),
                    (p.run_id, flow, seq, tsc & payload::TSC_MASK)
                );
                let udp = p.payload_offset() - UDP_LEN;
                let ip = udp - IPV4_LEN;
                let src = Ipv4Addr::new(f[ip + 12], f[ip + 13], f[ip + 14], f[ip + 15]);
                let dst = Ipv4Addr::new(f[ip + 16], f[ip + 17], f[ip + 18], f[ip + 19]);
                let ulen = (len - udp) as u16;
                assert_eq!(
                    headers::fold(pseudo_header_sum(src, dst, ulen) + sum16(&f[udp..])),
                    0xffff,
                    "{mode:?} {len} flow {flow}"
                );
                assert_eq!(headers::fold(sum16(&f[ip..ip + 20])), 0xffff);
            }
        }
    }

    #[test]
    fn write_frame_refuses_a_wrong_length_or_flow() {
        let t = plan(Mode::Inner, 60, 2).templates().unwrap();
        assert!(!t.write_frame(0, 0, 0, &mut [0u8; 59]));
        assert!(!t.write_frame(2, 0, 0, &mut [0u8; 60]));
    }
}
