//! Scrapes `/metrics` over real HTTP from a fixed snapshot and checks every
//! SPEC metric name with its value, in both exposition formats: Prometheus
//! text 0.0.4 by default, OpenMetrics when the `Accept` header asks for it.
use std::collections::{BTreeSet, HashMap};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vxgate::ops::http::{MAX_HANDLERS, MAX_WAITING};
use vxgate::ops::{
    serve, serve_with, HistogramSnapshot, Limits, MetricsSnapshot, MetricsSource, PortStats,
    WorkerStats,
};

/// The SPEC's drop reasons, in order: spelled out here, not taken from the
/// code under test.
const SPEC_DROP_REASONS: [&str; 16] = [
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

/// The SPEC's slow-path kinds.
const SPEC_SLOWPATH_KINDS: [&str; 3] = ["arp", "icmp", "fragment"];

/// Long enough that a test needing a client's request deadline to pass
/// would hang (and fail its read timeout) rather than pass slowly.
fn long_deadline() -> Limits {
    Limits {
        request_deadline: Duration::from_secs(600),
        ..Limits::default()
    }
}

/// A fixed snapshot with a distinct value everywhere, counting scrapes.
struct Fixed {
    snapshot: MetricsSnapshot,
    scrapes: AtomicU64,
}

impl MetricsSource for Fixed {
    fn snapshot(&self) -> MetricsSnapshot {
        self.scrapes.fetch_add(1, Ordering::SeqCst);
        self.snapshot.clone()
    }
}

fn port(base: u64) -> PortStats {
    PortStats {
        rx_packets: base + 1,
        tx_packets: base + 2,
        rx_bytes: base + 3,
        tx_bytes: base + 4,
        rx_missed: base + 5,
        // Exported as one counter: vxgate_port_errors_total = base + 6.
        rx_errors: base + 4,
        tx_errors: 2,
        rx_nombuf: 77,
    }
}

fn snapshot() -> MetricsSnapshot {
    MetricsSnapshot {
        ports: [port(100), port(200)],
        encap_packets: 301,
        decap_packets: 302,
        routed_packets: 303,
        slowpath: vec![("arp", 11), ("icmp", 12)],
        drops: SPEC_DROP_REASONS
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 3) // outer_fragment left out: must read 0
            .map(|(i, r)| (*r, 1000 + i as u64))
            .collect(),
        leases: 42,
        neighbors: [7, 9],
        etcd_connected: true,
        etcd_revision: 123_456,
        etcd_last_event_age_seconds: 2.5,
        etcd_invalid_entries_total: 3,
        etcd_ignored_leases_total: 5,
        own_lease_expiry_seconds: 86_000.0,
        control_to_dataplane: HistogramSnapshot {
            upper_bounds: vec![0.0001, 0.001],
            cumulative_counts: vec![4, 9],
            sum: 0.004,
            count: 10,
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

fn http(addr: SocketAddr, request: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

/// `name{labels}` -> value, from the text exposition.
fn samples(body: &str) -> HashMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_owned(), v.parse::<f64>().unwrap())
        })
        .collect()
}

