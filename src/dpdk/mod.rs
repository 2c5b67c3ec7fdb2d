//! Safe wrappers over DPDK: EAL, mempools, mbufs, fixed bursts, ports and
//! lcores. All of vxgate's `unsafe` lives here (and in `ffi`); each block says
//! why it is sound.
//!
//! Nothing here depends on the caller's drop order: pools, ports and lcore
//! jobs are made from an `&Eal` and hold EAL (its cleanup is skipped while
//! any exists); ports and queues hold their pool; the last of a port and
//! its queues stops and closes it; `stop` is refused while a queue exists.
pub mod burst;
pub mod cache;
pub mod eal;
mod eal_files;
pub mod error;
pub mod lcore;
pub mod mbuf;
pub mod mempool;
pub mod port;

pub use burst::{Burst, BURST};
pub use eal::{check_hugepages, lcore_id, rdtsc, Eal};
pub use error::{DpdkError, Result};
pub use lcore::{CpuSet, LcoreHandle};
pub use mbuf::{Mbuf, MbufView};
pub use mempool::{
    data_room_for_mtus, mtu_for_data_room, Mempool, DEFAULT_DATA_ROOM, FRAME_ROOM, MAX_MBUFS,
    PORT_MTU_RANGE,
};
pub use port::{
    available_ports, find_port, port_stats, Link, Port, PortConf, PortInfo, PortStats, RxQueue,
    TxQueue,
};
