//! A cache hint for the lookup tables, which live on the process heap
//! (they are built and unit-tested without EAL) and come here only because
//! this layer holds vxgate's `unsafe`: a bulk lookup starts the cache
//! misses of a whole burst before it reads any slot (docs/tables.md,
//! `get_bulk`; figures in docs/performance.md).

#[cfg(not(target_arch = "x86_64"))]
use crate::ffi;

/// Starts loading the cache line `x` begins in, without waiting for it
/// and without holding the core's out-of-order window: a bulk lookup
/// issues the misses of a whole burst this way before it reads any.
#[inline(always)]
pub fn prefetch<T>(x: &T) {
    prefetch0((x as *const T).cast());
}

/// `rte_prefetch0` as the one instruction it is: DPDK defines it inline
/// in its headers, so through the C shim it would be a call per line.
#[inline(always)]
pub(crate) fn prefetch0(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, whatever the
    // address; SSE, which it needs, is part of the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: rte_prefetch0 is a hint that never faults.
    unsafe {
        ffi::vxg_prefetch0(p.cast())
    }
}
