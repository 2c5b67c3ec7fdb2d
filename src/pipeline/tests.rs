//! Pipeline tests on byte vectors: golden packets, etherparse cross-checks,
//! every drop reason, truncation, jumbo frames, ARP/ICMP responders,
//! DirectRouting, bursts, and decap(encap(x)) as a property.

use super::buf::{PacketBuf, VecBuf};
use super::context::{Context, Prefix, OUTER_LEN};
use super::fragment::Fragmenter;
use super::lookup::Lookup;
use super::testing::*;
use super::*;
use crate::wire::{checksum, icmp, ipv4, MacAddr};
use etherparse::{Icmpv4Type, NetSlice, SlicedPacket, TransportSlice};
use proptest::prelude::*;
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

// ---------------------------------------------------------------- encap

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

#[test]
fn encap_golden_outer_header() {
    let ctx = context();
    let inner = host_to_pod(64);
    let (v, b, st) = run(&ctx, &MapLookup::standard(), Side::Access, &inner);
    assert_eq!(v, Verdict::TxUnderlay);
    let out = b.data();
    assert_eq!(out.len(), inner.len() + OUTER_LEN);
    assert_eq!(&out[..OUTER_LEN], &GOLDEN_OUTER[..]);
    // Inner: Ethernet rewritten to VtepMACs, TTL 63, checksum patched, the
    // rest untouched.
    let mut inner_want = inner.clone();
    inner_want[..6].copy_from_slice(&NODE_VTEP_MAC.0);
    inner_want[6..12].copy_from_slice(&VTEP_MAC.0);
    inner_want[22] = 63;
    fix_ip(&mut inner_want, 14);
    assert_eq!(&out[OUTER_LEN..], &inner_want[..]);
    assert_eq!(st.counters.snapshot().encap, 1);
    // The same flow always gets the same port.
    let (_, b2, _) = run(&ctx, &MapLookup::standard(), Side::Access, &inner);
    assert_eq!(&b2.data()[O_UDP..O_UDP + 2], &[0xa6, 0x24]);
}

#[test]
fn encap_output_parsed_by_etherparse() {
    let ctx = context();
    let inner = host_to_pod(100);
    let (_, b, _) = run(&ctx, &MapLookup::standard(), Side::Access, &inner);
    let p = SlicedPacket::from_ethernet(b.data()).unwrap();
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!("outer not IPv4")
    };
    let h = ip.header().to_header();
    assert_eq!(
        (h.source, h.destination),
        (UNDERLAY_IP.octets(), NODE_IP.octets())
    );
    assert_eq!(
        (h.time_to_live, h.dont_fragment, h.more_fragments),
        (64, false, false)
    );
    assert_eq!(h.header_checksum, h.calc_header_checksum());
    let Some(TransportSlice::Udp(u)) = &p.transport else {
        panic!("not UDP")
    };
    assert_eq!((u.destination_port(), u.checksum()), (PORT, 0));
    let vx = u.payload();
    assert_eq!(&vx[..8], &[0x08, 0, 0, 0, 0, 0, 1, 0]);
    let ip_inner = SlicedPacket::from_ethernet(&vx[8..]).unwrap();
    let Some(etherparse::LinkSlice::Ethernet2(e)) = &ip_inner.link else {
        panic!()
    };
    assert_eq!((e.source(), e.destination()), (VTEP_MAC.0, NODE_VTEP_MAC.0));
    let Some(NetSlice::Ipv4(iip)) = &ip_inner.net else {
        panic!()
    };
    let ih = iip.header().to_header();
    assert_eq!(ih.time_to_live, 63);
    assert_eq!(ih.header_checksum, ih.calc_header_checksum());
    let Some(TransportSlice::Udp(iu)) = &ip_inner.transport else {
        panic!()
    };
    assert_eq!(iu.payload(), &pattern(100)[..]);
}

#[test]
fn encap_unresolved_next_hop_is_held_complete() {
    let ctx = context();
    let mut l = MapLookup::standard();
    l.neighbors.clear();
    let (v, b, st) = run(&ctx, &l, Side::Access, &host_to_pod(10));
    assert_eq!(
        v,
        Verdict::Hold {
            side: Side::Underlay,
            next_hop: u32::from(NODE_IP),
            answers_drop: false,
        }
    );
    assert_eq!(&b.data()[..6], &[0; 6]);
    assert!(ipv4::Packet::new_checked(&b.data()[O_IP..])
        .unwrap()
        .verify_checksum());
    assert_eq!(st.counters.snapshot().slowpath_count(SlowKind::Arp), 1);
}

#[test]
fn encap_off_link_vtep_goes_via_underlay_gateway() {
    let mut c = config();
    c.underlay_gateway = Some(UNDERLAY_GW);
    let ctx = Context::new(c).unwrap();
    let f = host_to_far_pod();
    let (v, b, _) = run(&ctx, &MapLookup::standard(), Side::Access, &f);
    assert_eq!(v, Verdict::TxUnderlay);
    assert_eq!(&b.data()[..6], &UNDERLAY_GW_MAC.0);
    assert_eq!(&b.data()[O_IP + 16..O_IP + 20], &FAR_NODE_IP.octets());
    assert_eq!(&b.data()[I_ETH..I_ETH + 6], &FAR_NODE_VTEP_MAC.0);
}

/// Off the underlay's link with no `--underlay-gateway`, a VTEP has no
/// route: the packet is dropped as `no_route` at once (the burst path
/// leaves it to this path: `classify::tests::bursts_over_mixed_next_hops_match_the_full_path_packet_by_packet`)
/// instead of being held for an ARP reply that could never come; a VTEP
/// on the link is still reached directly.
#[test]
fn encap_off_link_vtep_without_a_gateway_is_no_route() {
    let mut c = config();
    c.underlay_gateway = None;
    let ctx = Context::new(c).unwrap();
    let l = MapLookup::standard();
    assert_drop(
        &ctx,
        &l,
        Side::Access,
        &host_to_far_pod(),
        DropReason::NoRoute,
    );
    let (v, b, _) = run(&ctx, &l, Side::Access, &host_to_pod(10));
    assert_eq!(v, Verdict::TxUnderlay);
    assert_eq!(&b.data()[..6], &NODE_MAC.0);
}

#[test]
fn encap_without_headroom_is_counted_not_panicking() {
    let ctx = context();
    let mut st = worker();
    let f = host_to_pod(10);
    let mut b = VecBuf::new(10, f.len());
    b.reset(10, &f);
    let v = process_access(&ctx, &MapLookup::standard(), &mut st, &mut b);
    assert_eq!(v, Verdict::Drop(DropReason::TxFull));
    assert_eq!(b.data(), &f[..]);
}

// ---------------------------------------------------- access-side drops

