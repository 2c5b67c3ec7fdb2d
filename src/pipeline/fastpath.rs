//! The fast paths, a burst at a time, in three passes: check every header
//! of the burst (reads only), look the whole burst up in the tables with
//! one masked call, then rewrite the packets that passed. A packet that is
//! not the common case at any point is left untouched and takes the full
//! per-packet path (`process_access` / `process_underlay`), which alone
//! decides drops, ICMP errors, punts and held packets. The unit test
//! `fastpath::tests::fast_paths_match_full_paths` holds both to the same
//! verdict, bytes and counters.
//!
//! Why passes: a packet's work is a chain of dependent steps (parse, hash,
//! probe, write); done packet by packet the core waits on each chain in
//! turn, done pass by pass the chains of 32 packets overlap, and the table
//! probes of a burst are all in flight together.

use super::buf::{Front, PacketBuf};
use super::classify::{access_fallback, underlay_fallback, BURST};
use super::context::{mask, Context, Prefix, MAYBE_NEVER_A_SOURCE, OUTER_LEN};
use super::drop_reason::DropReason;
use super::encap::{flow_hash_of, has_ports, src_port};
use super::fast_headers::{forward_rewrite, header_checksum_ok};
use super::lookup::{Lease, Lookup};
use super::neighbor_cache::NeighborCache;
use super::state::WorkerState;
use super::verdict::{Side, Verdict};
use crate::wire::ethernet;
use crate::wire::{ipv4, udp, vxlan, MacAddr};
use std::net::Ipv4Addr;

/// Bytes the encap header pass reads: Ethernet, option-less IPv4, ports.
const ENCAP_HDR: usize = 38;
/// Bytes the decap header pass reads: outer Ethernet/IPv4/UDP/VXLAN (50),
/// inner Ethernet (14) and option-less inner IPv4 (20).
const DECAP_HDR: usize = 84;
/// Bytes of an `[Ethernet][IPv4]` frame a router rewrites (`forward_rewrite`).
const REWRITTEN: usize = 26;
/// Outer headers decap strips.
const DECAP_OUTER: usize =
    ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN + vxlan::HEADER_LEN;

/// The bytes around the start of a frame received on `side` that its fast
/// path reads or writes, as (before the data, into it): the outer headers'
/// room and the headers encap checks; the headers decap checks (its
/// rewrite lies inside them). The worker prefetches them for the burst.
pub(crate) const fn touched(side: Side) -> (usize, usize) {
    match side {
        Side::Access => (OUTER_LEN, ENCAP_HDR),
        Side::Underlay => (0, DECAP_HDR),
    }
}

/// The low 48 bits of a little-endian word: a MAC address.
const MAC_BITS: u64 = (1 << 48) - 1;
/// Ethertype IPv4 and an option-less IPv4 version/IHL byte, as the three
/// bytes they are on the wire read little-endian.
const IPV4_NO_OPTIONS: u64 = 0x45_00_08;
/// The low bit of the TOS byte that follows them: set in the ECN
/// codepoints ECT(1) and CE, the two whose decapsulation may change the
/// inner packet or drop it (RFC 6040), which decap leaves to the full path.
const ECN_LOW_BIT: u64 = 0x01_00_00_00;

/// The MF flag and the fragment offset of an IPv4 header's bytes 6..8.
const FRAGMENT_BITS: u16 = 0x3fff;

/// The 8 bytes at `at` of a fixed-size header as a little-endian word:
/// several header fields compared in one go.
#[inline(always)]
fn word<const N: usize>(h: &[u8; N], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&h[at..at + 8]);
    u64::from_le_bytes(w)
}

/// What the encap header pass keeps of a candidate.
#[derive(Clone, Copy, Default)]
struct EncapMeta {
    /// Inner IPv4 total length.
    total: u16,
    /// Outer UDP source port (from the inner flow hash).
    sport: u16,
}

