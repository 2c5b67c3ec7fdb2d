//! DirectRouting: plain IPv4 to and from on-link nodes, answers to a node's own address.

use super::*;
use crate::wire::icmp;

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
