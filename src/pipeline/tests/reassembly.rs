//! Fragmented pings to the gateway: punted by the workers, reassembled and
//! answered by the slow path's logic (`reassembly`), the reply cut to the
//! MTU of its way back, on byte vectors.

use super::*;
use crate::pipeline::counters::Counters;
use crate::pipeline::fragment::Fragmenter;
use crate::pipeline::reassembly::{
    Reassembly, Way, MAX_DATAGRAMS, MAX_PER_SOURCE, REASSEMBLY_TIMEOUT,
};
use etherparse::{IcmpEchoHeader, Icmpv4Type, NetSlice, SlicedPacket, TransportSlice};
use std::time::{Duration, Instant};

/// The slow path as `SlowPath` plays it on mbufs: its reassembly table,
/// its own state (counters, ident) and its clock.
struct Slow {
    ctx: Context,
    l: MapLookup,
    reasm: Reassembly,
    st: WorkerState,
    now: Instant,
}

impl Slow {
    fn new() -> Slow {
        Slow {
            ctx: context(),
            l: MapLookup::standard(),
            reasm: Reassembly::default(),
            st: worker(),
            now: Instant::now(),
        }
    }

    /// A fragment received on `rx`: through a worker, which must punt it
    /// (counted as slowpath `fragment`), then the slow path; the frames it
    /// sends in answer, each with its verdict (a reply cut as
    /// `send_pieces` cuts it; through the tunnel routed as the gateway's
    /// own packet).
    fn feed(&mut self, rx: Side, frame: &[u8]) -> Vec<(Verdict, Vec<u8>)> {
        let (v, b, wst) = run(&self.ctx, &self.l, rx, frame);
        assert_eq!(v, Verdict::Punt(SlowKind::Fragment));
        let w = wst.counters.snapshot();
        assert_eq!(w.slowpath_count(SlowKind::Fragment), 1);
        assert_eq!(w.total_drops(), 0);
        let (ctx, l) = (&self.ctx, &self.l);
        let Some(r) = self
            .reasm
            .answer(ctx, l, &mut self.st, rx, b.data(), self.now)
        else {
            return Vec::new();
        };
        let mut fr = Fragmenter::new(&r.frame, r.mtu).unwrap();
        let mut tmp = vec![0u8; 16 << 10];
        let mut out = Vec::new();
        while let Some(n) = fr.next_into(&mut tmp).unwrap() {
            assert!(n - 14 <= usize::from(r.mtu));
            let mut f = VecBuf::from_frame(&tmp[..n]);
            let v = match r.way {
                Way::Port(side) => Verdict::Reply(side),
                Way::Tunnel => process_fragment(ctx, l, &mut self.st, rx, &mut f),
            };
            out.push((v, f.data().to_vec()));
        }
        out
    }

    fn feed_all(&mut self, rx: Side, frames: &[Vec<u8>]) -> Vec<(Verdict, Vec<u8>)> {
        let mut out = Vec::new();
        for f in frames {
            out.extend(self.feed(rx, f));
        }
        out
    }

    fn drops(&self, r: DropReason) -> u64 {
        self.st.counters.snapshot().drop_count(r)
    }
}

/// An echo request of `data_len` bytes of data from `from` (its MAC and
/// address) to `to`, cut by its sender into fragments of `mtu` bytes of
/// IPv4.
fn fragmented_ping(
    from: (MacAddr, Ipv4Addr),
    to: (MacAddr, Ipv4Addr),
    data_len: usize,
    ident: u16,
    mtu: u16,
) -> Vec<Vec<u8>> {
    let whole = ping(to.0, from.0, from.1, to.1, &pattern(data_len));
    sent_in_fragments(&whole, ident, mtu)
}

const HOST: (MacAddr, Ipv4Addr) = (HOST_MAC, HOST_IP);
const NODE: (MacAddr, Ipv4Addr) = (NODE_MAC, NODE_IP);
const ACCESS: (MacAddr, Ipv4Addr) = (ACCESS_MAC, ACCESS_IP);
const UNDERLAY: (MacAddr, Ipv4Addr) = (UNDERLAY_MAC, UNDERLAY_IP);

