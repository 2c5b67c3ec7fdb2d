//! Entry points: classify a frame from either port and send it down the
//! right path (ARP, local ICMP, encap, decap, DirectRouting), plus the
//! burst function that runs each chunk through the fast paths
//! (`fastpath`) and the full per-packet path behind them, and the
//! accounting of what only the verdict tells. What those paths share lives
//! beside it: the Ethernet entry check (`l2_entry`), IPv4 validation
//! (`ipv4_checks`), routing and the router's checks (`route`), and the
//! gateway's own ICMP answers (`icmp_answers`).

use super::buf::PacketBuf;
use super::context::{never_a_source, Context};
use super::decap::decap;
use super::drop_reason::{DropReason, SlowKind};
use super::fastpath::{access_burst, underlay_burst};
use super::icmp_answers::local_deliver;
use super::ipv4_checks::{ip_view, ipv4_in};
use super::l2_entry::l2_entry;
use super::lookup::{Lease, Lookup};
use super::route::{route, Origin};
use super::slowpath::handle_arp;
use super::state::WorkerState;
use super::verdict::{Side, Verdict};
use crate::wire::ethernet::{ethertype, Frame};
use crate::wire::ipv4;

/// Packets per burst: the size of the stack arrays in `process_burst`.
pub const BURST: usize = 32;

/// Counts what only the verdict tells: drops, punts and held packets.
#[inline]
fn account(st: &WorkerState, v: Verdict) -> Verdict {
    match v {
        Verdict::Drop(r) => st.counters.dropped(r),
        Verdict::Punt(k) => st.counters.slowpath(k),
        Verdict::Hold { .. } => st.counters.slowpath(SlowKind::Arp),
        Verdict::TxUnderlay | Verdict::TxAccess | Verdict::Reply(_) => {}
    }
    v
}

/// A frame received on the access port.
pub fn process_access<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
) -> Verdict {
    access_fallback(ctx, lookup, st, buf, None)
}

fn access<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
    lease: Option<Option<Lease>>,
) -> Verdict {
    match l2_entry(buf, ctx.cfg.access_mac) {
        Err(r) => return Verdict::Drop(r),
        Ok(None) => return arp(ctx, lookup, st, Side::Access, buf),
        Ok(Some(())) => {}
    }
    let dst = match ipv4_in(buf) {
        Ok((_, d)) => d,
        Err(r) => return Verdict::Drop(r),
    };
    if ctx.is_local(dst) {
        return local_deliver(ctx, lookup, st, buf, Some(Side::Access));
    }
    route(ctx, lookup, st, buf, Origin::Access, lease)
}

/// ARP: answered in place, punted or dropped (`handle_arp`); the lookup
/// tells whether a request's sender is a known neighbour that moved.
fn arp<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &WorkerState,
    side: Side,
    buf: &mut B,
) -> Verdict {
    let v = handle_arp(ctx, lookup, side, buf);
    if let Verdict::Reply(_) = v {
        st.counters.slowpath(SlowKind::Arp);
    }
    v
}

/// A frame received on the underlay port.
pub fn process_underlay<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
) -> Verdict {
    let v = underlay(ctx, lookup, st, buf);
    account(st, v)
}

fn underlay<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
) -> Verdict {
    match l2_entry(buf, ctx.cfg.underlay_mac) {
        Err(r) => return Verdict::Drop(r),
        Ok(None) => return arp(ctx, lookup, st, Side::Underlay, buf),
        Ok(Some(())) => {}
    }
    let (src, dst) = match ipv4_in(buf) {
        Ok(a) => a,
        Err(r) => return Verdict::Drop(r),
    };
    if dst != u32::from(ctx.cfg.underlay_ip) {
        if ctx.cfg.direct_routing && ctx.cfg.subnet.contains(dst) {
            if dst == u32::from(ctx.cfg.access_ip) {
                return local_deliver(ctx, lookup, st, buf, Some(Side::Underlay));
            }
            return route(ctx, lookup, st, buf, Origin::Direct, None);
        }
        return Verdict::Drop(DropReason::NotForUs);
    }
    // Addressed to us (VXLAN, an echo request): never from an address
    // that is never a source (Linux drops it as a martian at the route
    // lookup, before the fragment or the protocol is looked at).
    if never_a_source(src) {
        return Verdict::Drop(DropReason::BadIpv4);
    }
    let (fragment, proto) = match ip_view(buf) {
        Ok(ip) => (ip.is_fragment(), ip.protocol()),
        Err(r) => return Verdict::Drop(r),
    };
    // A fragment of ICMP to us (a large ping from a node) goes to
    // `local_deliver`, which punts it to be reassembled; any other, VXLAN
    // among them, is an outer fragment, never reassembled.
    if fragment && proto != ipv4::protocol::ICMP {
        return Verdict::Drop(DropReason::OuterFragment);
    }
    match proto {
        ipv4::protocol::UDP => decap(ctx, lookup, st, buf),
        ipv4::protocol::ICMP => local_deliver(ctx, lookup, st, buf, Some(Side::Underlay)),
        _ => Verdict::Drop(DropReason::NotForUs),
    }
}