/// The configuration the encap header pass compares against, hoisted
/// out of the packet loop.
struct EncapConsts {
    mac: u64,
    tunnel_mtu: u16,
    network: Prefix,
    subnet: Prefix,
    subnet_mask: u32,
    underlay_ip: u32,
    access_ip: u32,
    /// Our subnet's network and broadcast addresses (never a source).
    subnet_edges: (u32, u32),
}

impl EncapConsts {
    #[inline(always)]
    fn new(ctx: &Context) -> EncapConsts {
        EncapConsts {
            mac: ctx.cfg.access_mac.to_word(),
            tunnel_mtu: ctx.cfg.tunnel_mtu,
            network: ctx.cfg.network,
            subnet: ctx.cfg.subnet,
            subnet_mask: mask(ctx.cfg.subnet_len),
            underlay_ip: u32::from(ctx.cfg.underlay_ip),
            access_ip: u32::from(ctx.cfg.access_ip),
            subnet_edges: (ctx.cfg.subnet.addr_u32(), ctx.cfg.subnet.broadcast()),
        }
    }

    /// The lease key and what the write pass needs, for a frame from the
    /// access port that is an option-less, unfragmented IPv4 packet (a
    /// fragment may have to follow its datagram: `frag_order`) to our MAC
    /// with a good header checksum, TTL above 1, within the tunnel MTU, from a
    /// source that may be forwarded (`Context::forwardable_source`; not
    /// from 255/8 either, `MAYBE_NEVER_A_SOURCE`) to another lease's
    /// subnet. `None`: not the common case.
    #[inline(always)]
    fn candidate(&self, data: &[u8]) -> Option<(u32, EncapMeta)> {
        let h: &[u8; ENCAP_HDR] = data.get(..ENCAP_HDR)?.try_into().ok()?;
        let ip: &[u8; 20] = h[14..34].try_into().ok()?;
        let total = u16::from_be_bytes([ip[2], ip[3]]);
        // Destination MAC (bytes 0..6); ethertype and version/IHL (12..15).
        let ok = word(h, 0) & MAC_BITS == self.mac
            && (word(h, 8) >> 32) & 0xff_ffff == IPV4_NO_OPTIONS
            && total >= 20
            && usize::from(total) + ethernet::HEADER_LEN <= data.len()
            && total <= self.tunnel_mtu
            && u16::from_be_bytes([ip[6], ip[7]]) & FRAGMENT_BITS == 0
            && ip[8] > 1;
        if !ok || !header_checksum_ok(ip) {
            return None;
        }
        let src = u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]);
        let dst = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]);
        // Destination another lease's (our access address is inside our
        // subnet: `Context::new`), source one that may be forwarded, in
        // one branch.
        let not_ours = !self.network.contains(dst)
            | self.subnet.contains(dst)
            | (dst == self.underlay_ip)
            | MAYBE_NEVER_A_SOURCE[usize::from(ip[12])]
            | !self.subnet.contains(src)
            | (src == self.access_ip)
            | (src == self.underlay_ip)
            | (src == self.subnet_edges.0)
            | (src == self.subnet_edges.1);
        if not_ours {
            return None;
        }
        let proto = ip[9];
        let ports = if total >= 24 && has_ports(proto, false) {
            u32::from_be_bytes([h[34], h[35], h[36], h[37]])
        } else {
            0
        };
        let sport = src_port(flow_hash_of(src, dst, proto, ports));
        Some((dst & self.subnet_mask, EncapMeta { total, sport }))
    }
}

/// What the write pass made of a candidate: `None` (buffer untouched): the
/// full path decides; `Some(Ok(()))`: sent on, the one verdict each write
/// pass gives (stored as a constant); `Some(Err(reason))`: dropped.
type Written = Option<Result<(), DropReason>>;

/// The verdict of a packet the write pass handled: `sent`, or its drop,
/// counted.
#[inline(always)]
fn verdict_of(fast: Result<(), DropReason>, sent: Verdict, st: &mut WorkerState) -> Verdict {
    match fast {
        Ok(()) => sent,
        Err(r) => {
            st.counters.dropped(r);
            Verdict::Drop(r)
        }
    }
}

