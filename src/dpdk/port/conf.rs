//! How to set a port up: queues, ring sizes, RSS, promiscuous mode and MTU.

/// How to set a port up.
#[derive(Clone, Debug)]
pub struct PortConf {
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_desc: u16,
    pub tx_desc: u16,
    /// Spread flows over RX queues by their IPv4/UDP 5-tuple when >1 queue.
    pub rss: bool,
    pub promiscuous: bool,
    pub mtu: Option<u16>,
}

impl Default for PortConf {
    fn default() -> Self {
        PortConf {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            rss: true,
            promiscuous: true,
            mtu: None,
        }
    }
}
