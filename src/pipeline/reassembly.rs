//! Reassembly of the IPv4 fragments of ICMP datagrams addressed to the
//! gateway itself, for the slow path: a fragmented echo request (`ping -s
//! 3000`) is put back together here and answered, as Linux and routers'
//! control planes answer it. Workers only punt such fragments
//! (`Punt(Fragment)`); each fragment's bytes are copied out of its buffer
//! here, so the buffer is freed at once and nothing waits in the pool.
//!
//! The table is small and bounded: [`MAX_DATAGRAMS`] datagrams in flight,
//! each at most 65535 bytes, [`MAX_HELD`] bytes in all, forgotten after
//! [`REASSEMBLY_TIMEOUT`].
//! Overlapping fragments drop the whole datagram (RFC 5722's rule for
//! IPv6, which Linux applies to IPv4 too). Every fragment taken is counted
//! under exactly one drop reason when its datagram is not answered:
//! `not_for_us` for a datagram that expired, was evicted, or is no echo
//! request we answer (and for an exact duplicate of a fragment held),
//! `bad_ipv4` for an overlap, an inconsistent end or a datagram beyond
//! 65535 bytes, `bad_checksum` for an ICMP checksum wrong over the whole
//! message; an answered datagram is counted once as slowpath `icmp`.
//! docs/pipeline.md, "Fragmented pings to the gateway", has the decisions.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::buf::VecBuf;
use super::context::Context;
use super::counters::Counters;
use super::drop_reason::{DropReason, SlowKind};
use super::icmp_answers::readdress_reply;
use super::lookup::Lookup;
use super::slowpath::echo_reply_in_place;
use super::state::WorkerState;
use super::verdict::Side;
use crate::wire::ethernet;
use crate::wire::ipv4;

/// Datagrams reassembled at once; one more evicts the oldest. 16 let 20
/// pings whose fragments came interleaved evict one another, unanswered.
pub const MAX_DATAGRAMS: usize = 64;
/// Datagrams one source may have in the table: a source that opens more
/// evicts its own oldest, so a flood from one host (fragments never
/// completed, new idents) leaves the other 48 places to everyone else.
pub const MAX_PER_SOURCE: usize = 16;
/// The most memory the datagrams held may take, their data and what each
/// fragment costs to keep ([`PIECE_COST`]): about 4 MiB, Linux's default
/// `ipfrag_high_thresh`, sized so that `MAX_DATAGRAMS` pings of 65 535
/// bytes in 1 480-byte fragments (45 each) fit. Past it the oldest
/// datagrams are evicted, as Linux evicts: datagrams cut into 8-byte
/// fragments (8 190 each) fit 13 at a time.
pub const MAX_HELD: usize = MAX_DATAGRAMS * (MAX_DATA + 48 * PIECE_COST);
/// What one fragment held costs beyond its data: a generous bound on an
/// entry of the B-tree of pieces (two `u16`; nodes of 11 entries, at
/// least 5 used).
pub const PIECE_COST: usize = 32;
/// How long a datagram waits for its missing fragments (Linux waits 30 s;
/// a ping's fragments arrive within a millisecond of one another).
pub const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(5);
/// The most data a datagram may carry: 65535 bytes less the 20-byte
/// header it is rebuilt with.
pub const MAX_DATA: usize = 65535 - ipv4::HEADER_LEN;

/// The Ethernet header and the fixed IPv4 header kept of a datagram.
const HEAD: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;

/// How the answer to a datagram leaves: back out of the port its
/// fragments came in on (a host on the access port, a node on the
/// underlay), or through the tunnel (a pod; routed as the gateway's own
/// packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    Port(Side),
    Tunnel,
}

impl Way {
    /// The way back for a fragment a worker punted after receiving it on
    /// `rx` (`Context::decapsulated` tells a tunnel's from the wire's).
    pub fn of(ctx: &Context, rx: Side, frame: &[u8]) -> Way {
        match rx {
            Side::Underlay if ctx.decapsulated(frame) => Way::Tunnel,
            side => Way::Port(side),
        }
    }
}

/// What identifies a datagram (RFC 791).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    src: u32,
    dst: u32,
    protocol: u8,
    ident: u16,
}

