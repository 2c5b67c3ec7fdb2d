//! ARP for IPv4 over Ethernet (RFC 826), the only kind vxgate speaks.

use super::ethernet::MacAddr;
use super::{be16, put16, Error};
use std::net::Ipv4Addr;

mod field {
    use core::ops::Range;
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;
pub const HTYPE_ETHERNET: u16 = 1;
pub const PTYPE_IPV4: u16 = 0x0800;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Request,
    Reply,
}

impl Operation {
    pub const fn code(self) -> u16 {
        match self {
            Operation::Request => 1,
            Operation::Reply => 2,
        }
    }
}

/// A view of an ARP packet; `new_checked` only checks the length.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn ip_at(b: &[u8], r: core::ops::Range<usize>) -> Ipv4Addr {
    let mut o = [0u8; 4];
    o.copy_from_slice(&b[r]);
    Ipv4Addr::from(o)
}

fn mac_at(b: &[u8], r: core::ops::Range<usize>) -> MacAddr {
    let mut o = [0u8; 6];
    o.copy_from_slice(&b[r]);
    MacAddr(o)
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < PACKET_LEN {
            return Err(Error::Truncated);
        }
        Ok(Packet { buffer })
    }
    pub fn htype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::HTYPE)
    }
    pub fn ptype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PTYPE)
    }
    pub fn hlen(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }
    pub fn plen(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }
    pub fn oper(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OPER)
    }
    pub fn sender_mac(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), field::SHA)
    }
    pub fn sender_ip(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::SPA)
    }
    pub fn target_mac(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), field::THA)
    }
    pub fn target_ip(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::TPA)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_htype(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::HTYPE, v);
    }
    pub fn set_ptype(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::PTYPE, v);
    }
    pub fn set_hlen(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }
    pub fn set_plen(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v;
    }
    pub fn set_oper(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::OPER, v);
    }
    pub fn set_sender_mac(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&m.0);
    }
    pub fn set_sender_ip(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&ip.octets());
    }
    pub fn set_target_mac(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&m.0);
    }
    pub fn set_target_ip(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&ip.octets());
    }
}

/// An Ethernet/IPv4 ARP request or reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub operation: Operation,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl Repr {
    /// Parses an Ethernet/IPv4 request or reply; other kinds are `Malformed`.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, Error> {
        if p.htype() != HTYPE_ETHERNET || p.ptype() != PTYPE_IPV4 || p.hlen() != 6 || p.plen() != 4
        {
            return Err(Error::Malformed);
        }
        let operation = match p.oper() {
            1 => Operation::Request,
            2 => Operation::Reply,
            _ => return Err(Error::Malformed),
        };
        Ok(Repr {
            operation,
            sender_mac: p.sender_mac(),
            sender_ip: p.sender_ip(),
            target_mac: p.target_mac(),
            target_ip: p.target_ip(),
        })
    }

    /// Writes all 28 bytes; the packet must have been `new_checked`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_htype(HTYPE_ETHERNET);
        p.set_ptype(PTYPE_IPV4);
        p.set_hlen(6);
        p.set_plen(4);
        p.set_oper(self.operation.code());
        p.set_sender_mac(self.sender_mac);
        p.set_sender_ip(self.sender_ip);
        p.set_target_mac(self.target_mac);
        p.set_target_ip(self.target_ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // who-has 10.244.255.1 tell 10.244.255.10 from 02:00:00:00:00:0a
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, 10,
        244, 255, 10, 0, 0, 0, 0, 0, 0, 10, 244, 255, 1,
    ];

    fn repr() -> Repr {
        Repr {
            operation: Operation::Request,
            sender_mac: MacAddr([2, 0, 0, 0, 0, 0x0a]),
            sender_ip: Ipv4Addr::new(10, 244, 255, 10),
            target_mac: MacAddr::ZERO,
            target_ip: Ipv4Addr::new(10, 244, 255, 1),
        }
    }

    #[test]
    fn parse_golden() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), repr());
    }

    #[test]
    fn emit_golden() {
        let mut b = [0xeeu8; 28];
        repr().emit(&mut Packet::new_checked(&mut b[..]).unwrap());
        assert_eq!(b, REQUEST);
    }

    #[test]
    fn rejects_short_and_foreign() {
        for n in 0..PACKET_LEN {
            assert_eq!(
                Packet::new_checked(&REQUEST[..n]).err(),
                Some(Error::Truncated)
            );
        }
        let mut b = REQUEST;
        b[1] = 6; // IEEE 802 hardware type
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap()),
            Err(Error::Malformed)
        );
        let mut b = REQUEST;
        b[7] = 3; // RARP request
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap()),
            Err(Error::Malformed)
        );
    }
    // etherparse 0.16 has no ARP support, so ARP is checked against golden bytes only.
}
