//! IPv4 headers (RFC 791): lengths, fragmentation fields, TTL, checksum.

use super::checksum;
use super::{be16, put16, Error};
use std::net::Ipv4Addr;

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// IP protocol numbers vxgate looks at.
pub mod protocol {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const SCTP: u8 = 132;
}

/// ECN codepoints (RFC 3168 section 5): the low two bits of the TOS byte.
pub mod ecn {
    pub const NOT_ECT: u8 = 0b00;
    pub const ECT1: u8 = 0b01;
    pub const ECT0: u8 = 0b10;
    pub const CE: u8 = 0b11;
    pub const MASK: u8 = 0b11;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet. After `new_checked` the version is 4, the
/// header length is at least 20 and fits, and the total length covers the
/// header and fits in the buffer (trailing bytes, e.g. Ethernet padding,
/// are allowed and ignored by `payload`).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Packet { buffer };
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` when the buffer is too short for what the header claims,
    /// `Malformed` for a bad version, header length or total length.
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(Error::Malformed);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(Error::Malformed);
        }
        let total = usize::from(self.total_len());
        if total < hl {
            return Err(Error::Malformed);
        }
        if b.len() < hl || b.len() < total {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }
    /// The ECN field (`ecn::*`).
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & ecn::MASK
    }
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT)
    }
    pub fn dont_frag(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0
    }
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (be16(self.buffer.as_ref(), field::FLG_OFF) & OFFSET_MASK) << 3
    }
    /// Part of a fragmented datagram (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        be16(self.buffer.as_ref(), field::FLG_OFF) & (FLAG_MF | OFFSET_MASK) != 0
    }
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    pub fn src(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }
    pub fn dst(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }
    /// Source as a host-order integer.
    pub fn src_u32(&self) -> u32 {
        super::be32(self.buffer.as_ref(), field::SRC.start)
    }
    /// Destination as a host-order integer.
    pub fn dst_u32(&self) -> u32 {
        super::be32(self.buffer.as_ref(), field::DST.start)
    }
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }
    /// The option list is well formed (`walk_options`); true without
    /// options. Needs a checked packet.
    pub fn options_ok(&self) -> bool {
        self.header_len() == HEADER_LEN || walk_options(self.options(), |_| {}).is_ok()
    }
    /// The data would end past byte 65535 of its datagram (fragment
    /// offset plus payload length): a fragment no datagram can hold, whose
    /// later pieces could not say their offset. Never for an unfragmented
    /// packet.
    pub fn ends_past_max_datagram(&self) -> bool {
        let payload = usize::from(self.total_len()).saturating_sub(self.header_len());
        usize::from(self.frag_offset()) + payload > usize::from(u16::MAX)
    }
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(self.header())
    }
    /// The payload up to the total length (padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_ver_ihl(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }
    pub fn set_total_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::LENGTH, v);
    }
    pub fn set_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::IDENT, v);
    }
    /// Sets DF, MF and the offset (in bytes, a multiple of 8) at once.
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, offset_bytes: u16) {
        let mut v = (offset_bytes >> 3) & OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        put16(self.buffer.as_mut(), field::FLG_OFF, v);
    }
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }
    pub fn set_src(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }
    pub fn set_dst(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }
    /// Recomputes the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }
    /// Decrements TTL and patches the checksum incrementally (RFC 1624).
    /// The caller has checked that TTL is above 1.
    pub fn decrement_ttl(&mut self) {
        let b = self.buffer.as_mut();
        let old = be16(b, field::TTL);
        b[field::TTL] = b[field::TTL].wrapping_sub(1);
        let new = be16(b, field::TTL);
        let c = checksum::update16(be16(b, field::CHECKSUM), old, new);
        put16(b, field::CHECKSUM, c);
    }
    /// Sets the ECN field to `value` (`ecn::*`), the DSCP kept, and
    /// patches the checksum incrementally (RFC 1624 eqn. 3, as
    /// `decrement_ttl`): the bytes a full computation gives, since a
    /// version-4 header never sums to zero.
    pub fn set_ecn(&mut self, value: u8) {
        let b = self.buffer.as_mut();
        let old = be16(b, field::VER_IHL);
        b[field::DSCP_ECN] = (b[field::DSCP_ECN] & !ecn::MASK) | (value & ecn::MASK);
        let new = be16(b, field::VER_IHL);
        let c = checksum::update16(be16(b, field::CHECKSUM), old, new);
        put16(b, field::CHECKSUM, c);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[h..t]
    }
}

/// Option kinds with a meaning of their own in the list's shape.
pub mod option {
    /// End of option list: the rest of the header is padding.
    pub const EOL: u8 = 0;
    /// No operation: one byte, no length.
    pub const NOP: u8 = 1;
    /// The copied flag (RFC 791): the option goes into every fragment.
    pub const COPIED: u8 = 0x80;
}

/// Walks an option list (the header bytes after the first 20) and calls
/// `each` with every option but NOP, its kind and length bytes included.
/// The shape is what Linux's `ip_options_compile` demands of any option
/// before it reads one (malformed: `InHdrErrors`): EOL ends the list,
/// NOP is one byte, any other option has a length byte of at least 2 that
/// fits in what is left. `Malformed` otherwise; `each` may have seen the
/// options before the bad one.
pub fn walk_options(opts: &[u8], mut each: impl FnMut(&[u8])) -> Result<(), Error> {
    let mut rest = opts;
    while let Some(&kind) = rest.first() {
        match kind {
            option::EOL => break,
            option::NOP => rest = rest.get(1..).unwrap_or_default(),
            _ => {
                let len = usize::from(rest.get(1).copied().unwrap_or(0));
                if len < 2 || len > rest.len() {
                    return Err(Error::Malformed);
                }
                // In bounds: `len <= rest.len()` above.
                let (o, tail) = rest.split_at(len);
                each(o);
                rest = tail;
            }
        }
    }
    Ok(())
}

/// An option-less IPv4 header as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub payload_len: u16,
    pub ttl: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub dscp_ecn: u8,
}

impl Repr {
    /// Parses a checked packet. Fragments, options and bad checksums are
    /// rejected as `Malformed`; callers that need them use the view.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, Error> {
        if p.header_len() != HEADER_LEN || p.is_fragment() || !p.verify_checksum() {
            return Err(Error::Malformed);
        }
        Ok(Repr {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            payload_len: p.total_len() - HEADER_LEN as u16,
            ttl: p.ttl(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            dscp_ecn: p.dscp_ecn(),
        })
    }

    /// Writes a 20-byte header with a correct checksum into `b[..20]`.
    /// Returns `Truncated` if `b` is shorter than 20 bytes.
    pub fn emit(&self, b: &mut [u8]) -> Result<(), Error> {
        let h = b.get_mut(..HEADER_LEN).ok_or(Error::Truncated)?;
        let mut p = Packet::new_unchecked(h);
        p.set_ver_ihl(HEADER_LEN);
        p.set_dscp_ecn(self.dscp_ecn);
        p.set_total_len(self.payload_len.saturating_add(HEADER_LEN as u16));
        p.set_ident(self.ident);
        p.set_frag(self.dont_frag, false, 0);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src(self.src);
        p.set_dst(self.dst);
        p.fill_checksum();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 172.28.147.40 -> 172.28.147.44, UDP, TTL 64, ident 0x1234, DF clear,
    // total length 28 (8 bytes of payload).
    const GOLDEN: [u8; 28] = [
        0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11, 0xea, 0x0f, 172, 28, 147, 40,
        172, 28, 147, 44, 1, 2, 3, 4, 5, 6, 7, 8,
    ];

    fn repr() -> Repr {
        Repr {
            src: Ipv4Addr::new(172, 28, 147, 40),
            dst: Ipv4Addr::new(172, 28, 147, 44),
            protocol: protocol::UDP,
            payload_len: 8,
            ttl: 64,
            ident: 0x1234,
            dont_frag: false,
            dscp_ecn: 0,
        }
    }

    #[test]
    fn emit_golden() {
        let mut b = GOLDEN;
        b[..20].fill(0);
        repr().emit(&mut b).unwrap();
        assert_eq!(b, GOLDEN);
    }

    #[test]
    fn parse_golden() {
        let p = Packet::new_checked(&GOLDEN[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(Repr::parse(&p).unwrap(), repr());
        assert_eq!(p.payload(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(p.dst_u32(), 0xac1c_932c);
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
        b[0] = 0x65;
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Malformed));
        let mut b = GOLDEN;
        b[0] = 0x44;
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Malformed));
        let mut b = GOLDEN;
        b[3] = 19;
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Malformed));
        // Options claimed but not present: header runs past the buffer.
        let mut b = GOLDEN;
        b[0] = 0x4f;
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Malformed));
        let mut padded = GOLDEN.to_vec();
        padded.extend_from_slice(&[0; 10]);
        assert_eq!(Packet::new_checked(&padded[..]).unwrap().payload().len(), 8);
    }

    #[test]
    fn fragment_fields() {
        let mut b = GOLDEN;
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_frag(true, true, 1480);
        assert!(p.dont_frag() && p.more_frags() && p.is_fragment());
        assert_eq!(p.frag_offset(), 1480);
        p.set_frag(true, false, 0);
        assert!(!p.is_fragment());
    }

    /// The shape `ip_options_compile` demands: EOL ends the list, NOP is
    /// one byte, every other option has a length byte of at least 2 that
    /// fits. `each` sees every option but NOP, in order.
    #[test]
    fn option_lists_are_walked_by_their_shape() {
        let walk = |opts: &[u8]| {
            let mut seen = Vec::new();
            walk_options(opts, |o| seen.push(o.to_vec())).map(|()| seen)
        };
        let rr = [7, 7, 4, 0, 0, 0, 0];
        let ts = [0x44, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let ok: [(&[u8], Vec<&[u8]>); 7] = [
            (&[], vec![]),
            (&[1, 1, 1, 1], vec![]),
            (&[7, 7, 4, 0, 0, 0, 0, 1], vec![&rr]),
            (&ts, vec![&ts]),
            (&[1, 0x94, 4, 0, 0, 0, 0, 0], vec![&[0x94, 4, 0, 0]]),
            // Nothing after EOL is read: padding, whatever it holds.
            (&[0, 0xff, 0xff, 0xff], vec![]),
            (&[0x83, 3, 4, 0], vec![&[0x83, 3, 4]]),
        ];
        for (opts, want) in ok {
            let want: Vec<Vec<u8>> = want.iter().map(|o| o.to_vec()).collect();
            assert_eq!(walk(opts), Ok(want), "{opts:02x?}");
        }
        let bad: [&[u8]; 7] = [
            &[7, 0, 0, 0],    // record route of length 0
            &[7, 0x27, 4, 0], // length past the header
            &[0x44, 1, 0, 0], // timestamp of length 1
            &[1, 1, 1, 0x44], // no room for the length byte
            &[0x94, 5, 0, 0],
            &[1, 0x94, 4, 0, 0, 1, 1, 7], // a good one, then one cut short
            &[0xff; 40],
        ];
        for opts in bad {
            assert_eq!(walk(opts), Err(Error::Malformed), "{opts:02x?}");
        }
    }

    #[test]
    fn options_ok_on_a_packet() {
        let mut b = [0u8; 28];
        b[..20].copy_from_slice(&GOLDEN[..20]);
        b[0] = 0x47; // IHL 7
        b[3] = 28;
        let opts = |b: &mut [u8; 28], o: [u8; 8]| {
            b[20..].copy_from_slice(&o);
            Packet::new_checked(*b).unwrap().options_ok()
        };
        assert!(opts(&mut b, [7, 7, 4, 0, 0, 0, 0, 1]));
        assert!(!opts(&mut b, [7, 7, 4, 0, 0, 0, 0, 7]));
        assert!(Packet::new_checked(&GOLDEN[..]).unwrap().options_ok());
    }

    /// Offset plus payload length above 65535: the last byte a fragment
    /// may end at is 65535 (offset 8191 * 8 = 65528 and 7 bytes).
    #[test]
    fn a_fragment_may_end_at_byte_65535_and_no_further() {
        let mut b = [0u8; 20 + 8];
        b[..20].copy_from_slice(&GOLDEN[..20]);
        for (offset, payload, past) in [
            (65528, 7, false),
            (65528, 8, true),
            (65528, 0, false),
            (65520, 8, false),
            (65520, 16, true),
            (0, 8, false),
        ] {
            let mut p = Packet::new_unchecked(&mut b[..]);
            p.set_total_len(20 + payload);
            p.set_frag(false, false, offset);
            assert_eq!(p.ends_past_max_datagram(), past, "{offset} + {payload}");
        }
        // An unfragmented packet never does, whatever its length.
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_frag(true, false, 0);
        p.set_total_len(u16::MAX);
        assert!(!p.ends_past_max_datagram());
    }

    #[test]
    fn ttl_decrement_keeps_checksum_valid() {
        let mut b = GOLDEN;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        for _ in 0..63 {
            p.decrement_ttl();
            assert!(p.verify_checksum());
        }
        assert_eq!(p.ttl(), 1);
    }

    /// `set_ecn` gives the bytes of a full computation, for every ECN
    /// value over every TOS and many headers, and etherparse agrees.
    #[test]
    fn set_ecn_patches_the_checksum_as_a_full_computation() {
        let mut x = 0x2545_f491u32;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let mut b = GOLDEN;
            b[1] = x as u8;
            b[4..6].copy_from_slice(&(x >> 8).to_be_bytes()[2..]);
            b[8] = (x >> 24) as u8;
            b[12..16].copy_from_slice(&x.rotate_left(7).to_be_bytes());
            b[16..20].copy_from_slice(&(x ^ 0x5a5a_5a5a).to_be_bytes());
            Packet::new_unchecked(&mut b[..]).fill_checksum();
            for v in [ecn::NOT_ECT, ecn::ECT1, ecn::ECT0, ecn::CE] {
                let mut got = b;
                let mut p = Packet::new_unchecked(&mut got[..]);
                p.set_ecn(v);
                assert_eq!((p.ecn(), p.dscp_ecn() >> 2), (v, b[1] >> 2));
                let mut want = got;
                Packet::new_unchecked(&mut want[..]).fill_checksum();
                assert_eq!(got, want, "{b:02x?} -> ECN {v}");
                let (h, _) = etherparse::Ipv4Header::from_slice(&got).unwrap();
                assert_eq!(h.header_checksum, h.calc_header_checksum());
                assert_eq!(u8::from(h.ecn), v);
            }
        }
    }

    #[test]
    fn cross_check_with_etherparse() {
        let (h, rest) = etherparse::Ipv4Header::from_slice(&GOLDEN).unwrap();
        let p = Packet::new_checked(&GOLDEN[..]).unwrap();
        assert_eq!(h.header_checksum, p.checksum());
        assert_eq!(h.calc_header_checksum(), p.checksum());
        assert_eq!(h.total_len, p.total_len());
        assert_eq!(h.time_to_live, p.ttl());
        assert_eq!(h.identification, p.ident());
        assert_eq!(h.source, p.src().octets());
        assert_eq!(h.destination, p.dst().octets());
        assert_eq!(rest, p.payload());
        let mut built = etherparse::Ipv4Header::new(
            8,
            64,
            etherparse::IpNumber::UDP,
            [172, 28, 147, 40],
            [172, 28, 147, 44],
        )
        .unwrap();
        built.header_checksum = built.calc_header_checksum();
        let mut ours = [0u8; 20];
        Repr {
            ident: 0,
            dont_frag: true,
            ..repr()
        }
        .emit(&mut ours)
        .unwrap();
        assert_eq!(built.to_bytes().as_slice(), &ours[..]);
    }
}
