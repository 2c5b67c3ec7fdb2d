//! Test support shared by unit tests, benchmarks and the fuzz target: a
//! HashMap-backed [`Lookup`], a fixed gateway configuration modelled on
//! SPEC's example, and frame builders. Not used by the data plane.

use super::buf::VecBuf;
use super::context::{Context, ContextConfig, Prefix};
use super::counters::Counters;
use super::lookup::{Lease, Lookup, VtepMatch};
use super::state::WorkerState;
use super::verdict::{Side, Verdict};
use super::{process_access, process_burst, process_decapped, process_fragment, process_underlay};
use crate::wire::ethernet::{self, ethertype};
use crate::wire::{arp, icmp, ipv4, udp, vxlan, MacAddr, Vni};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, OnceLock};

pub const UNDERLAY_IP: Ipv4Addr = Ipv4Addr::new(172, 28, 147, 40);
pub const UNDERLAY_MAC: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
pub const ACCESS_IP: Ipv4Addr = Ipv4Addr::new(10, 244, 255, 1);
pub const ACCESS_MAC: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x02]);
pub const VTEP_MAC: MacAddr = MacAddr([0x0e, 0x4a, 0x1c, 0x93, 0x28, 0x01]);
pub const VNI: u32 = 1;
pub const PORT: u16 = 8472;
/// A flannel node on the underlay, holding lease 10.244.1.0/24.
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(172, 28, 147, 44);
pub const NODE_MAC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
pub const NODE_VTEP_MAC: MacAddr = MacAddr([0x16, 0xab, 0x0a, 0xe0, 0xe7, 0x60]);
pub const NODE_SUBNET: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 0);
pub const POD_IP: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 36);
/// A second node, off-link (behind the underlay gateway when one is set).
pub const FAR_NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);
pub const FAR_NODE_VTEP_MAC: MacAddr = MacAddr([0x16, 0xab, 0x0a, 0x00, 0x00, 0x07]);
pub const FAR_SUBNET: Ipv4Addr = Ipv4Addr::new(10, 244, 7, 0);
pub const UNDERLAY_GW: Ipv4Addr = Ipv4Addr::new(172, 28, 147, 33);
pub const UNDERLAY_GW_MAC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x00, 0x00, 0x21]);
/// A bare-metal host on the access port.
pub const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 244, 255, 10);
pub const HOST_MAC: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x0a]);

/// The gateway of SPEC's picture: underlay 172.28.147.40/28, lease
/// 10.244.255.0/24 of Network 10.244.0.0/16, VNI 1, port 8472.
pub fn config() -> ContextConfig {
    ContextConfig {
        underlay_ip: UNDERLAY_IP,
        underlay_mac: UNDERLAY_MAC,
        underlay_prefix: Prefix::new(UNDERLAY_IP, 28)
            .unwrap_or(Prefix::new(UNDERLAY_IP, 32).unwrap_or_else(|| unreachable!())),
        underlay_gateway: None,
        access_ip: ACCESS_IP,
        access_mac: ACCESS_MAC,
        subnet: prefix(Ipv4Addr::new(10, 244, 255, 0), 24),
        network: prefix(Ipv4Addr::new(10, 244, 0, 0), 16),
        subnet_len: 24,
        vni: vni(VNI),
        udp_port: PORT,
        tunnel_mtu: 1450,
        underlay_mtu: 1500,
        access_mtu: 1500,
        vtep_mac: VTEP_MAC,
        direct_routing: false,
    }
}

fn prefix(a: Ipv4Addr, len: u8) -> Prefix {
    Prefix::new(a, len.min(32)).unwrap_or_else(|| unreachable!("len <= 32"))
}

/// A VNI from a test constant (masked to 24 bits).
pub fn vni(v: u32) -> Vni {
    Vni::new(v & Vni::MAX).unwrap_or_else(|| unreachable!("masked"))
}

/// `Context::new(config())`.
pub fn context() -> Context {
    Context::new(config()).unwrap_or_else(|e| panic!("test config is valid: {e}"))
}

/// `context()` with the underlay gateway set: the far node (off the
/// underlay's link) is reached through it; without one it has no route.
pub fn context_via_gateway() -> Context {
    let mut c = config();
    c.underlay_gateway = Some(UNDERLAY_GW);
    Context::new(c).unwrap_or_else(|e| panic!("test config is valid: {e}"))
}

