//! Encapsulation toward a remote VTEP (or plain routing with
//! DirectRouting), in place: the inner Ethernet header is rewritten, then
//! the 50 outer bytes are prepended into headroom from the context's
//! template. The payload is never copied.

use super::buf::PacketBuf;
use super::context::{Context, OUTER_LEN};
use super::drop_reason::DropReason;
use super::ipv4_checks::ip_view;
use super::lookup::{Lease, Lookup};
use super::route::{decrement_forwarded_ttl, forward_check, Onward, Origin};
use super::state::WorkerState;
use super::verdict::{Side, Verdict};
use crate::wire::ethernet::Frame;
use crate::wire::{ipv4, MacAddr};

/// The kernel's default ephemeral range (`ip_local_port_range`), which
/// flannel.1 spreads VXLAN source ports over.
pub const SRC_PORT_MIN: u16 = 32768;
pub const SRC_PORT_MAX: u16 = 60999;

/// A hash of the inner flow: addresses, protocol and, for TCP/UDP/SCTP
/// datagrams that are not fragments, the ports. Stable per flow; every
/// fragment of a datagram hashes alike. `ip` is a checked IPv4 packet.
pub fn flow_hash<T: AsRef<[u8]>>(ip: &ipv4::Packet<T>) -> u32 {
    let proto = ip.protocol();
    let ports = if has_ports(proto, ip.is_fragment()) {
        match ip.payload().get(..4) {
            Some(p) => u32::from_be_bytes([p[0], p[1], p[2], p[3]]),
            None => 0,
        }
    } else {
        0
    };
    flow_hash_of(ip.src_u32(), ip.dst_u32(), proto, ports)
}

/// Whether `flow_hash` mixes in the first four payload bytes (the ports).
#[inline(always)]
pub(crate) fn has_ports(proto: u8, fragment: bool) -> bool {
    matches!(
        proto,
        ipv4::protocol::TCP | ipv4::protocol::UDP | ipv4::protocol::SCTP
    ) && !fragment
}

/// `flow_hash` from the fields it reads (`ports`: the first four payload
/// bytes big-endian, or 0 where `flow_hash` ignores them).
#[inline(always)]
pub(crate) fn flow_hash_of(src: u32, dst: u32, proto: u8, ports: u32) -> u32 {
    // Two multiply-shift hashes, independent so they run side by side,
    // xored: the top half of a 64-bit product depends on (nearly) every
    // bit of its input, and `src_port` keeps mostly the top bits.
    let a = ((u64::from(src) << 32) | u64::from(dst)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let b = ((u64::from(ports) << 8) | u64::from(proto)).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    ((a ^ b) >> 32) as u32
}

/// Maps a flow hash onto SRC_PORT_MIN..=SRC_PORT_MAX as the kernel's
/// `udp_flow_src_port` does: `hash ^= hash << 16`, then scale.
#[inline]
pub fn src_port(hash: u32) -> u16 {
    let h = hash ^ (hash << 16);
    let span = u64::from(SRC_PORT_MAX - SRC_PORT_MIN) + 1;
    ((u64::from(h) * span) >> 32) as u16 + SRC_PORT_MIN
}

/// Sends a validated `[Ethernet][IPv4]` frame (padding trimmed) toward the
/// lease of its destination. `origin` says whether this is forwarding (TTL
/// decremented, ICMP errors on failure) or the gateway's own packet.
pub(crate) fn to_overlay<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
    origin: Origin,
    lease: Option<Lease>,
) -> Verdict {
    let Some(lease) = lease else {
        return Verdict::Drop(DropReason::NoRoute);
    };
    let (onward, ecn, sport) = match ip_view(buf) {
        Ok(ip) => (Onward::of(&ip), ip.ecn(), src_port(flow_hash(&ip))),
        Err(r) => return Verdict::Drop(r),
    };
    let public = u32::from(lease.public_ip);
    if ctx.direct_route(public) {
        // DirectRouting: plain routed IPv4 to the on-link node.
        return to_underlay_direct(ctx, lookup, st, buf, origin, public);
    }
    // The VTEP's route first: toward a VTEP the underlay cannot reach the
    // packet is dropped silently, not answered with time-exceeded or
    // fragmentation-needed about a way that does not exist.
    let Some(next_hop) = ctx.underlay_next_hop(public) else {
        return Verdict::Drop(DropReason::NoRoute);
    };
    let mtu = ctx.cfg.tunnel_mtu;
    if let Some(v) = forward_check(ctx, lookup, st, buf, origin, onward, mtu) {
        return v;
    }
    if buf.headroom() < OUTER_LEN {
        // Cannot build the TX frame: counted like a full TX queue.
        return Verdict::Drop(DropReason::TxFull);
    }
    decrement_forwarded_ttl(buf, origin);
    let mac = lookup.neighbor(Side::Underlay, next_hop);
    let mut f = Frame::new_unchecked(buf.data_mut());
    f.set_src(ctx.cfg.vtep_mac);
    f.set_dst(lease.vtep_mac);
    let inner_len = buf.len() as u16;
    let ident = st.take_ident();
    let Some(hdr) = buf.prepend(OUTER_LEN) else {
        return Verdict::Drop(DropReason::TxFull);
    };
    ctx.write_outer(
        hdr,
        mac.unwrap_or(MacAddr::ZERO),
        lease.public_ip,
        ident,
        sport,
        inner_len,
        ecn,
    );
    st.counters.encap();
    Verdict::send_or_hold(Side::Underlay, mac.is_some(), next_hop)
}

