//! The DPDK side: a paced transmitter and a receiver/meter, run on separate
//! worker lcores, on one worker, or on the main lcore, one trial at a time.
//!
//! Here: [`Ctl`], what the two sides and the main thread share, and
//! [`Engine`], which runs one trial ([`TrialParams`] in, [`TrialResult`]
//! out). By file: `tx` (the transmitter, [`TxGen`]), `pace` (TSC deadlines
//! and the per-packet pacing, [`Pace`]), `rx` (the receiver, [`RxSide`]),
//! `loops` (what an lcore runs) and `layout` (where the two sides run,
//! [`Layout`], and running one on a worker lcore).

mod layout;
mod loops;
mod pace;
mod rx;
mod tx;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::meter::{Latency, RxCounts};
use crate::dpdk::{self, Eal, RxQueue};
use layout::Remote;
use loops::{both_loop, rx_loop, tx_loop};

pub use layout::Layout;
pub use pace::{deadline, secs_to_ticks, Pace};
pub use rx::RxSide;
pub use tx::{TxGen, TxOutcome, TX_STALL_S};

/// Shared between the TX and RX sides of a trial and the main thread.
/// Every counter has a single writer (store, never a locked RMW).
#[derive(Default)]
pub struct Ctl {
    /// Set by the operator (SIGINT) or the caller: stop sending now.
    pub stop: Arc<AtomicBool>,
    tx_sent: CachePadded<AtomicU64>,
    tx_done: AtomicBool,
    rx_ours: CachePadded<AtomicU64>,
}

impl Ctl {
    pub fn new(stop: Arc<AtomicBool>) -> Ctl {
        Ctl {
            stop,
            ..Default::default()
        }
    }
    fn reset(&self) {
        self.tx_sent.store(0, Ordering::Relaxed);
        self.rx_ours.store(0, Ordering::Relaxed);
        self.tx_done.store(false, Ordering::Release);
    }
    pub fn tx_sent(&self) -> u64 {
        self.tx_sent.load(Ordering::Relaxed)
    }
    pub fn rx_received(&self) -> u64 {
        self.rx_ours.load(Ordering::Relaxed)
    }
}

/// What a trial asks for.
#[derive(Clone, Copy, Debug)]
pub struct TrialParams {
    /// `None`: as fast as the device takes them.
    pub rate_pps: Option<f64>,
    pub duration_s: Option<f64>,
    pub count: Option<u64>,
    /// How long RX keeps waiting for missing frames after TX ends.
    pub drain_s: f64,
}

/// The result of one trial.
#[derive(Clone, Copy, Debug)]
pub struct TrialResult {
    pub tx: TxOutcome,
    pub rx: RxCounts,
    pub latency: Latency,
    pub latency_samples: u64,
    /// Frames pktgen's own RX port dropped meanwhile (set by the caller,
    /// which holds the ports: `OwnPorts::drops` in pktgen's `measure`).
    pub generator_drops: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Dpdk(#[from] dpdk::DpdkError),
    #[error("a pktgen worker lcore failed and its queue is lost; see the log above")]
    WorkerLost,
}

/// Owns both sides between trials.
pub struct Engine {
    tx: Option<TxGen>,
    rx: Option<RxSide>,
    layout: Layout,
    ctl: Arc<Ctl>,
}

impl Engine {
    pub fn new(tx: TxGen, rx: RxSide, layout: Layout, ctl: Arc<Ctl>) -> Engine {
        Engine {
            tx: Some(tx),
            rx: Some(rx),
            layout,
            ctl,
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The RX queue the trials polled (none if its worker was lost), to
    /// free what is still on it once the last trial is over.
    pub fn rx_queue(&mut self) -> Option<&mut RxQueue> {
        self.rx.as_mut().map(|r| &mut r.rxq)
    }

    /// One trial; `eal` launches the lcores that run it.
    pub fn trial(&mut self, eal: &Eal, p: TrialParams) -> Result<TrialResult, EngineError> {
        let (Some(mut tx), Some(mut rx)) = (self.tx.take(), self.rx.take()) else {
            return Err(EngineError::WorkerLost);
        };
        self.ctl.reset();
        rx.start(tx.next_seq());
        let ctl = Arc::clone(&self.ctl);
        let (tx, rx, out) = match self.layout {
            Layout::Main => {
                let out = both_loop(&mut tx, &mut rx, &p, &ctl);
                (Some(tx), Some(rx), out)
            }
            Layout::Shared(l) => {
                let r = Remote::launch(eal, l, move || {
                    let out = both_loop(&mut tx, &mut rx, &p, &ctl);
                    (tx, rx, out)
                })?;
                match r.join() {
                    Some((tx, rx, out)) => (Some(tx), Some(rx), out),
                    None => (None, None, TxOutcome::default()),
                }
            }
            Layout::Split { tx: tl, rx: rl } => {
                let c = Arc::clone(&ctl);
                let rr = Remote::launch(eal, rl, move || {
                    rx_loop(&mut rx, &p, &c);
                    rx
                })?;
                let tr = Remote::launch(eal, tl, move || {
                    let out = tx_loop(&mut tx, &p, &ctl);
                    (tx, out)
                });
                let tr = match tr {
                    Ok(t) => t,
                    Err(e) => {
                        // RX waits for TX: tell it there is nothing to wait for.
                        self.ctl.tx_done.store(true, Ordering::Release);
                        self.rx = rr.join();
                        return Err(e.into());
                    }
                };
                let (tx, out) = match tr.join() {
                    Some((tx, out)) => (Some(tx), out),
                    None => {
                        self.ctl.tx_done.store(true, Ordering::Release);
                        (None, TxOutcome::default())
                    }
                };
                (tx, rr.join(), out)
            }
        };
        self.tx = tx;
        self.rx = rx;
        // A stop during the drain wait cut it short: what is missing may
        // still have been on its way.
        let mut out = out;
        out.interrupted |= self.ctl.stop.load(Ordering::Relaxed);
        let rx = self.rx.as_ref().ok_or(EngineError::WorkerLost)?;
        if self.tx.is_none() {
            return Err(EngineError::WorkerLost);
        }
        if out.stalled && out.stalled_on_pool {
            tracing::warn!(
                sent = out.sent,
                alloc_failures = out.alloc_failures,
                "pktgen: the mbuf pool stayed empty (no frame could be built for {TX_STALL_S} s); \
                 sending ended early: the ports' rings hold the mbufs (a net_pcap with \
                 infinite_rx holds one per frame of its file); give more --mbufs"
            );
        } else if out.stalled {
            tracing::warn!(
                sent = out.sent,
                unsent = out.unsent,
                "pktgen: the TX device stopped accepting frames (none taken for {TX_STALL_S} s); \
                 sending ended early, the frames it refused are counted as unsent"
            );
        }
        let h = rx.meter.histogram();
        Ok(TrialResult {
            tx: out,
            rx: rx.meter.counts(),
            latency: Latency::of(h),
            latency_samples: h.len(),
            generator_drops: 0,
        })
    }
}
