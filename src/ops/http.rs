//! A minimal HTTP/1.1 server for `/metrics`, `/healthz` (liveness) and
//! `/readyz` (readiness): one request per connection,
//! a few connections at a time, bounded reads under an overall deadline,
//! never a panic on client input.
//!
//! One thread accepts; each connection gets its own short-lived thread.
//! Idle or slow clients must never starve a scrape, which sends its whole
//! request head at once: a connection takes one of [`MAX_HANDLERS`] handler
//! slots only once its head has come. Until then it is one of at most
//! [`MAX_WAITING`] waiting connections, and a new connection beyond those
//! evicts the oldest waiting one of the peer with the most (so a client
//! opening many evicts its own). A head that finds every slot taken is
//! answered 503 rather than queued. Threads stay bounded (`max_threads`).
use std::cmp::Reverse;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::logging::RateLimitedLog;
use super::metrics::{self, ExpositionFormat, MetricsSource};

/// Longest request head accepted; scrapers send a few hundred bytes.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Requests answered at once; Prometheus needs one, curl another.
pub const MAX_HANDLERS: usize = 8;
/// Connections still sending their request head, at most.
pub const MAX_WAITING: usize = 16;
/// Time a client has to send its whole request head (not per read: a
/// client dribbling a byte at a time is cut off too).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// Time to write a whole reply.
const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// How long an error reply waits for the client to stop sending.
const LINGER: Duration = Duration::from_millis(500);
/// Most request bytes an error reply reads and throws away.
const LINGER_BYTES: usize = 16 * MAX_REQUEST_BYTES;
/// Connections refused by the accept loop that wait to be drained; more
/// are closed at once.
const CLOSER_QUEUE: usize = 16;
/// At most one warning per kind and interval from the accept loop.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Limits of one server; [`serve`] uses the defaults above.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_handlers: usize,
    pub max_waiting: usize,
    pub request_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_handlers: MAX_HANDLERS,
            max_waiting: MAX_WAITING,
            request_deadline: REQUEST_DEADLINE,
        }
    }
}

impl Limits {
    /// Connection threads at most: handlers, waiting ones, and as many
    /// again that are ending (evicted ones end at once; a head that found
    /// no slot is answered 503 within the write and linger deadlines).
    fn max_threads(&self) -> usize {
        self.max_handlers + 2 * self.max_waiting.max(1)
    }
}

/// The running metrics endpoint; stops when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    conns: Arc<Conns>,
    thread: Option<JoinHandle<()>>,
}

/// The connection threads and what they hold.
#[derive(Debug)]
struct Conns {
    state: Mutex<ConnState>,
    /// Signalled when a connection thread ends.
    ended: Condvar,
    warn: RateLimitedLog,
}

#[derive(Debug, Default)]
struct ConnState {
    /// Connection threads alive, whatever they do.
    threads: usize,
    /// Threads holding a handler slot.
    handling: usize,
    next_id: u64,
    /// Connections still sending their head, oldest first.
    waiting: VecDeque<Waiting>,
}

#[derive(Debug)]
struct Waiting {
    id: u64,
    peer: IpAddr,
    /// Shut down to evict it: its thread's read then returns at once.
    stream: TcpStream,
}

