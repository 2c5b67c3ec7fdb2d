//! Launching closures on worker lcores and joining them.
use std::marker::PhantomData;
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::eal::{Eal, Live};
use super::error::{strerror, DpdkError, Result};
use crate::ffi;

type Job = Box<dyn FnOnce() -> i32 + Send + 'static>;

/// Exit code a worker reports when its closure panicked, in builds that
/// unwind (tests, dev): the panic is caught at the lcore boundary, as an
/// unwind out of `extern "C"` would abort. Release builds abort on any
/// panic (Cargo.toml), so there the whole process ends instead.
pub const PANICKED: i32 = -99;

/// Exit code of a launch that reached the lcore without its closure (no
/// launch of ours does; a foreign `rte_eal_remote_launch` could).
pub const NO_JOB: i32 = -98;

/// Lcore jobs launched and not yet joined. A mempool is freed only when
/// this is 0 (see `Mempool`'s drop): a running job may be putting an mbuf
/// into its lcore's cache, inside the pool's memory.
static JOBS: AtomicUsize = AtomicUsize::new(0);

/// True when no launched lcore job can be running.
pub(crate) fn no_jobs_running() -> bool {
    // Acquire: pairs with the Release in `LcoreHandle::finish`, after the
    // job's last write.
    JOBS.load(Ordering::Acquire) == 0
}

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    if arg.is_null() {
        return NO_JOB;
    }
    // SAFETY: a non-null arg is the Box<Job> leaked by `Eal::launch` for
    // exactly this call: launches come only from the main lcore (`&Eal`),
    // so DPDK hands each arg to one run of one lcore.
    let job: Box<Job> = unsafe { Box::from_raw(arg as *mut Job) };
    match catch_unwind(AssertUnwindSafe(move || (*job)())) {
        Ok(code) => code,
        Err(_) => PANICKED,
    }
}

/// A closure running on a worker lcore; join it to get its return code.
/// It stays on the main lcore's thread (`!Send`), where DPDK wants
/// `rte_eal_wait_lcore` called; dropping it joins.
#[must_use = "join the lcore to get its return code (dropping the handle waits for it)"]
pub struct LcoreHandle {
    lcore: u32,
    joined: bool,
    /// EAL is not cleaned up under a running job.
    _eal: Live,
    _not_send: PhantomData<*const ()>,
}

impl Eal {
    /// Runs `f` on worker lcore `lcore` (which must be idle). Only the
    /// thread that started EAL holds an `Eal`, so launches never race
    /// (`rte_eal_remote_launch` is for the main lcore only).
    ///
    /// ```no_run
    /// fn run_on_worker(eal: &vxgate::dpdk::Eal) -> i32 {
    ///     let h = eal.launch(eal.worker_lcores()[0], || 7).expect("a worker lcore");
    ///     h.join()
    /// }
    /// ```
    /// Another thread cannot launch, nor join (`&Eal` and the handle stay
    /// on the main lcore's thread):
    /// ```compile_fail,E0277
    /// fn launch_elsewhere(eal: &vxgate::dpdk::Eal) {
    ///     std::thread::scope(|s| {
    ///         s.spawn(|| eal.launch(1, || 0).map(|h| h.join()));
    ///     });
    /// }
    /// ```
    /// ```compile_fail,E0277
    /// fn join_elsewhere(h: vxgate::dpdk::LcoreHandle) {
    ///     std::thread::spawn(move || h.join());
    /// }
    /// ```
    pub fn launch<F>(&self, lcore: u32, f: F) -> Result<LcoreHandle>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        // DPDK 22.11 indexes its lcore table with the id unchecked.
        // SAFETY: plain reads of EAL's lcore configuration (EAL runs: &self).
        let worker = lcore < ffi::RTE_MAX_LCORE
            && unsafe { ffi::rte_lcore_is_enabled(lcore) } != 0
            && self.main_lcore() != lcore;
        if !worker {
            return Err(DpdkError::Lcore {
                lcore,
                reason: "not a worker lcore of this EAL (see -l / --lcores)".into(),
            });
        }
        let job: Box<Job> = Box::new(Box::new(f));
        let arg = Box::into_raw(job) as *mut c_void;
        // Counted before the job can run, so a pool never sees 0 while it does.
        JOBS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: trampoline has the lcore_function_t ABI and takes ownership
        // of arg exactly once; `lcore` is an enabled worker lcore (checked
        // above); we are the main lcore's thread (&Eal is !Send), the only
        // caller, so the WAIT check and the arg write inside do not race.
        let rc = unsafe { ffi::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
        if rc != 0 {
            JOBS.fetch_sub(1, Ordering::Relaxed);
            // SAFETY: the launch failed, so the trampoline never got arg: reclaim it.
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
            _eal: Live::new(self),
            _not_send: PhantomData,
        })
    }
}

