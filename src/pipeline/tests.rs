//! Pipeline tests on byte vectors: golden packets, etherparse cross-checks,
//! every drop reason, truncation, jumbo frames, ARP/ICMP responders,
//! DirectRouting, bursts, and decap(encap(x)) as a property.

use super::buf::{PacketBuf, VecBuf};
use super::context::{Context, Prefix, OUTER_LEN};
use super::fragment::{FragError, Fragmenter};
use super::lookup::Lookup;
use super::state::{ICMP_ERROR_BURST, PMTU_ERROR_BURST};
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
/// leaves it to this path: `fastpath::tests::bursts_over_mixed_next_hops_match_the_full_path_packet_by_packet`)
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

/// A host that sends another host of the subnet to the gateway (its own
/// prefix is longer than the subnet's, say a /25 of our /24) gets it
/// delivered back out of the access port, TTL less one, as a router on a
/// stick does; counted as routed. An unresolved host is held for ARP.
#[test]
fn a_host_reaches_another_host_of_the_subnet_through_the_gateway() {
    let ctx = context();
    let mut l = MapLookup::standard();
    let other = Ipv4Addr::new(10, 244, 255, 200);
    let other_mac = MacAddr([0x02, 0, 0, 0, 0, 0xc8]);
    let ip = Ip::new(HOST_IP, other);
    let f = ipv4_frame(
        ACCESS_MAC,
        HOST_MAC,
        ip,
        &udp_datagram(ip.src, other, 1, 2, b"x"),
    );
    let (v, _, st) = run_both(&ctx, &l, Side::Access, &f);
    assert_eq!(
        v,
        Verdict::Hold {
            side: Side::Access,
            next_hop: u32::from(other),
            answers_drop: false
        }
    );
    assert_eq!(st.counters.snapshot().routed, 1);
    l.add_neighbor(Side::Access, other, other_mac);
    let (v, b, st) = run_both(&ctx, &l, Side::Access, &f);
    assert_eq!(v, Verdict::TxAccess);
    let s = st.counters.snapshot();
    assert_eq!((s.routed, s.encap, s.decap, s.total_drops()), (1, 0, 0, 0));
    let out = SlicedPacket::from_ethernet(b.data()).unwrap();
    let Some(NetSlice::Ipv4(ip4)) = out.net else {
        panic!("IPv4 out")
    };
    assert_eq!(ip4.header().ttl(), 63);
    assert_eq!(ip4.header().destination_addr(), other);
    assert_eq!(&b.data()[..12], &[other_mac.0, ACCESS_MAC.0].concat()[..]);
}

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
        (Ipv4Addr::new(10, 244, 255, 0), DropReason::NotForUs),
        (Ipv4Addr::new(10, 244, 255, 255), DropReason::NotForUs),
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
    let f = host_to_pod_df(1472);
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
    st.pmtu_limiter = slowpath::RateLimiter::new(0, 1);
    let mut b = VecBuf::from_frame(&f);
    let v = process_access(&ctx, &MapLookup::standard(), &mut st, &mut b);
    assert_eq!(v, Verdict::Drop(DropReason::MtuExceeded));
}

/// Fragmentation-needed has its own, larger bucket: a thousand senders
/// starting full-size flows at one instant each learn the tunnel MTU
/// (Linux does not limit these at all), and expiring packets that emptied
/// the time-exceeded bucket do not silence path MTU discovery.
#[test]
fn frag_needed_errors_have_their_own_larger_bucket() {
    let ctx = context();
    let l = MapLookup::standard();
    let mut st = worker();
    let expired = expiring(
        HOST_IP,
        POD_IP,
        ipv4::protocol::UDP,
        &udp_datagram(HOST_IP, POD_IP, 1, 2, b"x"),
    );
    let big = host_to_pod_df(1472);
    let count = |st: &mut WorkerState, f: &[u8], n: u32| {
        (0..n)
            .filter(|_| {
                let mut b = VecBuf::from_frame(f);
                process_access(&ctx, &l, st, &mut b) == Verdict::Reply(Side::Access)
            })
            .count()
    };
    // All at one instant (`now_ns` does not move): each bucket's burst.
    assert_eq!(
        count(&mut st, &expired, 2 * ICMP_ERROR_BURST),
        ICMP_ERROR_BURST as usize
    );
    assert_eq!(
        count(&mut st, &big, 2 * PMTU_ERROR_BURST),
        PMTU_ERROR_BURST as usize
    );
    let s = st.counters.snapshot();
    assert_eq!(
        s.drop_count(DropReason::TtlExpired),
        u64::from(2 * ICMP_ERROR_BURST)
    );
    assert_eq!(
        s.drop_count(DropReason::MtuExceeded),
        u64::from(2 * PMTU_ERROR_BURST)
    );
    // A millisecond later: one more time-exceeded, ten more
    // fragmentation-needed.
    st.now_ns += 1_000_000;
    assert_eq!(count(&mut st, &expired, 5), 1);
    assert_eq!(count(&mut st, &big, 20), 10);
}

/// `frame` as its sender cut it, into fragments of at most `mtu` bytes of
/// IPv4, with the IPv4 ident `ident`.
fn sent_in_fragments(frame: &[u8], ident: u16, mtu: u16) -> Vec<Vec<u8>> {
    let mut f = frame.to_vec();
    let mut ip = ipv4::Packet::new_unchecked(&mut f[14..]);
    ip.set_ident(ident);
    ip.fill_checksum();
    let mut fr = Fragmenter::new(&f, mtu).unwrap();
    let mut tmp = [0u8; 2048];
    let mut out = Vec::new();
    while let Some(n) = fr.next_into(&mut tmp).unwrap() {
        out.push(tmp[..n].to_vec());
    }
    out
}

/// A host's datagram cut at 1500 bytes toward the 1450-byte tunnel: its
/// big fragments go to the slow path to be cut again, and so does its last
/// fragment, which fits, behind them: forwarded at once it would overtake
/// them, and Linux drops a datagram whose fragments arrive too far apart
/// (`frag_order`). The fragments of a datagram cut small enough all stay
/// in the worker, with or without the fast path; the slow path forwards a
/// follower as it is.
#[test]
fn a_fragment_that_fits_follows_its_datagram_to_the_slow_path() {
    let ctx = context();
    let l = MapLookup::standard();
    let big = sent_in_fragments(&host_to_pod(4000 - 28), 0x4001, 1500);
    let small = sent_in_fragments(&host_to_pod(4000 - 28), 0x4002, 1400);
    assert_eq!((big.len(), small.len()), (3, 3));
    assert!(
        big[2].len() - 14 <= 1450,
        "the last fragment fits the tunnel"
    );

    let mut st = worker();
    let mut bufs: Vec<VecBuf> = big
        .iter()
        .chain(&small)
        .map(|f| VecBuf::from_frame(f))
        .collect();
    let mut vs = [Verdict::Drop(DropReason::NotForUs); 6];
    process_burst(&ctx, &l, &mut st, Side::Access, &mut bufs, &mut vs);
    let punt = Verdict::Punt(SlowKind::Fragment);
    assert_eq!(
        vs[..3],
        [punt; 3],
        "the whole first datagram to the slow path"
    );
    assert_eq!(vs[3..], [Verdict::TxUnderlay; 3], "the second forwarded");
    let s = st.counters.snapshot();
    assert_eq!((s.slowpath_count(SlowKind::Fragment), s.encap), (3, 3));
    for (b, f) in bufs.iter().zip(&big) {
        assert_eq!(b.data(), &f[..], "punted as received");
    }

    // One at a time through the full path, the same.
    let mut st = worker();
    for (f, want) in big
        .iter()
        .zip([punt; 3])
        .chain(small.iter().zip([Verdict::TxUnderlay; 3]))
    {
        let mut b = VecBuf::from_frame(f);
        assert_eq!(process_access(&ctx, &l, &mut st, &mut b), want);
    }

    // The slow path's own state forwards the follower as it is.
    let mut slow = worker();
    slow.in_slow_path = true;
    slow.detoured = st.detoured.clone();
    let mut b = VecBuf::from_frame(&big[2]);
    assert_eq!(
        process_fragment(&ctx, &l, &mut slow, Side::Access, &mut b),
        Verdict::TxUnderlay
    );
}

