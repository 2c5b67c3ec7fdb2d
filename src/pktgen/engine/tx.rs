//! The transmitter: a burst built from the templates when it is due, handed to the device, and what TX did.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::pace::{deadline, secs_to_ticks, Pace};
use super::{Ctl, TrialParams};
use crate::dpdk::{rdtsc, Burst, Mempool, TxQueue, BURST};
use crate::pktgen::flows::Templates;

/// What TX did in a trial.
#[derive(Clone, Copy, Debug, Default)]
pub struct TxOutcome {
    pub sent: u64,
    /// Frames built but never taken by the device (freed at the end).
    pub unsent: u64,
    /// Burst allocations that found the pool empty (each retried later).
    pub alloc_failures: u64,
    /// When the device first took a frame.
    pub first_tsc: u64,
    /// When the TX period ended: the deadline, the stop, or (for `--count`)
    /// the end of the last frame's pacing slot.
    pub end_tsc: u64,
    /// Stopped by SIGINT/SIGTERM (or the caller) before its end.
    pub interrupted: bool,
    /// Ended because the device took no frame for [`TX_STALL_S`] while
    /// frames were due (its ring full, its link down, or the pool empty).
    pub stalled: bool,
    /// The stall's last refusal was the pool's, not the device's: no
    /// frame could be built (the mbufs held elsewhere: too few `--mbufs`).
    pub stalled_on_pool: bool,
}

impl TxOutcome {
    /// Seconds from the first frame sent to the end of the TX period: the
    /// real sending time (0 if nothing was sent).
    pub fn secs(&self, hz: u64) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        self.end_tsc.saturating_sub(self.first_tsc) as f64 / hz.max(1) as f64
    }
}

/// The transmitter: owns its TX queue and the frame templates.
pub struct TxGen {
    txq: TxQueue,
    pool: Arc<Mempool>,
    tpl: Templates,
    pending: Burst,
    next_seq: u64,
    flow: u32,
    hz: u64,
    stall_ticks: u64,
}

/// Pacing and limits of one trial (TSC fixed point: 8 fractional bits, in
/// 128 bits so that neither the TSC nor a long trial can overflow it).
pub(super) struct TxRun {
    end_tsc: Option<u64>,
    end_seq: Option<u64>,
    pace: Option<Pace>,
    pub(super) out: TxOutcome,
    pub(super) done: bool,
    /// Since when frames have been due and the device took none.
    refused_since: Option<u64>,
}

impl TxRun {
    /// Whether the run ends at `now` (`interrupted`: the stop flag is set),
    /// and when its sending time ended: the deadline itself once it has
    /// passed, not the moment TX noticed (a thread preempted across the
    /// deadline would otherwise stretch `duration_s` and understate
    /// `tx_pps`); `now` for a stop before the deadline.
    fn stops_at(&self, now: u64, interrupted: bool) -> Option<u64> {
        match self.end_tsc {
            Some(e) if now >= e => Some(e),
            _ if interrupted => Some(now),
            _ => None,
        }
    }
}

/// A device that takes no frame for this long while frames are due has
/// stopped: TX ends instead of retrying forever (a `--count` run or the
/// warm-up has no deadline). Far above any pause a working port makes.
pub const TX_STALL_S: f64 = 1.0;

