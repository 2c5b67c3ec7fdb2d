//! ECN through the tunnel, as RFC 6040: copied out on encap, combined on decap.

use super::*;
use crate::pipeline::decap;

/// RFC 6040's normal mode (Linux's `ip_tunnel_ecn_encap`): the outer TOS
/// carries the inner packet's ECN field, its DSCP 0, the checksum right
/// (etherparse), on the full and the burst path alike; the inner TOS is
/// sent as it came. DirectRouting has no outer header.
#[test]
fn encap_copies_the_inner_ecn_field_into_the_outer_header() {
    let ctx = context();
    let l = MapLookup::standard();
    for ecn in [0u8, 1, 2, 3] {
        for dscp in [0u8, 0xb8] {
            let mut f = host_to_pod(30);
            set_tos(&mut f, 14, dscp | ecn);
            let (v, b, _) = run_both(&ctx, &l, Side::Access, &f);
            assert_eq!(v, Verdict::TxUnderlay);
            let outer = ep_ipv4(b.data(), O_IP);
            assert_eq!(
                (outer.ecn.value(), outer.dscp.value()),
                (ecn, 0),
                "TOS {:#x}",
                dscp | ecn
            );
            let inner = ep_ipv4(b.data(), I_IP);
            assert_eq!((inner.ecn.value(), inner.dscp.value() << 2), (ecn, dscp));
        }
    }
    let mut c = config();
    c.direct_routing = true;
    let direct = Context::new(c).unwrap();
    let mut f = host_to_pod(30);
    set_tos(&mut f, 14, 0xb8 | 3);
    let (v, b, _) = run(&direct, &l, Side::Access, &f);
    assert_eq!(v, Verdict::TxUnderlay);
    assert_eq!(b.len(), f.len());
    assert_eq!(b.data()[15], 0xb8 | 3);
}

/// Decapsulation combines the outer and the inner ECN fields as RFC 6040
/// section 4.2, figure 4 (and Linux's `INET_ECN_decapsulate`), for every
/// pair: outer CE marks an ECN-capable inner packet CE, and drops a
/// Not-ECT one as `bad_ipv4` (not decapsulated); outer ECT(1) makes an
/// inner ECT(0) ECT(1); nothing else changes the inner packet. The DSCP
/// is kept, the checksum is right (etherparse), the burst path agrees.
/// Re-encapsulated toward another node, the packet carries its new ECN
/// field out in the outer header.
#[test]
fn decap_combines_outer_and_inner_ecn_as_rfc_6040() {
    use crate::wire::ipv4::ecn::{CE, ECT0, ECT1, NOT_ECT};
    let ctx = context_via_gateway();
    let l = MapLookup::standard();
    // Figure 4, rows the arriving inner field, columns the arriving outer
    // one (Not-ECT, ECT(0), ECT(1), CE); None: drop.
    let outers = [NOT_ECT, ECT0, ECT1, CE];
    let figure = [
        (NOT_ECT, [Some(NOT_ECT), Some(NOT_ECT), Some(NOT_ECT), None]),
        (ECT0, [Some(ECT0), Some(ECT0), Some(ECT1), Some(CE)]),
        (ECT1, [Some(ECT1), Some(ECT1), Some(ECT1), Some(CE)]),
        (CE, [Some(CE), Some(CE), Some(CE), Some(CE)]),
    ];
    for (inner, row) in figure {
        for (outer, want) in outers.into_iter().zip(row) {
            assert_eq!(
                decap::decap_ecn(outer, inner),
                match want {
                    None => Err(DropReason::BadIpv4),
                    Some(w) if w == inner => Ok(None),
                    Some(w) => Ok(Some(w)),
                },
                "outer {outer} inner {inner}"
            );
            let what = format!("outer {outer}, inner {inner}");
            let f = vxlan_to_host(POD_IP, 0x20 | outer, 0xb8 | inner);
            let (v, b, st) = run_both(&ctx, &l, Side::Underlay, &f);
            let Some(want) = want else {
                assert_drop(&ctx, &l, Side::Underlay, &f, DropReason::BadIpv4);
                assert_eq!(st.counters.snapshot().decap, 0, "{what}");
                continue;
            };
            assert_eq!(v, Verdict::TxAccess, "{what}");
            let h = ep_ipv4(b.data(), 14);
            assert_eq!(
                (h.ecn.value(), h.dscp.value() << 2, h.time_to_live),
                (want, 0xb8, 63),
                "{what}"
            );
            // Toward another node: out in the new outer header.
            let mut g = f.clone();
            g[I_IP + 16..I_IP + 20].copy_from_slice(&[10, 244, 7, 5]);
            fix_ip(&mut g, I_IP);
            no_udp_csum(&mut g);
            let (v, b, _) = run_both(&ctx, &l, Side::Underlay, &g);
            assert_eq!(v, Verdict::TxUnderlay, "{what}");
            assert_eq!(ep_ipv4(b.data(), O_IP).ecn.value(), want, "{what}");
            assert_eq!(ep_ipv4(b.data(), I_IP).ecn.value(), want, "{what}");
        }
    }
}
