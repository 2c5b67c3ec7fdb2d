//! From the access port: each drop reason, its ICMP answers, a host routed back to a host.

use super::*;
use crate::wire::icmp;
use etherparse::{Icmpv4Type, NetSlice, SlicedPacket, TransportSlice};

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