/// Rewrites one candidate whose lease and next hop were found into its
/// VXLAN frame, as `to_overlay` would (`Ok`: `TxUnderlay`). `None`
/// (buffer untouched): the headroom is short.
#[inline(always)]
fn encap_one<B: PacketBuf>(
    ctx: &Context,
    buf: &mut B,
    lease: Lease,
    next_hop: MacAddr,
    meta: EncapMeta,
    ident: u16,
) -> Written {
    // Padding cut and the outer headers' room taken in one step; `None`
    // (untouched): short headroom, or an mbuf of several segments.
    let inner_len = ethernet::HEADER_LEN + usize::from(meta.total);
    let frame = buf.reframe(Front::Grow(OUTER_LEN), OUTER_LEN + inner_len)?;
    // From here on, exactly what `to_overlay` does. The frame holds at
    // least the 50 outer bytes and an inner Ethernet and IPv4 header.
    let Some(Ok(h)) = frame
        .get_mut(..OUTER_LEN + REWRITTEN)
        .map(<&mut [u8; OUTER_LEN + REWRITTEN]>::try_from)
    else {
        return Some(Err(DropReason::Truncated));
    };
    // The inner ECN field, for the outer TOS (read here, where the write
    // pass has the inner header at hand; a constant index into the
    // fixed-size view).
    let ecn = h[OUTER_LEN + ethernet::HEADER_LEN + 1] & ipv4::ecn::MASK;
    let (outer, inner) = h.split_at_mut(OUTER_LEN);
    if !forward_rewrite(inner, ctx.cfg.vtep_mac, lease.vtep_mac) {
        return Some(Err(DropReason::Truncated));
    }
    ctx.write_outer(
        outer,
        next_hop,
        lease.public_ip,
        ident,
        meta.sport,
        inner_len as u16,
        ecn,
    );
    Some(Ok(()))
}

/// The underlay next hop of every found lease, a burst at a time
/// (`Context::underlay_next_hop`, as `to_overlay` picks it): the gateway,
/// looked up once per burst, and the VTEPs on the underlay's link, looked
/// up in bulk as the leases are (on one L2 segment every node is a next
/// hop of its own). Writes `macs[i]` for the VTEPs that are their own next
/// hop and returns the bits resolved, of them those that go through the
/// gateway, and the gateway's MAC (the next hop of those, not written into
/// `macs`); a lease reached by DirectRouting, or a next hop not resolved,
/// is left to the full path.
#[inline(always)]
fn next_hops<L: Lookup>(
    ctx: &Context,
    lookup: &L,
    leases: &[Lease; BURST],
    found: u32,
    macs: &mut [MacAddr; BURST],
) -> (u32, u32, MacAddr) {
    let gateway = ctx.cfg.underlay_gateway.map(u32::from);
    let link = ctx.cfg.underlay_prefix;
    let mut ips = [0u32; BURST];
    // The leases on the underlay's link (their own next hop); the others
    // go through the gateway, or nowhere without one (the full path
    // drops them: no route).
    let mut on_link = 0u32;
    for i in bits(found) {
        let public = u32::from(leases[i].public_ip);
        if link.contains(public) {
            ips[i] = public;
            on_link |= 1 << i;
        }
    }
    // On-link leases are reached by DirectRouting, when it is on: the
    // full path's.
    let own_link = if ctx.cfg.direct_routing { 0 } else { on_link };
    let (own, mut via_gateway) = match gateway {
        None => (own_link, 0),
        Some(gw) => {
            let (mut own, mut via) = (0u32, found & !on_link);
            for i in bits(own_link) {
                // The gateway itself, on the link, as a VTEP: the same
                // next hop.
                if ips[i] == gw {
                    via |= 1 << i;
                } else {
                    own |= 1 << i;
                }
            }
            (own, via)
        }
    };
    let mut resolved = if own != 0 {
        lookup.neighbors_masked(Side::Underlay, &ips, own, macs)
    } else {
        0
    };
    let gateway_mac = match gateway {
        Some(gw) if via_gateway != 0 => lookup.neighbor(Side::Underlay, gw),
        _ => None,
    };
    let gateway_mac = match gateway_mac {
        Some(mac) => {
            resolved |= via_gateway;
            mac
        }
        None => {
            via_gateway = 0;
            MacAddr::ZERO
        }
    };
    (resolved, via_gateway, gateway_mac)
}

