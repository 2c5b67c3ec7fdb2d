//! What each route answers: the metrics in the negotiated format,
//! liveness (`/healthz`), readiness (`/readyz`, [`readiness`]), the errors,
//! and the 503 for what is beyond the limits.
use std::panic::AssertUnwindSafe;

use super::reply::Reply;
use super::request::Route;
use crate::ops::metrics::{self, MetricsSource};

/// The 503 for a connection or a request beyond the limits.
pub(super) fn busy() -> Reply {
    Reply::new(
        "503 Service Unavailable",
        "text/plain",
        "too many connections; retry\n",
    )
    .header("Retry-After: 1")
}

/// The reply to `route`, in full (the caller drops the body of a HEAD).
pub(super) fn answer(route: Route, source: &dyn MetricsSource) -> Reply {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ops::http::serve;
    use crate::ops::http::test_client::read_reply;

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
}