/// `ping -s 3000` from the host: three fragments of a 1500-byte link.
fn host_ping(data_len: usize, ident: u16) -> Vec<Vec<u8>> {
    fragmented_ping(HOST, ACCESS, data_len, ident, 1500)
}

/// Ping number `i` of `data_len` bytes from host `10.244.255.(10 + i /
/// MAX_PER_SOURCE)`, in fragments of a 1500-byte link: numbered pings
/// spread over hosts so that no host holds more than `MAX_PER_SOURCE` of
/// them.
fn ping_of_many(i: u16, data_len: usize, ident: u16) -> Vec<Vec<u8>> {
    let host = 10 + (i / MAX_PER_SOURCE as u16) as u8;
    let from = (HOST_MAC, Ipv4Addr::new(10, 244, 255, host));
    fragmented_ping(from, ACCESS, data_len, ident, 1500)
}

/// Feeds `frags` received on `side`; asserts they are answered out of
/// that port in three fragments and returns the reply put back together.
fn answered_on(slow: &mut Slow, side: Side, frags: &[Vec<u8>]) -> Vec<u8> {
    let out = slow.feed_all(side, frags);
    assert_eq!(out.len(), 3, "the reply in three fragments");
    assert!(out.iter().all(|(v, _)| *v == Verdict::Reply(side)));
    let pieces: Vec<Vec<u8>> = out.into_iter().map(|(_, f)| f).collect();
    reassembled(&pieces)
}

/// Puts IPv4 fragments (`[Ethernet][IPv4]` frames) back together into one
/// unfragmented frame, checking each fragment's header with etherparse:
/// same ident, offsets adjoining, MF on all but the last.
fn reassembled(frags: &[Vec<u8>]) -> Vec<u8> {
    let mut sorted: Vec<&Vec<u8>> = frags.iter().collect();
    sorted.sort_by_key(|f| ipv4::Packet::new_checked(&f[14..]).unwrap().frag_offset());
    let first = ep_ipv4(sorted[0], 14);
    let mut data = Vec::new();
    for (i, f) in sorted.iter().enumerate() {
        let h = ep_ipv4(f, 14);
        assert_eq!(h.identification, first.identification);
        assert_eq!(usize::from(h.fragment_offset.byte_offset()), data.len());
        assert_eq!(h.more_fragments, i + 1 < sorted.len());
        assert!(!h.dont_fragment);
        assert_eq!(&f[..14], &sorted[0][..14], "same Ethernet header");
        let hl = usize::from(h.ihl()) * 4;
        data.extend_from_slice(&f[14 + hl..14 + usize::from(h.total_len)]);
    }
    let mut out = sorted[0][..34].to_vec();
    out.extend_from_slice(&data);
    let total = (out.len() - 14) as u16;
    let mut ip = ipv4::Packet::new_unchecked(&mut out[14..]);
    ip.set_total_len(total);
    ip.set_frag(false, false, 0);
    ip.fill_checksum();
    out
}

/// Asserts `frame` is our echo reply (ident 0x77, sequence 5) carrying
/// `data_len` bytes of `pattern`, from `src` at `src_mac` to `dst` at
/// `dst_mac`, TTL 64, checksums right: read by etherparse.
fn assert_echo_reply(
    frame: &[u8],
    (src_mac, src): (MacAddr, Ipv4Addr),
    (dst_mac, dst): (MacAddr, Ipv4Addr),
    data_len: usize,
) {
    let p = SlicedPacket::from_ethernet(frame).unwrap();
    let Some(etherparse::LinkSlice::Ethernet2(e)) = &p.link else {
        panic!("not Ethernet")
    };
    assert_eq!((e.source(), e.destination()), (src_mac.0, dst_mac.0));
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!("not IPv4")
    };
    let h = ip.header();
    assert_eq!((h.source_addr(), h.destination_addr()), (src, dst));
    assert_eq!(h.ttl(), 64);
    assert_eq!(h.ihl(), 5, "no options echoed");
    let hdr = h.to_header();
    assert_eq!(hdr.header_checksum, hdr.calc_header_checksum());
    let Some(TransportSlice::Icmpv4(m)) = &p.transport else {
        panic!("not ICMP")
    };
    let echo = IcmpEchoHeader { id: 0x77, seq: 5 };
    assert_eq!(m.icmp_type(), Icmpv4Type::EchoReply(echo));
    assert_eq!(m.payload(), &pattern(data_len)[..]);
    let want = etherparse::Icmpv4Header::with_checksum(Icmpv4Type::EchoReply(echo), m.payload());
    assert_eq!(
        m.checksum(),
        want.checksum,
        "ICMP checksum over the whole reply"
    );
}

