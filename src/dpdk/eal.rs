//! The Environment Abstraction Layer: started once per process, cleaned up on drop.
use std::ffi::CString;
use std::os::raw::{c_char, c_int};
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::{last_errno, strerror, DpdkError, Result};
use crate::ffi;

static STARTED: AtomicBool = AtomicBool::new(false);

/// A running EAL. Dropping it calls `rte_eal_cleanup`; drop every port,
/// mempool and mbuf first.
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
        if !wants_no_huge(&args) && !hugepages_available() {
            STARTED.store(false, Ordering::SeqCst);
            return Err(DpdkError::NoHugepages);
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
            let reason = match errno {
                libc::EACCES | libc::ENOMEM if !wants_no_huge(&args) => {
                    return Err(DpdkError::NoHugepages)
                }
                libc::EALREADY => return Err(DpdkError::EalAlreadyInitialised),
                libc::EINVAL => "invalid EAL arguments".to_string(),
                libc::ENODEV => "a device given with --vdev or -a could not be probed".to_string(),
                e => strerror(e),
            };
            return Err(DpdkError::EalInit { reason });
        }
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
        // SAFETY: called once, from the thread that initialised EAL, after the
        // caller dropped every DPDK object (they borrow nothing from Eal, so
        // this is the caller's contract, documented on the type).
        unsafe {
            ffi::rte_eal_cleanup();
        }
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

fn wants_no_huge(args: &[&str]) -> bool {
    args.contains(&"--no-huge")
}

/// True when at least one hugepage of any size is free (1 GiB pages
/// count too, also when 2 MiB is the default size) and hugetlbfs is
/// mounted.
fn hugepages_available() -> bool {
    let free: u64 = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|dirs| {
            dirs.filter_map(|d| d.ok())
                .filter_map(|d| std::fs::read_to_string(d.path().join("free_hugepages")).ok())
                .filter_map(|n| n.trim().parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    let mounted = std::fs::read_to_string("/proc/mounts")
        .map(|m| m.lines().any(|l| l.contains(" hugetlbfs ")))
        .unwrap_or(false);
    free > 0 && mounted
}