impl LcoreHandle {
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// Waits for the closure to return and gives its code.
    pub fn join(mut self) -> i32 {
        self.finish()
    }

    fn finish(&mut self) -> i32 {
        self.joined = true;
        // SAFETY: the lcore was launched by us from this thread (the main
        // lcore's: the handle is !Send); waiting has no other precondition.
        let code = unsafe { ffi::rte_eal_wait_lcore(self.lcore) };
        // The job and its closure are gone (the lcore is back in WAIT).
        JOBS.fetch_sub(1, Ordering::Release);
        code
    }
}

impl Drop for LcoreHandle {
    fn drop(&mut self) {
        if !self.joined {
            // Never leave a worker running past its handle.
            self.finish();
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

    /// Confines thread `tid` of this process to these CPUs; `Ok(false)`
    /// when the thread has ended meanwhile.
    pub(crate) fn apply_to_thread(&self, tid: libc::pid_t) -> Result<bool> {
        // SAFETY: `self.0` is a valid cpu_set_t of the size passed; a tid
        // that no longer exists fails with ESRCH, nothing else.
        let rc = unsafe {
            libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &self.0)
        };
        if rc == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ESRCH) {
            return Ok(false);
        }
        Err(DpdkError::Affinity(format!("thread {tid}: {e}")))
    }

    /// The CPU numbers in the set.
    pub fn cpus(&self) -> Vec<usize> {
        (0..libc::CPU_SETSIZE as usize)
            // SAFETY: CPU_ISSET only reads the set; `c` is below CPU_SETSIZE.
            .filter(|&c| unsafe { libc::CPU_ISSET(c, &self.0) })
            .collect()
    }
}

/// Ids of this process's threads, the calling one left out.
pub(crate) fn other_threads() -> Vec<libc::pid_t> {
    // `/proc/thread-self` links to `<pid>/task/<tid>`.
    let me: Option<libc::pid_t> = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|l| l.file_name()?.to_str()?.parse().ok());
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| t.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&tid| Some(tid) != me)
        .collect()
}

impl std::fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CpuSet{:?}", self.cpus())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(job: Job) -> *mut c_void {
        Box::into_raw(Box::new(job)) as *mut c_void
    }

    /// A thread started before a pinning is found and confined to the
    /// set given (here the one it has, so no other test is disturbed).
    #[test]
    fn another_thread_is_found_and_confined() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let tid: libc::pid_t = std::fs::read_link("/proc/thread-self")
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            tx.send(tid).unwrap();
            let _ = done_rx.recv();
        });
        let tid = rx.recv().unwrap();
        let others = other_threads();
        assert!(others.contains(&tid), "{tid} in {others:?}");
        let set = CpuSet::of_current_thread().unwrap();
        assert!(set.apply_to_thread(tid).unwrap());
        drop(done_tx);
        t.join().unwrap();
    }

    #[test]
    fn a_launch_that_arrives_without_its_closure_is_an_error_code() {
        assert_eq!(trampoline(std::ptr::null_mut()), NO_JOB);
    }

    #[test]
    fn the_trampoline_runs_the_closure_and_catches_its_panic() {
        assert_eq!(trampoline(arg(Box::new(|| 7))), 7);
        assert_eq!(trampoline(arg(Box::new(|| panic!("job")))), PANICKED);
    }
}