/// `ping -s 3000` from a host on the access port: its three fragments are
/// punted, reassembled, and answered out of the access port in three
/// fragments of at most the access MTU, to the host's MAC; the reply,
/// put back together, is the echo reply a worker would build.
#[test]
fn a_3000_byte_ping_from_a_host_is_answered_in_fragments() {
    let frags = host_ping(3000, 0x5001);
    assert_eq!(frags.len(), 3);
    let mut slow = Slow::new();
    let reply = answered_on(&mut slow, Side::Access, &frags);
    assert_echo_reply(&reply, ACCESS, HOST, 3000);
    let s = slow.st.counters.snapshot();
    assert_eq!(s.slowpath_count(SlowKind::Icmp), 1);
    assert_eq!(s.total_drops(), 0);
    assert_eq!(slow.reasm.in_flight(), 0);
}

/// The same fragments reversed (the last first), and each sent twice: the
/// same reply; each duplicate is dropped alone, as `not_for_us`.
#[test]
fn fragments_reversed_or_duplicated_make_the_same_reply() {
    let frags = host_ping(3000, 0x5002);
    let mut want = Slow::new();
    let want = want.feed_all(Side::Access, &frags);
    let mut reversed = frags.clone();
    reversed.reverse();
    let mut slow = Slow::new();
    let got = slow.feed_all(Side::Access, &reversed);
    assert_eq!(got, want, "reversed");
    let twice: Vec<Vec<u8>> = frags[..2]
        .iter()
        .flat_map(|f| [f.clone(), f.clone()])
        .chain([frags[2].clone()])
        .collect();
    let mut slow = Slow::new();
    let got = slow.feed_all(Side::Access, &twice);
    assert_eq!(got, want, "duplicated");
    assert_eq!(slow.drops(DropReason::NotForUs), 2, "the two duplicates");
    assert_eq!(slow.st.counters.snapshot().total_drops(), 2);
}

