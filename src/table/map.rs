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

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use crossbeam_utils::CachePadded;

use super::slot::{Probe, Slot, State, WORDS};

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

/// One published table: the slots plus the hash parameters that go with them.
struct Inner {
    slots: Box<[Slot]>,
    mask: usize,
    shift: u32,
    /// The hash's two odd multipliers, random per table.
    mul: [u64; 2],
}

impl Inner {
    fn new(slots: usize) -> Self {
        Inner::of((0..slots).map(|_| Slot::new()).collect())
    }

    /// A table over these (empty) slots, with new multipliers.
    fn of(slots: Box<[Slot]>) -> Self {
        let n = slots.len();
        debug_assert!(n.is_power_of_two() && n >= MIN_SLOTS);
        Inner {
            slots,
            mask: n - 1,
            shift: 64 - n.trailing_zeros(),
            mul: [rand::random::<u64>() | 1, rand::random::<u64>() | 1],
        }
    }

    /// Multiply, fold the high half into the low, multiply again, keep
    /// the top bits. One multiply-shift alone (the top bits of key * odd
    /// constant) leaves arithmetic progressions, which flannel's subnets
    /// and node addresses are, in long linear-probing chains for some
    /// multipliers (about 7 % of table builds at least five times worse
    /// than random keys); with the fold and second multiply, none of
    /// 500 000 simulated builds of 10 000 such keys at the strides flannel
    /// uses came near that (test below).
    #[inline]
    fn home(&self, key: u32) -> usize {
        let x = u64::from(key).wrapping_mul(self.mul[0]);
        let x = (x ^ (x >> 32)).wrapping_mul(self.mul[1]);
        (x >> self.shift) as usize
    }

    /// How far slot `i` is past `key`'s home slot.
    fn distance(&self, i: usize, key: u32) -> usize {
        i.wrapping_sub(self.home(key)) & self.mask
    }

    /// Reader-side lookup starting at the key's home slot.
    #[inline]
    fn lookup_from(&self, mut i: usize, key: u32) -> Option<[u64; WORDS]> {
        // The writer keeps at least half of the slots empty, so a chain ends
        // long before this bound; it only makes termination obvious.
        for _ in 0..self.slots.len() {
            match self.slots.get(i)?.probe(key) {
                Probe::Hit(w) => return Some(w),
                Probe::Empty => return None,
                Probe::Miss => i = (i + 1) & self.mask,
            }
        }
        None
    }

    /// Writer-side search: where `key` lives, or where it would be inserted.
    fn find(&self, key: u32) -> Find {
        let mut i = self.home(key);
        let mut tomb = None;
        for _ in 0..self.slots.len() {
            let Some(slot) = self.slots.get(i) else { break };
            match slot.state() {
                State::Live(k) if k == key => return Find::Found(i),
                State::Live(_) => {}
                State::Tombstone => {
                    tomb.get_or_insert(i);
                }
                State::Empty => {
                    return match tomb {
                        Some(t) => Find::Tombstone(t),
                        None => Find::Empty(i),
                    }
                }
            }
            i = (i + 1) & self.mask;
        }
        // Unreachable while the load factor is kept below one.
        match tomb {
            Some(t) => Find::Tombstone(t),
            None => Find::Full,
        }
    }
}

enum Find {
    Found(usize),
    Tombstone(usize),
    Empty(usize),
    Full,
}

/// A rebuild in steps, private to the writer until it is published: first
/// the new table's slots are made, `STAGE_STEP` per write, then the
/// current table's slots copied, `STAGE_STEP` per write, while every write
/// goes to both tables (the current one stays what readers and the writer
/// read until the new one is whole).
struct Stage {
    /// The new table's slots while they are being made.
    making: Vec<Slot>,
    /// Its size in slots.
    target: usize,
    /// The new table, once all its slots exist.
    next: Option<Inner>,
    /// The first slot of the current table not copied yet.
    cursor: usize,
    /// Live entries plus tombstones in `next`.
    used: usize,
    tombstones: usize,
    /// Summed distance from home of `next`'s live entries.
    displaced: usize,
    /// Multipliers drawn for this rebuild so far.
    draws: usize,
}

impl Stage {
    fn new(target: usize, draws: usize) -> Stage {
        Stage {
            making: Vec::with_capacity(target),
            target,
            next: None,
            cursor: 0,
            used: 0,
            tombstones: 0,
            displaced: 0,
            draws,
        }
    }

    /// `key` with `words` into `next`, as the writer puts it into the
    /// current table; false if `next` has no room left (then the stage is
    /// given up).
    fn put(&mut self, key: u32, words: [u64; WORDS]) -> bool {
        let Some(next) = &self.next else { return true };
        match next.find(key) {
            Find::Found(i) => {
                if next.slots[i].words() != words {
                    next.slots[i].publish(key, words);
                }
            }
            Find::Tombstone(i) => {
                next.slots[i].publish(key, words);
                self.tombstones -= 1;
                self.displaced += next.distance(i, key);
            }
            Find::Empty(i) if self.used < next.slots.len() / 2 => {
                next.slots[i].publish(key, words);
                self.used += 1;
                self.displaced += next.distance(i, key);
            }
            Find::Empty(_) | Find::Full => return false,
        }
        true
    }

