//! The Environment Abstraction Layer: started once per process, cleaned up
//! on drop when nothing needs it any more.
use std::ffi::{CStr, CString, OsStr};
use std::os::raw::{c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::error::{last_errno, strerror, DpdkError, Result};
use crate::ffi;

static STARTED: AtomicBool = AtomicBool::new(false);

/// 0 while EAL is not running (not started yet, or cleaned up); `n + 1`
/// while it runs with `n` [`Live`] holds on its memory.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// A hold on EAL's memory: while one exists `rte_eal_cleanup` does not
/// run. Every pool, port and lcore job keeps one, so `drop(eal)` with
/// any of them alive skips the cleanup (a leak) instead of unmapping
/// memory they use. Taken at setup, never per burst.
pub(crate) struct Live(());

impl Live {
    /// A hold, given proof that EAL runs.
    pub(crate) fn new(_eal: &Eal) -> Live {
        // An `Eal` exists, so LIVE >= 1: only its drop sets it to 0.
        LIVE.fetch_add(1, Ordering::Relaxed);
        Live(())
    }

    /// A hold, or `None` when EAL is not running; for code without an
    /// `Eal` at hand (another thread reading port statistics).
    pub(crate) fn acquire() -> Option<Live> {
        let mut n = LIVE.load(Ordering::Acquire);
        loop {
            if n == 0 {
                return None;
            }
            match LIVE.compare_exchange_weak(n, n + 1, Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => return Some(Live(())),
                Err(now) => n = now,
            }
        }
    }

    /// Holds EAL for the rest of the process (an object that could not
    /// be freed safely is leaked, and EAL with it).
    pub(crate) fn keep_forever(self) {
        std::mem::forget(self);
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        // Release: what the holder did happens before a cleanup that sees 0.
        LIVE.fetch_sub(1, Ordering::Release);
    }
}

/// A running EAL. Only the thread that started it holds it (`!Send`,
/// `!Sync`): launching lcores and making pools and ports take `&Eal`.
/// Dropping it calls `rte_eal_cleanup`, unless a pool, port, queue or
/// lcore job is still alive: then the cleanup is skipped and logged.
pub struct Eal {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Eal {
    /// Starts EAL with `args` (as given after `--`; the program name is added).
    /// The calling thread becomes the main lcore.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal> {
        if STARTED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::EalAlreadyInitialised);
        }
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        if !wants_no_huge(&args) {
            if let Err(e) = hugepages_available(&args) {
                STARTED.store(false, Ordering::SeqCst);
                return Err(e);
            }
        }
        let mut owned: Vec<CString> = Vec::with_capacity(args.len() + 1);
        owned.push(CString::new("vxgate").expect("static name"));
        for a in &args {
            owned.push(CString::new(*a).map_err(|_| DpdkError::EalInit {
                reason: format!("argument {a:?} contains a NUL byte"),
            })?);
        }
        // EAL permutes argv and may keep pointers into it: leak the strings so
        // they live as long as the process (once per process, a few bytes).
        let mut argv: Vec<*mut c_char> = owned.into_iter().map(CString::into_raw).collect();
        let argc = argv.len() as c_int;
        let argv_ptr = argv.as_mut_ptr();
        std::mem::forget(argv);
        // SAFETY: argv holds argc valid NUL-terminated strings that are never
        // freed; rte_eal_init runs once per process (guarded by STARTED).
        let rc = unsafe { ffi::rte_eal_init(argc, argv_ptr) };
        if rc < 0 {
            let errno = last_errno();
            remove_runtime_dir_after_failure(errno);
            let reason = match errno {
                libc::ENOMEM if !wants_no_huge(&args) && asks_memory(&args) => {
                    // Pages are free (or this would have been found before
                    // EAL started), just not as many as asked for.
                    return Err(match free_hugepages().1 {
                        0 => DpdkError::NoHugepages,
                        free_mib => DpdkError::NotEnoughHugepages { free_mib },
                    });
                }
                libc::EACCES | libc::ENOMEM if !wants_no_huge(&args) => {
                    return Err(DpdkError::NoHugepages)
                }
                libc::EALREADY => return Err(DpdkError::EalAlreadyInitialised),
                libc::EINVAL => "invalid EAL arguments".to_string(),
                libc::ENODEV => "a device given with --vdev or -a could not be probed or set up, \
                                 or EAL's memory could not be (see EAL's messages above)"
                    .to_string(),
                libc::ENOTSUP => {
                    "a device could not be probed (see EAL's messages above)".to_string()
                }
                // EAL sets no errno when it cannot lock its runtime files.
                0 => "EAL's reason is in its messages above (it set no error code); often another DPDK process \
                      runs with the same --file-prefix, or its runtime directory (/var/run/dpdk) \
                      is not writable"
                    .to_string(),
                e => strerror(e),
            };
            return Err(DpdkError::EalInit { reason });
        }
        LIVE.store(1, Ordering::Release);
        Ok(Eal {
            _not_send: std::marker::PhantomData,
        })
    }

    /// Id of the main lcore (the thread that called `init`).
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: EAL is initialised; a plain read of its configuration.
        unsafe { ffi::rte_get_main_lcore() }
    }

    /// Ids of the worker lcores (every enabled lcore but the main one).
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = u32::MAX;
        loop {
            // SAFETY: EAL is initialised; iterating lcores has no other precondition.
            i = unsafe { ffi::rte_get_next_lcore(i, 1, 0) };
            if i >= ffi::RTE_MAX_LCORE {
                break;
            }
            out.push(i);
        }
        out
    }

    /// TSC ticks per second.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: EAL is initialised (it calibrates the TSC).
        unsafe { ffi::rte_get_tsc_hz() }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // 1 -> 0 only when no hold exists; from 0 on no hold can be taken.
        if let Err(n) = LIVE.compare_exchange(1, 0, Ordering::Acquire, Ordering::Relaxed) {
            tracing::error!(
                holds = n - 1,
                "EAL dropped while pools, ports, queues or lcore jobs still use it: \
                 rte_eal_cleanup skipped (their memory stays mapped until the process ends)"
            );
            return;
        }
        // SAFETY: EAL runs (LIVE was 1); the runtime directory is a static
        // NUL-terminated string EAL set at init, copied before the cleanup.
        let runtime_dir = unsafe { CStr::from_ptr(ffi::rte_eal_get_runtime_dir()) };
        let runtime_dir = PathBuf::from(OsStr::from_bytes(runtime_dir.to_bytes()));
        // Read before the cleanup, which unmaps EAL's memory.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        // SAFETY: called once (Eal is made once per process and not Clone),
        // from the thread that initialised EAL (Eal is !Send); LIVE was 1, so
        // no pool, port, queue or lcore job exists and none can be made.
        unsafe {
            ffi::rte_eal_cleanup();
        }
        super::eal_files::remove(&runtime_dir, &maps);
    }
}

