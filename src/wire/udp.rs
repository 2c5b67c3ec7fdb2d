//! UDP datagrams (RFC 768) with the IPv4 pseudo-header checksum.

use super::checksum;
use super::{be16, put16, Error};
use std::net::Ipv4Addr;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

pub const HEADER_LEN: usize = 8;

/// A view of a UDP datagram. After `new_checked` the length field is at
/// least 8 and fits in the buffer (trailing bytes are ignored).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(be16(b, field::LENGTH));
        if len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if b.len() < len {
            return Err(Error::Truncated);
        }
        Ok(Packet { buffer })
    }
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT)
    }
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }
    /// Never true for a checked packet (the length covers the header).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }
    /// True when the checksum is zero (not computed, legal over IPv4) or
    /// correct over the pseudo-header, header and payload.
    pub fn checksum_ok(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = self.len();
        let s = checksum::pseudo_header(src, dst, super::ipv4::protocol::UDP, len);
        checksum::fold(checksum::sum(s, &self.buffer.as_ref()[..usize::from(len)])) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT, v);
    }
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT, v);
    }
    pub fn set_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::LENGTH, v);
    }
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }
    /// Computes the checksum over the pseudo-header; a computed zero is
    /// sent as 0xffff (zero means "no checksum").
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let len = self.len();
        let s = checksum::pseudo_header(src, dst, super::ipv4::protocol::UDP, len);
        let c = !checksum::fold(checksum::sum(s, &self.buffer.as_ref()[..usize::from(len)]));
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..len]
    }
}

/// A UDP header as a value (checksum handled by `emit`'s flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload_len: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload_len: p.len() - HEADER_LEN as u16,
        }
    }
    /// Writes the header into `p` (which must hold header and payload);
    /// the checksum is computed when `checksum` is given the IP addresses,
    /// else left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        p: &mut Packet<T>,
        checksum: Option<(Ipv4Addr, Ipv4Addr)>,
    ) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_len(self.payload_len.saturating_add(HEADER_LEN as u16));
        p.set_checksum(0);
        if let Some((s, d)) = checksum {
            p.fill_checksum(s, d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    // 4789 -> 8472, payload "vxgate", checksum over pseudo-header.
    const GOLDEN: [u8; 14] = [
        0x12, 0xb5, 0x21, 0x18, 0x00, 0x0e, 0xf5, 0xc1, b'v', b'x', b'g', b'a', b't', b'e',
    ];

    #[test]
    fn emit_golden() {
        let mut b = [0u8; 14];
        b[8..].copy_from_slice(b"vxgate");
        let r = Repr {
            src_port: 4789,
            dst_port: 8472,
            payload_len: 6,
        };
        r.emit(&mut Packet::new_unchecked(&mut b[..]), Some((SRC, DST)));
        assert_eq!(b, GOLDEN);
    }

    #[test]
    fn parse_golden() {
        let p = Packet::new_checked(&GOLDEN[..]).unwrap();
        assert!(p.checksum_ok(SRC, DST));
        assert!(!p.checksum_ok(SRC, Ipv4Addr::new(192, 0, 2, 3)));
        assert_eq!(p.payload(), b"vxgate");
        assert_eq!(Repr::parse(&p).payload_len, 6);
    }

    #[test]
    fn zero_checksum_accepted() {
        let mut b = GOLDEN;
        b[6] = 0;
        b[7] = 0;
        assert!(Packet::new_checked(&b[..]).unwrap().checksum_ok(SRC, DST));
    }

    #[test]
    fn lengths_checked() {
        for n in 0..GOLDEN.len() {
            assert_eq!(
                Packet::new_checked(&GOLDEN[..n]).err(),
                Some(Error::Truncated),
                "{n}"
            );
        }
        let mut b = GOLDEN;
        b[5] = 7;
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Malformed));
    }

    #[test]
    fn cross_check_with_etherparse() {
        let h = etherparse::UdpHeader::with_ipv4_checksum(
            4789,
            8472,
            &etherparse::Ipv4Header::new(
                14,
                64,
                etherparse::IpNumber::UDP,
                SRC.octets(),
                DST.octets(),
            )
            .unwrap(),
            b"vxgate",
        )
        .unwrap();
        assert_eq!(&h.to_bytes()[..], &GOLDEN[..8]);
    }
}