/// The indices of the bits set in `mask`, lowest first.
#[inline(always)]
fn bits(mut mask: u32) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let i = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            i
        })
    })
}

/// A burst (at most [`BURST`]) from the access port. Returns the bits of
/// the packets the fast path handled (for tests).
pub(crate) fn access_burst<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    bufs: &mut [B],
    verdicts: &mut [Verdict],
) -> u32 {
    let n = bufs.len().min(verdicts.len()).min(BURST);
    let consts = EncapConsts::new(ctx);
    let mut keys = [0u32; BURST];
    let mut meta = [EncapMeta::default(); BURST];
    let mut want = 0u32;
    for (i, b) in bufs[..n].iter().enumerate() {
        if let Some((k, m)) = consts.candidate(b.data()) {
            keys[i] = k;
            meta[i] = m;
            want |= 1 << i;
        }
    }
    let mut leases = [Lease::NONE; BURST];
    let mut hops = [MacAddr::ZERO; BURST];
    let (found, (ready, via_gateway, gateway_mac)) = if want != 0 {
        let found = lookup.leases_masked(&keys, want, &mut leases);
        (found, next_hops(ctx, lookup, &leases, found, &mut hops))
    } else {
        (0, (0, 0, MacAddr::ZERO))
    };
    let (mut encaps, mut fast_bits) = (0u64, 0u32);
    // Indexed, not zipped: with the zip the compiler set the loop up again
    // for every packet once the full path behind it grew (an options
    // check: +14 instructions a packet on this path, bench/profile.sh).
    let verdicts = &mut verdicts[..n];
    for (i, b) in bufs[..n].iter_mut().enumerate() {
        let v = &mut verdicts[i];
        if ready >> i & 1 == 1 {
            let hop = if via_gateway >> i & 1 == 1 {
                gateway_mac
            } else {
                hops[i]
            };
            if let Some(fast) = encap_one(ctx, b, leases[i], hop, meta[i], st.next_ident) {
                st.next_ident = st.next_ident.wrapping_add(1);
                fast_bits |= 1 << i;
                encaps += u64::from(fast.is_ok());
                *v = verdict_of(fast, Verdict::TxUnderlay, st);
                continue;
            }
        }
        // The lease lookup already made (found or not) goes along.
        let hint = (want >> i & 1 == 1).then(|| (found >> i & 1 == 1).then_some(leases[i]));
        *v = access_fallback(ctx, lookup, st, b, hint);
    }
    st.counters.encaps(encaps);
    fast_bits
}

/// The encap write pass alone, on every frame of a burst, to one fixed
/// lease and next hop with a fixed source port: no header checks, no
/// lookups, no flow hash. Only `benches/dataplane.rs` calls it
/// (`VXB_MODE=encap_write`), to measure on real devices the least any
/// VXLAN encap adds to the I/O floor: the rewrite it cannot skip (inner
/// MACs and TTL, the 50 outer bytes, their lengths and checksum). Returns
/// the frames rewritten.
#[doc(hidden)]
pub fn encap_write_only<B: PacketBuf>(
    ctx: &Context,
    bufs: &mut [B],
    lease: Lease,
    next_hop: MacAddr,
    ident: &mut u16,
) -> usize {
    let mut done = 0;
    for b in bufs.iter_mut() {
        let Some(&[hi, lo]) = b.data().get(16..18) else {
            continue;
        };
        let meta = EncapMeta {
            total: u16::from_be_bytes([hi, lo]),
            sport: 0xc000,
        };
        if let Some(Ok(())) = encap_one(ctx, b, lease, next_hop, meta, *ident) {
            *ident = ident.wrapping_add(1);
            done += 1;
        }
    }
    done
}

