//! Fragments: kept in order through the slow path, out of the tunnel, and cut by the slow path.

use super::*;
use crate::pipeline::fragment::Fragmenter;
use crate::wire::icmp;

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
