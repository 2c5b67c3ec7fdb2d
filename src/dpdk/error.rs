//! Errors from the DPDK layer, phrased for an operator: what failed and what to do.
use std::ffi::CStr;

use crate::ffi;

#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    #[error("EAL is already initialised in this process (it can only start once)")]
    EalAlreadyInitialised,
    #[error("cannot read or set a thread's CPU affinity: {0}")]
    Affinity(String),
    #[error(
        "no free hugepages: reserve some and mount hugetlbfs, e.g. \
         `echo 1024 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages && \
         mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages`, \
         or pass --no-huge in the EAL arguments for a functional test (never for benchmarks)"
    )]
    NoHugepages,
    #[error(
        "EAL could not get the hugepage memory the EAL arguments ask for (-m / --socket-mem): \
         {free_mib} MiB of hugepages are free; ask for less, or reserve more pages \
         (/sys/kernel/mm/hugepages/hugepages-*/nr_hugepages); see EAL's messages above"
    )]
    NotEnoughHugepages { free_mib: u64 },
    #[error(
        "hugepages are reserved but no hugetlbfs is mounted: mount one, e.g. \
         `mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages`, \
         or pass --in-memory in the EAL arguments (EAL then maps its pages without files)"
    )]
    NoHugetlbfs,
    #[error("EAL initialisation failed ({reason}); check the EAL arguments after `--` (see `dpdk-testpmd --help` for their syntax)")]
    EalInit { reason: String },
    #[error("unknown DPDK device {name:?}: give a device name as EAL knows it (e.g. net_tap0 from `--vdev net_tap0`, or a PCI address bound with -a) or a port id; available: {available}")]
    UnknownDevice { name: String, available: String },
    #[error("port {port} ({name}): {op} failed: {reason}")]
    Port {
        port: u16,
        name: String,
        op: &'static str,
        reason: String,
    },
    #[error("mempool {name:?} of {n} mbufs could not be created: {reason}")]
    Mempool {
        name: String,
        n: u32,
        reason: String,
    },
    #[error("lcore {lcore}: {reason}")]
    Lcore { lcore: u32, reason: String },
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = DpdkError> = std::result::Result<T, E>;

/// Text for a DPDK errno (positive or negative).
pub fn strerror(code: i32) -> String {
    let code = code.abs();
    // SAFETY: rte_strerror returns a pointer to a static or thread-local
    // NUL-terminated string that stays valid until the next call on this thread;
    // we copy it out immediately.
    let text = unsafe { CStr::from_ptr(ffi::rte_strerror(code)) };
    format!("{} (errno {code})", text.to_string_lossy())
}

/// The calling thread's `rte_errno`.
pub fn last_errno() -> i32 {
    // SAFETY: reads the per-thread rte_errno; no preconditions.
    unsafe { ffi::vxg_errno() }
}
