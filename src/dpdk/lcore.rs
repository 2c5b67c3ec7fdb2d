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
    let job: Box<Job> = Box::new(Box::new(f));
    let arg = Box::into_raw(job) as *mut c_void;
    // SAFETY: trampoline has the lcore_function_t ABI and takes ownership of
    // arg exactly once; EAL is initialised (lcore ids come from Eal).
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