/// What the decap header pass keeps of a candidate.
#[derive(Clone, Copy, Default)]
struct DecapMeta {
    /// Inner destination: a host of our subnet.
    dst: u32,
    /// Inner IPv4 total length.
    total: u16,
    /// UDP length, when the datagram carries a (non-zero) UDP checksum
    /// still to verify; 0 otherwise.
    csum_len: u16,
}

/// The configuration the decap header pass compares against.
struct DecapConsts {
    mac: u64,
    /// Bytes 16..24 and 30..38 as `word` reads them, the fields we accept
    /// and the masks that pick those fields out (see `new`).
    at16: (u64, u64),
    at30: (u64, u64),
    /// The whole VXLAN header we accept (I flag, our VNI, zero reserved).
    vxlan: u64,
    vtep_mac: u64,
    access_mtu: u16,
    subnet: Prefix,
    access_ip: u32,
    underlay_ip: u32,
    /// Our subnet's mask and address, and our underlay address, as
    /// little-endian reads of their wire bytes.
    subnet_le: (u32, u32),
    underlay_ip_le: u32,
}

impl DecapConsts {
    #[inline(always)]
    fn new(ctx: &Context) -> DecapConsts {
        let vni = ctx.cfg.vni.get().to_be_bytes();
        let ip = u64::from(u32::from_le_bytes(ctx.cfg.underlay_ip.octets()));
        let port = u64::from(u16::from_le_bytes(ctx.cfg.udp_port.to_be_bytes()));
        DecapConsts {
            mac: ctx.cfg.underlay_mac.to_word(),
            // Bytes 16..24: the fragment offset and MF flag (20, 21: all
            // zero, DF free), the protocol (23: UDP).
            at16: (
                u64::from(ipv4::protocol::UDP) << 56,
                0x3f << 32 | 0xff << 40 | 0xff << 56,
            ),
            // Bytes 30..38: the destination address (30..34: ours) and UDP
            // port (36..38: ours).
            at30: (ip | port << 48, 0xffff_ffff | 0xffff << 48),
            vxlan: u64::from_le_bytes([0x08, 0, 0, 0, vni[1], vni[2], vni[3], 0]),
            vtep_mac: ctx.cfg.vtep_mac.to_word(),
            access_mtu: ctx.cfg.access_mtu,
            subnet: ctx.cfg.subnet,
            access_ip: u32::from(ctx.cfg.access_ip),
            underlay_ip: u32::from(ctx.cfg.underlay_ip),
            subnet_le: (
                u32::from_le_bytes(mask(ctx.cfg.subnet.prefix_len()).to_be_bytes()),
                u32::from_le_bytes(ctx.cfg.subnet.addr().octets()),
            ),
            underlay_ip_le: u32::from_le_bytes(ctx.cfg.underlay_ip.octets()),
        }
    }

