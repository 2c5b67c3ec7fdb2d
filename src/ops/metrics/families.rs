//! The metric families with SPEC's names, their help text and their
//! labels, written into prometheus-client's encoder: the data plane's
//! (ports, packets, drops, tables), the control plane's (etcd, our lease,
//! event latency) and, while the data plane runs, the workers' and the
//! packet pool's.
use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder};
use prometheus_client::metrics::MetricType;

use super::snapshot::{
    HistogramSnapshot, MetricsSnapshot, PortStats, DROP_REASONS, PORT_LABELS, SLOWPATH_KINDS,
};

// prometheus-client appends `_total` to counter names, so counters are
// described without it: `vxgate_encap_packets` is exported as
// `vxgate_encap_packets_total`.
fn counter(enc: &mut MetricEncoder, v: u64) -> Result<(), fmt::Error> {
    enc.encode_counter::<(), _, u64>(&v, None)
}

fn gauge_u64(enc: &mut MetricEncoder, v: u64) -> Result<(), fmt::Error> {
    enc.encode_gauge(&i64::try_from(v).unwrap_or(i64::MAX))
}

pub(super) fn encode_snapshot(
    s: &MetricsSnapshot,
    enc: &mut DescriptorEncoder,
) -> Result<(), fmt::Error> {
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
    use crate::ops::metrics::fixture::sample_lines;
    use crate::ops::metrics::{encode, ExpositionFormat, WorkerStats};

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
}
