//! Rebuilds: whole when small, in bounded steps when large, redrawn when the keys cluster.

use super::reclaim::discard;
use super::table::{Find, Inner};
use super::{Packed, Writer, CLUSTERED, CLUSTER_MIN_LIVE, REDRAWS, STAGED_MIN_SLOTS, STAGE_STEP};
use crate::table::slot::{Slot, State, WORDS};

/// A rebuild in steps, private to the writer until it is published: first
/// the new table's slots are made, `STAGE_STEP` per write, then the
/// current table's slots copied, `STAGE_STEP` per write, while every write
/// goes to both tables (the current one stays what readers and the writer
/// read until the new one is whole).
pub(super) struct Stage {
    /// The new table's slots while they are being made.
    making: Vec<Slot>,
    /// Its size in slots.
    pub(super) target: usize,
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
    pub(super) fn new(target: usize, draws: usize) -> Stage {
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
    pub(super) fn put(&mut self, key: u32, words: [u64; WORDS]) -> bool {
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
    pub(super) fn remove(&mut self, key: u32) {
        let Some(next) = &self.next else { return };
        if let Find::Found(i) = next.find(key) {
            next.slots[i].retire();
            self.tombstones += 1;
            self.displaced -= next.distance(i, key);
        }
    }
}

impl<V: Packed> Writer<V> {
    /// Keys past their home slot by more than `CLUSTERED` slots on average
    /// (random keys: under 0.5 at the load kept here) mean the table drew
    /// multipliers that happen to collide these keys: rebuild with new ones.
    pub(super) fn redraw_if_clustered(&mut self) {
        if self.live >= CLUSTER_MIN_LIVE
            && self.displaced > CLUSTERED * self.live
            && self.live >= self.redrawn_at.saturating_mul(2)
        {
            self.redrawn_at = self.live;
            self.rebuild_soon();
        }
    }

    /// A staged rebuild starts before the current table is half full.
    pub(super) fn fits_early(&self, used: usize) -> bool {
        used.saturating_mul(64) <= self.table.slots.len().saturating_mul(31)
    }

    /// Is the current table large enough to be rebuilt in steps?
    pub(super) fn staged(&self) -> bool {
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
    pub(super) fn rebuild_soon(&mut self) {
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
    pub(super) fn start_stage(&mut self) {
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
    pub(super) fn give_up_stage(&mut self) {
        discard(self.stage.take());
    }

    /// One step of a staged rebuild, if one is under way: `STAGE_STEP`
    /// slots made or copied, and the new table published once whole.
    pub(super) fn step(&mut self) {
        self.advance(STAGE_STEP);
    }

    /// Runs a staged rebuild to its end now.
    pub(super) fn finish_stage_now(&mut self) {
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
    pub(super) fn rebuild(&mut self, extra: Option<(u32, [u64; WORDS])>) {
        let live = self.live + usize::from(extra.is_some());
        discard(self.stage.replace(Stage::new(self.slots_for(live), 1)));
        self.finish_stage_now();
        if let Some((key, words)) = extra {
            self.insert_here(key, words);
        }
    }

    /// Starts the (empty) map over on a table with these multipliers.
    #[cfg(test)]
    pub(super) fn use_multipliers(&mut self, mul: [u64; 2]) {
        assert_eq!(self.live + self.tombstones, 0);
        let mut t = Inner::new(self.table.slots.len());
        t.mul = mul;
        self.publish(t);
    }
}
