//! Pipeline tests on byte vectors, one file a topic: golden packets,
//! etherparse cross-checks, every drop reason, truncation, jumbo frames,
//! ARP/ICMP responders, DirectRouting, bursts, and decap(encap(x)) as a
//! property. This file holds what they share: running a frame through a
//! path, asserting a drop, the offsets in a VXLAN frame, the golden outer
//! header, the peer node's view, and frame builders.

mod access_drops;
mod arp_responder;
mod burst;
mod decap;
mod direct_routing;
mod echo_responder;
mod ecn;
mod encap;
mod fragmentation;
mod frame_sizes;
mod icmp_errors;
mod ip_options;
mod priority_tags;
mod properties;
mod reassembly;
mod source_checks;

use super::buf::{PacketBuf, VecBuf};
use super::context::{Context, Prefix, OUTER_LEN};
use super::testing::*;
use super::*;
use crate::wire::{checksum, ipv4, MacAddr};
use std::net::Ipv4Addr;

fn run(
    ctx: &Context,
    l: &testing::MapLookup,
    side: Side,
    frame: &[u8],
) -> (Verdict, VecBuf, WorkerState) {
    let mut st = worker();
    let mut b = VecBuf::from_frame(frame);
    let v = match side {
        Side::Access => process_access(ctx, l, &mut st, &mut b),
        Side::Underlay => process_underlay(ctx, l, &mut st, &mut b),
    };
    (v, b, st)
}

/// Asserts the verdict is the drop `r`, counted once and alone.
fn assert_drop(ctx: &Context, l: &MapLookup, side: Side, frame: &[u8], r: DropReason) {
    let (v, _, st) = run(ctx, l, side, frame);
    assert_eq!(v, Verdict::Drop(r));
    let s = st.counters.snapshot();
    assert_eq!(s.drop_count(r), 1, "{r:?}");
    assert_eq!(s.total_drops(), 1, "{r:?}: {s:?}");
}

// Offsets in a VXLAN frame with option-less outer and inner IPv4.
const O_IP: usize = 14;
const O_UDP: usize = 34;
const O_VX: usize = 42;
const I_ETH: usize = 50;
const I_IP: usize = 64;

fn fix_ip(f: &mut [u8], at: usize) {
    let hl = usize::from(f[at] & 0x0f) * 4;
    f[at + 10] = 0;
    f[at + 11] = 0;
    let c = checksum::checksum(&f[at..at + hl.max(20)]);
    f[at + 10..at + 12].copy_from_slice(&c.to_be_bytes());
}

fn no_udp_csum(f: &mut [u8]) {
    f[O_UDP + 6] = 0;
    f[O_UDP + 7] = 0;
}

/// The outer header for host_to_pod(64): worker 0's first ident (0); the
/// source port 0xa624 (42532) was computed independently (Python) from the
/// documented hash of the flow 10.244.255.10:5000 -> 10.244.1.36:80/UDP.
#[rustfmt::skip]
const GOLDEN_OUTER: [u8; OUTER_LEN] = [
    // Ethernet: node MAC <- underlay MAC, IPv4
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
    // IPv4: len 20+8+8+14+20+8+64 = 142, ident 0, DF clear, TTL 64, UDP, checksum
    0x45, 0x00, 0x00, 0x8e, 0x00, 0x00, 0x00, 0x00, 0x40, 0x11, 0xfb, 0xd1,
    172, 28, 147, 40, 172, 28, 147, 44,
    // UDP: source port, 8472, length 122, checksum 0
    0xa6, 0x24, 0x21, 0x18, 0x00, 0x7a, 0x00, 0x00,
    // VXLAN: I flag, VNI 1
    0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
];

/// The node's view: a gateway-like context for the flannel node, so that
/// what we encapsulate can be decapsulated by the same code.
fn peer() -> (Context, MapLookup) {
    peer_with(VNI, PORT, 1450, 1500)
}