/// A HashMap-backed lookup table for tests.
#[derive(Debug, Default, Clone)]
pub struct MapLookup {
    pub leases: HashMap<u32, Lease>,
    pub vteps: HashMap<u32, Vec<MacAddr>>,
    pub neighbors: HashMap<(Side, u32), MacAddr>,
}

impl MapLookup {
    /// Adds a lease for `subnet` and registers its VTEP.
    pub fn add_lease(&mut self, subnet: Ipv4Addr, public_ip: Ipv4Addr, vtep_mac: MacAddr) {
        self.leases.insert(
            u32::from(subnet),
            Lease {
                public_ip,
                vtep_mac,
            },
        );
        self.vteps
            .entry(u32::from(public_ip))
            .or_default()
            .push(vtep_mac);
    }
    pub fn add_neighbor(&mut self, side: Side, ip: Ipv4Addr, mac: MacAddr) {
        self.neighbors.insert((side, u32::from(ip)), mac);
    }
    /// Two leases (an on-link node, a far node), the node and the host
    /// resolved, and the underlay gateway resolved.
    pub fn standard() -> MapLookup {
        let mut m = MapLookup::default();
        m.add_lease(NODE_SUBNET, NODE_IP, NODE_VTEP_MAC);
        m.add_lease(FAR_SUBNET, FAR_NODE_IP, FAR_NODE_VTEP_MAC);
        m.add_neighbor(Side::Underlay, NODE_IP, NODE_MAC);
        m.add_neighbor(Side::Underlay, FAR_NODE_IP, NODE_MAC);
        m.add_neighbor(Side::Underlay, UNDERLAY_GW, UNDERLAY_GW_MAC);
        m.add_neighbor(Side::Access, HOST_IP, HOST_MAC);
        m
    }
}

impl Lookup for MapLookup {
    fn lease(&self, subnet: u32) -> Option<Lease> {
        self.leases.get(&subnet).copied()
    }
    fn vtep_match(&self, public_ip: u32, mac: MacAddr) -> VtepMatch {
        match self.vteps.get(&public_ip) {
            None => VtepMatch::UnknownVtep,
            Some(macs) if macs.contains(&mac) => VtepMatch::Ok,
            Some(_) => VtepMatch::WrongMac,
        }
    }
    fn neighbor(&self, side: Side, ip: u32) -> Option<MacAddr> {
        self.neighbors.get(&(side, ip)).copied()
    }
}

/// A fresh worker state with its own counters.
pub fn worker() -> WorkerState {
    WorkerState::new(Arc::new(Counters::new()), 0)
}

/// Parameters of an IPv4 test packet.
#[derive(Debug, Clone, Copy)]
pub struct Ip {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub df: bool,
    pub ident: u16,
}

impl Ip {
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr) -> Ip {
        Ip {
            src,
            dst,
            protocol: ipv4::protocol::UDP,
            ttl: 64,
            df: false,
            ident: 0x1234,
        }
    }
}

/// An Ethernet + IPv4 frame carrying `l4` (the transport header and data).
pub fn ipv4_frame(eth_dst: MacAddr, eth_src: MacAddr, ip: Ip, l4: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; ethernet::HEADER_LEN + ipv4::HEADER_LEN + l4.len()];
    ethernet::Repr {
        src: eth_src,
        dst: eth_dst,
        ethertype: ethertype::IPV4,
    }
    .emit(&mut ethernet::Frame::new_unchecked(&mut f[..]));
    ipv4::Repr {
        src: ip.src,
        dst: ip.dst,
        protocol: ip.protocol,
        payload_len: l4.len() as u16,
        ttl: ip.ttl,
        ident: ip.ident,
        dont_frag: ip.df,
        dscp_ecn: 0,
    }
    .emit(&mut f[ethernet::HEADER_LEN..])
    .unwrap_or_else(|_| unreachable!("sized above"));
    f[ethernet::HEADER_LEN + ipv4::HEADER_LEN..].copy_from_slice(l4);
    f
}

