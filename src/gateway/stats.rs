//! What the metrics endpoint and the final report read: per-worker
//! counters summed on read, port statistics, control-plane status.
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::control::ControlStatus;
use crate::dpdk::{port_stats, Mempool, PortStats};
use crate::ops::{HistogramSnapshot, MetricsSnapshot, WorkerStats as OpsWorkerStats};
use crate::pipeline::worker::WorkerStats;
use crate::pipeline::{CounterSnapshot, Counters, DropReason, SlowKind};

/// Handles to every counter of a running gateway.
pub struct Shared {
    pub underlay_port: u16,
    pub access_port: u16,
    pub status: Arc<ControlStatus>,
    pub pool: Arc<Mempool>,
    /// One per worker, then the slow path's.
    pub counters: Vec<Arc<Counters>>,
    pub workers: Vec<Arc<WorkerStats>>,
    /// Resolved neighbours `[underlay, access]`, kept by the slow path.
    pub neighbors: Arc<[AtomicU64; 2]>,
    /// The ports' statistics as last served `[underlay, access]`: kept
    /// when a read fails, and never served lower.
    ports: Mutex<[PortStats; 2]>,
}

impl Shared {
    pub fn new(
        underlay_port: u16,
        access_port: u16,
        status: Arc<ControlStatus>,
        pool: Arc<Mempool>,
    ) -> Shared {
        Shared {
            underlay_port,
            access_port,
            status,
            pool,
            counters: Vec::new(),
            workers: Vec::new(),
            neighbors: Arc::new([AtomicU64::new(0), AtomicU64::new(0)]),
            ports: Mutex::new([PortStats::default(); 2]),
        }
    }

    /// Both ports' statistics, read now, never below what was served
    /// before (`merge_port_stats`).
    fn ports(&self) -> [PortStats; 2] {
        let fresh = [port_stats(self.underlay_port), port_stats(self.access_port)];
        let mut last = self.ports.lock().unwrap_or_else(|p| p.into_inner());
        for (l, f) in last.iter_mut().zip(fresh) {
            *l = merge_port_stats(*l, f);
        }
        *last
    }

    pub fn totals(&self) -> CounterSnapshot {
        CounterSnapshot::sum(self.counters.iter().map(|c| &**c))
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let t = self.totals();
        let data_plane = MetricsSnapshot {
            ports: self.ports(),
            encap_packets: t.encap,
            routed_packets: t.routed,
            decap_packets: t.decap,
            slowpath: SlowKind::ALL
                .iter()
                .map(|k| (k.name(), t.slowpath_count(*k)))
                .collect(),
            drops: DropReason::ALL
                .iter()
                .map(|r| (r.name(), t.drop_count(*r)))
                .collect(),
            neighbors: [
                self.neighbors[0].load(Relaxed),
                self.neighbors[1].load(Relaxed),
            ],
            workers: self
                .workers
                .iter()
                .map(|w| OpsWorkerStats {
                    packets: w.packets.load(Relaxed),
                    busy_polls: w.busy_polls.load(Relaxed),
                    idle_polls: w.idle_polls.load(Relaxed),
                })
                .collect(),
            mbufs: u64::from(self.pool.capacity()),
            mbufs_in_use: u64::from(self.pool.in_use()),
            ..MetricsSnapshot::default()
        };
        with_control(&self.status, data_plane)
    }
}

/// `/metrics` before the data plane runs: the control plane's figures,
/// the data plane's at zero.
pub fn control_snapshot(status: &ControlStatus) -> MetricsSnapshot {
    let idle = MetricsSnapshot {
        control_only: true,
        ..MetricsSnapshot::default()
    };
    with_control(status, idle)
}

/// `/metrics` once the data plane has stopped: its last figures (`last`,
/// read after the workers were joined, so final) beside the control
/// plane's live ones. Counters never go back to zero while the process
/// lives.
pub fn stopped_snapshot(last: &MetricsSnapshot, status: &ControlStatus) -> MetricsSnapshot {
    let stopped = MetricsSnapshot {
        workers: Vec::new(),
        control_only: true,
        ..last.clone()
    };
    with_control(status, stopped)
}

/// What a port's statistics are served as: a failed read (`None`) keeps
/// the last figures, and a read never lowers a counter.
fn merge_port_stats(last: PortStats, fresh: Option<PortStats>) -> PortStats {
    fresh.map_or(last, |f| f.at_least(last))
}

/// `base` (the data plane's fields) with the control plane's, read now.
fn with_control(status: &ControlStatus, base: MetricsSnapshot) -> MetricsSnapshot {
    let lat = status.latency();
    MetricsSnapshot {
        leases: status.leases(),
        control_to_dataplane: HistogramSnapshot {
            upper_bounds: lat.buckets.iter().map(|b| b.0).collect(),
            cumulative_counts: lat.buckets.iter().map(|b| b.1).collect(),
            sum: lat.sum_seconds,
            count: lat.count,
        },
        etcd_connected: status.etcd_connected(),
        etcd_revision: status.revision(),
        etcd_last_event_age_seconds: status.event_age_or_uptime().as_secs_f64(),
        etcd_invalid_entries_total: status.invalid_entries_total(),
        etcd_ignored_leases_total: status.ignored_non_vxlan_total(),
        own_lease_expiry_seconds: status.own_lease_expiry_seconds().unwrap_or(0.0),
        leases_listed: status.leases_listed(),
        ..base
    }
}