/// A pod's datagram arrives in fragments that fit the access port: each
/// is decapsulated and sent on by the full path (the fast path leaves
/// fragments to it), as the unfragmented packet would be.
#[test]
fn inner_fragments_from_the_tunnel_are_delivered() {
    let ctx = context();
    let l = MapLookup::standard();
    let frags = sent_in_fragments(&pod_to_host_inner(3000), 0x5001, 1400);
    let mut bufs: Vec<VecBuf> = frags
        .iter()
        .map(|f| VecBuf::from_frame(&vxlan_frame(NODE_IP, VNI, f)))
        .collect();
    let mut vs = [Verdict::Drop(DropReason::NotForUs); 3];
    let mut st = worker();
    process_burst(&ctx, &l, &mut st, Side::Underlay, &mut bufs, &mut vs);
    assert_eq!(vs, [Verdict::TxAccess; 3]);
    for (b, f) in bufs.iter().zip(&frags) {
        let (d, f) = (b.data(), &f[..]);
        assert_eq!(d[14..22], f[14..22], "length, ident, flags and offset kept");
        assert_eq!(d[22], f[22] - 1, "TTL less one");
        assert_eq!(d[26..], f[26..], "addresses and data kept");
        assert!(ipv4::Packet::new_checked(&d[14..])
            .unwrap()
            .verify_checksum());
    }
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
    let mut fr = Fragmenter::new(b.data(), ctx.fragment_mtu()).unwrap();
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
/// (Through the underlay gateway, so the far node's subnet has a route:
/// toward a VTEP without one a packet is `no_route` before its TTL is
/// looked at.)
#[test]
fn no_icmp_error_to_or_about_addresses_that_name_no_host() {
    let ctx = context_via_gateway();
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
    // From the access port, sources outside our subnet are spoofs: not
    // forwarded (`bad_ipv4`, before the TTL), so not answered either.
    for src in [
        Ipv4Addr::new(240, 0, 0, 1),
        Ipv4Addr::new(10, 244, 1, 255),
        Ipv4Addr::new(172, 28, 147, 47),
    ] {
        let f = expiring(src, POD_IP, ipv4::protocol::UDP, &udp(src, POD_IP));
        let (v, _, st) = run(&ctx, &l, Side::Access, &f);
        assert_eq!(v, Verdict::Drop(DropReason::BadIpv4), "{src}");
        assert_eq!(st.counters.snapshot().slowpath_count(SlowKind::Icmp), 0);
    }
    // Martian sources and our own (and the access link's network and
    // broadcast addresses): not forwarded at all (`bad_ipv4`, before the
    // TTL is looked at), so not answered either.
    for src in [
        Ipv4Addr::new(0, 1, 2, 3),
        Ipv4Addr::new(127, 0, 0, 1),
        Ipv4Addr::new(224, 0, 0, 5),
        Ipv4Addr::BROADCAST,
        ACCESS_IP,
        UNDERLAY_IP,
        Ipv4Addr::new(10, 244, 255, 0),
        Ipv4Addr::new(10, 244, 255, 255),
    ] {
        let f = expiring(src, POD_IP, ipv4::protocol::UDP, &udp(src, POD_IP));
        assert_drop(&ctx, &l, Side::Access, &f, DropReason::BadIpv4);
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
/// own address, get no reply: `not_for_us`, or `bad_ipv4` from an address
/// that is never a source (a martian, as for packets to forward).
#[test]
fn no_echo_reply_to_addresses_that_name_no_host() {
    let ctx = context();
    let l = MapLookup::standard();
    for (src, r) in [
        (Ipv4Addr::UNSPECIFIED, DropReason::BadIpv4),
        (Ipv4Addr::new(240, 0, 0, 1), DropReason::BadIpv4),
        (Ipv4Addr::new(10, 244, 255, 255), DropReason::NotForUs),
        (ACCESS_IP, DropReason::NotForUs),
    ] {
        let ip = Ip {
            protocol: ipv4::protocol::ICMP,
            ..Ip::new(src, ACCESS_IP)
        };
        let f = ipv4_frame(ACCESS_MAC, HOST_MAC, ip, &echo_request(7, 1, b"ping"));
        assert_drop(&ctx, &l, Side::Access, &f, r);
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

// ---------------------------------------------- IPv4 options, fragment ends

/// `frame` with `opts` (whole words, at most 40 bytes) after the
/// option-less IPv4 header at `at`: IHL, total length and checksum follow.
/// An outer header's options leave the UDP checksum valid (its
/// pseudo-header has no IHL nor total length).
fn with_ip_options(frame: &[u8], at: usize, opts: &[u8]) -> Vec<u8> {
    assert!(opts.len() % 4 == 0 && opts.len() <= 40 && frame[at] == 0x45);
    let mut f = frame[..at + 20].to_vec();
    f.extend_from_slice(opts);
    f.extend_from_slice(&frame[at + 20..]);
    let mut ip = ipv4::Packet::new_unchecked(&mut f[at..]);
    ip.set_ver_ihl(20 + opts.len());
    let total = ip.total_len() + opts.len() as u16;
    ip.set_total_len(total);
    ip.fill_checksum();
    f
}

/// Where a header with options is accepted, for the list `opts`: (what,
/// DirectRouting, entry, frame, verdict when well formed, where the
/// options are in the frame sent: `None` when the header is stripped).
/// Entry 0 is the access port, 1 the underlay, 2 `process_decapped` (an
/// inner frame the slow path feeds back).
#[allow(clippy::type_complexity)]
fn option_cases(opts: &[u8]) -> Vec<(&'static str, bool, u8, Vec<u8>, Verdict, Option<usize>)> {
    let inner = with_ip_options(&pod_to_host_inner(40), 14, opts);
    let plain = udp_frame(UNDERLAY_MAC, NODE_MAC, Ip::new(POD_IP, HOST_IP), 40);
    vec![
        (
            "access, into a tunnel",
            false,
            0,
            with_ip_options(&host_to_pod(40), 14, opts),
            Verdict::TxUnderlay,
            Some(OUTER_LEN + 14),
        ),
        (
            "access, DirectRouting",
            true,
            0,
            with_ip_options(&host_to_pod(40), 14, opts),
            Verdict::TxUnderlay,
            Some(14),
        ),
        (
            "outer header",
            false,
            1,
            with_ip_options(&pod_to_host(40), 14, opts),
            Verdict::TxAccess,
            None,
        ),
        (
            "inner header",
            false,
            1,
            tunnelled(&inner),
            Verdict::TxAccess,
            Some(14),
        ),
        (
            "inner header fed back",
            false,
            2,
            inner,
            Verdict::TxAccess,
            Some(14),
        ),
        (
            "underlay, DirectRouting",
            true,
            1,
            with_ip_options(&plain, 14, opts),
            Verdict::TxAccess,
            Some(14),
        ),
    ]
}

/// Runs a case of `option_cases` (the access and underlay entries through
/// the burst path too: `run_both`).
fn run_case(direct: bool, entry: u8, f: &[u8]) -> (Verdict, VecBuf, WorkerState) {
    let mut c = config();
    c.direct_routing = direct;
    let ctx = Context::new(c).unwrap();
    let l = MapLookup::standard();
    match entry {
        0 => run_both(&ctx, &l, Side::Access, f),
        1 => run_both(&ctx, &l, Side::Underlay, f),
        _ => {
            let mut st = worker();
            let mut b = VecBuf::from_frame(f);
            let v = process_decapped(&ctx, &l, &mut st, &mut b);
            (v, b, st)
        }
    }
}

/// A malformed option list (Linux's `ip_options_compile` refuses it, and
/// `ip_rcv` drops the packet: `InHdrErrors`) is `bad_ipv4` wherever a
/// header with options is accepted: from a host, the outer header of a
/// VXLAN packet, the inner one after decap, plain IPv4 by DirectRouting.
/// The slow path refuses the same packet (`Fragmenter`: one rule).
#[test]
fn malformed_ip_options_are_bad_ipv4_wherever_a_header_is_accepted() {
    let garbage = pattern(40);
    let lists: [&[u8]; 6] = [
        &[7, 0, 0, 0],    // record route of length 0
        &[7, 0x27, 4, 0], // length past the header
        &[0x44, 1, 0, 0], // timestamp of length 1
        &[1, 1, 1, 0x44], // no room for the length byte
        &[7, 7, 4, 0, 0, 0, 0, 7],
        &garbage, // IHL 15
    ];
    for opts in lists {
        assert!(ipv4::walk_options(opts, |_| {}).is_err(), "{opts:02x?}");
        for (what, direct, entry, f, _, _) in option_cases(opts) {
            let (v, _, st) = run_case(direct, entry, &f);
            assert_eq!(v, Verdict::Drop(DropReason::BadIpv4), "{what}: {opts:02x?}");
            let s = st.counters.snapshot();
            assert_eq!(
                (s.drop_count(DropReason::BadIpv4), s.total_drops()),
                (1, 1),
                "{what}"
            );
            assert_eq!((s.encap, s.decap, s.routed), (0, 0, 0), "{what}");
        }
        let f = with_ip_options(&host_to_pod(40), 14, opts);
        assert_eq!(
            Fragmenter::new(&f, 576).err(),
            Some(FragError::NotIpv4),
            "the slow path agrees: {opts:02x?}"
        );
    }
    // An echo request to us with them is not answered either.
    let ping = with_ip_options(
        &ping(ACCESS_MAC, HOST_MAC, HOST_IP, ACCESS_IP, b"x"),
        14,
        &[7, 0, 0, 0],
    );
    assert_drop(
        &context(),
        &MapLookup::standard(),
        Side::Access,
        &ping,
        DropReason::BadIpv4,
    );
}

/// Well-formed options (record route, a timestamp, router alert, NOPs,
/// EOL and whatever pads after it) are forwarded as before, every byte of
/// them kept (etherparse reads them back).
#[test]
fn well_formed_ip_options_are_forwarded_as_before() {
    let lists: [&[u8]; 6] = [
        &[1, 1, 1, 1],
        &[0, 0, 0, 0],
        &[7, 7, 4, 0, 0, 0, 0, 1],
        &[0x44, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &[1, 0x94, 4, 0, 0, 0, 0, 0],
        &[0, 0xff, 0xff, 0xff],
    ];
    for opts in lists {
        for (what, direct, entry, f, want, at) in option_cases(opts) {
            let (v, b, st) = run_case(direct, entry, &f);
            assert_eq!(v, want, "{what}: {opts:02x?}");
            assert_eq!(st.counters.snapshot().total_drops(), 0, "{what}");
            if let Some(at) = at {
                let h = ep_ipv4(b.data(), at);
                assert_eq!(h.options.as_slice(), opts, "{what}");
            }
        }
        let f = with_ip_options(&host_to_pod(40), 14, opts);
        assert!(Fragmenter::new(&f, 576).is_ok(), "{opts:02x?}");
    }
}

/// `frame` (Ethernet + option-less IPv4) as the last fragment of its
/// datagram at byte `offset`, ident 0x7777.
fn last_fragment_at(frame: &[u8], offset: u16) -> Vec<u8> {
    let mut f = frame.to_vec();
    let mut ip = ipv4::Packet::new_unchecked(&mut f[14..]);
    ip.set_ident(0x7777);
    ip.set_frag(false, false, offset);
    ip.fill_checksum();
    f
}

/// A fragment whose data would end past byte 65535 of its datagram (the
/// tester's: offset 8191, MF clear, 40 bytes of UDP from a host to a pod)
/// is `bad_ipv4` on the full path as in the slow path (`Fragmenter`, one
/// rule), before its TTL could be answered: from a host, out of a tunnel,
/// by DirectRouting. One ending at byte 65535 is forwarded.
#[test]
fn a_fragment_ending_past_byte_65535_is_bad_ipv4_on_the_full_path_too() {
    let offset = 8191 * 8;
    let from_host = |len: usize, ttl: u8| {
        let ip = Ip {
            ttl,
            ..Ip::new(HOST_IP, POD_IP)
        };
        last_fragment_at(&ipv4_frame(ACCESS_MAC, HOST_MAC, ip, &pattern(len)), offset)
    };
    let to_host = |eth_dst: MacAddr, eth_src: MacAddr, len: usize| {
        let ip = Ip::new(POD_IP, HOST_IP);
        last_fragment_at(&ipv4_frame(eth_dst, eth_src, ip, &pattern(len)), offset)
    };
    let cases = |len: usize| {
        [
            (
                "from a host",
                false,
                0,
                from_host(len, 64),
                Verdict::TxUnderlay,
            ),
            (
                "TTL 1",
                false,
                0,
                from_host(len, 1),
                Verdict::Drop(DropReason::TtlExpired),
            ),
            (
                "out of a tunnel",
                false,
                1,
                tunnelled(&to_host(VTEP_MAC, NODE_VTEP_MAC, len)),
                Verdict::TxAccess,
            ),
            (
                "fed back",
                false,
                2,
                to_host(VTEP_MAC, NODE_VTEP_MAC, len),
                Verdict::TxAccess,
            ),
            (
                "DirectRouting",
                true,
                1,
                to_host(UNDERLAY_MAC, NODE_MAC, len),
                Verdict::TxAccess,
            ),
        ]
    };
    for (what, direct, entry, f, _) in cases(40) {
        let (v, _, st) = run_case(direct, entry, &f);
        assert_eq!(v, Verdict::Drop(DropReason::BadIpv4), "{what}");
        let s = st.counters.snapshot();
        assert_eq!((s.total_drops(), s.slowpath_count(SlowKind::Icmp)), (1, 0));
    }
    assert_eq!(
        Fragmenter::new(&from_host(40, 64), 1450).err(),
        Some(FragError::BeyondMaxDatagram),
        "the slow path agrees"
    );
    // 7 bytes end at byte 65535: forwarded (or answered, at TTL 1).
    for (what, direct, entry, f, want) in cases(7) {
        assert_eq!(run_case(direct, entry, &f).0, want, "{what}");
    }
    assert!(Fragmenter::new(&from_host(7, 64), 1450).is_ok());
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
        // ARP frames are padded to 60 bytes; the ARP body ends at 42. An
        // ARP frame to another host's MAC is not for us whatever follows
        // its Ethernet header. A whole frame that is dropped by design
        // (a martian source, say) is dropped as such. A priority tag
        // moves all of it 4 bytes on, and is itself whole or `truncated`.
        let (whole, _, _) = run(&ctx, &l, side, &f);
        let tag = if matches!(f[12..14], [0x81, 0x00] | [0x88, 0xa8]) {
            4
        } else {
            0
        };
        let arp = f[12 + tag..14 + tag] == [0x08, 0x06];
        let other_host = f[0] & 1 == 0 && f[..6] != ctx.port_mac(side).0;
        let needed = match (arp, other_host) {
            (true, true) => 14 + tag,
            (true, false) => 42 + tag,
            _ => f.len(),
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
            } else if let Verdict::Drop(_) = whole {
                assert_eq!(v, whole, "{name} at {k}");
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

/// A request for our address from a sender address no host can have
/// (0/8 but 0.0.0.0, loopback, multicast, class E, the limited
/// broadcast: Linux's `arp_process` does not answer, its route lookup
/// refuses the source) or from a broadcast, multicast or zero MAC (the
/// reply would go to that Ethernet destination: one request, one
/// broadcast) is `not_for_us` on either port: no reply, nothing punted to
/// learn. The burst path agrees. An address probe (sender 0.0.0.0) and
/// the addresses next to the martian ranges are answered.
#[test]
fn arp_requests_from_a_sender_no_host_can_be_are_not_answered() {
    let ctx = context();
    let l = MapLookup::standard();
    let ip = Ipv4Addr::new;
    for (side, mac, our_ip, peer) in [
        (Side::Access, HOST_MAC, ACCESS_IP, HOST_IP),
        (Side::Underlay, NODE_MAC, UNDERLAY_IP, NODE_IP),
    ] {
        for sender in [
            ip(0, 1, 2, 3),
            ip(127, 0, 0, 1),
            ip(127, 255, 255, 254),
            ip(224, 0, 0, 1),
            ip(239, 255, 255, 255),
            ip(240, 0, 0, 1),
            ip(255, 255, 255, 254),
            Ipv4Addr::BROADCAST,
            // Our own addresses (the other port's: this port's own, with
            // target the same, is a claim), our subnet's and the
            // underlay's broadcast.
            if side == Side::Access {
                UNDERLAY_IP
            } else {
                ACCESS_IP
            },
            ip(10, 244, 255, 255),
            ip(172, 28, 147, 47),
        ] {
            let f = arp_request(mac, sender, our_ip);
            assert_drop(&ctx, &l, side, &f, DropReason::NotForUs);
            assert_eq!(
                run_both(&ctx, &l, side, &f).0,
                Verdict::Drop(DropReason::NotForUs)
            );
        }
        for sender_mac in [
            MacAddr::BROADCAST,
            MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]),
            MacAddr([0x33, 0x33, 0, 0, 0, 1]),
            MacAddr::ZERO,
        ] {
            for sender in [peer, Ipv4Addr::UNSPECIFIED] {
                let f = arp_request(sender_mac, sender, our_ip);
                assert_drop(&ctx, &l, side, &f, DropReason::NotForUs);
                assert_eq!(
                    run_both(&ctx, &l, side, &f).0,
                    Verdict::Drop(DropReason::NotForUs)
                );
            }
        }
        for sender in [
            Ipv4Addr::UNSPECIFIED,
            ip(1, 0, 0, 0),
            ip(126, 255, 255, 255),
            ip(128, 0, 0, 0),
            ip(223, 255, 255, 255),
            peer,
        ] {
            let f = arp_request(mac, sender, our_ip);
            let (v, b, _) = run_both(&ctx, &l, side, &f);
            assert_eq!(v, Verdict::Reply(side), "{sender}");
            assert_eq!(&b.data()[..6], &mac.0, "to the requester");
        }
    }
}

/// Another host's address probe (RFC 5227: sender 0.0.0.0) for one of our
/// addresses is answered as Linux answers it, to the prober's MAC with
/// target address 0.0.0.0, and that answer is what a second gateway's
/// start-up probe takes for a claim of the address.
#[test]
fn an_address_probe_for_our_address_is_answered_and_read_as_a_claim() {
    use crate::gateway::address_probe::{claimant, probe_frame};
    let ctx = context();
    let l = MapLookup::standard();
    let mut probe = [0u8; 60];
    probe_frame(NODE_MAC, UNDERLAY_IP, &mut probe).unwrap();
    let (v, b, _) = run(&ctx, &l, Side::Underlay, &probe);
    assert_eq!(v, Verdict::Reply(Side::Underlay));
    let eth = etherparse::Ethernet2HeaderSlice::from_slice(b.data()).unwrap();
    assert_eq!(eth.destination(), NODE_MAC.0);
    let r = crate::wire::arp::Repr::parse(
        &crate::wire::arp::Packet::new_checked(&b.data()[14..]).unwrap(),
    )
    .unwrap();
    assert_eq!(r.operation, crate::wire::arp::Operation::Reply);
    assert_eq!((r.sender_mac, r.sender_ip), (UNDERLAY_MAC, UNDERLAY_IP));
    assert_eq!(
        (r.target_mac, r.target_ip),
        (NODE_MAC, Ipv4Addr::UNSPECIFIED)
    );
    assert_eq!(
        claimant(b.data(), NODE_MAC, UNDERLAY_IP),
        Some(UNDERLAY_MAC)
    );
    // A probe for an address that is not ours is no business of ours.
    probe_frame(NODE_MAC, NODE_IP, &mut probe).unwrap();
    assert_drop(&ctx, &l, Side::Underlay, &probe, DropReason::NotForUs);
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
    // A group address is no MAC to merge, nor to answer (the reply would
    // go to the group): not punted, not_for_us.
    let group = MacAddr([0x03, 0, 0, 0, 0, 0x0a]);
    let f = arp_request(group, HOST_IP, ACCESS_IP);
    assert_drop(&ctx, &l, Side::Access, &f, DropReason::NotForUs);
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
    // The reply's ident is the worker's next (worker 0's first: 0), not
    // the request's.
    let rep = Ip {
        protocol: ipv4::protocol::ICMP,
        ident: 0,
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
    // Counted as routed, not as encap.
    assert_eq!(
        (st.counters.snapshot().encap, st.counters.snapshot().routed),
        (0, 1)
    );
    // Off-link VTEPs still get VXLAN.
    let g = host_to_far_pod();
    let (_, b, st) = run(&ctx, &l, Side::Access, &g);
    assert_eq!(b.len(), g.len() + OUTER_LEN);
    assert_eq!(
        (st.counters.snapshot().encap, st.counters.snapshot().routed),
        (1, 0)
    );
    // Plain IPv4 from a node to a host in our subnet.
    let ip = Ip::new(POD_IP, HOST_IP);
    let p = ipv4_frame(
        UNDERLAY_MAC,
        NODE_MAC,
        ip,
        &udp_datagram(ip.src, ip.dst, 1, 2, b"plain"),
    );
    let (v, b, st) = run(&ctx, &l, Side::Underlay, &p);
    assert_eq!(v, Verdict::TxAccess);
    assert_eq!(&b.data()[..6], &HOST_MAC.0);
    assert_eq!(
        (st.counters.snapshot().decap, st.counters.snapshot().routed),
        (0, 1)
    );
    // A piece the slow path cut from such a packet (too big for the
    // access port): routed and counted as routed, as the packet would be.
    let mut piece = p.clone();
    let mut pip = ipv4::Packet::new_unchecked(&mut piece[14..]);
    pip.set_frag(false, true, 0);
    pip.fill_checksum();
    let mut slow = worker();
    slow.in_slow_path = true;
    let mut pb = VecBuf::from_frame(&piece);
    let v = process_fragment(&ctx, &l, &mut slow, Side::Underlay, &mut pb);
    assert_eq!(v, Verdict::TxAccess);
    let s = slow.counters.snapshot();
    assert_eq!((s.decap, s.routed, s.total_drops()), (0, 1, 0));
    // A decapsulated packet to the same host is decap, not routed.
    let (v, _, st) = run(&ctx, &l, Side::Underlay, &pod_to_host(40));
    assert_eq!(v, Verdict::TxAccess);
    assert_eq!(
        (st.counters.snapshot().decap, st.counters.snapshot().routed),
        (1, 0)
    );
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

// ------------------------------------- sources, ECN, route order, echo replies

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

/// Sources that are never one (0/8, 127/8, 224/4, 255.255.255.255) and
/// the gateway's own addresses are not forwarded in any direction (RFC
/// 1812 5.3.7; Linux's `ip_route_input_slow` and `fib_validate_source`):
/// from the access port into a tunnel or by DirectRouting, out of a tunnel
/// to a host or into another tunnel, by DirectRouting to a host. Each is
/// `bad_ipv4`, counted alone, before the TTL or the MTU could be answered.
/// Class E and everyone else's addresses are forwarded.
#[test]
fn martian_and_own_sources_are_not_forwarded_in_any_direction() {
    let ctx = context();
    let mut c = config();
    c.direct_routing = true;
    let direct = Context::new(c).unwrap();
    let l = MapLookup::standard();
    let far_pod = Ipv4Addr::new(10, 244, 7, 5);
    let via_gw = context_via_gateway();
    for src in [
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::new(0, 1, 2, 3),
        Ipv4Addr::new(127, 0, 0, 1),
        Ipv4Addr::new(224, 0, 0, 5),
        Ipv4Addr::new(239, 255, 255, 255),
        Ipv4Addr::BROADCAST,
        ACCESS_IP,
        UNDERLAY_IP,
        // The access link's network and broadcast addresses.
        Ipv4Addr::new(10, 244, 255, 0),
        Ipv4Addr::new(10, 244, 255, 255),
    ] {
        let what = format!("from {src}");
        let plain = Ip::new(src, POD_IP);
        let expiring = Ip { ttl: 1, ..plain };
        let big = Ip { df: true, ..plain };
        for f in [
            udp_frame(ACCESS_MAC, HOST_MAC, plain, 10),
            udp_frame(ACCESS_MAC, HOST_MAC, expiring, 10),
            udp_frame(ACCESS_MAC, HOST_MAC, big, 1472),
        ] {
            run_both(&ctx, &l, Side::Access, &f);
            assert_drop(&ctx, &l, Side::Access, &f, DropReason::BadIpv4);
            // DirectRouting toward the on-link node's lease.
            assert_drop(&direct, &l, Side::Access, &f, DropReason::BadIpv4);
        }
        for dst in [HOST_IP, far_pod] {
            for ttl in [64, 1] {
                let ip = Ip {
                    ttl,
                    ..Ip::new(src, dst)
                };
                let f = tunnelled(&udp_frame(VTEP_MAC, NODE_VTEP_MAC, ip, 10));
                run_both(&via_gw, &l, Side::Underlay, &f);
                assert_drop(&via_gw, &l, Side::Underlay, &f, DropReason::BadIpv4);
            }
        }
        let f = udp_frame(UNDERLAY_MAC, NODE_MAC, Ip::new(src, HOST_IP), 10);
        assert_drop(&direct, &l, Side::Underlay, &f, DropReason::BadIpv4);
        assert_eq!(
            run(&ctx, &l, Side::Underlay, &f).0,
            Verdict::Drop(DropReason::NotForUs),
            "{what}: without DirectRouting, not for us as before"
        );
    }
    // From the access port a host of our subnet is forwarded; class E and
    // a node's own address there are spoofs (nothing is routed behind the
    // access port: strict rp_filter).
    let f = udp_frame(ACCESS_MAC, HOST_MAC, Ip::new(HOST_IP, POD_IP), 10);
    assert_eq!(run_both(&ctx, &l, Side::Access, &f).0, Verdict::TxUnderlay);
    for src in [Ipv4Addr::new(240, 0, 0, 1), NODE_IP, POD_IP] {
        let f = udp_frame(ACCESS_MAC, HOST_MAC, Ip::new(src, POD_IP), 10);
        assert_eq!(
            run_both(&ctx, &l, Side::Access, &f).0,
            Verdict::Drop(DropReason::BadIpv4),
            "{src}"
        );
    }
    for src in [Ipv4Addr::new(240, 0, 0, 1), POD_IP, NODE_IP] {
        let f = tunnelled(&udp_frame(
            VTEP_MAC,
            NODE_VTEP_MAC,
            Ip::new(src, HOST_IP),
            10,
        ));
        assert_eq!(
            run_both(&ctx, &l, Side::Underlay, &f).0,
            Verdict::TxAccess,
            "{src}"
        );
        let f = udp_frame(UNDERLAY_MAC, NODE_MAC, Ip::new(src, HOST_IP), 10);
        assert_eq!(
            run(&direct, &l, Side::Underlay, &f).0,
            Verdict::TxAccess,
            "{src}"
        );
    }
}

/// Packets to the gateway itself from a source that is never one are
/// `bad_ipv4` as well (Linux drops them at the same route lookup), and
/// never answered: echo requests on either port and through a tunnel,
/// and VXLAN packets from such an outer source, even one a lease names
/// (they are not decapsulated). A class E source is not a martian: it is
/// just never answered (`not_for_us`, as before).
#[test]
fn packets_to_us_from_sources_that_are_never_one_are_bad_ipv4() {
    let ctx = context();
    let mut c = config();
    c.direct_routing = true;
    let direct = Context::new(c).unwrap();
    for src in [
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::new(127, 0, 0, 1),
        Ipv4Addr::new(224, 0, 0, 1),
        Ipv4Addr::BROADCAST,
    ] {
        let mut l = MapLookup::standard();
        l.add_lease(Ipv4Addr::new(10, 244, 50, 0), src, NODE_VTEP_MAC);
        let bad = DropReason::BadIpv4;
        for dst in [ACCESS_IP, UNDERLAY_IP] {
            let f = ping(ACCESS_MAC, HOST_MAC, src, dst, b"ping");
            assert_drop(&ctx, &l, Side::Access, &f, bad);
            let t = tunnelled(&ping(VTEP_MAC, NODE_VTEP_MAC, src, dst, b"ping"));
            assert_drop(&ctx, &l, Side::Underlay, &t, bad);
        }
        let f = ping(UNDERLAY_MAC, NODE_MAC, src, UNDERLAY_IP, b"ping");
        assert_drop(&ctx, &l, Side::Underlay, &f, bad);
        let f = ping(UNDERLAY_MAC, NODE_MAC, src, ACCESS_IP, b"ping");
        assert_drop(&direct, &l, Side::Underlay, &f, bad);
        // VXLAN from such an outer source: not decapsulated.
        let f = vxlan_frame(src, VNI, &pod_to_host_inner(10));
        let (v, _, st) = run_both(&ctx, &l, Side::Underlay, &f);
        assert_eq!(v, Verdict::Drop(bad), "VXLAN from {src}");
        assert_eq!(st.counters.snapshot().decap, 0);
    }
    // Class E is a source, but not on the access port (outside our
    // subnet: a spoof there).
    let e = Ipv4Addr::new(240, 0, 0, 1);
    let l = MapLookup::standard();
    let f = ping(ACCESS_MAC, HOST_MAC, e, ACCESS_IP, b"ping");
    assert_drop(&ctx, &l, Side::Access, &f, DropReason::BadIpv4);
}

/// From the underlay, a source inside our own subnet is a spoof: only our
/// access hosts hold those addresses (Linux's strict rp_filter drops it).
/// `bad_ipv4`, with no time-exceeded, fragmentation-needed or echo reply
/// toward it, whether it came through a tunnel or by plain IPv4. Sources
/// outside Network are not restricted (nodes send from their own
/// addresses), nor are our subnet's addresses on the access port.
#[test]
fn own_subnet_sources_from_the_underlay_are_spoofs() {
    let mut c = config();
    c.access_mtu = 1400;
    let ctx = Context::new(c).unwrap();
    c.direct_routing = true;
    c.underlay_gateway = Some(UNDERLAY_GW);
    let direct = Context::new(c).unwrap();
    let l = MapLookup::standard();
    let bad = DropReason::BadIpv4;
    for src in [
        Ipv4Addr::new(10, 244, 255, 77),
        Ipv4Addr::new(10, 244, 255, 0),
        Ipv4Addr::new(10, 244, 255, 255),
        HOST_IP,
    ] {
        let plain = Ip::new(src, HOST_IP);
        let expiring = Ip { ttl: 1, ..plain };
        let big = Ip { df: true, ..plain };
        let far = Ip::new(src, Ipv4Addr::new(10, 244, 7, 5));
        let mut frames = vec![
            udp_frame(VTEP_MAC, NODE_VTEP_MAC, plain, 10),
            udp_frame(VTEP_MAC, NODE_VTEP_MAC, expiring, 10),
            udp_frame(VTEP_MAC, NODE_VTEP_MAC, big, 1450 - 28),
            udp_frame(VTEP_MAC, NODE_VTEP_MAC, far, 10),
            ping(VTEP_MAC, NODE_VTEP_MAC, src, ACCESS_IP, b"ping"),
        ];
        for f in frames.drain(..) {
            let t = tunnelled(&f);
            run_both(&direct, &l, Side::Underlay, &t);
            assert_drop(&ctx, &l, Side::Underlay, &t, bad);
            assert_drop(&direct, &l, Side::Underlay, &t, bad);
        }
        for ip in [plain, expiring, big] {
            let f = udp_frame(
                UNDERLAY_MAC,
                NODE_MAC,
                ip,
                if ip.df { 1450 - 28 } else { 10 },
            );
            assert_drop(&direct, &l, Side::Underlay, &f, bad);
        }
        for dst in [ACCESS_IP, UNDERLAY_IP] {
            let f = ping(UNDERLAY_MAC, NODE_MAC, src, dst, b"ping");
            assert_drop(&direct, &l, Side::Underlay, &f, bad);
        }
        let f = ping(UNDERLAY_MAC, NODE_MAC, src, UNDERLAY_IP, b"ping");
        assert_drop(&ctx, &l, Side::Underlay, &f, bad);
    }
    // Not restricted: a pod, a node's own address, an address outside
    // Network, through the tunnel or plainly; our hosts on the access port.
    for src in [POD_IP, NODE_IP, Ipv4Addr::new(192, 168, 7, 7)] {
        let ip = Ip::new(src, HOST_IP);
        let t = tunnelled(&udp_frame(VTEP_MAC, NODE_VTEP_MAC, ip, 10));
        assert_eq!(
            run_both(&ctx, &l, Side::Underlay, &t).0,
            Verdict::TxAccess,
            "{src}"
        );
        let f = udp_frame(UNDERLAY_MAC, NODE_MAC, ip, 10);
        assert_eq!(
            run(&direct, &l, Side::Underlay, &f).0,
            Verdict::TxAccess,
            "{src}"
        );
        let f = ping(UNDERLAY_MAC, NODE_MAC, src, UNDERLAY_IP, b"ping");
        assert_eq!(
            run(&ctx, &l, Side::Underlay, &f).0,
            Verdict::Reply(Side::Underlay)
        );
    }
    let f = udp_frame(ACCESS_MAC, HOST_MAC, Ip::new(HOST_IP, POD_IP), 10);
    assert_eq!(run(&ctx, &l, Side::Access, &f).0, Verdict::TxUnderlay);
}

/// RFC 6040's normal mode (Linux's `ip_tunnel_ecn_encap`): the outer TOS
/// carries the inner packet's ECN field, its DSCP 0, the checksum right
/// (etherparse), on the full and the burst path alike; the inner TOS is
/// sent as it came. DirectRouting has no outer header.
#[test]
fn encap_copies_the_inner_ecn_field_into_the_outer_header() {
    let ctx = context();
    let l = MapLookup::standard();
    for ecn in [0u8, 1, 2, 3] {
        for dscp in [0u8, 0xb8] {
            let mut f = host_to_pod(30);
            set_tos(&mut f, 14, dscp | ecn);
            let (v, b, _) = run_both(&ctx, &l, Side::Access, &f);
            assert_eq!(v, Verdict::TxUnderlay);
            let outer = ep_ipv4(b.data(), O_IP);
            assert_eq!(
                (outer.ecn.value(), outer.dscp.value()),
                (ecn, 0),
                "TOS {:#x}",
                dscp | ecn
            );
            let inner = ep_ipv4(b.data(), I_IP);
            assert_eq!((inner.ecn.value(), inner.dscp.value() << 2), (ecn, dscp));
        }
    }
    let mut c = config();
    c.direct_routing = true;
    let direct = Context::new(c).unwrap();
    let mut f = host_to_pod(30);
    set_tos(&mut f, 14, 0xb8 | 3);
    let (v, b, _) = run(&direct, &l, Side::Access, &f);
    assert_eq!(v, Verdict::TxUnderlay);
    assert_eq!(b.len(), f.len());
    assert_eq!(b.data()[15], 0xb8 | 3);
}

/// Decapsulation combines the outer and the inner ECN fields as RFC 6040
/// section 4.2, figure 4 (and Linux's `INET_ECN_decapsulate`), for every
/// pair: outer CE marks an ECN-capable inner packet CE, and drops a
/// Not-ECT one as `bad_ipv4` (not decapsulated); outer ECT(1) makes an
/// inner ECT(0) ECT(1); nothing else changes the inner packet. The DSCP
/// is kept, the checksum is right (etherparse), the burst path agrees.
/// Re-encapsulated toward another node, the packet carries its new ECN
/// field out in the outer header.
#[test]
fn decap_combines_outer_and_inner_ecn_as_rfc_6040() {
    use crate::wire::ipv4::ecn::{CE, ECT0, ECT1, NOT_ECT};
    let ctx = context_via_gateway();
    let l = MapLookup::standard();
    // Figure 4, rows the arriving inner field, columns the arriving outer
    // one (Not-ECT, ECT(0), ECT(1), CE); None: drop.
    let outers = [NOT_ECT, ECT0, ECT1, CE];
    let figure = [
        (NOT_ECT, [Some(NOT_ECT), Some(NOT_ECT), Some(NOT_ECT), None]),
        (ECT0, [Some(ECT0), Some(ECT0), Some(ECT1), Some(CE)]),
        (ECT1, [Some(ECT1), Some(ECT1), Some(ECT1), Some(CE)]),
        (CE, [Some(CE), Some(CE), Some(CE), Some(CE)]),
    ];
    for (inner, row) in figure {
        for (outer, want) in outers.into_iter().zip(row) {
            assert_eq!(
                decap::decap_ecn(outer, inner),
                match want {
                    None => Err(DropReason::BadIpv4),
                    Some(w) if w == inner => Ok(None),
                    Some(w) => Ok(Some(w)),
                },
                "outer {outer} inner {inner}"
            );
            let what = format!("outer {outer}, inner {inner}");
            let f = vxlan_to_host(POD_IP, 0x20 | outer, 0xb8 | inner);
            let (v, b, st) = run_both(&ctx, &l, Side::Underlay, &f);
            let Some(want) = want else {
                assert_drop(&ctx, &l, Side::Underlay, &f, DropReason::BadIpv4);
                assert_eq!(st.counters.snapshot().decap, 0, "{what}");
                continue;
            };
            assert_eq!(v, Verdict::TxAccess, "{what}");
            let h = ep_ipv4(b.data(), 14);
            assert_eq!(
                (h.ecn.value(), h.dscp.value() << 2, h.time_to_live),
                (want, 0xb8, 63),
                "{what}"
            );
            // Toward another node: out in the new outer header.
            let mut g = f.clone();
            g[I_IP + 16..I_IP + 20].copy_from_slice(&[10, 244, 7, 5]);
            fix_ip(&mut g, I_IP);
            no_udp_csum(&mut g);
            let (v, b, _) = run_both(&ctx, &l, Side::Underlay, &g);
            assert_eq!(v, Verdict::TxUnderlay, "{what}");
            assert_eq!(ep_ipv4(b.data(), O_IP).ecn.value(), want, "{what}");
            assert_eq!(ep_ipv4(b.data(), I_IP).ecn.value(), want, "{what}");
        }
    }
}

/// ARP sent to another host's unicast MAC (the ports are promiscuous) is
/// `not_for_us` on both ports, replies, requests for us and gratuitous
/// ARPs alike, as Linux's `arp_rcv` drops `PACKET_OTHERHOST` (nothing is
/// punted to learn from). To the port's MAC, to broadcast or to a group
/// address (`PACKET_MULTICAST`, which Linux takes) it is handled as before.
#[test]
fn arp_to_another_host_s_mac_is_not_for_us() {
    let ctx = context();
    let l = MapLookup::standard();
    let other = MacAddr([0x02, 0, 0, 0, 0, 0x99]);
    let group = MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]);
    for (side, mac, ip) in [
        (Side::Access, HOST_MAC, HOST_IP),
        (Side::Underlay, NODE_MAC, NODE_IP),
    ] {
        let to = |mut f: Vec<u8>, dst: MacAddr| {
            f[..6].copy_from_slice(&dst.0);
            f
        };
        let request = arp_request(mac, ip, ctx.port_ip(side));
        let mut reply = request.clone();
        reply[21] = 2;
        let mut g = vec![0u8; 60];
        slowpath::build_gratuitous_arp(mac, ip, &mut g).unwrap();
        for (f, handled) in [
            (request, Verdict::Reply(side)),
            (reply, Verdict::Punt(SlowKind::Arp)),
            (g, Verdict::Punt(SlowKind::Arp)),
        ] {
            let f = to(f, other);
            run_both(&ctx, &l, side, &f);
            assert_drop(&ctx, &l, side, &f, DropReason::NotForUs);
            for dst in [ctx.port_mac(side), MacAddr::BROADCAST, group] {
                let f = to(f.clone(), dst);
                assert_eq!(run_both(&ctx, &l, side, &f).0, handled, "{side:?} to {dst}");
            }
        }
    }
}

/// The VTEP's underlay route is found before the TTL and the MTU are
/// checked: toward a VTEP off the underlay's link with no gateway, an
/// expiring or too-big DF packet is dropped `no_route`, silently (no
/// time-exceeded or fragmentation-needed about a way that does not
/// exist), from the access port and from a tunnel alike. With a gateway,
/// or toward an on-link VTEP, they are answered as before.
#[test]
fn toward_a_vtep_without_a_route_the_drop_is_no_route_before_ttl_and_mtu() {
    let ctx = context();
    let l = MapLookup::standard();
    let far_pod = Ipv4Addr::new(10, 244, 7, 9);
    let expiring = Ip {
        ttl: 1,
        ..Ip::new(HOST_IP, far_pod)
    };
    let big = Ip {
        df: true,
        ..Ip::new(HOST_IP, far_pod)
    };
    let from_tunnel = Ip {
        ttl: 1,
        ..Ip::new(POD_IP, far_pod)
    };
    let cases = [
        (Side::Access, udp_frame(ACCESS_MAC, HOST_MAC, expiring, 10)),
        (Side::Access, udp_frame(ACCESS_MAC, HOST_MAC, big, 1472)),
        (
            Side::Underlay,
            tunnelled(&udp_frame(VTEP_MAC, NODE_VTEP_MAC, from_tunnel, 10)),
        ),
    ];
    for (side, f) in &cases {
        run_both(&ctx, &l, *side, f);
        assert_drop(&ctx, &l, *side, f, DropReason::NoRoute);
        let (v, _, st) = run(&context_via_gateway(), &l, *side, f);
        assert!(
            matches!(v, Verdict::Reply(_) | Verdict::TxUnderlay),
            "{v:?}"
        );
        assert_eq!(st.counters.snapshot().slowpath_count(SlowKind::Icmp), 1);
    }
    let f = udp_frame(
        ACCESS_MAC,
        HOST_MAC,
        Ip {
            ttl: 1,
            ..Ip::new(HOST_IP, POD_IP)
        },
        10,
    );
    assert_eq!(
        run(&ctx, &l, Side::Access, &f).0,
        Verdict::Reply(Side::Access)
    );
}

/// Echo replies are built as Linux's ICMP socket builds them
/// (`IP_PMTUDISC_DONT`): DF clear, so their ident is the next of the
/// worker's sequence (taken only when a reply is built, RFC 6864), no IP
/// options (the request's are not echoed: a 20-byte header, the message
/// unmoved), TTL 64, the request's TOS. etherparse reads them back.
#[test]
fn echo_replies_have_df_clear_no_options_and_an_ident_of_the_worker_sequence() {
    let ctx = context();
    let l = MapLookup::standard();
    let mut st = WorkerState::new(std::sync::Arc::new(Counters::new()), 3);
    let first = st.next_ident;
    let ip = Ip {
        protocol: ipv4::protocol::ICMP,
        df: true,
        ident: 0x4242,
        ..Ip::new(HOST_IP, ACCESS_IP)
    };
    let plain = ipv4_frame(
        ACCESS_MAC,
        HOST_MAC,
        ip,
        &echo_request(0x77, 5, b"options!"),
    );
    // The same request with 8 bytes of options (record route, 1 slot,
    // then NOP and end of list) and TOS 0x10.
    let mut opts = plain[..34].to_vec();
    opts.extend_from_slice(&[7, 7, 4, 0, 0, 0, 0, 1]);
    opts.extend_from_slice(&plain[34..]);
    opts[14] = 0x47;
    opts[15] = 0x10;
    opts[16..18].copy_from_slice(&(plain.len() as u16 - 14 + 8).to_be_bytes());
    fix_ip(&mut opts, 14);
    for (k, req) in [opts, plain].iter().enumerate() {
        let mut b = VecBuf::from_frame(req);
        assert_eq!(
            process_access(&ctx, &l, &mut st, &mut b),
            Verdict::Reply(Side::Access)
        );
        let d = b.data();
        assert_eq!(d.len(), 14 + 20 + 16, "no options");
        let p = SlicedPacket::from_ethernet(d).unwrap();
        let Some(etherparse::LinkSlice::Ethernet2(e)) = &p.link else {
            panic!()
        };
        assert_eq!((e.source(), e.destination()), (ACCESS_MAC.0, HOST_MAC.0));
        let h = ep_ipv4(d, 14);
        assert_eq!(
            (
                h.ihl(),
                h.dont_fragment,
                h.more_fragments,
                h.identification,
                h.time_to_live
            ),
            (5, false, false, first.wrapping_add(k as u16), 64)
        );
        assert_eq!(
            (h.source, h.destination),
            (ACCESS_IP.octets(), HOST_IP.octets())
        );
        assert_eq!(
            h.dscp.value() << 2 | h.ecn.value(),
            if k == 0 { 0x10 } else { 0 }
        );
        let Some(TransportSlice::Icmpv4(m)) = &p.transport else {
            panic!()
        };
        assert_eq!(
            m.icmp_type(),
            Icmpv4Type::EchoReply(etherparse::IcmpEchoHeader { id: 0x77, seq: 5 })
        );
        assert_eq!(m.payload(), b"options!");
        assert!(icmp::Packet::new_checked(m.slice())
            .unwrap()
            .verify_checksum());
    }
    assert_eq!(st.next_ident, first.wrapping_add(2));
    // Not answered: no ident taken.
    let mut bad = ping(ACCESS_MAC, HOST_MAC, HOST_IP, ACCESS_IP, b"x");
    bad[40] ^= 1;
    let mut b = VecBuf::from_frame(&bad);
    assert_eq!(
        process_access(&ctx, &l, &mut st, &mut b),
        Verdict::Drop(DropReason::BadChecksum)
    );
    assert_eq!(st.next_ident, first.wrapping_add(2));
}

/// An echo reply too big for its way back (a request through the tunnel
/// from a node whose MTU is larger than ours) has DF clear: it is punted
/// to be fragmented, as Linux fragments its own DF-clear datagrams, not
/// dropped as `mtu_exceeded`. Its fragments, fed back by
/// `process_fragment` as the gateway's own packets (their source is ours:
/// as decapsulated packets they would be `bad_ipv4`), are encapsulated to
/// the node with TTL 64 and reassemble into the reply.
#[test]
fn an_echo_reply_too_big_for_the_tunnel_is_fragmented() {
    let mut c = config();
    c.tunnel_mtu = 1400;
    let ctx = Context::new(c).unwrap();
    let l = MapLookup::standard();
    let data = pattern(1450 - 28);
    let f = tunnelled(&ping(VTEP_MAC, NODE_VTEP_MAC, POD_IP, ACCESS_IP, &data));
    let (v, b, st) = run(&ctx, &l, Side::Underlay, &f);
    assert_eq!(v, Verdict::Punt(SlowKind::Fragment));
    let s = st.counters.snapshot();
    assert_eq!(
        (
            s.total_drops(),
            s.decap,
            s.slowpath_count(SlowKind::Icmp),
            s.slowpath_count(SlowKind::Fragment)
        ),
        (0, 1, 1, 1)
    );
    // What the slow path does with it.
    let mut fr = Fragmenter::new(b.data(), ctx.fragment_mtu()).unwrap();
    let mut tmp = [0u8; 2048];
    let (mut st, mut icmp_msg, mut n) = (worker(), Vec::new(), 0);
    while let Some(len) = fr.next_into(&mut tmp).unwrap() {
        let mut as_decapped = VecBuf::from_frame(&tmp[..len]);
        assert_eq!(
            process_decapped(&ctx, &l, &mut worker(), &mut as_decapped),
            Verdict::Drop(DropReason::BadIpv4)
        );
        let mut fb = VecBuf::from_frame(&tmp[..len]);
        assert_eq!(
            process_fragment(&ctx, &l, &mut st, Side::Underlay, &mut fb),
            Verdict::TxUnderlay
        );
        let d = fb.data();
        assert!(d.len() - OUTER_LEN - 14 <= 1400);
        assert_eq!(&d[O_IP + 16..O_IP + 20], &NODE_IP.octets());
        let inner = ep_ipv4(d, I_IP);
        assert_eq!(
            (inner.source, inner.destination),
            (ACCESS_IP.octets(), POD_IP.octets())
        );
        assert_eq!((inner.time_to_live, inner.dont_fragment), (64, false));
        assert_eq!(
            usize::from(inner.fragment_offset.byte_offset()),
            icmp_msg.len()
        );
        icmp_msg.extend_from_slice(&d[I_IP + 20..]);
        n += 1;
    }
    assert_eq!((n, st.counters.snapshot().encap), (2, 2));
    let m = icmp::Packet::new_checked(&icmp_msg[..]).unwrap();
    assert!(m.verify_checksum());
    assert_eq!(
        icmp::Repr::parse(&m),
        icmp::Repr::EchoReply {
            ident: 0x77,
            seq: 5
        }
    );
    assert_eq!(&icmp_msg[8..], &data[..]);
}

/// An ICMP error fits the narrowest way back, as Linux's `icmp_send` cuts
/// its quote to the route's MTU: with a 300-byte tunnel, time-exceeded
/// about a 1000-byte packet from a pod is 300 bytes and is sent (no
/// fragment of an error, no error lost).
#[test]
fn icmp_errors_are_cut_to_fit_the_way_back() {
    let mut c = config();
    c.tunnel_mtu = 300;
    let ctx = Context::new(c).unwrap();
    let l = MapLookup::standard();
    let ip = Ip {
        ttl: 1,
        ..Ip::new(POD_IP, HOST_IP)
    };
    let packet = udp_frame(VTEP_MAC, NODE_VTEP_MAC, ip, 1000 - 28);
    let (v, b, st) = run(&ctx, &l, Side::Underlay, &tunnelled(&packet));
    assert_eq!(v, Verdict::TxUnderlay);
    let s = st.counters.snapshot();
    assert_eq!(
        (s.drop_count(DropReason::TtlExpired), s.total_drops()),
        (1, 1)
    );
    let err = ep_ipv4(b.data(), I_IP);
    assert_eq!(err.total_len, 300);
    assert_eq!(&b.data()[I_IP + 28..], &packet[14..14 + 272]);
    assert_eq!(ctx.icmp_error_room(), 300);
    assert_eq!(context().icmp_error_room(), 576);
}

// ------------------------------------------------- priority tags (VID 0)

/// Priority tags the tests put in front of frames: VLAN id 0 with no
/// priority, priority 3 or 5, and priority 7 with DEI set (Linux ignores
/// both when it takes the frame as untagged, and so does vxgate).
const PRIORITY_TAGS: [(u16, u16); 6] = [
    (0x8100, 0x0000),
    (0x8100, 0x6000),
    (0x8100, 0xf000),
    (0x88a8, 0x0000),
    (0x88a8, 0xa000),
    (0x88a8, 0xf000),
];

/// Runs `f` and each of its priority-tagged twins through the full and
/// the burst path on `side`: every twin gives the untagged frame's
/// verdict, bytes (untagged) and counters. Returns the untagged frame's
/// verdict and buffer.
fn same_as_untagged(
    ctx: &Context,
    l: &MapLookup,
    side: Side,
    f: &[u8],
    what: &str,
) -> (Verdict, VecBuf) {
    let (v, b, st) = run_both(ctx, l, side, f);
    for (tpid, tci) in PRIORITY_TAGS {
        let t = tagged(f, tpid, tci);
        let what = format!("{what}, tag {tpid:#06x} {tci:#06x}");
        // What the tests send is what etherparse reads as a priority tag.
        if t.len() >= 18 {
            let (_, rest) = etherparse::Ethernet2Header::from_slice(&t).unwrap();
            let (vh, _) = etherparse::SingleVlanHeader::from_slice(rest).unwrap();
            assert_eq!(vh.vlan_id.value(), 0, "{what}");
            assert_eq!(vh.pcp.value(), (tci >> 13) as u8, "{what}");
        }
        let (tv, tb, tst) = run_both(ctx, l, side, &t);
        assert_eq!(tv, v, "{what}");
        assert_eq!(tb.data(), b.data(), "{what}");
        assert_eq!(tst.counters.snapshot(), st.counters.snapshot(), "{what}");
        assert_eq!(tst.next_ident, st.next_ident, "{what}");
    }
    (v, b)
}

/// What leaves vxgate carries no tag, outside or (encapsulated) inside.
fn assert_untagged(frame: &[u8], what: &str) {
    let p = SlicedPacket::from_ethernet(frame).unwrap();
    assert!(p.vlan.is_none(), "{what}: {frame:02x?}");
}

/// `same_as_untagged`, which must forward `f` as `want`, untagged; the
/// buffer sent.
fn forwarded_untagged(
    ctx: &Context,
    l: &MapLookup,
    side: Side,
    f: &[u8],
    want: Verdict,
    what: &str,
) -> VecBuf {
    let (v, b) = same_as_untagged(ctx, l, side, f, what);
    assert_eq!(v, want, "{what}");
    assert_untagged(b.data(), what);
    b
}

#[test]
fn a_priority_tagged_frame_from_a_host_is_encapsulated_as_its_untagged_twin() {
    let ctx = context();
    let l = MapLookup::standard();
    let encap = Verdict::TxUnderlay;
    let b = forwarded_untagged(&ctx, &l, Side::Access, &host_to_pod(64), encap, "to a pod");
    assert_eq!(&b.data()[..OUTER_LEN], &GOLDEN_OUTER);
    assert_untagged(&b.data()[OUTER_LEN..], "inner");
    // To the far node via the underlay gateway, and to another host of
    // the subnet back out of the access port, alike.
    let via = context_via_gateway();
    forwarded_untagged(&via, &l, Side::Access, &host_to_far_pod(), encap, "far");
    let other = Ip::new(HOST_IP, Ipv4Addr::new(10, 244, 255, 11));
    let mut lk = l.clone();
    lk.add_neighbor(Side::Access, other.dst, MacAddr([2, 0, 0, 0, 0, 0x0b]));
    let f = udp_frame(ACCESS_MAC, HOST_MAC, other, 20);
    forwarded_untagged(&ctx, &lk, Side::Access, &f, Verdict::TxAccess, "to a host");
}

#[test]
fn a_priority_tagged_vxlan_frame_is_decapsulated_as_its_untagged_twin() {
    let ctx = context();
    let l = MapLookup::standard();
    let ce = vxlan_to_host(POD_IP, ipv4::ecn::CE, ipv4::ecn::ECT0);
    for (f, what) in [(pod_to_host(64), "pod to host"), (ce, "outer CE")] {
        let b = forwarded_untagged(&ctx, &l, Side::Underlay, &f, Verdict::TxAccess, what);
        assert_eq!(b.data().len(), f.len() - 50, "{what}");
    }
    // DirectRouting: plain IPv4 from a node to a host, and back.
    let mut c = config();
    c.direct_routing = true;
    let direct = Context::new(c).unwrap();
    let f = udp_frame(UNDERLAY_MAC, NODE_MAC, Ip::new(POD_IP, HOST_IP), 20);
    forwarded_untagged(&direct, &l, Side::Underlay, &f, Verdict::TxAccess, "in");
    let f = udp_frame(ACCESS_MAC, HOST_MAC, Ip::new(HOST_IP, POD_IP), 20);
    forwarded_untagged(&direct, &l, Side::Access, &f, Verdict::TxUnderlay, "out");
}

/// A priority-tagged ARP request for the port's address is answered in
/// place, untagged (as Linux answers it), on either port; a priority-
/// tagged ARP to learn from is punted untagged, so the slow path, which
/// reads the ARP body right behind a 14-byte header (`arp_punted`),
/// learns from it and answers it as from an untagged one.
#[test]
fn a_priority_tagged_arp_request_for_the_gateway_is_answered_untagged() {
    let ctx = context();
    let l = MapLookup::standard();
    for (side, req) in [
        (Side::Access, arp_request(HOST_MAC, HOST_IP, ACCESS_IP)),
        (Side::Underlay, arp_request(NODE_MAC, NODE_IP, UNDERLAY_IP)),
    ] {
        let (v, b) = same_as_untagged(&ctx, &l, side, &req, "ARP request");
        assert_eq!(v, Verdict::Reply(side));
        assert_eq!(b.data().len(), 60);
        let (eth, rest) = etherparse::Ethernet2Header::from_slice(b.data()).unwrap();
        assert_eq!(eth.ether_type, etherparse::EtherType::ARP);
        assert_eq!(eth.destination, req[6..12]);
        assert_eq!(eth.source, ctx.port_mac(side).0);
        assert_eq!(&rest[6..8], &[0, 2], "an ARP reply");
        assert_eq!(&rest[14..18], &ctx.port_ip(side).octets());
    }
    // Replies, gratuitous ARPs and requests from a neighbour at another
    // MAC are punted to learn from: untagged, as received but the tag.
    let mut rep = arp_request(HOST_MAC, HOST_IP, ACCESS_IP);
    rep[21] = 2;
    let moved = arp_request(MacAddr([0x02, 0, 0, 0, 0x99, 0x0a]), HOST_IP, ACCESS_IP);
    for (f, what) in [(rep, "reply"), (moved, "request from a moved host")] {
        let (v, b) = same_as_untagged(&ctx, &l, Side::Access, &f, what);
        assert_eq!(v, Verdict::Punt(SlowKind::Arp), "{what}");
        assert_eq!(b.data(), &f[..], "{what}: punted untagged");
    }
}

/// Every sample frame, whole, padded and cut at every length, and every
/// single-bit change of its first bytes, priority-tagged or not, gives
/// the same verdict, bytes and counters, with and without DirectRouting;
/// its tag cut short is `truncated`.
#[test]
fn every_frame_priority_tagged_is_taken_as_its_untagged_twin() {
    let mut c = config();
    c.direct_routing = true;
    c.underlay_gateway = Some(UNDERLAY_GW);
    let l = MapLookup::standard();
    for ctx in [context(), Context::new(c).unwrap()] {
        for (name, side, f) in sample_frames() {
            if matches!(f[12..14], [0x81, 0x00] | [0x88, 0xa8]) {
                continue;
            }
            same_as_untagged(&ctx, &l, side, &f, name);
            let mut padded = f.clone();
            padded.resize(f.len().max(60) + 7, 0);
            same_as_untagged(&ctx, &l, side, &padded, &format!("{name} padded"));
            for k in crate::wire::ethernet::HEADER_LEN..f.len().min(120) {
                same_as_untagged(&ctx, &l, side, &f[..k], &format!("{name} cut at {k}"));
            }
            for i in 0..f.len().min(40) {
                let mut g = f.clone();
                g[i] ^= 0x10;
                same_as_untagged(&ctx, &l, side, &g, &format!("{name} byte {i} ^ 0x10"));
            }
            for (tpid, tci) in PRIORITY_TAGS {
                let t = tagged(&f, tpid, tci);
                for k in 14..18 {
                    assert_drop(&ctx, &l, side, &t[..k], DropReason::Truncated);
                }
            }
        }
    }
}

/// A tag with any other VLAN id, also behind priority tags, and TPIDs
/// vxgate does not take for tags (0x9100, pre-standard QinQ) stay
/// `not_ipv4` on both ports, as before; priority tags stacked on one
/// another are all stripped. Inside the tunnel nothing
/// changed: flannel.1 never sends a tagged inner frame, and one, priority
/// tag or not, is `not_ipv4` as any inner frame that is not IPv4.
#[test]
fn other_vlan_ids_stay_not_ipv4_and_stacked_priority_tags_are_stripped() {
    let ctx = context();
    let l = MapLookup::standard();
    for (side, frames) in [
        (
            Side::Access,
            [host_to_pod(64), arp_request(HOST_MAC, HOST_IP, ACCESS_IP)],
        ),
        (
            Side::Underlay,
            [pod_to_host(64), arp_request(NODE_MAC, NODE_IP, UNDERLAY_IP)],
        ),
    ] {
        for f in &frames {
            for tpid in [0x8100u16, 0x88a8] {
                for tci in [0x0001u16, 0x0064, 0x0fff, 0x6001, 0xf800] {
                    let t = tagged(f, tpid, tci);
                    assert_drop(&ctx, &l, side, &t, DropReason::NotIpv4);
                    let (v, _, _) = run_both(&ctx, &l, side, &t);
                    assert_eq!(v, Verdict::Drop(DropReason::NotIpv4));
                }
                // Behind a priority tag: another VLAN id stays not_ipv4;
                // more priority tags are stripped too, as Linux's
                // `check_vlan_id` loop does (the frame with them all is
                // the singly tagged one, which is its untagged twin).
                let t = tagged(&tagged(f, 0x8100, 5), tpid, 0x6000);
                assert_drop(&ctx, &l, side, &t, DropReason::NotIpv4);
                let t = tagged(&tagged(&tagged(f, 0x8100, 0x6005), 0x8100, 0), tpid, 0x6000);
                assert_drop(&ctx, &l, side, &t, DropReason::NotIpv4);
                for inner in [(0x8100u16, 0u16), (0x88a8, 0x2000)] {
                    let stacked = tagged(f, inner.0, inner.1);
                    same_as_untagged(&ctx, &l, side, &stacked, "stacked priority tags");
                    let three = tagged(&tagged(&stacked, 0x8100, 0), tpid, 0xe000);
                    let (v, b, _) = run_both(&ctx, &l, side, &three);
                    let (want_v, want_b, _) = run_both(&ctx, &l, side, f);
                    assert_eq!(
                        (v, b.data()),
                        (want_v, want_b.data()),
                        "three priority tags"
                    );
                }
            }
            assert_drop(&ctx, &l, side, &tagged(f, 0x9100, 0), DropReason::NotIpv4);
        }
    }
    let inner = tagged(&pod_to_host_inner(20), 0x8100, 0);
    let f = vxlan_frame(NODE_IP, VNI, &inner);
    assert_drop(&ctx, &l, Side::Underlay, &f, DropReason::NotIpv4);
    let f = tagged(&f, 0x8100, 0);
    assert_drop(&ctx, &l, Side::Underlay, &f, DropReason::NotIpv4);
    let (v, _, _) = {
        let mut st = worker();
        let mut b = VecBuf::from_frame(&inner);
        (process_decapped(&ctx, &l, &mut st, &mut b), b, st)
    };
    assert_eq!(v, Verdict::Drop(DropReason::NotIpv4));
}

/// A tagged frame that ends inside its tag (14 to 17 bytes) is
/// `truncated`, whatever its VLAN id could be, as a frame shorter than an
/// untagged header is: the header is read whole before anything is
/// decided. With the tag whole, a priority tag carries a frame of 14
/// bytes (IPv4 or ARP, `truncated` as that frame is), any other VLAN id
/// is `not_ipv4`.
#[test]
fn a_tag_cut_short_is_truncated() {
    let ctx = context();
    let l = MapLookup::standard();
    for side in [Side::Access, Side::Underlay] {
        let mac = ctx.port_mac(side);
        for et in [0x0800u16, 0x0806] {
            let mut untagged = [0u8; 14];
            untagged[..6].copy_from_slice(&mac.0);
            untagged[6..12].copy_from_slice(&HOST_MAC.0);
            untagged[12..].copy_from_slice(&et.to_be_bytes());
            assert_drop(&ctx, &l, side, &untagged, DropReason::Truncated);
            for tpid in [0x8100u16, 0x88a8] {
                for tci in [0x0000u16, 0x6000, 0x0005] {
                    let t = tagged(&untagged, tpid, tci);
                    assert_eq!(t.len(), 18);
                    for k in 14..18 {
                        assert_drop(&ctx, &l, side, &t[..k], DropReason::Truncated);
                    }
                    let whole = if tci & 0x0fff == 0 {
                        DropReason::Truncated
                    } else {
                        DropReason::NotIpv4
                    };
                    assert_drop(&ctx, &l, side, &t, whole);
                }
            }
        }
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

/// A reply goes to the host it answers, as a router's goes by its
/// neighbour table: to the resolved neighbour of the sender's address,
/// whatever source MAC the request came from; for a sender not resolved,
/// to the frame's source MAC only when that names one host. A frame from a
/// broadcast, multicast, zero or our own MAC once had its echo reply and
/// its ICMP error sent to that MAC: one frame, one broadcast.
#[test]
fn replies_go_to_the_senders_neighbour_never_to_a_group_mac() {
    let ctx = context();
    let l = MapLookup::standard();
    let unresolved = Ipv4Addr::new(10, 244, 255, 77);
    let other_host = MacAddr([0x02, 0, 0, 0, 0, 0x99]);
    let echo = |src: Ipv4Addr, mac: MacAddr| {
        let ip = Ip {
            protocol: ipv4::protocol::ICMP,
            ..Ip::new(src, ACCESS_IP)
        };
        ipv4_frame(ACCESS_MAC, mac, ip, &echo_request(7, 1, b"ping"))
    };
    let expired = |src: Ipv4Addr, mac: MacAddr| {
        let mut f = expiring(
            src,
            POD_IP,
            ipv4::protocol::UDP,
            &udp_datagram(src, POD_IP, 1, 2, b"x"),
        );
        f[6..12].copy_from_slice(&mac.0);
        f
    };
    let group = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
    for mac in [
        MacAddr::BROADCAST,
        group,
        MacAddr::ZERO,
        ACCESS_MAC,
        other_host,
    ] {
        // Resolved: the neighbour's MAC, whatever the frame said.
        for f in [echo(HOST_IP, mac), expired(HOST_IP, mac)] {
            let (v, b, _) = run(&ctx, &l, Side::Access, &f);
            assert_eq!(v, Verdict::Reply(Side::Access), "{mac:?}");
            assert_eq!(&b.data()[..6], &HOST_MAC.0, "{mac:?}");
        }
        // Not resolved: the frame's MAC when it is one host's, else no
        // reply (the echo not_for_us, the error's packet dropped alone).
        let one_host = mac == other_host;
        for (f, reason) in [
            (echo(unresolved, mac), DropReason::NotForUs),
            (expired(unresolved, mac), DropReason::TtlExpired),
        ] {
            let (v, b, st) = run(&ctx, &l, Side::Access, &f);
            let s = st.counters.snapshot();
            if one_host {
                assert_eq!(v, Verdict::Reply(Side::Access));
                assert_eq!(&b.data()[..6], &other_host.0);
                assert_eq!(s.slowpath_count(SlowKind::Icmp), 1);
            } else {
                assert_eq!(v, Verdict::Drop(reason), "{mac:?}");
                assert_eq!(s.slowpath_count(SlowKind::Icmp), 0, "{mac:?}");
            }
        }
    }
}