/// A UDP datagram (checksum computed over `src`/`dst`).
pub fn udp_datagram(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut d = vec![0u8; udp::HEADER_LEN + data.len()];
    d[udp::HEADER_LEN..].copy_from_slice(data);
    udp::Repr {
        src_port: sport,
        dst_port: dport,
        payload_len: data.len() as u16,
    }
    .emit(
        &mut udp::Packet::new_unchecked(&mut d[..]),
        Some((src, dst)),
    );
    d
}

/// An ICMP echo request with `data`.
pub fn echo_request(ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut d = vec![0u8; icmp::HEADER_LEN + data.len()];
    d[icmp::HEADER_LEN..].copy_from_slice(data);
    icmp::Repr::EchoRequest { ident, seq }.emit(&mut icmp::Packet::new_unchecked(&mut d[..]));
    d
}

/// Deterministic filler bytes.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

/// A UDP frame from the host to the pod as it arrives on the access port,
/// with `data_len` bytes of UDP data.
pub fn host_to_pod(data_len: usize) -> Vec<u8> {
    host_to_pod_with(data_len, false)
}

/// [`host_to_pod`] with DF set (too big for the tunnel: an ICMP
/// fragmentation-needed, not fragments).
pub fn host_to_pod_df(data_len: usize) -> Vec<u8> {
    host_to_pod_with(data_len, true)
}

fn host_to_pod_with(data_len: usize, df: bool) -> Vec<u8> {
    let ip = Ip {
        df,
        ..Ip::new(HOST_IP, POD_IP)
    };
    let l4 = udp_datagram(ip.src, ip.dst, 5000, 80, &pattern(data_len));
    ipv4_frame(ACCESS_MAC, HOST_MAC, ip, &l4)
}

/// A one-byte UDP frame from the host to a pod behind the far node
/// (10.244.7.9, the lease of FAR_NODE_IP, off the underlay's link).
pub fn host_to_far_pod() -> Vec<u8> {
    let ip = Ip::new(HOST_IP, Ipv4Addr::new(10, 244, 7, 9));
    let l4 = udp_datagram(ip.src, ip.dst, 1, 2, b"x");
    ipv4_frame(ACCESS_MAC, HOST_MAC, ip, &l4)
}

/// The inner frame a flannel node sends us for the host (inner Ethernet
/// from the node's VtepMAC to ours).
pub fn pod_to_host_inner(data_len: usize) -> Vec<u8> {
    let ip = Ip::new(POD_IP, HOST_IP);
    let l4 = udp_datagram(ip.src, ip.dst, 80, 5000, &pattern(data_len));
    ipv4_frame(VTEP_MAC, NODE_VTEP_MAC, ip, &l4)
}

/// Wraps `inner` in VXLAN from `outer_src` (its MAC: NODE_MAC) to the
/// gateway, UDP checksum computed as Linux does by default.
pub fn vxlan_frame(outer_src: Ipv4Addr, vni_value: u32, inner: &[u8]) -> Vec<u8> {
    let mut vx = vec![0u8; vxlan::HEADER_LEN + inner.len()];
    vxlan::Packet::new_unchecked(&mut vx[..]).set_header(vni(vni_value));
    vx[vxlan::HEADER_LEN..].copy_from_slice(inner);
    let l4 = udp_datagram(outer_src, UNDERLAY_IP, 45000, PORT, &vx);
    let mut ip = Ip::new(outer_src, UNDERLAY_IP);
    ip.ttl = 64;
    ipv4_frame(UNDERLAY_MAC, NODE_MAC, ip, &l4)
}

/// A VXLAN frame from the node carrying `pod_to_host_inner(data_len)`.
pub fn pod_to_host(data_len: usize) -> Vec<u8> {
    vxlan_frame(NODE_IP, VNI, &pod_to_host_inner(data_len))
}

/// An ARP request from `sender` for `target` on a port.
pub fn arp_request(sender_mac: MacAddr, sender_ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut out = vec![0u8; super::slowpath::MIN_FRAME_LEN];
    let r = arp::Repr {
        operation: arp::Operation::Request,
        sender_mac,
        sender_ip,
        target_mac: MacAddr::ZERO,
        target_ip: target,
    };
    let n = super::slowpath::build_arp_frame(MacAddr::BROADCAST, &r, &mut out).unwrap_or(0);
    out.truncate(n);
    out
}

