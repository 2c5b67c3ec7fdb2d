//! What the pipeline decided for one packet.

use super::drop_reason::{DropReason, SlowKind};

/// A gateway port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Underlay,
    Access,
}

impl Side {
    pub const fn name(self) -> &'static str {
        match self {
            Side::Underlay => "underlay",
            Side::Access => "access",
        }
    }
}

/// The fate of one buffer. The pipeline has already counted it (see
/// docs/pipeline.md): the caller acts on it and counts only `tx_full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the (rewritten) buffer on the underlay port.
    TxUnderlay,
    /// Send the (rewritten) buffer on the access port.
    TxAccess,
    /// An answer built in place (ARP reply, ICMP echo reply or error):
    /// send it back out of the given port, the one it came in on.
    Reply(Side),
    /// Hand the buffer to the slow-path thread. `Arp`: learn the sender
    /// from this ARP packet (and answer it when it is a request for the
    /// port's address: one from a known neighbour at another MAC).
    /// `Fragment`: the buffer holds an inner
    /// Ethernet+IPv4 frame to fragment to `Context::fragment_mtu`
    /// and feed back fragment by fragment through `process_fragment`
    /// (`process_access` for frames from the access port,
    /// `process_decapped` for frames from the underlay, the gateway's own
    /// route for its own echo replies).
    Punt(SlowKind),
    /// The frame is complete except for its destination MAC (left zero):
    /// the next hop `next_hop` (host-order IPv4) on port `side` is not
    /// resolved. The slow path queues it, ARPs, writes the MAC into bytes
    /// 0..6 and sends it on `side`, or drops it as `no_neighbor`.
    /// `answers_drop`: the frame is an ICMP error about a packet already
    /// counted as a drop (`ttl_expired`, `mtu_exceeded`); losing it is not
    /// counted a second time.
    Hold {
        side: Side,
        next_hop: u32,
        answers_drop: bool,
    },
    /// Free the buffer (already counted under this reason).
    Drop(DropReason),
}

impl Verdict {
    /// Out of `side` when the next hop `next_hop` (host order) is
    /// resolved, else held for it.
    #[inline]
    pub(crate) fn send_or_hold(side: Side, resolved: bool, next_hop: u32) -> Verdict {
        match (resolved, side) {
            (true, Side::Underlay) => Verdict::TxUnderlay,
            (true, Side::Access) => Verdict::TxAccess,
            (false, side) => Verdict::Hold {
                side,
                next_hop,
                answers_drop: false,
            },
        }
    }
}

impl Default for Verdict {
    fn default() -> Self {
        Verdict::Drop(DropReason::Truncated)
    }
}
