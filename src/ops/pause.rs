//! Sleeping that a storm of signals cannot stretch.
//!
//! `std::thread::sleep` resumes an interrupted `nanosleep` with the time
//! the kernel says is left, and the kernel counts that from the timer's
//! latest expiry (the request plus the thread's timer slack, 50 us). A
//! thread interrupted more often than that never wakes: every resumption
//! asks for more than the last. net_tap raises a real-time signal at the
//! process as frames arrive (its RX waits for it), so a flood on a TAP
//! port stretched the slow path's 200 us pause to 10-20 s, and the slow
//! path (ARP, held frames, punted fragments) and the reaction to SIGTERM
//! waited that long after the flood ended (measured 2026-11-28: a 5 s
//! flood of 120 000 fragments a second, a 16 s stall).
//!
//! These wait on a deadline instead: each wake-up, a signal's or the
//! timer's, measures what is left against it. `clippy.toml` refuses
//! `std::thread::sleep` everywhere else.

use std::time::{Duration, Instant};

/// Waits `d`, however often signals interrupt the wait; a `d` past any
/// `Instant` (`Duration::MAX`) waits for ever, as `std::thread::sleep`
/// would.
pub fn pause(d: Duration) {
    match Instant::now().checked_add(d) {
        Some(deadline) => pause_until(deadline),
        None => loop {
            std::thread::park();
        },
    }
}

/// Waits until `deadline`, however often signals interrupt the wait.
pub fn pause_until(deadline: Instant) {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        // One futex wait: a signal (or an unpark) ends it early, and the
        // loop waits out the rest from the deadline.
        std::thread::park_timeout(deadline - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits at least as long as asked (a park may end early: the loop
    /// waits out the rest), also when woken before.
    #[test]
    fn a_pause_lasts_at_least_what_was_asked() {
        let t0 = Instant::now();
        pause(Duration::from_millis(5));
        assert!(t0.elapsed() >= Duration::from_millis(5));
        let me = std::thread::current();
        let waker = std::thread::spawn(move || {
            for _ in 0..50 {
                me.unpark();
                std::thread::yield_now();
            }
        });
        let t0 = Instant::now();
        pause_until(t0 + Duration::from_millis(20));
        assert!(t0.elapsed() >= Duration::from_millis(20));
        waker.join().unwrap();
        pause_until(Instant::now() - Duration::from_millis(1));
    }
}
