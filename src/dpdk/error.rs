//! Errors from the DPDK layer, phrased for an operator: what failed and what to do.
use std::ffi::CStr;
use std::path::{Path, PathBuf};

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
    #[error("{}", not_enough_hugepages(*.free_mib, *.asked_mib, *.after_eal))]
    NotEnoughHugepages {
        free_mib: u64,
        /// What `-m` / `--socket-mem` ask for, when it could be read.
        asked_mib: Option<u64>,
        /// EAL ran and printed its own messages (not `--check-config`).
        after_eal: bool,
    },
    /// Pages are free, but of sizes no hugetlbfs EAL would use is
    /// mounted for (none of that size, or none holding `--huge-dir`).
    #[error("{}", no_hugetlbfs(.free, .huge_dir.as_deref(), .elsewhere))]
    NoHugetlbfs {
        /// (page size in KiB, free pages) of each size with free pages.
        free: Vec<(u64, u64)>,
        huge_dir: Option<PathBuf>,
        /// hugetlbfs mounts of those sizes, which `--huge-dir` does not name.
        elsewhere: Vec<PathBuf>,
    },
    #[error("EAL initialisation failed ({reason}); check the EAL arguments after `--` (see `dpdk-testpmd --help` for their syntax)")]
    EalInit { reason: String },
    #[error("unknown DPDK device {name:?}: give a device name as EAL knows it (e.g. net_tap0 from `--vdev net_tap0`, or a PCI address bound with -a) or a port id; available: {available}")]
    UnknownDevice { name: String, available: String },
    #[error("device {name:?} was asked for with --vdev, but EAL could not set it up (see EAL's messages above; a net_tap whose iface= name another interface or process already holds fails so); available: {available}")]
    NotProbed { name: String, available: String },
    #[error("port {port} ({name}): {op} failed: {reason}")]
    Port {
        port: u16,
        name: String,
        op: &'static str,
        reason: String,
    },
    /// More queues asked for (one RX and one TX per worker) than the
    /// device has: its configuration, not a passing failure.
    #[error("port {port} ({name}): needs {rx} RX / {tx} TX queues (one of each per worker) but driver {driver} offers {max_rx} / {max_tx}; {}", more_queues(.driver, *.rx))]
    TooFewQueues {
        port: u16,
        name: String,
        driver: String,
        rx: u16,
        tx: u16,
        max_rx: u16,
        max_tx: u16,
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

/// A page size as hugetlbfs' `pagesize=` takes it: `2M`, `1G`.
fn size_text(kib: u64) -> String {
    match kib {
        k if k % (1 << 20) == 0 => format!("{}G", k >> 20),
        k if k % (1 << 10) == 0 => format!("{}M", k >> 10),
        k => format!("{k}K"),
    }
}

fn not_enough_hugepages(free_mib: u64, asked_mib: Option<u64>, after_eal: bool) -> String {
    let asked = asked_mib.map_or(String::new(), |m| format!(", {m} MiB"));
    let verb = if after_eal {
        "could not get"
    } else {
        "would not get"
    };
    let see = if after_eal {
        "; see EAL's messages above"
    } else {
        ""
    };
    format!(
        "EAL {verb} the hugepage memory the EAL arguments ask for (-m / --socket-mem{asked}): \
         {free_mib} MiB of hugepages are free; ask for less, or reserve more pages \
         (/sys/kernel/mm/hugepages/hugepages-*/nr_hugepages){see}"
    )
}

fn no_hugetlbfs(free: &[(u64, u64)], huge_dir: Option<&Path>, elsewhere: &[PathBuf]) -> String {
    let pages = free
        .iter()
        .map(|(kib, n)| format!("{n} of {}", size_text(*kib)))
        .collect::<Vec<_>>()
        .join(" and ");
    // The mount command for the first size with free pages.
    let size = free
        .first()
        .map_or_else(|| "2M".to_string(), |(k, _)| size_text(*k));
    let in_memory =
        "or pass --in-memory in the EAL arguments (EAL then maps its pages without files)";
    match huge_dir {
        Some(dir) => {
            // A directory that is not there must be made before the mount.
            let (what, mkdir) = if dir.is_dir() {
                ("it is not on a hugetlbfs mount of that page size", String::new())
            } else {
                ("it does not exist", format!("mkdir -p {} && ", dir.display()))
            };
            let dir = dir.display();
            let instead = match elsewhere {
                [] => String::new(),
                m => format!(
                    " (a hugetlbfs of that size is mounted at {})",
                    m.iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            format!(
                "hugepages are free ({pages}), but no hugetlbfs is mounted for them at --huge-dir {dir}: \
                 {what}{instead}; give --huge-dir such a mount \
                 or leave it out (EAL then finds one), mount one there \
                 (`{mkdir}mount -t hugetlbfs -o pagesize={size} nodev {dir}`), {in_memory}"
            )
        }
        None => format!(
            "hugepages are free ({pages}), but no hugetlbfs is mounted for them: mount one, \
             e.g. `mkdir -p /dev/hugepages-{size} && mount -t hugetlbfs -o pagesize={size} nodev /dev/hugepages-{size}`, \
             {in_memory}"
        ),
    }
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

impl DpdkError {
    /// 2 where the configuration must change (a restart alone cannot
    /// help: a service manager should not retry), else 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            DpdkError::TooFewQueues { .. } => 2,
            _ => 1,
        }
    }
}

/// How to get `n` queues of a port whose driver is `driver`: fewer
/// workers, or the device's own option where it has one.
fn more_queues(driver: &str, n: u16) -> String {
    let option = match driver {
        "net_af_packet" => format!(" (net_af_packet: qpairs={n} in its --vdev)"),
        "net_af_xdp" => format!(
            " (net_af_xdp: queue_count={n} in its --vdev, and as many combined queues on its interface: ethtool -L)"
        ),
        "net_pcap" | "net_null" | "net_ring" => String::new(),
        _ => " (a NIC: its queue count; a virtual device: its queue option)".to_owned(),
    };
    format!("use fewer --workers, or give the device more queues{option}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Too few queues for the workers is the configuration's (exit 2), and
    /// says how to get more where the device has an option for it.
    #[test]
    fn too_few_queues_is_a_configuration_error_that_names_the_device_option() {
        let e = |driver: &str| DpdkError::TooFewQueues {
            port: 0,
            name: "net_af_packet0".into(),
            driver: driver.into(),
            rx: 2,
            tx: 2,
            max_rx: 1,
            max_tx: 1,
        };
        let text = e("net_af_packet").to_string();
        assert!(text.contains("needs 2 RX / 2 TX queues"), "{text}");
        assert!(text.contains("offers 1 / 1"), "{text}");
        assert!(
            text.ends_with("(net_af_packet: qpairs=2 in its --vdev)"),
            "{text}"
        );
        assert!(e("net_af_xdp").to_string().contains("queue_count=2"));
        assert!(e("net_null")
            .to_string()
            .ends_with("give the device more queues"));
        assert_eq!(e("net_tap").exit_code(), 2);
        assert_eq!(DpdkError::Other("x".into()).exit_code(), 1);
    }

    /// A `--huge-dir` that is a plain directory is told to be mounted on; one
    /// that does not exist is made first, or the mount command fails too.
    #[test]
    fn a_huge_dir_is_named_as_not_mounted_or_missing() {
        let plain = std::env::temp_dir();
        let text = no_hugetlbfs(&[(2048, 512)], Some(&plain), &[]);
        assert!(text.contains("512 of 2M"), "{text}");
        assert!(text.contains("it is not on a hugetlbfs mount"), "{text}");
        assert!(
            text.contains("`mount -t hugetlbfs -o pagesize=2M nodev "),
            "{text}"
        );
        let missing = plain.join("vxgate-no-such-dir-for-this-test");
        let text = no_hugetlbfs(&[(2048, 512)], Some(&missing), &[]);
        assert!(text.contains("it does not exist"), "{text}");
        let mkdir = format!("`mkdir -p {} && mount -t hugetlbfs", missing.display());
        assert!(text.contains(&mkdir), "{text}");
    }

    /// Only a start that ran EAL points at EAL's messages; `--check-config`
    /// says what was asked.
    #[test]
    fn too_little_hugepage_memory_names_what_was_asked_and_who_said_so() {
        let text = not_enough_hugepages(512, Some(100_000), false);
        assert!(text.starts_with("EAL would not get"), "{text}");
        assert!(
            text.contains("--socket-mem, 100000 MiB): 512 MiB"),
            "{text}"
        );
        assert!(!text.contains("EAL's messages"), "{text}");
        let text = not_enough_hugepages(512, None, true);
        assert!(text.starts_with("EAL could not get"), "{text}");
        assert!(text.contains("--socket-mem): 512 MiB"), "{text}");
        assert!(text.ends_with("; see EAL's messages above"), "{text}");
    }
}
