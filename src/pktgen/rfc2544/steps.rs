//! What the search asks the generator to do: the unscored warm-up, then trials at a rate.

/// The unscored warm-up before the first trial.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Warmup {
    /// `--warmup-ms`: the frames are spread over this long.
    pub ms: u64,
    /// One per flow.
    pub frames: u64,
    pub rate_pps: f64,
}

impl Warmup {
    /// One frame per flow spread over `ms` milliseconds, never faster than
    /// line rate (then it takes longer); `None` for `ms == 0` (no warm-up).
    pub fn new(ms: u64, flows: u32, line_rate_pps: f64) -> Option<Warmup> {
        if ms == 0 || flows == 0 {
            return None;
        }
        let frames = u64::from(flows);
        let rate_pps = (frames as f64 * 1000.0 / ms as f64).min(line_rate_pps);
        Some(Warmup {
            ms,
            frames,
            rate_pps,
        })
    }
}

/// What the search asks the generator to do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step {
    /// Send the warm-up's frames and wait for them (counted in no trial).
    Warmup(Warmup),
    /// A trial at this offered rate (pps).
    Trial(f64),
}
