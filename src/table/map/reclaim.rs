//! Publishing a new table, and freeing the ones it replaced once no reader holds them.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::rebuild::Stage;
use super::table::Inner;
use super::{Packed, Writer, STAGED_MIN_SLOTS};

impl<V: Packed> Writer<V> {
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

    /// Makes `next` the table readers switch to at their next refresh;
    /// the old one is retired until no reader holds it.
    pub(super) fn publish(&mut self, next: Inner) {
        let next = Arc::new(next);
        self.shared.table.store(Arc::clone(&next));
        self.generation += 1;
        self.shared
            .generation
            .store(self.generation, Ordering::Release);
        self.retired.push(std::mem::replace(&mut self.table, next));
    }
}

/// Frees a rebuild in steps that was given up, as `free_aside` does.
pub(super) fn discard(stage: Option<Stage>) {
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
