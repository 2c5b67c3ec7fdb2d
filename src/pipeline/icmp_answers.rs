//! The gateway's own ICMP on the full path: echo replies to packets for
//! one of its addresses (`local_deliver`) and, rate limit permitting, the
//! ICMP error for a packet it drops (`reject`), each built in place and
//! sent back the way its sender is reached.

use super::buf::PacketBuf;
use super::context::Context;
use super::drop_reason::{DropReason, SlowKind};
use super::ipv4_checks::ip_view;
use super::lookup::Lookup;
use super::route::{route, Origin};
use super::slowpath::{echo_reply_in_place, icmp_error_allowed, icmp_error_in_place, IcmpError};
use super::state::WorkerState;
use super::verdict::{Side, Verdict};
use crate::wire::{ipv4, MacAddr};

/// Drops the packet under `reason` and, rate limit permitting, turns the
/// buffer into an ICMP error back to its sender: out of the access port
/// for hosts, routed back through the overlay for everyone else.
pub(crate) fn reject<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
    origin: Origin,
    kind: IcmpError,
    reason: DropReason,
) -> Verdict {
    if origin == Origin::Gateway {
        return Verdict::Drop(reason);
    }
    match ip_view(buf) {
        Ok(ip) if icmp_error_allowed(&ip) && ctx.icmp_error_to(ip.src_u32(), ip.dst_u32()) => {}
        _ => return Verdict::Drop(reason),
    }
    let limiter = match kind {
        IcmpError::TimeExceeded => &mut st.icmp_limiter,
        IcmpError::FragNeeded { .. } => &mut st.pmtu_limiter,
    };
    if !limiter.allow(st.now_ns) {
        return Verdict::Drop(reason);
    }
    // The error's IPv4 ident comes from the worker's sequence (the one
    // its outer headers use), taken only when an error is built.
    let ident = st.next_ident;
    let room = ctx.icmp_error_room();
    if !icmp_error_in_place(
        buf,
        ctx.cfg.access_mac,
        ctx.cfg.access_ip,
        kind,
        ident,
        room,
    ) {
        return Verdict::Drop(reason);
    }
    st.take_ident();
    let v = match origin {
        Origin::Access => match readdress_reply(ctx, lookup, buf, Side::Access) {
            Some(v) => v,
            None => return Verdict::Drop(reason),
        },
        _ => route(ctx, lookup, st, buf, Origin::Gateway, None),
    };
    let v = match v {
        Verdict::Drop(_) => return Verdict::Drop(reason),
        Verdict::Hold { side, next_hop, .. } => Verdict::Hold {
            side,
            next_hop,
            answers_drop: true,
        },
        v => v,
    };
    st.counters.dropped(reason);
    st.counters.slowpath(SlowKind::Icmp);
    v
}

/// A validated IPv4 frame to one of our addresses: echo requests are
/// answered in place (sent back out `reply_side`, or routed back through
/// the overlay when they came through a tunnel); fragments of ICMP
/// datagrams are punted to be reassembled by the slow path
/// (`reassembly`), after the same source checks; everything else is not
/// for us. A source that is never one, or (from the underlay: a tunnel or
/// `reply_side` underlay) of our own subnet, is `bad_ipv4`, as for a
/// packet to forward (`Context::deliverable_source`).
pub(crate) fn local_deliver<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
    reply_side: Option<Side>,
) -> Verdict {
    let mac = ctx.port_mac(reply_side.unwrap_or(Side::Access));
    let from_underlay = reply_side != Some(Side::Access);
    match ip_view(buf) {
        Ok(ip) if !ctx.deliverable_source(ip.src_u32(), from_underlay) => {
            return Verdict::Drop(DropReason::BadIpv4)
        }
        // No reply to an address that names no single host (it would go
        // to a broadcast, or to nobody).
        Ok(ip) if !ctx.is_peer(ip.src_u32()) => return Verdict::Drop(DropReason::NotForUs),
        // A fragment of an ICMP datagram (a large ping): reassembled and
        // answered by the slow path (`reassembly`), which copies it out.
        Ok(ip) if ip.is_fragment() && ip.protocol() == ipv4::protocol::ICMP => {
            return Verdict::Punt(SlowKind::Fragment)
        }
        Ok(_) => {}
        Err(r) => return Verdict::Drop(r),
    }
    // The reply's ident is the next of the worker's sequence (DF clear:
    // unique among the gateway's datagrams, RFC 6864), taken only when a
    // reply is built.
    if let Err(r) = echo_reply_in_place(buf, mac, st.next_ident) {
        return Verdict::Drop(r);
    }
    st.take_ident();
    let v = match reply_side {
        // No host to answer: the request came from a group or our own
        // MAC, and its source address is no resolved neighbour.
        Some(side) => match readdress_reply(ctx, lookup, buf, side) {
            Some(v) => v,
            None => return Verdict::Drop(DropReason::NotForUs),
        },
        None => route(ctx, lookup, st, buf, Origin::Gateway, None),
    };
    st.counters.slowpath(SlowKind::Icmp);
    v
}

/// Points a reply built in place (its Ethernet destination the frame's
/// source MAC, its IPv4 destination the frame's source address) at the
/// host it answers, as a router's reply goes by its neighbour table: the
/// resolved neighbour of that address on `side`, else the frame's source
/// MAC when that names one host (not a group address, not zero, not our
/// port's own). `None`: no host to send it to. Without this a frame from
/// a broadcast source MAC had every reply to it broadcast on the segment.
pub(crate) fn readdress_reply<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    buf: &mut B,
    side: Side,
) -> Option<Verdict> {
    let ip = ip_view(buf).ok()?.dst_u32();
    let frame_src = MacAddr::from_slice(buf.data().get(..6)?);
    let mac = lookup.neighbor(side, ip).or_else(|| {
        let one_host =
            frame_src.is_unicast() && frame_src != MacAddr::ZERO && frame_src != ctx.port_mac(side);
        one_host.then_some(frame_src)
    })?;
    buf.data_mut().get_mut(..6)?.copy_from_slice(&mac.0);
    Some(Verdict::Reply(side))
}