/// Overlapping fragments drop the whole datagram, every fragment of it
/// taken so far and the overlapping one counted `bad_ipv4` (RFC 5722):
/// nothing is answered, even once the rest arrives (those wait, and expire
/// as `not_for_us`). So does a datagram whose data would end past byte
/// 65515 (65535 with its header), and a second, different end.
#[test]
fn overlapping_or_oversized_fragments_drop_the_datagram_as_bad_ipv4() {
    let frags = host_ping(3000, 0x5003);
    // The second fragment again, its offset moved back by 8 bytes.
    let mut overlap = frags[1].clone();
    let mut ip = ipv4::Packet::new_unchecked(&mut overlap[14..]);
    let off = ip.frag_offset() - 8;
    ip.set_frag(false, true, off);
    ip.fill_checksum();
    let mut slow = Slow::new();
    let out = slow.feed_all(Side::Access, &[frags[0].clone(), frags[1].clone(), overlap]);
    assert!(out.is_empty());
    assert_eq!(
        slow.drops(DropReason::BadIpv4),
        3,
        "the datagram's fragments"
    );
    assert_eq!(slow.reasm.in_flight(), 0);
    // The last fragment alone opens a new datagram, never completed.
    assert!(slow.feed(Side::Access, &frags[2]).is_empty());
    slow.now += REASSEMBLY_TIMEOUT;
    slow.reasm.expire(slow.now, &slow.st.counters);
    assert_eq!(slow.drops(DropReason::NotForUs), 1);

    // Past byte 65515: a fragment at offset 65008 with 512 bytes.
    let mut far = frags[1].clone();
    let mut ip = ipv4::Packet::new_unchecked(&mut far[14..]);
    ip.set_frag(false, false, 65008);
    ip.set_total_len(20 + 512);
    ip.fill_checksum();
    far.truncate(14 + 20 + 512);
    let mut slow = Slow::new();
    assert!(slow.feed(Side::Access, &frags[0]).is_empty());
    assert!(slow.feed(Side::Access, &far).is_empty());
    assert_eq!(slow.drops(DropReason::BadIpv4), 2, "beyond 65535 bytes");

    // Two last fragments that end apart.
    let mut short_end = frags[2].clone();
    let total = ipv4::Packet::new_checked(&short_end[14..])
        .unwrap()
        .total_len()
        - 8;
    let mut ip = ipv4::Packet::new_unchecked(&mut short_end[14..]);
    ip.set_total_len(total);
    ip.fill_checksum();
    short_end.truncate(14 + usize::from(total));
    let mut slow = Slow::new();
    let out = slow.feed_all(Side::Access, &[frags[2].clone(), short_end]);
    assert!(out.is_empty());
    assert_eq!(slow.drops(DropReason::BadIpv4), 2, "two different ends");
}

/// A datagram missing a fragment is forgotten after the timeout, each of
/// its fragments counted `not_for_us` (as before reassembly); the rest
/// arriving later starts over.
#[test]
fn an_incomplete_datagram_expires_as_not_for_us() {
    let frags = host_ping(3000, 0x5004);
    let mut slow = Slow::new();
    assert!(slow.feed_all(Side::Access, &frags[..2]).is_empty());
    slow.now += REASSEMBLY_TIMEOUT - Duration::from_millis(1);
    slow.reasm.expire(slow.now, &slow.st.counters);
    assert_eq!(slow.reasm.in_flight(), 1, "not yet");
    slow.now += Duration::from_millis(1);
    assert!(slow.feed(Side::Access, &frags[2]).is_empty());
    assert_eq!(slow.drops(DropReason::NotForUs), 2, "the two expired");
    assert_eq!(slow.reasm.in_flight(), 1, "the last fragment, alone");
    let counters = Counters::new();
    slow.reasm.clear(&counters);
    assert_eq!(counters.snapshot().drop_count(DropReason::NotForUs), 1);
}

/// At most `MAX_DATAGRAMS` datagrams wait at once: one more evicts the
/// oldest, whose fragments are counted `not_for_us`; the others still
/// complete.
#[test]
fn a_full_table_evicts_the_oldest_datagram() {
    let pings: Vec<Vec<Vec<u8>>> = (0..=MAX_DATAGRAMS as u16)
        .map(|i| ping_of_many(i, 3000, 0x6000 + i))
        .collect();
    let mut slow = Slow::new();
    for p in &pings {
        assert!(slow.feed_all(Side::Access, &p[..2]).is_empty());
        slow.now += Duration::from_millis(1);
    }
    assert_eq!(slow.reasm.in_flight(), MAX_DATAGRAMS);
    assert_eq!(
        slow.drops(DropReason::NotForUs),
        2,
        "the oldest's two fragments"
    );
    // The oldest's last fragment now waits alone (evicting the next).
    assert!(slow.feed(Side::Access, &pings[0][2]).is_empty());
    assert_eq!(slow.drops(DropReason::NotForUs), 4);
    for p in &pings[2..] {
        assert_eq!(slow.feed(Side::Access, &p[2]).len(), 3);
    }
    assert_eq!(
        slow.st.counters.snapshot().slowpath_count(SlowKind::Icmp),
        (MAX_DATAGRAMS - 1) as u64
    );
}