    /// Removes `key` from `next`, as the writer removes it from the
    /// current table.
    fn remove(&mut self, key: u32) {
        let Some(next) = &self.next else { return };
        if let Find::Found(i) = next.find(key) {
            next.slots[i].retire();
            self.tombstones += 1;
            self.displaced -= next.distance(i, key);
        }
    }
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

impl<V: Packed> Writer<V> {
    /// Inserts or updates; returns the previous value.
    pub fn insert(&mut self, key: u32, v: V) -> Option<V> {
        self.reclaim();
        self.work = 0;
        let words = v.pack();
        let old = self.insert_here(key, words);
        if let Some(stage) = self.stage.as_mut() {
            if !stage.put(key, words) {
                self.give_up_stage();
            }
        }
        // Large tables start their rebuild early, at 31/64 full, so that
        // it is done in steps before the current table is half full (the
        // 1/64 left is 128 inserts at the smallest such table, which a
        // rebuild in steps needs 24 writes for; 5 times that at any size).
        if self.staged() && !self.fits_early(self.live + self.tombstones) {
            self.start_stage();
        }
        self.step();
        old
    }

    /// `insert` into the current table.
    fn insert_here(&mut self, key: u32, words: [u64; WORDS]) -> Option<V> {
        match self.table.find(key) {
            Find::Found(i) => {
                let slot = &self.table.slots[i];
                let old = slot.words();
                // A re-put of the same value (flannel renews daily) costs
                // no store and makes no reader retry.
                if old != words {
                    slot.publish(key, words);
                }
                Some(V::unpack(old))
            }
            Find::Tombstone(i) => {
                self.table.slots[i].publish(key, words);
                self.live += 1;
                self.tombstones -= 1;
                self.displaced += self.table.distance(i, key);
                self.redraw_if_clustered();
                None
            }
            Find::Empty(i) if self.fits(self.live + self.tombstones + 1) => {
                self.table.slots[i].publish(key, words);
                self.live += 1;
                self.displaced += self.table.distance(i, key);
                self.redraw_if_clustered();
                None
            }
            Find::Empty(_) | Find::Full if self.stage.is_some() => {
                // The staged rebuild fell behind: finish it at once.
                self.finish_stage_now();
                self.insert_here(key, words)
            }
            Find::Empty(_) | Find::Full => {
                self.rebuild(Some((key, words)));
                None
            }
        }
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: u32) -> Option<V> {
        self.reclaim();
        self.work = 0;
        let Find::Found(i) = self.table.find(key) else {
            return None;
        };
        let slot = &self.table.slots[i];
        let old = slot.words();
        slot.retire();
        let d = self.table.distance(i, key);
        debug_assert!(d <= self.displaced);
        self.displaced = self.displaced.saturating_sub(d);
        self.live -= 1;
        self.tombstones += 1;
        if let Some(stage) = self.stage.as_mut() {
            stage.remove(key);
        }
        // Mostly tombstones: long chains for misses and a table bigger
        // than needed. Rebuild (and maybe shrink) it.
        if self.tombstones > self.live && self.tombstones > self.capacity() / 4 {
            self.rebuild_soon();
        }
        self.step();
        Some(V::unpack(old))
    }

    /// The current value of `key`, as the writer last wrote it.
    pub fn get(&self, key: u32) -> Option<V> {
        match self.table.find(key) {
            Find::Found(i) => Some(V::unpack(self.table.slots[i].words())),
            _ => None,
        }
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// All live entries, in table order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, V)> + '_ {
        self.table
            .slots
            .iter()
            .filter_map(|slot| match slot.state() {
                State::Live(k) => Some((k, V::unpack(slot.words()))),
                _ => None,
            })
    }

    /// A new reader of the current table (one per worker).
    pub fn reader(&self) -> Reader<V> {
        Reader {
            shared: Arc::clone(&self.shared),
            table: Arc::clone(&self.table),
            generation: self.generation,
            _v: PhantomData,
        }
    }

    /// Slots in the current table.
    pub fn capacity(&self) -> usize {
        self.table.slots.len()
    }

    /// Tombstones in the current table.
    pub fn tombstones(&self) -> usize {
        self.tombstones
    }

    /// How many tables have been published after the first.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Frees retired tables no reader holds any more; returns how many are
    /// still held (a reader that has not refreshed since the rebuild).
    pub fn reclaim(&mut self) -> usize {
        if !self.retired.is_empty() {
            // Count 1 = only our reference is left, and no reader can get a
            // new one: the ArcSwap already points to a newer table.
            let (done, held) = std::mem::take(&mut self.retired)
                .into_iter()
                .partition(|t| Arc::strong_count(t) == 1);
            self.retired = held;
            release(done);
        }
        self.retired.len()
    }