impl Conns {
    fn new() -> Self {
        Conns {
            state: Mutex::default(),
            ended: Condvar::new(),
            // EMFILE or a flood of connections would otherwise log every
            // 100 ms or every connection.
            warn: RateLimitedLog::new(WARN_INTERVAL),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection as waiting for its head, evicting one if
    /// as many wait as may; `None` when it must be refused.
    fn admit(self: &Arc<Self>, stream: &TcpStream, peer: IpAddr, limits: &Limits) -> Option<Conn> {
        let handle = stream.try_clone().ok()?;
        let mut st = self.lock();
        if st.threads >= limits.max_threads() {
            return None;
        }
        if st.waiting.len() >= limits.max_waiting.max(1) {
            let peers: Vec<IpAddr> = st.waiting.iter().map(|w| w.peer).collect();
            if let Some(old) = victim(&peers).and_then(|i| st.waiting.remove(i)) {
                tracing::debug!(peer = %old.peer, "metrics endpoint: idle connection evicted");
                let _ = old.stream.shutdown(Shutdown::Both);
            }
        }
        st.threads += 1;
        st.next_id += 1;
        let id = st.next_id;
        st.waiting.push_back(Waiting {
            id,
            peer,
            stream: handle,
        });
        Some(Conn {
            conns: Arc::clone(self),
            id,
        })
    }

    /// Evicts every waiting connection (shutdown need not wait for them).
    fn evict_all(&self) {
        for w in self.lock().waiting.drain(..) {
            let _ = w.stream.shutdown(Shutdown::Both);
        }
    }

    /// Waits until every connection thread has ended (each is bounded by
    /// its deadlines).
    fn wait_idle(&self) {
        let mut st = self.lock();
        while st.threads > 0 {
            st = self.ended.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// The oldest waiting connection of the peer with the most; `peers` is
/// oldest first.
fn victim(peers: &[IpAddr]) -> Option<usize> {
    let count = |p: &IpAddr| peers.iter().filter(|q| *q == p).count();
    peers
        .iter()
        .enumerate()
        .min_by_key(|(i, p)| (Reverse(count(p)), *i))
        .map(|(i, _)| i)
}

/// One connection thread; ends its registration when dropped, also on a
/// panic or when the thread could not be started.
struct Conn {
    conns: Arc<Conns>,
    id: u64,
}

impl Conn {
    /// The head has come: no longer evictable.
    fn head_done(&self) {
        self.conns.lock().waiting.retain(|w| w.id != self.id);
    }

    /// A handler slot unless `max` are taken.
    fn try_handle(&self, max: usize) -> Option<Handling> {
        let mut st = self.conns.lock();
        if st.handling >= max {
            return None;
        }
        st.handling += 1;
        Some(Handling(Arc::clone(&self.conns)))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let mut st = self.conns.lock();
        st.waiting.retain(|w| w.id != self.id);
        st.threads = st.threads.saturating_sub(1);
        self.conns.ended.notify_all();
    }
}

/// A handler slot, released when dropped.
struct Handling(Arc<Conns>);

impl Drop for Handling {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.handling = st.handling.saturating_sub(1);
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
    let conns = Arc::new(Conns::new());
    let thread = {
        let (stop, conns) = (Arc::clone(&stop), Arc::clone(&conns));
        std::thread::Builder::new()
            .name("vxgate-metrics".into())
            .spawn(move || accept_loop(&listener, &source, &stop, &conns, limits))?
    };
    tracing::info!(%local_addr, "metrics served at http://{local_addr}/metrics");
    Ok(MetricsServer {
        local_addr,
        stop,
        conns,
        thread: Some(thread),
    })
}

impl MetricsServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, joins the accept thread, drops the connections
    /// still sending their head and waits for the requests in flight (at
    /// most their deadlines).
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
        // Else the thread stays parked in accept(); it holds only the socket
        // and admits nothing more (it checks `stop` first).
        // Handlers may read the source: the caller may free what it reads
        // once this returns.
        self.conns.evict_all();
        self.conns.wait_idle();
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
    conns: &Arc<Conns>,
    limits: Limits,
) {
    let warn = &conns.warn;
    let (to_closer, queued) = mpsc::sync_channel(CLOSER_QUEUE);
    // Without it, refused connections are closed at once (try_send fails).
    let closer = std::thread::Builder::new()
        .name("vxgate-metrics-close".into())
        .spawn(move || closer(queued));
    loop {
        let conn = listener.accept();
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let (stream, peer) = match conn {
            Ok(conn) => conn,
            Err(e) => {
                if let Some(suppressed) = warn.check("accept") {
                    tracing::warn!(error = %e, suppressed, "metrics endpoint cannot accept connections");
                }
                // EMFILE and friends: back off instead of spinning.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let Some(conn) = conns.admit(&stream, peer.ip(), &limits) else {
            if let Some(suppressed) = warn.check("threads") {
                tracing::warn!(
                    max = limits.max_threads(),
                    suppressed,
                    "metrics endpoint busy: connection refused (503)"
                );
            }
            refuse(stream, &to_closer);
            continue;
        };
        let source = Arc::clone(source);
        let spawned = std::thread::Builder::new()
            .name("vxgate-metrics-req".into())
            .spawn(move || {
                if let Err(e) = handle(stream, &conn, &*source, &limits) {
                    tracing::debug!(error = %e, "metrics request failed");
                }
            });
        if let Err(e) = spawned {
            // The closure (its registration and stream) was dropped.
            if let Some(suppressed) = warn.check("spawn") {
                tracing::warn!(error = %e, suppressed, "metrics endpoint cannot start a handler thread");
            }
        }
    }
    drop(to_closer);
    if let Ok(closer) = closer {
        let _ = closer.join();
    }
}

/// The 503 for a connection or a request beyond the limits.
fn busy() -> Reply {
    Reply::new(
        "503 Service Unavailable",
        "text/plain",
        "too many connections; retry\n",
    )
    .header("Retry-After: 1")
}

/// Answers 503 from the accept loop, which must never block: the reply
/// fits an empty socket buffer, and the closer thread, not this loop,
/// reads what the client sends (see [`linger`]).
fn refuse(stream: TcpStream, closer: &SyncSender<(TcpStream, Instant)>) {
    let _ = stream.set_nonblocking(true);
    // What has come already says whether it is a HEAD.
    let mut start = [0u8; 5];
    let n = stream.peek(&mut start).unwrap_or(0);
    let reply = busy().head_only(is_head(&start[..n]));
    let _ = (&stream).write_all(&reply.bytes());
    let _ = stream.shutdown(Shutdown::Write);
    // Closed at once when the closer is behind (a flood).
    let _ = closer.try_send((stream, Instant::now() + LINGER));
}

/// Drains refused connections one after the other, each until its own
/// deadline: all are closed within [`LINGER`] of the last refusal.
fn closer(queued: Receiver<(TcpStream, Instant)>) {
    for (stream, deadline) in queued {
        let _ = stream.set_nonblocking(false);
        drain(&stream, deadline);
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics {
        format: ExpositionFormat,
    },
    /// `/healthz`: the process answers (liveness).
    Health,
    /// `/readyz`: the data plane forwards for a subnet we hold (readiness).
    Ready,
    NotFound,
    MethodNotAllowed,
    BadRequest,
    TooLarge,
}

fn handle(
    mut stream: TcpStream,
    conn: &Conn,
    source: &dyn MetricsSource,
    limits: &Limits,
) -> io::Result<()> {
    let deadline = Instant::now() + limits.request_deadline;
    let mut buf = [0u8; MAX_REQUEST_BYTES];
    let mut len = 0;
    let (route, head_len) = loop {
        if len == buf.len() {
            break (Route::TooLarge, len);
        }
        // The timeout is what is left of the request's time, so many slow
        // reads cannot add up to more.
        stream.set_read_timeout(Some(time_left(deadline)?))?;
        let n = match stream.read(&mut buf[len..]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => r?,
        };
        if n == 0 {
            // Closed (or evicted) before a full request head.
            return Ok(());
        }
        len += n;
        if let Some(end) = find_head_end(&buf[..len]) {
            break (route(&buf[..end]), end);
        }
    };
    conn.head_done();
    // Any reply to a HEAD, whatever its status, is the head only.
    let head_only = is_head(&buf[..len]);
    // Unread input makes the close a reset, which can destroy the reply:
    // likely after an error, or when bytes past the head (a body) came.
    let must_linger = len > head_len
        || matches!(
            route,
            Route::NotFound | Route::MethodNotAllowed | Route::BadRequest | Route::TooLarge
        );
    let write_deadline = Instant::now() + WRITE_DEADLINE;
    let Some(handling) = conn.try_handle(limits.max_handlers) else {
        if let Some(suppressed) = conn.conns.warn.check("busy") {
            tracing::warn!(
                max = limits.max_handlers,
                suppressed,
                "metrics endpoint busy: request refused (503)"
            );
        }
        busy()
            .head_only(head_only)
            .send(&mut stream, write_deadline)?;
        linger(&stream);
        return Ok(());
    };
    answer(route, source)
        .head_only(head_only)
        .send(&mut stream, write_deadline)?;
    // The slot bounds the replies being made; draining needs none (the
    // thread cap bounds the threads that linger).
    drop(handling);
    if must_linger {
        linger(&stream);
    }
    Ok(())
}

/// The reply to `route`, in full (the caller drops the body of a HEAD).
fn answer(route: Route, source: &dyn MetricsSource) -> Reply {
    match route {
        Route::Metrics { format } => {
            // In builds that unwind (tests, dev), a panicking source must not
            // take the endpoint down with it. Release builds abort on panic
            // (Cargo.toml): the process ends and its supervisor restarts it.
            let encoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
                metrics::encode(&source.snapshot(), format).ok()
            }));
            match encoded.ok().flatten() {
                Some(body) => Reply::new("200 OK", format.content_type(), body),
                None => Reply::new(
                    "500 Internal Server Error",
                    "text/plain",
                    "encoding metrics failed\n",
                ),
            }
        }
        Route::Health => Reply::new("200 OK", "text/plain", "ok\n"),
        Route::Ready => {
            let snapshot = std::panic::catch_unwind(AssertUnwindSafe(|| source.snapshot())).ok();
            let (status, body) = match snapshot.as_ref().map(readiness) {
                Some(Ok(())) => ("200 OK", "ready\n".to_owned()),
                Some(Err(why)) => ("503 Service Unavailable", format!("not ready: {why}\n")),
                None => (
                    "500 Internal Server Error",
                    "reading the state failed\n".to_owned(),
                ),
            };
            Reply::new(status, "text/plain", body)
        }
        Route::NotFound => Reply::new(
            "404 Not Found",
            "text/plain",
            "not found; metrics are at /metrics, health at /healthz and /readyz\n",
        ),
        Route::MethodNotAllowed => Reply::new("405 Method Not Allowed", "text/plain", "use GET\n")
            // RFC 9110 15.5.6: a 405 lists the methods that work.
            .header("Allow: GET, HEAD"),
        Route::BadRequest => Reply::new("400 Bad Request", "text/plain", "bad request\n"),
        Route::TooLarge => Reply::new(
            "431 Request Header Fields Too Large",
            "text/plain",
            "request too large\n",
        ),
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
/// destroy the reply in flight: after the reply, read (and drop) the rest,
/// for at most [`LINGER`] and [`LINGER_BYTES`], so that a client cannot
/// hold a handler.
fn linger(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    drain(stream, Instant::now() + LINGER);
}

/// Reads until the client closes, `deadline` or [`LINGER_BYTES`].
fn drain(mut stream: &TcpStream, deadline: Instant) {
    let mut sink = [0u8; 4096];
    let mut left = LINGER_BYTES;
    while left > 0 {
        let Ok(timeout) = time_left(deadline) else {
            break;
        };
        if stream.set_read_timeout(Some(timeout)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => left = left.saturating_sub(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

/// Whether the request (or what has come of it) is a HEAD; methods are
/// case-sensitive (RFC 9110 9.1).
fn is_head(request: &[u8]) -> bool {
    request.starts_with(b"HEAD ")
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
    if !matches!(method, "GET" | "HEAD") {
        return Route::MethodNotAllowed;
    }
    match path_of(target) {
        "/metrics" => {
            let accept = header(head, "accept");
            Route::Metrics {
                format: ExpositionFormat::negotiate(accept.as_deref()),
            }
        }
        "/healthz" => Route::Health,
        "/readyz" => Route::Ready,
        _ => Route::NotFound,
    }
}

/// The path of a request target without its query, also of the
/// absolute form (`http://host:port/metrics`), which RFC 9112 3.2.2 says a
/// server must accept.
fn path_of(target: &str) -> &str {
    let mut rest = target;
    for scheme in ["http://", "https://"] {
        if rest
            .get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
        {
            // The authority ends where the path or the query begins.
            let after = &rest[scheme.len()..];
            rest = &after[after.find(['/', '?']).unwrap_or(after.len())..];
            break;
        }
    }
    match rest.split('?').next() {
        // An absolute form without a path asks for "/" (RFC 9112 3.2.1).
        None | Some("") => "/",
        Some(path) => path,
    }
}

/// Ready when the workers forward (not starting, not stopping), the
/// tables hold etcd's leases (the first list applied: with many leases
/// the workers run a second before it is) and we hold our subnet (a lease
/// not expired, or a reservation): what a load balancer or a Kubernetes
/// readiness probe should wait for. etcd being unreachable does not make
/// vxgate unready: it forwards with the last state it has.
fn readiness(s: &metrics::MetricsSnapshot) -> Result<(), &'static str> {
    if s.control_only {
        return Err("the data plane is not running (starting or stopping)");
    }
    if !s.leases_listed {
        return Err("the leases listed in etcd are still being loaded into the tables");
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
struct Reply {
    status: &'static str,
    content_type: &'static str,
    extra: Option<&'static str>,
    body: String,
    head_only: bool,
}

impl Reply {
    fn new(status: &'static str, content_type: &'static str, body: impl Into<String>) -> Self {
        Reply {
            status,
            content_type,
            extra: None,
            body: body.into(),
            head_only: false,
        }
    }

    /// One more header line, without its CRLF.
    fn header(mut self, line: &'static str) -> Self {
        self.extra = Some(line);
        self
    }

    /// Sends the head only, with the Content-Length of the whole reply
    /// (RFC 9110 9.3.2).
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
            Route::Metrics { format: TEXT }
        );
        assert_eq!(
            route(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Route::Metrics { format: TEXT }
        );
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"GET /healthz HTTP/1.1\r\n\r\n"), Route::Health);
        assert_eq!(route(b"HEAD /readyz HTTP/1.1\r\n\r\n"), Route::Ready);
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
        assert!(is_head(b"HEAD /nope HTTP/1.1\r\n\r\n"));
        assert!(is_head(b"HEAD /metrics SPDY/3\r\n\r\n"));
        assert!(!is_head(b"GET /metrics HTTP/1.1\r\n\r\n"));
        assert!(!is_head(b"head /metrics HTTP/1.1\r\n\r\n"));
        assert!(!is_head(b"HEA"));
    }

    #[test]
    fn absolute_form_targets_are_routed_by_their_path() {
        for (target, path) in [
            ("/metrics?x=1", "/metrics"),
            ("http://localhost:9100/metrics", "/metrics"),
            ("HTTPS://[::1]:9100/healthz?x=/y", "/healthz"),
            ("hTtP://user@h/readyz", "/readyz"),
            ("http://h:1", "/"),
            ("http://h?x=/metrics", "/"),
            ("http:/metrics", "http:/metrics"),
            ("ftp://h/metrics", "ftp://h/metrics"),
            ("", "/"),
            ("http://\u{e9}/metrics", "/metrics"),
            ("\u{e9}ttp://h/metrics", "\u{e9}ttp://h/metrics"),
            ("abcdef\u{e9}x", "abcdef\u{e9}x"),
        ] {
            assert_eq!(path_of(target), path, "{target}");
        }
        assert_eq!(
            route(b"GET http://localhost:9100/metrics HTTP/1.1\r\n\r\n"),
            Route::Metrics { format: TEXT }
        );
        assert_eq!(
            route(b"GET http://localhost:9100/nope HTTP/1.1\r\n\r\n"),
            Route::NotFound
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
    /// with the leases loaded and a lease or a reservation, lease lost;
    /// /healthz always answers.
    #[test]
    fn readiness_follows_the_data_plane_and_the_own_lease() {
        use crate::ops::{MetricsSnapshot, SwappableSource};
        let state = |control_only: bool, expiry: f64| -> Arc<dyn MetricsSource> {
            Arc::new(move || MetricsSnapshot {
                control_only,
                own_lease_expiry_seconds: expiry,
                leases_listed: true,
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
        // Running, our lease held, the first list of the leases not yet
        // in the tables.
        source.set(Arc::new(|| MetricsSnapshot {
            own_lease_expiry_seconds: 86_000.0,
            ..MetricsSnapshot::default()
        }));
        let reply = get("/readyz");
        assert!(
            reply.starts_with("HTTP/1.1 503 ")
                && reply.ends_with(
                    "not ready: the leases listed in etcd are still being loaded into the tables\n"
                ),
            "{reply}"
        );
        let head = read_reply(server.local_addr(), b"HEAD /readyz HTTP/1.1\r\n\r\n");
        assert!(
            head.starts_with("HTTP/1.1 503 ") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        server.shutdown();
    }

    /// A source that blocks until the test lets it go (also when the test
    /// fails: declared after the server, it is dropped first).
    struct Gate {
        open: Mutex<bool>,
        changed: Condvar,
        entered: Mutex<usize>,
    }

    impl Gate {
        fn new() -> Arc<Gate> {
            Arc::new(Gate {
                open: Mutex::new(false),
                changed: Condvar::new(),
                entered: Mutex::new(0),
            })
        }

        fn wait_entered(&self, n: usize) {
            let mut e = self.entered.lock().unwrap();
            while *e < n {
                drop(e);
                std::thread::sleep(Duration::from_millis(5));
                e = self.entered.lock().unwrap();
            }
        }

        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.changed.notify_all();
        }
    }

    impl MetricsSource for Gate {
        fn snapshot(&self) -> crate::ops::MetricsSnapshot {
            *self.entered.lock().unwrap() += 1;
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.changed.wait(open).unwrap();
            }
            crate::ops::MetricsSnapshot::default()
        }
    }

    struct OpenOnDrop(Arc<Gate>);

    impl Drop for OpenOnDrop {
        fn drop(&mut self) {
            self.0.open();
        }
    }

    #[test]
    fn requests_beyond_the_bound_are_refused_not_queued() {
        let gate = Gate::new();
        let limits = Limits {
            max_handlers: 1,
            max_waiting: 4,
            // Longer than the test: only the gate ends the first request.
            request_deadline: Duration::from_secs(600),
        };
        let server = serve_with("127.0.0.1:0".parse().unwrap(), gate.clone(), limits).unwrap();
        let _open = OpenOnDrop(gate.clone());
        let addr = server.local_addr();
        let scrape = std::thread::spawn(move || read_reply(addr, b"GET /metrics HTTP/1.1\r\n\r\n"));
        // The scrape holds the only handler slot.
        gate.wait_entered(1);
        let reply = read_reply(addr, b"GET /healthz HTTP/1.1\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 503 "), "{reply}");
        assert!(reply.contains("\r\nRetry-After: 1\r\n"), "{reply}");
        assert!(
            reply.ends_with("\r\n\r\ntoo many connections; retry\n"),
            "{reply}"
        );
        let reply = read_reply(addr, b"HEAD /healthz HTTP/1.1\r\n\r\n");
        assert!(
            reply.starts_with("HTTP/1.1 503 ") && reply.ends_with("\r\n\r\n"),
            "{reply}"
        );
        gate.open();
        let reply = scrape.join().unwrap();
        assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
        // The slot is free again.
        let reply = read_reply(addr, b"GET /healthz HTTP/1.1\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
        server.shutdown();
    }

    /// Lingering after a reply (draining what the client may still send)
    /// holds no handler slot: a client that keeps its socket open after an
    /// error reply does not turn the next scrape into a 503.
    #[test]
    fn lingering_after_a_reply_holds_no_handler_slot() {
        let source: Arc<dyn MetricsSource> = Arc::new(crate::ops::MetricsSnapshot::default);
        let limits = Limits {
            max_handlers: 1,
            max_waiting: 4,
            request_deadline: Duration::from_secs(600),
        };
        let server = serve_with("127.0.0.1:0".parse().unwrap(), source, limits).unwrap();
        let addr = server.local_addr();
        let mut lingering = TcpStream::connect(addr).unwrap();
        lingering
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        lingering
            .write_all(b"GET /nowhere HTTP/1.1\r\n\r\n")
            .unwrap();
        // The end of the reply: the server shut its side and now drains
        // this connection, which stays open.
        let mut reply = String::new();
        lingering.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 404 "), "{reply}");
        let reply = read_reply(addr, b"GET /healthz HTTP/1.1\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
        drop(lingering);
        server.shutdown();
    }

    #[test]
    fn the_oldest_idle_connection_is_evicted_for_a_new_one() {
        let source: Arc<dyn MetricsSource> = Arc::new(crate::ops::MetricsSnapshot::default);
        let limits = Limits {
            max_handlers: 1,
            max_waiting: 2,
            // Longer than the test: only eviction closes the idle ones.
            request_deadline: Duration::from_secs(600),
        };
        let server = serve_with("127.0.0.1:0".parse().unwrap(), source, limits).unwrap();
        let addr = server.local_addr();
        let mut oldest = TcpStream::connect(addr).unwrap();
        oldest
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let _idle = TcpStream::connect(addr).unwrap();
        // Accepted in order: the third evicts the first.
        let reply = read_reply(addr, b"GET /healthz HTTP/1.1\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
        let mut rest = Vec::new();
        oldest
            .read_to_end(&mut rest)
            .expect("closed by the server, not timed out");
        assert!(rest.is_empty());
        // Shutdown evicts the one still waiting rather than wait 600 s.
        server.shutdown();
    }

    #[test]
    fn the_peer_with_the_most_waiting_loses_its_oldest() {
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let c = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(victim(&[]), None);
        assert_eq!(victim(&[a]), Some(0));
        assert_eq!(victim(&[a, b, c]), Some(0));
        assert_eq!(victim(&[a, b, b, a, b]), Some(1));
        assert_eq!(victim(&[c, a, b, a, b]), Some(1));
    }

    /// The accept loop's 503 comes with the request unread; the closer
    /// reads it, so the client gets its reply and an orderly close.
    #[test]
    fn a_refused_connection_is_drained_not_reset() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (to_closer, queued) = mpsc::sync_channel(CLOSER_QUEUE);
        let closer = std::thread::spawn(move || closer(queued));
        for (method, body) in [("GET", "too many connections; retry\n"), ("HEAD", "")] {
            let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let request = format!(
                "{method} /metrics HTTP/1.1\r\nX: {}\r\n\r\n",
                "a".repeat(4000)
            );
            client.write_all(request.as_bytes()).unwrap();
            let (stream, _) = listener.accept().unwrap();
            // What refuse() peeks at has come.
            stream.peek(&mut [0u8; 5]).unwrap();
            refuse(stream, &to_closer);
            // More input after the reply, then the client reads.
            client.write_all(&[b'b'; 20_000]).unwrap();
            let mut reply = String::new();
            client
                .read_to_string(&mut reply)
                .expect("the reply and an orderly close, not a reset");
            assert!(reply.starts_with("HTTP/1.1 503 "), "{reply}");
            assert!(reply.ends_with(&format!("\r\n\r\n{body}")), "{reply}");
        }
        drop(to_closer);
        closer.join().unwrap();
    }

    #[test]
    fn a_dribbling_client_is_cut_off_at_the_request_deadline() {
        let source: Arc<dyn MetricsSource> = Arc::new(crate::ops::MetricsSnapshot::default);
        let limits = Limits {
            max_handlers: 1,
            max_waiting: 1,
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
