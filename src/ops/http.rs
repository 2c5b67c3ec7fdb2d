//! A minimal HTTP/1.1 server for `/metrics`, `/healthz` (liveness) and
//! `/readyz` (readiness): one request per connection,
//! a few connections at a time, bounded reads under an overall deadline,
//! never a panic on client input.
//!
//! One thread accepts; each connection gets its own short-lived handler
//! thread, at most [`MAX_HANDLERS`] at once. A connection beyond that is
//! answered 503 and closed at once rather than queued: a slow or idle
//! client must never hold up a scrape behind it.
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::logging::RateLimitedLog;
use super::metrics::{self, ExpositionFormat, MetricsSource};

/// Longest request head accepted; scrapers send a few hundred bytes.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Connections served at once; Prometheus needs one, curl another.
pub const MAX_HANDLERS: usize = 8;
/// Time a client has to send its whole request head (not per read: a
/// client dribbling a byte at a time is cut off too).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// Time to write a whole reply.
const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// How long the 431 reply waits for the client to stop sending.
const LINGER: Duration = Duration::from_millis(500);
/// At most one warning per kind and interval from the accept loop.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Limits of one server; [`serve`] uses the defaults above.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_handlers: usize,
    pub request_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_handlers: MAX_HANDLERS,
            request_deadline: REQUEST_DEADLINE,
        }
    }
}

/// The running metrics endpoint; stops when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    active: Arc<Active>,
    thread: Option<JoinHandle<()>>,
}

/// Handler threads running now, and a signal when one ends.
#[derive(Debug, Default)]
struct Active {
    count: Mutex<usize>,
    ended: Condvar,
}

impl Active {
    /// Takes a slot unless `max` are taken.
    fn try_acquire(&self, max: usize) -> bool {
        let mut n = self.count.lock().unwrap_or_else(|e| e.into_inner());
        if *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    fn release(&self) {
        let mut n = self.count.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        self.ended.notify_all();
    }

    /// Waits until every handler has ended (each is bounded by its deadlines).
    fn wait_idle(&self) {
        let mut n = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            n = self.ended.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Releases a handler slot when the handler thread ends, also on a panic.
struct Slot(Arc<Active>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Binds `addr` and serves `GET /metrics` from threads named
/// `vxgate-metrics*`. Port 0 picks a free port (see [`MetricsServer::local_addr`]).
pub fn serve(addr: SocketAddr, source: Arc<dyn MetricsSource>) -> io::Result<MetricsServer> {
    serve_with(addr, source, Limits::default())
}

/// [`serve`] with other limits (tests).
pub fn serve_with(
    addr: SocketAddr,
    source: Arc<dyn MetricsSource>,
    limits: Limits,
) -> io::Result<MetricsServer> {
    let listener = TcpListener::bind(addr)?;
    let local_addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let active = Arc::new(Active::default());
    let thread = {
        let (stop, active) = (Arc::clone(&stop), Arc::clone(&active));
        std::thread::Builder::new()
            .name("vxgate-metrics".into())
            .spawn(move || accept_loop(&listener, &source, &stop, &active, limits))?
    };
    tracing::info!(%local_addr, "metrics served at http://{local_addr}/metrics");
    Ok(MetricsServer {
        local_addr,
        stop,
        active,
        thread: Some(thread),
    })
}

impl MetricsServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, joins the accept thread and waits for the requests
    /// in flight (at most their deadlines).
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);
        // accept() blocks: wake it with a connection of our own.
        let wake = match self.local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.local_addr.port())
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), self.local_addr.port())
            }
            _ => self.local_addr,
        };
        if TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok() {
            let _ = thread.join();
        }
        // Else the thread stays parked in accept(); it holds only the socket.
        // Handlers may read the source: the caller may free what it reads
        // once this returns.
        self.active.wait_idle();
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn accept_loop(
    listener: &TcpListener,
    source: &Arc<dyn MetricsSource>,
    stop: &AtomicBool,
    active: &Arc<Active>,
    limits: Limits,
) {
    // EMFILE or a flood of connections would otherwise log every 100 ms
    // or every connection.
    let warn = RateLimitedLog::new(WARN_INTERVAL);
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let stream = match conn {
            Ok(stream) => stream,
            Err(e) => {
                if let Some(suppressed) = warn.check("accept") {
                    tracing::warn!(error = %e, suppressed, "metrics endpoint cannot accept connections");
                }
                // EMFILE and friends: back off instead of spinning.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if !active.try_acquire(limits.max_handlers) {
            if let Some(suppressed) = warn.check("busy") {
                tracing::warn!(
                    max = limits.max_handlers,
                    suppressed,
                    "metrics endpoint busy: connection refused (503)"
                );
            }
            refuse(stream);
            continue;
        }
        let slot = Slot(Arc::clone(active));
        let source = Arc::clone(source);
        let spawned = std::thread::Builder::new()
            .name("vxgate-metrics-req".into())
            .spawn(move || {
                let _slot = slot;
                if let Err(e) = handle(stream, &*source, limits.request_deadline) {
                    tracing::debug!(error = %e, "metrics request failed");
                }
            });
        if let Err(e) = spawned {
            // The closure (its slot and stream) was dropped: the slot is free.
            if let Some(suppressed) = warn.check("spawn") {
                tracing::warn!(error = %e, suppressed, "metrics endpoint cannot start a handler thread");
            }
        }
    }
}

