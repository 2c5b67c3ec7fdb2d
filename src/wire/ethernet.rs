//! Ethernet II frames, MAC addresses and 802.1Q / 802.1ad tags.

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
    pub(crate) fn from_slice(b: &[u8]) -> MacAddr {
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
    /// In a tagged frame, the tag's TCI and the ethertype it carries.
    pub const TCI: usize = 14;
    pub const TAGGED_ETHERTYPE: usize = 16;
    pub const TAGGED_PAYLOAD: usize = 18;
}

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Length of an 802.1Q / 802.1ad tag (TPID and TCI).
pub const TAG_LEN: usize = 4;
/// Length of an Ethernet II header with one tag.
pub const TAGGED_HEADER_LEN: usize = field::TAGGED_PAYLOAD;

/// An 802.1Q (TPID 0x8100) or 802.1ad (0x88a8) tag as a value: the TPID,
/// the TCI (priority, DEI, VLAN id) and the ethertype behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    pub tpid: u16,
    pub tci: u16,
    pub ethertype: u16,
}

impl Tag {
    /// The VLAN id: the low 12 bits of the TCI.
    pub const fn vid(&self) -> u16 {
        self.tci & 0x0fff
    }
    /// The 802.1p priority (PCP): the top 3 bits of the TCI.
    pub const fn pcp(&self) -> u8 {
        (self.tci >> 13) as u8
    }
    /// VLAN id 0: a priority tag (802.1p only), whose frame belongs to no
    /// VLAN (IEEE 802.1Q: the frame is taken as untagged).
    pub const fn is_priority_only(&self) -> bool {
        self.vid() == 0
    }
}

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
    /// The tag behind the source address: `Ok(None)` for an untagged
    /// frame, `Err(Truncated)` for a tagged one that ends before the tag
    /// and the ethertype behind it are whole.
    pub fn tag(&self) -> Result<Option<Tag>, Error> {
        if !self.is_vlan_tagged() {
            return Ok(None);
        }
        let b = self.buffer.as_ref();
        if b.len() < TAGGED_HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Some(Tag {
            tpid: self.ethertype(),
            tci: be16(b, field::TCI),
            ethertype: be16(b, field::TAGGED_ETHERTYPE),
        }))
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

    /// A priority-tagged ARP frame: TPID 0x8100, PCP 5, DEI 0, VID 0.
    const TAGGED: [u8; 20] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0e, 0x01, 0x02, 0x03, 0x04, 0x05, 0x81, 0x00, 0xa0,
        0x00, 0x08, 0x06, 0xaa, 0xbb,
    ];

    #[test]
    fn tag_golden_and_truncated() {
        let f = Frame::new_checked(&TAGGED[..]).unwrap();
        let t = f.tag().unwrap().unwrap();
        assert_eq!(
            (t.tpid, t.tci, t.ethertype),
            (0x8100, 0xa000, ethertype::ARP)
        );
        assert_eq!((t.pcp(), t.vid()), (5, 0));
        assert!(t.is_priority_only());
        assert_eq!(Frame::new_checked(&GOLDEN[..]).unwrap().tag(), Ok(None));
        for n in HEADER_LEN..TAGGED_HEADER_LEN {
            let f = Frame::new_checked(&TAGGED[..n]).unwrap();
            assert_eq!(f.tag(), Err(Error::Truncated), "{n} bytes");
        }
        let mut b = TAGGED;
        b[15] = 0x01;
        let t = Frame::new_checked(&b[..]).unwrap().tag().unwrap().unwrap();
        assert_eq!((t.vid(), t.is_priority_only()), (1, false));
        b[14] = 0x1f; // DEI and the VID's top bits
        b[15] = 0xff;
        b[12..14].copy_from_slice(&[0x88, 0xa8]);
        let t = Frame::new_checked(&b[..]).unwrap().tag().unwrap().unwrap();
        assert_eq!((t.tpid, t.pcp(), t.vid()), (ethertype::QINQ, 0, 0x0fff));
    }

    /// Every TPID, TCI and ethertype behind the tag as etherparse reads
    /// them, and where the tagged frame's payload starts.
    #[test]
    fn tag_cross_check_with_etherparse() {
        use etherparse::{Ethernet2Header, SingleVlanHeader};
        for tpid in [ethertype::VLAN, ethertype::QINQ] {
            for tci in [
                0x0000u16, 0x2000, 0xe000, 0x1000, 0x0001, 0x0800, 0xa123, 0xffff,
            ] {
                for inner in [ethertype::IPV4, ethertype::ARP, ethertype::VLAN] {
                    let mut b = TAGGED;
                    b[12..14].copy_from_slice(&tpid.to_be_bytes());
                    b[14..16].copy_from_slice(&tci.to_be_bytes());
                    b[16..18].copy_from_slice(&inner.to_be_bytes());
                    let ours = Frame::new_checked(&b[..]).unwrap().tag().unwrap().unwrap();
                    let (eth, rest) = Ethernet2Header::from_slice(&b).unwrap();
                    let (v, payload) = SingleVlanHeader::from_slice(rest).unwrap();
                    assert_eq!(eth.ether_type.0, ours.tpid);
                    assert_eq!(v.vlan_id.value(), ours.vid(), "{tci:#x}");
                    assert_eq!(v.pcp.value(), ours.pcp(), "{tci:#x}");
                    assert_eq!(v.drop_eligible_indicator, ours.tci & 0x1000 != 0);
                    assert_eq!(v.ether_type.0, ours.ethertype);
                    assert_eq!(payload, &b[TAGGED_HEADER_LEN..]);
                }
            }
        }
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