    /// The outer source (the VTEP key), the inner source MAC (as a word)
    /// and what the write pass needs, for an option-less, unfragmented
    /// IPv4/UDP frame to our address and VXLAN port from a source that
    /// may be one (`never_a_source`), with an outer ECN field of Not-ECT or
    /// ECT(0) (which leave the inner one as it is), strict VXLAN flags and
    /// our VNI, carrying an option-less, unfragmented inner IPv4 packet
    /// (`frag_order`) to our VtepMAC
    /// with a good checksum and TTL above 1 from a source that may be
    /// forwarded (`Context::forwardable_source`) to a host of our subnet;
    /// neither source in 255/8 (`MAYBE_NEVER_A_SOURCE`). `None`: not the
    /// common case.
    #[inline(always)]
    fn candidate(&self, data: &[u8]) -> Option<(u32, u64, DecapMeta)> {
        let h: &[u8; DECAP_HDR] = data.get(..DECAP_HDR)?.try_into().ok()?;
        let oip: &[u8; 20] = h[14..34].try_into().ok()?;
        let total = usize::from(u16::from_be_bytes([oip[2], oip[3]]));
        let udp_len = usize::from(u16::from_be_bytes([h[38], h[39]]));
        // The fields that must hold one value, as masked words, in one
        // compare: destination MAC (0..6); ethertype and version/IHL
        // (12..15) and the low ECN bit (15: clear); no fragment, UDP
        // (16..24); our address and port (30..38); VXLAN (42..50): the I
        // flag only, reserved bytes zero, our VNI; inner Ethernet to our
        // VtepMAC (50..56), IPv4 without options (62..65).
        let fixed = (word(h, 0) ^ self.mac) & MAC_BITS
            | ((word(h, 8) >> 32) ^ IPV4_NO_OPTIONS) & (0xff_ffff | ECN_LOW_BIT)
            | (word(h, 16) ^ self.at16.0) & self.at16.1
            | (word(h, 30) ^ self.at30.0) & self.at30.1
            | word(h, 42) ^ self.vxlan
            | (word(h, 50) ^ self.vtep_mac) & MAC_BITS
            | ((word(h, 58) >> 32) ^ IPV4_NO_OPTIONS) & 0xff_ffff;
        let outer_ok = fixed == 0
            && total >= 20
            && total + ethernet::HEADER_LEN <= data.len()
            && udp_len == total - 20;
        if !outer_ok || !header_checksum_ok(oip) {
            return None;
        }
        let iip: &[u8; 20] = h[64..84].try_into().ok()?;
        let itotal = u16::from_be_bytes([iip[2], iip[3]]);
        let inner_room = udp_len.checked_sub(udp::HEADER_LEN + vxlan::HEADER_LEN + 14)?;
        let idst = u32::from_be_bytes([iip[16], iip[17], iip[18], iip[19]]);
        // Sources: the outer one may be a source, the inner one may be
        // forwarded from the underlay (our access address is inside our
        // subnet), compared as they lie in memory (no byte swap).
        let isrc_le = u32::from_le_bytes([iip[12], iip[13], iip[14], iip[15]]);
        let spoofed = MAYBE_NEVER_A_SOURCE[usize::from(oip[12])]
            | MAYBE_NEVER_A_SOURCE[usize::from(iip[12])]
            | (isrc_le & self.subnet_le.0 == self.subnet_le.1)
            | (isrc_le == self.underlay_ip_le);
        let inner_ok = !spoofed
            && itotal >= 20
            && usize::from(itotal) <= inner_room
            && iip[8] > 1
            && u16::from_be_bytes([iip[6], iip[7]]) & FRAGMENT_BITS == 0
            && itotal <= self.access_mtu
            && self.subnet.contains(idst)
            && idst != self.access_ip
            && idst != self.underlay_ip
            && idst != self.subnet.addr_u32()
            && idst != self.subnet.broadcast();
        if !inner_ok || !header_checksum_ok(iip) {
            return None;
        }
        let osrc = u32::from_be_bytes([oip[12], oip[13], oip[14], oip[15]]);
        let smac = word(h, 56) & MAC_BITS;
        let csum_len = if h[40..42] == [0, 0] {
            0
        } else {
            udp_len as u16
        };
        Some((
            osrc,
            smac,
            DecapMeta {
                dst: idst,
                total: itotal,
                csum_len,
            },
        ))
    }
}

