//! Martian, own and (from the underlay) own-subnet source addresses: `bad_ipv4` every way.

use super::*;

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
