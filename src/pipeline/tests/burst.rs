//! Bursts against packet by packet, bulk lookups, and the write passes alone.

use super::*;

#[test]
fn burst_matches_packet_by_packet_and_uses_bulk_lookup() {
    use std::cell::Cell;
    struct Counting(MapLookup, Cell<usize>, Cell<usize>);
    impl Lookup for Counting {
        fn lease(&self, s: u32) -> Option<Lease> {
            self.1.set(self.1.get() + 1);
            self.0.lease(s)
        }
        fn leases_masked(&self, k: &[u32; BURST], want: u32, out: &mut [Lease; BURST]) -> u32 {
            self.2.set(self.2.get() + 1);
            self.0.leases_masked(k, want, out)
        }
        fn vtep_match(&self, ip: u32, mac: MacAddr) -> VtepMatch {
            self.0.vtep_match(ip, mac)
        }
        fn neighbor(&self, side: Side, ip: u32) -> Option<MacAddr> {
            self.0.neighbor(side, ip)
        }
    }
    let ctx = context_via_gateway();
    let frames: Vec<Vec<u8>> = (0..40)
        .map(|i| match i % 4 {
            0 => host_to_pod(i),
            1 => arp_request(HOST_MAC, HOST_IP, ACCESS_IP),
            2 => host_to_pod(i)[..20].to_vec(),
            _ => {
                let ip = Ip::new(HOST_IP, Ipv4Addr::new(10, 244, 7, i as u8));
                ipv4_frame(
                    ACCESS_MAC,
                    HOST_MAC,
                    ip,
                    &udp_datagram(ip.src, ip.dst, 1, 2, b"y"),
                )
            }
        })
        .collect();
    let lk = Counting(MapLookup::standard(), Cell::new(0), Cell::new(0));
    let mut bufs: Vec<VecBuf> = frames.iter().map(|f| VecBuf::from_frame(f)).collect();
    let mut verdicts = [Verdict::default(); 40];
    let mut st = worker();
    assert_eq!(
        process_burst(&ctx, &lk, &mut st, Side::Access, &mut bufs, &mut verdicts),
        40
    );
    assert_eq!((lk.1.get(), lk.2.get()), (0, 2)); // one bulk call per 32
    for (i, f) in frames.iter().enumerate() {
        let (v, b, _) = run(&ctx, &MapLookup::standard(), Side::Access, f);
        assert_eq!(verdicts[i], v, "packet {i}");
        // Idents differ per packet; compare everything but the outer IPv4
        // ident and checksum.
        if v == Verdict::TxUnderlay {
            assert_eq!(bufs[i].data()[..18], b.data()[..18]);
            assert_eq!(bufs[i].data()[26..], b.data()[26..]);
        } else {
            assert_eq!(bufs[i].data(), b.data());
        }
    }
    let s = st.counters.snapshot();
    assert_eq!(s.encap, 20);
    assert_eq!(s.drop_count(DropReason::Truncated), 10);
    assert_eq!(s.slowpath_count(SlowKind::Arp), 10);
}

/// The write passes alone that benches/dataplane.rs times (`encap_write`,
/// `decap_write`) rewrite a frame exactly as the full paths do, but for
/// encap's outer source port (fixed there, not hashed), and leave a frame
/// too short for their one length read untouched.
#[test]
fn write_passes_alone_rewrite_as_the_full_paths_do() {
    let ctx = context();
    let l = MapLookup::standard();
    let lease = l.lease(u32::from(NODE_SUBNET)).expect("standard lease");
    for len in [0, 18, 1000] {
        let frame = host_to_pod(len);
        let (v, full, _) = run(&ctx, &l, Side::Access, &frame);
        assert_eq!(v, Verdict::TxUnderlay);
        let want = full.data().to_vec();
        let next_hop = MacAddr(want[..6].try_into().expect("6 bytes"));
        let mut bufs = [VecBuf::from_frame(&frame)];
        let mut ident = worker().next_ident;
        assert_eq!(
            encap_write_only(&ctx, &mut bufs, lease, next_hop, &mut ident),
            1
        );
        assert_eq!(ident, worker().next_ident.wrapping_add(1));
        let got = bufs[0].data();
        assert_eq!(&got[O_UDP..O_UDP + 2], &0xc000u16.to_be_bytes());
        assert_eq!(got[..O_UDP], want[..O_UDP], "len {len}");
        assert_eq!(got[O_UDP + 2..], want[O_UDP + 2..], "len {len}");

        let frame = pod_to_host(len);
        let (v, full, _) = run(&ctx, &l, Side::Underlay, &frame);
        assert_eq!(v, Verdict::TxAccess);
        let mut bufs = [VecBuf::from_frame(&frame)];
        assert_eq!(decap_write_only(&ctx, &mut bufs, HOST_MAC), 1);
        assert_eq!(bufs[0].data(), full.data(), "len {len}");
    }
    let (inner, vxlan) = (host_to_pod(0), pod_to_host(0));
    let mut short = [VecBuf::from_frame(&inner[..17])];
    assert_eq!(
        encap_write_only(&ctx, &mut short, lease, NODE_MAC, &mut 0),
        0
    );
    assert_eq!(short[0].data(), &inner[..17]);
    let mut short = [VecBuf::from_frame(&vxlan[..I_IP + 17])];
    assert_eq!(decap_write_only(&ctx, &mut short, HOST_MAC), 0);
    assert_eq!(short[0].data(), &vxlan[..I_IP + 17]);
}
