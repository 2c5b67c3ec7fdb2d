//! The Environment Abstraction Layer: started once per process, cleaned up
//! on drop when nothing needs it any more.
use std::ffi::{CStr, CString, OsStr};
use std::os::raw::{c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::error::{last_errno, strerror, DpdkError, Result};
use crate::ffi;

static STARTED: AtomicBool = AtomicBool::new(false);

/// 0 while EAL is not running (not started yet, or cleaned up); `n + 1`
/// while it runs with `n` [`Live`] holds on its memory.
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// The devices the EAL arguments asked for with `--vdev` (names only):
/// a port of one that is missing after EAL started failed to probe.
static VDEVS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

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
        let vdevs = args.iter().enumerate().filter_map(|(i, a)| match *a {
            "--vdev" => args.get(i + 1).copied(),
            a => a.strip_prefix("--vdev="),
        });
        let _ = VDEVS.set(
            vdevs
                .map(|v| v.split(',').next().unwrap_or(v).trim().to_owned())
                .collect(),
        );
        if !wants_no_huge(&args) {
            if let Err(e) = hugepages_available(&args) {
                STARTED.store(false, Ordering::SeqCst);
                return Err(e);
            }
        }
        // EAL pins the threads it starts and this one; threads started
        // before it (signals, metrics, the control runtime) are confined
        // to the main lcore's CPUs after it (`confine_others`).
        let before = super::lcore::other_threads();
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
            remove_runtime_dir_after_failure();
            let reason = match errno {
                libc::ENOMEM if !wants_no_huge(&args) && asks_memory(&args) => {
                    // Pages are free (or this would have been found before
                    // EAL started), just not as many as asked for.
                    return Err(match free_hugepages().1 {
                        0 => DpdkError::NoHugepages,
                        free_mib => DpdkError::NotEnoughHugepages {
                            free_mib,
                            asked_mib: asked_mib(&args),
                            after_eal: true,
                        },
                    });
                }
                // EACCES: no page size had both pages and a mount EAL uses.
                libc::EACCES | libc::ENOMEM if !wants_no_huge(&args) => {
                    return Err(why_no_hugepages(&args))
                }
                libc::EALREADY => return Err(DpdkError::EalAlreadyInitialised),
                libc::EINVAL => "invalid EAL arguments".to_string(),
                libc::ENODEV => "a device given with --vdev or -a could not be probed or set up, \
                                 or EAL's memory could not be set up (see EAL's messages above)"
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
        let eal = Eal {
            _not_send: std::marker::PhantomData,
        };
        // On an error `eal` drops: EAL is cleaned up.
        eal.confine_others(&before)?;
        // A `--vdev net_...` whose probe failed leaves EAL running without
        // its port, and every later port id one lower: a port given by id
        // would silently be another device. Refused whatever names the
        // ports.
        if let Some(name) = VDEVS
            .get()
            .into_iter()
            .flatten()
            .find(|n| n.starts_with("net_") && super::port::find_port(n).is_err())
        {
            return Err(DpdkError::NotProbed {
                name: name.clone(),
                available: super::port::available_text(),
            });
        }
        Ok(eal)
    }

    /// Confines `threads` (this process's, started before EAL) to the
    /// calling thread's CPUs, which EAL has just pinned to the main lcore:
    /// else they may run on a worker lcore's CPU, preempting its poll
    /// loop. Threads they start from now on inherit the main lcore's CPUs.
    /// One started during `rte_eal_init` by one of them is not among
    /// `threads` (EAL's own cannot be told apart from it): left as it is.
    fn confine_others(&self, threads: &[libc::pid_t]) -> Result<()> {
        let main = super::lcore::CpuSet::of_current_thread()?;
        let mut n = 0;
        for &tid in threads {
            // A thread that cannot be moved runs where it was: worth a
            // warning, not a failed start.
            match main.apply_to_thread(tid) {
                Ok(moved) => n += usize::from(moved),
                Err(e) => {
                    tracing::warn!(error = %e, "a thread started before EAL stays on its CPUs")
                }
            }
        }
        tracing::debug!(threads = n, cpus = ?main, "threads started before EAL moved to the main lcore's CPUs");
        Ok(())
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

/// After a failed start: EAL's runtime directory, when it is provably
/// this process's (see `eal_files::remove_after_failure`).
fn remove_runtime_dir_after_failure() {
    // SAFETY: the runtime directory is a static NUL-terminated buffer in
    // EAL (empty until EAL set it); it is only read here.
    let dir = unsafe { CStr::from_ptr(ffi::rte_eal_get_runtime_dir()) };
    if dir.to_bytes().is_empty() {
        return;
    }
    let dir = PathBuf::from(OsStr::from_bytes(dir.to_bytes()));
    super::eal_files::remove_after_failure(&dir);
}

fn wants_no_huge(args: &[&str]) -> bool {
    args.contains(&"--no-huge")
}

/// What a start would find of the machine's hugepages, without starting
/// EAL (`--check-config`): the checks `Eal::init` makes before EAL, and
/// `-m` / `--socket-mem` asking for more than is free (unless page files
/// of an ended run lie in hugetlbfs, which EAL removes and so frees).
pub fn check_hugepages<S: AsRef<str>>(args: &[S]) -> Result<()> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    if wants_no_huge(&args) {
        return Ok(());
    }
    hugepages_available(&args)?;
    if let Some(asked) = asked_mib(&args) {
        let mounts: Vec<PathBuf> = read_hugetlbfs_mounts().into_iter().map(|m| m.dir).collect();
        let free_mib = free_hugepages().1;
        // Page files left in hugetlbfs may be an ended run's, which EAL
        // removes (so they count as free), or a live process's: more
        // than all pages reserved can never be had either way.
        let reserved_mib: u64 = page_sizes().iter().map(|s| s.total * s.kib / 1024).sum();
        if free_mib < asked && (asked > reserved_mib || !left_behind(&mounts)) {
            return Err(DpdkError::NotEnoughHugepages {
                free_mib,
                asked_mib: Some(asked),
                after_eal: false,
            });
        }
    }
    Ok(())
}

/// MiB of memory `-m` or `--socket-mem` (summed over its sockets) ask
/// for; `None` when neither is given or its value is not a number (EAL
/// then refuses it itself).
fn asked_mib(args: &[&str]) -> Option<u64> {
    let mut asked = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = match *a {
            "-m" | "--socket-mem" => it.next().copied(),
            _ => a.strip_prefix("--socket-mem=").or_else(|| {
                a.strip_prefix("-m")
                    .filter(|v| !v.is_empty() && !a.starts_with("--"))
            }),
        };
        if let Some(v) = value {
            asked = v
                .split(',')
                .map(|n| n.trim().parse::<u64>().ok())
                .sum::<Option<u64>>();
        }
    }
    asked
}

