//! A minimal HTTP/1.1 server for `/metrics`: one thread, one request per
//! connection, bounded reads, never a panic on client input.
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::metrics::{self, ExpositionFormat, MetricsSource};

/// Longest request head accepted; scrapers send a few hundred bytes.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The running metrics endpoint; stops when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Binds `addr` and serves `GET /metrics` from a thread named
/// `vxgate-metrics`. Port 0 picks a free port (see [`MetricsServer::local_addr`]).
pub fn serve(addr: SocketAddr, source: Arc<dyn MetricsSource>) -> io::Result<MetricsServer> {
    let listener = TcpListener::bind(addr)?;
    let local_addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("vxgate-metrics".into())
        .spawn(move || accept_loop(&listener, &*source, &thread_stop))?;
    tracing::info!(%local_addr, "metrics served at http://{local_addr}/metrics");
    Ok(MetricsServer {
        local_addr,
        stop,
        thread: Some(thread),
    })
}

impl MetricsServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and joins the thread.
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
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn accept_loop(listener: &TcpListener, source: &dyn MetricsSource, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match conn {
            Ok(stream) => {
                if let Err(e) = handle(stream, source) {
                    tracing::debug!(error = %e, "metrics request failed");
                }
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "metrics endpoint cannot accept connections");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics {
        head_only: bool,
        format: ExpositionFormat,
    },
    NotFound,
    MethodNotAllowed,
    BadRequest,
    TooLarge,
}

fn handle(mut stream: TcpStream, source: &dyn MetricsSource) -> io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut buf = [0u8; MAX_REQUEST_BYTES];
    let mut len = 0;
    let route = loop {
        if len == buf.len() {
            break Route::TooLarge;
        }
        let n = stream.read(&mut buf[len..])?;
        if n == 0 {
            // Closed before a full request head.
            return Ok(());
        }
        len += n;
        if let Some(end) = find_head_end(&buf[..len]) {
            break route(&buf[..end]);
        }
    };
    match route {
        Route::Metrics { head_only, format } => {
            // In builds that unwind (tests, dev), a panicking source must not
            // take the endpoint down with it. Release builds abort on panic
            // (Cargo.toml): the process ends and its supervisor restarts it.
            let encoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
                metrics::encode(&source.snapshot(), format).ok()
            }));
            match encoded.ok().flatten() {
                Some(body) => respond(
                    &mut stream,
                    "200 OK",
                    format.content_type(),
                    &body,
                    head_only,
                ),
                None => respond(
                    &mut stream,
                    "500 Internal Server Error",
                    "text/plain",
                    "encoding metrics failed\n",
                    head_only,
                ),
            }
        }
        Route::NotFound => respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            "not found; metrics are at /metrics\n",
            false,
        ),
        Route::MethodNotAllowed => respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "use GET\n",
            false,
        ),
        Route::BadRequest => respond(
            &mut stream,
            "400 Bad Request",
            "text/plain",
            "bad request\n",
            false,
        ),
        Route::TooLarge => {
            respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "request too large\n",
                false,
            )?;
            linger(&mut stream);
            Ok(())
        }
    }
}

/// Closing with unread input makes the kernel send a reset, which can
/// destroy the reply in flight: read (a bounded amount of) the rest first.
fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut sink = [0u8; 4096];
    let mut left = 16 * MAX_REQUEST_BYTES;
    while left > 0 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn route(head: &[u8]) -> Route {
    let Ok(head) = std::str::from_utf8(head) else {
        return Route::BadRequest;
    };
    let line = head.split("\r\n").next().unwrap_or("");
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
    if path == "/metrics" {
        let accept = header(head, "accept");
        Route::Metrics {
            head_only,
            format: ExpositionFormat::negotiate(accept.as_deref()),
        }
    } else {
        Route::NotFound
    }
}

/// The value of header `name` (compared case-insensitively) in a request
/// head, or `None` when absent. Repeated headers are joined with `, ` (RFC
/// 9110 5.3) and obsolete line folding is unfolded. Malformed lines are
/// skipped.
fn header(head: &str, name: &str) -> Option<String> {
    let mut value: Option<String> = None;
    // Whether the previous field line was `name`, for folded continuations.
    let mut in_field = false;
    for line in head.split("\r\n").skip(1) {
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

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
    head_only: bool,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()
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
}
