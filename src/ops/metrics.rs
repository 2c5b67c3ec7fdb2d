//! Prometheus metrics with SPEC's names, encoded from a snapshot on each
//! scrape. The data and control planes fill a [`MetricsSnapshot`] through
//! [`MetricsSource`]; nothing here depends on them.
use std::fmt;
use std::sync::Arc;

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

/// Upper bounds (seconds) for `vxgate_control_to_dataplane_seconds`: an
/// etcd event should reach the tables within a millisecond.
pub const CONTROL_TO_DATAPLANE_BOUNDS: [f64; 12] = [
    10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 100e-3, 1.0,
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

impl HistogramSnapshot {
    /// Buckets from an HDR histogram recorded in nanoseconds.
    pub fn from_hdr_nanos(h: &hdrhistogram::Histogram<u64>, bounds_s: &[f64]) -> Self {
        let mut bounds: Vec<f64> = bounds_s.iter().copied().filter(|b| b.is_finite()).collect();
        bounds.sort_by(f64::total_cmp);
        let cumulative_counts = bounds
            .iter()
            .map(|b| {
                let ns = (b * 1e9) as u64;
                h.iter_recorded()
                    .take_while(|v| v.value_iterated_to() <= ns)
                    .map(|v| v.count_at_value())
                    .sum()
            })
            .collect();
        HistogramSnapshot {
            upper_bounds: bounds,
            cumulative_counts,
            sum: h.mean() * h.len() as f64 / 1e9,
            count: h.len(),
        }
    }
}

/// Everything `/metrics` shows, read at scrape time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// `[underlay, access]`, see [`PORT_LABELS`].
    pub ports: [PortStats; 2],
    pub encap_packets: u64,
    pub decap_packets: u64,
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
    /// Seconds until the own lease expires (0 while none is held).
    pub own_lease_expiry_seconds: f64,
    pub control_to_dataplane: HistogramSnapshot,
    /// Indexed by worker number.
    pub workers: Vec<WorkerStats>,
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

/// Encodes one snapshot in the OpenMetrics text format (what Prometheus
/// scrapes; ends with `# EOF`).
pub fn encode(snapshot: &MetricsSnapshot) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Fixed(Arc::new(snapshot.clone()))));
    let mut out = String::with_capacity(8 * 1024);
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

/// Content-Type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

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
        "Seconds since the last etcd event was applied.",
        None,
        MetricType::Gauge,
    )?
    .encode_gauge(&s.etcd_last_event_age_seconds)?;
    counter(
        &mut enc.encode_descriptor(
            "vxgate_etcd_invalid_entries",
            "Malformed or unsupported etcd keys and values skipped.",
            None,
            MetricType::Counter,
        )?,
        s.etcd_invalid_entries_total,
    )?;
    enc.encode_descriptor(
        "vxgate_own_lease_expiry_seconds",
        "Seconds until the gateway's own subnet lease expires (0 while none is held).",
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
        let text = encode(&MetricsSnapshot::default()).unwrap();
        assert!(text.contains("\nvxgate_encap_packets_total 0\n"), "{text}");
        assert!(
            text.contains("\nvxgate_etcd_invalid_entries_total 0\n"),
            "{text}"
        );
        assert!(!text.contains("_total_total"), "{text}");
        assert!(text.ends_with("# EOF\n"));
        for reason in DROP_REASONS {
            assert!(text.contains(&format!("vxgate_drops_total{{reason=\"{reason}\"}} 0\n")));
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
    fn hdr_conversion() {
        let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        h.record(200_000).unwrap(); // 200 us
        h.record(2_000_000).unwrap(); // 2 ms
        let s = HistogramSnapshot::from_hdr_nanos(&h, &[0.001, 0.01]);
        assert_eq!(s.cumulative_counts, vec![1, 2]);
        assert_eq!(s.count, 2);
        assert!((s.sum - 0.0022).abs() < 1e-5, "{}", s.sum);
    }

    #[test]
    fn unknown_reasons_are_not_hidden() {
        let snap = MetricsSnapshot {
            drops: vec![("tx_full", 2), ("tx_full", 3), ("made_up", 1)],
            ..Default::default()
        };
        let text = encode(&snap).unwrap();
        assert!(
            text.contains("vxgate_drops_total{reason=\"tx_full\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains("vxgate_drops_total{reason=\"made_up\"} 1\n"),
            "{text}"
        );
    }
}