fn peer_with(vni_v: u32, port: u16, tunnel_mtu: u16, access_mtu: u16) -> (Context, MapLookup) {
    let mut c = config();
    c.underlay_ip = NODE_IP;
    c.underlay_mac = NODE_MAC;
    c.access_ip = Ipv4Addr::new(10, 244, 1, 1);
    c.subnet = Prefix::new(NODE_SUBNET, 24).unwrap();
    c.vtep_mac = NODE_VTEP_MAC;
    c.vni = vni(vni_v);
    c.udp_port = port;
    c.tunnel_mtu = tunnel_mtu;
    c.underlay_mtu = tunnel_mtu + 50;
    c.access_mtu = access_mtu;
    let mut l = MapLookup::default();
    l.add_lease(Ipv4Addr::new(10, 244, 255, 0), UNDERLAY_IP, VTEP_MAC);
    l.add_neighbor(Side::Access, POD_IP, MacAddr([2, 0, 0, 0, 0, 0x36]));
    l.add_neighbor(Side::Underlay, UNDERLAY_IP, UNDERLAY_MAC);
    (Context::new(c).unwrap(), l)
}

/// The outer and inner IPv4 headers of a frame as etherparse reads them,
/// each with its checksum checked against etherparse's own computation.
fn ep_ipv4(frame: &[u8], at: usize) -> etherparse::Ipv4Header {
    let (h, _) = etherparse::Ipv4Header::from_slice(&frame[at..]).unwrap();
    assert_eq!(h.header_checksum, h.calc_header_checksum(), "{frame:02x?}");
    h
}

/// One frame through the burst path: same verdict and bytes as `run`.
fn run_both(ctx: &Context, l: &MapLookup, side: Side, f: &[u8]) -> (Verdict, VecBuf, WorkerState) {
    let (v, b, st) = run(ctx, l, side, f);
    let mut bufs = [VecBuf::from_frame(f)];
    let mut vs = [Verdict::default()];
    let mut bst = worker();
    process_burst(ctx, l, &mut bst, side, &mut bufs, &mut vs);
    assert_eq!((vs[0], bufs[0].data()), (v, b.data()), "burst path");
    assert_eq!(
        bst.counters.snapshot(),
        st.counters.snapshot(),
        "burst path"
    );
    (v, b, st)
}

/// A UDP frame `src` -> `dst` as it arrives on `eth_dst`'s port from `eth_src`.
fn udp_frame(eth_dst: MacAddr, eth_src: MacAddr, ip: Ip, len: usize) -> Vec<u8> {
    let l4 = udp_datagram(ip.src, ip.dst, 1000, 2000, &pattern(len));
    ipv4_frame(eth_dst, eth_src, ip, &l4)
}

/// An echo request `src` -> `dst` with `data`.
fn ping(eth_dst: MacAddr, eth_src: MacAddr, src: Ipv4Addr, dst: Ipv4Addr, data: &[u8]) -> Vec<u8> {
    let ip = Ip {
        protocol: ipv4::protocol::ICMP,
        ..Ip::new(src, dst)
    };
    ipv4_frame(eth_dst, eth_src, ip, &echo_request(0x77, 5, data))
}

/// The inner frame of a VXLAN packet from the node (its VtepMAC to ours).
fn tunnelled(inner_ip_frame: &[u8]) -> Vec<u8> {
    vxlan_frame(NODE_IP, VNI, inner_ip_frame)
}

/// `frame` as its sender cut it, into fragments of at most `mtu` bytes of
/// IPv4, with the IPv4 ident `ident`.
fn sent_in_fragments(frame: &[u8], ident: u16, mtu: u16) -> Vec<Vec<u8>> {
    let mut f = frame.to_vec();
    let mut ip = ipv4::Packet::new_unchecked(&mut f[14..]);
    ip.set_ident(ident);
    ip.fill_checksum();
    let mut fr = super::fragment::Fragmenter::new(&f, mtu).unwrap();
    let mut tmp = [0u8; 2048];
    let mut out = Vec::new();
    while let Some(n) = fr.next_into(&mut tmp).unwrap() {
        out.push(tmp[..n].to_vec());
    }
    out
}
