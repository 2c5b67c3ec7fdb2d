//! TSC deadlines that saturate, and the per-packet pacing of a trial.

use crate::dpdk::BURST;

/// A transmitter that falls behind by more than this, or by more than a
/// burst's worth of packet times if that is longer ([`Pace::new`]), starts
/// afresh instead of sending a long catch-up burst.
const MAX_LAG_S: f64 = 0.001;

/// `secs` seconds in TSC ticks at `hz`, saturating at `u64::MAX` (NaN and
/// negative are 0): never wraps, whatever the caller passes.
pub fn secs_to_ticks(secs: f64, hz: u64) -> u64 {
    saturating_ticks(secs * hz as f64)
}

/// [`secs_to_ticks`] rounded up.
fn secs_to_ticks_ceil(secs: f64, hz: u64) -> u64 {
    saturating_ticks((secs * hz as f64).ceil())
}

fn saturating_ticks(t: f64) -> u64 {
    if t.is_nan() || t <= 0.0 {
        0
    } else if t >= u64::MAX as f64 {
        u64::MAX
    } else {
        t as u64
    }
}

/// The TSC `secs` after `now`, saturating: a deadline past the end of the
/// TSC is "never", not a wrapped one in the past.
pub fn deadline(now: u64, secs: f64, hz: u64) -> u64 {
    now.saturating_add(secs_to_ticks(secs, hz))
}

/// The TSC pacing of one trial, per packet: packet `k` is due `k / rate`
/// seconds after the start, and a burst carries only the packets already
/// due (at most a full burst), so that no more go out than the rate allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    /// Ticks per packet, Q8, at least 1.
    ticks_q8: u128,
    /// When the next packet is due, Q8.
    next_q8: u128,
    /// How far behind the schedule may fall before it restarts, Q8: 1 ms
    /// or [`BURST`] packet times, whichever is longer.
    lag_q8: u128,
}

impl Pace {
    /// Pacing at `rate_pps` from TSC `now`; `None` for no pacing (no rate,
    /// or one that is not a positive number).
    ///
    /// The schedule may fall behind by 1 ms or by a burst's worth of packet
    /// times, whichever is longer, and still catch up: at high rates a
    /// longer pause restarts it rather than release more than a millisecond
    /// of frames back to back; at low rates (100 pps: a packet every 10 ms)
    /// a pause of a few ms costs no packet, and catching up releases at
    /// most one burst.
    pub fn new(rate_pps: Option<f64>, hz: u64, now: u64) -> Option<Pace> {
        let r = rate_pps.filter(|r| *r > 0.0)?;
        // Rounded up: the schedule never runs faster than the rate (a
        // truncated interval sent 9 frames too many in 10 s at 1 Mpps).
        let ticks_q8 = u128::from(secs_to_ticks_ceil(256.0 / r, hz).max(1));
        let one_ms_q8 = u128::from(secs_to_ticks(MAX_LAG_S, hz)) << 8;
        Some(Pace {
            ticks_q8,
            next_q8: u128::from(now) << 8,
            lag_q8: one_ms_q8.max(ticks_q8.saturating_mul(BURST as u128)),
        })
    }

    /// How many packets are due at TSC `now`, at most `max` (0: none yet).
    /// Books nothing: call [`Pace::book`] with what was actually built, so
    /// that a failed allocation does not use up the slot.
    #[inline(always)]
    pub fn due(&mut self, now: u64, max: usize) -> usize {
        let now_q8 = u128::from(now) << 8;
        if now_q8 < self.next_q8 {
            return 0;
        }
        if now_q8 - self.next_q8 > self.lag_q8 {
            self.next_q8 = now_q8;
        }
        // The one due at `next`, and one more per packet time since.
        let behind = (now_q8 - self.next_q8)
            .checked_div(self.ticks_q8)
            .unwrap_or(0);
        behind.saturating_add(1).min(max as u128) as usize
    }

    /// Books `n` packets as sent.
    #[inline(always)]
    pub fn book(&mut self, n: usize) {
        self.next_q8 = self
            .next_q8
            .saturating_add(self.ticks_q8.saturating_mul(n as u128));
    }

