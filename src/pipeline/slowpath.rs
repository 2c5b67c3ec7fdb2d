//! Responders and builders: ARP replies, ICMP echo replies and errors built
//! in place, gratuitous ARP and ARP requests, and the ICMP rate limiter.
//! All pure functions on buffers.

use super::buf::PacketBuf;
use super::context::Context;
use super::drop_reason::{DropReason, SlowKind};
use super::lookup::Lookup;
use super::verdict::{Side, Verdict};
use crate::wire::ethernet::{self, ethertype, Frame};
use crate::wire::{arp, icmp, ipv4, MacAddr};
use std::net::Ipv4Addr;

/// A token bucket driven by a caller-supplied monotonic time in ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimiter {
    /// Nanoseconds of credit one token costs (0: never allow).
    interval_ns: u64,
    /// Credit cap: `burst` tokens.
    cap_ns: u64,
    credit_ns: u64,
    last_ns: u64,
}

impl RateLimiter {
    /// `rate_per_sec` tokens a second, at most `burst` at once; starts full.
    pub fn new(rate_per_sec: u32, burst: u32) -> RateLimiter {
        let interval_ns = if rate_per_sec == 0 {
            0
        } else {
            1_000_000_000 / u64::from(rate_per_sec)
        };
        let cap_ns = interval_ns.saturating_mul(u64::from(burst.max(1)));
        RateLimiter {
            interval_ns,
            cap_ns,
            credit_ns: cap_ns,
            last_ns: 0,
        }
    }

    /// Takes a token if one is available at time `now_ns`.
    pub fn allow(&mut self, now_ns: u64) -> bool {
        if self.interval_ns == 0 {
            return false;
        }
        let elapsed = now_ns.saturating_sub(self.last_ns);
        self.last_ns = self.last_ns.max(now_ns);
        self.credit_ns = self.credit_ns.saturating_add(elapsed).min(self.cap_ns);
        if self.credit_ns >= self.interval_ns {
            self.credit_ns -= self.interval_ns;
            true
        } else {
            false
        }
    }
}

/// Minimum Ethernet frame without FCS; ARP frames are padded to it.
pub const MIN_FRAME_LEN: usize = 60;

/// Writes an ARP frame (padded to 60 bytes) into `out`; `None` if `out`
/// is shorter than 60 bytes.
pub fn build_arp_frame(eth_dst: MacAddr, repr: &arp::Repr, out: &mut [u8]) -> Option<usize> {
    let out = out.get_mut(..MIN_FRAME_LEN)?;
    out.fill(0);
    let mut f = Frame::new_unchecked(&mut *out);
    ethernet::Repr {
        src: repr.sender_mac,
        dst: eth_dst,
        ethertype: ethertype::ARP,
    }
    .emit(&mut f);
    repr.emit(&mut arp::Packet::new_unchecked(f.payload_mut()));
    Some(MIN_FRAME_LEN)
}

/// A gratuitous ARP announcing `ip` at `mac` (a broadcast request whose
/// sender and target address are both `ip`), as sent three times at start.
pub fn build_gratuitous_arp(mac: MacAddr, ip: Ipv4Addr, out: &mut [u8]) -> Option<usize> {
    let r = arp::Repr {
        operation: arp::Operation::Request,
        sender_mac: mac,
        sender_ip: ip,
        target_mac: MacAddr::ZERO,
        target_ip: ip,
    };
    build_arp_frame(MacAddr::BROADCAST, &r, out)
}

/// An ARP request for `target` from our `mac`/`ip`, sent to `eth_dst`:
/// broadcast, or the MAC we know for `target` (a unicast probe that
/// refreshes a neighbour, as Linux's `arp_solicit` sends in `NUD_PROBE`:
/// only the Ethernet destination differs, the target MAC stays zero).
pub fn build_arp_request(
    eth_dst: MacAddr,
    mac: MacAddr,
    ip: Ipv4Addr,
    target: Ipv4Addr,
    out: &mut [u8],
) -> Option<usize> {
    let r = arp::Repr {
        operation: arp::Operation::Request,
        sender_mac: mac,
        sender_ip: ip,
        target_mac: MacAddr::ZERO,
        target_ip: target,
    };
    build_arp_frame(eth_dst, &r, out)
}