    /// Starts the (empty) map over on a table with these multipliers.
    #[cfg(test)]
    fn use_multipliers(&mut self, mul: [u64; 2]) {
        assert_eq!(self.live + self.tombstones, 0);
        let mut t = Inner::new(self.table.slots.len());
        t.mul = mul;
        self.publish(t);
    }

    /// Makes `next` the table readers switch to at their next refresh;
    /// the old one is retired until no reader holds it.
    fn publish(&mut self, next: Inner) {
        let next = Arc::new(next);
        self.shared.table.store(Arc::clone(&next));
        self.generation += 1;
        self.shared
            .generation
            .store(self.generation, Ordering::Release);
        self.retired.push(std::mem::replace(&mut self.table, next));
    }

    fn fits(&self, used: usize) -> bool {
        used <= self.table.slots.len() / 2
    }

    /// Keys past their home slot by more than `CLUSTERED` slots on average
    /// (random keys: under 0.5 at the load kept here) mean the table drew
    /// multipliers that happen to collide these keys: rebuild with new ones.
    fn redraw_if_clustered(&mut self) {
        if self.live >= CLUSTER_MIN_LIVE
            && self.displaced > CLUSTERED * self.live
            && self.live >= self.redrawn_at.saturating_mul(2)
        {
            self.redrawn_at = self.live;
            self.rebuild_soon();
        }
    }

    /// A staged rebuild starts before the current table is half full.
    fn fits_early(&self, used: usize) -> bool {
        used.saturating_mul(64) <= self.table.slots.len().saturating_mul(31)
    }

    /// Is the current table large enough to be rebuilt in steps?
    fn staged(&self) -> bool {
        self.table.slots.len() >= STAGED_MIN_SLOTS
    }

    /// A table size for `live` entries: live entries at most 3/8 of the
    /// slots after a rebuild, so at least 1/8 of the table is inserted
    /// before the next one (amortised O(1)).
    fn slots_for(&self, live: usize) -> usize {
        let mut slots = self.min_slots;
        while live.saturating_mul(8) > slots.saturating_mul(3) && slots <= usize::MAX / 4 {
            slots *= 2;
        }
        slots
    }

    /// A rebuild: in steps for a large table, at once for a small one.
    fn rebuild_soon(&mut self) {
        if self.staged() {
            self.start_stage();
        } else {
            self.rebuild(None);
        }
    }

    /// Starts a rebuild in steps to the size the live entries call for,
    /// unless one under way will do: one to a size from that to twice it.
    /// (Starting over whenever the size wanted changed would, with the
    /// live count going up and down across a size boundary, start over at
    /// nearly every write and never finish.) One too small, or more than
    /// twice too large (a growth no longer needed after mass removal),
    /// starts over.
    fn start_stage(&mut self) {
        let want = self.slots_for(self.live);
        if self
            .stage
            .as_ref()
            .is_some_and(|s| want <= s.target && want >= s.target / 2)
        {
            return;
        }
        discard(self.stage.replace(Stage::new(want, 1)));
    }

    /// A staged rebuild whose new table ran out of room (the table grew
    /// faster than the steps copied it): given up, the next write starts
    /// one sized for what the table holds now.
    fn give_up_stage(&mut self) {
        discard(self.stage.take());
    }

    /// One step of a staged rebuild, if one is under way: `STAGE_STEP`
    /// slots made or copied, and the new table published once whole.
    fn step(&mut self) {
        self.advance(STAGE_STEP);
    }

    /// Runs a staged rebuild to its end now.
    fn finish_stage_now(&mut self) {
        while self.stage.is_some() {
            self.advance(usize::MAX);
        }
    }

    /// Makes or copies up to `budget` slots of the staged rebuild.
    fn advance(&mut self, mut budget: usize) {
        let Some(stage) = self.stage.as_mut() else {
            return;
        };
        if stage.next.is_none() {
            let n = budget.min(stage.target - stage.making.len());
            stage.making.extend((0..n).map(|_| Slot::new()));
            budget -= n;
            self.work += n;
            if stage.making.len() < stage.target {
                return;
            }
            let slots = std::mem::take(&mut stage.making).into_boxed_slice();
            stage.next = Some(Inner::of(slots));
        }
        let end = stage
            .cursor
            .saturating_add(budget)
            .min(self.table.slots.len());
        for slot in &self.table.slots[stage.cursor..end] {
            if let State::Live(k) = slot.state() {
                if !stage.put(k, slot.words()) {
                    self.give_up_stage();
                    return;
                }
            }
        }
        self.work += end - stage.cursor;
        stage.cursor = end;
        if end == self.table.slots.len() {
            self.finish_stage();
        }
    }

