//! Control-plane state shared with the metrics thread.
//!
//! Everything the metrics thread reads is an atomic, except the latency
//! histogram, which sits behind a Mutex touched only by the control thread
//! (record) and the scrape (read); the data plane never sees it.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

/// Upper bounds (seconds) of the `vxgate_control_to_dataplane_seconds` buckets.
pub const LATENCY_BUCKETS_S: [f64; 12] = [
    0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 1.0,
];

const NO_EVENT: u64 = u64::MAX;
/// `own_lease_expiry_unix` for a reservation (never expires).
const NEVER: u64 = u64::MAX;

#[derive(Debug)]
pub struct ControlStatus {
    started: Instant,
    etcd_connected: AtomicBool,
    revision: AtomicI64,
    /// Micros since `started` of the last watch event received or list
    /// read (whether or not it changed anything).
    last_event_us: AtomicU64,
    invalid_entries_total: AtomicU64,
    ignored_non_vxlan_total: AtomicU64,
    resyncs_total: AtomicU64,
    compactions_total: AtomicU64,
    renew_failures_total: AtomicU64,
    auth_token_renewals_total: AtomicU64,
    data_replacements_total: AtomicU64,
    leases: AtomicU64,
    /// Unix seconds; 0 = no own lease, NEVER = reservation.
    own_lease_expiry_unix: AtomicU64,
    latency_sum_us: AtomicU64,
    latency_us: Mutex<Latency>,
}

/// Event latencies: the HDR histogram gives the quantiles; the exported
/// buckets are counted exactly as events arrive (the histogram's own
/// buckets would count a value a little above a bound, 1.0004 s in
/// `le="1.0"`, as at most the bound).
#[derive(Debug)]
struct Latency {
    hist: Histogram<u64>,
    /// Events of at most `LATENCY_BUCKETS_S[i]` and above the bound before.
    in_bucket: [u64; LATENCY_BUCKETS_S.len()],
}

/// A snapshot of the event -> data-plane latency histogram.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub sum_seconds: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// (upper bound in seconds, cumulative count) for each of LATENCY_BUCKETS_S.
    pub buckets: Vec<(f64, u64)>,
}

impl Default for ControlStatus {
    fn default() -> Self {
        Self::new()
    }
}