/// Whether the EAL arguments ask for an amount of memory (`-m`,
/// `--socket-mem`, `--socket-limit`, in any of their spellings).
fn asks_memory(args: &[&str]) -> bool {
    args.iter().any(|a| {
        a.starts_with("-m") || a.starts_with("--socket-mem") || a.starts_with("--socket-limit")
    })
}

/// One hugepage size as the kernel reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PageSize {
    kib: u64,
    free: u64,
    /// Pages reserved (`nr_hugepages`), free or not.
    total: u64,
}

/// Every hugepage size of `/sys/kernel/mm/hugepages`, smallest first.
fn page_sizes() -> Vec<PageSize> {
    let Ok(dirs) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut sizes: Vec<PageSize> = dirs
        .filter_map(|d| d.ok())
        .filter_map(|d| {
            // `hugepages-2048kB`
            let name = d.file_name();
            let kib: u64 = name
                .to_str()?
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            let count = |file: &str| -> Option<u64> {
                std::fs::read_to_string(d.path().join(file))
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
            };
            Some(PageSize {
                kib,
                free: count("free_hugepages")?,
                total: count("nr_hugepages")?,
            })
        })
        .collect();
    sizes.sort_by_key(|s| s.kib);
    sizes
}

/// Free hugepages of every size: (pages, MiB).
fn free_hugepages() -> (u64, u64) {
    page_sizes()
        .iter()
        .fold((0, 0), |(p, m), s| (p + s.free, m + s.free * s.kib / 1024))
}

