//! Where the two sides run, and running one of them on a worker lcore.

use std::sync::{Arc, Mutex};

use crate::dpdk::{self, Eal};

/// Where the two sides run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// TX on the first worker lcore, RX on the second.
    Split { tx: u32, rx: u32 },
    /// Both on one worker lcore.
    Shared(u32),
    /// Both on the calling (main) lcore.
    Main,
}

impl Layout {
    pub fn from_workers(workers: &[u32]) -> Layout {
        match workers {
            [tx, rx, ..] => Layout::Split { tx: *tx, rx: *rx },
            [one] => Layout::Shared(*one),
            [] => Layout::Main,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Layout::Split { tx, rx } => format!("tx on lcore {tx}, rx on lcore {rx}"),
            Layout::Shared(l) => format!("tx and rx on lcore {l}"),
            Layout::Main => "tx and rx on the main lcore".into(),
        }
    }
}

/// Runs `f` on `lcore` and hands its result back on join.
pub(super) struct Remote<T> {
    handle: dpdk::LcoreHandle,
    slot: Arc<Mutex<Option<T>>>,
}

impl<T: Send + 'static> Remote<T> {
    pub(super) fn launch(
        eal: &Eal,
        lcore: u32,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> dpdk::Result<Remote<T>> {
        let slot = Arc::new(Mutex::new(None));
        let s = Arc::clone(&slot);
        let handle = eal.launch(lcore, move || {
            let v = f();
            match s.lock() {
                Ok(mut g) => {
                    *g = Some(v);
                    0
                }
                Err(_) => 1,
            }
        })?;
        Ok(Remote { handle, slot })
    }

    pub(super) fn join(self) -> Option<T> {
        let lcore = self.handle.lcore();
        let rc = self.handle.join();
        if rc != 0 {
            tracing::error!(lcore, rc, "pktgen worker ended abnormally");
        }
        self.slot.lock().ok().and_then(|mut g| g.take())
    }
}
