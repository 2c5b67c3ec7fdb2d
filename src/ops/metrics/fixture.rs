//! Snapshots and helpers shared by the metrics tests.
use super::{HistogramSnapshot, MetricsSnapshot, PortStats, WorkerStats};

/// A snapshot with a distinct, non-zero value in every field.
pub(super) fn busy_snapshot() -> MetricsSnapshot {
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

pub(super) fn sample_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}