    /// The TSC at which the next packet is due (saturating).
    pub fn next_tsc(&self) -> u64 {
        u64::try_from(self.next_q8 >> 8).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HZ: u64 = 3_000_000_000;

    #[test]
    fn deadlines_saturate_instead_of_wrapping() {
        let now = 1u64 << 62;
        // Ten years at 3 GHz fits; 1e10 s or an absurd TSC saturates.
        let ten_years = 10.0 * 365.0 * 86_400.0;
        assert_eq!(deadline(now, ten_years, HZ), now + 946_080_000_000_000_000);
        assert_eq!(deadline(now, 1e10, HZ), u64::MAX);
        assert_eq!(deadline(u64::MAX - 5, 1.0, HZ), u64::MAX);
        assert_eq!(deadline(now, f64::INFINITY, HZ), u64::MAX);
        // 2^64 - 1 ms of drain: later than any TSC, never before now.
        assert!(deadline(now, u64::MAX as f64 / 1000.0, HZ) >= now);
        assert_eq!(secs_to_ticks(f64::NAN, HZ), 0);
        assert_eq!(secs_to_ticks(-1.0, HZ), 0);
        assert_eq!(secs_to_ticks(0.5, HZ), HZ / 2);
    }

    #[test]
    fn pacing_holds_its_rate_and_never_wraps_to_full_speed() {
        // 1 Mpps: one packet every 3000 ticks.
        let now = u64::MAX - 1_000_000; // a TSC near its end: Q8 needs 72 bits
        let mut p = Pace::new(Some(1e6), HZ, now).unwrap();
        assert_eq!(
            p.due(now, 32),
            1,
            "one packet due at the start, not a burst"
        );
        p.book(1);
        assert_eq!(p.due(now + 2_999, 32), 0);
        assert_eq!(p.due(now + 3_000, 32), 1);
        assert_eq!(p.due(now + 33_000, 32), 11);
        assert_eq!(p.due(now + 300_000, 32), 32, "at most a burst");
        assert_eq!(p.due(now + 300_000, 5), 5, "at most what is asked for");
        p.book(32);
        assert_eq!(p.next_tsc(), now + 33 * 3_000);
        // Far too slow (1e-320 pps, refused by validation anyway): one
        // packet, then nothing for 2^56 ticks (the most per packet), not a
        // wrapped schedule that sends back to back.
        let mut slow = Pace::new(Some(1e-320), HZ, 1000).unwrap();
        assert_eq!(slow.due(1000, 32), 1);
        slow.book(1);
        assert_eq!(slow.due(1 << 55, 32), 0);
        // Far too fast: a full burst is due at once (one tick per packet at
        // most, Q8 1/256 tick).
        let mut fast = Pace::new(Some(1e300), HZ, 1000).unwrap();
        assert_eq!(fast.due(1000, 32), 1);
        fast.book(1);
        assert_eq!(fast.due(1001, 32), 32);
        assert!(Pace::new(None, HZ, 0).is_none());
        assert!(Pace::new(Some(0.0), HZ, 0).is_none());
    }

    /// A transmitter polling every `poll` ticks for `secs` at `rate`:
    /// how many packets the pacer lets out.
    fn paced_count(rate: f64, secs: f64, poll: u64) -> u64 {
        paced_count_at(rate, secs, HZ, poll)
    }

    /// [`paced_count`] at a TSC rate of `hz`.
    fn paced_count_at(rate: f64, secs: f64, hz: u64, poll: u64) -> u64 {
        let mut p = Pace::new(Some(rate), hz, 0).unwrap();
        let end = secs_to_ticks(secs, hz);
        let mut n = 0;
        let mut t = 0;
        while t < end {
            let k = p.due(t, BURST);
            p.book(k);
            n += k as u64;
            t += poll;
        }
        n
    }

    #[test]
    fn low_rates_send_what_the_rate_allows_not_whole_bursts() {
        // 1 pps for 3 s: 3, not a burst of 32 up front.
        assert_eq!(paced_count(1.0, 3.0, HZ / 1000), 3);
        assert_eq!(paced_count(10.0, 2.0, HZ / 1000), 20);
        assert_eq!(paced_count(100.0, 1.0, HZ / 1000), 100);
        // Polled every 32 us at 1 Mpps: full bursts, nearly the same total
        // (the packets of the last, partial poll interval are not due yet).
        let n = paced_count(1e6, 0.01, 96_000);
        assert!((9_968..=10_000).contains(&n), "{n}");
    }

    /// As [`paced_count`], with the transmitter descheduled for `gap`
    /// ticks after every `every` ticks it ran (so the pauses fall at
    /// different points of the pacing slots).
    fn paced_count_with_gaps(rate: f64, secs: f64, poll: u64, every: u64, gap: u64) -> u64 {
        let mut p = Pace::new(Some(rate), HZ, 0).unwrap();
        let end = secs_to_ticks(secs, HZ);
        let (mut n, mut t, mut ran) = (0, 0, 0);
        while t < end {
            let k = p.due(t, BURST);
            p.book(k);
            n += k as u64;
            t += poll;
            ran += poll;
            if ran % every == 0 {
                t += gap;
            }
        }
        n
    }

    #[test]
    fn short_pauses_at_low_rates_keep_the_count() {
        // 100 pps (a slot every 10 ms), polled every 1 ms, descheduled for
        // 3 ms every 50 ms (each gap over a slot): the late frame goes out
        // when TX is back, and the second holds 100 frames, not 94.
        let ms = HZ / 1000;
        assert_eq!(paced_count_with_gaps(100.0, 1.0, ms, 50 * ms, 3 * ms), 100);
        assert_eq!(paced_count_with_gaps(100.0, 5.0, ms, 50 * ms, 3 * ms), 500);
        // A pause of 9 ms of each 10 ms slot at 10 pps: still 10 a second.
        assert_eq!(paced_count_with_gaps(10.0, 2.0, ms, 100 * ms, 9 * ms), 20);
    }

    /// At a real (calibrated, not round) TSC rate no more frames go out
    /// than the rate allows: the packet interval is rounded up.
    #[test]
    fn no_more_frames_than_the_rate_allows_at_a_real_tsc_rate() {
        let hz = 2_194_843_000;
        assert_eq!(paced_count_at(3.0, 1000.0, hz, hz / 1000), 3000);
        let n = paced_count_at(1e6, 10.0, hz, hz / 100_000);
        assert!((9_999_000..=10_000_000).contains(&n), "sent {n}");
    }

    #[test]
    fn falling_behind_restarts_the_schedule() {
        let mut p = Pace::new(Some(1e6), HZ, 0).unwrap();
        assert_eq!(p.due(0, 32), 1);
        p.book(1);
        // 10 ms late (more than the 1 ms lag): one packet, not 10000.
        let late = 30_000_000;
        assert_eq!(p.due(late, 32), 1);
        p.book(1);
        assert_eq!(p.due(late + 1, 32), 0);
        assert_eq!(p.due(late + 3_000, 32), 1);
        // Less than the lag behind: caught up in full bursts.
        assert_eq!(p.due(late + 3_000 + 300_000, 32), 32);
        // At 100 pps the lag is a burst of packet times (320 ms): 30 ms
        // late catches up (the 3 packets missed and the one due), 400 ms
        // late restarts (one packet).
        let ms = HZ / 1000;
        let mut p = Pace::new(Some(100.0), HZ, 0).unwrap();
        assert_eq!(p.due(0, 32), 1);
        p.book(1);
        assert_eq!(p.due(40 * ms, 32), 4);
        p.book(4);
        assert_eq!(p.next_tsc(), 50 * ms, "the schedule kept");
        assert_eq!(p.due(50 * ms + 400 * ms, 32), 1);
        p.book(1);
        assert_eq!(p.next_tsc(), 460 * ms, "restarted");
        // At 1 Mpps a burst of packet times (32 us) is below 1 ms: 1 ms.
        let p = Pace::new(Some(1e6), HZ, 0).unwrap();
        assert_eq!(p.lag_q8, u128::from(ms) << 8);
    }
}
