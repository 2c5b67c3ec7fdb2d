//! IPv4 options and fragments ending past byte 65535, wherever a header is accepted.

use super::*;
use crate::pipeline::fragment::{FragError, Fragmenter};

/// `frame` with `opts` (whole words, at most 40 bytes) after the
/// option-less IPv4 header at `at`: IHL, total length and checksum follow.
/// An outer header's options leave the UDP checksum valid (its
/// pseudo-header has no IHL nor total length).
fn with_ip_options(frame: &[u8], at: usize, opts: &[u8]) -> Vec<u8> {
    assert!(opts.len() % 4 == 0 && opts.len() <= 40 && frame[at] == 0x45);
    let mut f = frame[..at + 20].to_vec();
    f.extend_from_slice(opts);
    f.extend_from_slice(&frame[at + 20..]);
    let mut ip = ipv4::Packet::new_unchecked(&mut f[at..]);
    ip.set_ver_ihl(20 + opts.len());
    let total = ip.total_len() + opts.len() as u16;
    ip.set_total_len(total);
    ip.fill_checksum();
    f
}

/// Where a header with options is accepted, for the list `opts`: (what,
/// DirectRouting, entry, frame, verdict when well formed, where the
/// options are in the frame sent: `None` when the header is stripped).
/// Entry 0 is the access port, 1 the underlay, 2 `process_decapped` (an
/// inner frame the slow path feeds back).
#[allow(clippy::type_complexity)]
fn option_cases(opts: &[u8]) -> Vec<(&'static str, bool, u8, Vec<u8>, Verdict, Option<usize>)> {
    let inner = with_ip_options(&pod_to_host_inner(40), 14, opts);
    let plain = udp_frame(UNDERLAY_MAC, NODE_MAC, Ip::new(POD_IP, HOST_IP), 40);
    vec![
        (
            "access, into a tunnel",
            false,
            0,
            with_ip_options(&host_to_pod(40), 14, opts),
            Verdict::TxUnderlay,
            Some(OUTER_LEN + 14),
        ),
        (
            "access, DirectRouting",
            true,
            0,
            with_ip_options(&host_to_pod(40), 14, opts),
            Verdict::TxUnderlay,
            Some(14),
        ),
        (
            "outer header",
            false,
            1,
            with_ip_options(&pod_to_host(40), 14, opts),
            Verdict::TxAccess,
            None,
        ),
        (
            "inner header",
            false,
            1,
            tunnelled(&inner),
            Verdict::TxAccess,
            Some(14),
        ),
        (
            "inner header fed back",
            false,
            2,
            inner,
            Verdict::TxAccess,
            Some(14),
        ),
        (
            "underlay, DirectRouting",
            true,
            1,
            with_ip_options(&plain, 14, opts),
            Verdict::TxAccess,
            Some(14),
        ),
    ]
}

/// Runs a case of `option_cases` (the access and underlay entries through
/// the burst path too: `run_both`).
fn run_case(direct: bool, entry: u8, f: &[u8]) -> (Verdict, VecBuf, WorkerState) {
    let mut c = config();
    c.direct_routing = direct;
    let ctx = Context::new(c).unwrap();
    let l = MapLookup::standard();
    match entry {
        0 => run_both(&ctx, &l, Side::Access, f),
        1 => run_both(&ctx, &l, Side::Underlay, f),
        _ => {
            let mut st = worker();
            let mut b = VecBuf::from_frame(f);
            let v = process_decapped(&ctx, &l, &mut st, &mut b);
            (v, b, st)
        }
    }
}

/// A malformed option list (Linux's `ip_options_compile` refuses it, and
/// `ip_rcv` drops the packet: `InHdrErrors`) is `bad_ipv4` wherever a
/// header with options is accepted: from a host, the outer header of a
/// VXLAN packet, the inner one after decap, plain IPv4 by DirectRouting.
/// The slow path refuses the same packet (`Fragmenter`: one rule).
#[test]
fn malformed_ip_options_are_bad_ipv4_wherever_a_header_is_accepted() {
    let garbage = pattern(40);
    let lists: [&[u8]; 6] = [
        &[7, 0, 0, 0],    // record route of length 0
        &[7, 0x27, 4, 0], // length past the header
        &[0x44, 1, 0, 0], // timestamp of length 1
        &[1, 1, 1, 0x44], // no room for the length byte
        &[7, 7, 4, 0, 0, 0, 0, 7],
        &garbage, // IHL 15
    ];
    for opts in lists {
        assert!(ipv4::walk_options(opts, |_| {}).is_err(), "{opts:02x?}");
        for (what, direct, entry, f, _, _) in option_cases(opts) {
            let (v, _, st) = run_case(direct, entry, &f);
            assert_eq!(v, Verdict::Drop(DropReason::BadIpv4), "{what}: {opts:02x?}");
            let s = st.counters.snapshot();
            assert_eq!(
                (s.drop_count(DropReason::BadIpv4), s.total_drops()),
                (1, 1),
                "{what}"
            );
            assert_eq!((s.encap, s.decap, s.routed), (0, 0, 0), "{what}");
        }
        let f = with_ip_options(&host_to_pod(40), 14, opts);
        assert_eq!(
            Fragmenter::new(&f, 576).err(),
            Some(FragError::NotIpv4),
            "the slow path agrees: {opts:02x?}"
        );
    }
    // An echo request to us with them is not answered either.
    let ping = with_ip_options(
        &ping(ACCESS_MAC, HOST_MAC, HOST_IP, ACCESS_IP, b"x"),
        14,
        &[7, 0, 0, 0],
    );
    assert_drop(
        &context(),
        &MapLookup::standard(),
        Side::Access,
        &ping,
        DropReason::BadIpv4,
    );
}

