//! The reader's side: refresh at a burst boundary, and lookups of one key, in bulk or masked.

use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Packed, Reader, BULK};
use crate::table::slot::WORDS;

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

impl<V: Packed> std::fmt::Debug for Reader<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("capacity", &self.table.slots.len())
            .field("generation", &self.generation)
            .finish()
    }
}
