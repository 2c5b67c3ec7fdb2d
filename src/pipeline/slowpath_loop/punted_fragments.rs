//! Frames a worker punted as `Punt(Fragment)`: cut to the tunnel's MTU
//! (each fragment written straight into a fresh buffer) and fed back
//! through the pipeline, or, for a fragment that follows its datagram
//! here, forwarded as it is.
use std::time::Instant;

use super::SlowPath;
use crate::dpdk::Mbuf;
use crate::pipeline::classify::process_fragment;
use crate::pipeline::drop_reason::DropReason;
use crate::pipeline::fragment::{FragError, Fragmenter};
use crate::pipeline::ipv4_checks::{ip_view, trim_to};
use crate::pipeline::verdict::Side;

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
        let mtu = self.ctx.fragment_mtu();
        let as_is = ip_view(&*m).is_ok_and(|ip| forward_as_is(ip.total_len(), ip.dont_frag(), mtu));
        if as_is {
            // A fragment that follows the rest of its datagram here
            // (`frag_order`): forwarded as it is.
            let v = process_fragment(&self.ctx, &self.lookup, &mut self.state, rx, &mut *m);
            return self.dispatch(m, v, now);
        }
        let mut frag = match Fragmenter::new(m.data(), mtu) {
            Ok(f) => f,
            // Malformed options, or a fragment ending past byte 65535 of
            // its datagram: a bad header, whatever its size.
            Err(FragError::NotIpv4 | FragError::BeyondMaxDatagram) => {
                return self.state.counters.dropped(DropReason::BadIpv4)
            }
            Err(_) => return self.state.counters.dropped(DropReason::MtuExceeded),
        };
        while !frag.is_done() {
            // Each fragment is written straight into a fresh buffer's whole
            // room, then cut to its length: no copy, and any MTU the
            // buffers hold fragments as 1500 does.
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
            // As a fragment of what was received on `rx`, or of the
            // gateway's own packet (an echo reply).
            let v = process_fragment(&self.ctx, &self.lookup, &mut self.state, rx, &mut *f);
            self.dispatch(f, v, now);
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
