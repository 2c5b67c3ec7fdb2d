//! The RX and TX queues of a started port, each owned by one worker.

use std::sync::Arc;

use super::Device;
use crate::dpdk::burst::Burst;
use crate::ffi;

/// One RX queue of a started port; owned by one worker.
pub struct RxQueue {
    pub(super) port: u16,
    pub(super) queue: u16,
    /// Prefetch what the burst's first pass reads (`wants_prefetch`).
    pub(super) prefetch: bool,
    /// Keeps the port started and its pool alive; not touched per burst.
    pub(super) _dev: Arc<Device>,
}

/// One TX queue of a started port; owned by one worker.
pub struct TxQueue {
    pub(super) port: u16,
    pub(super) queue: u16,
    /// As in `RxQueue`.
    pub(super) _dev: Arc<Device>,
}

impl RxQueue {
    /// Receives up to a burst into `burst` (which must be empty).
    #[inline(always)]
    pub fn rx(&mut self, burst: &mut Burst) -> usize {
        burst.rx(self.port, self.queue)
    }
    pub fn port_id(&self) -> u16 {
        self.port
    }
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Whether a burst's packets are worth prefetching before they are
    /// read (`Burst::prefetch`): on by default for devices that write
    /// frames by DMA, off for the software devices, whose frames this core
    /// has mostly just copied in (measured on `net_pcap`: 2-4 % slower
    /// with it).
    pub fn wants_prefetch(&self) -> bool {
        self.prefetch
    }

    /// Overrides the default of `wants_prefetch` (benchmarks, tests).
    pub fn set_prefetch(&mut self, on: bool) {
        self.prefetch = on;
    }
}

impl TxQueue {
    /// Sends what `burst` holds; unsent packets stay in it.
    #[inline(always)]
    pub fn tx(&mut self, burst: &mut Burst) -> usize {
        burst.tx(self.port, self.queue)
    }
    pub fn port_id(&self) -> u16 {
        self.port
    }
    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

impl Drop for TxQueue {
    /// Gives back the mbufs of packets sent but still held by the queue,
    /// where the driver can (many free them lazily, a ring's worth at a
    /// time; vector TX paths and some drivers answer -ENOTSUP and keep
    /// them until the port closes, which is why vxgate's final "mbufs in
    /// use" is counted after closing), so the pool has them back at once.
    fn drop(&mut self) {
        // SAFETY: this handle is the queue's only user (one per queue, not
        // Clone, handed out once per start); the port is started (`_dev`
        // keeps it so). An unsupported operation returns -ENOTSUP.
        unsafe { ffi::rte_eth_tx_done_cleanup(self.port, self.queue, 0) };
    }
}
