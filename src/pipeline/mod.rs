//! Classify, encap, decap and slow path: the per-burst packet logic.
//!
//! Pure Rust over the [`buf::PacketBuf`] trait and the [`lookup::Lookup`]
//! trait, so it runs on byte vectors in tests and on mbufs in the workers.
//! See docs/pipeline.md for the decisions (UDP checksum, 802.1Q, unresolved
//! next hops, where ICMP is generated) and for how verdicts are counted.
#![deny(unsafe_code)]

pub mod buf;
pub mod classify;
pub mod context;
pub mod counters;
pub mod decap;
pub mod drop_reason;
pub mod encap;
mod fast_headers;
mod fastpath;
mod frag_order;
pub mod fragment;
mod icmp_answers;
mod ipv4_checks;
mod l2_entry;
pub mod lookup;
pub mod mbuf;
mod neighbor_cache;
pub mod reassembly;
mod route;
pub mod slowpath;
pub mod slowpath_loop;
pub mod state;
pub mod tables;
pub mod testing;
pub mod verdict;
pub mod worker;

pub use buf::{PacketBuf, VecBuf};
pub use classify::{
    process_access, process_burst, process_decapped, process_fragment, process_underlay, BURST,
};
pub use context::{Context, ContextConfig, ContextError, Prefix};
pub use counters::{CounterSnapshot, Counters};
pub use drop_reason::{DropReason, SlowKind};
#[doc(hidden)]
pub use fastpath::{decap_write_only, encap_write_only};
pub use lookup::{Lease, Lookup, VtepMatch};
pub use state::WorkerState;
pub use verdict::{Side, Verdict};

#[cfg(test)]
mod tests;
