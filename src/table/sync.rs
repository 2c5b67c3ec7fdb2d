//! The atomics the seqlock protocol is written against.
//!
//! `slot.rs` imports these through `super::sync` only, so the loom model in
//! `tests/table_loom.rs` can compile the very same `slot.rs` against its own
//! `sync` module built on `loom::sync::atomic` (loom is a dev-dependency and
//! cannot be used by the library itself).

pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// What a reader does while the writer is half-way through a slot.
#[inline]
pub(crate) fn spin_wait() {
    std::hint::spin_loop();
}