/// A datagram being reassembled.
#[derive(Debug)]
struct Datagram {
    key: Key,
    since: Instant,
    way: Way,
    /// The Ethernet and fixed IPv4 header of its first fragment taken.
    head: [u8; HEAD],
    /// Its data, as far as received.
    data: Vec<u8>,
    /// Where each fragment taken lies in `data`, `start -> end` (the end
    /// excluded; both at most 65 535). In order and apart: a new piece
    /// overlaps one only if it overlaps the last that starts before its
    /// end, so each fragment costs a lookup, not a pass over them all (a
    /// datagram may come in 8 190 fragments).
    pieces: BTreeMap<u16, u16>,
    /// The furthest end received.
    furthest: usize,
    /// The data's length, once the last fragment came.
    end: Option<usize>,
    /// Bytes of data received (no overlap: they are all distinct).
    received: usize,
}

/// What one more fragment makes of its datagram.
enum Added {
    Held,
    /// The same piece again: dropped alone.
    Duplicate,
    /// Overlapping, inconsistent or too long: the datagram is dropped.
    Bad,
    Complete,
}

/// A fragment of `len` bytes at `start` no datagram can take: no data, a
/// piece that is not the last and not a multiple of 8 (the next one could
/// not start behind it), or data past 65515.
fn malformed(start: usize, len: usize, last: bool) -> bool {
    len == 0 || (!last && len % 8 != 0) || start + len > MAX_DATA
}

impl Datagram {
    /// One more fragment, not `malformed` (`take` checks that first).
    fn add(&mut self, start: usize, bytes: &[u8], last: bool) -> Added {
        let end = start + bytes.len();
        // Never fails for a fragment not `malformed` (end <= 65515).
        let (Ok(s16), Ok(e16)) = (u16::try_from(start), u16::try_from(end)) else {
            return Added::Bad;
        };
        if self.pieces.get(&s16) == Some(&e16) && (!last || self.end == Some(end)) {
            return Added::Duplicate;
        }
        let consistent = match self.end {
            Some(e) => end <= e && (!last || end == e),
            None => !last || self.furthest <= end,
        };
        let overlaps = self
            .pieces
            .range(..e16)
            .next_back()
            .is_some_and(|(_, &e)| e > s16);
        if !consistent || overlaps {
            return Added::Bad;
        }
        if self.data.capacity() < end {
            // Grown by doubling, never past the largest datagram: a
            // datagram's data holds at most `MAX_DATA` bytes.
            let want = end.max((2 * self.data.capacity()).min(MAX_DATA));
            self.data.reserve_exact(want - self.data.len());
        }
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[start..end].copy_from_slice(bytes);
        self.pieces.insert(s16, e16);
        self.furthest = self.furthest.max(end);
        self.received += bytes.len();
        if last {
            self.end = Some(end);
        }
        match self.end {
            Some(e) if self.received == e => Added::Complete,
            _ => Added::Held,
        }
    }

    fn fragments(&self) -> u64 {
        self.pieces.len() as u64
    }

    /// The memory it holds, as `MAX_HELD` counts it.
    fn cost(&self) -> usize {
        self.data.capacity() + self.pieces.len() * PIECE_COST
    }

    /// The whole datagram as one frame: its first fragment's Ethernet and
    /// fixed IPv4 header (options dropped: the reply echoes none), not a
    /// fragment any more, then its data.
    fn whole(mut self) -> Whole {
        let mut frame = Vec::with_capacity(HEAD + self.data.len());
        frame.extend_from_slice(&self.head);
        frame.append(&mut self.data);
        // At most 65535: every piece ends by `MAX_DATA`.
        let total = (frame.len() - ethernet::HEADER_LEN) as u16;
        let mut ip = ipv4::Packet::new_unchecked(&mut frame[ethernet::HEADER_LEN..]);
        ip.set_ver_ihl(ipv4::HEADER_LEN);
        ip.set_total_len(total);
        ip.set_frag(false, false, 0);
        ip.fill_checksum();
        Whole {
            fragments: self.fragments(),
            way: self.way,
            frame,
        }
    }
}

/// A reassembled datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whole {
    /// Ethernet + IPv4 (20-byte header) + the datagram's data.
    pub frame: Vec<u8>,
    pub way: Way,
    /// How many fragments it was received in.
    pub fragments: u64,
}

