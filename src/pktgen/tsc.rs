//! The TSC frequency pktgen converts ticks with (pacing, durations,
//! latencies): EAL's, refined against the kernel's monotonic clock.
//!
//! EAL's figure is coarse: DPDK takes it from the CPU's nominal ratio or
//! measures it over 100 ms and rounds it to 10 MHz (2.600 GHz where the
//! kernel, `tsc_known_freq`, says 2596.122 MHz: 0.15 % off, enough to put
//! a measured latency below a physical floor). The kernel exports its own
//! figure nowhere portable (`tsc_freq_khz` in sysfs only with out-of-tree
//! patches), but its `CLOCK_MONOTONIC` (std's `Instant`) runs on it: two
//! (TSC, monotonic) samples [`MIN_WINDOW_NS`] or more apart give the
//! frequency to a few ppm (NTP slews the monotonic clock by at most
//! 500 ppm, usually a few). pktgen takes the first sample as it starts and
//! the second once its ports are up, so the window costs little extra time.

/// A TSC reading and the monotonic clock (ns) read at the same moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The middle of the two TSC reads around the clock read.
    pub tsc: u64,
    pub ns: u64,
    /// Ticks between the two TSC reads: how far off `tsc` may be.
    pub gap: u64,
}

/// Tries per sample: the one whose TSC reads are closest wins (a thread
/// preempted between them makes that try useless, not the calibration).
const TRIES: usize = 16;

/// Samples at least this far apart (100 ms).
pub const MIN_WINDOW_NS: u64 = 100_000_000;

/// The two samples' uncertainty (their gaps) may be at most this share of
/// the window: 100 ppm, 15 times below the error it corrects.
const MAX_UNCERTAINTY: f64 = 1e-4;

/// A calibration further than this from EAL's figure is not trusted (1 %:
/// DPDK's rounding to 10 MHz is at most 0.5 % at 1 GHz): a TSC that does
/// not tick with the monotonic clock (not invariant, a VM's clock
/// stepped) keeps EAL's figure.
const MAX_DISAGREEMENT: f64 = 0.01;

/// Reads the monotonic clock between two TSC reads, [`TRIES`] times, and
/// keeps the try with the smallest gap.
pub fn sample(mut tsc: impl FnMut() -> u64, mut ns: impl FnMut() -> u64) -> Sample {
    let mut best: Option<Sample> = None;
    for _ in 0..TRIES {
        let t1 = tsc();
        let n = ns();
        let t2 = tsc();
        let gap = t2.saturating_sub(t1);
        let s = Sample {
            tsc: t1 + gap / 2,
            ns: n,
            gap,
        };
        if best.map_or(true, |b| s.gap < b.gap) {
            best = Some(s);
        }
    }
    best.unwrap_or(Sample {
        tsc: 0,
        ns: 0,
        gap: u64::MAX,
    })
}

/// The frequency pktgen uses, and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hz {
    /// Calibrated against the monotonic clock.
    Calibrated(u64),
    /// EAL's figure, for the reason given.
    Eal(u64, Fallback),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// The samples were less than [`MIN_WINDOW_NS`] apart, or out of order.
    ShortWindow,
    /// A sample's TSC reads were too far apart (preempted every try).
    Imprecise,
    /// The calibration differs from EAL's by more than 1 %.
    Disagrees(u64),
}

impl Hz {
    pub fn get(self) -> u64 {
        match self {
            Hz::Calibrated(h) | Hz::Eal(h, _) => h,
        }
    }
}

