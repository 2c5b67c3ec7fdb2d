//! The server's threads: one accepts (and refuses, with a 503, what the
//! limits do not admit), one drains the refused connections, and each
//! admitted connection gets its own short-lived thread that reads the
//! request head by its deadline, takes a handler slot, answers and lingers.
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::admission::{Conn, Conns};
use super::endpoints::{answer, busy};
use super::reply::{drain, linger};
use super::request::{find_head_end, is_head, route, Route};
use super::{time_left, Limits, CLOSER_QUEUE, LINGER, MAX_REQUEST_BYTES, WRITE_DEADLINE};
use crate::ops::metrics::MetricsSource;

/// The running metrics endpoint; stops when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    conns: Arc<Conns>,
    thread: Option<JoinHandle<()>>,
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
                crate::ops::pause(Duration::from_millis(100));
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

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex};

    use super::*;
    use crate::ops::http::test_client::read_reply;

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
                crate::ops::pause(Duration::from_millis(5));
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
            crate::ops::pause(Duration::from_millis(10));
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
