//! The DPDK side: a paced transmitter and a receiver/meter, run on separate
//! worker lcores, on one worker, or on the main lcore, one trial at a time.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_utils::CachePadded;

use super::flows::Templates;
use super::meter::{Latency, Meter, RxCounts};
use crate::dpdk::{self, rdtsc, Burst, Eal, Mempool, RxQueue, TxQueue, BURST};

/// Shared between the TX and RX sides of a trial and the main thread.
/// Every counter has a single writer (store, never a locked RMW).
#[derive(Default)]
pub struct Ctl {
    /// Set by the operator (SIGINT) or the caller: stop sending now.
    pub stop: Arc<AtomicBool>,
    tx_sent: CachePadded<AtomicU64>,
    tx_done: AtomicBool,
    rx_ours: CachePadded<AtomicU64>,
}

impl Ctl {
    pub fn new(stop: Arc<AtomicBool>) -> Ctl {
        Ctl {
            stop,
            ..Default::default()
        }
    }
    fn reset(&self) {
        self.tx_sent.store(0, Ordering::Relaxed);
        self.rx_ours.store(0, Ordering::Relaxed);
        self.tx_done.store(false, Ordering::Release);
    }
    pub fn tx_sent(&self) -> u64 {
        self.tx_sent.load(Ordering::Relaxed)
    }
    pub fn rx_received(&self) -> u64 {
        self.rx_ours.load(Ordering::Relaxed)
    }
}

/// What a trial asks for.
#[derive(Clone, Copy, Debug)]
pub struct TrialParams {
    /// `None`: as fast as the device takes them.
    pub rate_pps: Option<f64>,
    pub duration_s: Option<f64>,
    pub count: Option<u64>,
    /// How long RX keeps waiting for missing frames after TX ends.
    pub drain_s: f64,
}

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
struct TxRun {
    end_tsc: Option<u64>,
    end_seq: Option<u64>,
    pace: Option<Pace>,
    out: TxOutcome,
    done: bool,
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

/// A transmitter that falls behind by more than this, or by more than a
/// burst's worth of packet times if that is longer ([`Pace::new`]), starts
/// afresh instead of sending a long catch-up burst.
const MAX_LAG_S: f64 = 0.001;

/// A device that takes no frame for this long while frames are due has
/// stopped: TX ends instead of retrying forever (a `--count` run or the
/// warm-up has no deadline). Far above any pause a working port makes.
pub const TX_STALL_S: f64 = 1.0;

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

