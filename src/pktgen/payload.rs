//! The 18 bytes every generated frame carries at the start of its innermost
//! UDP payload, and how the receiver finds them again.
//!
//! Layout (big-endian), chosen to fit a 64-byte inner frame exactly
//! (60 bytes without FCS - 42 bytes of headers = 18):
//!
//! | bytes  | field                                          |
//! |--------|------------------------------------------------|
//! | 0..2   | magic `VX`                                     |
//! | 2..5   | run id (24 bits, random per run; 0 in a pcap)  |
//! | 5..7   | flow index                                     |
//! | 7..13  | sequence number (48 bits, global)              |
//! | 13..18 | TSC at transmission (low 40 bits)              |
//!
//! The run id tells this run's frames from those of an earlier pktgen
//! process that arrive late (released from a gateway's ARP hold queue, left
//! in a ring): such a frame carries a valid stamp, but not ours. 40 bits of
//! TSC wrap after 2^40 ticks (366 s at 3 GHz), far above the one-minute
//! latency cap, and leave half of that range to tell a stamp that is ahead
//! of the receiver's TSC (core skew) from a long latency.
use super::headers::{ETHERTYPE_IPV4, INNER_HDRS, IPPROTO_UDP, VXLAN_OVERHEAD};

pub const MAGIC: [u8; 2] = *b"VX";
pub const PAYLOAD_LEN: usize = 18;
/// Bytes of the payload that are fixed per flow (magic, run id, flow index).
pub const FIXED_LEN: usize = 7;
/// Bytes written per frame after the fixed part (sequence and TSC).
pub const STAMP_LEN: usize = PAYLOAD_LEN - FIXED_LEN;
pub const MASK48: u64 = (1 << 48) - 1;
/// The TSC travels in 40 bits.
pub const TSC_BITS: u32 = 40;
pub const TSC_MASK: u64 = (1 << TSC_BITS) - 1;
/// Run ids are 24 bits; 0 is the id of frames written to a pcap file, live
/// runs draw theirs from 1 to this.
pub const MAX_RUN_ID: u32 = (1 << 24) - 1;
/// The run id of frames written to a pcap file (no live run has it).
pub const PCAP_RUN_ID: u32 = 0;

/// Where the payload sits: after the headers of an inner frame, or 50 bytes
/// later when that frame is VXLAN-encapsulated.
pub const OFFSETS: [usize; 2] = [INNER_HDRS, INNER_HDRS + VXLAN_OVERHEAD];

/// What a receiver reads back from a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub run: u32,
    pub flow: u16,
    pub seq: u64,
    /// The sender's TSC, low [`TSC_BITS`] bits.
    pub tsc: u64,
}

/// A random run id for a live run (never [`PCAP_RUN_ID`]).
pub fn new_run_id() -> u32 {
    use rand::Rng;
    rand::thread_rng().gen_range(1..=MAX_RUN_ID)
}

/// Writes the per-flow fixed part (magic, the low 24 bits of `run` and the
/// flow index).
pub fn write_fixed(out: &mut Vec<u8>, run: u32, flow: u16) {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&run.to_be_bytes()[1..]);
    out.extend_from_slice(&flow.to_be_bytes());
}

/// Writes sequence and timestamp into the bytes after the fixed part.
#[inline(always)]
pub fn write_stamp(out: &mut [u8; STAMP_LEN], seq: u64, tsc: u64) {
    let s = (seq & MASK48).to_be_bytes();
    let t = (tsc & TSC_MASK).to_be_bytes();
    out[..6].copy_from_slice(&s[2..]);
    out[6..].copy_from_slice(&t[3..]);
}

#[inline(always)]
fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x))
}

/// True when `frame` has IPv4/UDP headers at `l2` (the start of an Ethernet
/// header): a cheap guard so that the magic is only trusted where our
/// headers would have put it.
#[inline(always)]
fn ipv4_udp_at(frame: &[u8], l2: usize) -> bool {
    matches!(
        (frame.get(l2 + 12..l2 + 14), frame.get(l2 + 23)),
        (Some(et), Some(&p)) if et == ETHERTYPE_IPV4.to_be_bytes() && p == IPPROTO_UDP
    )
}