/// A bad ICMP checksum over the whole request: no reply, each fragment
/// `bad_checksum`; a reassembled ICMP message that is no echo request:
/// each fragment `not_for_us`.
#[test]
fn a_bad_checksum_or_another_icmp_type_is_not_answered() {
    let mut frags = host_ping(3000, 0x5005);
    // One data byte of the last fragment changed: the IPv4 header stays
    // valid, the ICMP checksum over the whole message does not.
    let n = frags[2].len();
    frags[2][n - 1] ^= 0x55;
    let mut slow = Slow::new();
    assert!(slow.feed_all(Side::Access, &frags).is_empty());
    assert_eq!(slow.drops(DropReason::BadChecksum), 3);
    assert_eq!(
        slow.st.counters.snapshot().slowpath_count(SlowKind::Icmp),
        0
    );

    // A timestamp request (type 13) in fragments, checksum right.
    let mut whole = ping(ACCESS_MAC, HOST_MAC, HOST_IP, ACCESS_IP, &pattern(3000));
    whole[34] = 13;
    whole[36..38].fill(0);
    let c = crate::wire::checksum::checksum(&whole[34..]);
    whole[36..38].copy_from_slice(&c.to_be_bytes());
    let frags = sent_in_fragments(&whole, 0x5006, 1500);
    let mut slow = Slow::new();
    assert!(slow.feed_all(Side::Access, &frags).is_empty());
    assert_eq!(slow.drops(DropReason::NotForUs), 3);
}

/// `ping -s 9000` from a pod through the tunnel (fragments of the tunnel's
/// 1450 bytes, each its own VXLAN packet): decapsulated, punted,
/// reassembled; the reply is routed back through the tunnel as the
/// gateway's own packet, in fragments of the tunnel MTU, each encapsulated
/// to the node.
#[test]
fn a_9000_byte_ping_from_a_pod_through_the_tunnel_is_answered_through_it() {
    let (pod, vtep) = ((NODE_VTEP_MAC, POD_IP), (VTEP_MAC, ACCESS_IP));
    let inner = fragmented_ping(pod, vtep, 9000, 0x5007, 1450);
    assert_eq!(inner.len(), 7);
    let outer: Vec<Vec<u8>> = inner.iter().map(|f| tunnelled(f)).collect();
    let mut slow = Slow::new();
    let out = slow.feed_all(Side::Underlay, &outer);
    assert_eq!(out.len(), 7);
    let mut pieces = Vec::new();
    for (v, f) in &out {
        assert_eq!(*v, Verdict::TxUnderlay);
        let outer_ip = ep_ipv4(f, O_IP);
        assert_eq!(outer_ip.destination, NODE_IP.octets());
        assert_eq!(u16::from_be_bytes([f[O_UDP + 2], f[O_UDP + 3]]), PORT);
        pieces.push(f[I_ETH..].to_vec());
    }
    let reply = reassembled(&pieces);
    assert_echo_reply(&reply, vtep, pod, 9000);
    let s = slow.st.counters.snapshot();
    assert_eq!(
        (s.slowpath_count(SlowKind::Icmp), s.encap, s.total_drops()),
        (1, 7, 0)
    );
}

/// `ping -s 3000 172.28.147.40` from a node on the underlay: plain IPv4
/// fragments to our underlay address, taken (no longer `outer_fragment`)
/// and answered out of the underlay port, to the node's MAC.
#[test]
fn a_3000_byte_ping_from_a_node_to_the_underlay_address_is_answered() {
    let frags = fragmented_ping(NODE, UNDERLAY, 3000, 0x5008, 1500);
    let mut slow = Slow::new();
    let reply = answered_on(&mut slow, Side::Underlay, &frags);
    assert_echo_reply(&reply, UNDERLAY, NODE, 3000);
}