/// Sets the TOS byte of the IPv4 header at `at` and recomputes its
/// checksum (`at`: 14 for a plain frame, 14 or 64 in a VXLAN frame, whose
/// outer UDP checksum, which does not cover it, stays valid).
pub fn set_tos(frame: &mut [u8], at: usize, tos: u8) {
    if let Some(h) = frame.get_mut(at..) {
        if let Ok(mut ip) = ipv4::Packet::new_checked(h) {
            ip.set_dscp_ecn(tos);
            ip.fill_checksum();
        }
    }
}

/// A VXLAN frame from the node carrying a UDP packet from `src` to the
/// host, with the outer and the inner TOS given.
pub fn vxlan_to_host(src: Ipv4Addr, outer_tos: u8, inner_tos: u8) -> Vec<u8> {
    let ip = Ip::new(src, HOST_IP);
    let l4 = udp_datagram(ip.src, ip.dst, 80, 5000, &pattern(24));
    let mut inner = ipv4_frame(VTEP_MAC, NODE_VTEP_MAC, ip, &l4);
    set_tos(&mut inner, ethernet::HEADER_LEN, inner_tos);
    let mut f = vxlan_frame(NODE_IP, VNI, &inner);
    set_tos(&mut f, ethernet::HEADER_LEN, outer_tos);
    f
}

/// A UDP frame from `src` to the pod as it arrives on the access port.
pub fn to_pod_from(src: Ipv4Addr) -> Vec<u8> {
    let ip = Ip::new(src, POD_IP);
    let l4 = udp_datagram(ip.src, ip.dst, 5000, 80, &pattern(16));
    ipv4_frame(ACCESS_MAC, HOST_MAC, ip, &l4)
}

/// `frame` with an 802.1Q (`tpid` 0x8100) or 802.1ad (0x88a8) tag of
/// TCI `tci` inserted behind its source address: with VLAN id 0 (the low
/// 12 bits of the TCI), the priority-tagged twin of the untagged frame.
pub fn tagged(frame: &[u8], tpid: u16, tci: u16) -> Vec<u8> {
    let at = 2 * 6;
    let mut f = frame.get(..at).unwrap_or(frame).to_vec();
    f.extend_from_slice(&tpid.to_be_bytes());
    f.extend_from_slice(&tci.to_be_bytes());
    f.extend_from_slice(frame.get(at..).unwrap_or_default());
    f
}

