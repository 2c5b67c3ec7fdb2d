//! What `/metrics` shows, as the data and control planes fill it: one
//! [`MetricsSnapshot`] per scrape, and the label values (ports, slow-path
//! kinds, drop reasons) exported whether or not the snapshot has them.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exported_drop_reasons_and_kinds_are_the_data_planes() {
        use crate::pipeline::{DropReason, SlowKind};
        let reasons: Vec<&str> = DropReason::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(reasons, DROP_REASONS);
        let kinds: Vec<&str> = SlowKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(kinds, SLOWPATH_KINDS);
    }
}