/// What stays as it was: fragments of anything but ICMP to us are
/// `not_for_us` from a host and `outer_fragment` from the underlay (VXLAN
/// among them), and fragments of a ping from a source we never answer are
/// dropped in the worker as its whole ping would be, never punted.
#[test]
fn only_icmp_fragments_from_sources_we_answer_are_taken() {
    let ctx = context();
    let l = MapLookup::standard();
    let udp = udp_frame(ACCESS_MAC, HOST_MAC, Ip::new(HOST_IP, ACCESS_IP), 3000);
    let frags = sent_in_fragments(&udp, 0x5009, 1500);
    assert_drop(&ctx, &l, Side::Access, &frags[0], DropReason::NotForUs);
    assert_drop(&ctx, &l, Side::Access, &frags[1], DropReason::NotForUs);
    let vx = pod_to_host(3000);
    for f in sent_in_fragments(&vx, 0x500a, 1500) {
        assert_drop(&ctx, &l, Side::Underlay, &f, DropReason::OuterFragment);
    }
    // Our own address, a directed broadcast, a martian, a source outside
    // our subnet on the access port, our subnet from the underlay.
    let cases = [
        (Side::Access, ACCESS_IP, HOST_MAC, DropReason::NotForUs),
        (
            Side::Access,
            Ipv4Addr::new(10, 244, 255, 255),
            HOST_MAC,
            DropReason::NotForUs,
        ),
        (
            Side::Access,
            Ipv4Addr::new(127, 0, 0, 1),
            HOST_MAC,
            DropReason::BadIpv4,
        ),
        (Side::Access, POD_IP, HOST_MAC, DropReason::BadIpv4),
        (Side::Underlay, HOST_IP, NODE_MAC, DropReason::BadIpv4),
    ];
    for (side, src, mac, reason) in cases {
        let to = (ctx.port_mac(side), ctx.port_ip(side));
        for f in fragmented_ping((mac, src), to, 3000, 0x500b, 1500) {
            assert_drop(&ctx, &l, side, &f, reason);
        }
    }
}

/// The largest ping cut into the smallest fragments (8 bytes of data each:
/// 8 190 of them, in and out of order) is answered like any other; such
/// datagrams are bounded by the memory they hold (`MAX_HELD`, counting
/// each fragment's bookkeeping), not only by their number: the oldest
/// are evicted, each fragment counted once, and what stays is within it.
#[test]
fn datagrams_of_the_smallest_fragments_are_answered_and_bounded_by_memory() {
    use crate::pipeline::reassembly::{MAX_HELD, PIECE_COST};
    let mut frags = fragmented_ping(HOST, ACCESS, 65507, 0x7001, 28);
    assert_eq!(frags.len(), 8190);
    // The first fragment last, the rest from the end.
    frags.rotate_left(1);
    frags[..8189].reverse();
    let mut slow = Slow::new();
    let out = slow.feed_all(Side::Access, &frags);
    assert_eq!(out.len(), 45, "65535 bytes in 1500-byte fragments");
    assert!(out.iter().all(|(v, _)| *v == Verdict::Reply(Side::Access)));
    let pieces: Vec<Vec<u8>> = out.into_iter().map(|(_, f)| f).collect();
    assert_eq!(reassembled(&pieces).len(), 14 + 65535);
    assert_eq!(slow.reasm.in_flight(), 0);

    // Datagrams one fragment short of whole, straight into the table.
    let counters = Counters::new();
    let mut reasm = Reassembly::default();
    let now = Instant::now();
    let each = 8189u64;
    let cost = 65515 + 8189 * PIECE_COST;
    let fit = MAX_HELD / cost;
    let sent = fit as u64 + 3;
    for id in 0..sent as u16 {
        let frags = fragmented_ping(HOST, ACCESS, 65507, 0x7100 + id, 28);
        for f in &frags[..8189] {
            assert!(reasm
                .take(f, Way::Port(Side::Access), now, &counters)
                .is_none());
        }
        assert!(reasm.held() <= MAX_HELD, "{} held", reasm.held());
    }
    assert_eq!(reasm.in_flight(), fit);
    let evicted = counters.snapshot().drop_count(DropReason::NotForUs);
    assert_eq!(evicted, (sent - fit as u64) * each, "the evicted fragments");
    reasm.clear(&counters);
    assert_eq!(
        counters.snapshot().drop_count(DropReason::NotForUs),
        sent * each,
        "every fragment counted once"
    );
}