/// One frame of each kind, for the fuzz seed corpus and truncation tests:
/// (name, rx side, frame). Also the frames whose single-bit changes
/// `fastpath::tests::fast_paths_match_full_paths` runs through both paths:
/// ECN fields on either side of each rule, sources just inside and just
/// outside the martian ranges, our own subnet through a tunnel, ARP to
/// another host's MAC, priority-tagged frames (VLAN id 0) of both TPIDs.
pub fn sample_frames() -> Vec<(&'static str, Side, Vec<u8>)> {
    let mut v = vec![
        ("access_udp_to_pod", Side::Access, host_to_pod(64)),
        ("underlay_vxlan_to_host", Side::Underlay, pod_to_host(64)),
        (
            "access_arp_request",
            Side::Access,
            arp_request(HOST_MAC, HOST_IP, ACCESS_IP),
        ),
        (
            "underlay_arp_request",
            Side::Underlay,
            arp_request(NODE_MAC, NODE_IP, UNDERLAY_IP),
        ),
    ];
    let ping = Ip {
        protocol: ipv4::protocol::ICMP,
        ..Ip::new(HOST_IP, ACCESS_IP)
    };
    v.push((
        "access_echo_request",
        Side::Access,
        ipv4_frame(ACCESS_MAC, HOST_MAC, ping, &echo_request(7, 1, b"ping")),
    ));
    let ping = Ip {
        protocol: ipv4::protocol::ICMP,
        ..Ip::new(NODE_IP, UNDERLAY_IP)
    };
    v.push((
        "underlay_echo_request",
        Side::Underlay,
        ipv4_frame(UNDERLAY_MAC, NODE_MAC, ping, &echo_request(7, 1, b"ping")),
    ));
    let tping = Ip {
        protocol: ipv4::protocol::ICMP,
        ..Ip::new(POD_IP, ACCESS_IP)
    };
    let inner = ipv4_frame(
        VTEP_MAC,
        NODE_VTEP_MAC,
        tping,
        &echo_request(9, 2, b"through the tunnel"),
    );
    v.push((
        "underlay_vxlan_echo_request",
        Side::Underlay,
        vxlan_frame(NODE_IP, VNI, &inner),
    ));
    let mut ttl1 = Ip::new(HOST_IP, POD_IP);
    ttl1.ttl = 1;
    let l4 = udp_datagram(ttl1.src, ttl1.dst, 5000, 80, b"ttl");
    v.push((
        "access_ttl_expired",
        Side::Access,
        ipv4_frame(ACCESS_MAC, HOST_MAC, ttl1, &l4),
    ));
    v.push(("access_df_too_big", Side::Access, host_to_pod_df(1472)));
    v.push(("access_jumbo_9000", Side::Access, host_to_pod(9000 - 28)));
    // ECN: copied into the outer header by encap; decap changes or drops
    // on outer CE and ECT(1) only (RFC 6040).
    let mut ect0 = host_to_pod(64);
    set_tos(&mut ect0, ethernet::HEADER_LEN, 0xb8 | ipv4::ecn::ECT0);
    v.push(("access_udp_ect0", Side::Access, ect0));
    use ipv4::ecn::{CE, ECT0, ECT1, NOT_ECT};
    for (name, outer, inner) in [
        ("underlay_vxlan_ect0", ECT0, ECT0),
        ("underlay_vxlan_ce_over_not_ect", CE, NOT_ECT),
        ("underlay_vxlan_ce_over_ect1", CE, 0x28 | ECT1),
        ("underlay_vxlan_ect1_over_ect0", ECT1, ECT0),
    ] {
        v.push((name, Side::Underlay, vxlan_to_host(POD_IP, outer, inner)));
    }
    // Sources: martian or ours (not forwarded) and their neighbours.
    for (name, src) in [
        ("access_src_126_0_0_1", Ipv4Addr::new(126, 0, 0, 1)),
        ("access_src_multicast", Ipv4Addr::new(224, 0, 0, 5)),
        ("access_src_limited_broadcast", Ipv4Addr::BROADCAST),
        ("access_src_own_address", ACCESS_IP),
        ("access_src_underlay_address", UNDERLAY_IP),
        ("access_src_subnet_network", Ipv4Addr::new(10, 244, 255, 0)),
        (
            "access_src_subnet_broadcast",
            Ipv4Addr::new(10, 244, 255, 255),
        ),
        (
            "access_src_next_to_subnet_broadcast",
            Ipv4Addr::new(10, 244, 255, 254),
        ),
    ] {
        v.push((name, Side::Access, to_pod_from(src)));
    }
    for (name, src) in [
        (
            "underlay_vxlan_from_own_subnet",
            Ipv4Addr::new(10, 244, 255, 77),
        ),
        (
            "underlay_vxlan_from_outside_network",
            Ipv4Addr::new(192, 168, 7, 7),
        ),
        ("underlay_vxlan_from_zero_net", Ipv4Addr::new(0, 0, 0, 9)),
        ("underlay_vxlan_from_underlay_address", UNDERLAY_IP),
    ] {
        v.push((name, Side::Underlay, vxlan_to_host(src, 0, 0)));
    }
    // ARP to another host's MAC (the ports are promiscuous), and to ours.
    let mut other = arp_request(NODE_MAC, NODE_IP, Ipv4Addr::new(172, 28, 147, 45));
    other[21] = 2; // a reply
    other[..6].copy_from_slice(&[0x52, 0x54, 0x00, 0x12, 0x34, 0x45]);
    v.push(("underlay_arp_reply_to_another_host", Side::Underlay, other));
    let mut unicast = arp_request(HOST_MAC, HOST_IP, ACCESS_IP);
    unicast[..6].copy_from_slice(&ACCESS_MAC.0);
    v.push(("access_arp_request_unicast", Side::Access, unicast));
    // Priority tags (VLAN id 0, 802.1p only), taken as untagged: an
    // 802.1Q tag with priority 3 in front of a host's packet, its ARP and
    // its ping, an 802.1ad tag with priority 5 in front of a node's VXLAN.
    let vlan = ethertype::VLAN;
    v.push((
        "access_udp_to_pod_priority_tagged",
        Side::Access,
        tagged(&host_to_pod(64), vlan, 0x6000),
    ));
    v.push((
        "access_arp_request_priority_tagged",
        Side::Access,
        tagged(&arp_request(HOST_MAC, HOST_IP, ACCESS_IP), vlan, 0x6000),
    ));
    let ping = Ip {
        protocol: ipv4::protocol::ICMP,
        ..Ip::new(HOST_IP, ACCESS_IP)
    };
    let ping = ipv4_frame(ACCESS_MAC, HOST_MAC, ping, &echo_request(7, 1, b"ping"));
    v.push((
        "access_echo_request_priority_tagged",
        Side::Access,
        tagged(&ping, vlan, 0x6000),
    ));
    v.push((
        "underlay_vxlan_to_host_priority_tagged",
        Side::Underlay,
        tagged(&pod_to_host(64), ethertype::QINQ, 0xa000),
    ));
    v
}