    /// Publishes a staged rebuild whose copy is complete, unless its
    /// multipliers cluster the keys: then it starts over with new ones.
    fn finish_stage(&mut self) {
        let Some(stage) = self.stage.take() else {
            return;
        };
        let clustered = self.live >= CLUSTER_MIN_LIVE && stage.displaced > CLUSTERED * self.live;
        if clustered && stage.draws < REDRAWS {
            self.stage = Some(Stage::new(stage.target, stage.draws + 1));
            discard(Some(stage));
            return;
        }
        let Some(next) = stage.next else { return };
        self.publish(next);
        self.tombstones = stage.tombstones;
        self.displaced = stage.displaced;
        self.reclaim();
    }

    /// A whole rebuild in one go (a small table, where it takes well under
    /// a millisecond): the staged rebuild run to its end at once, then
    /// `extra` put into the new table, which is sized with room for it.
    fn rebuild(&mut self, extra: Option<(u32, [u64; WORDS])>) {
        let live = self.live + usize::from(extra.is_some());
        discard(self.stage.replace(Stage::new(self.slots_for(live), 1)));
        self.finish_stage_now();
        if let Some((key, words)) = extra {
            self.insert_here(key, words);
        }
    }
}

/// Frees a rebuild in steps that was given up, as `free_aside` does.
fn discard(stage: Option<Stage>) {
    if let Some(stage) = stage {
        let big = stage.target >= STAGED_MIN_SLOTS;
        free_aside(stage, big);
    }
}

/// Frees tables nobody reads any more, as `free_aside` does.
fn release(tables: Vec<Arc<Inner>>) {
    let big = tables.iter().any(|t| t.slots.len() >= STAGED_MIN_SLOTS);
    free_aside(tables, big);
}

/// Drops `x`: if `big`, on a short-lived thread of its own, which inherits
/// the writer's CPUs (the kernel unmapping tens of MiB takes milliseconds,
/// which no write should wait for); else, or should the thread not start,
/// here.
fn free_aside<T: Send + 'static>(x: T, big: bool) {
    if big {
        let _ = std::thread::Builder::new()
            .name("vxgate-free".into())
            .spawn(move || drop(x));
    }
}

impl<V: Packed> Reader<V> {
    /// Loads the current table whether or not it changed. The first load
    /// on a thread registers that thread with arc-swap (a one-time
    /// allocation): a worker does it once before its loop, so the loop's
    /// first `refresh` after a rebuild allocates nothing.
    pub fn reload(&mut self) {
        self.generation = self.shared.generation.load(Ordering::Acquire);
        self.table = self.shared.table.load_full();
    }

    /// Switches to the newest table if the writer published one. Call at a
    /// burst boundary: one load of a generation word when nothing changed.
    #[inline]
    pub fn refresh(&mut self) {
        let g = self.shared.generation.load(Ordering::Acquire);
        if g != self.generation {
            self.table = self.shared.table.load_full();
            self.generation = g;
        }
    }

    /// The value of `key` in this reader's table.
    #[inline]
    pub fn get(&self, key: u32) -> Option<V> {
        let t = &*self.table;
        t.lookup_from(t.home(key), key).map(V::unpack)
    }

    /// Looks up `keys[i]` into `out[i]` for the shorter of the two slices,
    /// a chunk of `BULK` keys at a time through `get_masked`.
    pub fn get_bulk(&self, keys: &[u32], out: &mut [Option<V>]) {
        for (kc, oc) in keys.chunks(BULK).zip(out.chunks_mut(BULK)) {
            let n = kc.len().min(oc.len());
            let mut chunk = [0u32; BULK];
            chunk[..n].copy_from_slice(&kc[..n]);
            oc[..n].fill(None);
            let want = if n == BULK { u32::MAX } else { (1 << n) - 1 };
            self.get_masked(&chunk, want, |i, v| oc[i] = Some(v));
        }
    }
}

impl<V: Packed> Reader<V> {
    /// Looks up `keys[i]` for every bit `i` set in `want` and calls
    /// `found(i, value)` for each key present. All home slots are
    /// prefetched before any is probed, so the cache misses of a burst
    /// overlap instead of queueing (the burst fast paths' lookup).
    #[inline]
    pub fn get_masked<F: FnMut(usize, V)>(&self, keys: &[u32; BULK], want: u32, mut found: F) {
        self.get_masked_words(keys, want, |i, w| found(i, V::unpack(*w)));
    }

