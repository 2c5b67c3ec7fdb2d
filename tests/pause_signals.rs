//! `vxgate::ops::pause` under a storm of signals, as net_tap raises them
//! at the process per RX batch: it ends. `std::thread::sleep` resumes with
//! the time the kernel says is left, timer slack included, and under a
//! storm faster than the slack never ends (the slow path's 200 us pause
//! stretched to 10-20 s during a fragment flood on a TAP port).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use nix::sys::pthread::{pthread_kill, pthread_self};
use nix::sys::signal::Signal;

/// Signals sent at most; the pause (20 ms) ends long before, unless it
/// never ends.
const STORM: u64 = 3_000_000;

#[test]
fn a_pause_ends_while_signals_keep_interrupting_it() {
    // A handler that does nothing, so each signal interrupts the wait.
    let caught = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, Arc::clone(&caught)).unwrap();
    let (tid_tx, tid_rx) = mpsc::channel();
    let done = Arc::new(AtomicBool::new(false));
    let pauser = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            // A large timer slack makes what `std::thread::sleep` would
            // add at each signal large too (50 us by default).
            nix::sys::prctl::set_timerslack(50_000_000).unwrap();
            tid_tx.send(pthread_self()).unwrap();
            // Let the storm start first.
            vxgate::ops::pause(Duration::from_millis(5));
            vxgate::ops::pause(Duration::from_millis(20));
            done.store(true, Ordering::SeqCst);
        })
    };
    let tid = tid_rx.recv().unwrap();
    let mut sent = 0u64;
    while !done.load(Ordering::SeqCst) && sent < STORM {
        // Refused only once the pauser has ended (an older C library
        // says so for a thread that exited): then its pause did.
        if pthread_kill(tid, Signal::SIGUSR1).is_err() {
            break;
        }
        sent += 1;
    }
    assert!(
        caught.load(Ordering::SeqCst),
        "the signals reached the thread"
    );
    // Asserted before the join: a pause that outlasted the storm would
    // have grown past any wait.
    assert!(
        done.load(Ordering::SeqCst),
        "the pause outlasted {sent} signals sent as fast as possible"
    );
    pauser.join().unwrap();
}