/// Whether EAL can have hugepages: hugetlbfs is mounted, which
/// `--in-memory` does without (else `NoHugetlbfs`), one holding
/// `--huge-dir` when that is given (else `NoHugetlbfs`), and at least one page
/// of any size is free (1 GiB pages count too, also when 2 MiB is the
/// default size), or page files lie in hugetlbfs (a DPDK run that ended
/// without cleaning up: killed, or a second signal), which EAL removes at
/// start when no live process holds them, whatever their prefix (else
/// `NoHugepages`). Files a live process holds pass this check too: EAL
/// then finds no page and says so (`NoHugepages`).
fn hugepages_available(args: &[&str]) -> Result<()> {
    let free = free_hugepages().0;
    let mounts = read_hugetlbfs_mounts();
    let in_memory = args.contains(&"--in-memory");
    if mounts.is_empty() && !in_memory {
        return Err(if free > 0 {
            why_no_hugepages(args)
        } else {
            DpdkError::NoHugepages
        });
    }
    // EAL takes only a mount holding `--huge-dir` ("no mounted hugetlbfs
    // found for that size" otherwise).
    if let Some(dir) = huge_dir(args).filter(|_| !in_memory) {
        if !mounts.iter().any(|m| dir.starts_with(&m.dir)) {
            return Err(why_no_hugepages(args));
        }
    }
    let dirs: Vec<PathBuf> = mounts.into_iter().map(|m| m.dir).collect();
    if free > 0 || left_behind(&dirs) {
        Ok(())
    } else {
        Err(DpdkError::NoHugepages)
    }
}

/// Why EAL found no hugepage memory, from the system as it is now.
fn why_no_hugepages(args: &[&str]) -> DpdkError {
    missing(
        &page_sizes(),
        &read_hugetlbfs_mounts(),
        huge_dir(args).as_deref(),
    )
}

/// What is missing: a mount, when pages are free only of sizes that no
/// hugetlbfs EAL would use is mounted for (none of that size, or none
/// holding `huge_dir`; EAL then says "reserved, but no mounted hugetlbfs
/// found for that size"); else the pages.
fn missing(sizes: &[PageSize], mounts: &[HugeMount], huge_dir: Option<&Path>) -> DpdkError {
    // As EAL 22.11 picks a mount: of the size, and holding --huge-dir.
    let usable =
        |m: &HugeMount, kib: u64| m.kib == kib && huge_dir.map_or(true, |d| d.starts_with(&m.dir));
    let free: Vec<&PageSize> = sizes.iter().filter(|s| s.free > 0).collect();
    if free.is_empty() || free.iter().any(|s| mounts.iter().any(|m| usable(m, s.kib))) {
        return DpdkError::NoHugepages;
    }
    DpdkError::NoHugetlbfs {
        free: free.iter().map(|s| (s.kib, s.free)).collect(),
        huge_dir: huge_dir.map(Path::to_path_buf),
        // Mounts of a free size, which --huge-dir could name instead.
        elsewhere: mounts
            .iter()
            .filter(|m| free.iter().any(|s| s.kib == m.kib))
            .map(|m| m.dir.clone())
            .collect(),
    }
}

/// The `--huge-dir` of the EAL arguments (`--huge-dir DIR` or
/// `--huge-dir=DIR`), the last one as getopt takes it.
fn huge_dir(args: &[&str]) -> Option<PathBuf> {
    let mut dir = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if *a == "--huge-dir" {
            dir = it.next().map(PathBuf::from);
        } else if let Some(d) = a.strip_prefix("--huge-dir=") {
            dir = Some(PathBuf::from(d));
        }
    }
    dir
}

/// A hugetlbfs mount: where, and the size of its pages.
#[derive(Debug, PartialEq, Eq)]
struct HugeMount {
    dir: PathBuf,
    kib: u64,
}

fn read_hugetlbfs_mounts() -> Vec<HugeMount> {
    let default_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| default_page_kib(&m))
        .unwrap_or(2048);
    std::fs::read_to_string("/proc/mounts")
        .map(|m| hugetlbfs_mounts(&m, default_kib))
        .unwrap_or_default()
}

/// `Hugepagesize:` of a `/proc/meminfo` text, in KiB: the page size of a
/// hugetlbfs mounted without `pagesize=`.
fn default_page_kib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("Hugepagesize:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// The hugetlbfs mounts of a `/proc/mounts` text.
fn hugetlbfs_mounts(mounts: &str, default_kib: u64) -> Vec<HugeMount> {
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, dir, fs, opts) = (f.next()?, f.next()?, f.next()?, f.next()?);
            if fs != "hugetlbfs" {
                return None;
            }
            let kib = match opts.split(',').find_map(|o| o.strip_prefix("pagesize=")) {
                Some(size) => size_kib(size)?,
                None => default_kib,
            };
            Some(HugeMount {
                dir: PathBuf::from(dir),
                kib,
            })
        })
        .collect()
}

