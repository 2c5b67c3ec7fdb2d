//! Tests of the burst fast paths (`fastpath`) against the full
//! per-packet path (`classify`): every frame either takes the fast path
//! with the full path's verdict, bytes, counters and ident sequence, or is
//! left to the full path. A file of its own for their size.

use super::*;
use crate::pipeline::buf::{VecBuf, DEFAULT_HEADROOM};
use crate::pipeline::classify::{process_access, process_underlay};
use crate::pipeline::testing::{self, MapLookup};

/// A burst of frames (each behind its headroom) through the burst fast
/// path, and the same frames, in order, through the full per-packet
/// path on a second state: same verdicts, bytes (outer ident
/// included), counters and ident sequence. Returns the bits of the
/// packets the fast path handled.
fn burst_matches_full_path<L: Lookup>(
    ctx: &Context,
    lk: &L,
    side: Side,
    frames: &[(Vec<u8>, usize)],
    what: &str,
) -> u32 {
    let buf = |(f, headroom): &(Vec<u8>, usize)| {
        let mut b = VecBuf::new(*headroom, f.len());
        b.reset(*headroom, f);
        b
    };
    let (mut fast_st, mut full_st) = (testing::worker(), testing::worker());
    let mut fast: Vec<VecBuf> = frames.iter().map(buf).collect();
    let mut v = [Verdict::default(); BURST];
    let fired = match side {
        Side::Access => access_burst(ctx, lk, &mut fast_st, &mut fast, &mut v),
        Side::Underlay => underlay_burst(ctx, lk, &mut fast_st, &mut fast, &mut v),
    };
    for (i, frame) in frames.iter().enumerate() {
        let mut full = buf(frame);
        let want = match side {
            Side::Access => process_access(ctx, lk, &mut full_st, &mut full),
            Side::Underlay => process_underlay(ctx, lk, &mut full_st, &mut full),
        };
        assert_eq!(v[i], want, "{what}, packet {i}");
        assert_eq!(fast[i].data(), full.data(), "{what}, packet {i}");
    }
    let (fast_c, full_c) = (fast_st.counters.snapshot(), full_st.counters.snapshot());
    assert_eq!(fast_c, full_c, "{what}");
    assert_eq!(fast_st.next_ident, full_st.next_ident, "{what}");
    fired
}

/// One frame through the fast paths and the full path, alike.
fn same_both_ways(ctx: &Context, lk: &MapLookup, side: Side, frame: &[u8], what: &str) {
    burst_matches_full_path(ctx, lk, side, &[(frame.to_vec(), DEFAULT_HEADROOM)], what);
}

/// Recomputes the option-less IPv4 header checksums of a frame, the
/// outer and, from the underlay, the inner one, and clears the outer
/// UDP checksum, whatever the other fields now say.
fn refresh_checksums(side: Side, f: &mut [u8]) {
    let mut fix = |at: usize| {
        // Only an option-less header: a changed version/IHL byte fails
        // both paths whatever its checksum.
        if let Some(h) = f.get_mut(at..at + 20).filter(|h| h[0] == 0x45) {
            ipv4::Packet::new_unchecked(h).fill_checksum();
        }
    };
    fix(14);
    if side == Side::Underlay {
        fix(64);
        if let Some(c) = f.get_mut(40..42) {
            c.copy_from_slice(&[0, 0]);
        }
    }
}

