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
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// Port labels, indexed like [`MetricsSnapshot::ports`] (and `config::Side::index`).
pub const PORT_LABELS: [&str; 2] = ["underlay", "access"];

/// Slow-path kinds, always exported (0 when absent from the snapshot).
pub const SLOWPATH_KINDS: [&str; 3] = ["arp", "icmp", "fragment"];

/// Drop reasons, always exported (0 when absent from the snapshot).
pub const DROP_REASONS: [&str; 16] = [
    "truncated",
    "bad_ipv4",
    "bad_checksum",
    "outer_fragment",
    "not_for_us",
    "bad_vxlan_flags",
    "unknown_vni",
    "unknown_vtep",
    "spoofed_inner_mac",
    "wrong_inner_dst_mac",
    "not_ipv4",
    "ttl_expired",
    "no_route",
    "no_neighbor",
    "mtu_exceeded",
    "tx_full",
];

/// Counters of one DPDK port, as the port reports them.
pub use crate::dpdk::PortStats;

/// Counters of one worker lcore.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WorkerStats {
    pub packets: u64,
    /// Polls that returned at least one packet.
    pub busy_polls: u64,
    pub idle_polls: u64,
}

/// A histogram as Prometheus wants it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramSnapshot {
    /// Finite, ascending upper bounds in seconds; `+Inf` is implicit.
    pub upper_bounds: Vec<f64>,
    /// Observations `<=` each bound (cumulative), same length.
    pub cumulative_counts: Vec<u64>,
    /// Sum of all observations in seconds.
    pub sum: f64,
    /// All observations (the `+Inf` bucket).
    pub count: u64,
}

/// Everything `/metrics` shows, read at scrape time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// `[underlay, access]`, see [`PORT_LABELS`].
    pub ports: [PortStats; 2],
    pub encap_packets: u64,
    pub decap_packets: u64,
    /// Forwarded as plain IPv4 by DirectRouting, both ways.
    pub routed_packets: u64,
    /// `(kind, packets)`; every kind of [`SLOWPATH_KINDS`] is exported.
    pub slowpath: Vec<(&'static str, u64)>,
    /// `(reason, packets)`; every reason of [`DROP_REASONS`] is exported,
    /// and a reason not in that list is exported too rather than hidden.
    pub drops: Vec<(&'static str, u64)>,
    /// Remote leases installed in the tables.
    pub leases: u64,
    /// Resolved neighbours per port, `[underlay, access]`.
    pub neighbors: [u64; 2],
    pub etcd_connected: bool,
    pub etcd_revision: i64,
    pub etcd_last_event_age_seconds: f64,
    pub etcd_invalid_entries_total: u64,
    /// Leases in etcd whose BackendType is not `vxlan`, ignored.
    pub etcd_ignored_leases_total: u64,
    /// Seconds until the own lease expires (0 while none is held).
    pub own_lease_expiry_seconds: f64,
    pub control_to_dataplane: HistogramSnapshot,
    /// Indexed by worker number.
    pub workers: Vec<WorkerStats>,
    /// The packet pool's mbufs (`--mbufs`) and how many are out of it
    /// (in rings, queues, per-lcore caches): a leak or a pool running low
    /// shows while vxgate runs.
    pub mbufs: u64,
    pub mbufs_in_use: u64,
    /// No data plane runs (vxgate is still starting: waiting for etcd,
    /// EAL, ports, the lease; or it has stopped). Every family of the
    /// contract is still exported (zeros while starting, the last figures
    /// once stopped: a scraper never sees a name missing); only the
    /// per-worker families, which have no workers to name, are left out.
    pub control_only: bool,
    /// A full list of etcd's leases has reached the tables (at start the
    /// data plane runs while the first one, up to a second for 100 000
    /// leases, is still being applied).
    pub leases_listed: bool,
}

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

/// The exposition formats `/metrics` speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExpositionFormat {
    /// Prometheus text format 0.0.4: what scrapers get unless they ask for
    /// OpenMetrics (curl, `*/*`, `text/plain`, no `Accept`).
    #[default]
    Text,
    /// OpenMetrics 1.0.0 text (ends with `# EOF`).
    OpenMetrics,
}

