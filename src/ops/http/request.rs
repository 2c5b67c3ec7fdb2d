//! Parsing a request head, never a panic on client input: where it ends,
//! whether it is a HEAD, and what it asks for ([`Route`]): the method, the
//! path (also of an absolute-form target) and, for `/metrics`, the format
//! its `Accept` header negotiates.
use crate::ops::metrics::ExpositionFormat;

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Route {
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

/// Whether the request (or what has come of it) is a HEAD; methods are
/// case-sensitive (RFC 9110 9.1).
pub(super) fn is_head(request: &[u8]) -> bool {
    request.starts_with(b"HEAD ")
}

/// The end of the request head: just past the first empty line. Lines end
/// in CRLF or, as RFC 9112 2.2 lets a server accept, a bare LF.
pub(super) fn find_head_end(buf: &[u8]) -> Option<usize> {
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

pub(super) fn route(head: &[u8]) -> Route {
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
}
