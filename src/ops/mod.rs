//! Metrics endpoint, logging and signals (non-worker threads).
#![deny(unsafe_code)]

pub mod http;
pub mod logging;
pub mod metrics;
pub mod output;
pub mod pause;
pub mod signals;

pub use http::{serve, serve_with, Limits, MetricsServer};
pub use logging::{LevelSource, LogControl, RateLimitedLog};
pub use metrics::{
    ExpositionFormat, HistogramSnapshot, MetricsSnapshot, MetricsSource, PortStats,
    SwappableSource, WorkerStats,
};
pub use output::{print_err, print_out};
pub use pause::{pause, pause_until};
pub use signals::SignalHandler;