/// Is `mac` one of the gateway's port MACs?
pub fn is_own_mac(ctx: &Context, mac: MacAddr) -> bool {
    mac == ctx.cfg.underlay_mac || mac == ctx.cfg.access_mac
}

/// Would this ARP request change what we know (RFC 826's merge)? Its
/// sender is a neighbour of `side` known at another MAC (a host whose NIC
/// was swapped, with no gratuitous ARP). One table read, for requests only.
fn sender_moved<L: Lookup>(lookup: &L, side: Side, req: &arp::Repr) -> bool {
    req.sender_mac != MacAddr::ZERO
        && req.sender_mac.is_unicast()
        && lookup
            .neighbor(side, u32::from(req.sender_ip))
            .is_some_and(|known| known != req.sender_mac)
}

/// May a request from this sender be answered? The reply goes to the
/// sender's MAC, so not a group (broadcast, multicast) or zero one: one
/// request would have us broadcast. Nor to an address no single host has
/// or one of ours (`Context::is_peer`: martian, a directed broadcast, our
/// own; Linux's `arp_process` does not answer, as its route lookup
/// refuses such a source), except 0.0.0.0: an address probe (RFC 5227),
/// which Linux answers and `gateway::address_probe` relies on.
pub fn answerable_sender(ctx: &Context, req: &arp::Repr) -> bool {
    let probe = req.sender_ip == Ipv4Addr::UNSPECIFIED;
    req.sender_mac.is_unicast()
        && req.sender_mac != MacAddr::ZERO
        && (probe || ctx.is_peer(u32::from(req.sender_ip)))
}

/// Rewrites an Ethernet+ARP frame holding the request `req` into our
/// reply (`our_mac` has `our_ip`), in place, addressed to the requester's
/// MAC; padding is kept. `false` (unchanged) if the frame is too short.
pub fn arp_reply_in_place(
    frame: &mut [u8],
    our_mac: MacAddr,
    our_ip: Ipv4Addr,
    req: &arp::Repr,
) -> bool {
    let Some(body) = frame.get_mut(ethernet::HEADER_LEN..) else {
        return false;
    };
    let Ok(mut pkt) = arp::Packet::new_checked(body) else {
        return false;
    };
    arp::Repr {
        operation: arp::Operation::Reply,
        sender_mac: our_mac,
        sender_ip: our_ip,
        target_mac: req.sender_mac,
        target_ip: req.sender_ip,
    }
    .emit(&mut pkt);
    let mut f = Frame::new_unchecked(frame);
    f.set_dst(req.sender_mac);
    f.set_src(our_mac);
    true
}

