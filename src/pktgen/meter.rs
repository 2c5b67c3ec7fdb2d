//! Receive-side accounting on plain bytes: counts, reordering and latency.
//!
//! Reordering: a frame is *reordered* when its sequence number is lower than
//! the highest one already received in the same flow (sequence numbers are
//! global and increase by one per frame sent, so within a flow they only
//! grow). `reordered_global` counts frames lower than the highest sequence
//! number received in any flow: it also counts flows overtaking each other
//! (e.g. spread over several queues), which is not an error for a gateway.
//!
//! Duplicates: a frame whose sequence number was already received is
//! counted in `duplicates`, not in `rx`, so that loss (sent minus distinct
//! received) cannot be hidden by copies. Sequence numbers are global, so one
//! bitmap over the last [`DUP_WINDOW`] of them (128 KiB) tells. A frame
//! arriving more than that many frames after the newest one cannot be told
//! from a copy: it counts in `stale`, not in `rx` (nor as a latency
//! sample), so received never exceeds sent and no copy hides a loss (a
//! frame that late, 70 ms at 14.88 Mpps, is lost to a measurement).
//!
//! Foreign frames: a frame whose stamp carries another run's id (an earlier
//! pktgen process's frame, released late from a gateway's ARP hold queue or
//! left in a ring) counts in `foreign` only: not received, not late, and it
//! moves no high-water mark, so it can make no later frame look reordered.
//!
//! Negative latency: a stamp whose TSC is ahead of the receiver's (skew
//! between cores' TSCs) counts in `negative_latency` and stays out of the
//! histogram, instead of wrapping to a huge latency recorded at the cap.
use hdrhistogram::Histogram;

use super::payload::{self, TSC_BITS, TSC_MASK};

/// Latencies above this (one minute) are recorded as this.
const MAX_NS: u64 = 60_000_000_000;

/// RX TSC minus stamp TSC, modulo 2^40, at or above this: the stamp is
/// ahead of the receiver (half the 40-bit range, 183 s at 3 GHz, well above
/// the latency cap at any TSC rate up to 9 GHz).
const NEGATIVE_TICKS: u64 = 1 << (TSC_BITS - 1);

/// Sequence numbers the duplicate check remembers below the newest one
/// (70 ms at 14.88 Mpps); a power of two.
pub const DUP_WINDOW: u64 = 1 << 20;

/// What [`SeqWindow::insert`] made of a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    New,
    Duplicate,
    /// Older than the window: a copy or a very late original.
    Stale,
}

/// Which of the last [`DUP_WINDOW`] sequence numbers were received: bit
/// `s % DUP_WINDOW` for `top - DUP_WINDOW <= s < top`.
struct SeqWindow {
    bits: Box<[u64]>,
    /// Highest sequence number received plus one (0 = none).
    top: u64,
}

impl SeqWindow {
    const WORDS: usize = (DUP_WINDOW / 64) as usize;

    fn new() -> SeqWindow {
        SeqWindow {
            bits: vec![0u64; Self::WORDS].into_boxed_slice(),
            top: 0,
        }
    }

    #[inline(always)]
    fn word(&mut self, s: u64) -> Option<&mut u64> {
        self.bits.get_mut((s / 64) as usize % Self::WORDS)
    }

    /// Records `s`: new, a duplicate, or older than the window (cannot
    /// tell).
    #[inline(always)]
    fn insert(&mut self, s: u64) -> Seen {
        if s >= self.top {
            self.advance(s + 1);
        } else if self.top - s > DUP_WINDOW {
            return Seen::Stale;
        }
        let bit = 1u64 << (s % 64);
        match self.word(s) {
            Some(w) if *w & bit != 0 => Seen::Duplicate,
            Some(w) => {
                *w |= bit;
                Seen::New
            }
            None => Seen::New,
        }
    }

