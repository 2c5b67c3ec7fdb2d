//! VXLAN headers (RFC 7348): 8 bytes, the I flag and a 24-bit VNI.

use super::{be32, put32, Error};
use core::fmt;

/// A VXLAN Network Identifier: 24 bits, enforced at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vni(u32);

impl Vni {
    pub const MAX: u32 = 0x00ff_ffff;

    /// `None` when `v` does not fit in 24 bits.
    pub const fn new(v: u32) -> Option<Vni> {
        if v > Self::MAX {
            None
        } else {
            Some(Vni(v))
        }
    }
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Vni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The only flag vxgate accepts or sends: "VNI is valid".
pub const FLAG_I: u8 = 0x08;
pub const HEADER_LEN: usize = 8;

/// A view of a VXLAN header and its payload (the inner Ethernet frame).
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
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    /// True when the first word is exactly the I flag and the byte after
    /// the VNI is zero: like the kernel, every other bit must be clear.
    pub fn flags_strict_ok(&self) -> bool {
        let b = self.buffer.as_ref();
        be32(b, 0) == u32::from(FLAG_I) << 24 && b[7] == 0
    }
    pub fn vni(&self) -> Vni {
        Vni(be32(self.buffer.as_ref(), 4) >> 8)
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes flags = I, reserved bits zero and the VNI.
    pub fn set_header(&mut self, vni: Vni) {
        let b = self.buffer.as_mut();
        put32(b, 0, u32::from(FLAG_I) << 24);
        put32(b, 4, vni.0 << 8);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub vni: Vni,
}

impl Repr {
    /// Accepts only flags exactly I with all reserved bits zero.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, Error> {
        if !p.flags_strict_ok() {
            return Err(Error::Malformed);
        }
        Ok(Repr { vni: p.vni() })
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_header(self.vni);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: [u8; 8] = [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0x00];

    #[test]
    fn vni_is_24_bits() {
        assert_eq!(Vni::new(0x123456).map(Vni::get), Some(0x123456));
        assert_eq!(Vni::new(0x0100_0000), None);
        assert!(Vni::new(Vni::MAX).is_some());
    }

    #[test]
    fn emit_and_parse_golden() {
        let mut b = [0xffu8; 8];
        let r = Repr {
            vni: Vni::new(0x123456).unwrap(),
        };
        r.emit(&mut Packet::new_checked(&mut b[..]).unwrap());
        assert_eq!(b, GOLDEN);
        assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Ok(r));
    }

    #[test]
    fn any_other_bit_is_rejected() {
        for byte in [0usize, 1, 2, 3, 7] {
            for bit in 0..8 {
                let mut b = GOLDEN;
                b[byte] ^= 1 << bit;
                let p = Packet::new_checked(&b[..]).unwrap();
                assert_eq!(
                    Repr::parse(&p),
                    Err(Error::Malformed),
                    "byte {byte} bit {bit}"
                );
            }
        }
        for n in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&GOLDEN[..n]).err(),
                Some(Error::Truncated)
            );
        }
    }
}