/// An ARP frame arriving on `side`: a request for the port's address is
/// answered in place (`Reply`); replies and gratuitous ARPs are punted so
/// the slow path learns the sender; so is any request whose sender is a
/// known neighbour at another MAC (the slow path merges it, and answers it
/// when it is for us); other requests are not for us, and so is any ARP
/// from one of our own MACs about another address than the port's, and a
/// request for us from a sender we do not answer (`answerable_sender`).
pub fn handle_arp<B: PacketBuf, L: Lookup>(
    ctx: &Context,
    lookup: &L,
    side: Side,
    buf: &mut B,
) -> Verdict {
    let our_mac = ctx.port_mac(side);
    let our_ip = ctx.port_ip(side);
    let frame = buf.data_mut();
    let Some(body) = frame.get(ethernet::HEADER_LEN..) else {
        return Verdict::Drop(DropReason::Truncated);
    };
    let Ok(pkt) = arp::Packet::new_checked(body) else {
        return Verdict::Drop(DropReason::Truncated);
    };
    let Ok(req) = arp::Repr::parse(&pkt) else {
        return Verdict::Drop(DropReason::NotForUs);
    };
    // Our own MAC announcing another address: a loop or a spoof, never a
    // neighbour (our own gratuitous ARPs and requests, looped back, carry
    // the port's address and are harmless).
    if is_own_mac(ctx, req.sender_mac) && req.sender_ip != our_ip {
        return Verdict::Drop(DropReason::NotForUs);
    }
    match req.operation {
        arp::Operation::Reply => Verdict::Punt(SlowKind::Arp),
        arp::Operation::Request if req.sender_ip == req.target_ip => Verdict::Punt(SlowKind::Arp),
        arp::Operation::Request if sender_moved(lookup, side, &req) => Verdict::Punt(SlowKind::Arp),
        arp::Operation::Request if req.target_ip == our_ip && !answerable_sender(ctx, &req) => {
            Verdict::Drop(DropReason::NotForUs)
        }
        arp::Operation::Request if req.target_ip == our_ip => {
            if arp_reply_in_place(frame, our_mac, our_ip, &req) {
                Verdict::Reply(side)
            } else {
                Verdict::Drop(DropReason::Truncated)
            }
        }
        arp::Operation::Request => Verdict::Drop(DropReason::NotForUs),
    }
}

/// Turns a validated Ethernet+IPv4 ICMP echo request (padding trimmed)
/// addressed to one of our addresses into the echo reply, in place: MACs
/// and IPs swapped, TTL 64, the request's TOS, and built as Linux's ICMP
/// socket builds its replies (`IP_PMTUDISC_DONT`): DF clear, so the IPv4
/// ident is `ident` (the worker's sequence, RFC 6864), and no IP options
/// (a 20-byte header written right in front of the ICMP message, the
/// frame starting that many bytes later: the message is not moved). The
/// ICMP checksum is recomputed. Anything else addressed to us is
/// `not_for_us`; a bad ICMP checksum is `bad_checksum`.
pub fn echo_reply_in_place<B: PacketBuf>(
    buf: &mut B,
    our_mac: MacAddr,
    ident: u16,
) -> Result<(), DropReason> {
    let (peer_mac, src, dst, tos, options, icmp_len) = {
        let f = Frame::new_checked(buf.data()).map_err(|_| DropReason::Truncated)?;
        let ip = ipv4::Packet::new_checked(f.payload()).map_err(|_| DropReason::BadIpv4)?;
        if ip.protocol() != ipv4::protocol::ICMP || ip.is_fragment() {
            return Err(DropReason::NotForUs);
        }
        let msg = icmp::Packet::new_checked(ip.payload()).map_err(|_| DropReason::Truncated)?;
        if msg.msg_type() != icmp::msg::ECHO_REQUEST || msg.code() != 0 {
            return Err(DropReason::NotForUs);
        }
        if !msg.verify_checksum() {
            return Err(DropReason::BadChecksum);
        }
        let options = ip.header_len() - ipv4::HEADER_LEN;
        let icmp_len = ip.payload().len();
        (
            f.src(),
            ip.src(),
            ip.dst(),
            ip.dscp_ecn(),
            options,
            icmp_len,
        )
    };
    const HEADERS: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
    let len = HEADERS + icmp_len;
    let Some(excess) = buf.len().checked_sub(options + len) else {
        return Err(DropReason::Truncated);
    };
    if !buf.adj(options) || !buf.trim(excess) {
        return Err(DropReason::Truncated);
    }
    let d = buf.data_mut();
    let Some((eth_ip, msg)) = d.get_mut(..len).map(|d| d.split_at_mut(HEADERS)) else {
        return Err(DropReason::Truncated);
    };
    ethernet::Repr {
        src: our_mac,
        dst: peer_mac,
        ethertype: ethertype::IPV4,
    }
    .emit(&mut Frame::new_unchecked(&mut *eth_ip));
    ipv4::Repr {
        src: dst,
        dst: src,
        protocol: ipv4::protocol::ICMP,
        payload_len: icmp_len as u16,
        ttl: 64,
        ident,
        dont_frag: false,
        dscp_ecn: tos,
    }
    .emit(&mut eth_ip[ethernet::HEADER_LEN..])
    .map_err(|_| DropReason::Truncated)?;
    // Summed in full, not updated incrementally: RFC 1624's eqn. 3 gives
    // 0x0000 for an all-zero reply (ident, sequence and data zero), whose
    // only valid checksum is 0xffff. Echo requests to the gateway are
    // rare, and the request was summed whole just above.
    let mut m = icmp::Packet::new_unchecked(msg);
    m.set_msg_type(icmp::msg::ECHO_REPLY);
    m.fill_checksum();
    Ok(())
}