impl ControlStatus {
    pub fn new() -> Self {
        // 1 us .. 60 s at 3 significant digits; bounds are constants, so
        // creation cannot fail, but fall back to an auto-resizing one anyway.
        let h = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|_| {
            let mut h = Histogram::new(3)
                .unwrap_or_else(|_| Histogram::new(2).expect("hdrhistogram sigfig 2"));
            h.auto(true);
            h
        });
        Self {
            started: Instant::now(),
            etcd_connected: AtomicBool::new(false),
            revision: AtomicI64::new(0),
            last_event_us: AtomicU64::new(NO_EVENT),
            invalid_entries_total: AtomicU64::new(0),
            ignored_non_vxlan_total: AtomicU64::new(0),
            resyncs_total: AtomicU64::new(0),
            compactions_total: AtomicU64::new(0),
            renew_failures_total: AtomicU64::new(0),
            auth_token_renewals_total: AtomicU64::new(0),
            data_replacements_total: AtomicU64::new(0),
            leases: AtomicU64::new(0),
            own_lease_expiry_unix: AtomicU64::new(0),
            latency_sum_us: AtomicU64::new(0),
            latency_us: Mutex::new(Latency {
                hist: h,
                in_bucket: [0; LATENCY_BUCKETS_S.len()],
            }),
        }
    }

    pub fn etcd_connected(&self) -> bool {
        self.etcd_connected.load(Relaxed)
    }
    pub fn revision(&self) -> i64 {
        self.revision.load(Relaxed)
    }
    /// Time since etcd last told us about the leases: a watch event
    /// (any: flanneld's daily identical re-puts, deletes of keys we
    /// skipped) or a full list. None before the first list. See
    /// `event_age_or_uptime` for the exported gauge.
    pub fn last_event_age(&self) -> Option<Duration> {
        let us = self.last_event_us.load(Relaxed);
        (us != NO_EVENT).then(|| {
            self.started
                .elapsed()
                .saturating_sub(Duration::from_micros(us))
        })
    }
    /// Whether a full list of the leases has reached the sink (the first
    /// list is applied before any watch event: the tables then hold
    /// etcd's leases as of some revision).
    pub fn leases_listed(&self) -> bool {
        self.last_event_us
            .load(std::sync::atomic::Ordering::Acquire)
            != NO_EVENT
    }
    /// The exported age: since the last event, or since start while there
    /// was none, so "no news from etcd for N seconds" alerts work from the
    /// first moment (0 would read as "an event just arrived").
    pub fn event_age_or_uptime(&self) -> Duration {
        self.last_event_age()
            .unwrap_or_else(|| self.started.elapsed())
    }
    pub fn invalid_entries_total(&self) -> u64 {
        self.invalid_entries_total.load(Relaxed)
    }
    pub fn ignored_non_vxlan_total(&self) -> u64 {
        self.ignored_non_vxlan_total.load(Relaxed)
    }
    /// Full re-lists after the first one (reconnects, compactions).
    pub fn resyncs_total(&self) -> u64 {
        self.resyncs_total.load(Relaxed)
    }
    /// Watches cancelled by etcd because their revision was compacted.
    pub fn compactions_total(&self) -> u64 {
        self.compactions_total.load(Relaxed)
    }
    /// Failed attempts to renew (or re-create) our own lease.
    pub fn renew_failures_total(&self) -> u64 {
        self.renew_failures_total.load(Relaxed)
    }
    /// Times etcd no longer took our auth token (a JWT past its ttl, a
    /// simple token idle 5 min or lost in an etcd restart) and vxgate
    /// authenticated again.
    pub fn auth_token_renewals_total(&self) -> u64 {
        self.auth_token_renewals_total.load(Relaxed)
    }
    /// Times a re-list found etcd's data replaced since the list before
    /// (its revision gone back, or another cluster ID: a restore from a
    /// snapshot, a wipe).
    pub fn data_replacements_total(&self) -> u64 {
        self.data_replacements_total.load(Relaxed)
    }
    /// Valid vxlan leases currently delivered to the sink (ours included).
    pub fn leases(&self) -> u64 {
        self.leases.load(Relaxed)
    }
    /// Seconds until our etcd lease expires: None while we hold no lease
    /// (none acquired, or our key was found taken by another node or
    /// gone), Some(+inf) for a reservation; negative once expired.
    pub fn own_lease_expiry_seconds(&self) -> Option<f64> {
        self.own_lease_expiry_seconds_at(unix_now_f64())
    }
    fn own_lease_expiry_seconds_at(&self, now_unix: f64) -> Option<f64> {
        match self.own_lease_expiry_unix.load(Relaxed) {
            0 => None,
            NEVER => Some(f64::INFINITY),
            t => Some(t as f64 - now_unix),
        }
    }

    /// Snapshot of the event -> sink latency (microseconds).
    pub fn latency(&self) -> LatencySummary {
        let l = self.latency_us.lock().unwrap_or_else(|p| p.into_inner());
        let h = &l.hist;
        let buckets = LATENCY_BUCKETS_S
            .iter()
            .zip(&l.in_bucket)
            .scan(0, |below, (le, n)| {
                *below += n;
                Some((*le, *below))
            })
            .collect();
        LatencySummary {
            count: h.len(),
            sum_seconds: self.latency_sum_us.load(Relaxed) as f64 / 1e6,
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
            buckets,
        }
    }

    // ---- writers (control thread only) ----

    pub(crate) fn set_connected(&self, up: bool) {
        self.etcd_connected.store(up, Relaxed);
    }
    pub(crate) fn set_revision(&self, rev: i64) {
        self.revision.fetch_max(rev, Relaxed);
    }
    /// After an etcd restore the revision may go back; follow it.
    pub(crate) fn reset_revision(&self, rev: i64) {
        self.revision.store(rev, Relaxed);
    }
    pub(crate) fn add_invalid(&self) {
        self.invalid_entries_total.fetch_add(1, Relaxed);
    }
    pub(crate) fn add_ignored(&self) {
        self.ignored_non_vxlan_total.fetch_add(1, Relaxed);
    }
    pub(crate) fn add_resync(&self) {
        self.resyncs_total.fetch_add(1, Relaxed);
    }
    pub(crate) fn add_compaction(&self) {
        self.compactions_total.fetch_add(1, Relaxed);
    }
    pub(crate) fn add_renew_failure(&self) {
        self.renew_failures_total.fetch_add(1, Relaxed);
    }
    pub(crate) fn add_auth_token_renewal(&self) {
        self.auth_token_renewals_total.fetch_add(1, Relaxed);
    }
    pub(crate) fn add_data_replacement(&self) {
        self.data_replacements_total.fetch_add(1, Relaxed);
    }
    pub(crate) fn set_leases(&self, n: usize) {
        self.leases.store(n as u64, Relaxed);
    }
    pub(crate) fn set_own_expiry(&self, expiry: Option<SystemTime>) {
        let v = match expiry {
            None => NEVER,
            Some(t) => t
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_secs().max(1)),
        };
        self.own_lease_expiry_unix.store(v, Relaxed);
    }
    /// Our key is not ours (taken by another node) or gone: its old etcd
    /// lease says nothing about our subnet any more.
    pub(crate) fn clear_own_expiry(&self) {
        self.own_lease_expiry_unix.store(0, Relaxed);
    }
    /// etcd told us about the leases (an event or a list), news or not.
    pub(crate) fn saw_etcd(&self) {
        // Release: whoever sees it (`leases_listed`) sees the sink's
        // updates made before it.
        self.last_event_us.store(
            self.started.elapsed().as_micros() as u64,
            std::sync::atomic::Ordering::Release,
        );
    }
    /// Records the latency of one event that changed the sink: `arrived`
    /// is when its watch response was received.
    pub(crate) fn record_event(&self, arrived: Instant) {
        self.record_event_at(arrived, Instant::now());
    }
    fn record_event_at(&self, arrived: Instant, now: Instant) {
        let us = now
            .saturating_duration_since(arrived)
            .as_micros()
            .min(u128::from(u64::MAX)) as u64;
        self.latency_sum_us.fetch_add(us, Relaxed);
        let mut l = self.latency_us.lock().unwrap_or_else(|p| p.into_inner());
        l.hist.saturating_record(us.max(1));
        if let Some(i) = LATENCY_BUCKETS_S
            .iter()
            .position(|le| us <= (le * 1e6).round() as u64)
        {
            l.in_bucket[i] += 1;
        }
    }
}

