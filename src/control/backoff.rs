//! Capped exponential backoff with jitter, and a cheap reachability probe
//! so a returning etcd is noticed long before a 5 s backoff runs out.

use std::time::Duration;

use rand::Rng;

use super::ControlError;

pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(100);
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// The same warning again (etcd down for hours) is logged once per this.
pub(crate) const REPEAT_LOG: Duration = Duration::from_secs(60);
/// The longest wait after an "unreachable" error from a port that accepts.
const ACCEPTING_RETRY: Duration = Duration::from_secs(1);
/// While etcd is unreachable, how often a TCP connect is tried.
const PROBE_EVERY: Duration = Duration::from_millis(250);
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);

#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    /// BACKOFF_MIN doubling to BACKOFF_MAX: etcd requests.
    pub(crate) fn new() -> Self {
        Self::between(BACKOFF_MIN, BACKOFF_MAX)
    }
    pub(crate) fn between(min: Duration, max: Duration) -> Self {
        Self {
            next: min,
            min,
            max,
        }
    }
    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
    /// The next delay: uniform in [d/2, d], d doubling up to the maximum.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (d * 2).min(self.max);
        let half = d.as_micros() as u64 / 2;
        Duration::from_micros(half + rand::thread_rng().gen_range(0..=half))
    }
}

/// `host:port` of an endpoint URL such as `http://127.0.0.1:2379`, with
/// the scheme's port where the URL names none (`http://etcd.local` is
/// port 80 to the etcd client too): the address the client connects to.
pub(crate) fn host_port(endpoint: &str) -> Option<String> {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("", endpoint));
    let hp = rest.split('/').next().filter(|hp| !hp.is_empty())?;
    // The port follows the last `:`, except inside an IPv6 host's brackets.
    let host_end = hp.rfind(']').map_or(0, |i| i + 1);
    if hp[host_end..].contains(':') {
        return Some(hp.to_string());
    }
    match scheme {
        "http" => Some(format!("{hp}:80")),
        "https" => Some(format!("{hp}:443")),
        _ => None,
    }
}

/// Waits `delay` after `err`. Only an unreachable etcd is probed, so that
/// its return is noticed long before the delay runs out; after an error
/// from an etcd that answered (auth, permission, a cancelled watch, a
/// listener that is no etcd) a TCP connect says nothing, and the whole
/// delay is waited: no spin (flannel #2171, #2470). Returns the index of
/// the endpoint that came back, if one ended the wait.
pub(crate) async fn pause_after(
    err: &ControlError,
    delay: Duration,
    endpoints: &[String],
) -> Option<usize> {
    if matches!(err, ControlError::Unreachable { .. }) {
        sleep_or_reachable(delay, endpoints).await
    } else {
        tokio::time::sleep(delay).await;
        None
    }
}

/// Sleeps for `delay`, but returns early once an endpoint that refused
/// TCP connections accepts them again: etcd is back there, and its index
/// is returned, for the next try to go to it. Endpoints that accept all
/// along (a proxy, an etcd still starting, a listener that is no etcd, a
/// blackholed member that never answers) do not end the wait, but while
/// any does, the delay is cut to 1 s: an etcd that accepts before it
/// serves is tried again soon, also beside a member that stays down.
pub(crate) async fn sleep_or_reachable(delay: Duration, endpoints: &[String]) -> Option<usize> {
    let start = tokio::time::Instant::now();
    let addrs: Vec<(usize, String)> = endpoints
        .iter()
        .enumerate()
        .filter_map(|(i, e)| host_port(e).map(|a| (i, a)))
        .collect();
    let mut refusing = Vec::new();
    for (i, a) in &addrs {
        if !accepts(a).await {
            refusing.push((*i, a.clone()));
        }
    }
    // Not a spin: at most every ACCEPTING_RETRY.
    let accepting = refusing.len() < addrs.len();
    let deadline = start
        + if accepting {
            delay.min(ACCEPTING_RETRY)
        } else {
            delay
        };
    loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return None;
        }
        tokio::time::sleep((deadline - now).min(PROBE_EVERY)).await;
        for (i, a) in &refusing {
            if accepts(a).await {
                return Some(*i);
            }
        }
    }
}

async fn accepts(addr: &str) -> bool {
    let c = tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await;
    matches!(c, Ok(Ok(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_jittered_and_caps() {
        let mut b = Backoff::new();
        let first = b.next_delay();
        assert!(first >= BACKOFF_MIN / 2 && first <= BACKOFF_MIN);
        let mut last = first;
        for _ in 0..20 {
            last = b.next_delay();
        }
        assert!(last >= BACKOFF_MAX / 2 && last <= BACKOFF_MAX);
        b.reset();
        assert!(b.next_delay() <= BACKOFF_MIN);
    }

    /// A wait after "unreachable" ends when an endpoint that refused
    /// accepts again, and says which. One that accepts all along and never
    /// answers (a blackhole, or an etcd still starting) does not end it,
    /// but cuts it to 1 s, also beside a member that stays down: no index.
    #[tokio::test]
    async fn the_wait_ends_where_etcd_came_back_or_after_a_second_beside_an_accepting_one() {
        let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let refusing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = refusing.local_addr().unwrap().port();
        drop(refusing);
        let down = format!("http://127.0.0.1:{port}");
        let hole = format!("http://{}", blackhole.local_addr().unwrap());
        let endpoints = vec![hole.clone(), down.clone()];
        let dead = vec![down.clone()];
        let wait =
            tokio::spawn(async move { sleep_or_reachable(Duration::from_secs(120), &dead).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!wait.is_finished(), "nothing came back yet");
        let back = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let r = tokio::time::timeout(Duration::from_secs(30), wait).await;
        assert_eq!(r.expect("woken well before the delay").unwrap(), Some(0));
        drop(back);
        // Beside a member that stays down, or alone, an accepting endpoint
        // cuts the wait (120 s asked) to about 1 s: no index.
        for eps in [endpoints, vec![hole]] {
            let r = tokio::time::timeout(
                Duration::from_secs(30),
                sleep_or_reachable(Duration::from_secs(120), &eps),
            )
            .await;
            assert_eq!(r.expect("cut to 1 s"), None, "{eps:?}");
        }
    }

    #[test]
    fn endpoint_host_port() {
        for (url, want) in [
            ("http://127.0.0.1:2379", Some("127.0.0.1:2379")),
            ("https://etcd.local:2379/", Some("etcd.local:2379")),
            ("127.0.0.1:1", Some("127.0.0.1:1")),
            // No port: the scheme's, as the etcd client connects there.
            ("http://etcd.local", Some("etcd.local:80")),
            ("https://etcd.local/", Some("etcd.local:443")),
            ("https://[fd00::5]", Some("[fd00::5]:443")),
            ("https://[fd00::5]:2379", Some("[fd00::5]:2379")),
            ("nohost", None),
            ("http://", None),
        ] {
            assert_eq!(host_port(url).as_deref(), want, "{url}");
        }
    }
}
