//! A port's counters, read by port id or through its `Port`, and kept from going back.

use super::{with_ethdev, Locked};
use crate::ffi;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_nombuf: u64,
}

impl PortStats {
    /// Field by field the larger of `self` and `earlier`: the port's
    /// counters never go back (a reader that kept an earlier read serves
    /// counters, not resets, to Prometheus).
    pub fn at_least(self, earlier: PortStats) -> PortStats {
        PortStats {
            rx_packets: self.rx_packets.max(earlier.rx_packets),
            tx_packets: self.tx_packets.max(earlier.tx_packets),
            rx_bytes: self.rx_bytes.max(earlier.rx_bytes),
            tx_bytes: self.tx_bytes.max(earlier.tx_bytes),
            rx_missed: self.rx_missed.max(earlier.rx_missed),
            rx_errors: self.rx_errors.max(earlier.rx_errors),
            tx_errors: self.tx_errors.max(earlier.tx_errors),
            rx_nombuf: self.rx_nombuf.max(earlier.rx_nombuf),
        }
    }
}

/// Statistics of a port by id (the metrics thread reads them without
/// holding the Port); `None` for a port that is not there, when EAL is
/// not running, or when the driver failed to read its counters (ethdev
/// then hands back zeros, which must not pass for figures: a counter
/// that goes to zero is a reset to Prometheus).
pub fn port_stats(id: u16) -> Option<PortStats> {
    with_ethdev(|l| stats(l, id)).flatten()
}

pub(super) fn stats(_: &Locked, id: u16) -> Option<PortStats> {
    let mut s = ffi::rte_eth_stats::default();
    // SAFETY: s is a valid out-pointer; an invalid id just returns an error.
    let rc = unsafe { ffi::rte_eth_stats_get(id, &mut s) };
    if rc != 0 {
        return None;
    }
    Some(PortStats {
        rx_packets: s.ipackets,
        tx_packets: s.opackets,
        rx_bytes: s.ibytes,
        tx_bytes: s.obytes,
        rx_missed: s.imissed,
        rx_errors: s.ierrors,
        tx_errors: s.oerrors,
        rx_nombuf: s.rx_nombuf,
    })
}