/// Answers 503 without reading the request and without ever blocking the
/// accept loop: the reply fits an empty socket buffer.
fn refuse(stream: TcpStream) {
    let _ = stream.set_nonblocking(true);
    let reply = Reply::new(
        "503 Service Unavailable",
        "text/plain",
        "too many connections; retry\n",
    )
    .header("Retry-After: 1");
    let _ = (&stream).write_all(&reply.bytes());
    let _ = stream.shutdown(Shutdown::Write);
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics {
        head_only: bool,
        format: ExpositionFormat,
    },
    /// `/healthz`: the process answers (liveness).
    Health {
        head_only: bool,
    },
    /// `/readyz`: the data plane forwards for a subnet we hold (readiness).
    Ready {
        head_only: bool,
    },
    NotFound,
    MethodNotAllowed,
    BadRequest,
    TooLarge,
}

fn handle(
    mut stream: TcpStream,
    source: &dyn MetricsSource,
    request_deadline: Duration,
) -> io::Result<()> {
    let deadline = Instant::now() + request_deadline;
    let mut buf = [0u8; MAX_REQUEST_BYTES];
    let mut len = 0;
    let route = loop {
        if len == buf.len() {
            break Route::TooLarge;
        }
        // The timeout is what is left of the request's time, so many slow
        // reads cannot add up to more.
        stream.set_read_timeout(Some(time_left(deadline)?))?;
        let n = match stream.read(&mut buf[len..]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => r?,
        };
        if n == 0 {
            // Closed before a full request head.
            return Ok(());
        }
        len += n;
        if let Some(end) = find_head_end(&buf[..len]) {
            break route(&buf[..end]);
        }
    };
    let write_deadline = Instant::now() + WRITE_DEADLINE;
    let s = &mut stream;
    match route {
        Route::Metrics { head_only, format } => {
            // In builds that unwind (tests, dev), a panicking source must not
            // take the endpoint down with it. Release builds abort on panic
            // (Cargo.toml): the process ends and its supervisor restarts it.
            let encoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
                metrics::encode(&source.snapshot(), format).ok()
            }));
            let (status, content_type, body) = match encoded.ok().flatten() {
                Some(body) => ("200 OK", format.content_type(), body),
                None => (
                    "500 Internal Server Error",
                    "text/plain",
                    "encoding metrics failed\n".to_owned(),
                ),
            };
            let reply = Reply::new(status, content_type, &body);
            reply.head_only(head_only).send(s, write_deadline)
        }
        Route::Health { head_only } => Reply::new("200 OK", "text/plain", "ok\n")
            .head_only(head_only)
            .send(s, write_deadline),
        Route::Ready { head_only } => {
            let snapshot = std::panic::catch_unwind(AssertUnwindSafe(|| source.snapshot())).ok();
            let (status, body) = match snapshot.as_ref().map(readiness) {
                Some(Ok(())) => ("200 OK", "ready\n".to_owned()),
                Some(Err(why)) => ("503 Service Unavailable", format!("not ready: {why}\n")),
                None => (
                    "500 Internal Server Error",
                    "reading the state failed\n".to_owned(),
                ),
            };
            Reply::new(status, "text/plain", &body)
                .head_only(head_only)
                .send(s, write_deadline)
        }
        Route::NotFound => Reply::new(
            "404 Not Found",
            "text/plain",
            "not found; metrics are at /metrics, health at /healthz and /readyz\n",
        )
        .send(s, write_deadline),
        Route::MethodNotAllowed => Reply::new("405 Method Not Allowed", "text/plain", "use GET\n")
            // RFC 9110 15.5.6: a 405 lists the methods that work.
            .header("Allow: GET, HEAD")
            .send(s, write_deadline),
        Route::BadRequest => {
            Reply::new("400 Bad Request", "text/plain", "bad request\n").send(s, write_deadline)
        }
        Route::TooLarge => {
            Reply::new(
                "431 Request Header Fields Too Large",
                "text/plain",
                "request too large\n",
            )
            .send(s, write_deadline)?;
            linger(s);
            Ok(())
        }
    }
}