/// Content-Type of [`ExpositionFormat::Text`].
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content-Type of [`ExpositionFormat::OpenMetrics`].
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl ExpositionFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ExpositionFormat::Text => TEXT_CONTENT_TYPE,
            ExpositionFormat::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }

    /// Picks the format for a request's `Accept` header value (`None` when
    /// the request has none), like client_golang's `NegotiateIncludingOpenMetrics`:
    /// of the media ranges we can serve, `application/openmetrics-text`
    /// (version absent, `1.0.0` or `0.0.1`) and `text/plain` (version
    /// absent or `0.0.4`), the one with the highest `q` wins, the earlier
    /// one on a tie; ranges with `q=0` or an unparsable `q` are refused.
    /// Anything else, wildcards included, gets [`ExpositionFormat::Text`].
    pub fn negotiate(accept: Option<&str>) -> ExpositionFormat {
        let mut best: Option<(f64, ExpositionFormat)> = None;
        for range in accept.unwrap_or("").split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut version = None;
            let mut q = 1.0;
            for param in parts {
                let Some((key, value)) = param.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "version" => version = Some(value.to_owned()),
                    "q" => q = value.parse::<f64>().unwrap_or(0.0),
                    _ => {}
                }
            }
            let format = match (media.as_str(), version.as_deref()) {
                ("application/openmetrics-text", None | Some("1.0.0" | "0.0.1")) => {
                    ExpositionFormat::OpenMetrics
                }
                ("text/plain", None | Some("0.0.4")) => ExpositionFormat::Text,
                _ => continue,
            };
            if q.is_nan() || q <= 0.0 || best.is_some_and(|(b, _)| b >= q) {
                continue;
            }
            best = Some((q, format));
        }
        best.map_or(ExpositionFormat::Text, |(_, f)| f)
    }
}

/// Encodes one snapshot in `format`.
pub fn encode(snapshot: &MetricsSnapshot, format: ExpositionFormat) -> Result<String, fmt::Error> {
    let om = encode_openmetrics(snapshot)?;
    Ok(match format {
        ExpositionFormat::OpenMetrics => om,
        ExpositionFormat::Text => openmetrics_to_text(&om),
    })
}

/// Encodes one snapshot in the OpenMetrics text format (ends with `# EOF`).
pub fn encode_openmetrics(snapshot: &MetricsSnapshot) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Fixed(Arc::new(snapshot.clone()))));
    let mut out = String::with_capacity(8 * 1024);
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(spell_infinities(out))
}

