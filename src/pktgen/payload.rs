//! The 18 bytes every generated frame carries at the start of its innermost
//! UDP payload, and how the receiver finds them again.
//!
//! Layout (big-endian), chosen to fit a 64-byte inner frame exactly
//! (60 bytes without FCS - 42 bytes of headers = 18):
//!
//! | bytes  | field                                   |
//! |--------|-----------------------------------------|
//! | 0..4   | magic `VXPG`                            |
//! | 4..6   | flow index                              |
//! | 6..12  | sequence number (48 bits, global)       |
//! | 12..18 | TSC at transmission (low 48 bits)       |
use super::headers::{ETHERTYPE_IPV4, INNER_HDRS, IPPROTO_UDP, VXLAN_OVERHEAD};

pub const MAGIC: [u8; 4] = *b"VXPG";
pub const PAYLOAD_LEN: usize = 18;
/// Bytes of the payload that are fixed per flow (magic + flow index).
pub const FIXED_LEN: usize = 6;
pub const MASK48: u64 = (1 << 48) - 1;

/// Where the payload sits: after the headers of an inner frame, or 50 bytes
/// later when that frame is VXLAN-encapsulated.
pub const OFFSETS: [usize; 2] = [INNER_HDRS, INNER_HDRS + VXLAN_OVERHEAD];

/// What a receiver reads back from a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub flow: u16,
    pub seq: u64,
    pub tsc48: u64,
}

/// Writes the per-flow fixed part (magic and flow index).
pub fn write_fixed(out: &mut Vec<u8>, flow: u16) {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&flow.to_be_bytes());
}

/// Writes sequence and timestamp into the 12 bytes after the fixed part.
#[inline(always)]
pub fn write_stamp(out: &mut [u8; 12], seq: u64, tsc: u64) {
    let s = (seq & MASK48).to_be_bytes();
    let t = (tsc & MASK48).to_be_bytes();
    out[..6].copy_from_slice(&s[2..]);
    out[6..].copy_from_slice(&t[2..]);
}

#[inline(always)]
fn be48(b: &[u8]) -> u64 {
    b.iter().take(6).fold(0u64, |a, &x| (a << 8) | u64::from(x))
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
        if p[..4] != MAGIC {
            continue;
        }
        let inner_l2 = off - INNER_HDRS;
        if !ipv4_udp_at(frame, inner_l2) || (inner_l2 > 0 && !ipv4_udp_at(frame, 0)) {
            continue;
        }
        return Some(Stamp {
            flow: u16::from_be_bytes([p[4], p[5]]),
            seq: be48(&p[6..12]),
            tsc48: be48(&p[12..18]),
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
        write_fixed(&mut fixed, 0x0102);
        f[off..off + FIXED_LEN].copy_from_slice(&fixed);
        let mut st = [0u8; 12];
        write_stamp(&mut st, 0x1_0000_0000_0007, 0xffff_1234_5678_9abc);
        f[off + FIXED_LEN..off + PAYLOAD_LEN].copy_from_slice(&st);
        f
    }

    #[test]
    fn finds_the_stamp_in_inner_and_encapsulated_frames() {
        for off in OFFSETS {
            let f = frame_with_payload_at(off, off + PAYLOAD_LEN);
            assert_eq!(
                find(&f),
                Some(Stamp {
                    flow: 0x0102,
                    seq: 0x1_0000_0000_0007 & MASK48,
                    tsc48: 0x1234_5678_9abc
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
        let mut bad_magic = f;
        bad_magic[INNER_HDRS] ^= 1;
        assert_eq!(find(&bad_magic), None);
    }
}