fn unix_now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_are_cumulative() {
        let s = ControlStatus::new();
        let now = Instant::now() + Duration::from_secs(10);
        for us in [5, 80, 700, 20_000, 2_000_000] {
            s.record_event_at(now - Duration::from_micros(us), now);
        }
        let l = s.latency();
        assert_eq!(l.count, 5);
        assert!(l.p50_us <= l.p99_us && l.p99_us <= l.max_us);
        let counts: Vec<u64> = l.buckets.iter().map(|b| b.1).collect();
        // <= 10 us, 50, 100, 250, 500 us, 1 ms, 2.5, 5, 10, 50, 100 ms, 1 s;
        // the 2 s event only in +Inf (count).
        assert_eq!(counts, [1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4]);
        assert!((l.sum_seconds - 2.020785).abs() < 1e-9, "{}", l.sum_seconds);
        // Exactly at a bound counts in it; a little above, not (the HDR
        // histogram's bucket of 1 s reaches 1.0005 s).
        for us in [1_000_000, 1_000_400, 10] {
            s.record_event_at(now - Duration::from_micros(us), now);
        }
        let l = s.latency();
        assert_eq!(l.buckets[0], (0.00001, 2));
        assert_eq!(l.buckets[11], (1.0, 6), "{:?}", l.buckets);
        assert_eq!(l.count, 8);
    }

    #[test]
    fn event_age_grows_from_start_before_the_first_event() {
        let s = ControlStatus::new();
        assert_eq!(s.last_event_age(), None);
        crate::ops::pause(Duration::from_millis(20));
        assert!(s.event_age_or_uptime() >= Duration::from_millis(20));
        let t = Instant::now();
        s.saw_etcd();
        let age = s.last_event_age().expect("set by saw_etcd");
        // Counted from saw_etcd, not from start (1 us: rounding).
        assert!(age <= t.elapsed() + Duration::from_micros(1), "{age:?}");
    }

    #[test]
    fn own_expiry_states() {
        let s = ControlStatus::new();
        assert_eq!(s.own_lease_expiry_seconds(), None);
        s.set_own_expiry(None);
        assert_eq!(s.own_lease_expiry_seconds(), Some(f64::INFINITY));
        s.set_own_expiry(Some(UNIX_EPOCH + Duration::from_secs(1_000)));
        assert_eq!(s.own_lease_expiry_seconds_at(900.0), Some(100.0));
        assert_eq!(s.own_lease_expiry_seconds_at(1_100.5), Some(-100.5));
        s.clear_own_expiry();
        assert_eq!(s.own_lease_expiry_seconds(), None);
    }
}