#[test]
fn access_drops_each_with_its_reason() {
    let ctx = context();
    let l = MapLookup::standard();
    let good = host_to_pod(20);
    let mut f = good.clone();
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    assert_drop(&ctx, &l, Side::Access, &f, DropReason::NotIpv4);
    let mut f = good.clone();
    f[12..14].copy_from_slice(&[0x81, 0x00]); // 802.1Q tagged
    assert_drop(&ctx, &l, Side::Access, &f, DropReason::NotIpv4);
    let mut f = good.clone();
    f[0] = 0x04;
    assert_drop(&ctx, &l, Side::Access, &f, DropReason::NotForUs);
    let mut f = good.clone();
    f[14] = 0x46; // IHL 6 but the checksum covers 20 bytes: header invalid
    f[14] = 0x35;
    assert_drop(&ctx, &l, Side::Access, &f, DropReason::BadIpv4);
    let mut f = good.clone();
    f[24] ^= 0xff;
    assert_drop(&ctx, &l, Side::Access, &f, DropReason::BadChecksum);
    assert_drop(
        &ctx,
        &l,
        Side::Access,
        &good[..good.len() - 1],
        DropReason::Truncated,
    );
    assert_drop(&ctx, &l, Side::Access, &good[..13], DropReason::Truncated);
    for (dst, r) in [
        (Ipv4Addr::new(8, 8, 8, 8), DropReason::NoRoute),
        (Ipv4Addr::new(10, 244, 9, 9), DropReason::NoRoute),
        (Ipv4Addr::new(10, 244, 255, 77), DropReason::NotForUs),
    ] {
        let ip = Ip::new(HOST_IP, dst);
        let f = ipv4_frame(
            ACCESS_MAC,
            HOST_MAC,
            ip,
            &udp_datagram(ip.src, dst, 1, 2, b"x"),
        );
        assert_drop(&ctx, &l, Side::Access, &f, r);
    }
}

#[test]
fn access_ttl_expired_answers_time_exceeded() {
    let ctx = context();
    let mut ip = Ip::new(HOST_IP, POD_IP);
    ip.ttl = 1;
    let f = ipv4_frame(
        ACCESS_MAC,
        HOST_MAC,
        ip,
        &udp_datagram(ip.src, ip.dst, 1, 2, b"hello"),
    );
    let (v, b, st) = run(&ctx, &MapLookup::standard(), Side::Access, &f);
    assert_eq!(v, Verdict::Reply(Side::Access));
    let s = st.counters.snapshot();
    assert_eq!(
        (s.drop_count(DropReason::TtlExpired), s.total_drops()),
        (1, 1)
    );
    assert_eq!(s.slowpath_count(SlowKind::Icmp), 1);
    let p = SlicedPacket::from_ethernet(b.data()).unwrap();
    let Some(etherparse::LinkSlice::Ethernet2(e)) = &p.link else {
        panic!()
    };
    assert_eq!((e.source(), e.destination()), (ACCESS_MAC.0, HOST_MAC.0));
    let Some(NetSlice::Ipv4(i)) = &p.net else {
        panic!()
    };
    let h = i.header().to_header();
    assert_eq!(
        (h.source, h.destination),
        (ACCESS_IP.octets(), HOST_IP.octets())
    );
    assert_eq!(h.header_checksum, h.calc_header_checksum());
    let Some(TransportSlice::Icmpv4(m)) = &p.transport else {
        panic!()
    };
    assert_eq!(
        m.icmp_type(),
        Icmpv4Type::TimeExceeded(etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit)
    );
    assert!(icmp::Packet::new_checked(m.slice())
        .unwrap()
        .verify_checksum());
    // The quote is the whole original datagram (it is short).
    assert_eq!(m.payload(), &f[14..]);
}

#[test]
fn access_df_too_big_answers_frag_needed_with_tunnel_mtu() {
    let ctx = context();
    let mut ip = Ip::new(HOST_IP, POD_IP);
    ip.df = true;
    let f = ipv4_frame(
        ACCESS_MAC,
        HOST_MAC,
        ip,
        &udp_datagram(ip.src, ip.dst, 1, 2, &pattern(1472)),
    );
    let (v, b, st) = run(&ctx, &MapLookup::standard(), Side::Access, &f);
    assert_eq!(v, Verdict::Reply(Side::Access));
    assert_eq!(
        st.counters.snapshot().drop_count(DropReason::MtuExceeded),
        1
    );
    let p = SlicedPacket::from_ethernet(b.data()).unwrap();
    let Some(TransportSlice::Icmpv4(m)) = &p.transport else {
        panic!()
    };
    assert_eq!(
        m.icmp_type(),
        Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1450 }
        )
    );
    // The error stays within 576 bytes.
    assert_eq!(b.len(), 14 + 576);
    // Rate limited: with the bucket empty, only the drop remains.
    let mut st = worker();
    st.icmp_limiter = slowpath::RateLimiter::new(0, 1);
    let mut b = VecBuf::from_frame(&f);
    let v = process_access(&ctx, &MapLookup::standard(), &mut st, &mut b);
    assert_eq!(v, Verdict::Drop(DropReason::MtuExceeded));
}

