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
//!
//! This file holds the bounds (sizes, counts, deadlines, [`Limits`]); beside it:
//! - `server.rs`: the accept thread, the refusals it makes, and each
//!   connection's thread (read the head by its deadline, answer, linger);
//! - `admission.rs`: which connections get a thread, which wait for their
//!   head and which are evicted, and the handler slots;
//! - `request.rs`: parsing a request head into a `Route`;
//! - `endpoints.rs`: what each route answers (`/metrics` in the negotiated
//!   format, `/healthz`, `/readyz`, the errors and the 503);
//! - `reply.rs`: writing a reply by its deadline and lingering after it.
use std::io;
use std::time::{Duration, Instant};

mod admission;
mod endpoints;
mod reply;
mod request;
mod server;
#[cfg(test)]
mod test_client;

pub use server::{serve, serve_with, MetricsServer};

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

/// What is left until `deadline`, as a socket timeout (never zero, which
/// would mean "no timeout"); `TimedOut` once it has passed.
fn time_left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
    }
    Ok(left)
}