/// The datagrams being reassembled.
#[derive(Debug)]
pub struct Reassembly {
    datagrams: Vec<Datagram>,
    timeout: Duration,
}

impl Default for Reassembly {
    fn default() -> Self {
        Reassembly::new(REASSEMBLY_TIMEOUT)
    }
}

impl Reassembly {
    pub fn new(timeout: Duration) -> Reassembly {
        Reassembly {
            datagrams: Vec::with_capacity(MAX_DATAGRAMS),
            timeout,
        }
    }

    /// Datagrams waiting for fragments.
    pub fn in_flight(&self) -> usize {
        self.datagrams.len()
    }

    /// Takes one fragment (an Ethernet + IPv4 frame a worker validated,
    /// padding trimmed) that came `way`; returns its datagram once whole.
    /// What is dropped on the way is counted in `counters`.
    pub fn take(
        &mut self,
        frame: &[u8],
        way: Way,
        now: Instant,
        counters: &Counters,
    ) -> Option<Whole> {
        self.expire(now, counters);
        let parsed = frame
            .get(ethernet::HEADER_LEN..)
            .and_then(|b| ipv4::Packet::new_checked(b).ok());
        let Some(ip) = parsed.filter(|ip| ip.is_fragment()) else {
            counters.dropped(DropReason::BadIpv4);
            return None;
        };
        let key = Key {
            src: ip.src_u32(),
            dst: ip.dst_u32(),
            protocol: ip.protocol(),
            ident: ip.ident(),
        };
        let start = usize::from(ip.frag_offset());
        let (bytes, last) = (ip.payload(), !ip.more_frags());
        let found = self.datagrams.iter().position(|d| d.key == key);
        if malformed(start, bytes.len(), last) {
            // Its datagram, if any, goes with it; none is opened for it
            // (which could evict one that is live).
            let held = found.map_or(0, |i| self.datagrams.swap_remove(i).fragments());
            counters.drops(DropReason::BadIpv4, held + 1);
            return None;
        }
        let i = match found {
            Some(i) => i,
            None => self.open(key, &frame[..HEAD], way, now, counters),
        };
        match self.datagrams[i].add(start, bytes, last) {
            Added::Held => {
                self.keep_within_bounds(key, counters);
                None
            }
            Added::Duplicate => {
                counters.dropped(DropReason::NotForUs);
                None
            }
            Added::Bad => {
                let d = self.datagrams.swap_remove(i);
                counters.drops(DropReason::BadIpv4, d.fragments() + 1);
                None
            }
            Added::Complete => Some(self.datagrams.swap_remove(i).whole()),
        }
    }

    /// Evicts the oldest datagrams other than `key`'s while all of them
    /// hold more than `MAX_HELD` (one alone holds at most 65 515 bytes
    /// and 8 190 pieces, well within it).
    fn keep_within_bounds(&mut self, key: Key, counters: &Counters) {
        let mut held = self.held();
        while held > MAX_HELD {
            let Some(cost) = self.evict_oldest(|d| d.key != key, counters) else {
                return;
            };
            held -= cost;
        }
    }

    /// Evicts the oldest datagram `among` picks, its fragments counted
    /// `not_for_us`; the memory it held, or `None` when `among` picks none.
    fn evict_oldest(
        &mut self,
        among: impl Fn(&Datagram) -> bool,
        counters: &Counters,
    ) -> Option<usize> {
        let i = (0..self.datagrams.len())
            .filter(|&i| among(&self.datagrams[i]))
            .min_by_key(|&i| self.datagrams[i].since)?;
        let d = self.datagrams.swap_remove(i);
        counters.drops(DropReason::NotForUs, d.fragments());
        Some(d.cost())
    }

    /// The memory the datagrams held take (`MAX_HELD` counts it).
    pub fn held(&self) -> usize {
        self.datagrams.iter().map(Datagram::cost).sum()
    }