    /// `get_masked` handing over the packed words (for a test on them that
    /// is cheaper than unpacking).
    #[inline]
    pub fn get_masked_words<F: FnMut(usize, &[u64; WORDS])>(
        &self,
        keys: &[u32; BULK],
        want: u32,
        mut found: F,
    ) {
        let t = &*self.table;
        let mut home = [0usize; BULK];
        let mut w = want;
        while w != 0 {
            let i = w.trailing_zeros() as usize;
            w &= w - 1;
            home[i] = t.home(keys[i]);
            if let Some(slot) = t.slots.get(home[i]) {
                crate::dpdk::cache::prefetch(slot);
            }
        }
        let mut w = want;
        while w != 0 {
            let i = w.trailing_zeros() as usize;
            w &= w - 1;
            // Most keys sit in their home slot: one straight-line read.
            let hit = match t.slots.get(home[i]).and_then(|s| s.try_hit(keys[i])) {
                Some(words) => Some(words),
                None => t.lookup_from(home[i], keys[i]),
            };
            if let Some(words) = hit {
                found(i, &words);
            }
        }
    }
}

impl<V: Packed> Clone for Reader<V> {
    fn clone(&self) -> Self {
        Reader {
            shared: Arc::clone(&self.shared),
            table: Arc::clone(&self.table),
            generation: self.generation,
            _v: PhantomData,
        }
    }
}

impl<V: Packed> std::fmt::Debug for Writer<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("len", &self.live)
            .field("tombstones", &self.tombstones)
            .field("capacity", &self.capacity())
            .field("generation", &self.generation)
            .finish()
    }
}

