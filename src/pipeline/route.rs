//! Routing a validated IPv4 frame by its destination (access port,
//! overlay, DirectRouting), and the checks a router makes before it
//! forwards (source, TTL, MTU, fragments following their datagram), with
//! where the packet came from (`Origin`) deciding what applies.

use super::buf::PacketBuf;
use super::context::Context;
use super::decap::to_access;
use super::drop_reason::{DropReason, SlowKind};
use super::encap::{to_overlay, to_underlay_direct};
use super::frag_order::DatagramKey;
use super::icmp_answers::reject;
use super::ipv4_checks::ip_view;
use super::lookup::{Lease, Lookup};
use super::slowpath::IcmpError;
use super::state::WorkerState;
use super::verdict::Verdict;
use crate::wire::ethernet;
use crate::wire::ipv4;

/// Where the packet being routed came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A host on the access port.
    Access,
    /// Decapsulated from a VXLAN tunnel.
    Tunnel,
    /// Plain routed IPv4 from the underlay (DirectRouting).
    Direct,
    /// Built by the gateway (ICMP replies and errors): no TTL decrement,
    /// never answered with an ICMP error.
    Gateway,
}

/// What `forward_check` needs of a packet's IPv4 header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Onward {
    pub ttl: u8,
    pub total: u16,
    pub df: bool,
    /// The datagram, when the packet is one of its fragments.
    pub fragment: Option<DatagramKey>,
}

impl Onward {
    pub(crate) fn of(ip: &ipv4::Packet<&[u8]>) -> Onward {
        Onward {
            ttl: ip.ttl(),
            total: ip.total_len(),
            df: ip.dont_frag(),
            fragment: ip
                .is_fragment()
                .then(|| DatagramKey::new(ip.src_u32(), ip.dst_u32(), ip.protocol(), ip.ident())),
        }
    }
}

/// The checks every forwarding path makes before it rewrites a packet, as
/// a router does: TTL (answered with time-exceeded) and the MTU of the way
/// out (frag-needed, or fragmentation by the slow path); a fragment of a
/// datagram that went to the slow path follows it there (`frag_order`).
/// `None`: forward.
pub(crate) fn forward_check<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
    origin: Origin,
    ip: Onward,
    mtu: u16,
) -> Option<Verdict> {
    if origin != Origin::Gateway && ip.ttl <= 1 {
        return Some(reject(
            ctx,
            lookup,
            st,
            buf,
            origin,
            IcmpError::TimeExceeded,
            DropReason::TtlExpired,
        ));
    }
    if ip.total > mtu {
        return Some(too_big(ctx, lookup, st, buf, origin, mtu, ip));
    }
    match ip.fragment {
        Some(key) if !st.in_slow_path && st.detoured.holds(key) => {
            Some(Verdict::Punt(SlowKind::Fragment))
        }
        _ => None,
    }
}

/// Decrements the TTL (checksum updated incrementally) unless the gateway
/// built the packet itself.
pub(crate) fn decrement_forwarded_ttl<B: PacketBuf>(buf: &mut B, origin: Origin) {
    if origin != Origin::Gateway {
        if let Some(ipb) = buf.data_mut().get_mut(ethernet::HEADER_LEN..) {
            ipv4::Packet::new_unchecked(ipb).decrement_ttl();
        }
    }
}

/// A packet larger than the MTU toward its next hop: with DF, dropped as
/// `mtu_exceeded` and answered with fragmentation-needed carrying `mtu`;
/// without DF, punted for the slow path to fragment, the gateway's own
/// packets too (echo replies, sent with DF clear as Linux's: the slow path
/// feeds their fragments back through `process_fragment`). A fragment
/// punted marks its datagram, whose later fragments follow it.
pub(crate) fn too_big<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
    origin: Origin,
    mtu: u16,
    ip: Onward,
) -> Verdict {
    if ip.df {
        reject(
            ctx,
            lookup,
            st,
            buf,
            origin,
            IcmpError::FragNeeded { mtu },
            DropReason::MtuExceeded,
        )
    } else {
        if let Some(key) = ip.fragment {
            st.detoured.mark(key);
        }
        Verdict::Punt(SlowKind::Fragment)
    }
}

/// Routes a validated `[Ethernet][IPv4]` frame by its destination: own
/// subnet to the access port, another lease into the overlay, else drop.
/// `lease` is the bulk-looked-up lease when the burst function has it. A
/// packet to forward whose source may not be forwarded
/// (`Context::forwardable_source`: martian, ours, or our own subnet's from
/// the underlay) is `bad_ipv4`, before anything could answer it; so is a
/// fragment whose data would end past byte 65535 of its datagram, which
/// the slow path could not fragment either (`Fragmenter::new`).
pub(crate) fn route<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
    origin: Origin,
    lease: Option<Option<Lease>>,
) -> Verdict {
    let (src, dst, past_end) = match ip_view(buf) {
        Ok(ip) => (ip.src_u32(), ip.dst_u32(), ip.ends_past_max_datagram()),
        Err(r) => return Verdict::Drop(r),
    };
    if origin != Origin::Gateway && !ctx.forwardable_source(src, origin != Origin::Access) {
        return Verdict::Drop(DropReason::BadIpv4);
    }
    if past_end {
        return Verdict::Drop(DropReason::BadIpv4);
    }
    if ctx.cfg.subnet.contains(dst) {
        if origin == Origin::Access && ctx.is_access_edge(dst) {
            // The segment's broadcast reached its hosts without us.
            return Verdict::Drop(DropReason::NotForUs);
        }
        // From a host too, back out of the access port, as a router does:
        // hosts configured with a longer prefix than the subnet's reach
        // the rest of it through us.
        return to_access(ctx, lookup, st, buf, origin);
    }
    if ctx.cfg.network.contains(dst) {
        let lease = match lease {
            Some(l) => l,
            None => lookup.lease(ctx.subnet_key(dst)),
        };
        return to_overlay(ctx, lookup, st, buf, origin, lease);
    }
    // With DirectRouting, a node sends us what it originates itself (not
    // its pods) from its own underlay address: answers to it, and ICMP
    // errors about it, go back the same way, as a flannel node's would.
    let on_link = ctx.cfg.underlay_prefix.contains(dst) && !ctx.is_directed_broadcast(dst);
    if ctx.cfg.direct_routing
        && on_link
        && matches!(origin, Origin::Access | Origin::Gateway)
        && !ctx.is_local(dst)
    {
        return to_underlay_direct(ctx, lookup, st, buf, origin, dst);
    }
    Verdict::Drop(DropReason::NoRoute)
}
