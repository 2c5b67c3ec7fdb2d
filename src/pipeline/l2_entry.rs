//! What a port accepts at the Ethernet layer: unicast IPv4 to the port's
//! MAC and ARP, with 802.1p priority tags (VLAN id 0) stripped in place
//! first. The first check of the full path on either port.

use super::buf::PacketBuf;
use super::drop_reason::DropReason;
use crate::wire::ethernet::{self, ethertype, Frame};
use crate::wire::MacAddr;

/// Ethertype and destination MAC of a frame from a port, or the drop
/// reason for frames that are not unicast IPv4 to `our_mac`. ARP is
/// `Ok(None)`, unless it is sent to another host's unicast MAC (the ports
/// are promiscuous): `not_for_us`, as Linux's `arp_rcv` drops
/// `PACKET_OTHERHOST`, before the ARP body is looked at. A priority-tagged
/// frame is first made the untagged frame it carries (`untag_priority`).
#[inline(always)]
pub(super) fn l2_entry<B: PacketBuf>(
    buf: &mut B,
    our_mac: MacAddr,
) -> Result<Option<()>, DropReason> {
    match l2_check(buf.data(), our_mac) {
        Err(DropReason::NotIpv4) => untag_priority(buf, our_mac),
        r => r,
    }
}

/// `l2_entry` on the bytes of an untagged frame; anything but IPv4 and
/// ARP, tagged frames included, is `not_ipv4`.
fn l2_check(frame: &[u8], our_mac: MacAddr) -> Result<Option<()>, DropReason> {
    let f = Frame::new_checked(frame).map_err(|_| DropReason::Truncated)?;
    match f.ethertype() {
        ethertype::ARP if f.dst() != our_mac && f.dst().is_unicast() => Err(DropReason::NotForUs),
        ethertype::ARP => Ok(None),
        ethertype::IPV4 if f.dst() == our_mac => Ok(Some(())),
        ethertype::IPV4 => Err(DropReason::NotForUs),
        _ => Err(DropReason::NotIpv4),
    }
}

/// A frame `l2_check` found `not_ipv4`: if it carries one 802.1Q or
/// 802.1ad tag with VLAN id 0 (a priority tag, 802.1p only, as DCB hosts
/// and some storage and Windows NICs send), the tag is stripped in place
/// and the frame checked again as the untagged frame it is, as Linux does
/// (`skb_vlan_untag`, then, with no VLAN device for VID 0, the tag
/// cleared in `__netif_receive_skb_core`): all that follows sees an
/// untagged frame, and every answer leaves untagged. Priority tags
/// stacked behind it are stripped the same way (Linux's `check_vlan_id`
/// loop); a tag with another VLAN id, outer or behind a priority tag,
/// stays `not_ipv4`;
/// a tagged frame that ends inside its tag or the ethertype behind it is
/// `truncated`, as a frame shorter than its untagged header is. Out of
/// line and cold: the fast paths never get here, and untagged frames on
/// the full path pass by it.
#[cold]
#[inline(never)]
fn untag_priority<B: PacketBuf>(buf: &mut B, our_mac: MacAddr) -> Result<Option<()>, DropReason> {
    loop {
        let tag = Frame::new_checked(buf.data())
            .and_then(|f| f.tag())
            .map_err(|_| DropReason::Truncated)?;
        if !tag.is_some_and(|t| t.is_priority_only()) {
            return Err(DropReason::NotIpv4);
        }
        if !strip_tag(buf) {
            return Err(DropReason::Truncated);
        }
        // Each pass takes 4 bytes off the frame: the loop ends.
        match l2_check(buf.data(), our_mac) {
            Err(DropReason::NotIpv4) => {}
            verdict => return verdict,
        }
    }
}

/// Removes the tag behind the source address in place: the 12 address
/// bytes move 4 bytes on and the frame starts 4 bytes later. `false`
/// (unchanged) if the frame is shorter than a tagged header.
fn strip_tag<B: PacketBuf>(buf: &mut B) -> bool {
    match buf.data_mut().get_mut(..ethernet::TAGGED_HEADER_LEN) {
        Some(h) => h.copy_within(..ethernet::TAG_LEN * 3, ethernet::TAG_LEN),
        None => return false,
    }
    buf.adj(ethernet::TAG_LEN)
}
