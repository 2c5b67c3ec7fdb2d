//! Safe wrappers over DPDK: EAL, mempools, mbufs, fixed bursts, ports and
//! lcores. All of vxgate's `unsafe` lives here (and in `ffi`); each block says
//! why it is sound.
//!
//! Drop order matters and is the caller's contract: join lcores, then drop
//! queues and ports, then mbufs and mempools, then the `Eal`.
pub mod burst;
pub mod eal;
pub mod error;
pub mod lcore;
pub mod mbuf;
pub mod mempool;
pub mod port;

pub use burst::{Burst, BURST};
pub use eal::{lcore_id, rdtsc, Eal};
pub use error::{DpdkError, Result};
pub use lcore::{launch, CpuSet, LcoreHandle};
pub use mbuf::{Mbuf, MbufView};
pub use mempool::{
    data_room_for_mtus, mtu_for_data_room, Mempool, DEFAULT_DATA_ROOM, FRAME_ROOM, MAX_MBUFS,
    PORT_MTU_RANGE,
};
pub use port::{
    available_ports, find_port, port_stats, Link, Port, PortConf, PortInfo, PortStats, RxQueue,
    TxQueue,
};
