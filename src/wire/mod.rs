//! Header views and builders, zero-copy over packet bytes (pure Rust, no DPDK).
//!
//! One file per header. Each has a `Packet<T: AsRef<[u8]>>` view whose
//! `new_checked` validates every length once, after which no accessor can
//! panic; setters exist for `T: AsMut<[u8]>`; and a small `Copy` `Repr`
//! parses and emits the header.
#![deny(unsafe_code)]

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod udp;
pub mod vxlan;

pub use ethernet::MacAddr;
pub use vxlan::Vni;

/// Why a header view could not be made: the hot-path error tier (`Copy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer ends before the header (or the length it claims) does.
    Truncated,
    /// A field is invalid: version, header length, length fields, types.
    Malformed,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Truncated => f.write_str("truncated packet"),
            Error::Malformed => f.write_str("malformed header"),
        }
    }
}

impl std::error::Error for Error {}

/// Big-endian u16 at `at`; callers have checked the length.
#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