/// The TSC frequency from samples `a` and `b` (`b` later), or `eal_hz` when
/// they cannot give a trustworthy one.
pub fn calibrate(a: Sample, b: Sample, eal_hz: u64) -> Hz {
    let (Some(ticks), Some(ns)) = (b.tsc.checked_sub(a.tsc), b.ns.checked_sub(a.ns)) else {
        return Hz::Eal(eal_hz, Fallback::ShortWindow);
    };
    if ns < MIN_WINDOW_NS || ticks == 0 {
        return Hz::Eal(eal_hz, Fallback::ShortWindow);
    }
    if a.gap.saturating_add(b.gap) as f64 > MAX_UNCERTAINTY * ticks as f64 {
        return Hz::Eal(eal_hz, Fallback::Imprecise);
    }
    let hz = (u128::from(ticks) * 1_000_000_000 + u128::from(ns) / 2) / u128::from(ns);
    let hz = u64::try_from(hz).unwrap_or(u64::MAX);
    if (hz as f64 - eal_hz as f64).abs() > MAX_DISAGREEMENT * eal_hz as f64 {
        return Hz::Eal(eal_hz, Fallback::Disagrees(hz));
    }
    Hz::Calibrated(hz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A TSC at `hz` and a monotonic clock in ns, both driven by a
    /// simulated time (ns) that each read advances by `step` ns; the
    /// TSC reads at the positions in `stalls` (0-based) come `stall` ns
    /// late (the thread preempted).
    struct Clocks {
        t_ns: Cell<u64>,
        hz: u64,
        step: u64,
        reads: Cell<usize>,
        stalls: Vec<usize>,
        stall: u64,
    }

    impl Clocks {
        fn new(hz: u64) -> Clocks {
            Clocks {
                t_ns: Cell::new(5_000_000_000),
                hz,
                step: 20,
                reads: Cell::new(0),
                stalls: Vec::new(),
                stall: 0,
            }
        }
        fn tick(&self) {
            self.t_ns.set(self.t_ns.get() + self.step);
        }
        fn tsc(&self) -> u64 {
            let i = self.reads.get();
            self.reads.set(i + 1);
            if self.stalls.contains(&i) {
                self.t_ns.set(self.t_ns.get() + self.stall);
            }
            self.tick();
            (u128::from(self.t_ns.get()) * u128::from(self.hz) / 1_000_000_000) as u64
        }
        fn ns(&self) -> u64 {
            self.tick();
            self.t_ns.get()
        }
        fn sample(&self) -> Sample {
            sample(|| self.tsc(), || self.ns())
        }
        fn sleep(&self, ns: u64) {
            self.t_ns.set(self.t_ns.get() + ns);
        }
    }

    const EAL_HZ: u64 = 2_600_000_000;
    const KERNEL_HZ: u64 = 2_596_122_000;

    /// The tester's machine: EAL says 2.600 GHz, the TSC runs at
    /// 2596.122 MHz. Samples 100 ms apart give the real figure to a few
    /// ppm, not EAL's 0.15 % error.
    #[test]
    fn calibration_finds_the_kernels_tsc_frequency() {
        let c = Clocks::new(KERNEL_HZ);
        let a = c.sample();
        c.sleep(MIN_WINDOW_NS);
        let b = c.sample();
        let hz = calibrate(a, b, EAL_HZ);
        let Hz::Calibrated(h) = hz else {
            panic!("{hz:?}")
        };
        assert!(h.abs_diff(KERNEL_HZ) <= KERNEL_HZ / 1_000_000, "{h}");
        // 1 ms of ticks is 1 ms with it (EAL's figure says 0.9985 ms).
        let ms_ticks = KERNEL_HZ / 1000;
        assert_eq!((ms_ticks as f64 * 1e9 / h as f64).round(), 1e6);
    }

    /// A thread preempted between the TSC reads of a try: that try is
    /// dropped for a tight one, so the result is as good as without.
    #[test]
    fn a_preempted_sample_is_retried_not_trusted() {
        let mut c = Clocks::new(KERNEL_HZ);
        // The second TSC read of the first try and of the fourth come
        // 2 ms late.
        c.stalls = vec![1, 7];
        c.stall = 2_000_000;
        let a = c.sample();
        assert!(a.gap < 1000, "the tight try kept: {a:?}");
        c.sleep(MIN_WINDOW_NS);
        let b = c.sample();
        let h = calibrate(a, b, EAL_HZ).get();
        assert!(h.abs_diff(KERNEL_HZ) <= KERNEL_HZ / 1_000_000, "{h}");
        // Preempted in every try: too imprecise, EAL's figure.
        let wide = Sample {
            gap: KERNEL_HZ / 1000,
            ..b
        };
        assert_eq!(
            calibrate(a, wide, EAL_HZ),
            Hz::Eal(EAL_HZ, Fallback::Imprecise)
        );
    }

    #[test]
    fn too_short_a_window_or_a_wild_result_keeps_eals_figure() {
        let c = Clocks::new(KERNEL_HZ);
        let a = c.sample();
        c.sleep(MIN_WINDOW_NS / 2);
        let b = c.sample();
        assert_eq!(
            calibrate(a, b, EAL_HZ),
            Hz::Eal(EAL_HZ, Fallback::ShortWindow)
        );
        assert_eq!(
            calibrate(b, a, EAL_HZ),
            Hz::Eal(EAL_HZ, Fallback::ShortWindow),
            "out of order"
        );
        // A TSC 5 % off EAL's (not invariant, a VM's clock stepped).
        let c = Clocks::new(EAL_HZ / 100 * 95);
        let a = c.sample();
        c.sleep(MIN_WINDOW_NS);
        let b = c.sample();
        match calibrate(a, b, EAL_HZ) {
            Hz::Eal(h, Fallback::Disagrees(seen)) => {
                assert_eq!(h, EAL_HZ);
                assert!(seen.abs_diff(EAL_HZ / 100 * 95) < 10_000, "{seen}");
            }
            other => panic!("{other:?}"),
        }
    }
}
