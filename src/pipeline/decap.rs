//! Decapsulation (underlay -> access): every SPEC check in order, each with
//! its own drop reason, then the 50 outer bytes are stripped in place and
//! the inner packet is routed (to the access port or back into the overlay).
//! Also delivery to the access port, shared with DirectRouting.

use super::buf::PacketBuf;
use super::classify::{
    check_ipv4, decrement_forwarded_ttl, decrement_ttl, forward_check, header_checksum_ok, ip_view,
    local_deliver, route, trim_to, NeighborCache, Origin,
};
use super::context::Context;
use super::drop_reason::DropReason;
use super::lookup::{Lookup, VtepMatch};
use super::state::WorkerState;
use super::verdict::{Side, Verdict};
use crate::wire::ethernet::{self, ethertype, Frame};
use crate::wire::{ipv4, udp, vxlan, MacAddr};
use std::net::Ipv4Addr;

/// Checks a VXLAN datagram whose outer Ethernet and IPv4 headers are
/// already valid, addressed to us, unfragmented and trimmed, then strips
/// the outer headers and routes the inner packet.
pub(crate) fn decap<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
) -> Verdict {
    let (outer_len, inner_frame_len) = match check_vxlan(ctx, lookup, buf.data()) {
        Ok(lens) => lens,
        Err(r) => return Verdict::Drop(r),
    };
    if !trim_to(buf, outer_len + inner_frame_len) || !buf.adj(outer_len) {
        return Verdict::Drop(DropReason::Truncated);
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

/// The common case of a frame from the underlay in one pass: an
/// option-less, unfragmented outer IPv4/UDP packet to our address and
/// VXLAN port with a zero or correct UDP checksum, strict VXLAN flags and our VNI, from a known
/// VTEP with its VtepMAC, carrying an option-less inner IPv4 packet with a
/// good checksum and TTL above 1 to a host of our subnet whose MAC is
/// known. Everything is checked before anything is written; `None` means
/// "not the common case": the buffer is untouched and the caller runs the
/// full path (`process_underlay`), which gives the same verdict, bytes and
/// counts (unit test `fast_paths_match_full_paths`).
#[inline(always)]
///
/// `vtep` is the burst function's `vtep_match` of the outer source address
/// (bytes 26..30) and the inner source MAC (bytes 56..62).
pub(crate) fn fast_decap<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    st: &mut WorkerState,
    buf: &mut B,
    vtep: Option<VtepMatch>,
    neighbors: &mut NeighborCache,
    lookup: &L,
) -> Option<Verdict> {
    if vtep != Some(VtepMatch::Ok) {
        return None;
    }
    let data = buf.data();
    let len = data.len();
    let h: &[u8; 84] = data.get(..84)?.try_into().ok()?;
    if h[12..14] != [0x08, 0x00] || h[0..6] != ctx.cfg.underlay_mac.0 {
        return None;
    }
    let oip: &[u8; 20] = h[14..34].try_into().ok()?;
    let total = usize::from(u16::from_be_bytes([oip[2], oip[3]]));
    if oip[0] != 0x45 || oip[9] != ipv4::protocol::UDP || total < 20 || total + 14 > len {
        return None;
    }
    let odst = u32::from_be_bytes([oip[16], oip[17], oip[18], oip[19]]);
    let fragment = u16::from_be_bytes([oip[6], oip[7]]) & 0x3fff != 0;
    if odst != u32::from(ctx.cfg.underlay_ip) || fragment || !header_checksum_ok(oip) {
        return None;
    }
    // UDP: our port, length exactly the IPv4 payload, checksum zero or right.
    let udp_len = usize::from(u16::from_be_bytes([h[38], h[39]]));
    let dport = u16::from_be_bytes([h[36], h[37]]);
    if dport != ctx.cfg.udp_port || udp_len != total - 20 {
        return None;
    }
    if h[40..42] != [0, 0] {
        let u = udp::Packet::new_checked(data.get(34..34 + udp_len)?).ok()?;
        let src = Ipv4Addr::new(oip[12], oip[13], oip[14], oip[15]);
        if !u.checksum_ok(src, ctx.cfg.underlay_ip) {
            return None;
        }
    }
    // VXLAN: the I flag only, reserved bytes zero, our VNI.
    if h[42..46] != [0x08, 0, 0, 0] || h[49] != 0 {
        return None;
    }
    if u32::from_be_bytes([0, h[46], h[47], h[48]]) != ctx.cfg.vni.get() {
        return None;
    }
    // Inner Ethernet to our VtepMAC, IPv4.
    if h[50..56] != ctx.cfg.vtep_mac.0 || h[62..64] != [0x08, 0x00] {
        return None;
    }
    let iip: &[u8; 20] = h[64..84].try_into().ok()?;
    let itotal = usize::from(u16::from_be_bytes([iip[2], iip[3]]));
    let inner_room = udp_len.checked_sub(udp::HEADER_LEN + vxlan::HEADER_LEN + 14)?;
    if iip[0] != 0x45 || itotal < 20 || itotal > inner_room || iip[8] <= 1 {
        return None;
    }
    if itotal > usize::from(ctx.cfg.access_mtu) || !header_checksum_ok(iip) {
        return None;
    }
    let idst = u32::from_be_bytes([iip[16], iip[17], iip[18], iip[19]]);
    let subnet = ctx.cfg.subnet;
    if !subnet.contains(idst)
        || ctx.is_local(idst)
        || idst == subnet.addr_u32()
        || idst == subnet.broadcast()
    {
        return None;
    }
    let mac = neighbors.get(lookup, idst)?;
    // From here on, exactly what `decap` and `to_access` do, in their order.
    let outer_len = ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN + vxlan::HEADER_LEN;
    if !trim_to(buf, outer_len + ethernet::HEADER_LEN + itotal) {
        return None;
    }
    if !buf.adj(outer_len) {
        st.counters.dropped(DropReason::Truncated);
        return Some(Verdict::Drop(DropReason::Truncated));
    }
    st.counters.decap();
    decrement_ttl(buf.data_mut());
    let mut f = Frame::new_unchecked(buf.data_mut());
    f.set_src(ctx.cfg.access_mac);
    f.set_dst(mac);
    Some(Verdict::TxAccess)
}

/// The checks, in order. Returns the outer header length and the inner
/// frame length (inner Ethernet + IPv4 total length).
fn check_vxlan<L: Lookup>(
    ctx: &Context,
    lookup: &L,
    frame: &[u8],
) -> Result<(usize, usize), DropReason> {
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
    if inner.ethertype() != ethertype::IPV4 {
        return Err(DropReason::NotIpv4);
    }
    let inner_total = check_ipv4(inner.payload())?;
    let outer_len = ethernet::HEADER_LEN + ip.header_len() + udp::HEADER_LEN + vxlan::HEADER_LEN;
    Ok((outer_len, ethernet::HEADER_LEN + inner_total))
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
    let (dst, ttl, total, df) = match ip_view(buf) {
        Ok(ip) => (ip.dst_u32(), ip.ttl(), ip.total_len(), ip.dont_frag()),
        Err(r) => return Verdict::Drop(r),
    };
    let subnet = ctx.cfg.subnet;
    if dst == subnet.addr_u32() || dst == subnet.broadcast() {
        // No directed broadcasts onto the access segment.
        return Verdict::Drop(DropReason::NoRoute);
    }
    let mtu = ctx.cfg.access_mtu;
    if let Some(v) = forward_check(ctx, lookup, st, buf, origin, ttl, total, df, mtu) {
        return v;
    }
    decrement_forwarded_ttl(buf, origin);
    let mac = lookup.neighbor(Side::Access, dst);
    let mut f = Frame::new_unchecked(buf.data_mut());
    f.set_src(ctx.cfg.access_mac);
    f.set_dst(mac.unwrap_or(MacAddr::ZERO));
    match mac {
        Some(_) => Verdict::TxAccess,
        None => Verdict::Hold {
            side: Side::Access,
            next_hop: dst,
        },
    }
}