impl<V: Packed> std::fmt::Debug for Reader<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("capacity", &self.table.slots.len())
            .field("generation", &self.generation)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A test value: key-derived words, so a wrong slot shows up.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Val(u64, u64, u64);

    impl Packed for Val {
        fn pack(&self) -> [u64; WORDS] {
            [self.0, self.1, self.2]
        }
        fn unpack(w: [u64; WORDS]) -> Self {
            Val(w[0], w[1], w[2])
        }
    }

    fn val(key: u32, version: u64) -> Val {
        Val(
            u64::from(key),
            version,
            u64::from(key) ^ version.rotate_left(17),
        )
    }

    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}

    #[test]
    fn handles_are_send() {
        assert_send::<Writer<Val>>();
        assert_send::<Reader<Val>>();
        assert_sync::<Reader<Val>>();
    }

    #[test]
    fn insert_get_update_remove() {
        let (mut w, mut r) = map::<Val>(8);
        assert!(w.is_empty());
        assert_eq!(w.insert(7, val(7, 1)), None);
        assert_eq!(w.insert(0, val(0, 1)), None, "key 0 is an ordinary key");
        assert_eq!(w.insert(u32::MAX, val(u32::MAX, 1)), None);
        r.refresh();
        assert_eq!(r.get(7), Some(val(7, 1)));
        assert_eq!(r.get(0), Some(val(0, 1)));
        assert_eq!(r.get(u32::MAX), Some(val(u32::MAX, 1)));
        assert_eq!(r.get(8), None);
        assert_eq!(w.len(), 3);

        assert_eq!(w.insert(7, val(7, 2)), Some(val(7, 1)));
        assert_eq!(r.get(7), Some(val(7, 2)), "update is visible in place");
        assert_eq!(w.get(7), Some(val(7, 2)));
        assert_eq!(w.len(), 3);

        assert_eq!(w.remove(7), Some(val(7, 2)));
        assert_eq!(w.remove(7), None);
        assert_eq!(r.get(7), None);
        assert_eq!(w.get(7), None);
        assert_eq!(w.len(), 2);
        assert_eq!(w.tombstones(), 1);
    }

    #[test]
    fn same_value_reput_is_a_no_op() {
        let (mut w, _r) = map::<Val>(8);
        w.insert(5, val(5, 1));
        let gen = w.generation();
        assert_eq!(w.insert(5, val(5, 1)), Some(val(5, 1)));
        assert_eq!(w.generation(), gen);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn tombstones_are_reused() {
        let (mut w, r) = map::<Val>(64);
        let cap = w.capacity();
        for k in 1..=30 {
            w.insert(k, val(k, 1));
        }
        for k in 1..=30 {
            w.remove(k);
        }
        assert_eq!(w.tombstones(), 30);
        // The same keys find their own (or an earlier) tombstone again.
        for k in 1..=30 {
            w.insert(k, val(k, 2));
        }
        assert_eq!(w.tombstones(), 0);
        assert_eq!(w.capacity(), cap);
        assert_eq!(w.generation(), 0, "no rebuild was needed");
        for k in 1..=30 {
            assert_eq!(r.get(k), Some(val(k, 2)));
        }
    }

    #[test]
    fn grows_and_rebuilds_under_churn() {
        let (mut w, mut r) = map::<Val>(4);
        let mut model = HashMap::new();
        let mut rng_state = 0x1234_5678_u32;
        for version in 0..20_000u64 {
            // xorshift: a deterministic mix of inserts and removes.
            rng_state ^= rng_state << 13;
            rng_state ^= rng_state >> 17;
            rng_state ^= rng_state << 5;
            let key = rng_state % 3000;
            if rng_state & 0x300 == 0 {
                assert_eq!(w.remove(key), model.remove(&key));
            } else {
                let v = val(key, version);
                assert_eq!(w.insert(key, v), model.insert(key, v));
            }
            assert_eq!(w.len(), model.len());
        }
        assert!(w.generation() > 3, "churn must have rebuilt the table");
        // The running distance sum stayed exact through inserts into
        // tombstones, removes and rebuilds (the helper asserts it).
        mean_displacement(&w);
        assert!(w.capacity() >= 2 * w.len());
        holds_exactly(&w, &mut r, model, 0..3000);
    }

    #[test]
    fn a_reload_takes_the_newest_table_and_leaves_nothing_for_refresh() {
        let (mut w, mut r) = map::<Val>(4);
        for k in 0..1000 {
            w.insert(k, val(k, 1));
        }
        assert!(
            w.generation() > 0,
            "the inserts must have rebuilt the table"
        );
        assert_eq!(r.get(999), None, "not refreshed yet");
        r.reload();
        assert_eq!(r.get(999), Some(val(999, 1)));
        let table = Arc::as_ptr(&r.table);
        r.refresh();
        assert_eq!(Arc::as_ptr(&r.table), table, "already the newest");
    }

    /// Writer and (refreshed) reader hold exactly `model` over `keys`, and
    /// the writer nothing else.
    fn holds_exactly(
        w: &Writer<Val>,
        r: &mut Reader<Val>,
        model: HashMap<u32, Val>,
        keys: std::ops::Range<u32>,
    ) {
        r.refresh();
        for key in keys {
            assert_eq!(r.get(key), model.get(&key).copied());
            assert_eq!(w.get(key), model.get(&key).copied());
        }
        let mut seen: Vec<(u32, Val)> = w.iter().collect();
        seen.sort_by_key(|e| e.0);
        let mut want: Vec<(u32, Val)> = model.into_iter().collect();
        want.sort_by_key(|e| e.0);
        assert_eq!(seen, want);
    }

    #[test]
    fn shrinks_after_mass_removal() {
        let (mut w, _r) = map::<Val>(16);
        for k in 0..10_000 {
            w.insert(k, val(k, 0));
        }
        let big = w.capacity();
        let gen = w.generation();
        for k in 0..9_990 {
            assert_eq!(w.remove(k), Some(val(k, 0)));
        }
        assert!(w.generation() > gen, "mass removal rebuilds");
        assert!(w.capacity() < big, "{} !< {}", w.capacity(), big);
        assert!(w.tombstones() <= w.capacity() / 4);
        assert_eq!(w.len(), 10);
        for k in 9_990..10_000 {
            assert_eq!(w.get(k), Some(val(k, 0)));
        }
    }

    #[test]
    fn stale_reader_sees_old_table_until_refresh() {
        let (mut w, mut r) = map::<Val>(4);
        let cap = w.capacity();
        let mut k = 1;
        while w.capacity() == cap {
            w.insert(k, val(k, 0));
            k += 1;
        }
        let last = k - 1;
        // The key that triggered the rebuild went into the new table only.
        assert_eq!(r.get(last), None);
        assert_eq!(w.reclaim(), 1, "the reader still holds the old table");
        r.refresh();
        assert_eq!(r.get(last), Some(val(last, 0)));
        assert_eq!(w.reclaim(), 0, "old table freed by the writer");
    }

    #[test]
    fn get_masked_matches_get() {
        let (mut w, r) = map::<Val>(100);
        for k in (0..200u32).step_by(3) {
            w.insert(k, val(k, 1));
        }
        let mut keys = [0u32; BULK];
        for (i, k) in keys.iter_mut().enumerate() {
            *k = i as u32 * 2;
        }
        for want in [0u32, 1, 0x8000_0001, 0x5555_5555, u32::MAX] {
            let mut seen = 0u32;
            r.get_masked(&keys, want, |i, v| {
                assert_eq!(Some(v), r.get(keys[i]), "key {}", keys[i]);
                seen |= 1 << i;
            });
            let expect = (0..BULK)
                .filter(|&i| want >> i & 1 == 1 && r.get(keys[i]).is_some())
                .fold(0u32, |m, i| m | 1 << i);
            assert_eq!(seen, expect, "want {want:#x}");
        }
    }

    #[test]
    fn get_bulk_matches_get() {
        let (mut w, mut r) = map::<Val>(100);
        for k in (0..200).step_by(2) {
            w.insert(k, val(k, 3));
        }
        r.refresh();
        let keys: Vec<u32> = (0..70).map(|i| i * 3).collect();
        let mut out = vec![None; keys.len()];
        r.get_bulk(&keys, &mut out);
        for (k, o) in keys.iter().zip(&out) {
            assert_eq!(*o, r.get(*k));
            assert_eq!(o.is_some(), k % 2 == 0 && *k < 200);
        }
        // A shorter output slice bounds the work.
        let mut short = [None; 3];
        r.get_bulk(&keys, &mut short);
        assert_eq!(short[..], out[..3]);
    }

    #[test]
    fn cloned_reader_is_independent() {
        let (mut w, r) = map::<Val>(4);
        let mut r2 = r.clone();
        for k in 1..100 {
            w.insert(k, val(k, 1));
        }
        r2.refresh();
        assert_eq!(r2.get(99), Some(val(99, 1)));
        assert_eq!(r.get(99), None, "r has not refreshed yet");
    }

    /// Mean distance of the live entries from their home slots, counted
    /// afresh; the writer's running sum must agree.
    fn mean_displacement<V: Packed>(w: &Writer<V>) -> f64 {
        let t = &w.table;
        let (mut sum, mut n) = (0usize, 0usize);
        for (i, slot) in t.slots.iter().enumerate() {
            if let State::Live(k) = slot.state() {
                sum += t.distance(i, k);
                n += 1;
            }
        }
        assert_eq!(w.displaced, sum, "the writer's running sum");
        sum as f64 / n as f64
    }

    /// Flannel's keys are arithmetic progressions: subnets `Network + j *
    /// 2^(32 - SubnetLen)`, node addresses one after another. Plain
    /// multiply-shift with linear probing fails on those for some
    /// multipliers (Patrascu and Thorup): in simulations of a 10 000-lease
    /// table, ~7 % of builds averaged a slot or more past home, one in a
    /// thousand 60-140, the worst thousands (random keys: about 0.2). Each
    /// of these builds must stay under 1, at the strides of SubnetLen 32,
    /// 28 and 24 (node addresses; /28 and /24 subnets). (Wider strides
    /// cannot hold 10 000 subnets in a Network.)
    #[test]
    fn arithmetic_progressions_spread_like_random_keys_in_every_build() {
        let mut worst = 0.0f64;
        for stride_bits in [0u32, 4, 8] {
            for _build in 0..40 {
                let (mut w, _r) = map::<Val>(10_000);
                for j in 1..=10_000u32 {
                    let key = (10 << 24) + (j << stride_bits);
                    w.insert(key, val(key, 1));
                }
                worst = worst.max(mean_displacement(&w));
            }
        }
        assert!(worst < 1.0, "a build averaged {worst:.2} slots past home");
    }

    /// Multipliers a review found to cluster 10 000 keys of stride 2^16 in
    /// 32 768 slots (~120 slots past home on average): a writer that drew
    /// them must notice and draw again.
    #[test]
    fn a_build_whose_multipliers_cluster_its_keys_is_drawn_again() {
        const BAD: [u64; 2] = [0x31e6_0479_f969_dc17, 0x22cf_3fff_ff32_ca2f];
        let keys: Vec<u32> = (1..=10_000u32).map(|j| (10 << 24) + (j << 16)).collect();
        // The pair really is bad for these keys.
        let mut bad = Inner::new(32_768);
        bad.mul = BAD;
        let mut sum = 0;
        for &k in &keys {
            if let Find::Empty(i) = bad.find(k) {
                bad.slots[i].publish(k, [0; WORDS]);
                sum += bad.distance(i, k);
            }
        }
        assert!(sum > 50 * keys.len(), "{}", sum / keys.len());

        let (mut w, mut r) = map::<Val>(10_000);
        assert_eq!(w.capacity(), 32_768);
        w.use_multipliers(BAD);
        let forced = w.generation();
        for &k in &keys {
            w.insert(k, val(k, 1));
        }
        assert!(w.generation() > forced, "never drawn again");
        assert!(mean_displacement(&w) < 1.0, "{}", mean_displacement(&w));
        assert_eq!(w.capacity(), 32_768, "drawn again, not grown");
        r.refresh();
        assert!(keys.iter().all(|&k| r.get(k) == Some(val(k, 1))));
        // Removing them all keeps the bookkeeping exact (no underflow).
        for &k in &keys {
            assert_eq!(w.remove(k), Some(val(k, 1)));
        }
        assert!(w.is_empty());
    }

    /// A table of `STAGED_MIN_SLOTS` and more grows, and is rebuilt after
    /// mass removal, by rebuilds in steps: no write makes or copies more than `STAGE_STEP`
    /// slots (the whole table was copied by one write before), every
    /// write is seen at once by the writer, and by readers at their next
    /// refresh, also while a rebuild is under way, and the new tables
    /// hold exactly the entries of the old.
    #[test]
    fn a_large_table_is_rebuilt_in_steps_of_bounded_work() {
        let (mut w, mut r) = map::<Val>(3_000);
        assert_eq!(w.capacity(), STAGED_MIN_SLOTS);
        let mut model = HashMap::new();
        let (mut max_work, mut stepped, mut checked_mid_stage) = (0, 0, 0);
        let mut check = |w: &Writer<Val>, r: &mut Reader<Val>, model: &HashMap<u32, Val>| {
            max_work = max_work.max(w.work);
            stepped += usize::from(w.work > 0);
            assert_eq!(w.len(), model.len());
            if w.stage.is_some() && checked_mid_stage < 50 {
                checked_mid_stage += 1;
                r.refresh();
                assert!(model.iter().all(|(k, v)| r.get(*k) == Some(*v)));
            }
        };
        // Grow to 40 000 entries (8 192 -> 131 072 slots) with updates and
        // some removes mixed in, then remove nearly all.
        let mut x = 0x9e37_79b9_u32;
        for version in 0..60_000u64 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let key = x % 40_000;
            if x & 0x700 == 0 {
                assert_eq!(w.remove(key), model.remove(&key));
            } else {
                let v = val(key, version);
                assert_eq!(w.insert(key, v), model.insert(key, v));
            }
            assert_eq!(w.get(key), model.get(&key).copied());
            check(&w, &mut r, &model);
        }
        let grown = (w.capacity(), w.generation());
        assert!(grown.0 >= 65_536 && grown.1 >= 3, "{grown:?}");
        for key in 0..39_000 {
            assert_eq!(w.remove(key), model.remove(&key));
            check(&w, &mut r, &model);
        }
        // The tombstones of mass removal brought a rebuild in steps (to
        // the size the live entries wanted when it began).
        assert!(w.generation() > grown.1 && w.capacity() <= grown.0);
        assert!(
            max_work <= STAGE_STEP,
            "a write did {max_work} slots of work"
        );
        assert!(stepped > 100 && checked_mid_stage > 0);
        mean_displacement(&w);
        holds_exactly(&w, &mut r, model, 0..40_000);
    }

    /// Churn that keeps the live count going up and down across 3/8 of
    /// the slots (where the size a rebuild wants doubles or halves) in a
    /// table past 31/64 full: the rebuild under way must not start over
    /// at every write, or it never finishes and the write that fills the
    /// table does the whole of it (a review's find: 782 336 slots in one
    /// write after 581 restarts).
    #[test]
    fn churn_across_a_size_boundary_keeps_every_write_bounded() {
        let (mut w, _r) = map::<Val>(16);
        let center = 98_304; // 3/8 of 2^18 slots
        let mut present: Vec<u32> = (0..center as u32).collect();
        for &k in &present {
            w.insert(k, val(k, 0));
        }
        assert_eq!(w.capacity(), 262_144);
        let (mut next, mut x, mut max_work) = (center as u32, 12_345u64, 0);
        let gen = w.generation();
        for _ in 0..400_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if (x & 1 == 0 && present.len() > center - 8) || present.len() > center + 8 {
                let k = present.swap_remove((x >> 8) as usize % present.len());
                assert!(w.remove(k).is_some());
            } else {
                w.insert(next, val(next, 0));
                present.push(next);
                next += 1;
            }
            max_work = max_work.max(w.work);
        }
        assert!(max_work <= STAGE_STEP, "a write did {max_work} slots");
        assert!(w.generation() > gen, "the rebuilds finished");
        assert_eq!(w.len(), present.len());
        mean_displacement(&w);
    }

    /// A staged rebuild whose new table fills up (it was sized for fewer
    /// entries than the table now holds) is given up, and the table it
    /// would have replaced goes on unharmed.
    #[test]
    fn a_staged_rebuild_without_room_is_given_up() {
        let (mut w, mut r) = map::<Val>(3_000);
        for k in 0..2_000 {
            w.insert(k, val(k, 1));
        }
        let gen = w.generation();
        // A new table of 16 slots cannot take 2 000 entries.
        w.stage = Some(Stage::new(MIN_SLOTS, 1));
        w.insert(5_000, val(5_000, 1));
        assert!(w.stage.is_none(), "given up");
        assert_eq!(w.generation(), gen, "nothing published");
        r.refresh();
        assert!((0..2_000)
            .chain([5_000])
            .all(|k| r.get(k) == Some(val(k, 1))));
        mean_displacement(&w);
    }

    #[test]
    fn capacity_one_million() {
        const N: u32 = 1_000_000;
        let (mut w, mut r) = map::<Val>(N as usize);
        let cap = w.capacity();
        // Spread keys like addresses over the whole u32 space.
        let key = |i: u32| i.wrapping_mul(2_654_435_761);
        for i in 0..N {
            assert_eq!(w.insert(key(i), val(key(i), 1)), None);
        }
        assert_eq!(w.len(), N as usize);
        assert_eq!(w.capacity(), cap, "hint must avoid any rebuild");
        assert_eq!(w.generation(), 0);
        r.refresh();
        for i in (0..N).step_by(7) {
            assert_eq!(r.get(key(i)), Some(val(key(i), 1)));
        }
        assert_eq!(r.get(key(N)), None);
        assert_eq!(w.iter().count(), N as usize);
    }
}
