//! Ethernet II frames, MAC addresses and 802.1Q tag detection.

use super::{be16, put16, Error};
use core::fmt;
use core::str::FromStr;

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    pub const fn octets(self) -> [u8; 6] {
        self.0
    }
    /// The address as the low 48 bits of a little-endian word: how the
    /// tables pack MACs and how the fast paths compare them (one compare
    /// against 8 header bytes masked to 48 bits).
    #[inline]
    pub const fn to_word(self) -> u64 {
        let b = self.0;
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], 0, 0])
    }
    /// The inverse of `to_word` (bits above 48 are ignored). One 6-byte
    /// copy: built byte by byte, the compiler stores the bytes one by one.
    #[inline]
    pub fn from_word(w: u64) -> MacAddr {
        let mut m = [0u8; 6];
        m.copy_from_slice(&w.to_le_bytes()[..6]);
        MacAddr(m)
    }
    /// Group bit set (multicast or broadcast).
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 0x01 != 0
    }
    pub fn is_broadcast(self) -> bool {
        self == Self::BROADCAST
    }
    pub fn is_unicast(self) -> bool {
        !self.is_multicast()
    }
    /// Locally administered bit set.
    pub const fn is_local(self) -> bool {
        self.0[0] & 0x02 != 0
    }
    /// Copies the address from a slice of at least 6 bytes.
    fn from_slice(b: &[u8]) -> MacAddr {
        let mut m = [0u8; 6];
        m.copy_from_slice(&b[..6]);
        MacAddr(m)
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(b: [u8; 6]) -> Self {
        MacAddr(b)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// A string that is not six colon-separated hex octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseMacError;

impl fmt::Display for ParseMacError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid MAC address: expected six hex octets like 0e:1a:2b:3c:4d:5e")
    }
}

impl std::error::Error for ParseMacError {}

impl FromStr for MacAddr {
    type Err = ParseMacError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for o in &mut out {
            let p = parts.next().ok_or(ParseMacError)?;
            if p.is_empty() || p.len() > 2 {
                return Err(ParseMacError);
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| ParseMacError)?;
        }
        if parts.next().is_some() {
            return Err(ParseMacError);
        }
        Ok(MacAddr(out))
    }
}

/// EtherType values vxgate cares about.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const IPV6: u16 = 0x86dd;
}

mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: usize = 14;
}

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Frame { buffer })
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn dst(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[field::DST])
    }
    pub fn src(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[field::SRC])
    }
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ETHERTYPE)
    }
    /// An 802.1Q or 802.1ad tag follows the source address.
    pub fn is_vlan_tagged(&self) -> bool {
        matches!(self.ethertype(), ethertype::VLAN | ethertype::QINQ)
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&m.0);
    }
    pub fn set_src(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&m.0);
    }
    pub fn set_ethertype(&mut self, t: u16) {
        put16(self.buffer.as_mut(), field::ETHERTYPE, t);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// The Ethernet header as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: MacAddr,
    pub dst: MacAddr,
    pub ethertype: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(f: &Frame<T>) -> Repr {
        Repr {
            src: f.src(),
            dst: f.dst(),
            ethertype: f.ethertype(),
        }
    }
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes the header; `f` must hold at least `HEADER_LEN` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, f: &mut Frame<T>) {
        f.set_dst(self.dst);
        f.set_src(self.src);
        f.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0e, 0x01, 0x02, 0x03, 0x04, 0x05, 0x08, 0x06, 0xaa,
        0xbb,
    ];

    #[test]
    fn parse_golden() {
        let f = Frame::new_checked(&GOLDEN[..]).unwrap();
        assert!(f.dst().is_broadcast());
        assert_eq!(f.src(), MacAddr([0x0e, 1, 2, 3, 4, 5]));
        assert_eq!(f.ethertype(), ethertype::ARP);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
        assert!(!f.is_vlan_tagged());
    }

    #[test]
    fn emit_golden() {
        let mut b = [0u8; 16];
        b[14] = 0xaa;
        b[15] = 0xbb;
        let mut f = Frame::new_checked(&mut b[..]).unwrap();
        Repr {
            src: MacAddr([0x0e, 1, 2, 3, 4, 5]),
            dst: MacAddr::BROADCAST,
            ethertype: ethertype::ARP,
        }
        .emit(&mut f);
        assert_eq!(b, GOLDEN);
    }

    #[test]
    fn short_frames_rejected() {
        for n in 0..HEADER_LEN {
            assert_eq!(
                Frame::new_checked(&GOLDEN[..n]).err(),
                Some(Error::Truncated)
            );
        }
    }

    #[test]
    fn vlan_tag_detected() {
        let mut b = GOLDEN;
        b[12] = 0x81;
        b[13] = 0x00;
        assert!(Frame::new_checked(&b[..]).unwrap().is_vlan_tagged());
        b[12] = 0x88;
        b[13] = 0xa8;
        assert!(Frame::new_checked(&b[..]).unwrap().is_vlan_tagged());
    }

    #[test]
    fn mac_display_and_parse_round_trip() {
        let m: MacAddr = "16:ab:0a:e0:e7:60".parse().unwrap();
        assert_eq!(m, MacAddr([0x16, 0xab, 0x0a, 0xe0, 0xe7, 0x60]));
        assert_eq!(m.to_string(), "16:ab:0a:e0:e7:60");
        assert_eq!("0E:1:2:3:4:5".parse::<MacAddr>().unwrap().0[0], 0x0e);
        assert!(m.is_local() && m.is_unicast());
        for bad in [
            "",
            "16:ab:0a:e0:e7",
            "16:ab:0a:e0:e7:60:01",
            "16:ab:0a:e0:e7:6g",
            "1:2:3:4:5:123",
            "::::::",
        ] {
            assert_eq!(bad.parse::<MacAddr>(), Err(ParseMacError), "{bad}");
        }
    }

    #[test]
    fn cross_check_with_etherparse() {
        let (h, rest) = etherparse::Ethernet2Header::from_slice(&GOLDEN).unwrap();
        let f = Frame::new_checked(&GOLDEN[..]).unwrap();
        assert_eq!(h.source, f.src().0);
        assert_eq!(h.destination, f.dst().0);
        assert_eq!(h.ether_type.0, f.ethertype());
        assert_eq!(rest, f.payload());
    }
}