/// prometheus-client formats floats with dtoa, which writes `inf` and
/// `-inf`; both text formats spell them `+Inf` and `-Inf` (a reservation's
/// `vxgate_own_lease_expiry_seconds` is `+Inf`). Only sample values are
/// touched: the value is a sample line's last field (no timestamps or
/// exemplars are written). `NaN` is already spelled right.
fn spell_infinities(om: String) -> String {
    if !om.contains("inf\n") {
        return om;
    }
    let mut out = String::with_capacity(om.len() + 16);
    for line in om.lines() {
        let fixed = (!line.starts_with('#'))
            .then(|| line.rsplit_once(' '))
            .flatten()
            .and_then(|(sample, value)| match value {
                "inf" => Some((sample, "+Inf")),
                "-inf" => Some((sample, "-Inf")),
                _ => None,
            });
        match fixed {
            Some((sample, value)) => {
                out.push_str(sample);
                out.push(' ');
                out.push_str(value);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Rewrites OpenMetrics text as written by prometheus-client into the
/// Prometheus text format 0.0.4. Sample lines are kept byte for byte; only
/// the metadata differs:
/// - a counter family is named with its `_total` suffix in `# HELP` and
///   `# TYPE` (OpenMetrics names the family without it);
/// - `unknown` is spelled `untyped`;
/// - `# UNIT` lines, `# EOF` and `_created` samples are dropped.
///
/// prometheus-client writes HELP text unescaped, and ours has no `\` or
/// line break, so HELP needs no re-escaping. No exemplars are encoded
/// (0.0.4 has none).
pub fn openmetrics_to_text(om: &str) -> String {
    let types: HashMap<&str, &str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split_once(' '))
        .collect();
    let family_name = |name: &str| -> String {
        match types.get(name) {
            Some(&"counter") => format!("{name}_total"),
            _ => name.to_owned(),
        }
    };
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push_str("# HELP ");
            out.push_str(&family_name(name));
            out.push(' ');
            out.push_str(help);
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            out.push_str("# TYPE ");
            out.push_str(&family_name(name));
            out.push(' ');
            out.push_str(if kind == "unknown" { "untyped" } else { kind });
        } else if line.starts_with('#') || line.is_empty() {
            // `# EOF`, `# UNIT`, anything else OpenMetrics-only.
            continue;
        } else {
            let name = line.split(['{', ' ']).next().unwrap_or(line);
            let created_of = name
                .strip_suffix("_created")
                .and_then(|base| types.get(base));
            if matches!(created_of, Some(&("counter" | "histogram"))) {
                continue;
            }
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[derive(Debug)]
struct Fixed(Arc<MetricsSnapshot>);

impl Collector for Fixed {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), fmt::Error> {
        encode_snapshot(&self.0, &mut enc)
    }
}

// prometheus-client appends `_total` to counter names, so counters are
// described without it: `vxgate_encap_packets` is exported as
// `vxgate_encap_packets_total`.
fn counter(enc: &mut MetricEncoder, v: u64) -> Result<(), fmt::Error> {
    enc.encode_counter::<(), _, u64>(&v, None)
}

fn gauge_u64(enc: &mut MetricEncoder, v: u64) -> Result<(), fmt::Error> {
    enc.encode_gauge(&i64::try_from(v).unwrap_or(i64::MAX))
}

fn encode_snapshot(s: &MetricsSnapshot, enc: &mut DescriptorEncoder) -> Result<(), fmt::Error> {
    encode_data_plane(s, enc)?;
    encode_control_plane(s, enc)?;
    if !s.control_only {
        encode_workers(s, enc)?;
    }
    Ok(())
}

/// Ports, packets, drops and tables.
fn encode_data_plane(s: &MetricsSnapshot, enc: &mut DescriptorEncoder) -> Result<(), fmt::Error> {
    type PortField = fn(&PortStats) -> u64;
    let port_counters: [(&str, &str, PortField); 6] = [
        (
            "vxgate_port_rx_packets",
            "Packets received on the port.",
            |p| p.rx_packets,
        ),
        ("vxgate_port_tx_packets", "Packets sent on the port.", |p| {
            p.tx_packets
        }),
        ("vxgate_port_rx_bytes", "Bytes received on the port.", |p| {
            p.rx_bytes
        }),
        ("vxgate_port_tx_bytes", "Bytes sent on the port.", |p| {
            p.tx_bytes
        }),
        (
            "vxgate_port_rx_missed",
            "Packets the NIC dropped because the RX queues were full.",
            |p| p.rx_missed,
        ),
        (
            "vxgate_port_errors",
            "RX and TX errors reported by the NIC.",
            |p| p.rx_errors + p.tx_errors,
        ),
    ];
    for (name, help, field) in port_counters {
        let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (label, stats) in PORT_LABELS.iter().zip(&s.ports) {
            counter(&mut m.encode_family(&[("port", *label)])?, field(stats))?;
        }
    }

    counter(
        &mut enc.encode_descriptor(
            "vxgate_encap_packets",
            "Packets encapsulated into VXLAN (access to underlay).",
            None,
            MetricType::Counter,
        )?,
        s.encap_packets,
    )?;
    counter(
        &mut enc.encode_descriptor(
            "vxgate_decap_packets",
            "VXLAN packets decapsulated (underlay to access or back into the overlay).",
            None,
            MetricType::Counter,
        )?,
        s.decap_packets,
    )?;
    counter(
        &mut enc.encode_descriptor(
            "vxgate_routed_packets",
            "Packets forwarded as plain IPv4 by DirectRouting (to or from a node on the underlay's link), without VXLAN.",
            None,
            MetricType::Counter,
        )?,
        s.routed_packets,
    )?;

    labelled_counters(
        enc,
        "vxgate_slowpath_packets",
        "Packets handled by the slow path, by kind.",
        "kind",
        &SLOWPATH_KINDS,
        &s.slowpath,
    )?;
    labelled_counters(
        enc,
        "vxgate_drops",
        "Packets dropped, by reason (each drop counted once).",
        "reason",
        &DROP_REASONS,
        &s.drops,
    )?;

    gauge_u64(
        &mut enc.encode_descriptor(
            "vxgate_leases",
            "Remote flannel leases installed in the data plane.",
            None,
            MetricType::Gauge,
        )?,
        s.leases,
    )?;
    let mut m = enc.encode_descriptor(
        "vxgate_neighbors",
        "Resolved neighbours per port.",
        None,
        MetricType::Gauge,
    )?;
    for (label, n) in PORT_LABELS.iter().zip(s.neighbors) {
        gauge_u64(&mut m.encode_family(&[("port", *label)])?, n)?;
    }
    Ok(())
}

/// etcd, our lease and how fast its events reach the tables.
fn encode_control_plane(
    s: &MetricsSnapshot,
    enc: &mut DescriptorEncoder,
) -> Result<(), fmt::Error> {
    enc.encode_descriptor(
        "vxgate_etcd_connected",
        "1 while the etcd watch is established, else 0.",
        None,
        MetricType::Gauge,
    )?
    .encode_gauge(&i64::from(s.etcd_connected))?;
    enc.encode_descriptor(
        "vxgate_etcd_revision",
        "Last etcd revision applied to the data plane.",
        None,
        MetricType::Gauge,
    )?
    .encode_gauge(&s.etcd_revision)?;
    enc.encode_descriptor(
        "vxgate_etcd_last_event_age_seconds",
        "Seconds since etcd last reported on the leases (any watch event or list).",
        None,
        MetricType::Gauge,
    )?
    .encode_gauge(&s.etcd_last_event_age_seconds)?;
    counter(
        &mut enc.encode_descriptor(
            "vxgate_etcd_invalid_entries",
            "Etcd keys and values skipped: malformed, of another length, a duplicate subnet, or of another backend (those also in vxgate_etcd_ignored_leases_total).",
            None,
            MetricType::Counter,
        )?,
        s.etcd_invalid_entries_total,
    )?;
    counter(
        &mut enc.encode_descriptor(
            "vxgate_etcd_ignored_leases",
            "Leases in etcd whose BackendType is not vxlan, ignored.",
            None,
            MetricType::Counter,
        )?,
        s.etcd_ignored_leases_total,
    )?;
    enc.encode_descriptor(
        "vxgate_own_lease_expiry_seconds",
        "Seconds until the gateway's own subnet lease expires (0 while none is held, +Inf for a reservation).",
        None,
        MetricType::Gauge,
    )?
    .encode_gauge(&s.own_lease_expiry_seconds)?;
    let buckets = histogram_buckets(&s.control_to_dataplane);
    enc.encode_descriptor(
        "vxgate_control_to_dataplane_seconds",
        "Time from receiving an etcd event to the data plane tables showing it.",
        None,
        MetricType::Histogram,
    )?
    .encode_histogram::<()>(
        s.control_to_dataplane.sum,
        s.control_to_dataplane.count,
        &buckets,
        None,
    )?;
    Ok(())
}

/// Per-worker counters: while the data plane runs.
fn encode_workers(s: &MetricsSnapshot, enc: &mut DescriptorEncoder) -> Result<(), fmt::Error> {
    gauge_u64(
        &mut enc.encode_descriptor(
            "vxgate_mbufs",
            "Mbufs in the packet pool (--mbufs).",
            None,
            MetricType::Gauge,
        )?,
        s.mbufs,
    )?;
    gauge_u64(
        &mut enc.encode_descriptor(
            "vxgate_mbufs_in_use",
            "Mbufs out of the pool: in RX and TX rings, ARP hold queues, per-lcore caches. Back at its idle level when traffic stops; near vxgate_mbufs means the pool runs low.",
            None,
            MetricType::Gauge,
        )?,
        s.mbufs_in_use,
    )?;
    let names: Vec<String> = (0..s.workers.len()).map(|i| i.to_string()).collect();
    let mut m = enc.encode_descriptor(
        "vxgate_worker_packets",
        "Packets received by each worker lcore.",
        None,
        MetricType::Counter,
    )?;
    for (name, w) in names.iter().zip(&s.workers) {
        counter(
            &mut m.encode_family(&[("worker", name.as_str())])?,
            w.packets,
        )?;
    }
    let mut m = enc.encode_descriptor(
        "vxgate_worker_polls",
        "RX polls of each worker lcore, busy (got packets) or idle.",
        None,
        MetricType::Counter,
    )?;
    for (name, w) in names.iter().zip(&s.workers) {
        for (state, v) in [("busy", w.busy_polls), ("idle", w.idle_polls)] {
            counter(
                &mut m.encode_family(&[("worker", name.as_str()), ("state", state)])?,
                v,
            )?;
        }
    }
    Ok(())
}

/// A counter family whose label values are all emitted, known ones first.
fn labelled_counters(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    known: &[&'static str],
    values: &[(&'static str, u64)],
) -> Result<(), fmt::Error> {
    let sum_of = |key: &str| -> u64 {
        values
            .iter()
            .filter(|(k, _)| *k == key)
            .fold(0u64, |acc, (_, v)| acc.saturating_add(*v))
    };
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for key in known {
        counter(&mut m.encode_family(&[(label, *key)])?, sum_of(key))?;
    }
    let mut extra: Vec<&'static str> = values
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| !known.contains(k))
        .collect();
    extra.sort_unstable();
    extra.dedup();
    for key in extra {
        counter(&mut m.encode_family(&[(label, key)])?, sum_of(key))?;
    }
    Ok(())
}

/// prometheus-client takes per-bucket (not cumulative) counts and treats
/// `f64::MAX` as `+Inf`.
fn histogram_buckets(h: &HistogramSnapshot) -> Vec<(f64, u64)> {
    let mut out = Vec::with_capacity(h.upper_bounds.len() + 1);
    let mut prev = 0u64;
    for (bound, cum) in h.upper_bounds.iter().zip(&h.cumulative_counts) {
        if !bound.is_finite() {
            continue;
        }
        let cum = (*cum).max(prev).min(h.count);
        out.push((*bound, cum - prev));
        prev = cum;
    }
    out.push((f64::MAX, h.count.saturating_sub(prev)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_get_total_suffix_once() {
        for format in [ExpositionFormat::OpenMetrics, ExpositionFormat::Text] {
            let text = encode(&MetricsSnapshot::default(), format).unwrap();
            assert!(text.contains("\nvxgate_encap_packets_total 0\n"), "{text}");
            assert!(
                text.contains("\nvxgate_etcd_invalid_entries_total 0\n"),
                "{text}"
            );
            assert!(
                text.contains("\nvxgate_etcd_ignored_leases_total 0\n"),
                "{text}"
            );
            assert!(!text.contains("_total_total"), "{text}");
            for reason in DROP_REASONS {
                assert!(text.contains(&format!("vxgate_drops_total{{reason=\"{reason}\"}} 0\n")));
            }
        }
    }

    #[test]
    fn histogram_buckets_are_per_bucket_and_end_in_inf() {
        let h = HistogramSnapshot {
            upper_bounds: vec![0.001, 0.01],
            cumulative_counts: vec![3, 5],
            sum: 0.02,
            count: 6,
        };
        assert_eq!(
            histogram_buckets(&h),
            vec![(0.001, 3), (0.01, 2), (f64::MAX, 1)]
        );
    }

    #[test]
    fn unknown_reasons_are_not_hidden() {
        let snap = MetricsSnapshot {
            drops: vec![("tx_full", 2), ("tx_full", 3), ("made_up", 1)],
            ..Default::default()
        };
        let text = encode(&snap, ExpositionFormat::Text).unwrap();
        assert!(
            text.contains("vxgate_drops_total{reason=\"tx_full\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains("vxgate_drops_total{reason=\"made_up\"} 1\n"),
            "{text}"
        );
    }

    /// A snapshot with a distinct, non-zero value in every field.
    fn busy_snapshot() -> MetricsSnapshot {
        let port = |b: u64| PortStats {
            rx_packets: b + 1,
            tx_packets: b + 2,
            rx_bytes: b + 3,
            tx_bytes: b + 4,
            rx_missed: b + 5,
            rx_errors: b + 6,
            tx_errors: 1,
            rx_nombuf: 9,
        };
        MetricsSnapshot {
            ports: [port(100), port(200)],
            encap_packets: 301,
            decap_packets: 302,
            routed_packets: 303,
            slowpath: vec![("arp", 11), ("icmp", 12), ("fragment", 13)],
            drops: vec![("tx_full", 7), ("no_route", 8)],
            leases: 42,
            neighbors: [7, 9],
            etcd_connected: true,
            etcd_revision: 123_456,
            etcd_last_event_age_seconds: 2.5,
            etcd_invalid_entries_total: 3,
            etcd_ignored_leases_total: 4,
            own_lease_expiry_seconds: 86_000.25,
            control_to_dataplane: HistogramSnapshot {
                upper_bounds: crate::control::LATENCY_BUCKETS_S.to_vec(),
                cumulative_counts: (1..=12).collect(),
                sum: 0.0042,
                count: 13,
            },
            workers: vec![
                WorkerStats {
                    packets: 500,
                    busy_polls: 50,
                    idle_polls: 5000,
                },
                WorkerStats {
                    packets: 600,
                    busy_polls: 60,
                    idle_polls: 6000,
                },
            ],
            mbufs: 65_535,
            mbufs_in_use: 4_200,
            control_only: false,
            leases_listed: true,
        }
    }

    #[test]
    fn a_reservation_never_expires_and_scrapes_as_plus_inf() {
        let snap = MetricsSnapshot {
            own_lease_expiry_seconds: f64::INFINITY,
            etcd_last_event_age_seconds: f64::NEG_INFINITY,
            ..busy_snapshot()
        };
        for format in [ExpositionFormat::OpenMetrics, ExpositionFormat::Text] {
            let text = encode(&snap, format).unwrap();
            assert!(
                text.lines()
                    .any(|l| l == "vxgate_own_lease_expiry_seconds +Inf"),
                "{text}"
            );
            assert!(
                text.lines()
                    .any(|l| l == "vxgate_etcd_last_event_age_seconds -Inf"),
                "{text}"
            );
            assert!(
                !text.contains(" inf\n") && !text.contains(" -inf\n"),
                "{text}"
            );
            // Everything else is untouched.
            let plain = encode(&busy_snapshot(), format).unwrap();
            assert_eq!(text.lines().count(), plain.lines().count(), "{text}");
        }
        assert_eq!(spell_infinities("a inf\n".into()), "a +Inf\n");
        assert_eq!(spell_infinities("# HELP x inf\n".into()), "# HELP x inf\n");
        assert_eq!(
            spell_infinities("x{l=\"inf\"} 1\n".into()),
            "x{l=\"inf\"} 1\n"
        );
    }

    #[test]
    fn without_a_data_plane_every_contract_family_is_exported_but_the_workers() {
        let starting = MetricsSnapshot {
            control_only: true,
            ..MetricsSnapshot::default()
        };
        let running = MetricsSnapshot {
            workers: vec![WorkerStats::default()],
            ..MetricsSnapshot::default()
        };
        let families = |snap: &MetricsSnapshot, format| -> Vec<String> {
            let text = encode(snap, format).unwrap();
            let mut names: Vec<String> = sample_lines(&text)
                .iter()
                .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
                .collect();
            names.dedup();
            names
        };
        for format in [ExpositionFormat::OpenMetrics, ExpositionFormat::Text] {
            let before = families(&starting, format);
            let during = families(&running, format);
            // The running families (held to SPEC's names by
            // `config_metrics`), all but the workers' and the pool's
            // already while starting.
            let (workers, others): (Vec<String>, Vec<String>) = during
                .into_iter()
                .partition(|n| n.starts_with("vxgate_worker_") || n.starts_with("vxgate_mbufs"));
            assert_eq!(before, others, "{format:?}");
            assert_eq!(
                workers,
                [
                    "vxgate_mbufs",
                    "vxgate_mbufs_in_use",
                    "vxgate_worker_packets_total",
                    "vxgate_worker_polls_total"
                ],
                "{format:?}"
            );
            let text = encode(&starting, format).unwrap();
            assert!(text.contains("\nvxgate_etcd_connected 0\n"), "{text}");
            assert!(
                text.contains("vxgate_drops_total{reason=\"tx_full\"} 0\n"),
                "{text}"
            );
        }
    }

    #[test]
    fn the_exported_drop_reasons_and_kinds_are_the_data_planes() {
        use crate::pipeline::{DropReason, SlowKind};
        let reasons: Vec<&str> = DropReason::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(reasons, DROP_REASONS);
        let kinds: Vec<&str> = SlowKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(kinds, SLOWPATH_KINDS);
    }

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

    fn sample_lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn both_formats_have_the_same_samples() {
        let snap = busy_snapshot();
        let om = encode(&snap, ExpositionFormat::OpenMetrics).unwrap();
        let text = encode(&snap, ExpositionFormat::Text).unwrap();
        assert_eq!(sample_lines(&om), sample_lines(&text));
        assert_eq!(openmetrics_to_text(&om), text);
        for line in [
            "vxgate_port_errors_total{port=\"access\"} 207",
            "vxgate_etcd_ignored_leases_total 4",
            "vxgate_etcd_last_event_age_seconds 2.5",
            "vxgate_own_lease_expiry_seconds 86000.25",
            "vxgate_control_to_dataplane_seconds_bucket{le=\"1.0\"} 12",
            "vxgate_control_to_dataplane_seconds_bucket{le=\"+Inf\"} 13",
            "vxgate_control_to_dataplane_seconds_sum 0.0042",
            "vxgate_control_to_dataplane_seconds_count 13",
            "vxgate_worker_polls_total{worker=\"1\",state=\"idle\"} 6000",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
    }

    #[test]
    fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
        let om = encode(&busy_snapshot(), ExpositionFormat::OpenMetrics).unwrap();
        assert!(om.ends_with("\n# EOF\n"), "{om}");
        for line in [
            "# TYPE vxgate_encap_packets counter",
            "# TYPE vxgate_drops counter",
            "# TYPE vxgate_etcd_ignored_leases counter",
            "# TYPE vxgate_leases gauge",
            "# TYPE vxgate_control_to_dataplane_seconds histogram",
        ] {
            assert!(om.lines().any(|l| l == line), "{line} in:\n{om}");
        }
    }

    #[test]
    fn text_format_is_prometheus_0_0_4() {
        let text = encode(&busy_snapshot(), ExpositionFormat::Text).unwrap();
        assert!(!text.contains("# EOF"), "{text}");
        assert!(!text.contains("# UNIT"), "{text}");
        assert!(!text.contains("_created"), "{text}");
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{text}");
        for line in [
            "# HELP vxgate_encap_packets_total Packets encapsulated into VXLAN (access to underlay).",
            "# TYPE vxgate_encap_packets_total counter",
            "# TYPE vxgate_drops_total counter",
            "# HELP vxgate_etcd_ignored_leases_total Leases in etcd whose BackendType is not vxlan, ignored.",
            "# TYPE vxgate_etcd_ignored_leases_total counter",
            "# TYPE vxgate_port_rx_packets_total counter",
            "# TYPE vxgate_worker_polls_total counter",
            "# TYPE vxgate_leases gauge",
            "# TYPE vxgate_neighbors gauge",
            "# TYPE vxgate_etcd_last_event_age_seconds gauge",
            "# TYPE vxgate_control_to_dataplane_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }

        // Every sample belongs to the family announced just before it, by
        // 0.0.4's rules: a counter or gauge sample has the family's name, a
        // histogram's the name plus _bucket, _sum or _count. HELP comes
        // right before TYPE, with the same name.
        let mut family: Option<(&str, &str)> = None;
        let mut help: Option<&str> = None;
        let mut seen = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                help = Some(rest.split_once(' ').unwrap().0);
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert_eq!(help.take(), Some(name), "HELP before TYPE for {name}");
                assert!(seen.insert(name), "family {name} announced twice");
                family = Some((name, kind));
            } else {
                let sample = line.split(['{', ' ']).next().unwrap();
                let (name, kind) = family.unwrap_or_else(|| panic!("{line} before any TYPE"));
                let ok = match kind {
                    "counter" | "gauge" => sample == name,
                    "histogram" => ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| sample.strip_suffix(s) == Some(name)),
                    _ => false,
                };
                assert!(ok, "{line} under `# TYPE {name} {kind}`");
            }
        }
    }

    #[test]
    fn converter_drops_openmetrics_only_lines() {
        let om = "# HELP a_seconds A.\n# TYPE a_seconds counter\n# UNIT a_seconds seconds\n\
                  a_seconds_total{x=\"1\"} 1\na_seconds_created{x=\"1\"} 1.7e9\n\
                  # HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.5\n\
                  h_count 2\nh_created 1.7e9\n# HELP u U.\n# TYPE u unknown\nu 3\n\
                  # HELP g G.\n# TYPE g gauge\ng_created 4\n# EOF\n";
        assert_eq!(
            openmetrics_to_text(om),
            "# HELP a_seconds_total A.\n# TYPE a_seconds_total counter\n\
             a_seconds_total{x=\"1\"} 1\n\
             # HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.5\nh_count 2\n\
             # HELP u U.\n# TYPE u untyped\nu 3\n\
             # HELP g G.\n# TYPE g gauge\ng_created 4\n"
        );
        assert_eq!(openmetrics_to_text(""), "");
        assert_eq!(openmetrics_to_text("# EOF\n"), "");
    }

    #[test]
    fn negotiation() {
        use ExpositionFormat::{OpenMetrics, Text};
        for (accept, want) in [
            // Prometheus 2.x.
            (
                Some("application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
                OpenMetrics,
            ),
            // Prometheus 3.x.
            (
                Some("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"),
                OpenMetrics,
            ),
            (Some("application/openmetrics-text"), OpenMetrics),
            (Some("Application/OpenMetrics-Text ; Version=\"0.0.1\""), OpenMetrics),
            (Some("text/plain;version=0.0.4;q=0.5, application/openmetrics-text;q=0.6"), OpenMetrics),
            (None, Text),
            (Some(""), Text),
            (Some("*/*"), Text),
            (Some("text/plain"), Text),
            (Some("text/plain; version=0.0.4; charset=utf-8"), Text),
            (Some("text/html,application/xhtml+xml,*/*;q=0.8"), Text),
            (Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"), Text),
            // Preference and refusals.
            (Some("text/plain, application/openmetrics-text"), Text),
            (Some("text/plain;q=0.9, application/openmetrics-text;q=0.5"), Text),
            (Some("application/openmetrics-text;q=0"), Text),
            (Some("application/openmetrics-text;q=abc"), Text),
            (Some("application/openmetrics-text;q=NaN"), Text),
            (Some("application/openmetrics-text;version=2.0.0"), Text),
            // Odd input never panics.
            (Some(",,;;==;q=;version,application/openmetrics-text;;"), OpenMetrics),
            (Some("\u{fffd};q=\u{fffd}"), Text),
        ] {
            assert_eq!(ExpositionFormat::negotiate(accept), want, "{accept:?}");
        }
        assert_eq!(
            Text.content_type(),
            "text/plain; version=0.0.4; charset=utf-8"
        );
        assert_eq!(
            OpenMetrics.content_type(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
    }
}