/// What is left until `deadline`, as a socket timeout (never zero, which
/// would mean "no timeout"); `TimedOut` once it has passed.
fn time_left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
    }
    Ok(left)
}

/// Closing with unread input makes the kernel send a reset, which can
/// destroy the reply in flight: read (a bounded amount of) the rest first,
/// for at most [`LINGER`] in all.
fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut left = 16 * MAX_REQUEST_BYTES;
    while left > 0 {
        let Ok(timeout) = time_left(deadline) else {
            break;
        };
        if stream.set_read_timeout(Some(timeout)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// The end of the request head: just past the first empty line. Lines end
/// in CRLF or, as RFC 9112 2.2 lets a server accept, a bare LF.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (i, b) in buf.iter().enumerate() {
        if *b == b'\n' {
            if matches!(&buf[line_start..i], b"" | b"\r") {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

/// The lines of a request head, without their CRLF or LF.
fn lines(head: &str) -> impl Iterator<Item = &str> {
    head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l))
}

fn route(head: &[u8]) -> Route {
    let Ok(head) = std::str::from_utf8(head) else {
        return Route::BadRequest;
    };
    let line = lines(head).next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::BadRequest;
    };
    if !version.starts_with("HTTP/1.") {
        return Route::BadRequest;
    }
    let path = target.split('?').next().unwrap_or(target);
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Route::MethodNotAllowed,
    };
    match path {
        "/metrics" => {
            let accept = header(head, "accept");
            Route::Metrics {
                head_only,
                format: ExpositionFormat::negotiate(accept.as_deref()),
            }
        }
        "/healthz" => Route::Health { head_only },
        "/readyz" => Route::Ready { head_only },
        _ => Route::NotFound,
    }
}

/// Ready when the workers forward (not starting, not stopping) and we hold
/// our subnet (a lease not expired, or a reservation): what a load
/// balancer or a Kubernetes readiness probe should wait for. etcd being
/// unreachable does not make vxgate unready: it forwards with the last
/// state it has.
fn readiness(s: &metrics::MetricsSnapshot) -> Result<(), &'static str> {
    if s.control_only {
        return Err("the data plane is not running (starting or stopping)");
    }
    // +inf for a reservation; 0 without a lease, negative once expired.
    if s.own_lease_expiry_seconds.is_nan() || s.own_lease_expiry_seconds <= 0.0 {
        return Err("no own subnet lease held");
    }
    Ok(())
}

/// The value of header `name` (compared case-insensitively) in a request
/// head, or `None` when absent. Repeated headers are joined with `, ` (RFC
/// 9110 5.3) and obsolete line folding is unfolded. Malformed lines are
/// skipped.
fn header(head: &str, name: &str) -> Option<String> {
    let mut value: Option<String> = None;
    // Whether the previous field line was `name`, for folded continuations.
    let mut in_field = false;
    for line in lines(head).skip(1) {
        if line.starts_with([' ', '\t']) {
            if in_field {
                if let Some(v) = value.as_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
            }
            continue;
        }
        in_field = false;
        let Some((field, v)) = line.split_once(':') else {
            continue;
        };
        if !field.eq_ignore_ascii_case(name) {
            continue;
        }
        in_field = true;
        let v = v.trim();
        match value.as_mut() {
            Some(all) => {
                all.push_str(", ");
                all.push_str(v);
            }
            None => value = Some(v.to_owned()),
        }
    }
    value
}

/// One reply, always `Connection: close`.
struct Reply<'a> {
    status: &'a str,
    content_type: &'a str,
    extra: Option<&'a str>,
    body: &'a str,
    head_only: bool,
}

impl<'a> Reply<'a> {
    fn new(status: &'a str, content_type: &'a str, body: &'a str) -> Self {
        Reply {
            status,
            content_type,
            extra: None,
            body,
            head_only: false,
        }
    }

    /// One more header line, without its CRLF.
    fn header(mut self, line: &'a str) -> Self {
        self.extra = Some(line);
        self
    }

    fn head_only(mut self, head_only: bool) -> Self {
        self.head_only = head_only;
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let extra = self.extra.map(|l| format!("{l}\r\n")).unwrap_or_default();
        let mut out = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if !self.head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }

