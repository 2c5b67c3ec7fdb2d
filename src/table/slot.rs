//! One 32-byte hash-table slot guarded by its own sequence lock.
//!
//! The single writer brackets every change with two stores of `seq`: first
//! with the WRITING bit set, last with a new version and the LIVE bit for
//! the new state. Readers only load: `seq`, the key, the value words, then
//! `seq` again, and retry when it moved or was odd. Readers never store, so
//! a lookup leaves every cache line it touches in the shared state.
//!
//! `seq` layout: bit 0 WRITING, bit 1 LIVE, bits 2.. a version that never
//! returns to 0 once the slot was written, so `seq == 0` means "never
//! used" (the end of a probe chain) for the whole life of the table.

use super::sync::{fence, spin_wait, AtomicU32, AtomicU64, Ordering};

const WRITING: u32 = 0b01;
const LIVE: u32 = 0b10;
const VERSION_STEP: u32 = 0b100;

/// Number of 64-bit words a value packs into.
pub const WORDS: usize = 3;

/// A slot: sequence word, key, and a value of three words.
#[repr(C, align(32))]
pub struct Slot {
    seq: AtomicU32,
    key: AtomicU32,
    words: [AtomicU64; WORDS],
}

/// What a reader learnt from one slot while looking for a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Never used: the key is not in the table, stop probing.
    Empty,
    /// A tombstone or another key: go on to the next slot.
    Miss,
    /// The key, with a value that was written whole.
    Hit([u64; WORDS]),
}

/// The writer's own view of a slot (the writer needs no seqlock retry:
/// nobody else stores to the slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Empty,
    Tombstone,
    Live(u32),
}

impl Default for Slot {
    fn default() -> Self {
        Self::new()
    }
}

impl Slot {
    /// An empty slot.
    pub fn new() -> Self {
        Slot {
            seq: AtomicU32::new(0),
            key: AtomicU32::new(0),
            words: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    // ---- reader side: loads only ----

    /// Looks for `key` in this slot; retries while the writer is mid-update.
    #[inline]
    pub fn probe(&self, key: u32) -> Probe {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 == 0 {
                return Probe::Empty;
            }
            if s1 & WRITING != 0 {
                spin_wait();
                continue;
            }
            if s1 & LIVE == 0 {
                return Probe::Miss;
            }
            let k = self.key.load(Ordering::Relaxed);
            let w = if k == key {
                [
                    self.words[0].load(Ordering::Relaxed),
                    self.words[1].load(Ordering::Relaxed),
                    self.words[2].load(Ordering::Relaxed),
                ]
            } else {
                [0; WORDS]
            };
            // Orders the data loads above before the re-check below; pairs
            // with the writer's Release fence after it set WRITING.
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) != s1 {
                continue;
            }
            return if k == key { Probe::Hit(w) } else { Probe::Miss };
        }
    }

    /// The common case of `probe` without its loop: the slot holds `key`
    /// and no write overlapped the reads. `None` means "ask `probe`" (a
    /// miss, an empty or retired slot, or a write in progress).
    #[inline]
    pub fn try_hit(&self, key: u32) -> Option<[u64; WORDS]> {
        let s1 = self.seq.load(Ordering::Acquire);
        let k = self.key.load(Ordering::Relaxed);
        let w = [
            self.words[0].load(Ordering::Relaxed),
            self.words[1].load(Ordering::Relaxed),
            self.words[2].load(Ordering::Relaxed),
        ];
        // As in `probe`: the data loads before the re-check.
        fence(Ordering::Acquire);
        let s2 = self.seq.load(Ordering::Relaxed);
        (s1 == s2 && s1 & (WRITING | LIVE) == LIVE && k == key).then_some(w)
    }

    // ---- writer side: only the single writer calls these ----

    /// The slot's current state as the writer left it.
    pub fn state(&self) -> State {
        let s = self.seq.load(Ordering::Relaxed);
        if s == 0 {
            State::Empty
        } else if s & LIVE == 0 {
            State::Tombstone
        } else {
            State::Live(self.key.load(Ordering::Relaxed))
        }
    }

    /// The value words as the writer left them.
    pub fn words(&self) -> [u64; WORDS] {
        [
            self.words[0].load(Ordering::Relaxed),
            self.words[1].load(Ordering::Relaxed),
            self.words[2].load(Ordering::Relaxed),
        ]
    }

    /// Makes the slot hold `key` -> `words`.
    pub fn publish(&self, key: u32, words: [u64; WORDS]) {
        let s = self.begin();
        self.key.store(key, Ordering::Relaxed);
        for (cell, w) in self.words.iter().zip(words) {
            cell.store(w, Ordering::Relaxed);
        }
        self.end(s, LIVE);
    }

    /// Turns a live slot into a tombstone (the key and words stay, unused).
    pub fn retire(&self) {
        let s = self.begin();
        self.end(s, 0);
    }

    fn begin(&self) -> u32 {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s | WRITING, Ordering::Relaxed);
        // Any reader that sees one of the stores that follow also sees
        // WRITING (or a later seq) on its re-check.
        fence(Ordering::Release);
        s
    }

    fn end(&self, old: u32, live: u32) {
        let mut version = (old & !(WRITING | LIVE)).wrapping_add(VERSION_STEP);
        if version == 0 {
            // Skip version 0 on wrap so a tombstone never reads as "empty".
            version = VERSION_STEP;
        }
        self.seq.store(version | live, Ordering::Release);
    }
}