/// Finds our payload in a received frame: as sent (inner or VXLAN), after a
/// gateway decapsulated it (50 bytes earlier) or encapsulated it (50 later).
#[inline(always)]
pub fn find(frame: &[u8]) -> Option<Stamp> {
    for off in OFFSETS {
        let Some(p) = frame.get(off..off + PAYLOAD_LEN) else {
            continue;
        };
        if p[..2] != MAGIC {
            continue;
        }
        let inner_l2 = off - INNER_HDRS;
        if !ipv4_udp_at(frame, inner_l2) || (inner_l2 > 0 && !ipv4_udp_at(frame, 0)) {
            continue;
        }
        return Some(Stamp {
            run: be(&p[2..5]) as u32,
            flow: u16::from_be_bytes([p[5], p[6]]),
            seq: be(&p[7..13]),
            tsc: be(&p[13..18]),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_with_payload_at(off: usize, total: usize) -> Vec<u8> {
        let mut f = vec![0u8; total];
        for l2 in [0, off - INNER_HDRS] {
            f[l2 + 12..l2 + 14].copy_from_slice(&[0x08, 0x00]);
            f[l2 + 23] = 17;
        }
        let mut fixed = Vec::new();
        write_fixed(&mut fixed, 0xff_a1b2c3, 0x0102);
        assert_eq!(fixed.len(), FIXED_LEN);
        f[off..off + FIXED_LEN].copy_from_slice(&fixed);
        let mut st = [0u8; STAMP_LEN];
        write_stamp(&mut st, 0x1_0000_0000_0007, 0xffff_1234_5678_9abc);
        f[off + FIXED_LEN..off + PAYLOAD_LEN].copy_from_slice(&st);
        f
    }

    #[test]
    fn the_stamp_fits_the_smallest_frames() {
        use crate::pktgen::flows::{FlowPlan, Mode};
        // 64-byte inner frames (60 without FCS) and 114-byte VXLAN frames
        // hold the payload exactly after their headers.
        assert_eq!(OFFSETS[0] + PAYLOAD_LEN, 60);
        assert_eq!(FlowPlan::min_frame_len(Mode::Inner), 60);
        assert_eq!(FlowPlan::min_frame_len(Mode::Vxlan), 110);
        assert_eq!(OFFSETS[1] + PAYLOAD_LEN, 110);
    }

    #[test]
    fn golden_bytes_of_the_layout() {
        let f = frame_with_payload_at(INNER_HDRS, INNER_HDRS + PAYLOAD_LEN);
        assert_eq!(
            f[INNER_HDRS..],
            [
                b'V', b'X', // magic
                0xa1, 0xb2, 0xc3, // run id, low 24 bits
                0x01, 0x02, // flow
                0, 0, 0, 0, 0, 7, // sequence, 48 bits
                0x34, 0x56, 0x78, 0x9a, 0xbc, // TSC, low 40 bits
            ]
        );
    }

    #[test]
    fn finds_the_stamp_in_inner_and_encapsulated_frames() {
        for off in OFFSETS {
            let f = frame_with_payload_at(off, off + PAYLOAD_LEN);
            assert_eq!(
                find(&f),
                Some(Stamp {
                    run: 0xa1b2c3,
                    flow: 0x0102,
                    seq: 0x1_0000_0000_0007 & MASK48,
                    tsc: 0x34_5678_9abc
                }),
                "offset {off}"
            );
        }
    }

    #[test]
    fn ignores_truncated_frames_and_frames_without_our_headers() {
        let f = frame_with_payload_at(INNER_HDRS, INNER_HDRS + PAYLOAD_LEN);
        for n in 0..f.len() {
            assert_eq!(find(&f[..n]), None, "truncated to {n}");
        }
        let mut not_udp = f.clone();
        not_udp[23] = 6;
        assert_eq!(find(&not_udp), None);
        for i in 0..MAGIC.len() {
            let mut bad_magic = f.clone();
            bad_magic[INNER_HDRS + i] ^= 1;
            assert_eq!(find(&bad_magic), None);
        }
    }

    #[test]
    fn live_run_ids_are_24_bits_and_never_the_pcap_id() {
        for _ in 0..1000 {
            let id = new_run_id();
            assert!((1..=MAX_RUN_ID).contains(&id), "{id}");
            assert_ne!(id, PCAP_RUN_ID);
        }
    }
}