    /// Writes the reply by `deadline` (a client that reads slowly cannot
    /// hold the handler longer by taking a byte at a time).
    fn send(&self, stream: &mut TcpStream, deadline: Instant) -> io::Result<()> {
        let bytes = self.bytes();
        let mut data = bytes.as_slice();
        while !data.is_empty() {
            stream.set_write_timeout(Some(time_left(deadline)?))?;
            match stream.write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: ExpositionFormat = ExpositionFormat::Text;
    const OPENMETRICS: ExpositionFormat = ExpositionFormat::OpenMetrics;

    #[test]
    fn routes() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Metrics {
                head_only: false,
                format: TEXT
            }
        );
        assert_eq!(
            route(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Route::Metrics {
                head_only: true,
                format: TEXT
            }
        );
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(
            route(b"GET /healthz HTTP/1.1\r\n\r\n"),
            Route::Health { head_only: false }
        );
        assert_eq!(
            route(b"HEAD /readyz HTTP/1.1\r\n\r\n"),
            Route::Ready { head_only: true }
        );
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Route::MethodNotAllowed
        );
        assert_eq!(route(b"GET /metrics\r\n\r\n"), Route::BadRequest);
        assert_eq!(route(b"GET /metrics SPDY/3\r\n\r\n"), Route::BadRequest);
        assert_eq!(
            route(&[0xff, 0xfe, b'\r', b'\n', b'\r', b'\n']),
            Route::BadRequest
        );
    }

    #[test]
    fn accept_header_picks_the_format() {
        let format = |head: &str| match route(head.as_bytes()) {
            Route::Metrics { format, .. } => format,
            other => panic!("{other:?} for {head:?}"),
        };
        let prometheus =
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(
            format(&format!(
                "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {prometheus}\r\n\r\n"
            )),
            OPENMETRICS
        );
        assert_eq!(
            format("GET /metrics HTTP/1.1\r\naCCEPT:application/openmetrics-text\r\n\r\n"),
            OPENMETRICS
        );
        assert_eq!(format("GET /metrics HTTP/1.1\r\nAccept: */*\r\n\r\n"), TEXT);
        assert_eq!(
            format("GET /metrics HTTP/1.1\r\nAccept: text/plain\r\n\r\n"),
            TEXT
        );
        assert_eq!(format("GET /metrics HTTP/1.1\r\n\r\n"), TEXT);
        // Header names only match whole: X-Accept is not Accept.
        assert_eq!(
            format("GET /metrics HTTP/1.1\r\nX-Accept: application/openmetrics-text\r\n\r\n"),
            TEXT
        );
        // Repeated and folded headers.
        assert_eq!(
            format(
                "GET /metrics HTTP/1.1\r\nAccept: text/plain;q=0.2\r\nAccept: application/openmetrics-text;q=0.3\r\n\r\n"
            ),
            OPENMETRICS
        );
        assert_eq!(
            format("GET /metrics HTTP/1.1\r\nAccept: text/plain;q=0.2,\r\n application/openmetrics-text\r\n\r\n"),
            OPENMETRICS
        );
        // Odd lines are skipped, never fatal.
        assert_eq!(
            format("GET /metrics HTTP/1.1\r\n no field\r\n:\r\nAccept\r\nAccept:\r\n\r\n"),
            TEXT
        );
    }

    #[test]
    fn header_values() {
        let head = "GET / HTTP/1.1\r\nHost: x\r\nACCEPT:  a/b \r\nOther: y\r\naccept: c/d\r\n\r\n";
        assert_eq!(header(head, "accept").as_deref(), Some("a/b, c/d"));
        assert_eq!(header(head, "host").as_deref(), Some("x"));
        assert_eq!(header(head, "missing"), None);
        // The request line is not a header even if it has a colon.
        assert_eq!(header("GET http://h:1/ HTTP/1.1\r\n\r\n", "get http"), None);
    }