/// Reads the TSC (cycle counter) of this core.
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no preconditions.
    unsafe { ffi::vxg_rdtsc() }
}

/// The calling thread's lcore id (`u32::MAX` on a non-EAL thread).
pub fn lcore_id() -> u32 {
    // SAFETY: reads a thread-local; no preconditions.
    unsafe { ffi::vxg_lcore_id() }
}

/// After a failed start: EAL's runtime directory, when it is surely ours.
/// Empty, it is (EAL made it before it failed; `--in-memory` puts nothing
/// in it). After ENOMEM (hugepage memory), EAL had already taken the
/// file prefix's lock, so its files (config, fbarrays, mp socket) are
/// this process's too. Otherwise files in it may be another live
/// process's (the same `--file-prefix`, whose lock made EAL fail): left.
fn remove_runtime_dir_after_failure(errno: i32) {
    // SAFETY: the runtime directory is a static NUL-terminated buffer in
    // EAL (empty until EAL set it); it is only read here.
    let dir = unsafe { CStr::from_ptr(ffi::rte_eal_get_runtime_dir()) };
    if dir.to_bytes().is_empty() {
        return;
    }
    let dir = PathBuf::from(OsStr::from_bytes(dir.to_bytes()));
    if errno == libc::ENOMEM {
        super::eal_files::remove(&dir, "");
    } else {
        let _ = std::fs::remove_dir(&dir);
    }
}