impl TxGen {
    pub fn new(txq: TxQueue, pool: Arc<Mempool>, tpl: Templates, hz: u64) -> TxGen {
        TxGen {
            txq,
            pool,
            tpl,
            pending: Burst::new(),
            next_seq: 0,
            flow: 0,
            hz,
            stall_ticks: secs_to_ticks(TX_STALL_S, hz),
        }
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub(super) fn start(&self, p: &TrialParams) -> TxRun {
        let now = rdtsc();
        TxRun {
            end_tsc: p.duration_s.map(|d| deadline(now, d, self.hz)),
            end_seq: p.count.map(|c| self.next_seq.saturating_add(c)),
            pace: Pace::new(p.rate_pps, self.hz, now),
            out: TxOutcome::default(),
            done: false,
            refused_since: None,
        }
    }

    /// One round: build a burst when it is due, hand it to the device.
    #[inline(always)]
    pub(super) fn step(&mut self, run: &mut TxRun, ctl: &Ctl) {
        let now = rdtsc();
        let interrupted = ctl.stop.load(Ordering::Relaxed);
        if let Some(end) = run.stops_at(now, interrupted) {
            run.out.interrupted = interrupted;
            self.finish(run, ctl, end);
            return;
        }
        if self.pending.is_empty() {
            let mut want = match run.end_seq {
                Some(end) => (end.saturating_sub(self.next_seq) as usize).min(BURST),
                None => BURST,
            };
            if want == 0 {
                // --count reached: the last frame's pacing slot is part of
                // the sending time (N frames take N slots, not N - 1).
                let end = run.pace.map_or(now, |p| p.next_tsc().max(now));
                self.finish(run, ctl, end);
                return;
            }
            if let Some(pace) = run.pace.as_mut() {
                want = pace.due(now, want);
                if want == 0 {
                    return;
                }
            }
            if !self.pending.alloc(&self.pool, want) {
                // Pool empty (frames still in the rings): try again on the
                // next round, the pacing slot still ours.
                run.out.alloc_failures += 1;
                self.refused(run, ctl, now, true);
                return;
            }
            if let Some(pace) = run.pace.as_mut() {
                pace.book(want);
            }
            self.fill(want, now);
        }
        let sent = self.txq.tx(&mut self.pending) as u64;
        if sent == 0 {
            self.refused(run, ctl, now, false);
            return;
        }
        run.refused_since = None;
        if run.out.sent == 0 {
            run.out.first_tsc = now;
        }
        run.out.sent += sent;
        ctl.tx_sent.store(run.out.sent, Ordering::Relaxed);
    }

    /// Frames were due and none went out at `now` (`pool_empty`: none
    /// could be built): after [`TX_STALL_S`] of that the device (or the
    /// pool) has stopped, and TX ends (the pending frames count as unsent).
    #[inline(always)]
    fn refused(&mut self, run: &mut TxRun, ctl: &Ctl, now: u64, pool_empty: bool) {
        let since = *run.refused_since.get_or_insert(now);
        if now.saturating_sub(since) >= self.stall_ticks {
            run.out.stalled = true;
            run.out.stalled_on_pool = pool_empty;
            self.finish(run, ctl, now);
        }
    }

    /// Writes frames into the first `n` (fresh, empty) mbufs of the burst.
    #[inline(always)]
    fn fill(&mut self, n: usize, tsc: u64) {
        let len = self.tpl.frame_len();
        let flows = self.tpl.flows();
        for i in 0..n {
            let ok = match self.pending.get_mut(i) {
                Some(m) => match m.append(len) {
                    Some(buf) => self.tpl.write_frame(self.flow, self.next_seq, tsc, buf),
                    None => false,
                },
                None => false,
            };
            if !ok {
                // Cannot happen with a validated size; never send a half-built frame.
                drop(self.pending.take(i));
                continue;
            }
            self.next_seq += 1;
            self.flow += 1;
            if self.flow == flows {
                self.flow = 0;
            }
        }
    }

    fn finish(&mut self, run: &mut TxRun, ctl: &Ctl, end_tsc: u64) {
        run.out.end_tsc = end_tsc;
        run.out.unsent += self.pending.free_all() as u64;
        run.done = true;
        ctl.tx_sent.store(run.out.sent, Ordering::Relaxed);
        ctl.tx_done.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HZ: u64 = 3_000_000_000;

    fn run_until(end_tsc: Option<u64>) -> TxRun {
        TxRun {
            end_tsc,
            end_seq: None,
            pace: None,
            out: TxOutcome::default(),
            done: false,
            refused_since: None,
        }
    }

    /// A transmitter that notices the deadline late (preempted across it)
    /// ends its sending time at the deadline; a stop before the deadline
    /// ends it when the stop was seen.
    #[test]
    fn a_deadline_noticed_late_ends_the_run_at_the_deadline() {
        let start = 1_000 * HZ;
        let run = run_until(Some(deadline(start, 1.0, HZ)));
        let end = start + HZ;
        assert_eq!(run.stops_at(end - 1, false), None, "before the deadline");
        assert_eq!(run.stops_at(end, false), Some(end));
        // Noticed 11.2 ms late: still ends at the deadline.
        let late = end + HZ / 1000 * 112 / 10;
        assert_eq!(run.stops_at(late, false), Some(end));
        // The stop flag seen after the deadline: the deadline came first.
        assert_eq!(run.stops_at(late, true), Some(end));
        // A stop before the deadline ends the run when it was seen.
        let early = start + HZ / 2;
        assert_eq!(run.stops_at(early, true), Some(early));
        // No deadline (--count): only a stop ends it here.
        let open = run_until(None);
        assert_eq!(open.stops_at(u64::MAX, false), None);
        assert_eq!(open.stops_at(early, true), Some(early));
        // 107 frames from `start + 2 ms` to the clamped end: the sending
        // time is below a second, not 1.0112 s.
        let out = TxOutcome {
            sent: 107,
            first_tsc: start + 2 * HZ / 1000,
            end_tsc: run.stops_at(late, false).unwrap(),
            ..TxOutcome::default()
        };
        assert_eq!(out.secs(HZ), 0.998);
    }
}
