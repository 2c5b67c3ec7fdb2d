//! SIGINT/SIGTERM: set a shared stop flag (workers read it after each
//! burst); another one at least [`FORCE_AFTER`] later, while stopping,
//! exits at once with 130 / 143. One within that time of the first is the
//! same request delivered twice (coreutils `timeout` signals its child,
//! then its whole process group) and must not cost the clean stop.
//! SIGHUP: runs a callback (the log-level reload) on a helper thread.
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

/// Exit status of a second SIGINT (128 + 2, as a shell reports it).
pub const EXIT_SECOND_SIGINT: i32 = 130;
/// Exit status of a second SIGTERM (128 + 15).
pub const EXIT_SECOND_SIGTERM: i32 = 143;
/// The exit status of a run a stop signal ended: 130 after SIGINT, 143
/// after SIGTERM (128 + the signal, as a shell reports it).
pub fn exit_status(signal: i32) -> i32 {
    if signal == SIGTERM {
        EXIT_SECOND_SIGTERM
    } else {
        EXIT_SECOND_SIGINT
    }
}

/// How long after the stop began a SIGINT/SIGTERM is taken for a copy of
/// the first rather than an operator insisting.
pub const FORCE_AFTER: Duration = Duration::from_secs(1);

/// Installed signal handling. SIGINT/SIGTERM stay handled for the life of
/// the process (signal-hook cannot restore the default action); dropping
/// this stops the signal thread (a later second signal then no longer
/// forces an exit; the stop flag is still set).
#[derive(Debug)]
pub struct SignalHandler {
    stop: Arc<AtomicBool>,
    /// The last SIGINT/SIGTERM received (0: none).
    signal: Arc<AtomicUsize>,
    /// When the stop began (a signal or `request_stop`).
    since: Arc<Mutex<Option<Instant>>>,
    signals: Handle,
    thread: Option<JoinHandle<()>>,
}

/// What a SIGINT/SIGTERM means, given when the stop began (`since`,
/// updated): the first starts the stop, one later by [`FORCE_AFTER`] or
/// more ends the process, one sooner is a duplicate.
fn on_stop_signal(since: &Mutex<Option<Instant>>, now: Instant) -> StopSignal {
    let mut since = since.lock().unwrap_or_else(|p| p.into_inner());
    match *since {
        None => {
            *since = Some(now);
            StopSignal::First
        }
        Some(t) if now.saturating_duration_since(t) >= FORCE_AFTER => StopSignal::Force,
        Some(_) => StopSignal::Duplicate,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum StopSignal {
    First,
    Duplicate,
    Force,
}

/// Registers the handlers. `on_hup` runs on a thread named
/// `vxgate-signals` for every SIGHUP (several in quick succession may
/// coalesce into one call).
pub fn install<F>(on_hup: F) -> io::Result<SignalHandler>
where
    F: Fn() + Send + 'static,
{
    install_for(&[SIGHUP, SIGINT, SIGTERM], on_hup)
}

/// SIGINT/SIGTERM only, as [`install`] handles them; SIGHUP keeps its
/// default action (a one-shot command such as `pktgen --write-pcap`).
pub fn install_stop_only() -> io::Result<SignalHandler> {
    install_for(&[SIGINT, SIGTERM], || {})
}

fn install_for<F>(handled: &[i32], on_hup: F) -> io::Result<SignalHandler>
where
    F: Fn() + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let which = Arc::new(AtomicUsize::new(0));
    // The flag is set in the handler itself: workers see the stop even if
    // the signal thread is slow to run.
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_usize(signal, Arc::clone(&which), signal as usize)?;
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let since = Arc::new(Mutex::new(None));
    let mut signals = Signals::new(handled)?;
    let handle = signals.handle();
    let thread = std::thread::Builder::new()
        .name("vxgate-signals".into())
        .spawn({
            let since = Arc::clone(&since);
            move || {
                for signal in signals.forever() {
                    let code = match signal {
                        SIGINT => EXIT_SECOND_SIGINT,
                        SIGTERM => EXIT_SECOND_SIGTERM,
                        _ => {
                            on_hup();
                            continue;
                        }
                    };
                    // Nothing is logged here: a log line waits for
                    // stderr, which a stopped reader can block, and this
                    // thread must stay free to force the exit.
                    if on_stop_signal(&since, Instant::now()) == StopSignal::Force {
                        // `_exit`: no destructor or atexit handler runs
                        // under workers that are still polling.
                        signal_hook::low_level::exit(code);
                    }
                }
            }
        })?;
    Ok(SignalHandler {
        stop,
        signal: which,
        since,
        signals: handle,
        thread: Some(thread),
    })
}

impl SignalHandler {
    /// The flag workers poll (`Relaxed` loads are enough: it only ever
    /// goes from false to true).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// The SIGINT or SIGTERM that asked for the stop (the last one, if
    /// both came); `None` if none came.
    pub fn stop_signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            s => i32::try_from(s).ok(),
        }
    }

    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Starts a shutdown as a signal would (e.g. after a fatal error); a
    /// SIGINT/SIGTERM [`FORCE_AFTER`] or more later then exits at once.
    pub fn request_stop(&self) {
        let mut since = self.since.lock().unwrap_or_else(|p| p.into_inner());
        since.get_or_insert_with(Instant::now);
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
            crate::ops::pause(Duration::from_millis(20));
        }
        true
    }
}

impl Drop for SignalHandler {
    fn drop(&mut self) {
        self.signals.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_signal_is_first_a_duplicate_or_forces_by_its_time() {
        let since = Mutex::new(None);
        let t = Instant::now();
        assert_eq!(on_stop_signal(&since, t), StopSignal::First);
        // `timeout`'s second copy, microseconds later.
        let soon = t + Duration::from_micros(50);
        assert_eq!(on_stop_signal(&since, soon), StopSignal::Duplicate);
        let almost = t + FORCE_AFTER - Duration::from_millis(1);
        assert_eq!(on_stop_signal(&since, almost), StopSignal::Duplicate);
        // Measured from the first, not from the duplicates.
        assert_eq!(on_stop_signal(&since, t + FORCE_AFTER), StopSignal::Force);
        // A stop begun without a signal (a fatal error) counts the same.
        let since = Mutex::new(Some(t));
        assert_eq!(on_stop_signal(&since, t), StopSignal::Duplicate);
        assert_eq!(
            on_stop_signal(&since, t + 2 * FORCE_AFTER),
            StopSignal::Force
        );
    }
}