/// The counters printed when vxgate stops.
/// `name=count` of the non-zero counts, or `none`.
fn nonzero(counts: &[(&str, u64)]) -> String {
    let shown: Vec<String> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k}={n}"))
        .collect();
    if shown.is_empty() {
        "none".to_string()
    } else {
        shown.join(" ")
    }
}

pub fn final_report(s: &MetricsSnapshot, underlay: &str, access: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "vxgate: final counters");
    for (label, name, p) in [
        ("underlay", underlay, &s.ports[0]),
        ("access", access, &s.ports[1]),
    ] {
        let _ = writeln!(
            o,
            "  port {label:<8} {name:<16} rx {:>12} tx {:>12} rx_missed {:>8} errors {:>6}",
            p.rx_packets,
            p.tx_packets,
            p.rx_missed,
            p.rx_errors + p.tx_errors
        );
    }
    let _ = write!(o, "  encap {} decap {}", s.encap_packets, s.decap_packets);
    // DirectRouting's plain forwarding, when there was any.
    if s.routed_packets > 0 {
        let _ = write!(o, " routed {}", s.routed_packets);
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "  slowpath {}", nonzero(&s.slowpath));
    let _ = writeln!(o, "  drops {}", nonzero(&s.drops));
    let _ = writeln!(
        o,
        "  leases {} neighbors underlay={} access={}",
        s.leases, s.neighbors[0], s.neighbors[1]
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed read (ethdev hands back zeros with an error) keeps the
    /// last figures; a lower figure (a driver's counter read while it is
    /// being reset) never replaces a higher one: Prometheus sees no reset.
    #[test]
    fn port_counters_served_never_go_back() {
        let s = |rx, missed| PortStats {
            rx_packets: rx,
            rx_missed: missed,
            ..PortStats::default()
        };
        let last = merge_port_stats(PortStats::default(), Some(s(100, 7)));
        assert_eq!(last, s(100, 7));
        assert_eq!(merge_port_stats(last, None), s(100, 7));
        assert_eq!(merge_port_stats(last, Some(s(0, 0))), s(100, 7));
        assert_eq!(merge_port_stats(last, Some(s(150, 3))), s(150, 7));
    }

    #[test]
    fn final_report_names_only_what_happened() {
        let idle = final_report(&MetricsSnapshot::default(), "u0", "a0");
        assert!(idle.contains("  slowpath none\n  drops none\n"), "{idle}");
        let busy = MetricsSnapshot {
            encap_packets: 7,
            slowpath: vec![("arp", 3), ("icmp", 0), ("fragment", 1)],
            drops: vec![("no_route", 2), ("tx_full", 0)],
            ..Default::default()
        };
        let r = final_report(&busy, "u0", "a0");
        assert!(r.contains("  encap 7 decap 0\n"), "{r}");
        let routed = MetricsSnapshot {
            routed_packets: 4,
            ..busy.clone()
        };
        let r = final_report(&routed, "u0", "a0");
        assert!(r.contains("  encap 7 decap 0 routed 4\n"), "{r}");
        assert!(r.contains("  slowpath arp=3 fragment=1\n"), "{r}");
        assert!(r.contains("  drops no_route=2\n"), "{r}");
    }

    #[test]
    fn once_stopped_the_data_planes_last_figures_stay_and_the_control_planes_go_on() {
        let last = MetricsSnapshot {
            encap_packets: 7,
            decap_packets: 5,
            drops: vec![("no_route", 2)],
            leases: 3,
            neighbors: [1, 4],
            workers: vec![OpsWorkerStats::default()],
            ..Default::default()
        };
        let status = ControlStatus::new();
        let before = stopped_snapshot(&last, &status);
        status.set_connected(true);
        status.set_revision(42);
        status.set_leases(2);
        let after = stopped_snapshot(&last, &status);
        for s in [&before, &after] {
            assert!(s.control_only, "no workers run: not ready");
            assert!(s.workers.is_empty(), "no worker to name");
            assert_eq!(
                (s.encap_packets, s.decap_packets, s.neighbors),
                (7, 5, [1, 4])
            );
            assert_eq!(s.drops, [("no_route", 2)]);
        }
        // The leases are the control plane's figure: live, not frozen.
        assert_eq!(
            (before.etcd_connected, before.etcd_revision, before.leases),
            (false, 0, 0)
        );
        assert_eq!(
            (after.etcd_connected, after.etcd_revision, after.leases),
            (true, 42, 2)
        );
    }
}
