//! Header builders for the generator's templates: Ethernet, IPv4, UDP and
//! VXLAN written into a `Vec` at setup time (never in the hot path), and the
//! Internet checksum used both there and, incrementally, per packet.
use std::net::Ipv4Addr;

pub const ETH_LEN: usize = 14;
pub const IPV4_LEN: usize = 20;
pub const UDP_LEN: usize = 8;
pub const VXLAN_LEN: usize = 8;
/// Ethernet + IPv4 + UDP: where an inner frame's UDP payload starts.
pub const INNER_HDRS: usize = ETH_LEN + IPV4_LEN + UDP_LEN;
/// What VXLAN encapsulation adds in front of an inner frame.
pub const VXLAN_OVERHEAD: usize = ETH_LEN + IPV4_LEN + UDP_LEN + VXLAN_LEN;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const IPPROTO_UDP: u8 = 17;
pub const TTL: u8 = 64;

pub type Mac = [u8; 6];

/// One's-complement sum of big-endian 16-bit words (an odd last byte is
/// padded with zero), not yet folded.
#[inline(always)]
pub fn sum16(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(2);
    let mut s: u64 = 0;
    for c in &mut chunks {
        s += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        s += u64::from(*last) << 8;
    }
    s
}

/// Folds carries into 16 bits.
#[inline(always)]
pub fn fold(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The UDP checksum to put on the wire from a full unfolded sum (a computed
/// zero is sent as 0xffff: zero means "no checksum").
#[inline(always)]
pub fn udp_checksum_from_sum(s: u64) -> u16 {
    match !fold(s) {
        0 => 0xffff,
        c => c,
    }
}

/// Sum of the IPv4 pseudo header of a UDP segment of `udp_len` bytes.
pub fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, udp_len: u16) -> u64 {
    sum16(&src.octets()) + sum16(&dst.octets()) + u64::from(IPPROTO_UDP) + u64::from(udp_len)
}

pub fn push_eth(buf: &mut Vec<u8>, dst: Mac, src: Mac) {
    buf.extend_from_slice(&dst);
    buf.extend_from_slice(&src);
    buf.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
}

/// IPv4 header without options, DF clear, with a correct checksum.
pub fn push_ipv4(buf: &mut Vec<u8>, src: Ipv4Addr, dst: Ipv4Addr, total_len: u16, id: u16) {
    let mut h = [0u8; IPV4_LEN];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&total_len.to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    h[8] = TTL;
    h[9] = IPPROTO_UDP;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = !fold(sum16(&h));
    h[10..12].copy_from_slice(&c.to_be_bytes());
    buf.extend_from_slice(&h);
}

/// UDP header with checksum zero (filled in later when wanted).
pub fn push_udp(buf: &mut Vec<u8>, sport: u16, dport: u16, len: u16) {
    buf.extend_from_slice(&sport.to_be_bytes());
    buf.extend_from_slice(&dport.to_be_bytes());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&[0, 0]);
}

/// VXLAN header: flags with only the I bit, the 24-bit VNI, reserved zero.
pub fn push_vxlan(buf: &mut Vec<u8>, vni: u32) {
    let v = (vni & 0x00ff_ffff).to_be_bytes();
    buf.extend_from_slice(&[0x08, 0, 0, 0, v[1], v[2], v[3], 0]);
}

/// Parses `aa:bb:cc:dd:ee:ff` (or with `-`) with vxgate's one MAC parser.
pub fn parse_mac(s: &str) -> Result<Mac, String> {
    crate::config::parse_mac(s)
        .map_err(|_| format!("{s:?} is not a MAC address (want aa:bb:cc:dd:ee:ff)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_checksum_matches_the_rfc1071_example_header() {
        // A classic example header (checksum 0xb861).
        let mut b = Vec::new();
        push_ipv4(
            &mut b,
            Ipv4Addr::new(192, 168, 0, 1),
            Ipv4Addr::new(192, 168, 0, 199),
            0x0073,
            0,
        );
        // That example uses TTL 64, proto 17, id 0, DF set; ours has DF clear,
        // so the checksum is 0x4000 higher in one's complement terms.
        assert_eq!(&b[10..12], &[0xf8, 0x61]);
        assert_eq!(fold(sum16(&b)), 0xffff, "a valid header sums to all ones");
    }

    #[test]
    fn sum16_pads_an_odd_byte() {
        assert_eq!(sum16(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn vxlan_header_has_only_the_i_flag_and_the_vni() {
        let mut b = Vec::new();
        push_vxlan(&mut b, 0x0a0b0c);
        assert_eq!(b, [0x08, 0, 0, 0, 0x0a, 0x0b, 0x0c, 0]);
    }

    #[test]
    fn mac_round_trips_and_rejects_garbage() {
        let m = parse_mac("0e:56:54:00:01:ff").unwrap();
        assert_eq!(crate::config::format_mac(&m), "0e:56:54:00:01:ff");
        assert!(parse_mac("0e:56:54:00:01").is_err());
        assert!(parse_mac("0e:56:54:00:01:zz").is_err());
        assert!(
            parse_mac("+e:56:54:00:01:ff").is_err(),
            "two hex digits each"
        );
        assert!(parse_mac("e:56:54:00:01:ff").is_err());
    }
}
