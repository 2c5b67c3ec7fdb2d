//! SIGINT/SIGTERM: set a shared stop flag (workers read it after each
//! burst); a second one while stopping exits at once with 130 / 143.
//! SIGHUP: runs a callback (the log-level reload) on a helper thread.
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

/// Exit status of a second SIGINT (128 + 2, as a shell reports it).
pub const EXIT_SECOND_SIGINT: i32 = 130;
/// Exit status of a second SIGTERM (128 + 15).
pub const EXIT_SECOND_SIGTERM: i32 = 143;

/// Installed signal handling. SIGINT/SIGTERM stay handled for the life of
/// the process (signal-hook cannot restore the default action); dropping
/// this stops the SIGHUP thread.
#[derive(Debug)]
pub struct SignalHandler {
    stop: Arc<AtomicBool>,
    hup: Handle,
    hup_thread: Option<JoinHandle<()>>,
}

/// Registers the handlers. `on_hup` runs on a thread named
/// `vxgate-sighup` for every SIGHUP (several in quick succession may
/// coalesce into one call).
pub fn install<F>(on_hup: F) -> io::Result<SignalHandler>
where
    F: Fn() + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    for (signal, code) in [(SIGINT, EXIT_SECOND_SIGINT), (SIGTERM, EXIT_SECOND_SIGTERM)] {
        // Order matters: the exit action checks the flag before the second
        // action sets it, so only a signal arriving while stopping exits.
        signal_hook::flag::register_conditional_shutdown(signal, code, Arc::clone(&stop))?;
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let mut signals = Signals::new([SIGHUP])?;
    let hup = signals.handle();
    let hup_thread = std::thread::Builder::new()
        .name("vxgate-sighup".into())
        .spawn(move || {
            for _ in signals.forever() {
                on_hup();
            }
        })?;
    Ok(SignalHandler {
        stop,
        hup,
        hup_thread: Some(hup_thread),
    })
}

impl SignalHandler {
    /// The flag workers poll (`Relaxed` loads are enough: it only ever
    /// goes from false to true).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Starts a shutdown as a signal would (e.g. after a fatal error); a
    /// later SIGINT/SIGTERM then exits at once.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Blocks until a stop is requested or `timeout` passes (`None`: no
    /// limit); returns whether a stop was requested.
    pub fn wait_for_stop(&self, timeout: Option<Duration>) -> bool {
        let start = Instant::now();
        while !self.stop_requested() {
            if timeout.is_some_and(|t| start.elapsed() >= t) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

impl Drop for SignalHandler {
    fn drop(&mut self) {
        self.hup.close();
        if let Some(thread) = self.hup_thread.take() {
            let _ = thread.join();
        }
    }
}
