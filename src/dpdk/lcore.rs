//! Launching closures on worker lcores and joining them.
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{strerror, DpdkError, Result};
use crate::ffi;

type Job = Box<dyn FnOnce() -> i32 + Send + 'static>;

/// Exit code a worker reports when its closure panicked, in builds that
/// unwind (tests, dev): the panic is caught at the lcore boundary, as an
/// unwind out of `extern "C"` would abort. Release builds abort on any
/// panic (Cargo.toml), so there the whole process ends instead.
pub const PANICKED: i32 = -99;

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: arg is the Box<Job> leaked by `launch` for exactly this call.
    let job: Box<Job> = unsafe { Box::from_raw(arg as *mut Job) };
    match catch_unwind(AssertUnwindSafe(move || (*job)())) {
        Ok(code) => code,
        Err(_) => PANICKED,
    }
}

/// A closure running on a worker lcore; join it to get its return code.
#[must_use = "join the lcore before dropping ports and pools"]
pub struct LcoreHandle {
    lcore: u32,
    joined: bool,
}

/// Runs `f` on worker lcore `lcore` (which must be idle).
pub fn launch<F>(lcore: u32, f: F) -> Result<LcoreHandle>
where
    F: FnOnce() -> i32 + Send + 'static,
{
    // DPDK 22.11 indexes its lcore table with the id unchecked.
    // SAFETY: plain reads of EAL's lcore configuration.
    let worker = lcore < ffi::RTE_MAX_LCORE
        && unsafe { ffi::rte_lcore_is_enabled(lcore) } != 0
        && unsafe { ffi::rte_get_main_lcore() } != lcore;
    if !worker {
        return Err(DpdkError::Lcore {
            lcore,
            reason: "not a worker lcore of this EAL (see -l / --lcores)".into(),
        });
    }
    let job: Box<Job> = Box::new(Box::new(f));
    let arg = Box::into_raw(job) as *mut c_void;
    // SAFETY: trampoline has the lcore_function_t ABI and takes ownership of
    // arg exactly once; `lcore` is an enabled worker lcore (checked above).
    let rc = unsafe { ffi::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
    if rc != 0 {
        // SAFETY: the launch failed, so the trampoline never ran: reclaim arg.
        drop(unsafe { Box::from_raw(arg as *mut Job) });
        return Err(DpdkError::Lcore {
            lcore,
            reason: format!(
                "launch failed: {} (is it the main lcore or busy?)",
                strerror(rc)
            ),
        });
    }
    Ok(LcoreHandle {
        lcore,
        joined: false,
    })
}

impl LcoreHandle {
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// Waits for the closure to return and gives its code.
    pub fn join(mut self) -> i32 {
        self.joined = true;
        // SAFETY: the lcore was launched by us; waiting has no other precondition.
        unsafe { ffi::rte_eal_wait_lcore(self.lcore) }
    }
}

impl Drop for LcoreHandle {
    fn drop(&mut self) {
        if !self.joined {
            // Never leave a worker running past its handle: it may use queues
            // and pools that are about to be freed.
            // SAFETY: as in join.
            unsafe { ffi::rte_eal_wait_lcore(self.lcore) };
        }
    }
}

/// The CPUs a thread may run on.
#[derive(Clone, Copy)]
pub struct CpuSet(libc::cpu_set_t);

impl CpuSet {
    /// The calling thread's CPUs: after `Eal::init`, on the thread that
    /// called it, the main lcore's.
    pub fn of_current_thread() -> Result<CpuSet> {
        // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of
        // the size passed.
        let rc =
            unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
        if rc != 0 {
            return Err(DpdkError::Affinity(
                std::io::Error::last_os_error().to_string(),
            ));
        }
        Ok(CpuSet(set))
    }

    /// Confines the calling thread to these CPUs.
    pub fn apply_to_current_thread(&self) -> Result<()> {
        // SAFETY: pid 0 is the calling thread; `self.0` is a valid cpu_set_t.
        let rc =
            unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.0) };
        if rc != 0 {
            return Err(DpdkError::Affinity(
                std::io::Error::last_os_error().to_string(),
            ));
        }
        Ok(())
    }

    /// The CPU numbers in the set.
    pub fn cpus(&self) -> Vec<usize> {
        (0..libc::CPU_SETSIZE as usize)
            // SAFETY: CPU_ISSET only reads the set; `c` is below CPU_SETSIZE.
            .filter(|&c| unsafe { libc::CPU_ISSET(c, &self.0) })
            .collect()
    }
}

impl std::fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CpuSet{:?}", self.cpus())
    }
}