#[test]
fn fast_paths_match_full_paths() {
    let ctx = testing::context();
    let lk = MapLookup::standard();
    let mut n = 0;
    for (name, side, frame) in testing::sample_frames() {
        same_both_ways(&ctx, &lk, side, &frame, name);
        // Every single-bit change of every header byte (both fast paths
        // read at most the first 84), and every truncation.
        for i in 0..frame.len().min(96) {
            for bit in [0x01u8, 0x04, 0x10, 0x80] {
                let mut f = frame.clone();
                f[i] ^= bit;
                same_both_ways(&ctx, &lk, side, &f, &format!("{name} byte {i} ^ {bit:#x}"));
                // The same change behind fresh header checksums (and no
                // outer UDP checksum), so that the changed field itself,
                // not a checksum, is what both paths must judge alike.
                refresh_checksums(side, &mut f);
                same_both_ways(
                    &ctx,
                    &lk,
                    side,
                    &f,
                    &format!("{name} byte {i} ^ {bit:#x}, checksums fixed"),
                );
                n += 1;
            }
        }
        for cut in 0..frame.len() {
            same_both_ways(&ctx, &lk, side, &frame[..cut], &format!("{name} cut {cut}"));
        }
        let mut padded = frame.clone();
        padded.extend_from_slice(&[0u8; 9]);
        same_both_ways(&ctx, &lk, side, &padded, &format!("{name} padded"));
    }
    assert!(n > 1000);
    // The sample frames really take the fast paths (not only the fallback).
    let mut st = testing::worker();
    let mut v = [Verdict::default()];
    let mut b = [VecBuf::from_frame(&testing::pod_to_host(64))];
    assert_eq!(underlay_burst(&ctx, &lk, &mut st, &mut b, &mut v), 1);
    assert_eq!(v[0], Verdict::TxAccess);
    let mut b = [VecBuf::from_frame(&testing::host_to_pod(64))];
    assert_eq!(access_burst(&ctx, &lk, &mut st, &mut b, &mut v), 1);
    assert_eq!(v[0], Verdict::TxUnderlay);
    // The frames the fast paths are for, with and without a resolved
    // next hop, and a non-zero (valid) outer UDP checksum.
    let mut lk2 = MapLookup::default();
    lk2.add_lease(
        testing::NODE_SUBNET,
        testing::NODE_IP,
        testing::NODE_VTEP_MAC,
    );
    let mut no_csum = testing::pod_to_host(64);
    no_csum[40..42].copy_from_slice(&[0, 0]);
    let mut bad_csum = testing::pod_to_host(64);
    bad_csum[41] ^= 0x20;
    for l in [&lk, &lk2] {
        same_both_ways(&ctx, l, Side::Access, &testing::host_to_pod(64), "encap");
        same_both_ways(&ctx, l, Side::Underlay, &testing::pod_to_host(64), "decap");
        same_both_ways(&ctx, l, Side::Underlay, &no_csum, "decap, no UDP checksum");
        same_both_ways(
            &ctx,
            l,
            Side::Underlay,
            &bad_csum,
            "decap, bad UDP checksum",
        );
    }
    // Which samples the fast paths take, and which they leave to the
    // full path (which changes the ECN field, drops or punts them).
    let fires = |l: &MapLookup, side: Side, f: &[u8]| {
        let mut b = [VecBuf::from_frame(f)];
        let mut v = [Verdict::default()];
        let mut st = testing::worker();
        let bits = match side {
            Side::Access => access_burst(&ctx, l, &mut st, &mut b, &mut v),
            Side::Underlay => underlay_burst(&ctx, l, &mut st, &mut b, &mut v),
        };
        bits == 1
    };
    for (name, side, frame) in testing::sample_frames() {
        let fast = matches!(
            name,
            "access_udp_to_pod"
                | "underlay_vxlan_to_host"
                | "access_udp_ect0"
                | "underlay_vxlan_ect0"
                | "access_src_next_to_subnet_broadcast"
                | "underlay_vxlan_from_outside_network"
        );
        assert_eq!(fires(&lk, side, &frame), fast, "{name}");
    }
    // Outer sources that are never one, each the PublicIP of a lease
    // (the tables hold what etcd says), and sources next to them that
    // may be one: the full path drops the first as `bad_ipv4` (before
    // the VTEP is looked at), the fast path takes only the others.
    let mut lk3 = MapLookup::standard();
    let vteps = [
        ([0, 0, 0, 5], false),
        ([127, 0, 0, 1], false),
        ([224, 1, 1, 1], false),
        ([239, 255, 255, 255], false),
        ([255, 255, 255, 255], false),
        ([126, 0, 0, 1], true),
        ([240, 0, 0, 1], true),
        ([223, 0, 0, 1], true),
    ];
    for (i, (a, _)) in vteps.iter().enumerate() {
        let subnet = std::net::Ipv4Addr::new(10, 244, 100 + i as u8, 0);
        lk3.add_lease(subnet, std::net::Ipv4Addr::from(*a), testing::NODE_VTEP_MAC);
    }
    for (a, ok) in vteps {
        let vtep = std::net::Ipv4Addr::from(a);
        let f = testing::vxlan_frame(vtep, testing::VNI, &testing::pod_to_host_inner(20));
        same_both_ways(&ctx, &lk3, Side::Underlay, &f, &format!("from VTEP {vtep}"));
        assert_eq!(fires(&lk3, Side::Underlay, &f), ok, "from VTEP {vtep}");
        let (v, _, _) = {
            let mut st = testing::worker();
            let mut b = VecBuf::from_frame(&f);
            (process_underlay(&ctx, &lk3, &mut st, &mut b), b, st)
        };
        assert_eq!(v == Verdict::TxAccess, ok, "from VTEP {vtep}: {v:?}");
        for i in 26..30 {
            for bit in [0x01u8, 0x02, 0x10, 0x80] {
                let mut g = f.clone();
                g[i] ^= bit;
                refresh_checksums(Side::Underlay, &mut g);
                let what = format!("from VTEP {vtep}, byte {i} ^ {bit:#x}");
                same_both_ways(&ctx, &lk3, Side::Underlay, &g, &what);
            }
        }
    }
}

