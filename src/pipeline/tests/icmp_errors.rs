//! ICMP errors: to and about whom, rate-limit buckets, idents, TOS, size, the neighbour sent to.

use super::*;
use crate::pipeline::state::{ICMP_ERROR_BURST, PMTU_ERROR_BURST};
use crate::wire::icmp;

/// A TTL-1 packet from the access port, `src` to `dst`, carrying `l4`.
fn expiring(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let ip = Ip {
        ttl: 1,
        protocol,
        ..Ip::new(src, dst)
    };
    ipv4_frame(ACCESS_MAC, HOST_MAC, ip, l4)
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
