//! Decapsulation (underlay -> access): every SPEC check in order, each with
//! its own drop reason, then the 50 outer bytes are stripped in place and
//! the inner packet is routed (to the access port or back into the overlay).
//! Also delivery to the access port, shared with DirectRouting.

use super::buf::PacketBuf;
use super::context::Context;
use super::drop_reason::DropReason;
use super::icmp_answers::local_deliver;
use super::ipv4_checks::{check_ipv4, ip_view, trim_to};
use super::lookup::{Lookup, VtepMatch};
use super::route::{decrement_forwarded_ttl, forward_check, route, Onward, Origin};
use super::state::WorkerState;
use super::verdict::{Side, Verdict};
use crate::wire::ethernet::{self, ethertype, Frame};
use crate::wire::{ipv4, udp, vxlan, MacAddr};

/// Checks a VXLAN datagram whose outer Ethernet and IPv4 headers are
/// already valid, addressed to us, unfragmented and trimmed, then strips
/// the outer headers and routes the inner packet.
pub(crate) fn decap<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
) -> Verdict {
    let (outer_len, inner_frame_len, new_ecn) = match check_vxlan(ctx, lookup, buf.data()) {
        Ok(c) => c,
        Err(r) => return Verdict::Drop(r),
    };
    if !trim_to(buf, outer_len + inner_frame_len) || !buf.adj(outer_len) {
        return Verdict::Drop(DropReason::Truncated);
    }
    if let Some(e) = new_ecn {
        if let Some(ipb) = buf.data_mut().get_mut(ethernet::HEADER_LEN..) {
            // A header `check_vxlan` validated: at least 20 bytes.
            ipv4::Packet::new_unchecked(ipb).set_ecn(e);
        }
    }
    st.counters.decap();
    let dst = match ip_view(buf) {
        Ok(ip) => ip.dst_u32(),
        Err(r) => return Verdict::Drop(r),
    };
    if ctx.is_local(dst) {
        return local_deliver(ctx, lookup, st, buf, None);
    }
    route(ctx, lookup, st, buf, Origin::Tunnel, None)
}

/// The inner packet's ECN field after decapsulation (RFC 6040 section
/// 4.2, figure 4; Linux's `INET_ECN_decapsulate`), from the outer and
/// inner ECN fields: `Ok(None)` unchanged, `Ok(Some(e))` set to `e`,
/// `Err(bad_ipv4)` for congestion experienced outside on a packet whose
/// transport does not understand ECN (it cannot be told: dropped, as
/// the kernel's VXLAN does). Outer CE marks an ECN-capable inner packet
/// CE; outer ECT(1) makes an inner ECT(0) ECT(1) (the figure's one other
/// change, which Linux makes since 5.10); anything else leaves the inner
/// field as it is.
pub(crate) fn decap_ecn(outer: u8, inner: u8) -> Result<Option<u8>, DropReason> {
    use ipv4::ecn::{CE, ECT0, ECT1, MASK, NOT_ECT};
    match (outer & MASK, inner & MASK) {
        (CE, NOT_ECT) => Err(DropReason::BadIpv4),
        (CE, ECT0 | ECT1) => Ok(Some(CE)),
        (ECT1, ECT0) => Ok(Some(ECT1)),
        _ => Ok(None),
    }
}

/// The checks, in order. Returns the outer header length, the inner
/// frame length (inner Ethernet + IPv4 total length) and the inner ECN
/// field to write (`decap_ecn`).
fn check_vxlan<L: Lookup>(
    ctx: &Context,
    lookup: &L,
    frame: &[u8],
) -> Result<(usize, usize, Option<u8>), DropReason> {
    let outer_ip = frame
        .get(ethernet::HEADER_LEN..)
        .ok_or(DropReason::Truncated)?;
    let ip = ipv4::Packet::new_checked(outer_ip).map_err(|_| DropReason::Truncated)?;
    let u = udp::Packet::new_checked(ip.payload()).map_err(|_| DropReason::Truncated)?;
    if u.dst_port() != ctx.cfg.udp_port {
        return Err(DropReason::NotForUs);
    }
    if !u.checksum_ok(ip.src(), ip.dst()) {
        return Err(DropReason::BadChecksum);
    }
    let vx = vxlan::Packet::new_checked(u.payload()).map_err(|_| DropReason::Truncated)?;
    if !vx.flags_strict_ok() {
        return Err(DropReason::BadVxlanFlags);
    }
    if vx.vni() != ctx.cfg.vni {
        return Err(DropReason::UnknownVni);
    }
    let inner = Frame::new_checked(vx.payload()).map_err(|_| DropReason::Truncated)?;
    match lookup.vtep_match(ip.src_u32(), inner.src()) {
        VtepMatch::UnknownVtep => return Err(DropReason::UnknownVtep),
        VtepMatch::WrongMac => return Err(DropReason::SpoofedInnerMac),
        VtepMatch::Ok => {}
    }
    if inner.dst() != ctx.cfg.vtep_mac {
        return Err(DropReason::WrongInnerDstMac);
    }
    // A tagged inner frame, priority tag or not, is not IPv4: flannel.1
    // never sends one (docs/pipeline.md, 802.1Q; only the ports' outer
    // priority tags are taken as untagged).
    if inner.ethertype() != ethertype::IPV4 {
        return Err(DropReason::NotIpv4);
    }
    let inner_total = check_ipv4(inner.payload())?;
    // The TOS byte of the header `check_ipv4` just validated.
    let inner_ecn = inner
        .payload()
        .get(1)
        .map_or(0, |tos| tos & ipv4::ecn::MASK);
    let new_ecn = decap_ecn(ip.ecn(), inner_ecn)?;
    let outer_len = ethernet::HEADER_LEN + ip.header_len() + udp::HEADER_LEN + vxlan::HEADER_LEN;
    Ok((outer_len, ethernet::HEADER_LEN + inner_total, new_ecn))
}

/// Delivers a validated `[Ethernet][IPv4]` frame whose destination is in
/// the gateway's subnet to that host on the access port.
pub(crate) fn to_access<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
    origin: Origin,
) -> Verdict {
    let (dst, onward) = match ip_view(buf) {
        Ok(ip) => (ip.dst_u32(), Onward::of(&ip)),
        Err(r) => return Verdict::Drop(r),
    };
    if ctx.is_access_edge(dst) {
        // No directed broadcasts onto the access segment.
        return Verdict::Drop(DropReason::NoRoute);
    }
    let mtu = ctx.cfg.access_mtu;
    if let Some(v) = forward_check(ctx, lookup, st, buf, origin, onward, mtu) {
        return v;
    }
    decrement_forwarded_ttl(buf, origin);
    let mac = lookup.neighbor(Side::Access, dst);
    let mut f = Frame::new_unchecked(buf.data_mut());
    f.set_src(ctx.cfg.access_mac);
    f.set_dst(mac.unwrap_or(MacAddr::ZERO));
    if matches!(origin, Origin::Direct | Origin::Access) {
        // Plain IPv4 from a node by DirectRouting, or from a host back to
        // another host: no decap counts it.
        st.counters.routed();
    }
    Verdict::send_or_hold(Side::Access, mac.is_some(), dst)
}