/// Whole bursts to on-link nodes, a node behind the underlay gateway
/// (or off-link without one: no route, left to the full path), an
/// unknown subnet and our own, under
/// every next-hop configuration and with next hops resolved or not:
/// the burst's bulk next-hop lookup gives, packet by packet, the
/// verdict, bytes (outer ident included), counters and ident sequence
/// of the full path run on the same frames in order.
#[test]
fn bursts_over_mixed_next_hops_match_the_full_path_packet_by_packet() {
    use std::net::Ipv4Addr;
    use testing::{Ip, *};
    // Every ECN codepoint (copied into the outer header), a TTL-1
    // packet to the far node (no route without a gateway: dropped
    // before its TTL is looked at; time-exceeded with one, whose ident
    // falls between the encapsulations' as in the full path) and a
    // martian source (`bad_ipv4`), all left to the full path.
    const EXPIRING: usize = 29;
    const MARTIAN: usize = 31;
    let to = |dst: Ipv4Addr, i: usize| {
        let mut ip = Ip::new(HOST_IP, dst);
        if i == EXPIRING {
            ip.ttl = 1;
        }
        if i == MARTIAN {
            ip.src = Ipv4Addr::new(127, 0, 0, 1);
        }
        let data = pattern(i % 7 + 1);
        let mut f = ipv4_frame(
            ACCESS_MAC,
            HOST_MAC,
            ip,
            &udp_datagram(ip.src, ip.dst, 1000 + i as u16, 53, &data),
        );
        set_tos(&mut f, 14, (i as u8) & 3);
        f
    };
    // A second on-link node with a MAC of its own, and the far node's
    // own MAC: a bulk lookup that mixed next hops up would show.
    let node2 = Ipv4Addr::new(172, 28, 147, 45);
    let node2_mac = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x45]);
    let far_mac = MacAddr([0x52, 0x54, 0x00, 0x00, 0x00, 0x07]);
    let dsts = [
        POD_IP,
        Ipv4Addr::new(10, 244, 7, 9),
        Ipv4Addr::new(10, 244, 3, 5),
        Ipv4Addr::new(10, 244, 1, 200),
        Ipv4Addr::new(10, 244, 9, 1),
        Ipv4Addr::new(10, 244, 7, 77),
        HOST_IP,
    ];
    let frames: Vec<(Vec<u8>, usize)> = (0..BURST)
        .map(|i| (to(dsts[i % dsts.len()], i), DEFAULT_HEADROOM))
        .collect();
    let mut fired_any = 0u32;
    let mut base = MapLookup::standard();
    base.add_lease(
        Ipv4Addr::new(10, 244, 3, 0),
        node2,
        MacAddr([0x16, 0xab, 0x0a, 0, 0, 0x45]),
    );
    base.add_neighbor(Side::Underlay, node2, node2_mac);
    base.add_neighbor(Side::Underlay, FAR_NODE_IP, far_mac);
    let mut lookups = vec![base.clone()];
    for gone in [NODE_IP, FAR_NODE_IP, UNDERLAY_GW] {
        let mut l = base.clone();
        l.neighbors.remove(&(Side::Underlay, u32::from(gone)));
        lookups.push(l);
    }
    for (gateway, direct_routing) in [
        (None, false),
        (Some(UNDERLAY_GW), false),
        (None, true),
        (Some(UNDERLAY_GW), true),
    ] {
        let mut c = config();
        c.underlay_gateway = gateway;
        c.direct_routing = direct_routing;
        let ctx = Context::new(c).unwrap();
        let subnet_mask = crate::pipeline::context::mask(ctx.cfg.subnet_len);
        for (k, lk) in lookups.iter().enumerate() {
            let what = format!("gateway {gateway:?}, DirectRouting {direct_routing}, lookup {k}");
            // What the fast path must take: a lease, not DirectRouting,
            // its next hop resolved.
            let mut expect = 0u32;
            for (i, (f, _)) in frames.iter().enumerate() {
                let dst = u32::from_be_bytes([f[30], f[31], f[32], f[33]]);
                let Some(l) = lk.lease(dst & subnet_mask) else {
                    continue;
                };
                let public = u32::from(l.public_ip);
                let hop = ctx.underlay_next_hop(public);
                let resolved = hop.is_some_and(|h| lk.neighbor(Side::Underlay, h).is_some());
                if !ctx.direct_route(public) && resolved && i != EXPIRING && i != MARTIAN {
                    expect |= 1 << i;
                }
            }
            let fired = burst_matches_full_path(&ctx, lk, Side::Access, &frames, &what);
            assert_eq!(fired, expect, "{what}: {fired:#x} {expect:#x}");
            fired_any |= fired;
        }
    }
    // Every frame to another lease (all but the unknown subnet's and
    // our own host's, 8 of 32, and the expiring and martian ones) took
    // the fast path somewhere.
    assert_eq!(fired_any.count_ones(), 22, "{fired_any:#x}");
}

