//! The echo responder: golden replies, their checksum, ident, DF and options, and who gets none.

use super::*;
use crate::wire::icmp;
use etherparse::{Icmpv4Type, NetSlice, SlicedPacket, TransportSlice};

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
