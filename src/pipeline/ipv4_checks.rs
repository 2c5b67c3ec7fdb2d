//! IPv4 validation for the full path: header structure, checksum and
//! options, the view of the packet behind the Ethernet header, and the
//! trim of Ethernet padding. Shared by the entry points, decap and the
//! slow path.

use super::buf::PacketBuf;
use super::drop_reason::DropReason;
use crate::wire::ethernet;
use crate::wire::{ipv4, Error};

/// Structure, header checksum and option list of an IPv4 packet; its
/// total length. Malformed options are `bad_ipv4`, as Linux's
/// `ip_rcv_options` drops them and as the slow path refuses to fragment
/// them (one rule: `ipv4::walk_options`). The fast paths leave every
/// header with options to this path.
pub(crate) fn check_ipv4(b: &[u8]) -> Result<usize, DropReason> {
    let ip = ipv4::Packet::new_checked(b).map_err(|e| match e {
        Error::Truncated => DropReason::Truncated,
        Error::Malformed => DropReason::BadIpv4,
    })?;
    if !ip.verify_checksum() {
        return Err(DropReason::BadChecksum);
    }
    if !ip.options_ok() {
        return Err(DropReason::BadIpv4);
    }
    Ok(usize::from(ip.total_len()))
}

/// The IPv4 packet behind the buffer's Ethernet header.
pub(crate) fn ip_view<B: PacketBuf>(buf: &B) -> Result<ipv4::Packet<&[u8]>, DropReason> {
    let b = buf
        .data()
        .get(ethernet::HEADER_LEN..)
        .ok_or(DropReason::Truncated)?;
    ipv4::Packet::new_checked(b).map_err(|_| DropReason::Truncated)
}

/// Cuts the buffer to `len` bytes (drops Ethernet padding); `false` if it
/// is shorter than that.
pub(crate) fn trim_to<B: PacketBuf>(buf: &mut B, len: usize) -> bool {
    match buf.len().checked_sub(len) {
        Some(0) => true,
        Some(excess) => buf.trim(excess),
        None => false,
    }
}

/// Validates the IPv4 header behind the Ethernet header and trims padding;
/// returns the source and the destination.
pub(crate) fn ipv4_in<B: PacketBuf>(buf: &mut B) -> Result<(u32, u32), DropReason> {
    let b = buf
        .data()
        .get(ethernet::HEADER_LEN..)
        .ok_or(DropReason::Truncated)?;
    let total = check_ipv4(b)?;
    if !trim_to(buf, ethernet::HEADER_LEN + total) {
        return Err(DropReason::Truncated);
    }
    ip_view(buf).map(|ip| (ip.src_u32(), ip.dst_u32()))
}
