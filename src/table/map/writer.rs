//! The writer's side: insert, update and remove, and the writer's own reads of the current table.

use std::marker::PhantomData;
use std::sync::Arc;

use super::table::Find;
use super::{Packed, Reader, Writer};
use crate::table::slot::{State, WORDS};

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
    pub(super) fn insert_here(&mut self, key: u32, words: [u64; WORDS]) -> Option<V> {
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

    fn fits(&self, used: usize) -> bool {
        used <= self.table.slots.len() / 2
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
