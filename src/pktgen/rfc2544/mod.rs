//! RFC 2544 throughput: the highest rate at which a trial loses no more
//! than the tolerated share of frames, found by binary search between a low
//! rate and line rate. The search is pure; trials are a closure.
//!
//! A trial verifies a rate only if the generator actually sent it: a trial
//! that sent fewer than [`MIN_SENT_SHARE`] of the frames due at the offered
//! rate over the trial's length (less one frame, for rounding) says nothing
//! about the offered rate (the DUT never saw it). If it lost
//! nothing it verifies the rate that was sent; it is never a pass at the
//! offered rate. A trial cut short by SIGINT verifies nothing.
//!
//! Before the first trial an unscored warm-up (RFC 2544 section 23,
//! learning frames) sends one frame per flow at a low rate, so that a
//! device under test (a gateway resolving next hops by ARP, a switch
//! learning MACs) knows every address before it is measured; without it the
//! first trial, at line rate, loses the frames that wait for ARP and the
//! throughput found is below the real one. The warm-up counts in no trial.
//!
//! By file: `verdict` (what one trial measured and the verdict it gives),
//! `steps` (what the search asks the generator: the warm-up, the trials),
//! `search` (the binary search, with or without a warm-up first),
//! `result` (each trial's record and what the search reports).

mod result;
mod search;
mod steps;
mod verdict;

#[cfg(test)]
pub(crate) mod tests;

pub use result::{SearchResult, Trial};
pub use search::{search, search_after_warmup, SearchConf};
pub use steps::{Step, Warmup};
pub use verdict::{passes, sent_enough, verdict, Measured, Verdict};

/// A trial must send at least this share of the frames due at its offered
/// rate to count at that rate: 1 % slack for TSC pacing granularity and the
/// first burst's start-up, far below what a generator that cannot keep up
/// loses.
pub const MIN_SENT_SHARE: f64 = 0.99;
