//! Encap from the access port: golden outer header, next hops, the VTEP route before TTL and MTU.

use super::*;
use etherparse::{NetSlice, SlicedPacket, TransportSlice};

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
