//! Fixed-size header work for the fast paths: the IPv4 header checksum
//! test and a router's rewrite of the first 26 bytes (Ethernet addresses,
//! TTL, checksum), on arrays whose length the compiler knows, so without
//! bounds checks. Each is tested against the wire code it stands in for.

use crate::wire::MacAddr;

/// True when an option-less IPv4 header sums to all ones: the same test
/// as `ipv4::Packet::verify_checksum`. The ones' complement sum does not
/// depend on byte order (RFC 1071 2(B)), so the header is summed as five
/// little-endian 32-bit words. Their ones' complement sum is all ones
/// exactly when the plain sum is a non-zero multiple of 0xffff (2^16 is 1
/// modulo 0xffff, so 32-bit words sum as their 16-bit halves do): one
/// remainder by a constant instead of four folds.
#[inline(always)]
pub(crate) fn header_checksum_ok(h: &[u8; 20]) -> bool {
    let w = |i: usize| u64::from(u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    let s = w(0) + w(4) + w(8) + w(12) + w(16);
    s != 0 && s % 0xffff == 0
}

/// What a router does to the first 26 bytes of an `[Ethernet][IPv4]`
/// frame it forwards: new Ethernet addresses, TTL - 1 (TTL at least 1: it
/// forwards only TTL above 1) with the header checksum updated to the
/// bytes `ipv4::Packet::decrement_ttl` writes (RFC 1624 eqn. 3), on a
/// fixed-size view: no bounds checks. `false` (untouched) if the frame is
/// shorter than that.
#[inline(always)]
pub(crate) fn forward_rewrite(frame: &mut [u8], src: MacAddr, dst: MacAddr) -> bool {
    let Some(Ok(h)) = frame.get_mut(..26).map(<&mut [u8; 26]>::try_from) else {
        return false;
    };
    h[0..6].copy_from_slice(&dst.0);
    h[6..12].copy_from_slice(&src.0);
    h[22] = h[22].wrapping_sub(1);
    // The TTL is the high byte of its word: the checksum grows by 0x0100
    // in ones' complement, the carry added back (as Linux's
    // ip_decrease_ttl). Like eqn. 3 this never gives 0xffff, so the bytes
    // are the same.
    let c = u32::from(u16::from_be_bytes([h[24], h[25]])) + 0x0100;
    let c = c + u32::from(c >= 0xffff);
    h[24..26].copy_from_slice(&(c as u16).to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testing;
    use crate::wire::ethernet::Frame;
    use crate::wire::ipv4;

    #[test]
    fn header_checksum_matches_wire() {
        let f = testing::host_to_pod(10);
        let mut h: [u8; 20] = f[14..34].try_into().unwrap();
        for i in 0..20 {
            for bit in [0x01u8, 0x80] {
                h[i] ^= bit;
                let want = ipv4::Packet::new_unchecked(&h[..]).verify_checksum();
                assert_eq!(header_checksum_ok(&h), want, "byte {i}");
                h[i] ^= bit;
            }
        }
        assert!(header_checksum_ok(&h));
        assert!(!header_checksum_ok(&[0u8; 20]));
        // Every value of the checksum field, on option-less headers of
        // zeros, of ones and of a pattern: as the wire code says.
        for fill in [0x00u8, 0xff, 0x5a] {
            let mut h = [fill; 20];
            h[0] = 0x45;
            for check in 0..=u16::MAX {
                h[10..12].copy_from_slice(&check.to_be_bytes());
                let want = ipv4::Packet::new_unchecked(&h[..]).verify_checksum();
                assert_eq!(header_checksum_ok(&h), want, "{h:02x?}");
            }
        }
    }

    #[test]
    fn forward_rewrite_matches_wire() {
        let mut f = testing::host_to_pod(10);
        let (src, dst) = (MacAddr([1, 2, 3, 4, 5, 6]), MacAddr([7, 8, 9, 10, 11, 12]));
        for ttl in [1u8, 2, 64, 255] {
            for check in 0..=u16::MAX {
                f[22] = ttl;
                f[24..26].copy_from_slice(&check.to_be_bytes());
                let mut want = f.clone();
                ipv4::Packet::new_unchecked(&mut want[14..]).decrement_ttl();
                let mut e = Frame::new_unchecked(&mut want[..]);
                e.set_src(src);
                e.set_dst(dst);
                assert!(forward_rewrite(&mut f, src, dst));
                assert_eq!(f, want, "ttl {ttl} check {check:#x}");
            }
        }
        let mut short = [0u8; 25];
        assert!(!forward_rewrite(&mut short, src, dst));
        assert_eq!(short, [0u8; 25]);
    }
}
