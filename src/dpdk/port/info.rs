//! Facts about a port: its driver and bus, its queue limits and RSS hash types, and its link.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub up: bool,
    pub speed_mbps: u32,
}

/// Facts about a port's driver, read once at configuration.
#[derive(Clone, Debug)]
pub struct PortInfo {
    pub driver: String,
    /// The bus of its device: `pci`, `vdev` (the software devices), ...;
    /// `?` when the driver does not say.
    pub bus: String,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    pub rss_hash_types: u64,
}

impl PortInfo {
    /// A software device (the `vdev` bus: `net_pcap`, `net_tap`,
    /// `net_af_packet`, ...), which copies each received frame in on the
    /// polling core, where a NIC writes it by DMA (so it may not be in this
    /// core's cache), and counts a failed buffer allocation per frame, where
    /// a NIC's driver counts a failed ring refill as a batch. Not told
    /// apart: `net_ring`, which passes frames another core wrote, and
    /// `net_af_xdp` in zero-copy mode, whose frames a NIC wrote.
    pub fn is_software(&self) -> bool {
        self.bus == "vdev"
    }
}
