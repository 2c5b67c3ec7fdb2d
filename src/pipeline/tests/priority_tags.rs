//! Priority tags (VLAN id 0): frames taken as their untagged twins; other VLAN ids, cut tags.

use super::*;
use etherparse::SlicedPacket;

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