/// Well-formed options (record route, a timestamp, router alert, NOPs,
/// EOL and whatever pads after it) are forwarded as before, every byte of
/// them kept (etherparse reads them back).
#[test]
fn well_formed_ip_options_are_forwarded_as_before() {
    let lists: [&[u8]; 6] = [
        &[1, 1, 1, 1],
        &[0, 0, 0, 0],
        &[7, 7, 4, 0, 0, 0, 0, 1],
        &[0x44, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &[1, 0x94, 4, 0, 0, 0, 0, 0],
        &[0, 0xff, 0xff, 0xff],
    ];
    for opts in lists {
        for (what, direct, entry, f, want, at) in option_cases(opts) {
            let (v, b, st) = run_case(direct, entry, &f);
            assert_eq!(v, want, "{what}: {opts:02x?}");
            assert_eq!(st.counters.snapshot().total_drops(), 0, "{what}");
            if let Some(at) = at {
                let h = ep_ipv4(b.data(), at);
                assert_eq!(h.options.as_slice(), opts, "{what}");
            }
        }
        let f = with_ip_options(&host_to_pod(40), 14, opts);
        assert!(Fragmenter::new(&f, 576).is_ok(), "{opts:02x?}");
    }
}

/// `frame` (Ethernet + option-less IPv4) as the last fragment of its
/// datagram at byte `offset`, ident 0x7777.
fn last_fragment_at(frame: &[u8], offset: u16) -> Vec<u8> {
    let mut f = frame.to_vec();
    let mut ip = ipv4::Packet::new_unchecked(&mut f[14..]);
    ip.set_ident(0x7777);
    ip.set_frag(false, false, offset);
    ip.fill_checksum();
    f
}

/// A fragment whose data would end past byte 65535 of its datagram (the
/// tester's: offset 8191, MF clear, 40 bytes of UDP from a host to a pod)
/// is `bad_ipv4` on the full path as in the slow path (`Fragmenter`, one
/// rule), before its TTL could be answered: from a host, out of a tunnel,
/// by DirectRouting. One ending at byte 65535 is forwarded.
#[test]
fn a_fragment_ending_past_byte_65535_is_bad_ipv4_on_the_full_path_too() {
    let offset = 8191 * 8;
    let from_host = |len: usize, ttl: u8| {
        let ip = Ip {
            ttl,
            ..Ip::new(HOST_IP, POD_IP)
        };
        last_fragment_at(&ipv4_frame(ACCESS_MAC, HOST_MAC, ip, &pattern(len)), offset)
    };
    let to_host = |eth_dst: MacAddr, eth_src: MacAddr, len: usize| {
        let ip = Ip::new(POD_IP, HOST_IP);
        last_fragment_at(&ipv4_frame(eth_dst, eth_src, ip, &pattern(len)), offset)
    };
    let cases = |len: usize| {
        [
            (
                "from a host",
                false,
                0,
                from_host(len, 64),
                Verdict::TxUnderlay,
            ),
            (
                "TTL 1",
                false,
                0,
                from_host(len, 1),
                Verdict::Drop(DropReason::TtlExpired),
            ),
            (
                "out of a tunnel",
                false,
                1,
                tunnelled(&to_host(VTEP_MAC, NODE_VTEP_MAC, len)),
                Verdict::TxAccess,
            ),
            (
                "fed back",
                false,
                2,
                to_host(VTEP_MAC, NODE_VTEP_MAC, len),
                Verdict::TxAccess,
            ),
            (
                "DirectRouting",
                true,
                1,
                to_host(UNDERLAY_MAC, NODE_MAC, len),
                Verdict::TxAccess,
            ),
        ]
    };
    for (what, direct, entry, f, _) in cases(40) {
        let (v, _, st) = run_case(direct, entry, &f);
        assert_eq!(v, Verdict::Drop(DropReason::BadIpv4), "{what}");
        let s = st.counters.snapshot();
        assert_eq!((s.total_drops(), s.slowpath_count(SlowKind::Icmp)), (1, 0));
    }
    assert_eq!(
        Fragmenter::new(&from_host(40, 64), 1450).err(),
        Some(FragError::BeyondMaxDatagram),
        "the slow path agrees"
    );
    // 7 bytes end at byte 65535: forwarded (or answered, at TTL 1).
    for (what, direct, entry, f, want) in cases(7) {
        assert_eq!(run_case(direct, entry, &f).0, want, "{what}");
    }
    assert!(Fragmenter::new(&from_host(7, 64), 1450).is_ok());
}