/// Sends a validated `[Ethernet][IPv4]` frame as plain routed IPv4 to
/// `next_hop`, on-link on the underlay: DirectRouting toward a node's
/// lease, and (with DirectRouting) toward a node's own address, which is
/// the source of what the node itself sends us that way.
pub(crate) fn to_underlay_direct<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    buf: &mut B,
    origin: Origin,
    next_hop: u32,
) -> Verdict {
    let onward = match ip_view(buf) {
        Ok(ip) => Onward::of(&ip),
        Err(r) => return Verdict::Drop(r),
    };
    let mtu = ctx.cfg.underlay_mtu;
    if let Some(v) = forward_check(ctx, lookup, st, buf, origin, onward, mtu) {
        return v;
    }
    decrement_forwarded_ttl(buf, origin);
    let mac = lookup.neighbor(Side::Underlay, next_hop);
    let mut f = Frame::new_unchecked(buf.data_mut());
    f.set_src(ctx.cfg.underlay_mac);
    f.set_dst(mac.unwrap_or(MacAddr::ZERO));
    // Counted as built, as encap is (sent, or held for its neighbour); the
    // gateway's own ICMP errors are slow-path `icmp`, not forwarded.
    if origin != Origin::Gateway {
        st.counters.routed();
    }
    Verdict::send_or_hold(Side::Underlay, mac.is_some(), next_hop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn udp_packet(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut b = vec![0u8; 28];
        ipv4::Repr {
            src: Ipv4Addr::from(src),
            dst: Ipv4Addr::from(dst),
            protocol: ipv4::protocol::UDP,
            payload_len: 8,
            ttl: 64,
            ident: 1,
            dont_frag: false,
            dscp_ecn: 0,
        }
        .emit(&mut b)
        .unwrap();
        b[20..22].copy_from_slice(&sport.to_be_bytes());
        b[22..24].copy_from_slice(&dport.to_be_bytes());
        b
    }

    #[test]
    fn src_port_stays_in_kernel_range_and_spreads() {
        assert_eq!(src_port(0), SRC_PORT_MIN);
        assert_eq!(src_port(0xffff_0000), SRC_PORT_MAX);
        let mut seen = std::collections::HashSet::new();
        for sp in 1000..3000u16 {
            let p = udp_packet([10, 244, 255, 10], [10, 244, 1, 36], sp, 80);
            let port = src_port(flow_hash(&ipv4::Packet::new_checked(&p[..]).unwrap()));
            assert!((SRC_PORT_MIN..=SRC_PORT_MAX).contains(&port));
            seen.insert(port / 1024);
        }
        // 2000 flows land in (nearly) every 1024-port bucket of the range.
        assert!(seen.len() >= 27, "only {} buckets", seen.len());
    }

    #[test]
    fn flow_hash_is_per_flow() {
        let a = udp_packet([10, 244, 255, 10], [10, 244, 1, 36], 5000, 80);
        let b = udp_packet([10, 244, 255, 10], [10, 244, 1, 36], 5001, 80);
        let h = |p: &Vec<u8>| flow_hash(&ipv4::Packet::new_checked(&p[..]).unwrap());
        assert_eq!(h(&a), h(&a.clone()));
        assert_ne!(h(&a), h(&b));
        // A fragment of the flow ignores ports: all fragments hash alike.
        let mut fa = a.clone();
        let mut fb = b.clone();
        for f in [&mut fa, &mut fb] {
            let mut p = ipv4::Packet::new_unchecked(&mut f[..]);
            p.set_frag(false, true, 0);
            p.fill_checksum();
        }
        assert_eq!(h(&fa), h(&fb));
    }
}