/// An inner `[Ethernet][IPv4]` frame that came out of a tunnel (or was
/// direct-routed) and was fragmented by the slow path: validated and routed
/// like a freshly decapsulated packet (not counted as a decap again).
pub fn process_decapped<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
) -> Verdict {
    let v = decapped(ctx, lookup, st, buf);
    account(st, v)
}

fn decapped<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
) -> Verdict {
    match Frame::new_checked(buf.data()) {
        Err(_) => return Verdict::Drop(DropReason::Truncated),
        Ok(f) if f.ethertype() != ethertype::IPV4 => return Verdict::Drop(DropReason::NotIpv4),
        Ok(_) => {}
    }
    let dst = match ipv4_in(buf) {
        Ok((_, d)) => d,
        Err(r) => return Verdict::Drop(r),
    };
    if ctx.is_local(dst) {
        return local_deliver(ctx, lookup, st, buf, None);
    }
    route(ctx, lookup, st, buf, Origin::Tunnel, None)
}

/// A fragment the slow path cut from a frame punted to it
/// (`Punt(Fragment)`) after a worker received that frame on `rx`, fed
/// back into the pipeline. The gateway's own packets (an echo reply too
/// big for its way back) are routed as the gateway's: no TTL decrement,
/// no source check. They are told by their source, one of our addresses,
/// which no forwarded packet carries past `route`'s source check.
/// Fragments of forwarded packets go where their frame came in:
/// `process_access` from the access port; from the underlay
/// `process_decapped` (an inner frame, to our VtepMAC), or, for plain IPv4
/// by DirectRouting (to the underlay port's MAC), `process_underlay`,
/// which routes and counts them as routed, as the packet would have been.
pub fn process_fragment<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    rx: Side,
    buf: &mut B,
) -> Verdict {
    let own = ip_view(buf).is_ok_and(|ip| ctx.is_local(ip.src_u32()));
    if !own {
        // Plain IPv4 reaches here from the underlay only by DirectRouting.
        let plain = ctx.cfg.direct_routing && !ctx.decapsulated(buf.data());
        return match rx {
            Side::Access => process_access(ctx, lookup, st, buf),
            Side::Underlay if plain => process_underlay(ctx, lookup, st, buf),
            Side::Underlay => process_decapped(ctx, lookup, st, buf),
        };
    }
    let v = match Frame::new_checked(buf.data()) {
        Ok(f) if f.ethertype() == ethertype::IPV4 => match ipv4_in(buf) {
            Ok(_) => route(ctx, lookup, st, buf, Origin::Gateway, None),
            Err(r) => Verdict::Drop(r),
        },
        _ => Verdict::Drop(DropReason::NotIpv4),
    };
    account(st, v)
}

/// A frame from the access port that the fast path passed over, through
/// the full path; `lease` is the burst's lookup of its lease key, if made.
/// Out of line and cold, as `underlay_fallback`: inlined into the burst
/// loop, the full path's code shaped the fast path's (its registers,
/// what is set up per packet), so that growing it cost the fast path
/// instructions it never runs (taking priority tags in `untag_priority`:
/// +4.8 a packet on encap, +1.6 on decap, bench/profile.sh; called out of
/// line but not cold: +1.8 and -1.0); with both cold, -4.2 and -1.3.
#[cold]
#[inline(never)]
pub(crate) fn access_fallback<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
    lease: Option<Option<Lease>>,
) -> Verdict {
    let v = access(ctx, lookup, st, buf, lease);
    account(st, v)
}

/// A frame from the underlay port that the fast path passed over, through
/// the full path (`process_underlay`), kept out of the burst loop as
/// `access_fallback` is.
#[cold]
#[inline(never)]
pub(crate) fn underlay_fallback<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
) -> Verdict {
    process_underlay(ctx, lookup, st, buf)
}

/// Processes a burst received on `rx`, writing one verdict per buffer.
/// Handles `min(bufs.len(), verdicts.len())` buffers, in chunks of
/// [`BURST`], and returns that count. Each chunk goes through the burst
/// fast path (`fastpath`), which sends what is not the common case down
/// the full per-packet path.
pub fn process_burst<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    rx: Side,
    bufs: &mut [B],
    verdicts: &mut [Verdict],
) -> usize {
    let n = bufs.len().min(verdicts.len());
    for (bchunk, vchunk) in bufs[..n]
        .chunks_mut(BURST)
        .zip(verdicts[..n].chunks_mut(BURST))
    {
        match rx {
            Side::Underlay => underlay_burst(ctx, lookup, st, bchunk, vchunk),
            Side::Access => access_burst(ctx, lookup, st, bchunk, vchunk),
        };
    }
    n
}
