//! Admission of connections: a connection gets a thread only while the
//! threads stay bounded, waits for its head as one of the evictable waiting
//! connections, and once its head has come takes a handler slot if one is
//! free. The connection threads and what they hold are counted here.
use std::cmp::Reverse;
use std::collections::VecDeque;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{Limits, WARN_INTERVAL};
use crate::ops::logging::RateLimitedLog;

/// The connection threads and what they hold.
#[derive(Debug)]
pub(super) struct Conns {
    state: Mutex<ConnState>,
    /// Signalled when a connection thread ends.
    ended: Condvar,
    pub(super) warn: RateLimitedLog,
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
    pub(super) fn new() -> Self {
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
    pub(super) fn admit(
        self: &Arc<Self>,
        stream: &TcpStream,
        peer: IpAddr,
        limits: &Limits,
    ) -> Option<Conn> {
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
    pub(super) fn evict_all(&self) {
        for w in self.lock().waiting.drain(..) {
            let _ = w.stream.shutdown(Shutdown::Both);
        }
    }

    /// Waits until every connection thread has ended (each is bounded by
    /// its deadlines).
    pub(super) fn wait_idle(&self) {
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
pub(super) struct Conn {
    pub(super) conns: Arc<Conns>,
    id: u64,
}

impl Conn {
    /// The head has come: no longer evictable.
    pub(super) fn head_done(&self) {
        self.conns.lock().waiting.retain(|w| w.id != self.id);
    }

    /// A handler slot unless `max` are taken.
    pub(super) fn try_handle(&self, max: usize) -> Option<Handling> {
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
pub(super) struct Handling(Arc<Conns>);

impl Drop for Handling {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.handling = st.handling.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    use super::*;
    use crate::ops::http::serve_with;
    use crate::ops::http::test_client::read_reply;
    use crate::ops::MetricsSource;

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
}