    /// A new datagram, evicting the source's oldest when it has
    /// `MAX_PER_SOURCE`, else the oldest when the table is full; its
    /// index.
    fn open(
        &mut self,
        key: Key,
        head: &[u8],
        way: Way,
        now: Instant,
        counters: &Counters,
    ) -> usize {
        let of_source = |d: &Datagram| d.key.src == key.src;
        if self.datagrams.iter().filter(|d| of_source(d)).count() >= MAX_PER_SOURCE {
            self.evict_oldest(of_source, counters);
        } else if self.datagrams.len() >= MAX_DATAGRAMS {
            self.evict_oldest(|_| true, counters);
        }
        let mut h = [0u8; HEAD];
        h.copy_from_slice(head);
        self.datagrams.push(Datagram {
            key,
            since: now,
            way,
            head: h,
            data: Vec::new(),
            pieces: BTreeMap::new(),
            furthest: 0,
            end: None,
            received: 0,
        });
        self.datagrams.len() - 1
    }

    /// Forgets the datagrams older than the timeout, their fragments
    /// counted `not_for_us` (unanswered, as before reassembly).
    pub fn expire(&mut self, now: Instant, counters: &Counters) {
        let timeout = self.timeout;
        self.datagrams.retain(|d| {
            let live = now.saturating_duration_since(d.since) < timeout;
            if !live {
                counters.drops(DropReason::NotForUs, d.fragments());
            }
            live
        });
    }

    /// Forgets every datagram (at shutdown), counted as expired ones are.
    pub fn clear(&mut self, counters: &Counters) {
        for d in self.datagrams.drain(..) {
            counters.drops(DropReason::NotForUs, d.fragments());
        }
    }
}

/// An echo reply to a reassembled request, to be fragmented to `mtu` and
/// sent `way`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Ethernet + IPv4 + ICMP, addressed (for a port) to the host.
    pub frame: Vec<u8>,
    pub mtu: u16,
    pub way: Way,
}

impl Reassembly {
    /// What the slow path does with a fragment of ICMP to us a worker
    /// punted after receiving it on `rx`: taken (`take`), and once its
    /// datagram is whole, answered (`echo_reply`; counted once as slowpath
    /// `icmp`) or its fragments dropped, each under the reason.
    pub fn answer<L: Lookup>(
        &mut self,
        ctx: &Context,
        lookup: &L,
        st: &mut WorkerState,
        rx: Side,
        frame: &[u8],
        now: Instant,
    ) -> Option<Reply> {
        let way = Way::of(ctx, rx, frame);
        let whole = self.take(frame, way, now, &st.counters)?;
        let fragments = whole.fragments;
        match echo_reply(ctx, lookup, st, whole) {
            Ok((frame, mtu)) => {
                st.counters.slowpath(SlowKind::Icmp);
                Some(Reply { frame, mtu, way })
            }
            Err(reason) => {
                st.counters.drops(reason, fragments);
                None
            }
        }
    }
}

/// The answer to a reassembled datagram: the echo reply, built by
/// `echo_reply_in_place` exactly as a worker builds it for an unfragmented
/// request (source our address, TTL 64, DF clear, TOS kept, no options,
/// ICMP checksum verified over the whole request and refilled; the ident
/// the next of `st`'s sequence) and addressed as a worker addresses it
/// (`readdress_reply` for a port), with the MTU of its way back to be
/// fragmented to. `Err`: the reason each of its fragments is dropped
/// under (`not_for_us`: no echo request, or no host to answer;
/// `bad_checksum`).
fn echo_reply<L: Lookup>(
    ctx: &Context,
    lookup: &L,
    st: &mut WorkerState,
    whole: Whole,
) -> Result<(Vec<u8>, u16), DropReason> {
    // Rewritten where it was reassembled: the request becomes the reply.
    let mut b = VecBuf::from_vec(whole.frame);
    let our_mac = ctx.port_mac(match whole.way {
        Way::Port(side) => side,
        Way::Tunnel => Side::Access,
    });
    echo_reply_in_place(&mut b, our_mac, st.next_ident)?;
    st.take_ident();
    let mtu = match whole.way {
        Way::Port(side) => {
            readdress_reply(ctx, lookup, &mut b, side).ok_or(DropReason::NotForUs)?;
            match side {
                Side::Access => ctx.cfg.access_mtu,
                Side::Underlay => ctx.cfg.underlay_mtu,
            }
        }
        // Routed as the gateway's own packet, into the tunnel (or, for a
        // DirectRouting node, plainly): small enough for either.
        Way::Tunnel => ctx.fragment_mtu(),
    };
    Ok((b.into_data(), mtu))
}