/// ICMP errors the gateway generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpError {
    TimeExceeded,
    FragNeeded { mtu: u16 },
}

/// An address that names no single host anywhere: "this network"
/// (0/8), loopback, multicast, and the reserved class E with the limited
/// broadcast (RFC 1812 4.2.2.11, 5.3.7).
pub fn is_martian(ip: Ipv4Addr) -> bool {
    let first = ip.octets()[0];
    first == 0 || ip.is_loopback() || first >= 224
}

/// May an ICMP error be sent about this datagram (RFC 1122 3.2.2, RFC
/// 1812 4.3.2.7)? Not about ICMP errors (or ICMP types unknown to us),
/// non-first fragments, datagrams from an address that names no single
/// host, or datagrams sent to multicast or broadcast. The directed
/// broadcasts only the gateway's configuration reveals are
/// `Context::icmp_error_to`'s to check.
pub fn icmp_error_allowed<T: AsRef<[u8]>>(ip: &ipv4::Packet<T>) -> bool {
    if ip.frag_offset() != 0 || is_martian(ip.src()) || is_martian(ip.dst()) {
        return false;
    }
    if ip.protocol() == ipv4::protocol::ICMP {
        if let Ok(m) = icmp::Packet::new_checked(ip.payload()) {
            return !icmp::msg::is_error(m.msg_type());
        }
        return false;
    }
    true
}

