//! Per-worker mutable state the pipeline needs: counters, the ICMP error
//! rate limiter, the outer IPv4 ident sequence and the current time.

use super::counters::Counters;
use super::frag_order::Detoured;
use super::slowpath::RateLimiter;
use std::sync::Arc;

/// Owned by one worker; moved into it at start.
#[derive(Debug)]
pub struct WorkerState {
    /// Shared with the metrics thread, written only by this worker.
    pub counters: Arc<Counters>,
    /// Limits the time-exceeded errors this worker generates.
    pub icmp_limiter: RateLimiter,
    /// Limits its fragmentation-needed errors, apart and more generously:
    /// path MTU discovery stalls a sender until its retransmit timer when
    /// one is lost, and a flood of expiring packets must not starve it
    /// (Linux does not limit them at all: `icmpv4_mask_allow`).
    pub pmtu_limiter: RateLimiter,
    /// Next outer IPv4 ident; starts per worker at a distinct value.
    pub next_ident: u16,
    /// Monotonic time in nanoseconds; the caller sets it once per burst.
    pub now_ns: u64,
    /// Datagrams whose fragments went to the slow path (`frag_order`).
    pub(crate) detoured: Detoured,
    /// The slow path's own state: the fragments it handles are forwarded
    /// from here, never sent to it again.
    pub(crate) in_slow_path: bool,
}

/// Default ICMP error rate per worker (Linux's icmp_ratelimit is ~1/ms).
pub const ICMP_ERRORS_PER_SEC: u32 = 1000;
pub const ICMP_ERROR_BURST: u32 = 50;
/// Fragmentation-needed errors per worker: enough for a thousand senders
/// starting full-size flows at one instant (each caches the MTU it learns
/// for its destination), still a bound on what a flood can make us send.
pub const PMTU_ERRORS_PER_SEC: u32 = 10_000;
pub const PMTU_ERROR_BURST: u32 = 1000;

impl WorkerState {
    pub fn new(counters: Arc<Counters>, worker_index: u16) -> WorkerState {
        WorkerState {
            counters,
            icmp_limiter: RateLimiter::new(ICMP_ERRORS_PER_SEC, ICMP_ERROR_BURST),
            pmtu_limiter: RateLimiter::new(PMTU_ERRORS_PER_SEC, PMTU_ERROR_BURST),
            next_ident: worker_index.wrapping_mul(0x9e37),
            now_ns: 0,
            detoured: Detoured::default(),
            in_slow_path: false,
        }
    }

    #[inline]
    pub(crate) fn take_ident(&mut self) -> u16 {
        let i = self.next_ident;
        self.next_ident = i.wrapping_add(1);
        i
    }
}