#[test]
fn scrape_has_every_spec_metric_with_snapshot_values() {
    let source = Arc::new(Fixed {
        snapshot: snapshot(),
        scrapes: AtomicU64::new(0),
    });
    let server = serve("127.0.0.1:0".parse().unwrap(), source.clone()).unwrap();
    let addr = server.local_addr();

    // No Accept header (curl, most tools): Prometheus text format 0.0.4.
    let (head, body) = http(addr, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{head}"
    );
    assert!(!body.contains("# EOF"), "{body}");
    assert!(!body.contains("# UNIT"), "{body}");
    let m = samples(&body);

    let mut expect: Vec<(String, f64)> = Vec::new();
    for (label, base) in [("underlay", 100.0), ("access", 200.0)] {
        for (i, name) in [
            "vxgate_port_rx_packets_total",
            "vxgate_port_tx_packets_total",
            "vxgate_port_rx_bytes_total",
            "vxgate_port_tx_bytes_total",
            "vxgate_port_rx_missed_total",
            "vxgate_port_errors_total",
        ]
        .iter()
        .enumerate()
        {
            expect.push((format!("{name}{{port=\"{label}\"}}"), base + 1.0 + i as f64));
        }
    }
    expect.push(("vxgate_encap_packets_total".into(), 301.0));
    expect.push(("vxgate_decap_packets_total".into(), 302.0));
    expect.push(("vxgate_routed_packets_total".into(), 303.0));
    for (kind, v) in SPEC_SLOWPATH_KINDS.iter().zip([11.0, 12.0, 0.0]) {
        expect.push((
            format!("vxgate_slowpath_packets_total{{kind=\"{kind}\"}}"),
            v,
        ));
    }
    for (i, reason) in SPEC_DROP_REASONS.iter().enumerate() {
        let v = if i == 3 { 0.0 } else { 1000.0 + i as f64 };
        expect.push((format!("vxgate_drops_total{{reason=\"{reason}\"}}"), v));
    }
    expect.extend([
        ("vxgate_leases".into(), 42.0),
        ("vxgate_neighbors{port=\"underlay\"}".into(), 7.0),
        ("vxgate_neighbors{port=\"access\"}".into(), 9.0),
        ("vxgate_etcd_connected".into(), 1.0),
        ("vxgate_etcd_revision".into(), 123_456.0),
        ("vxgate_etcd_last_event_age_seconds".into(), 2.5),
        ("vxgate_etcd_invalid_entries_total".into(), 3.0),
        ("vxgate_etcd_ignored_leases_total".into(), 5.0),
        ("vxgate_own_lease_expiry_seconds".into(), 86_000.0),
        (
            "vxgate_control_to_dataplane_seconds_bucket{le=\"0.0001\"}".into(),
            4.0,
        ),
        (
            "vxgate_control_to_dataplane_seconds_bucket{le=\"0.001\"}".into(),
            9.0,
        ),
        (
            "vxgate_control_to_dataplane_seconds_bucket{le=\"+Inf\"}".into(),
            10.0,
        ),
        ("vxgate_control_to_dataplane_seconds_sum".into(), 0.004),
        ("vxgate_control_to_dataplane_seconds_count".into(), 10.0),
        ("vxgate_mbufs".into(), 65_535.0),
        ("vxgate_mbufs_in_use".into(), 4_200.0),
        ("vxgate_worker_packets_total{worker=\"0\"}".into(), 500.0),
        ("vxgate_worker_packets_total{worker=\"1\"}".into(), 600.0),
        (
            "vxgate_worker_polls_total{worker=\"0\",state=\"busy\"}".into(),
            50.0,
        ),
        (
            "vxgate_worker_polls_total{worker=\"0\",state=\"idle\"}".into(),
            5000.0,
        ),
        (
            "vxgate_worker_polls_total{worker=\"1\",state=\"busy\"}".into(),
            60.0,
        ),
        (
            "vxgate_worker_polls_total{worker=\"1\",state=\"idle\"}".into(),
            6000.0,
        ),
    ]);
    for (name, value) in &expect {
        assert_eq!(m.get(name), Some(value), "{name} in:\n{body}");
    }
    assert_eq!(
        m.len(),
        expect.len(),
        "no sample beyond the contract:\n{body}"
    );
    // Exactly the SPEC's label sets, no more, no fewer.
    let labels = |family: &str, label: &str| -> BTreeSet<String> {
        let prefix = format!("{family}{{{label}=\"");
        m.keys()
            .filter_map(|k| k.strip_prefix(&prefix)?.strip_suffix("\"}"))
            .map(str::to_owned)
            .collect()
    };
    let set =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| n.to_string()).collect() };
    assert_eq!(
        labels("vxgate_drops_total", "reason"),
        set(&SPEC_DROP_REASONS)
    );
    assert_eq!(
        labels("vxgate_slowpath_packets_total", "kind"),
        set(&SPEC_SLOWPATH_KINDS)
    );

    // In 0.0.4, counter families are named with their _total suffix.
    for (family, kind) in [
        ("vxgate_drops_total", "counter"),
        ("vxgate_etcd_ignored_leases_total", "counter"),
        ("vxgate_leases", "gauge"),
        ("vxgate_control_to_dataplane_seconds", "histogram"),
    ] {
        assert!(
            body.contains(&format!("\n# TYPE {family} {kind}\n")),
            "{family}:\n{body}"
        );
    }

    // What Prometheus sends: OpenMetrics, with the same samples.
    let (head, om) = http(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\naccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains(
            "\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"
        ),
        "{head}"
    );
    assert!(
        head.contains(&format!("Content-Length: {}", om.len())),
        "{head}"
    );
    assert!(om.ends_with("\n# EOF\n"), "{om}");
    assert_eq!(samples(&om), m, "same samples in both formats");
    // OpenMetrics TYPE lines use the base names (the exposition adds _total etc.).
    for (base, kind) in [
        ("vxgate_drops", "counter"),
        ("vxgate_etcd_ignored_leases", "counter"),
        ("vxgate_leases", "gauge"),
        ("vxgate_control_to_dataplane_seconds", "histogram"),
    ] {
        assert!(
            om.contains(&format!("\n# TYPE {base} {kind}\n")),
            "{base}:\n{om}"
        );
    }
    // Explicitly asking for the text format.
    let (head, text) = http(
        addr,
        "GET /metrics HTTP/1.1\r\nAccept: text/plain;version=0.0.4\r\n\r\n",
    );
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert_eq!(samples(&text), m);

    // Other paths and methods; the server survives bad requests.
    let (head, _) = http(addr, "GET / HTTP/1.1\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (head, _) = http(addr, "DELETE /metrics HTTP/1.1\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 405"), "{head}");
    assert!(head.contains("\r\nAllow: GET, HEAD\r\n"), "{head}");
    // Lines ending in a bare LF (RFC 9112 2.2 lets a server accept them).
    let (head, body) = http(addr, "GET /metrics HTTP/1.1\nHost: localhost\n\n");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert_eq!(samples(&body), m);
    let (head, _) = http(addr, "garbage\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    let mut s = TcpStream::connect(addr).unwrap();
    // The server may close before reading everything; only the reply matters.
    let _ = s.write_all(huge.as_bytes());
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");
    drop(TcpStream::connect(addr).unwrap()); // connect and close without a request
    let (head, body) = http(addr, "HEAD /metrics HTTP/1.0\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(body.is_empty());
    let (head, body) = http(
        addr,
        "HEAD /metrics HTTP/1.0\r\nAccept: application/openmetrics-text\r\n\r\n",
    );
    assert!(
        head.contains("Content-Type: application/openmetrics-text"),
        "{head}"
    );
    assert!(body.is_empty());

    let before = source.scrapes.load(Ordering::SeqCst);
    let (_, body) = http(addr, "GET /metrics?x=1 HTTP/1.1\r\n\r\n");
    assert_eq!(samples(&body), m, "each scrape encodes a fresh snapshot");
    assert_eq!(source.scrapes.load(Ordering::SeqCst), before + 1);

    server.shutdown();
    assert!(
        TcpStream::connect(addr).is_err(),
        "listener closed after shutdown"
    );
}

/// Stops and joins the dribbling client when dropped, also when the test fails.
struct Dribbler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Dribbler {
    /// Sends a request head one byte every 500 ms, never finishing it.
    fn start(addr: SocketAddr) -> Dribbler {
        let stop = Arc::new(AtomicBool::new(false));
        let mut s = TcpStream::connect(addr).unwrap();
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let head = b"GET /metrics HTTP/1.1\r\nX-Slow: ";
                for b in head.iter().chain(std::iter::repeat(&b'a')) {
                    if stop.load(Ordering::SeqCst) || s.write_all(&[*b]).is_err() {
                        return;
                    }
                    vxgate::ops::pause(Duration::from_millis(500));
                }
            })
        };
        Dribbler {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Dribbler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn slow_and_idle_clients_do_not_hold_up_a_scrape() {
    let source = Arc::new(Fixed {
        snapshot: snapshot(),
        scrapes: AtomicU64::new(0),
    });
    // Clients are never cut off by their deadline during the test: only a
    // server that serves connections concurrently passes.
    let server = serve_with("127.0.0.1:0".parse().unwrap(), source, long_deadline()).unwrap();
    let addr = server.local_addr();
    // Three connections that never send anything, and one that sends a
    // byte every 500 ms (each read succeeds well within any per-read
    // timeout), all accepted before the scrape.
    let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let dribbler = Dribbler::start(addr);

    let mut s = TcpStream::connect(addr).unwrap();
    // A server that serves the slow clients first fails this read instead
    // of a timing check.
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp)
        .expect("a complete reply while slow clients are connected");
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{head}"
    );
    assert_eq!(
        samples(body),
        samples(&vxgate::ops::metrics::encode(&snapshot(), Default::default()).unwrap())
    );

    drop(dribbler);
    drop(idle);
    server.shutdown();
}