/// Rewrites a buffer holding `[Ethernet][IPv4 ...]` (padding trimmed) into
/// an ICMP error about it, from `src_ip`/`src_mac` back to the sender: the
/// Ethernet destination is the frame's source; the IPv4 ident is `ident`
/// (DF clear, as Linux sends errors, so the ident must be unique among the
/// gateway's datagrams: RFC 6864). Uses 28 bytes of headroom
/// and quotes the datagram's start, as much as fits an error of `room`
/// bytes (IPv4 header included: `Context::icmp_error_room`, at most 576). Returns `false`, leaving the buffer
/// unchanged, when no error may be sent about this datagram or the
/// headroom is short.
pub fn icmp_error_in_place<B: PacketBuf>(
    buf: &mut B,
    src_mac: MacAddr,
    src_ip: Ipv4Addr,
    kind: IcmpError,
    ident: u16,
    room: usize,
) -> bool {
    const EXTRA: usize = ipv4::HEADER_LEN + icmp::HEADER_LEN;
    let (peer_mac, peer_ip, quote_len, tos) = {
        let d = buf.data();
        let Ok(f) = Frame::new_checked(d) else {
            return false;
        };
        let Ok(ip) = ipv4::Packet::new_checked(f.payload()) else {
            return false;
        };
        if !icmp_error_allowed(&ip) {
            return false;
        }
        let quote_max = room.saturating_sub(ipv4::HEADER_LEN + icmp::HEADER_LEN);
        let quote = usize::from(ip.total_len()).min(quote_max);
        (f.src(), ip.src(), quote, ip.dscp_ecn() & 0x1e)
    };
    if buf.headroom() < EXTRA {
        return false;
    }
    let excess = buf.len() - ethernet::HEADER_LEN - quote_len;
    if !buf.trim(excess) || buf.prepend(EXTRA).is_none() {
        return false;
    }
    let d = buf.data_mut();
    let total = d.len();
    let mut f = Frame::new_unchecked(&mut d[..]);
    ethernet::Repr {
        src: src_mac,
        dst: peer_mac,
        ethertype: ethertype::IPV4,
    }
    .emit(&mut f);
    let icmp_len = total - ethernet::HEADER_LEN - ipv4::HEADER_LEN;
    let ipr = ipv4::Repr {
        src: src_ip,
        dst: peer_ip,
        protocol: ipv4::protocol::ICMP,
        payload_len: icmp_len as u16,
        ttl: 64,
        ident,
        dont_frag: false,
        // Precedence internetwork control over the TOS bits, as Linux's
        // ICMP errors (RT_TOS(tos) | IPTOS_PREC_INTERNETCONTROL).
        dscp_ecn: tos | 0xc0,
    };
    if ipr.emit(&mut d[ethernet::HEADER_LEN..]).is_err() {
        return false;
    }
    let repr = match kind {
        IcmpError::TimeExceeded => icmp::Repr::TimeExceeded,
        IcmpError::FragNeeded { mtu } => icmp::Repr::FragNeeded { next_hop_mtu: mtu },
    };
    repr.emit(&mut icmp::Packet::new_unchecked(
        &mut d[ethernet::HEADER_LEN + ipv4::HEADER_LEN..],
    ));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testing;

    #[test]
    fn rate_limiter_refills_with_time() {
        let mut r = RateLimiter::new(10, 2); // a token every 100 ms
        assert!(r.allow(0));
        assert!(r.allow(0));
        assert!(!r.allow(0));
        assert!(!r.allow(99_999_999));
        assert!(r.allow(100_000_000));
        assert!(!r.allow(100_000_000));
        // A long pause refills only up to the burst.
        assert!(r.allow(10_000_000_000));
        assert!(r.allow(10_000_000_000));
        assert!(!r.allow(10_000_000_000));
        let mut never = RateLimiter::new(0, 5);
        assert!(!never.allow(1_000_000_000));
    }

    #[test]
    fn gratuitous_arp_golden() {
        let mut out = [0xaau8; 64];
        let n = build_gratuitous_arp(testing::ACCESS_MAC, testing::ACCESS_IP, &mut out).unwrap();
        assert_eq!(n, 60);
        let mut want = vec![0xff; 6];
        want.extend_from_slice(&testing::ACCESS_MAC.0);
        want.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        want.extend_from_slice(&testing::ACCESS_MAC.0);
        want.extend_from_slice(&[10, 244, 255, 1, 0, 0, 0, 0, 0, 0, 10, 244, 255, 1]);
        want.resize(60, 0);
        assert_eq!(&out[..60], &want[..]);
        assert!(
            build_gratuitous_arp(testing::ACCESS_MAC, testing::ACCESS_IP, &mut out[..59]).is_none()
        );
    }

    /// A unicast probe is the broadcast request with only the Ethernet
    /// destination changed (Linux's `arp_solicit`: target MAC zero).
    #[test]
    fn unicast_arp_request_differs_from_broadcast_only_in_the_destination() {
        let (mut bcast, mut ucast) = ([0u8; 60], [0u8; 60]);
        let (mac, ip) = (testing::ACCESS_MAC, testing::ACCESS_IP);
        build_arp_request(MacAddr::BROADCAST, mac, ip, testing::HOST_IP, &mut bcast).unwrap();
        build_arp_request(testing::HOST_MAC, mac, ip, testing::HOST_IP, &mut ucast).unwrap();
        assert_eq!(&bcast[..6], &[0xff; 6]);
        assert_eq!(&ucast[..6], &testing::HOST_MAC.0);
        assert_eq!(&bcast[6..], &ucast[6..]);
        assert_eq!(&ucast[14 + 18..14 + 24], &[0; 6], "target MAC zero");
    }
}