/// Strips the outer headers of one candidate from a known VTEP and hands
/// the inner frame to its host, as `decap` and `to_access` would (`Ok`:
/// `TxAccess`). `None` (buffer untouched): a UDP checksum that is wrong, or
/// an unresolved host.
#[inline(always)]
fn decap_one<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    buf: &mut B,
    meta: DecapMeta,
    hosts: &mut NeighborCache,
) -> Written {
    if meta.csum_len != 0 {
        let data = buf.data();
        let d = data.get(34..34 + usize::from(meta.csum_len))?;
        let u = udp::Packet::new_checked(d).ok()?;
        let src = Ipv4Addr::new(data[26], data[27], data[28], data[29]);
        if !u.checksum_ok(src, ctx.cfg.underlay_ip) {
            return None;
        }
    }
    let mac = hosts.get(lookup, meta.dst)?;
    // Outer headers stripped and padding cut in one step (the header pass
    // checked the lengths); `None` (untouched): an mbuf of several segments.
    let frame = buf.reframe(
        Front::Strip(DECAP_OUTER),
        ethernet::HEADER_LEN + usize::from(meta.total),
    )?;
    // From here on, exactly what `decap` and `to_access` do.
    if !forward_rewrite(frame, ctx.cfg.access_mac, mac) {
        return Some(Err(DropReason::Truncated));
    }
    Some(Ok(()))
}

/// The decap write pass alone, on every frame of a burst, to one fixed
/// host: no header checks, no lookups. Only `benches/dataplane.rs` calls
/// it (`VXB_MODE=decap_write`), to measure on real devices the least any
/// VXLAN decap adds to the I/O floor: the outer 50 bytes stripped, the
/// inner MACs and TTL rewritten. Returns the frames rewritten.
#[doc(hidden)]
pub fn decap_write_only<B: PacketBuf>(ctx: &Context, bufs: &mut [B], host: MacAddr) -> usize {
    let mut done = 0;
    for b in bufs.iter_mut() {
        let Some(&[hi, lo]) = b.data().get(DECAP_OUTER + 16..DECAP_OUTER + 18) else {
            continue;
        };
        let inner_len = ethernet::HEADER_LEN + usize::from(u16::from_be_bytes([hi, lo]));
        if let Some(frame) = b.reframe(Front::Strip(DECAP_OUTER), inner_len) {
            done += usize::from(forward_rewrite(frame, ctx.cfg.access_mac, host));
        }
    }
    done
}

/// A burst (at most [`BURST`]) from the underlay port. Returns the bits
/// of the packets the fast path handled (for tests).
pub(crate) fn underlay_burst<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    bufs: &mut [B],
    verdicts: &mut [Verdict],
) -> u32 {
    let n = bufs.len().min(verdicts.len()).min(BURST);
    let consts = DecapConsts::new(ctx);
    let mut ips = [0u32; BURST];
    let mut macs = [0u64; BURST];
    let mut meta = [DecapMeta::default(); BURST];
    let mut want = 0u32;
    for (i, b) in bufs[..n].iter().enumerate() {
        if let Some((ip, mac, m)) = consts.candidate(b.data()) {
            ips[i] = ip;
            macs[i] = mac;
            meta[i] = m;
            want |= 1 << i;
        }
    }
    let ok = if want != 0 {
        lookup.vteps_ok_masked(&ips, &macs, want)
    } else {
        0
    };
    let mut hosts = NeighborCache::new(Side::Access);
    let (mut decaps, mut fast_bits) = (0u64, 0u32);
    for (i, (b, v)) in bufs[..n].iter_mut().zip(verdicts.iter_mut()).enumerate() {
        if ok >> i & 1 == 1 {
            if let Some(fast) = decap_one(ctx, lookup, b, meta[i], &mut hosts) {
                fast_bits |= 1 << i;
                decaps += u64::from(fast.is_ok());
                *v = verdict_of(fast, Verdict::TxAccess, st);
                continue;
            }
        }
        *v = underlay_fallback(ctx, lookup, st, b);
    }
    st.counters.decaps(decaps);
    fast_bits
}

#[cfg(test)]
#[path = "fastpath_tests.rs"]
mod tests;