    #[test]
    fn bare_lf_ends_lines_too() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\nrest"), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\nHost: x\r\n\n"), Some(25));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\r\n"), None);
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\nHost: x\nAccept: application/openmetrics-text\n\n"),
            Route::Metrics {
                head_only: false,
                format: OPENMETRICS
            }
        );
        assert_eq!(
            header("GET / HTTP/1.1\nA: 1\n b\r\nC: 2\n\n", "a").as_deref(),
            Some("1 b")
        );
    }

    #[test]
    fn replies_carry_length_and_extra_headers() {
        let r = Reply::new("405 Method Not Allowed", "text/plain", "use GET\n")
            .header("Allow: GET, HEAD");
        assert_eq!(
            String::from_utf8(r.bytes()).unwrap(),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 8\r\nAllow: GET, HEAD\r\nConnection: close\r\n\r\nuse GET\n"
        );
        let r = Reply::new("200 OK", "text/plain", "abc").head_only(true);
        assert!(String::from_utf8(r.bytes())
            .unwrap()
            .ends_with("Content-Length: 3\r\nConnection: close\r\n\r\n"));
    }

    fn read_reply(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        // Generous: a server that hangs shows as a failed read, not a timing.
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(request).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// /readyz follows the state: starting (control plane only), running
    /// with a lease or a reservation, lease lost; /healthz always answers.
    #[test]
    fn readiness_follows_the_data_plane_and_the_own_lease() {
        use crate::ops::{MetricsSnapshot, SwappableSource};
        let state = |control_only: bool, expiry: f64| -> Arc<dyn MetricsSource> {
            Arc::new(move || MetricsSnapshot {
                control_only,
                own_lease_expiry_seconds: expiry,
                ..MetricsSnapshot::default()
            })
        };
        let source = Arc::new(SwappableSource::new(state(true, 0.0)));
        let server = serve("127.0.0.1:0".parse().unwrap(), source.clone()).unwrap();
        let get = |path: &str| {
            read_reply(
                server.local_addr(),
                format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes(),
            )
        };
        for (control_only, expiry, status, body) in [
            (
                true,
                0.0,
                "503 ",
                "not ready: the data plane is not running",
            ),
            (
                true,
                86_000.0,
                "503 ",
                "not ready: the data plane is not running",
            ),
            (false, 86_000.0, "200 ", "ready\n"),
            (false, f64::INFINITY, "200 ", "ready\n"),
            (false, 0.0, "503 ", "not ready: no own subnet lease held"),
            (false, -3.0, "503 ", "not ready: no own subnet lease held"),
        ] {
            source.set(state(control_only, expiry));
            let reply = get("/readyz");
            assert!(
                reply.starts_with(&format!("HTTP/1.1 {status}")),
                "{control_only} {expiry}: {reply}"
            );
            assert!(reply.ends_with(body) || reply.contains(body), "{reply}");
            let health = get("/healthz");
            assert!(
                health.starts_with("HTTP/1.1 200 ") && health.ends_with("\r\n\r\nok\n"),
                "{health}"
            );
        }
        let head = read_reply(server.local_addr(), b"HEAD /readyz HTTP/1.1\r\n\r\n");
        assert!(
            head.starts_with("HTTP/1.1 503 ") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        server.shutdown();
    }

    #[test]
    fn connections_beyond_the_bound_are_refused_not_queued() {
        let source: Arc<dyn MetricsSource> = Arc::new(crate::ops::MetricsSnapshot::default);
        let limits = Limits {
            max_handlers: 2,
            // Longer than the test: the idle clients hold their slots.
            request_deadline: Duration::from_secs(600),
        };
        let server = serve_with("127.0.0.1:0".parse().unwrap(), source, limits).unwrap();
        let addr = server.local_addr();
        let idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
        // Accepted in order: both slots are taken when this one comes.
        let reply = read_reply(addr, b"");
        assert!(reply.starts_with("HTTP/1.1 503 "), "{reply}");
        assert!(reply.contains("\r\nRetry-After: 1\r\n"), "{reply}");
        // Closing the idle ones ends their handlers; shutdown waits for them.
        drop(idle);
        server.shutdown();
    }

    #[test]
    fn a_dribbling_client_is_cut_off_at_the_request_deadline() {
        let source: Arc<dyn MetricsSource> = Arc::new(crate::ops::MetricsSnapshot::default);
        let limits = Limits {
            max_handlers: 1,
            request_deadline: Duration::from_millis(300),
        };
        let server = serve_with("127.0.0.1:0".parse().unwrap(), source, limits).unwrap();
        let mut s = TcpStream::connect(server.local_addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        // Each byte comes well within any per-read timeout; the request as
        // a whole never completes, so the server must close on its own.
        let mut closed = false;
        for b in b"GET /metrics HTTP/1.1\r\nX: "
            .iter()
            .chain(std::iter::repeat(&b'a'))
        {
            if s.write_all(&[*b]).is_err() {
                closed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
            let mut probe = [0u8; 1];
            s.set_nonblocking(true).unwrap();
            let r = s.read(&mut probe);
            s.set_nonblocking(false).unwrap();
            match r {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(_) => panic!("a reply to an unfinished request"),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        assert!(closed);
        server.shutdown();
    }
}