/// A fragment no datagram can take (no data, here) is refused before it
/// opens one: with the table full it evicts none.
#[test]
fn a_malformed_fragment_evicts_no_datagram() {
    let mut slow = Slow::new();
    for i in 0..MAX_DATAGRAMS as u16 {
        assert!(slow
            .feed_all(Side::Access, &ping_of_many(i, 3000, 0x7200 + i)[..2])
            .is_empty());
    }
    let mut empty = host_ping(3000, 0x7300)[0].clone();
    let mut ip = ipv4::Packet::new_unchecked(&mut empty[14..]);
    ip.set_total_len(20);
    ip.fill_checksum();
    empty.truncate(14 + 20);
    let counters = Counters::new();
    let way = Way::Port(Side::Access);
    assert!(slow.reasm.take(&empty, way, slow.now, &counters).is_none());
    let c = counters.snapshot();
    assert_eq!(c.drop_count(DropReason::BadIpv4), 1);
    assert_eq!(c.drop_count(DropReason::NotForUs), 0, "nothing evicted");
    assert_eq!(slow.reasm.in_flight(), MAX_DATAGRAMS);
}

/// One source holds at most `MAX_PER_SOURCE` datagrams: a source that
/// floods the table with datagrams it never completes evicts its own
/// oldest, never another host's, whose ping is still answered.
#[test]
fn a_flooding_source_evicts_only_its_own_datagrams() {
    let mut slow = Slow::new();
    // Another host's ping, two fragments of three in.
    let other = (HOST_MAC, Ipv4Addr::new(10, 244, 255, 20));
    let theirs = fragmented_ping(other, ACCESS, 3000, 0x7400, 1500);
    assert!(slow.feed_all(Side::Access, &theirs[..2]).is_empty());
    // A flood of first fragments from the host, each a new datagram.
    let flood = 4 * MAX_DATAGRAMS as u16;
    for i in 0..flood {
        assert!(slow
            .feed(Side::Access, &host_ping(3000, 0x7500 + i)[0])
            .is_empty());
        slow.now += Duration::from_micros(10);
    }
    assert_eq!(slow.reasm.in_flight(), MAX_PER_SOURCE + 1);
    assert_eq!(
        slow.drops(DropReason::NotForUs),
        u64::from(flood) - MAX_PER_SOURCE as u64,
        "the flood's own, one fragment each"
    );
    assert_eq!(slow.feed(Side::Access, &theirs[2]).len(), 3, "answered");
}

/// A datagram is charged what it holds: its buffer grows by doubling only
/// when a fragment does not fit (not at every fragment), so 64 pings of
/// 12 000 bytes, 8 of their 9 fragments in, stay well within `MAX_HELD`
/// and none is evicted; 64 of the largest pings (65 507 bytes of data,
/// 45 fragments of 1 480 bytes, the last one first) fit too, as
/// `MAX_HELD` is sized for.
#[test]
fn sixty_four_datagrams_fit_small_or_largest() {
    use crate::pipeline::reassembly::MAX_HELD;
    for (data, parts) in [(12000, 9), (65507, 45)] {
        let mut slow = Slow::new();
        for i in 0..MAX_DATAGRAMS as u16 {
            let mut frags = ping_of_many(i, data, 0x7600 + i);
            assert_eq!(frags.len(), parts);
            frags.rotate_right(1);
            assert!(slow.feed_all(Side::Access, &frags[..parts - 1]).is_empty());
        }
        assert_eq!(slow.reasm.in_flight(), MAX_DATAGRAMS, "{data}");
        assert_eq!(slow.drops(DropReason::NotForUs), 0, "{data}");
        let held = slow.reasm.held();
        assert!(held <= MAX_HELD, "{data}: {held}");
        // Each buffer at most twice what it holds.
        assert!(
            held <= MAX_DATAGRAMS * 2 * (data + 8 + parts * 32),
            "{data}: {held}"
        );
    }
}