/// A size as hugetlbfs' `pagesize=` gives it (`2M`, `1024M`, `1G`, bytes
/// without a suffix), in KiB.
fn size_kib(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let bytes = match unit.to_ascii_uppercase().as_str() {
        "" => n,
        "K" => n << 10,
        "M" => n << 20,
        "G" => n << 30,
        _ => return None,
    };
    Some(bytes >> 10)
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

    fn mount(dir: &str, kib: u64) -> HugeMount {
        HugeMount {
            dir: PathBuf::from(dir),
            kib,
        }
    }

    #[test]
    fn the_memory_asked_for_is_read_in_every_spelling() {
        for (args, mib) in [
            (&["-l", "0-1"][..], None),
            (&["-m", "256"][..], Some(256)),
            (&["-m512"][..], Some(512)),
            (&["--socket-mem", "512,256"][..], Some(768)),
            (&["--socket-mem=1024"][..], Some(1024)),
            (&["-m", "lots"][..], None),
            (&["-m", "64", "--socket-mem=1,x"][..], None),
            (&["--match-allocations"][..], None),
        ] {
            assert_eq!(asked_mib(args), mib, "{args:?}");
        }
    }

    #[test]
    fn hugetlbfs_mounts_are_read_from_proc_mounts_with_their_page_size() {
        let m = "sysfs /sys sysfs rw 0 0\nnodev /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\nhugetlbfs /mnt/huge1g hugetlbfs rw,pagesize=1024M 0 0\nnone /mnt/hugedef hugetlbfs rw,relatime 0 0\n/dev/sda1 /mnt/hugetlbfs ext4 rw 0 0\n";
        assert_eq!(
            hugetlbfs_mounts(m, 2048),
            [
                mount("/dev/hugepages", 2048),
                mount("/mnt/huge1g", 1 << 20),
                mount("/mnt/hugedef", 2048),
            ]
        );
        let meminfo =
            "HugePages_Free:     2944\nHugepagesize:       2048 kB\nHugetlb:         6291456 kB\n";
        assert_eq!(default_page_kib(meminfo), Some(2048));
        assert_eq!(size_kib("1G"), Some(1 << 20));
        assert_eq!(size_kib("2097152"), Some(2048));
        assert_eq!(size_kib("2X"), None);
    }

    #[test]
    fn the_huge_dir_is_found_in_either_spelling() {
        assert_eq!(huge_dir(&["-l", "0-1"]), None);
        assert_eq!(
            huge_dir(&["--huge-dir", "/a", "--huge-dir=/b"]),
            Some(PathBuf::from("/b"))
        );
    }

    /// Free pages without a mount EAL would use name the mount (and the
    /// --huge-dir that is not one); without free pages, the pages.
    #[test]
    fn what_is_missing_is_told_apart() {
        let free_2m = [
            PageSize {
                kib: 2048,
                free: 2944,
                total: 3072,
            },
            PageSize {
                kib: 1 << 20,
                free: 0,
                total: 0,
            },
        ];
        let dev = [mount("/dev/hugepages", 2048)];
        let tmp = Some(Path::new("/tmp/x"));
        match missing(&free_2m, &dev, tmp) {
            DpdkError::NoHugetlbfs {
                free,
                huge_dir,
                elsewhere,
            } => {
                assert_eq!(free, [(2048, 2944)]);
                assert_eq!(huge_dir.as_deref(), tmp);
                assert_eq!(elsewhere, [PathBuf::from("/dev/hugepages")]);
            }
            e => panic!("{e}"),
        }
        // A mount of another size only.
        let only_1g = [mount("/mnt/huge1g", 1 << 20)];
        assert!(matches!(
            missing(&free_2m, &only_1g, None),
            DpdkError::NoHugetlbfs { ref elsewhere, .. } if elsewhere.is_empty()
        ));
        // A --huge-dir under the mount, or none: EAL had a mount.
        let sub = Some(Path::new("/dev/hugepages/vxgate"));
        assert!(matches!(
            missing(&free_2m, &dev, sub),
            DpdkError::NoHugepages
        ));
        assert!(matches!(
            missing(&free_2m, &dev, None),
            DpdkError::NoHugepages
        ));
        // No free page at all: the pages are missing, mount or not.
        let none_free = [PageSize {
            kib: 2048,
            free: 0,
            total: 1024,
        }];
        assert!(matches!(
            missing(&none_free, &[], tmp),
            DpdkError::NoHugepages
        ));
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