    /// Moves the top to `new_top` (> top): the numbers from the old top on
    /// enter the window unseen (their bits held numbers that leave it).
    #[inline(always)]
    fn advance(&mut self, new_top: u64) {
        if new_top - self.top >= DUP_WINDOW {
            self.bits.fill(0);
        } else {
            let mut q = self.top;
            while q < new_top {
                let bit = q % 64;
                let span = (64 - bit).min(new_top - q);
                let mask = if span == 64 {
                    u64::MAX
                } else {
                    ((1u64 << span) - 1) << bit
                };
                if let Some(w) = self.word(q) {
                    *w &= !mask;
                }
                q += span;
            }
        }
        self.top = new_top;
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxCounts {
    /// Our frames of the current trial, each counted once.
    pub rx: u64,
    /// Further copies of frames already counted in `rx` (or seen earlier).
    pub duplicates: u64,
    /// Our frames of the trial older than the duplicate window: not told
    /// from copies, so not counted in `rx`.
    pub stale: u64,
    pub reordered: u64,
    pub reordered_global: u64,
    /// Our frames sent before the current trial started.
    pub late: u64,
    /// Frames without our payload (kernel chatter, other traffic).
    pub other: u64,
    /// Frames with our stamp but another run's id (not received, not late).
    pub foreign: u64,
    /// Frames of `rx` whose stamp TSC is ahead of the receiver's: no
    /// latency sample.
    pub negative_latency: u64,
}

pub struct Meter {
    /// Per flow: highest sequence number received plus one (0 = none).
    flow_top: Vec<u64>,
    /// Also the highest sequence number received anywhere, plus one.
    seen: SeqWindow,
    min_seq: u64,
    /// This run's id; stamps with another are foreign.
    run: u32,
    ns_per_tick_q32: u64,
    hist: Histogram<u64>,
    counts: RxCounts,
}

impl Meter {
    /// A meter for `flows` flows of run `run` and a TSC running at `tsc_hz`.
    pub fn new(flows: u32, run: u32, tsc_hz: u64) -> Result<Meter, hdrhistogram::CreationError> {
        let hist = Histogram::new_with_bounds(1, MAX_NS, 3)?;
        Ok(Meter {
            flow_top: vec![0; flows as usize],
            seen: SeqWindow::new(),
            min_seq: 0,
            run,
            ns_per_tick_q32: ((1_000_000_000u128 << 32) / u128::from(tsc_hz.max(1))) as u64,
            hist,
            counts: RxCounts::default(),
        })
    }

    /// Starts a new trial whose first frame has sequence `first_seq`: frames
    /// below it still arriving are counted as late, not received.
    pub fn reset(&mut self, first_seq: u64) {
        self.min_seq = first_seq;
        self.counts = RxCounts::default();
        self.hist.reset();
    }

    pub fn counts(&self) -> RxCounts {
        self.counts
    }

    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// Accounts one received frame at TSC `now`. Returns true for our frame
    /// of the current trial, received for the first time.
    #[inline(always)]
    pub fn account(&mut self, frame: &[u8], now: u64) -> bool {
        let Some(st) = payload::find(frame) else {
            self.counts.other += 1;
            return false;
        };
        if st.run != self.run {
            self.counts.foreign += 1;
            return false;
        }
        let Some(top) = self.flow_top.get_mut(usize::from(st.flow)) else {
            self.counts.other += 1;
            return false;
        };
        if st.seq < self.min_seq {
            self.counts.late += 1;
            return false;
        }
        let global_top = self.seen.top;
        match self.seen.insert(st.seq) {
            Seen::New => {}
            Seen::Duplicate => {
                self.counts.duplicates += 1;
                return false;
            }
            Seen::Stale => {
                self.counts.stale += 1;
                return false;
            }
        }
        self.counts.rx += 1;
        if st.seq < *top {
            self.counts.reordered += 1;
        } else {
            *top = st.seq + 1;
        }
        if st.seq < global_top {
            self.counts.reordered_global += 1;
        }
        let ticks = now.wrapping_sub(st.tsc) & TSC_MASK;
        if ticks >= NEGATIVE_TICKS {
            self.counts.negative_latency += 1;
            return true;
        }
        let ns = ((u128::from(ticks) * u128::from(self.ns_per_tick_q32)) >> 32) as u64;
        self.hist.saturating_record(ns.clamp(1, MAX_NS));
        true
    }
}

/// Latency percentiles in nanoseconds; all `None` (JSON `null`) without
/// samples, so that no run without a measured frame reads as 0 ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Latency {
    pub p50: Option<u64>,
    pub p99: Option<u64>,
    pub p999: Option<u64>,
    pub max: Option<u64>,
    pub min: Option<u64>,
    pub mean: Option<f64>,
}

impl Latency {
    /// The figures of `h`, none above the cap: the histogram reports the
    /// top of a value's bucket, which for the cap itself is above it.
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let cap = |v: u64| Some(v.min(MAX_NS));
        Latency {
            p50: cap(h.value_at_quantile(0.5)),
            p99: cap(h.value_at_quantile(0.99)),
            p999: cap(h.value_at_quantile(0.999)),
            max: cap(h.max()),
            min: cap(h.min()),
            mean: Some(h.mean().min(MAX_NS as f64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pktgen::flows::{tests_support::plan, Mode};

    /// The run id of the test plan's frames.
    fn run() -> u32 {
        plan(Mode::Inner, 60, 4).run_id
    }

    fn frames(seqs: &[(u32, u64)], tsc: u64) -> Vec<Vec<u8>> {
        frames_of(run(), seqs, tsc)
    }

    /// 64-byte frames of run `run`: (flow, sequence) each, stamped `tsc`.
    fn frames_of(run: u32, seqs: &[(u32, u64)], tsc: u64) -> Vec<Vec<u8>> {
        let mut p = plan(Mode::Inner, 60, 4);
        p.run_id = run;
        let t = p.templates().unwrap();
        seqs.iter()
            .map(|&(flow, seq)| {
                let mut f = vec![0u8; 60];
                assert!(t.write_frame(flow, seq, tsc, &mut f));
                f
            })
            .collect()
    }

    #[test]
    fn counts_reordering_per_flow_and_globally() {
        // 1 GHz TSC: one tick per nanosecond.
        let mut m = Meter::new(4, run(), 1_000_000_000).unwrap();
        // Flow 0: 0, 4, 8, 12; flow 1: 1, 5. Flow 1's 1 arrives after flow
        // 0's 4 (global reorder only); flow 0's 8 arrives after its 12 (both).
        let fs = frames(&[(0, 0), (0, 4), (1, 1), (1, 5), (0, 12), (0, 8)], 1000);
        for f in &fs {
            assert!(m.account(f, 1500));
        }
        let c = m.counts();
        assert_eq!(c.rx, 6);
        assert_eq!(c.reordered, 1);
        assert_eq!(c.reordered_global, 2, "1 after 4, and 8 after 12");
        assert_eq!(c.duplicates, 0);
        assert_eq!(m.histogram().len(), 6);
        assert_eq!(Latency::of(m.histogram()).max, Some(500));
    }

    #[test]
    fn late_and_unstamped_frames_are_not_received() {
        let mut m = Meter::new(4, run(), 2_000_000_000).unwrap();
        m.reset(10);
        let fs = frames(&[(0, 9), (1, 10)], 0);
        assert!(!m.account(&fs[0], 0));
        assert!(m.account(&fs[1], 4000));
        assert!(!m.account(&[0u8; 60], 0));
        let c = m.counts();
        assert_eq!((c.rx, c.late, c.other), (1, 1, 1));
        assert_eq!(
            Latency::of(m.histogram()).p50,
            Some(2000),
            "4000 ticks at 2 GHz are 2 us"
        );
    }

    #[test]
    fn duplicates_are_counted_apart_and_do_not_hide_loss() {
        let mut m = Meter::new(4, run(), 1_000_000_000).unwrap();
        // 0..4 sent; 2 is lost, 1 arrives three times, 3 twice.
        let fs = frames(&[(0, 0), (1, 1), (1, 1), (3, 3), (1, 1), (3, 3)], 0);
        let ours: Vec<bool> = fs.iter().map(|f| m.account(f, 10)).collect();
        assert_eq!(ours, [true, true, false, true, false, false]);
        let c = m.counts();
        assert_eq!((c.rx, c.duplicates), (3, 3));
        assert_eq!(
            (c.reordered, c.reordered_global),
            (0, 0),
            "a copy is not a reorder"
        );
        assert_eq!(
            m.histogram().len(),
            3,
            "one latency sample per distinct frame"
        );
        // A late original (2) is reordered, not a duplicate; its copy is.
        let fs = frames(&[(2, 2), (2, 2)], 0);
        assert!(m.account(&fs[0], 10));
        assert!(!m.account(&fs[1], 10));
        let c = m.counts();
        assert_eq!((c.rx, c.duplicates, c.reordered_global), (4, 4, 1));
        // Copies of an earlier trial's frames are late, not duplicates.
        m.reset(4);
        assert!(!m.account(&fs[0], 10));
        assert_eq!((m.counts().late, m.counts().duplicates), (1, 0));
    }

    #[test]
    fn the_duplicate_window_slides_and_forgets_what_left_it() {
        use Seen::{Duplicate, New, Stale};
        let mut w = SeqWindow::new();
        assert_eq!(
            [w.insert(5), w.insert(3), w.insert(3), w.insert(5)],
            [New, New, Duplicate, Duplicate]
        );
        // Slide by a bit less than the window: 5 is still remembered.
        let far = 5 + DUP_WINDOW;
        assert_eq!(w.insert(far - 1), New);
        assert_eq!(w.insert(5), Duplicate);
        // One further: 5 left the window (a copy or a very late original:
        // cannot tell); the numbers that entered are unseen, even where
        // their bits held old ones.
        assert_eq!(w.insert(far), New);
        assert_eq!(w.insert(3 + DUP_WINDOW), New, "its bit held 3, which left");
        assert_eq!(w.insert(far), Duplicate);
        assert_eq!(w.insert(5), Stale, "older than the window");
        // A jump of more than the window clears everything.
        let jump = far + 3 * DUP_WINDOW;
        assert_eq!(w.insert(jump), New);
        assert_eq!(
            [w.insert(jump - 1), w.insert(jump - DUP_WINDOW + 1)],
            [New, New]
        );
        assert_eq!(w.insert(jump - 1), Duplicate);
    }

    /// A frame older than the window counts in `stale`: not received, no
    /// latency sample, so received never exceeds sent (a copy 2^20 frames
    /// late was counted received and hid a loss).
    #[test]
    fn a_frame_older_than_the_window_is_stale_not_received() {
        let mut m = Meter::new(1, run(), 1_000_000_000).unwrap();
        let fs = frames(&[(0, 7), (0, 7 + DUP_WINDOW + 1)], 0);
        assert!(m.account(&fs[0], 10));
        assert!(m.account(&fs[1], 20));
        assert!(!m.account(&fs[0], 30), "its copy, long after");
        let c = m.counts();
        assert_eq!((c.rx, c.duplicates, c.stale), (2, 0, 1));
        assert_eq!(m.histogram().len(), 2);
    }

    #[test]
    fn latency_survives_tsc_wrap_at_40_bits() {
        let mut m = Meter::new(1, run(), 1_000_000_000).unwrap();
        let fs = frames(&[(0, 0)], TSC_MASK - 9);
        // The receiver's TSC has passed 2^40 (and has higher bits set).
        assert!(m.account(&fs[0], (7 << 40) + (TSC_MASK + 1) + 20));
        assert_eq!(m.histogram().max(), 30);
        assert_eq!(m.counts().negative_latency, 0);
    }

    #[test]
    fn frames_of_another_run_are_foreign_not_received_late_or_reordered() {
        // 1 GHz TSC. A frame of an earlier run (flow 0, a high sequence
        // number, stamped 70 s before) arrives first, as from a gateway's
        // ARP hold queue; then this run's frames.
        let mut m = Meter::new(4, run(), 1_000_000_000).unwrap();
        let other = run() ^ 0x5a5a5a;
        let stale = frames_of(other, &[(0, 1_000_000)], 0);
        let now = 70_000_000_000;
        assert!(!m.account(&stale[0], now));
        let ours = frames(&[(0, 0), (1, 1), (0, 4)], now - 500);
        for f in &ours {
            assert!(m.account(f, now));
        }
        let c = m.counts();
        assert_eq!((c.rx, c.foreign), (3, 1));
        assert_eq!(
            (
                c.reordered,
                c.reordered_global,
                c.late,
                c.duplicates,
                c.other
            ),
            (0, 0, 0, 0, 0),
            "the stale frame moved no high-water mark"
        );
        assert_eq!(m.histogram().len(), 3, "no sample of the stale frame");
        assert_eq!(
            Latency::of(m.histogram()).max,
            Some(500),
            "not a minute at the cap"
        );
        // Below the trial's first sequence number: still foreign, not late;
        // a pcap's frames (run id 0) too; and a flow index beyond ours.
        m.reset(10);
        assert!(!m.account(&frames_of(other, &[(2, 3)], 0)[0], now));
        assert!(!m.account(&frames_of(payload::PCAP_RUN_ID, &[(1, 20)], 0)[0], now));
        let mut wide = plan(Mode::Inner, 60, 8);
        wide.run_id = other;
        let mut f = vec![0u8; 60];
        assert!(wide.templates().unwrap().write_frame(7, 30, 0, &mut f));
        assert!(!m.account(&f, now));
        let c = m.counts();
        assert_eq!((c.foreign, c.late, c.other, c.rx), (3, 0, 0, 0));
        // The same sequence numbers of this run are ours, and new.
        assert!(m.account(&frames(&[(1, 20)], now)[0], now));
        assert_eq!(m.counts().rx, 1);
    }

    #[test]
    fn a_stamp_ahead_of_the_receiver_is_not_a_minute_of_latency() {
        let mut m = Meter::new(4, run(), 1_000_000_000).unwrap();
        // Stamped at 1000 on the TX core, received at 900 on the RX core
        // (skew): ours and received, but no latency sample.
        let fs = frames(&[(0, 0)], 1000);
        assert!(m.account(&fs[0], 900));
        // Ahead across the 40-bit wrap: stamped just after it, received
        // just before.
        let fs = frames(&[(1, 1)], (1 << 40) + 5);
        assert!(m.account(&fs[0], TSC_MASK - 5));
        let c = m.counts();
        assert_eq!((c.rx, c.negative_latency), (2, 2));
        assert!(m.histogram().is_empty(), "left out of the histogram");
        assert_eq!(
            Latency::of(m.histogram()),
            Latency {
                p50: None,
                p99: None,
                p999: None,
                max: None,
                min: None,
                mean: None,
            },
            "no sample, no figure (not 0 ns)"
        );
        // A real latency of 59 s is still recorded (below the cap).
        let fs = frames(&[(2, 2)], 0);
        assert!(m.account(&fs[0], 59_000_000_000));
        assert_eq!(m.histogram().len(), 1);
        let max = Latency::of(m.histogram()).max.unwrap();
        assert!((58_900_000_000..=59_100_000_000).contains(&max), "{max}");
        assert_eq!(m.counts().negative_latency, 2);
        // A trial starts afresh.
        m.reset(3);
        assert_eq!(m.counts().negative_latency, 0);
    }

    #[test]
    fn latencies_above_the_cap_are_reported_as_the_cap_not_its_bucket_top() {
        // 1 GHz TSC: a frame received 120 s after its stamp.
        let mut m = Meter::new(1, run(), 1_000_000_000).unwrap();
        let fs = frames(&[(0, 0)], 0);
        assert!(m.account(&fs[0], 120_000_000_000));
        let l = Latency::of(m.histogram());
        let cap = Some(MAX_NS);
        assert_eq!((l.p50, l.p99, l.p999, l.max), (cap, cap, cap, cap));
        // The bottom of the cap's bucket (3 significant digits), not above.
        let (min, mean) = (l.min.unwrap(), l.mean.unwrap());
        assert!((59_940_000_000..=MAX_NS).contains(&min), "{min}");
        assert!(mean <= MAX_NS as f64, "{mean}");
        assert_eq!(MAX_NS, 60_000_000_000, "the 60 s docs/pktgen.md gives");
    }
}