struct FuzzEnv {
    ctx: Context,
    direct: Context,
    lookup: MapLookup,
}

fn fuzz_env() -> &'static FuzzEnv {
    static ENV: OnceLock<FuzzEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut d = config();
        d.direct_routing = true;
        d.underlay_gateway = Some(UNDERLAY_GW);
        FuzzEnv {
            ctx: context(),
            direct: Context::new(d).unwrap_or_else(|e| panic!("valid: {e}")),
            lookup: MapLookup::standard(),
        }
    })
}

/// Runs arbitrary bytes through every entry point under two fixed
/// configurations and checks that what is sent is well formed: every
/// IPv4 frame transmitted or replied has a valid header checksum and a
/// length that matches the buffer; and that the burst fast path
/// (`process_burst`) gives the full path's verdict, bytes and counters.
/// Returns a description of a violation.
pub fn fuzz_one(data: &[u8]) -> Result<(), String> {
    let env = fuzz_env();
    for ctx in [&env.ctx, &env.direct] {
        for entry in 0..4 {
            let mut st = worker();
            let mut buf = VecBuf::from_frame(data);
            let v = match entry {
                0 => process_access(ctx, &env.lookup, &mut st, &mut buf),
                1 => process_underlay(ctx, &env.lookup, &mut st, &mut buf),
                2 => process_decapped(ctx, &env.lookup, &mut st, &mut buf),
                _ => process_fragment(ctx, &env.lookup, &mut st, Side::Underlay, &mut buf),
            };
            check_output(&buf, v).map_err(|e| format!("entry {entry}: {v:?}: {e}"))?;
            // The burst fast path must agree with the full path exactly.
            if entry < 2 {
                let side = [Side::Access, Side::Underlay][entry];
                let mut fast_st = worker();
                let mut fast = [VecBuf::from_frame(data)];
                let mut fv = [Verdict::default()];
                process_burst(ctx, &env.lookup, &mut fast_st, side, &mut fast, &mut fv);
                if fv[0] != v
                    || fast[0] != buf
                    || fast_st.counters.snapshot() != st.counters.snapshot()
                {
                    return Err(format!(
                        "entry {entry}: burst path gave {:?}, full path {v:?} (or bytes/counters differ)",
                        fv[0]
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_output(buf: &VecBuf, v: Verdict) -> Result<(), String> {
    use super::buf::PacketBuf;
    let sent = matches!(
        v,
        Verdict::TxUnderlay | Verdict::TxAccess | Verdict::Reply(_) | Verdict::Hold { .. }
    );
    if !sent {
        return Ok(());
    }
    let f = ethernet::Frame::new_checked(buf.data()).map_err(|e| e.to_string())?;
    if f.ethertype() != ethertype::IPV4 {
        return Ok(());
    }
    let ip = ipv4::Packet::new_checked(f.payload()).map_err(|e| format!("ipv4: {e}"))?;
    if !ip.verify_checksum() {
        return Err("bad IPv4 checksum on output".into());
    }
    if usize::from(ip.total_len()) + ethernet::HEADER_LEN != buf.len() {
        return Err(format!("length {} vs buffer {}", ip.total_len(), buf.len()));
    }
    Ok(())
}
