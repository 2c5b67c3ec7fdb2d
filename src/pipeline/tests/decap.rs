//! Decap from the underlay: golden inner frame, each drop reason, time-exceeded back, hairpin.

use super::*;
use crate::wire::icmp;

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
