//! Frames a worker punted as `Punt(Fragment)`: cut to the tunnel's MTU
//! (each fragment written straight into a fresh buffer) and fed back
//! through the pipeline, or, for a fragment that follows its datagram
//! here, forwarded as it is. Fragments of an ICMP datagram to one of our
//! addresses (a large ping) are copied into the reassembly table
//! (`pipeline::reassembly`), their buffer freed at once; a whole echo
//! request is answered, its reply cut to the MTU of its way back the same
//! way.
use std::time::Instant;

use super::SlowPath;
use crate::dpdk::Mbuf;
use crate::pipeline::classify::process_fragment;
use crate::pipeline::drop_reason::DropReason;
use crate::pipeline::fragment::{FragError, Fragmenter};
use crate::pipeline::ipv4_checks::{ip_view, trim_to};
use crate::pipeline::reassembly::Way;
use crate::pipeline::verdict::{Side, Verdict};

/// Where the fragments `send_pieces` cuts go.
#[derive(Clone, Copy)]
enum Onward {
    /// Fed back through the pipeline as fragments of what was received on
    /// this port (`process_fragment`), or of the gateway's own packet.
    Pipeline(Side),
    /// Sent back out of this port as they are (a reply addressed already).
    Reply(Side),
}

impl SlowPath {
    /// A fresh buffer whose data is its whole room, to be cut to what is
    /// written into it.
    fn new_room(&self) -> Option<Mbuf> {
        let mut m = self.pool.alloc()?;
        let room = m.tailroom();
        m.append(room)?;
        Some(m)
    }

    pub(super) fn fragment(&mut self, mut m: Mbuf, rx: Side, now: Instant) {
        if ip_view(&*m).is_ok_and(|ip| self.ctx.is_local(ip.dst_u32())) {
            return self.reassemble(m, rx, now);
        }
        let mtu = self.ctx.fragment_mtu();
        let as_is = ip_view(&*m).is_ok_and(|ip| forward_as_is(ip.total_len(), ip.dont_frag(), mtu));
        if as_is {
            // A fragment that follows the rest of its datagram here
            // (`frag_order`): forwarded as it is.
            let v = process_fragment(&self.ctx, &self.lookup, &mut self.state, rx, &mut *m);
            return self.dispatch(m, v, now);
        }
        let frag = match Fragmenter::new(m.data(), mtu) {
            Ok(f) => f,
            // Malformed options, or a fragment ending past byte 65535 of
            // its datagram: a bad header, whatever its size.
            Err(FragError::NotIpv4 | FragError::BeyondMaxDatagram) => {
                return self.state.counters.dropped(DropReason::BadIpv4)
            }
            Err(_) => return self.state.counters.dropped(DropReason::MtuExceeded),
        };
        self.send_pieces(frag, Onward::Pipeline(rx), now);
    }

    /// Writes each fragment `frag` yields into a fresh buffer's whole room
    /// (no copy: any MTU the buffers hold fragments as 1500 does), cut to
    /// its length, and sends it `onward`.
    fn send_pieces(&mut self, mut frag: Fragmenter<'_>, onward: Onward, now: Instant) {
        while !frag.is_done() {
            let Some(mut f) = self.new_room() else {
                self.state.counters.dropped(DropReason::TxFull);
                return;
            };
            let len = match frag.next_into(f.data_mut()) {
                Ok(Some(len)) => len,
                Ok(None) => return,
                Err(_) => {
                    self.state.counters.dropped(DropReason::MtuExceeded);
                    return;
                }
            };
            if !trim_to(&mut *f, len) {
                self.state.counters.dropped(DropReason::MtuExceeded);
                return;
            }
            let v = match onward {
                // As a fragment of what was received on `rx`, or of the
                // gateway's own packet (an echo reply).
                Onward::Pipeline(rx) => {
                    process_fragment(&self.ctx, &self.lookup, &mut self.state, rx, &mut *f)
                }
                Onward::Reply(side) => Verdict::Reply(side),
            };
            self.dispatch(f, v, now);
        }
    }

    /// A fragment of an ICMP datagram to us, punted by a worker after its
    /// checks (source, peer): copied into the reassembly table and freed;
    /// once its datagram is whole, an echo request is answered, the reply
    /// fragmented to the MTU of its way back: out of the port it came in
    /// on for a host or a node (`Verdict::Reply`), through the pipeline as
    /// the gateway's own packet for a pod (into the tunnel, as a too-big
    /// echo reply goes). Each fragment of a datagram not answered is
    /// dropped under one reason; an answer counts once as slowpath `icmp`.
    fn reassemble(&mut self, m: Mbuf, rx: Side, now: Instant) {
        let (ctx, lookup) = (&self.ctx, &self.lookup);
        let reply = self
            .reasm
            .answer(ctx, lookup, &mut self.state, rx, m.data(), now);
        drop(m);
        let Some(reply) = reply else { return };
        let onward = match reply.way {
            Way::Port(side) => Onward::Reply(side),
            Way::Tunnel => Onward::Pipeline(rx),
        };
        match Fragmenter::new(&reply.frame, reply.mtu) {
            Ok(frag) => self.send_pieces(frag, onward, now),
            // Never: the reply has DF clear and no options, every MTU is
            // at least 68.
            Err(_) => self.state.counters.dropped(DropReason::MtuExceeded),
        }
    }
}

/// Whether a frame punted as `Punt(Fragment)` goes on as it is rather
/// than cut to `mtu`: it fits, or it has DF set, which a worker punts only
/// as a fragment following its datagram (`frag_order`) once it passed the
/// MTU of its real way out, which may be larger than `mtu` (DirectRouting
/// on a 1500-byte underlay with a 1450-byte tunnel). Its way is checked
/// again on the way out, with a fragmentation-needed if it does not fit.
fn forward_as_is(total: u16, dont_frag: bool, mtu: u16) -> bool {
    total <= mtu || dont_frag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_punted_frame_is_cut_only_when_too_big_and_free_to_be() {
        assert!(forward_as_is(1450, false, 1450));
        assert!(!forward_as_is(1451, false, 1450));
        // DF set: a follower that passed its way out's MTU (1500 on the
        // underlay by DirectRouting), never cut.
        assert!(forward_as_is(1480, true, 1450));
    }
}
