//! Frame sizes: every sample frame cut at every length, padded, and 9000-byte jumbo frames.

use super::*;

#[test]
fn every_truncation_of_every_kind_is_truncated() {
    let ctx = context();
    let l = MapLookup::standard();
    for (name, side, f) in sample_frames() {
        // ARP frames are padded to 60 bytes; the ARP body ends at 42. An
        // ARP frame to another host's MAC is not for us whatever follows
        // its Ethernet header. A whole frame that is dropped by design
        // (a martian source, say) is dropped as such. A priority tag
        // moves all of it 4 bytes on, and is itself whole or `truncated`.
        let (whole, _, _) = run(&ctx, &l, side, &f);
        let tag = if matches!(f[12..14], [0x81, 0x00] | [0x88, 0xa8]) {
            4
        } else {
            0
        };
        let arp = f[12 + tag..14 + tag] == [0x08, 0x06];
        let other_host = f[0] & 1 == 0 && f[..6] != ctx.port_mac(side).0;
        let needed = match (arp, other_host) {
            (true, true) => 14 + tag,
            (true, false) => 42 + tag,
            _ => f.len(),
        };
        for k in 0..f.len() {
            let (v, _, _) = run(&ctx, &l, side, &f[..k]);
            let other = match side {
                Side::Access => Side::Underlay,
                Side::Underlay => Side::Access,
            };
            let _ = run(&ctx, &l, other, &f[..k]);
            if k < needed {
                assert_eq!(v, Verdict::Drop(DropReason::Truncated), "{name} cut at {k}");
            } else if let Verdict::Drop(_) = whole {
                assert_eq!(v, whole, "{name} at {k}");
            } else {
                assert!(!matches!(v, Verdict::Drop(_)), "{name} at {k}: {v:?}");
            }
        }
        // Ethernet padding behind a valid frame is ignored.
        let mut padded = f.clone();
        padded.extend_from_slice(&[0; 17]);
        let (v1, _, _) = run(&ctx, &l, side, &f);
        let (v2, _, _) = run(&ctx, &l, side, &padded);
        assert_eq!(v1, v2, "{name} padded");
    }
}

#[test]
fn jumbo_9000_byte_frames_through_a_9000_mtu_underlay() {
    let mut c = config();
    c.tunnel_mtu = 8950;
    c.underlay_mtu = 9000;
    c.access_mtu = 9000;
    let ctx = Context::new(c).unwrap();
    let (peer, pl) = peer_with(VNI, PORT, 8950, 9000);
    let f = host_to_pod(8950 - 28);
    let mut st = worker();
    let mut b = VecBuf::from_frame(&f);
    assert_eq!(
        process_access(&ctx, &MapLookup::standard(), &mut st, &mut b),
        Verdict::TxUnderlay
    );
    assert_eq!(b.len(), 14 + 9000);
    assert_eq!(
        process_underlay(&peer, &pl, &mut worker(), &mut b),
        Verdict::TxAccess
    );
    assert_eq!(&b.data()[34..], &f[34..]);
    // 9000-byte inner packets from a tunnel toward a 1500-byte access port.
    let ctx = context();
    let inner = pod_to_host_inner(9000 - 28);
    let v = run(
        &ctx,
        &MapLookup::standard(),
        Side::Underlay,
        &vxlan_frame(NODE_IP, VNI, &inner),
    )
    .0;
    assert_eq!(v, Verdict::Punt(SlowKind::Fragment));
}