    fn start(&self, p: &TrialParams) -> TxRun {
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
    fn step(&mut self, run: &mut TxRun, ctl: &Ctl) {
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

/// The receiver: owns its RX queue and the meter.
pub struct RxSide {
    rxq: RxQueue,
    meter: Meter,
    drain_deadline: Option<u64>,
    hz: u64,
}

impl RxSide {
    pub fn new(rxq: RxQueue, meter: Meter, hz: u64) -> RxSide {
        RxSide {
            rxq,
            meter,
            drain_deadline: None,
            hz,
        }
    }

    fn start(&mut self, first_seq: u64) {
        self.meter.reset(first_seq);
        self.drain_deadline = None;
    }

    #[inline(always)]
    fn poll(&mut self, ctl: &Ctl) -> usize {
        let mut b = Burst::new();
        let n = self.rxq.rx(&mut b);
        if n == 0 {
            return 0;
        }
        let now = rdtsc();
        for i in 0..n {
            if let Some(m) = b.get_mut(i) {
                self.meter.account(m.data(), now);
            }
        }
        ctl.rx_ours.store(self.meter.counts().rx, Ordering::Relaxed);
        n
    }

    /// True once TX is done and either everything arrived, the drain
    /// time is over, or the operator stopped the run (Ctrl-C during a
    /// drain of up to a minute ends it, the report marked interrupted).
    fn finished(&mut self, ctl: &Ctl, drain_s: f64) -> bool {
        if !ctl.tx_done.load(Ordering::Acquire) {
            return false;
        }
        if self.meter.counts().rx >= ctl.tx_sent() || ctl.stop.load(Ordering::Relaxed) {
            return true;
        }
        let now = rdtsc();
        let end = *self
            .drain_deadline
            .get_or_insert_with(|| deadline(now, drain_s, self.hz));
        now >= end
    }
}

fn tx_loop(tx: &mut TxGen, p: &TrialParams, ctl: &Ctl) -> TxOutcome {
    let mut run = tx.start(p);
    while !run.done {
        tx.step(&mut run, ctl);
    }
    run.out
}

fn rx_loop(rx: &mut RxSide, p: &TrialParams, ctl: &Ctl) {
    while !rx.finished(ctl, p.drain_s) {
        rx.poll(ctl);
    }
}

fn both_loop(tx: &mut TxGen, rx: &mut RxSide, p: &TrialParams, ctl: &Ctl) -> TxOutcome {
    let mut run = tx.start(p);
    while !run.done {
        tx.step(&mut run, ctl);
        rx.poll(ctl);
    }
    rx_loop(rx, p, ctl);
    run.out
}

/// Where the two sides run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// TX on the first worker lcore, RX on the second.
    Split { tx: u32, rx: u32 },
    /// Both on one worker lcore.
    Shared(u32),
    /// Both on the calling (main) lcore.
    Main,
}

impl Layout {
    pub fn from_workers(workers: &[u32]) -> Layout {
        match workers {
            [tx, rx, ..] => Layout::Split { tx: *tx, rx: *rx },
            [one] => Layout::Shared(*one),
            [] => Layout::Main,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Layout::Split { tx, rx } => format!("tx on lcore {tx}, rx on lcore {rx}"),
            Layout::Shared(l) => format!("tx and rx on lcore {l}"),
            Layout::Main => "tx and rx on the main lcore".into(),
        }
    }
}

/// Runs `f` on `lcore` and hands its result back on join.
struct Remote<T> {
    handle: dpdk::LcoreHandle,
    slot: Arc<Mutex<Option<T>>>,
}

impl<T: Send + 'static> Remote<T> {
    fn launch(
        eal: &Eal,
        lcore: u32,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> dpdk::Result<Remote<T>> {
        let slot = Arc::new(Mutex::new(None));
        let s = Arc::clone(&slot);
        let handle = eal.launch(lcore, move || {
            let v = f();
            match s.lock() {
                Ok(mut g) => {
                    *g = Some(v);
                    0
                }
                Err(_) => 1,
            }
        })?;
        Ok(Remote { handle, slot })
    }

    fn join(self) -> Option<T> {
        let lcore = self.handle.lcore();
        let rc = self.handle.join();
        if rc != 0 {
            tracing::error!(lcore, rc, "pktgen worker ended abnormally");
        }
        self.slot.lock().ok().and_then(|mut g| g.take())
    }
}

/// The result of one trial.
#[derive(Clone, Copy, Debug)]
pub struct TrialResult {
    pub tx: TxOutcome,
    pub rx: RxCounts,
    pub latency: Latency,
    pub latency_samples: u64,
    /// Frames pktgen's own RX port dropped meanwhile (set by the caller,
    /// which holds the ports: `OwnPorts::drops` in pktgen's `measure`).
    pub generator_drops: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Dpdk(#[from] dpdk::DpdkError),
    #[error("a pktgen worker lcore failed and its queue is lost; see the log above")]
    WorkerLost,
}

/// Owns both sides between trials.
pub struct Engine {
    tx: Option<TxGen>,
    rx: Option<RxSide>,
    layout: Layout,
    ctl: Arc<Ctl>,
}

impl Engine {
    pub fn new(tx: TxGen, rx: RxSide, layout: Layout, ctl: Arc<Ctl>) -> Engine {
        Engine {
            tx: Some(tx),
            rx: Some(rx),
            layout,
            ctl,
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The RX queue the trials polled (none if its worker was lost), to
    /// free what is still on it once the last trial is over.
    pub fn rx_queue(&mut self) -> Option<&mut RxQueue> {
        self.rx.as_mut().map(|r| &mut r.rxq)
    }

    /// One trial; `eal` launches the lcores that run it.
    pub fn trial(&mut self, eal: &Eal, p: TrialParams) -> Result<TrialResult, EngineError> {
        let (Some(mut tx), Some(mut rx)) = (self.tx.take(), self.rx.take()) else {
            return Err(EngineError::WorkerLost);
        };
        self.ctl.reset();
        rx.start(tx.next_seq());
        let ctl = Arc::clone(&self.ctl);
        let (tx, rx, out) = match self.layout {
            Layout::Main => {
                let out = both_loop(&mut tx, &mut rx, &p, &ctl);
                (Some(tx), Some(rx), out)
            }
            Layout::Shared(l) => {
                let r = Remote::launch(eal, l, move || {
                    let out = both_loop(&mut tx, &mut rx, &p, &ctl);
                    (tx, rx, out)
                })?;
                match r.join() {
                    Some((tx, rx, out)) => (Some(tx), Some(rx), out),
                    None => (None, None, TxOutcome::default()),
                }
            }
            Layout::Split { tx: tl, rx: rl } => {
                let c = Arc::clone(&ctl);
                let rr = Remote::launch(eal, rl, move || {
                    rx_loop(&mut rx, &p, &c);
                    rx
                })?;
                let tr = Remote::launch(eal, tl, move || {
                    let out = tx_loop(&mut tx, &p, &ctl);
                    (tx, out)
                });
                let tr = match tr {
                    Ok(t) => t,
                    Err(e) => {
                        // RX waits for TX: tell it there is nothing to wait for.
                        self.ctl.tx_done.store(true, Ordering::Release);
                        self.rx = rr.join();
                        return Err(e.into());
                    }
                };
                let (tx, out) = match tr.join() {
                    Some((tx, out)) => (Some(tx), out),
                    None => {
                        self.ctl.tx_done.store(true, Ordering::Release);
                        (None, TxOutcome::default())
                    }
                };
                (tx, rr.join(), out)
            }
        };
        self.tx = tx;
        self.rx = rx;
        // A stop during the drain wait cut it short: what is missing may
        // still have been on its way.
        let mut out = out;
        out.interrupted |= self.ctl.stop.load(Ordering::Relaxed);
        let rx = self.rx.as_ref().ok_or(EngineError::WorkerLost)?;
        if self.tx.is_none() {
            return Err(EngineError::WorkerLost);
        }
        if out.stalled && out.stalled_on_pool {
            tracing::warn!(
                sent = out.sent,
                alloc_failures = out.alloc_failures,
                "pktgen: the mbuf pool stayed empty (no frame could be built for {TX_STALL_S} s); \
                 sending ended early: the ports' rings hold the mbufs (a net_pcap with \
                 infinite_rx holds one per frame of its file); give more --mbufs"
            );
        } else if out.stalled {
            tracing::warn!(
                sent = out.sent,
                unsent = out.unsent,
                "pktgen: the TX device stopped accepting frames (none taken for {TX_STALL_S} s); \
                 sending ended early, the frames it refused are counted as unsent"
            );
        }
        let h = rx.meter.histogram();
        Ok(TrialResult {
            tx: out,
            rx: rx.meter.counts(),
            latency: Latency::of(h),
            latency_samples: h.len(),
            generator_drops: 0,
        })
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