/// Sends `request` and returns the whole reply, failing on a reset.
fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp)
        .expect("the whole reply, then an orderly close");
    resp
}

fn fixed_server(limits: Limits) -> vxgate::ops::MetricsServer {
    let source = Arc::new(Fixed {
        snapshot: snapshot(),
        scrapes: AtomicU64::new(0),
    });
    serve_with("127.0.0.1:0".parse().unwrap(), source, limits).unwrap()
}

/// A reply to HEAD is the head of the reply to GET, whatever its status.
#[test]
fn head_replies_have_no_body_whatever_the_status() {
    let server = fixed_server(Limits::default());
    let addr = server.local_addr();
    for (rest, status) in [
        ("/metrics HTTP/1.1", "200 "),
        ("/healthz HTTP/1.0", "200 "),
        ("/nope HTTP/1.1", "404 "),
        ("/metrics SPDY/3", "400 "),
        ("/metrics", "400 "),
    ] {
        let get = exchange(addr, format!("GET {rest}\r\n\r\n").as_bytes());
        let head = exchange(addr, format!("HEAD {rest}\r\n\r\n").as_bytes());
        let (get_head, get_body) = get.split_once("\r\n\r\n").unwrap();
        assert!(get_head.starts_with(&format!("HTTP/1.1 {status}")), "{get}");
        assert!(!get_body.is_empty(), "{get}");
        assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "{head}");
        assert!(
            head.ends_with("\r\n\r\n"),
            "HEAD {rest}: no body bytes: {head:?}"
        );
        assert!(
            head.contains(&format!("\r\nContent-Length: {}\r\n", get_body.len())),
            "HEAD {rest}: the length GET sends: {head}"
        );
    }
    server.shutdown();
}

