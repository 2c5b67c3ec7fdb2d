//! The ARP responder: replies in place, punts to learn from, and what is not for us.

use super::*;

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
