//! A fixed-capacity open-addressing hash map keyed by `u32`, one writer,
//! any number of lock-free readers.
//!
//! Linear probing over 32-byte seqlocked slots (two per cache line).
//! Removes leave tombstones, reused by later inserts; when live entries plus
//! tombstones would pass half the slots, the writer builds a new table and
//! publishes it through an `ArcSwap` plus a generation counter. A large
//! table is rebuilt in steps of bounded work spread over the writes that
//! follow (`Stage`), so no write waits for a whole copy. Each reader
//! caches an `Arc` of the table it reads and swaps it in `refresh()`, at a
//! burst boundary; the last holder of an old table releases it. The writer
//! keeps its own reference to retired tables and frees them itself once no
//! reader holds one, so a worker never runs a large `free`.
//!
//! By file: `table` (one published table: its hash and its probe chains),
//! `reader` (refresh, and lookups one at a time, in bulk or masked),
//! `writer` (insert, update, remove, and the writer's own reads),
//! `rebuild` (rebuilds, whole or in steps), `reclaim` (publishing a table,
//! freeing those it replaced). The slot and its seqlock are `super::slot`.

mod reader;
mod rebuild;
mod reclaim;
mod table;
mod writer;

#[cfg(test)]
mod tests;

use std::marker::PhantomData;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use arc_swap::ArcSwap;
use crossbeam_utils::CachePadded;

use super::slot::{Slot, WORDS};
use rebuild::Stage;
use table::Inner;

// Two slots per 64-byte cache line, and no slot straddles one.
const _: () = assert!(std::mem::size_of::<Slot>() == 32);
const _: () = assert!(std::mem::align_of::<Slot>() == 32);

/// Keys looked up together by `Reader::get_bulk` (one burst).
pub const BULK: usize = 32;
// `get_masked` takes the keys it looks up as the bits of a `u32`.
const _: () = assert!(BULK <= 32);

/// Smallest table, in slots.
const MIN_SLOTS: usize = 16;
/// Mean distance from home above which a table's multipliers are taken
/// to cluster its keys (random keys stay under 0.5 at our load).
const CLUSTERED: usize = 2;
/// Fewer live entries than this are never judged clustered.
const CLUSTER_MIN_LIVE: usize = 64;
/// Draws of multipliers per rebuild at most.
const REDRAWS: usize = 4;
/// Tables of at least this many slots are rebuilt in steps: a whole
/// rebuild of a table this size (256 KiB) takes about 0.1 ms, of one of
/// 2^21 slots (1 M leases) hundreds of ms, which no etcd event should wait.
const STAGED_MIN_SLOTS: usize = 1 << 13;
/// Slots a write makes or copies at most while a staged rebuild runs.
const STAGE_STEP: usize = 1024;

/// A value that fits three 64-bit words (24 bytes), so a slot is 32 bytes.
///
/// `unpack` receives only words that `pack` produced, but must not panic on
/// any input.
pub trait Packed: Copy {
    fn pack(&self) -> [u64; WORDS];
    fn unpack(w: [u64; WORDS]) -> Self;
}

/// What the writer and every reader share.
struct Shared {
    table: ArcSwap<Inner>,
    /// Bumped after each `table` store; readers poll this one word.
    generation: CachePadded<AtomicU64>,
}

/// The single writer of a map. `Send`, not `Clone`.
pub struct Writer<V: Packed> {
    shared: Arc<Shared>,
    table: Arc<Inner>,
    generation: u64,
    live: usize,
    tombstones: usize,
    min_slots: usize,
    /// Sum over the live entries of their distance from their home slot.
    displaced: usize,
    /// `live` when clustering last made us draw new multipliers: the next
    /// such redraw waits until the table has doubled (bounded work even if
    /// every draw were bad).
    redrawn_at: usize,
    /// Replaced tables some reader may still hold; freed here once not.
    retired: Vec<Arc<Inner>>,
    /// A rebuild in steps under way (large tables only).
    stage: Option<Stage>,
    /// Slots the last write made or copied for a staged rebuild.
    work: usize,
    _v: PhantomData<fn() -> V>,
}

/// A worker's handle: lookups read only, `refresh` at burst boundaries.
pub struct Reader<V: Packed> {
    shared: Arc<Shared>,
    table: Arc<Inner>,
    generation: u64,
    _v: PhantomData<fn() -> V>,
}

/// A new map sized so `capacity_hint` entries fit without a rebuild.
pub fn map<V: Packed>(capacity_hint: usize) -> (Writer<V>, Reader<V>) {
    // Room for the hint below the point (31/64 full) where a large table
    // starts its next rebuild.
    let min_slots = (capacity_hint.saturating_mul(64) / 31 + 1)
        .max(MIN_SLOTS)
        .checked_next_power_of_two()
        .unwrap_or(1 << (usize::BITS - 1));
    let table = Arc::new(Inner::new(min_slots));
    let shared = Arc::new(Shared {
        table: ArcSwap::new(Arc::clone(&table)),
        generation: CachePadded::new(AtomicU64::new(0)),
    });
    let writer = Writer {
        shared,
        table,
        generation: 0,
        live: 0,
        tombstones: 0,
        min_slots,
        displaced: 0,
        redrawn_at: 0,
        retired: Vec::new(),
        stage: None,
        work: 0,
        _v: PhantomData,
    };
    let reader = writer.reader();
    (writer, reader)
}
