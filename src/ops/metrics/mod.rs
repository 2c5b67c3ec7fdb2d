//! Prometheus metrics with SPEC's names, encoded from a snapshot on each
//! scrape. The data and control planes fill a [`MetricsSnapshot`] through
//! [`MetricsSource`]; nothing here depends on them.
//!
//! Two exposition formats, chosen per request from its `Accept` header
//! ([`ExpositionFormat::negotiate`], as Prometheus' client_golang does):
//! OpenMetrics 1.0.0 when the scraper asks for it, else the Prometheus text
//! format 0.0.4. prometheus-client writes OpenMetrics; the 0.0.4 text is
//! derived from it ([`openmetrics_to_text`]), so both carry the same sample
//! lines.
//!
//! - `snapshot.rs`: what a scrape shows ([`MetricsSnapshot`]) and the
//!   label values always exported;
//! - `source.rs`: where a scrape gets it ([`MetricsSource`], and
//!   [`SwappableSource`] for the endpoint bound before the data plane runs);
//! - `exposition_format.rs`: the two formats, their Content-Types and the
//!   negotiation from `Accept`;
//! - `encode.rs`: a snapshot encoded in either format ([`encode`]);
//! - `families.rs`: the metric families with SPEC's names and their help;
//! - `text_format.rs`: the Prometheus text format 0.0.4 derived from
//!   OpenMetrics.
mod encode;
mod exposition_format;
mod families;
#[cfg(test)]
mod fixture;
mod snapshot;
mod source;
mod text_format;

pub use encode::{encode, encode_openmetrics};
pub use exposition_format::{ExpositionFormat, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};
pub use snapshot::{
    HistogramSnapshot, MetricsSnapshot, PortStats, WorkerStats, DROP_REASONS, PORT_LABELS,
    SLOWPATH_KINDS,
};
pub use source::{MetricsSource, SwappableSource};
pub use text_format::openmetrics_to_text;