/// RFC 9112 3.2.2: a server must accept the absolute form, which clients
/// send to a proxy and some send anyway.
#[test]
fn absolute_form_targets_are_served() {
    let server = fixed_server(Limits::default());
    let addr = server.local_addr();
    let reply = exchange(
        addr,
        format!("GET http://{addr}/metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    );
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert_eq!(
        samples(body),
        samples(&vxgate::ops::metrics::encode(&snapshot(), Default::default()).unwrap())
    );
    for (target, status) in [
        (format!("HTTPS://{addr}/healthz?probe=1"), "200 "),
        (format!("http://{addr}/readyz"), "200 "),
        (format!("http://{addr}/nope"), "404 "),
        (format!("http://{addr}"), "404 "),
    ] {
        let reply = exchange(addr, format!("GET {target} HTTP/1.1\r\n\r\n").as_bytes());
        assert!(
            reply.starts_with(&format!("HTTP/1.1 {status}")),
            "{target}: {reply}"
        );
    }
    server.shutdown();
}

/// An error reply to a request with a body the server does not read must
/// still arrive whole: closing with unread input would reset it.
#[test]
fn an_error_reply_to_a_large_request_arrives_whole() {
    let server = fixed_server(Limits::default());
    let addr = server.local_addr();
    let body = vec![b'x'; 100_000];
    for head in [
        "POST /metrics HTTP/1.1\r\nContent-Length: 100000\r\n\r\n",
        "GET /nope HTTP/1.1\r\nContent-Length: 100000\r\n\r\n",
    ] {
        let mut request = head.as_bytes().to_vec();
        request.extend_from_slice(&body);
        let reply = exchange(addr, &request);
        let status = if head.starts_with("POST") {
            "405 "
        } else {
            "404 "
        };
        assert!(reply.starts_with(&format!("HTTP/1.1 {status}")), "{reply}");
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())),
            "{reply}"
        );
    }
    server.shutdown();
}

/// Connections that never send a byte, more than there are handlers and
/// waiting places, must not deny a scrape. Their request deadline outlasts
/// the test: a server that lets them hold its handlers fails here.
#[test]
fn idle_connections_do_not_deny_a_scrape() {
    let server = fixed_server(long_deadline());
    let addr = server.local_addr();
    let idle: Vec<TcpStream> = (0..MAX_HANDLERS.max(MAX_WAITING) + 4)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    for _ in 0..3 {
        let reply = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    }
    // Some idle ones were evicted (closed) for the scrapes; none got a reply.
    for mut s in idle {
        s.set_nonblocking(true).unwrap();
        match s.read(&mut [0u8; 1]) {
            Ok(0) => {}
            Err(e)
                if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::ConnectionReset => {}
            r => panic!("an idle connection got {r:?}"),
        }
    }
    server.shutdown();
}