#[test]
fn access_too_big_without_df_is_fragmented_by_slow_path() {
    let ctx = context();
    let l = MapLookup::standard();
    let f = host_to_pod(9000 - 28); // a 9000-byte IPv4 packet, DF clear
    let (v, b, st) = run(&ctx, &l, Side::Access, &f);
    assert_eq!(v, Verdict::Punt(SlowKind::Fragment));
    assert_eq!(st.counters.snapshot().slowpath_count(SlowKind::Fragment), 1);
    assert_eq!(b.data(), &f[..]);
    // What the slow path does: fragment, then each fragment down the fast path.
    let mut fr = Fragmenter::new(b.data(), ctx.fragment_mtu(Side::Access)).unwrap();
    let mut tmp = [0u8; 2048];
    let mut payload = Vec::new();
    let (peer, pl) = peer();
    let mut st = worker();
    while let Some(n) = fr.next_into(&mut tmp).unwrap() {
        let mut fb = VecBuf::from_frame(&tmp[..n]);
        assert_eq!(
            process_access(&ctx, &l, &mut st, &mut fb),
            Verdict::TxUnderlay
        );
        assert!(fb.len() - OUTER_LEN - 14 <= 1450);
        let mut pst = worker();
        assert_eq!(
            process_underlay(&peer, &pl, &mut pst, &mut fb),
            Verdict::TxAccess
        );
        let ip = ipv4::Packet::new_checked(&fb.data()[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(usize::from(ip.frag_offset()), payload.len());
        payload.extend_from_slice(ip.payload());
    }
    assert_eq!(payload, f[34..].to_vec());
}

// -------------------------------------------------------------- decap

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

#[test]
fn decap_to_host_golden() {
    let ctx = context();
    let inner = pod_to_host_inner(64);
    let (v, b, st) = run(
        &ctx,
        &MapLookup::standard(),
        Side::Underlay,
        &vxlan_frame(NODE_IP, VNI, &inner),
    );
    assert_eq!(v, Verdict::TxAccess);
    let mut want = inner.clone();
    want[..6].copy_from_slice(&HOST_MAC.0);
    want[6..12].copy_from_slice(&ACCESS_MAC.0);
    want[22] = 63;
    fix_ip(&mut want, 14);
    assert_eq!(b.data(), &want[..]);
    assert_eq!(st.counters.snapshot().decap, 1);
}

#[test]
fn decap_accepts_zero_udp_checksum_and_unresolved_host_is_held() {
    let ctx = context();
    let mut f = pod_to_host(10);
    no_udp_csum(&mut f);
    let mut l = MapLookup::standard();
    assert_eq!(run(&ctx, &l, Side::Underlay, &f).0, Verdict::TxAccess);
    l.neighbors.clear();
    let (v, b, _) = run(&ctx, &l, Side::Underlay, &f);
    assert_eq!(
        v,
        Verdict::Hold {
            side: Side::Access,
            next_hop: u32::from(HOST_IP),
            answers_drop: false,
        }
    );
    assert_eq!(&b.data()[6..12], &ACCESS_MAC.0);
}

#[test]
fn decap_drops_each_with_its_reason() {
    let ctx = context();
    let l = MapLookup::standard();
    let good = pod_to_host(30);
    assert_eq!(run(&ctx, &l, Side::Underlay, &good).0, Verdict::TxAccess);
    type Mutation = (&'static str, DropReason, fn(&mut Vec<u8>));
    let cases: &[Mutation] = &[
        ("ipv6 ethertype", DropReason::NotIpv4, |f| {
            f[12..14].copy_from_slice(&[0x86, 0xdd])
        }),
        ("802.1Q tag", DropReason::NotIpv4, |f| {
            f[12..14].copy_from_slice(&[0x81, 0x00])
        }),
        ("other dst mac", DropReason::NotForUs, |f| f[5] ^= 1),
        ("version 6", DropReason::BadIpv4, |f| f[O_IP] = 0x65),
        ("ihl 4", DropReason::BadIpv4, |f| f[O_IP] = 0x44),
        ("total length < ihl", DropReason::BadIpv4, |f| {
            f[O_IP + 3] = 10
        }),
        ("header checksum", DropReason::BadChecksum, |f| {
            f[O_IP + 10] ^= 0x10
        }),
        ("other dst ip", DropReason::NotForUs, |f| {
            f[O_IP + 19] = 41;
            fix_ip(f, O_IP);
        }),
        ("more fragments", DropReason::OuterFragment, |f| {
            f[O_IP + 6] = 0x20;
            fix_ip(f, O_IP);
        }),
        ("fragment offset", DropReason::OuterFragment, |f| {
            f[O_IP + 7] = 0x01;
            fix_ip(f, O_IP);
        }),
        ("not udp", DropReason::NotForUs, |f| {
            f[O_IP + 9] = 6;
            fix_ip(f, O_IP);
        }),
        ("udp port 4789", DropReason::NotForUs, |f| {
            f[O_UDP + 2..O_UDP + 4].copy_from_slice(&4789u16.to_be_bytes());
            no_udp_csum(f);
        }),
        ("udp checksum", DropReason::BadChecksum, |f| {
            f[O_UDP + 7] ^= 1
        }),
        ("udp length short", DropReason::Truncated, |f| {
            f[O_UDP + 4..O_UDP + 6].copy_from_slice(&12u16.to_be_bytes());
            no_udp_csum(f);
        }),
        ("vxlan flags", DropReason::BadVxlanFlags, |f| {
            f[O_VX] = 0x0c;
            no_udp_csum(f);
        }),
        ("vxlan reserved", DropReason::BadVxlanFlags, |f| {
            f[O_VX + 7] = 1;
            no_udp_csum(f);
        }),
        ("vni", DropReason::UnknownVni, |f| {
            f[O_VX + 6] = 2;
            no_udp_csum(f);
        }),
        ("outer src", DropReason::UnknownVtep, |f| {
            f[O_IP + 15] = 45;
            fix_ip(f, O_IP);
            no_udp_csum(f);
        }),
        ("inner src mac", DropReason::SpoofedInnerMac, |f| {
            f[I_ETH + 11] ^= 1;
            no_udp_csum(f);
        }),
        ("inner dst mac", DropReason::WrongInnerDstMac, |f| {
            f[I_ETH + 5] ^= 1;
            no_udp_csum(f);
        }),
        ("inner broadcast", DropReason::WrongInnerDstMac, |f| {
            f[I_ETH..I_ETH + 6].copy_from_slice(&[0xff; 6]);
            no_udp_csum(f);
        }),
        ("inner arp", DropReason::NotIpv4, |f| {
            f[I_ETH + 12..I_ETH + 14].copy_from_slice(&[0x08, 0x06]);
            no_udp_csum(f);
        }),
        ("inner ihl", DropReason::BadIpv4, |f| {
            f[I_IP] = 0x43;
            no_udp_csum(f);
        }),
        ("inner checksum", DropReason::BadChecksum, |f| {
            f[I_IP + 10] ^= 1;
            no_udp_csum(f);
        }),
        ("inner length past frame", DropReason::Truncated, |f| {
            f[I_IP + 2..I_IP + 4].copy_from_slice(&2000u16.to_be_bytes());
            fix_ip(f, I_IP);
            no_udp_csum(f);
        }),
        ("inner dst outside network", DropReason::NoRoute, |f| {
            f[I_IP + 16..I_IP + 20].copy_from_slice(&[192, 0, 2, 99]);
            fix_ip(f, I_IP);
            no_udp_csum(f);
        }),
        ("inner dst without lease", DropReason::NoRoute, |f| {
            f[I_IP + 16..I_IP + 20].copy_from_slice(&[10, 244, 200, 1]);
            fix_ip(f, I_IP);
            no_udp_csum(f);
        }),
        ("inner dst subnet broadcast", DropReason::NoRoute, |f| {
            f[I_IP + 19] = 255;
            fix_ip(f, I_IP);
            no_udp_csum(f);
        }),
        ("inner tcp to gateway", DropReason::NotForUs, |f| {
            f[I_IP + 9] = 6;
            f[I_IP + 16..I_IP + 20].copy_from_slice(&ACCESS_IP.octets());
            fix_ip(f, I_IP);
            no_udp_csum(f);
        }),
    ];
    for (name, reason, mutate) in cases {
        let mut f = good.clone();
        mutate(&mut f);
        let (v, _, st) = run(&ctx, &l, Side::Underlay, &f);
        assert_eq!(v, Verdict::Drop(*reason), "{name}");
        let s = st.counters.snapshot();
        assert_eq!((s.drop_count(*reason), s.total_drops()), (1, 1), "{name}");
    }
}

#[test]
fn decap_ttl_expired_sends_time_exceeded_back_through_the_tunnel() {
    let ctx = context();
    let mut f = pod_to_host(30);
    f[I_IP + 8] = 1;
    fix_ip(&mut f, I_IP);
    no_udp_csum(&mut f);
    let (v, b, st) = run(&ctx, &MapLookup::standard(), Side::Underlay, &f);
    assert_eq!(v, Verdict::TxUnderlay);
    let s = st.counters.snapshot();
    assert_eq!(
        (s.drop_count(DropReason::TtlExpired), s.total_drops()),
        (1, 1)
    );
    // Outer to the node, inner ICMP from our access IP to the pod.
    let d = b.data();
    assert_eq!(&d[O_IP + 16..O_IP + 20], &NODE_IP.octets());
    let inner = ipv4::Packet::new_checked(&d[I_IP..]).unwrap();
    assert_eq!((inner.src(), inner.dst()), (ACCESS_IP, POD_IP));
    assert_eq!(inner.protocol(), ipv4::protocol::ICMP);
    assert_eq!(inner.ttl(), 64);
    let m = icmp::Packet::new_checked(inner.payload()).unwrap();
    assert_eq!(icmp::Repr::parse(&m), icmp::Repr::TimeExceeded);
    assert!(m.verify_checksum());
}

/// A TTL-1 packet from the access port, `src` to `dst`, carrying `l4`.
fn expiring(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let ip = Ip {
        ttl: 1,
        protocol,
        ..Ip::new(src, dst)
    };
    ipv4_frame(ACCESS_MAC, HOST_MAC, ip, l4)
}

/// RFC 1812 4.3.2.7: no ICMP error to a source that names no single host
/// (0/8, loopback, multicast, class E, our own addresses, the broadcasts
/// of our subnet, of the underlay prefix and of any SubnetLen subnet of
/// Network), nor about a datagram sent to a broadcast, nor about an ICMP
/// message of a type we do not know (Linux takes those for errors). The
/// expired packet is still dropped and counted once; a remote subnet's
/// zero host (a node's flannel.1 address) is a host and is answered.
#[test]
fn no_icmp_error_to_or_about_addresses_that_name_no_host() {
    let ctx = context();
    let l = MapLookup::standard();
    let udp = |s, d| udp_datagram(s, d, 1000, 2000, b"x");
    let answered = |f: &[u8], side: Side| {
        let (v, _, st) = run(&ctx, &l, side, f);
        let s = st.counters.snapshot();
        assert_eq!(
            (s.drop_count(DropReason::TtlExpired), s.total_drops()),
            (1, 1)
        );
        let icmp = s.slowpath_count(SlowKind::Icmp);
        assert_eq!(
            icmp == 1,
            v != Verdict::Drop(DropReason::TtlExpired),
            "{v:?}"
        );
        icmp == 1
    };
    for src in [
        Ipv4Addr::new(0, 1, 2, 3),
        Ipv4Addr::new(127, 0, 0, 1),
        Ipv4Addr::new(224, 0, 0, 5),
        Ipv4Addr::new(240, 0, 0, 1),
        Ipv4Addr::BROADCAST,
        ACCESS_IP,
        UNDERLAY_IP,
        Ipv4Addr::new(10, 244, 255, 0),
        Ipv4Addr::new(10, 244, 255, 255),
        Ipv4Addr::new(10, 244, 1, 255),
        Ipv4Addr::new(172, 28, 147, 47),
    ] {
        let f = expiring(src, POD_IP, ipv4::protocol::UDP, &udp(src, POD_IP));
        assert!(!answered(&f, Side::Access), "no error to {src}");
    }
    for dst in [
        Ipv4Addr::new(10, 244, 1, 255),
        Ipv4Addr::new(10, 244, 7, 255),
    ] {
        let f = expiring(HOST_IP, dst, ipv4::protocol::UDP, &udp(HOST_IP, dst));
        assert!(
            !answered(&f, Side::Access),
            "no error about a packet to {dst}"
        );
    }
    let mut unknown_type = vec![42u8, 0, 0, 0, 0, 0, 0, 0];
    icmp::Packet::new_unchecked(&mut unknown_type[..]).fill_checksum();
    let f = expiring(HOST_IP, POD_IP, ipv4::protocol::ICMP, &unknown_type);
    assert!(!answered(&f, Side::Access), "ICMP type 42");
    // Controls: a host, and (through the tunnel) a node's flannel.1 address.
    let f = expiring(HOST_IP, POD_IP, ipv4::protocol::UDP, &udp(HOST_IP, POD_IP));
    assert!(answered(&f, Side::Access));
    for (src, answer) in [(NODE_SUBNET, true), (Ipv4Addr::new(10, 244, 1, 255), false)] {
        let ip = Ip {
            ttl: 1,
            ..Ip::new(src, HOST_IP)
        };
        let inner = ipv4_frame(VTEP_MAC, NODE_VTEP_MAC, ip, &udp(src, HOST_IP));
        let f = vxlan_frame(NODE_IP, VNI, &inner);
        assert_eq!(answered(&f, Side::Underlay), answer, "tunnelled from {src}");
    }
}

/// Echo requests from an address that names no single host, or from our
/// own address, get no reply.
#[test]
fn no_echo_reply_to_addresses_that_name_no_host() {
    let ctx = context();
    let l = MapLookup::standard();
    for src in [
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::new(10, 244, 255, 255),
        ACCESS_IP,
    ] {
        let ip = Ip {
            protocol: ipv4::protocol::ICMP,
            ..Ip::new(src, ACCESS_IP)
        };
        let f = ipv4_frame(ACCESS_MAC, HOST_MAC, ip, &echo_request(7, 1, b"ping"));
        assert_drop(&ctx, &l, Side::Access, &f, DropReason::NotForUs);
    }
}

/// ICMP errors are sent with DF clear (as Linux's), so their IPv4 idents
/// come from the worker's sequence, the one its outer headers use
/// (RFC 6864: unique among fragmentable datagrams), taken only when an
/// error is built: errors and encapsulations number on in turn.
#[test]
fn icmp_errors_take_idents_from_the_worker_sequence() {
    let ctx = context();
    let l = MapLookup::standard();
    let mut st = WorkerState::new(std::sync::Arc::new(Counters::new()), 3);
    let first = st.next_ident;
    let expired = expiring(
        HOST_IP,
        POD_IP,
        ipv4::protocol::UDP,
        &udp_datagram(HOST_IP, POD_IP, 1, 2, b"x"),
    );
    let mut idents = Vec::new();
    for _ in 0..2 {
        let mut b = VecBuf::from_frame(&expired);
        assert_eq!(
            process_access(&ctx, &l, &mut st, &mut b),
            Verdict::Reply(Side::Access)
        );
        let ip = ipv4::Packet::new_checked(&b.data()[14..]).unwrap();
        assert!(!ip.dont_frag() && !ip.more_frags() && ip.frag_offset() == 0);
        assert!(ip.verify_checksum());
        idents.push(ip.ident());
    }
    // An encapsulation, then an error about a pod's packet, sent back
    // through the tunnel: the error's ident, then its outer header's.
    let mut b = VecBuf::from_frame(&host_to_pod(10));
    assert_eq!(
        process_access(&ctx, &l, &mut st, &mut b),
        Verdict::TxUnderlay
    );
    idents.push(ipv4::Packet::new_checked(&b.data()[14..]).unwrap().ident());
    let mut f = pod_to_host(30);
    f[I_IP + 8] = 1;
    fix_ip(&mut f, I_IP);
    no_udp_csum(&mut f);
    let mut b = VecBuf::from_frame(&f);
    assert_eq!(
        process_underlay(&ctx, &l, &mut st, &mut b),
        Verdict::TxUnderlay
    );
    let d = b.data();
    let inner = ipv4::Packet::new_checked(&d[I_IP..]).unwrap();
    assert_eq!(inner.protocol(), ipv4::protocol::ICMP);
    assert!(!inner.dont_frag() && inner.verify_checksum());
    idents.push(inner.ident());
    idents.push(ipv4::Packet::new_checked(&d[O_IP..]).unwrap().ident());
    let want: Vec<u16> = (0..5).map(|i| first.wrapping_add(i)).collect();
    assert_eq!(idents, want);
    // Rate limited: no error, no ident taken.
    st.icmp_limiter = slowpath::RateLimiter::new(0, 1);
    let mut b = VecBuf::from_frame(&expired);
    assert_eq!(
        process_access(&ctx, &l, &mut st, &mut b),
        Verdict::Drop(DropReason::TtlExpired)
    );
    assert_eq!(st.next_ident, first.wrapping_add(5));
}

/// The ICMP error's type of service: precedence "internetwork control"
/// over the offending packet's TOS bits, as Linux (not its DSCP).
#[test]
fn icmp_error_tos_is_internetwork_control_over_the_tos_bits() {
    let ctx = context();
    let l = MapLookup::standard();
    for (tos, want) in [(0x00u8, 0xc0u8), (0xb8, 0xd8), (0x10, 0xd0), (0x03, 0xc2)] {
        let mut f = expiring(
            HOST_IP,
            POD_IP,
            ipv4::protocol::UDP,
            &udp_datagram(HOST_IP, POD_IP, 1, 2, b"x"),
        );
        f[15] = tos;
        fix_ip(&mut f, 14);
        let (v, b, _) = run(&ctx, &l, Side::Access, &f);
        assert_eq!(v, Verdict::Reply(Side::Access));
        assert_eq!(b.data()[15], want, "TOS {tos:#x}");
    }
}

#[test]
fn decap_to_another_lease_is_reencapsulated() {
    let ctx = context_via_gateway();
    let ip = Ip::new(POD_IP, Ipv4Addr::new(10, 244, 7, 5));
    let inner = ipv4_frame(
        VTEP_MAC,
        NODE_VTEP_MAC,
        ip,
        &udp_datagram(ip.src, ip.dst, 1, 2, b"hairpin"),
    );
    let (v, b, st) = run(
        &ctx,
        &MapLookup::standard(),
        Side::Underlay,
        &vxlan_frame(NODE_IP, VNI, &inner),
    );
    assert_eq!(v, Verdict::TxUnderlay);
    let d = b.data();
    assert_eq!(&d[O_IP + 16..O_IP + 20], &FAR_NODE_IP.octets());
    assert_eq!(&d[I_ETH..I_ETH + 6], &FAR_NODE_VTEP_MAC.0);
    assert_eq!(d[I_IP + 8], 63);
    let s = st.counters.snapshot();
    assert_eq!((s.decap, s.encap), (1, 1));
}

#[test]
fn outer_ip_options_are_handled() {
    // A VXLAN packet whose outer header carries 4 bytes of options (NOPs).
    let ctx = context();
    let f = pod_to_host(16);
    let mut g = f[..34].to_vec();
    g.extend_from_slice(&[1, 1, 1, 1]);
    g.extend_from_slice(&f[34..]);
    g[O_IP] = 0x46;
    let tl = u16::from_be_bytes([g[O_IP + 2], g[O_IP + 3]]) + 4;
    g[O_IP + 2..O_IP + 4].copy_from_slice(&tl.to_be_bytes());
    fix_ip(&mut g, O_IP);
    g[O_UDP + 4 + 6] = 0;
    g[O_UDP + 4 + 7] = 0;
    let (v, b, _) = run(&ctx, &MapLookup::standard(), Side::Underlay, &g);
    assert_eq!(v, Verdict::TxAccess);
    assert_eq!(b.len(), f.len() - OUTER_LEN);
}

// ------------------------------------------------------ property: round trip

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn decap_of_encap_is_the_frame_with_ttl_minus_two(
        host in 2u8..=254,
        pod in 2u8..=254,
        proto in prop::sample::select(vec![1u8, 6, 17, 47, 132]),
        ttl in 3u8..=255,
        df: bool,
        vni_v in 0u32..=0xff_ffff,
        port in 1u16..=65535,
        len in 0usize..1400,
        sport: u16,
        dport: u16,
    ) {
        let mut c = config();
        c.vni = vni(vni_v);
        c.udp_port = port;
        let ctx = Context::new(c).unwrap();
        let (peer, pl) = peer_with(vni_v, port, 1450, 1500);
        let pod_ip = Ipv4Addr::new(10, 244, 1, pod);
        let host_ip = Ipv4Addr::new(10, 244, 255, host);
        let mut ip = Ip::new(host_ip, pod_ip);
        ip.protocol = proto;
        ip.ttl = ttl;
        ip.df = df;
        let mut l4 = pattern(len);
        if len >= 4 {
            l4[..2].copy_from_slice(&sport.to_be_bytes());
            l4[2..4].copy_from_slice(&dport.to_be_bytes());
        }
        let f = ipv4_frame(ACCESS_MAC, HOST_MAC, ip, &l4);
        let mut l = MapLookup::standard();
        l.add_neighbor(Side::Access, host_ip, HOST_MAC);
        let mut pl = pl;
        pl.add_neighbor(Side::Access, pod_ip, MacAddr([2, 0, 0, 0, 0, pod]));
        let mut st = worker();
        let mut b = VecBuf::from_frame(&f);
        prop_assert_eq!(process_access(&ctx, &l, &mut st, &mut b), Verdict::TxUnderlay);
        let sp = u16::from_be_bytes([b.data()[O_UDP], b.data()[O_UDP + 1]]);
        prop_assert!((encap::SRC_PORT_MIN..=encap::SRC_PORT_MAX).contains(&sp));
        let mut pst = worker();
        prop_assert_eq!(process_underlay(&peer, &pl, &mut pst, &mut b), Verdict::TxAccess);
        let out = b.data();
        prop_assert_eq!(out.len(), f.len());
        prop_assert_eq!(&out[..6], &[2, 0, 0, 0, 0, pod]);
        let oip = ipv4::Packet::new_checked(&out[14..]).unwrap();
        prop_assert!(oip.verify_checksum());
        prop_assert_eq!(oip.ttl(), ttl - 2);
        let mut want = f.clone();
        want[22] = ttl - 2;
        fix_ip(&mut want, 14);
        prop_assert_eq!(&out[12..], &want[12..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_output_is_well_formed(data in prop::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(fuzz_one(&data).is_ok());
    }

    #[test]
    fn mutated_valid_frames_never_panic(idx in 0usize..10, pos: prop::sample::Index, val: u8) {
        let samples = sample_frames();
        let (_, _, f) = &samples[idx % samples.len()];
        let mut f = f.clone();
        let i = pos.index(f.len());
        f[i] = val;
        prop_assert_eq!(fuzz_one(&f), Ok(()));
    }
}

// ----------------------------------------------------- truncation, jumbo

#[test]
fn every_truncation_of_every_kind_is_truncated() {
    let ctx = context();
    let l = MapLookup::standard();
    for (name, side, f) in sample_frames() {
        // ARP frames are padded to 60 bytes; the ARP body ends at 42.
        let needed = if f[12..14] == [0x08, 0x06] {
            42
        } else {
            f.len()
        };
        for k in 0..f.len() {
            let (v, _, _) = run(&ctx, &l, side, &f[..k]);
            let other = match side {
                Side::Access => Side::Underlay,
                Side::Underlay => Side::Access,
            };
            let _ = run(&ctx, &l, other, &f[..k]);
            if k < needed {
                assert_eq!(v, Verdict::Drop(DropReason::Truncated), "{name} cut at {k}");
            } else {
                assert!(!matches!(v, Verdict::Drop(_)), "{name} at {k}: {v:?}");
            }
        }
        // Ethernet padding behind a valid frame is ignored.
        let mut padded = f.clone();
        padded.extend_from_slice(&[0; 17]);
        let (v1, _, _) = run(&ctx, &l, side, &f);
        let (v2, _, _) = run(&ctx, &l, side, &padded);
        assert_eq!(v1, v2, "{name} padded");
    }
}

#[test]
fn jumbo_9000_byte_frames_through_a_9000_mtu_underlay() {
    let mut c = config();
    c.tunnel_mtu = 8950;
    c.underlay_mtu = 9000;
    c.access_mtu = 9000;
    let ctx = Context::new(c).unwrap();
    let (peer, pl) = peer_with(VNI, PORT, 8950, 9000);
    let f = host_to_pod(8950 - 28);
    let mut st = worker();
    let mut b = VecBuf::from_frame(&f);
    assert_eq!(
        process_access(&ctx, &MapLookup::standard(), &mut st, &mut b),
        Verdict::TxUnderlay
    );
    assert_eq!(b.len(), 14 + 9000);
    assert_eq!(
        process_underlay(&peer, &pl, &mut worker(), &mut b),
        Verdict::TxAccess
    );
    assert_eq!(&b.data()[34..], &f[34..]);
    // 9000-byte inner packets from a tunnel toward a 1500-byte access port.
    let ctx = context();
    let inner = pod_to_host_inner(9000 - 28);
    let v = run(
        &ctx,
        &MapLookup::standard(),
        Side::Underlay,
        &vxlan_frame(NODE_IP, VNI, &inner),
    )
    .0;
    assert_eq!(v, Verdict::Punt(SlowKind::Fragment));
}

// ------------------------------------------------------------ slow path

#[test]
fn arp_reply_golden() {
    let ctx = context();
    let l = MapLookup::standard();
    let req = arp_request(HOST_MAC, HOST_IP, ACCESS_IP);
    let (v, b, st) = run(&ctx, &l, Side::Access, &req);
    assert_eq!(v, Verdict::Reply(Side::Access));
    #[rustfmt::skip]
    let mut want = vec![
        0x02, 0, 0, 0, 0, 0x0a,  0x02, 0, 0, 0, 0, 0x02,  0x08, 0x06,
        0, 1, 8, 0, 6, 4, 0, 2,
        0x02, 0, 0, 0, 0, 0x02,  10, 244, 255, 1,
        0x02, 0, 0, 0, 0, 0x0a,  10, 244, 255, 10,
    ];
    want.resize(60, 0);
    assert_eq!(b.data(), &want[..]);
    assert_eq!(st.counters.snapshot().slowpath_count(SlowKind::Arp), 1);
    // The underlay answers for the underlay address only.
    let req = arp_request(NODE_MAC, NODE_IP, UNDERLAY_IP);
    assert_eq!(
        run(&ctx, &l, Side::Underlay, &req).0,
        Verdict::Reply(Side::Underlay)
    );
    let req = arp_request(NODE_MAC, NODE_IP, ACCESS_IP);
    assert_drop(&ctx, &l, Side::Underlay, &req, DropReason::NotForUs);
    // Replies and gratuitous ARPs are punted to learn from.
    let mut rep = arp_request(HOST_MAC, HOST_IP, ACCESS_IP);
    rep[21] = 2;
    assert_eq!(
        run(&ctx, &l, Side::Access, &rep).0,
        Verdict::Punt(SlowKind::Arp)
    );
    let mut g = [0u8; 60];
    slowpath::build_gratuitous_arp(HOST_MAC, HOST_IP, &mut g).unwrap();
    assert_eq!(
        run(&ctx, &l, Side::Access, &g).0,
        Verdict::Punt(SlowKind::Arp)
    );
    let mut bad = arp_request(HOST_MAC, HOST_IP, ACCESS_IP);
    bad[15] = 6; // IEEE 802 hardware
    assert_drop(&ctx, &l, Side::Access, &bad, DropReason::NotForUs);
}

/// RFC 826's merge for requests: a request whose sender is a known
/// neighbour at another MAC (its NIC was swapped) is punted, whether it
/// asks for us or for another host, so the slow path updates the entry
/// (and answers it when it is for us); a request from a sender at its
/// known MAC, or from an unknown one, is handled as before: answered in
/// place when for us, else `not_for_us`. Each port has its own table.
#[test]
fn arp_request_from_a_neighbour_at_another_mac_is_punted_to_be_merged() {
    let ctx = context();
    let l = MapLookup::standard();
    let moved = MacAddr([0x02, 0, 0, 0, 0x99, 0x0a]);
    let third = Ipv4Addr::new(10, 244, 255, 11);
    let stranger = Ipv4Addr::new(10, 244, 255, 50);
    let punted = |side: Side, f: &[u8]| {
        let (v, b, st) = run(&ctx, &l, side, f);
        assert_eq!(v, Verdict::Punt(SlowKind::Arp), "{f:02x?}");
        assert_eq!(b.data(), f, "punted as received");
        let s = st.counters.snapshot();
        assert_eq!((s.slowpath_count(SlowKind::Arp), s.total_drops()), (1, 0));
        // The burst path (ARP takes the full path from it) agrees.
        let mut bufs = [VecBuf::from_frame(f)];
        let mut vs = [Verdict::default()];
        process_burst(&ctx, &l, &mut worker(), side, &mut bufs, &mut vs);
        assert_eq!(vs[0], v);
    };
    punted(Side::Access, &arp_request(moved, HOST_IP, ACCESS_IP));
    punted(Side::Access, &arp_request(moved, HOST_IP, third));
    punted(Side::Underlay, &arp_request(moved, NODE_IP, UNDERLAY_IP));
    punted(
        Side::Underlay,
        &arp_request(moved, NODE_IP, Ipv4Addr::new(172, 28, 147, 45)),
    );

    // Unchanged or unknown senders: as before.
    let replied = |side: Side, f: &[u8], sender: MacAddr| {
        let (v, b, st) = run(&ctx, &l, side, f);
        assert_eq!(v, Verdict::Reply(side));
        assert_eq!(&b.data()[..6], &sender.0, "to the requester");
        assert_eq!(st.counters.snapshot().slowpath_count(SlowKind::Arp), 1);
    };
    replied(
        Side::Access,
        &arp_request(HOST_MAC, HOST_IP, ACCESS_IP),
        HOST_MAC,
    );
    replied(
        Side::Access,
        &arp_request(moved, stranger, ACCESS_IP),
        moved,
    );
    // NODE_IP is an underlay neighbour, not an access one.
    replied(Side::Access, &arp_request(moved, NODE_IP, ACCESS_IP), moved);
    for f in [
        arp_request(HOST_MAC, HOST_IP, third),
        arp_request(moved, stranger, third),
    ] {
        assert_drop(&ctx, &l, Side::Access, &f, DropReason::NotForUs);
    }
    // A group address is no MAC to merge: the request is answered as
    // before, not punted.
    let group = MacAddr([0x03, 0, 0, 0, 0, 0x0a]);
    assert_eq!(
        run(
            &ctx,
            &l,
            Side::Access,
            &arp_request(group, HOST_IP, ACCESS_IP)
        )
        .0,
        Verdict::Reply(Side::Access)
    );
}

/// An ARP from one of our own port MACs about an address that is not the
/// port's (a loop or a spoof) is `not_for_us`, not punted: it must never
/// point a neighbour at ourselves. Our own announcements looped back are
/// punted as before (the slow path ignores them).
#[test]
fn arp_from_our_own_mac_about_another_address_is_not_for_us() {
    let ctx = context();
    let l = MapLookup::standard();
    for (side, our) in [(Side::Access, ACCESS_MAC), (Side::Underlay, UNDERLAY_MAC)] {
        for mac in [ACCESS_MAC, UNDERLAY_MAC] {
            let ip = if side == Side::Access {
                HOST_IP
            } else {
                NODE_IP
            };
            let mut g = [0u8; 60];
            slowpath::build_gratuitous_arp(mac, ip, &mut g).unwrap();
            let mut reply = arp_request(mac, ip, ctx.port_ip(side));
            reply[21] = 2;
            for f in [
                g.to_vec(),
                reply,
                arp_request(mac, ip, ctx.port_ip(side)),
                arp_request(mac, Ipv4Addr::new(10, 244, 255, 77), ctx.port_ip(side)),
            ] {
                assert_drop(&ctx, &l, side, &f, DropReason::NotForUs);
            }
        }
        let mut g = [0u8; 60];
        slowpath::build_gratuitous_arp(our, ctx.port_ip(side), &mut g).unwrap();
        assert_eq!(run(&ctx, &l, side, &g).0, Verdict::Punt(SlowKind::Arp));
    }
}

/// An echo request of all zeros (ident 0, sequence 0, no data or zero
/// data) has checksum 0xf7ff; its reply's only valid checksum is 0xffff
/// (RFC 1624's incremental update would give 0x0000, which receivers
/// drop). The reply verifies, and etherparse computes the same checksum.
#[test]
fn echo_reply_to_an_all_zero_request_verifies() {
    let ctx = context();
    for len in [0usize, 8] {
        let ping = Ip {
            protocol: ipv4::protocol::ICMP,
            ..Ip::new(HOST_IP, ACCESS_IP)
        };
        let data = vec![0u8; len];
        let icmp_req = echo_request(0, 0, &data);
        assert_eq!(&icmp_req[2..4], &[0xf7, 0xff], "the request's checksum");
        let req = ipv4_frame(ACCESS_MAC, HOST_MAC, ping, &icmp_req);
        let (v, b, _) = run(&ctx, &MapLookup::standard(), Side::Access, &req);
        assert_eq!(v, Verdict::Reply(Side::Access), "{len} bytes");
        let reply = &b.data()[34..];
        assert_eq!(reply.len(), 8 + len);
        assert_eq!(&reply[2..4], &[0xff, 0xff], "{len} bytes");
        assert!(icmp::Packet::new_checked(reply).unwrap().verify_checksum());
        let want = etherparse::Icmpv4Header::with_checksum(
            Icmpv4Type::EchoReply(etherparse::IcmpEchoHeader { id: 0, seq: 0 }),
            &data,
        );
        assert_eq!(&want.to_bytes()[..], &reply[..8], "{len} bytes");
        let p = SlicedPacket::from_ethernet(b.data()).unwrap();
        let Some(TransportSlice::Icmpv4(m)) = &p.transport else {
            panic!()
        };
        assert_eq!(
            m.icmp_type(),
            Icmpv4Type::EchoReply(etherparse::IcmpEchoHeader { id: 0, seq: 0 })
        );
        assert_eq!(m.checksum(), want.checksum);
    }
}

#[test]
fn echo_reply_golden() {
    let ctx = context();
    let ping = Ip {
        protocol: ipv4::protocol::ICMP,
        ..Ip::new(HOST_IP, ACCESS_IP)
    };
    let req = ipv4_frame(
        ACCESS_MAC,
        HOST_MAC,
        ping,
        &echo_request(0x0102, 3, b"abcdefgh"),
    );
    let (v, b, st) = run(&ctx, &MapLookup::standard(), Side::Access, &req);
    assert_eq!(v, Verdict::Reply(Side::Access));
    let rep = Ip {
        protocol: ipv4::protocol::ICMP,
        ..Ip::new(ACCESS_IP, HOST_IP)
    };
    let mut want = ipv4_frame(
        HOST_MAC,
        ACCESS_MAC,
        rep,
        &echo_request(0x0102, 3, b"abcdefgh"),
    );
    want[34] = 0; // echo reply
    want[36] = 0;
    want[37] = 0;
    let c = checksum::checksum(&want[34..]);
    want[36..38].copy_from_slice(&c.to_be_bytes());
    assert_eq!(b.data(), &want[..]);
    assert_eq!(st.counters.snapshot().slowpath_count(SlowKind::Icmp), 1);
    let p = SlicedPacket::from_ethernet(b.data()).unwrap();
    let Some(TransportSlice::Icmpv4(m)) = &p.transport else {
        panic!()
    };
    match m.icmp_type() {
        Icmpv4Type::EchoReply(h) => assert_eq!((h.id, h.seq), (0x0102, 3)),
        t => panic!("{t:?}"),
    }
    // A corrupted ICMP checksum is dropped, not answered.
    let mut bad = req.clone();
    bad[40] ^= 1;
    assert_drop(
        &ctx,
        &MapLookup::standard(),
        Side::Access,
        &bad,
        DropReason::BadChecksum,
    );
}

#[test]
fn echo_through_the_tunnel_is_answered_through_the_tunnel() {
    let ctx = context();
    let frames = sample_frames();
    let (_, side, f) = frames
        .iter()
        .find(|(n, _, _)| *n == "underlay_vxlan_echo_request")
        .unwrap();
    let (v, b, _) = run(&ctx, &MapLookup::standard(), *side, f);
    assert_eq!(v, Verdict::TxUnderlay);
    let (peer, mut pl) = peer();
    pl.add_neighbor(Side::Access, POD_IP, MacAddr([2, 0, 0, 0, 0, 0x36]));
    let mut b = b;
    assert_eq!(
        process_underlay(&peer, &pl, &mut worker(), &mut b),
        Verdict::TxAccess
    );
    let p = SlicedPacket::from_ethernet(b.data()).unwrap();
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!()
    };
    assert_eq!(ip.header().source_addr(), ACCESS_IP);
    let Some(TransportSlice::Icmpv4(m)) = &p.transport else {
        panic!()
    };
    assert!(matches!(m.icmp_type(), Icmpv4Type::EchoReply(h) if h.id == 9 && h.seq == 2));
    assert_eq!(m.payload(), b"through the tunnel");
}

// -------------------------------------------------------- DirectRouting

#[test]
fn direct_routing_sends_and_accepts_plain_ipv4() {
    let mut c = config();
    c.direct_routing = true;
    c.underlay_gateway = Some(UNDERLAY_GW);
    let ctx = Context::new(c).unwrap();
    let l = MapLookup::standard();
    let f = host_to_pod(40);
    let (v, b, st) = run(&ctx, &l, Side::Access, &f);
    assert_eq!(v, Verdict::TxUnderlay);
    assert_eq!(b.len(), f.len());
    assert_eq!(&b.data()[..12], &[NODE_MAC.0, UNDERLAY_MAC.0].concat()[..]);
    assert_eq!(b.data()[22], 63);
    assert_eq!(st.counters.snapshot().encap, 0);
    // Off-link VTEPs still get VXLAN.
    let g = host_to_far_pod();
    let (_, b, _) = run(&ctx, &l, Side::Access, &g);
    assert_eq!(b.len(), g.len() + OUTER_LEN);
    // Plain IPv4 from a node to a host in our subnet.
    let ip = Ip::new(POD_IP, HOST_IP);
    let p = ipv4_frame(
        UNDERLAY_MAC,
        NODE_MAC,
        ip,
        &udp_datagram(ip.src, ip.dst, 1, 2, b"plain"),
    );
    let (v, b, _) = run(&ctx, &l, Side::Underlay, &p);
    assert_eq!(v, Verdict::TxAccess);
    assert_eq!(&b.data()[..6], &HOST_MAC.0);
    // Without DirectRouting that packet is not for us.
    assert_drop(&context(), &l, Side::Underlay, &p, DropReason::NotForUs);
}

/// With DirectRouting a node sends what it originates itself from its own
/// underlay address: the host's answer to that address goes back as plain
/// IPv4 out of the underlay (TTL decremented, to the node's MAC), and a
/// too-big DF packet from it is answered with fragmentation-needed the
/// same way (no path-MTU black hole). Without DirectRouting, and toward
/// addresses off the underlay prefix or its broadcast, nothing changes:
/// `no_route`.
#[test]
fn direct_routing_answers_a_node_s_own_address_on_the_underlay() {
    let mut c = config();
    c.direct_routing = true;
    c.access_mtu = 1400;
    let ctx = Context::new(c).unwrap();
    let l = MapLookup::standard();
    let to = |dst: Ipv4Addr| {
        let ip = Ip::new(HOST_IP, dst);
        ipv4_frame(
            ACCESS_MAC,
            HOST_MAC,
            ip,
            &udp_datagram(HOST_IP, dst, 2, 1, b"r"),
        )
    };
    let f = to(NODE_IP);
    let (v, b, st) = run(&ctx, &l, Side::Access, &f);
    assert_eq!(v, Verdict::TxUnderlay);
    assert_eq!(&b.data()[..12], &[NODE_MAC.0, UNDERLAY_MAC.0].concat()[..]);
    assert_eq!(
        &b.data()[14 + 12..],
        &f[14 + 12..],
        "addresses and payload kept"
    );
    let ip = ipv4::Packet::new_checked(&b.data()[14..]).unwrap();
    assert_eq!((ip.ttl(), ip.verify_checksum()), (63, true));
    assert_eq!(st.counters.snapshot().total_drops(), 0);
    // Another on-link address nobody resolved yet: held for ARP.
    let other = Ipv4Addr::new(172, 28, 147, 45);
    assert!(matches!(
        run(&ctx, &l, Side::Access, &to(other)).0,
        Verdict::Hold { side: Side::Underlay, next_hop, .. } if next_hop == u32::from(other)
    ));
    // A 1450-byte DF packet from the node's own address to a host behind
    // the 1400-byte access port: frag-needed back to the node, plainly.
    let ip = Ip {
        df: true,
        ..Ip::new(NODE_IP, HOST_IP)
    };
    let big = ipv4_frame(
        UNDERLAY_MAC,
        NODE_MAC,
        ip,
        &udp_datagram(NODE_IP, HOST_IP, 1, 2, &pattern(1450 - 28)),
    );
    let (v, b, st) = run(&ctx, &l, Side::Underlay, &big);
    assert_eq!(v, Verdict::TxUnderlay);
    let s = st.counters.snapshot();
    assert_eq!(
        (
            s.drop_count(DropReason::MtuExceeded),
            s.slowpath_count(SlowKind::Icmp)
        ),
        (1, 1)
    );
    let err = ipv4::Packet::new_checked(&b.data()[14..]).unwrap();
    assert_eq!((err.src(), err.dst()), (ACCESS_IP, NODE_IP));
    let m = icmp::Packet::new_checked(err.payload()).unwrap();
    assert_eq!(
        icmp::Repr::parse(&m),
        icmp::Repr::FragNeeded { next_hop_mtu: 1400 }
    );
    // Not without DirectRouting; not off the prefix; not its broadcast.
    assert_drop(&context(), &l, Side::Access, &f, DropReason::NoRoute);
    for dst in [
        Ipv4Addr::new(172, 28, 148, 1),
        Ipv4Addr::new(172, 28, 147, 47),
    ] {
        assert_drop(&ctx, &l, Side::Access, &to(dst), DropReason::NoRoute);
    }
}

// ---------------------------------------------------------------- burst

#[test]
fn burst_matches_packet_by_packet_and_uses_bulk_lookup() {
    use std::cell::Cell;
    struct Counting(MapLookup, Cell<usize>, Cell<usize>);
    impl Lookup for Counting {
        fn lease(&self, s: u32) -> Option<Lease> {
            self.1.set(self.1.get() + 1);
            self.0.lease(s)
        }
        fn leases_masked(&self, k: &[u32; BURST], want: u32, out: &mut [Lease; BURST]) -> u32 {
            self.2.set(self.2.get() + 1);
            self.0.leases_masked(k, want, out)
        }
        fn vtep_match(&self, ip: u32, mac: MacAddr) -> VtepMatch {
            self.0.vtep_match(ip, mac)
        }
        fn neighbor(&self, side: Side, ip: u32) -> Option<MacAddr> {
            self.0.neighbor(side, ip)
        }
    }
    let ctx = context_via_gateway();
    let frames: Vec<Vec<u8>> = (0..40)
        .map(|i| match i % 4 {
            0 => host_to_pod(i),
            1 => arp_request(HOST_MAC, HOST_IP, ACCESS_IP),
            2 => host_to_pod(i)[..20].to_vec(),
            _ => {
                let ip = Ip::new(HOST_IP, Ipv4Addr::new(10, 244, 7, i as u8));
                ipv4_frame(
                    ACCESS_MAC,
                    HOST_MAC,
                    ip,
                    &udp_datagram(ip.src, ip.dst, 1, 2, b"y"),
                )
            }
        })
        .collect();
    let lk = Counting(MapLookup::standard(), Cell::new(0), Cell::new(0));
    let mut bufs: Vec<VecBuf> = frames.iter().map(|f| VecBuf::from_frame(f)).collect();
    let mut verdicts = [Verdict::default(); 40];
    let mut st = worker();
    assert_eq!(
        process_burst(&ctx, &lk, &mut st, Side::Access, &mut bufs, &mut verdicts),
        40
    );
    assert_eq!((lk.1.get(), lk.2.get()), (0, 2)); // one bulk call per 32
    for (i, f) in frames.iter().enumerate() {
        let (v, b, _) = run(&ctx, &MapLookup::standard(), Side::Access, f);
        assert_eq!(verdicts[i], v, "packet {i}");
        // Idents differ per packet; compare everything but the outer IPv4
        // ident and checksum.
        if v == Verdict::TxUnderlay {
            assert_eq!(bufs[i].data()[..18], b.data()[..18]);
            assert_eq!(bufs[i].data()[26..], b.data()[26..]);
        } else {
            assert_eq!(bufs[i].data(), b.data());
        }
    }
    let s = st.counters.snapshot();
    assert_eq!(s.encap, 20);
    assert_eq!(s.drop_count(DropReason::Truncated), 10);
    assert_eq!(s.slowpath_count(SlowKind::Arp), 10);
}

/// The write passes alone that benches/dataplane.rs times (`encap_write`,
/// `decap_write`) rewrite a frame exactly as the full paths do, but for
/// encap's outer source port (fixed there, not hashed), and leave a frame
/// too short for their one length read untouched.
#[test]
fn write_passes_alone_rewrite_as_the_full_paths_do() {
    let ctx = context();
    let l = MapLookup::standard();
    let lease = l.lease(u32::from(NODE_SUBNET)).expect("standard lease");
    for len in [0, 18, 1000] {
        let frame = host_to_pod(len);
        let (v, full, _) = run(&ctx, &l, Side::Access, &frame);
        assert_eq!(v, Verdict::TxUnderlay);
        let want = full.data().to_vec();
        let next_hop = MacAddr(want[..6].try_into().expect("6 bytes"));
        let mut bufs = [VecBuf::from_frame(&frame)];
        let mut ident = worker().next_ident;
        assert_eq!(
            encap_write_only(&ctx, &mut bufs, lease, next_hop, &mut ident),
            1
        );
        assert_eq!(ident, worker().next_ident.wrapping_add(1));
        let got = bufs[0].data();
        assert_eq!(&got[O_UDP..O_UDP + 2], &0xc000u16.to_be_bytes());
        assert_eq!(got[..O_UDP], want[..O_UDP], "len {len}");
        assert_eq!(got[O_UDP + 2..], want[O_UDP + 2..], "len {len}");

        let frame = pod_to_host(len);
        let (v, full, _) = run(&ctx, &l, Side::Underlay, &frame);
        assert_eq!(v, Verdict::TxAccess);
        let mut bufs = [VecBuf::from_frame(&frame)];
        assert_eq!(decap_write_only(&ctx, &mut bufs, HOST_MAC), 1);
        assert_eq!(bufs[0].data(), full.data(), "len {len}");
    }
    let (inner, vxlan) = (host_to_pod(0), pod_to_host(0));
    let mut short = [VecBuf::from_frame(&inner[..17])];
    assert_eq!(
        encap_write_only(&ctx, &mut short, lease, NODE_MAC, &mut 0),
        0
    );
    assert_eq!(short[0].data(), &inner[..17]);
    let mut short = [VecBuf::from_frame(&vxlan[..I_IP + 17])];
    assert_eq!(decap_write_only(&ctx, &mut short, HOST_MAC), 0);
    assert_eq!(short[0].data(), &vxlan[..I_IP + 17]);
}

// ---------------------------------------------------------------- fuzz corpus

#[test]
fn seed_corpus_is_the_sample_frames_and_passes_the_fuzz_checks() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/classify");
    let write = std::env::var_os("VXGATE_WRITE_CORPUS").is_some();
    for (name, _, f) in sample_frames() {
        let path = dir.join(name);
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &f).unwrap();
        }
        let on_disk = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (set VXGATE_WRITE_CORPUS=1)", path.display()));
        assert_eq!(on_disk, f, "{name}: regenerate with VXGATE_WRITE_CORPUS=1");
    }
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        assert_eq!(fuzz_one(&data), Ok(()));
        n += 1;
    }
    assert!(n >= sample_frames().len());
}