/// Random next-hop layouts (from a review of the bulk next-hop lookup):
/// gateway none, on-link, off-link, a lease's PublicIP or our own address;
/// DirectRouting on or off; a /28 or /24 underlay; leases sharing VTEPs,
/// PublicIPs 0.0.0.0 and 255.255.255.255; next hops partly resolved, a MAC
/// per address; short headroom, TTL 1, oversize frames, partial bursts.
/// Encap's burst path matches the full path on the test map and on the
/// real lock-free tables alike.
#[test]
fn random_next_hop_layouts_match_the_full_path_on_both_lookups() {
    use crate::pipeline::context::{Prefix, OUTER_LEN};
    use crate::pipeline::tables::TableLookup;
    use crate::table::{LeaseTables, NeighborPort, NeighborTables};
    use rand::{rngs::StdRng, Rng, SeedableRng};
    use std::net::Ipv4Addr;
    use testing::*;

    let mut rng = StdRng::seed_from_u64(42);
    let pool: Vec<u32> = [
        [172, 28, 147, 44],
        [172, 28, 147, 45],
        [172, 28, 147, 46],
        [172, 28, 147, 33],
        [172, 28, 147, 40],
        [172, 28, 147, 32],
        [172, 28, 147, 47],
        [192, 0, 2, 7],
        [192, 0, 2, 8],
        [192, 0, 2, 1],
        [198, 51, 100, 9],
        [0, 0, 0, 0],
        [255, 255, 255, 255],
    ]
    .iter()
    .map(|&a| u32::from(Ipv4Addr::from(a)))
    .collect();
    let gateways = [
        None,
        Some(Ipv4Addr::new(172, 28, 147, 33)),
        Some(Ipv4Addr::new(192, 0, 2, 1)),
        Some(Ipv4Addr::new(198, 51, 100, 9)),
        Some(UNDERLAY_IP),
    ];
    let mac_of = |ip: u32, salt: u8| {
        let b = ip.to_be_bytes();
        MacAddr([0x02, salt, b[0] ^ b[1], b[1], b[2], b[3]])
    };
    let mut fast = 0;
    for iter in 0..1500 {
        let mut c = config();
        c.underlay_gateway = gateways[rng.gen_range(0..gateways.len())];
        c.direct_routing = rng.gen();
        if rng.gen_bool(0.2) {
            c.underlay_prefix = Prefix::new(UNDERLAY_IP, 24).unwrap();
        }
        let ctx = Context::new(c).unwrap();
        let leases: Vec<(u32, u32)> = (0..rng.gen_range(1..8u32))
            .map(|l| {
                (
                    0x0af4_0000 | (l + 1) << 8,
                    pool[rng.gen_range(0..pool.len())],
                )
            })
            .collect();
        let p = rng.gen_range(0.0..1.0);
        let mut resolved: Vec<(u32, MacAddr)> = Vec::new();
        for &ip in &pool {
            if rng.gen_bool(p) {
                resolved.push((ip, mac_of(ip, rng.gen_range(0..3))));
            }
        }
        let mut map = MapLookup::default();
        let (mut lw, lr) = LeaseTables::new(64);
        let (mut nw, nr) = NeighborTables::new(64);
        for (k, &(subnet, ip)) in leases.iter().enumerate() {
            let vtep_mac = MacAddr([0x16, 0, 0, 0, 0, k as u8]);
            map.add_lease(Ipv4Addr::from(subnet), Ipv4Addr::from(ip), vtep_mac);
            lw.upsert_lease(subnet, ip, vtep_mac.0);
        }
        for &(ip, m) in &resolved {
            map.add_neighbor(Side::Underlay, Ipv4Addr::from(ip), m);
            nw.set_static(NeighborPort::Underlay, ip, m.0);
        }
        map.add_neighbor(Side::Access, HOST_IP, HOST_MAC);
        nw.set_static(NeighborPort::Access, u32::from(HOST_IP), HOST_MAC.0);
        let mut tables = TableLookup {
            leases: lr,
            neighbors: nr,
        };
        tables.refresh();
        let n = if rng.gen_bool(0.8) {
            BURST
        } else {
            rng.gen_range(1..=BURST)
        };
        let frames: Vec<(Vec<u8>, usize)> = (0..n)
            .map(|i| {
                let dst = match rng.gen_range(0..10) {
                    0 => Ipv4Addr::new(10, 244, 200, 5),
                    1 => HOST_IP,
                    _ => {
                        let subnet = leases[rng.gen_range(0..leases.len())].0;
                        Ipv4Addr::from(subnet | rng.gen_range(1..255u32))
                    }
                };
                let mut ip = Ip::new(HOST_IP, dst);
                if rng.gen_bool(0.05) {
                    ip.ttl = 1;
                }
                ip.df = rng.gen();
                let len = if rng.gen_bool(0.05) {
                    1500
                } else {
                    rng.gen_range(1..64)
                };
                let l4 = udp_datagram(ip.src, dst, 1000 + i as u16, 53, &pattern(len));
                let headroom = match rng.gen_range(0..20) {
                    0 => 0,
                    1 => OUTER_LEN - 1,
                    2 => OUTER_LEN,
                    _ => DEFAULT_HEADROOM,
                };
                (ipv4_frame(ACCESS_MAC, HOST_MAC, ip, &l4), headroom)
            })
            .collect();
        let what = format!(
            "iteration {iter}: gateway {:?}, leases {leases:x?}, resolved {:x?}",
            ctx.cfg.underlay_gateway,
            resolved.iter().map(|r| r.0).collect::<Vec<_>>()
        );
        let fired =
            burst_matches_full_path(&ctx, &map, Side::Access, &frames, &format!("map, {what}"));
        let on_tables = burst_matches_full_path(
            &ctx,
            &tables,
            Side::Access,
            &frames,
            &format!("tables, {what}"),
        );
        assert_eq!(fired, on_tables, "{what}");
        fast += fired.count_ones();
    }
    // Many packets take the fast path (9 497 of this seed's): the
    // comparison is not of drops and fallbacks alone.
    assert!(fast > 8_000, "{fast}");
}
