//! ICMPv4 (RFC 792): echo, time-exceeded and fragmentation-needed
//! (RFC 1191 next-hop MTU), the messages vxgate answers or generates.

use super::checksum;
use super::{be16, put16, Error};

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ: usize = 6;
    pub const MTU: usize = 6;
}

pub const HEADER_LEN: usize = 8;

pub mod msg {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAM_PROBLEM: u8 = 12;
    /// Code of DEST_UNREACHABLE: fragmentation needed and DF set.
    pub const CODE_FRAG_NEEDED: u8 = 4;
    /// Code of TIME_EXCEEDED: TTL exceeded in transit.
    pub const CODE_TTL_EXCEEDED: u8 = 0;

    /// The highest type RFC 792/950 define (address mask reply).
    pub const LAST_KNOWN_TYPE: u8 = 18;

    /// An error message, to which no ICMP error may be sent (RFC 1122),
    /// or a type unknown to RFC 792/950, which Linux treats as an error
    /// too (`__icmp_send`: `*itp > NR_ICMP_TYPES`).
    pub const fn is_error(t: u8) -> bool {
        t > LAST_KNOWN_TYPE
            || matches!(
                t,
                DEST_UNREACHABLE | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAM_PROBLEM
            )
    }
}

/// A view of an ICMP message: the 8-byte header and the rest.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Packet { buffer })
    }
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT)
    }
    pub fn echo_seq(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SEQ)
    }
    pub fn next_hop_mtu(&self) -> u16 {
        be16(self.buffer.as_ref(), field::MTU)
    }
    /// The whole message (header and data) sums to all ones.
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(self.buffer.as_ref())
    }
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }
    pub fn set_echo_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::IDENT, v);
    }
    pub fn set_echo_seq(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SEQ, v);
    }
    /// Bytes 4..8: unused (zero) and the next-hop MTU (RFC 1191).
    pub fn set_next_hop_mtu(&mut self, mtu: u16) {
        put16(self.buffer.as_mut(), field::IDENT, 0);
        put16(self.buffer.as_mut(), field::MTU, mtu);
    }
    /// Checksum over the whole buffer (header and data).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// The ICMP header kinds vxgate handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr {
    EchoRequest { ident: u16, seq: u16 },
    EchoReply { ident: u16, seq: u16 },
    TimeExceeded,
    FragNeeded { next_hop_mtu: u16 },
    Other { msg_type: u8, code: u8 },
}

impl Repr {
    /// Parses the header; the checksum is checked by the caller when needed.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        match (p.msg_type(), p.code()) {
            (msg::ECHO_REQUEST, 0) => Repr::EchoRequest {
                ident: p.echo_ident(),
                seq: p.echo_seq(),
            },
            (msg::ECHO_REPLY, 0) => Repr::EchoReply {
                ident: p.echo_ident(),
                seq: p.echo_seq(),
            },
            (msg::TIME_EXCEEDED, msg::CODE_TTL_EXCEEDED) => Repr::TimeExceeded,
            (msg::DEST_UNREACHABLE, msg::CODE_FRAG_NEEDED) => Repr::FragNeeded {
                next_hop_mtu: p.next_hop_mtu(),
            },
            (msg_type, code) => Repr::Other { msg_type, code },
        }
    }

    /// Writes the 8-byte header, then the checksum over the whole buffer
    /// (so the data must already be in place behind the header).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        match *self {
            Repr::EchoRequest { ident, seq } | Repr::EchoReply { ident, seq } => {
                let t = if matches!(self, Repr::EchoRequest { .. }) {
                    msg::ECHO_REQUEST
                } else {
                    msg::ECHO_REPLY
                };
                p.set_msg_type(t);
                p.set_code(0);
                p.set_echo_ident(ident);
                p.set_echo_seq(seq);
            }
            Repr::TimeExceeded => {
                p.set_msg_type(msg::TIME_EXCEEDED);
                p.set_code(msg::CODE_TTL_EXCEEDED);
                p.set_next_hop_mtu(0);
            }
            Repr::FragNeeded { next_hop_mtu } => {
                p.set_msg_type(msg::DEST_UNREACHABLE);
                p.set_code(msg::CODE_FRAG_NEEDED);
                p.set_next_hop_mtu(next_hop_mtu);
            }
            Repr::Other { msg_type, code } => {
                p.set_msg_type(msg_type);
                p.set_code(code);
            }
        }
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{Icmpv4Slice, Icmpv4Type};

    // echo request id 0x1234 seq 1 with data "abcd"; checksum precomputed.
    const ECHO: [u8; 12] = [
        8, 0, 0x21, 0x04, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn echo_golden() {
        let p = Packet::new_checked(&ECHO[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(
            Repr::parse(&p),
            Repr::EchoRequest {
                ident: 0x1234,
                seq: 1
            }
        );
        let mut b = ECHO;
        b[..8].fill(0);
        Repr::EchoRequest {
            ident: 0x1234,
            seq: 1,
        }
        .emit(&mut Packet::new_unchecked(&mut b[..]));
        assert_eq!(b, ECHO);
    }

    #[test]
    fn frag_needed_golden() {
        let mut b = [0u8; 8];
        Repr::FragNeeded { next_hop_mtu: 1450 }.emit(&mut Packet::new_unchecked(&mut b[..]));
        assert_eq!(b, [3, 4, 0xf7, 0x51, 0, 0, 0x05, 0xaa]);
        let s = Icmpv4Slice::from_slice(&b).unwrap();
        assert_eq!(
            s.icmp_type(),
            Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded {
                    next_hop_mtu: 1450
                }
            )
        );
    }

    #[test]
    fn cross_check_with_etherparse() {
        let s = Icmpv4Slice::from_slice(&ECHO).unwrap();
        match s.icmp_type() {
            Icmpv4Type::EchoRequest(h) => assert_eq!((h.id, h.seq), (0x1234, 1)),
            other => panic!("etherparse saw {other:?}"),
        }
        let h = etherparse::Icmpv4Header::with_checksum(
            Icmpv4Type::TimeExceeded(etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit),
            b"abcd",
        );
        let mut b = [0u8; 12];
        b[8..].copy_from_slice(b"abcd");
        Repr::TimeExceeded.emit(&mut Packet::new_unchecked(&mut b[..]));
        assert_eq!(&h.to_bytes()[..], &b[..8]);
        for n in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&ECHO[..n]).err(),
                Some(Error::Truncated)
            );
        }
    }
}
