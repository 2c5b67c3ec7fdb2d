//! Where `/metrics` gets its snapshot: a [`MetricsSource`], and the
//! [`SwappableSource`] that lets the endpoint serve before the data plane's
//! counters exist.
use std::sync::{Arc, RwLock};

use super::snapshot::MetricsSnapshot;

/// Where `/metrics` gets its numbers; called once per scrape from the
/// metrics thread, so it may lock and allocate but should be quick.
pub trait MetricsSource: Send + Sync {
    fn snapshot(&self) -> MetricsSnapshot;
}

impl<F: Fn() -> MetricsSnapshot + Send + Sync> MetricsSource for F {
    fn snapshot(&self) -> MetricsSnapshot {
        self()
    }
}

/// A source that can be replaced while `/metrics` is served: the endpoint
/// is bound before vxgate starts (so start-up can be watched), and the data
/// plane's counters are put in once they exist.
pub struct SwappableSource {
    current: RwLock<Arc<dyn MetricsSource>>,
}

impl SwappableSource {
    pub fn new(initial: Arc<dyn MetricsSource>) -> Self {
        SwappableSource {
            current: RwLock::new(initial),
        }
    }

    /// Puts `source` in. Scrapes hold the old one (a read lock) while they
    /// read it, so once this returns nothing reads the old one any more: the
    /// caller may tear down what it reads (ports, EAL).
    pub fn set(&self, source: Arc<dyn MetricsSource>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = source;
    }
}

impl MetricsSource for SwappableSource {
    fn snapshot(&self) -> MetricsSnapshot {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::metrics::fixture::busy_snapshot;

    #[test]
    fn a_swapped_source_is_read_from_then_on() {
        let slot = SwappableSource::new(Arc::new(|| MetricsSnapshot {
            control_only: true,
            ..MetricsSnapshot::default()
        }));
        assert!(slot.snapshot().control_only);
        slot.set(Arc::new(busy_snapshot));
        assert_eq!(slot.snapshot(), busy_snapshot());
    }
}