fn wants_no_huge(args: &[&str]) -> bool {
    args.contains(&"--no-huge")
}

/// Whether the EAL arguments ask for an amount of memory (`-m`,
/// `--socket-mem`, `--socket-limit`, in any of their spellings).
fn asks_memory(args: &[&str]) -> bool {
    args.iter().any(|a| {
        a.starts_with("-m") || a.starts_with("--socket-mem") || a.starts_with("--socket-limit")
    })
}

/// Free hugepages of every size: (pages, MiB).
fn free_hugepages() -> (u64, u64) {
    let Ok(dirs) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return (0, 0);
    };
    dirs.filter_map(|d| d.ok())
        .filter_map(|d| {
            // `hugepages-2048kB`
            let name = d.file_name();
            let kib: u64 = name
                .to_str()?
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            let free: u64 = std::fs::read_to_string(d.path().join("free_hugepages"))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            Some((free, free * kib / 1024))
        })
        .fold((0, 0), |(p, m), (fp, fm)| (p + fp, m + fm))
}

/// Whether EAL can have hugepages: hugetlbfs is mounted, which
/// `--in-memory` does without (else `NoHugetlbfs`), and at least one page
/// of any size is free (1 GiB pages count too, also when 2 MiB is the
/// default size), or page files lie in hugetlbfs (a DPDK run that ended
/// without cleaning up: killed, or a second signal), which EAL removes at
/// start when no live process holds them, whatever their prefix (else
/// `NoHugepages`). Files a live process holds pass this check too: EAL
/// then finds no page and says so (`NoHugepages`).
fn hugepages_available(args: &[&str]) -> Result<()> {
    let free = free_hugepages().0;
    let mounts: Vec<PathBuf> = std::fs::read_to_string("/proc/mounts")
        .map(|m| hugetlbfs_mounts(&m))
        .unwrap_or_default();
    if mounts.is_empty() && !args.contains(&"--in-memory") {
        return Err(if free > 0 {
            DpdkError::NoHugetlbfs
        } else {
            DpdkError::NoHugepages
        });
    }
    if free > 0 || left_behind(&mounts) {
        Ok(())
    } else {
        Err(DpdkError::NoHugepages)
    }
}

/// Mount points of hugetlbfs in a `/proc/mounts` text.
fn hugetlbfs_mounts(mounts: &str) -> Vec<PathBuf> {
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, dir, fs) = (f.next()?, f.next()?, f.next()?);
            (fs == "hugetlbfs").then(|| PathBuf::from(dir))
        })
        .collect()
}

/// Whether DPDK page files (`<prefix>map_<n>`) lie in any of `dirs`.
fn left_behind(dirs: &[PathBuf]) -> bool {
    dirs.iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .any(|entries| {
            entries
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_str().is_some_and(|n| n.contains("map_")))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugetlbfs_mounts_are_read_from_proc_mounts() {
        let m = "sysfs /sys sysfs rw 0 0\nnodev /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\nhugetlbfs /mnt/huge1g hugetlbfs rw,pagesize=1024M 0 0\n/dev/sda1 /mnt/hugetlbfs ext4 rw 0 0\n";
        assert_eq!(
            hugetlbfs_mounts(m),
            [
                PathBuf::from("/dev/hugepages"),
                PathBuf::from("/mnt/huge1g")
            ]
        );
    }

    /// Page files left by a run that could not clean up count as pages:
    /// EAL removes the unlocked ones at start and reuses their pages,
    /// whatever their prefix.
    #[test]
    fn page_files_left_behind_are_found() {
        let d = tempfile::tempdir().unwrap();
        let dirs = [d.path().to_path_buf()];
        std::fs::write(d.path().join("vxgate"), b"").unwrap();
        assert!(!left_behind(&dirs));
        std::fs::write(d.path().join("vxt-cli-x-123map_0"), b"").unwrap();
        assert!(left_behind(&dirs));
        assert!(!left_behind(&[d.path().join("missing")]));
    }
}
