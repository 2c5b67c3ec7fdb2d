//! The etcd connection and the reads every other part needs: ping, the
//! network config (waiting for it like flanneld), and a paged lease list.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, GetOptions, GetResponse, Identity, KeyValue, KvClient,
    TlsOptions, Txn, TxnResponse, WatchClient,
};

use super::backoff::{pause_after, sleep_or_reachable, Backoff, REPEAT_LOG};
use super::schema::NetworkConfig;
use super::status::ControlStatus;
use super::{ControlError, EtcdOptions};
use crate::ops::logging::RateLimitedLog;
use crate::ops::output::{error_text, with_causes};

/// Deadline for each unary etcd request.
pub(crate) const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline for a request to a member that has not answered yet on its
/// current connection while other members are left to try: a member
/// that accepts TCP connections and never answers (blackholed, hung)
/// costs this, not `OP_TIMEOUT`, before the next one is tried. A member
/// that has answered gets `OP_TIMEOUT` (a slow link's large list pages),
/// and so does the last one left.
pub(crate) const MEMBER_TIMEOUT: Duration = Duration::from_secs(1);
/// Keys per page when listing leases; halved while a page is over the
/// reply limit (`list_subnets`).
const LIST_PAGE: i64 = 2_000;

/// The etcd connection. Its client talks to one member, `opts.endpoints[at]`:
/// etcd-client spreads one client's requests over all its endpoints and
/// fails those that land on a member it cannot reach (etcd-client #39),
/// so with one member of three down a random share of requests would
/// fail, and flanneld's Go client fails over instead. A request that
/// finds its member unreachable moves on to the next one (`request`),
/// and so does a watch session that ends in an error (`fail_over`).
#[derive(Clone)]
pub(crate) struct Registry {
    pub(crate) opts: EtcdOptions,
    pub(crate) client: Client,
    /// Which endpoint `client` talks to.
    at: usize,
    /// Whether the member answered a request on `client`: until it has,
    /// a request with other members left waits `MEMBER_TIMEOUT` only.
    answered: bool,
    /// Prefix without trailing '/'.
    pub(crate) prefix: String,
    /// Counts auth token renewals.
    status: Arc<ControlStatus>,
}

/// Runs an etcd call under OP_TIMEOUT and maps its error.
pub(crate) async fn call<T, F>(
    op: &'static str,
    opts: &EtcdOptions,
    f: F,
) -> Result<T, ControlError>
where
    F: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    call_within(op, opts, OP_TIMEOUT, f).await
}

/// `call` under the deadline `limit`.
async fn call_within<T, F>(
    op: &'static str,
    opts: &EtcdOptions,
    limit: Duration,
    f: F,
) -> Result<T, ControlError>
where
    F: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    match tokio::time::timeout(limit, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(map_error(op, opts, e)),
        Err(_) => Err(ControlError::Unreachable {
            endpoints: opts.endpoints.join(","),
            detail: format!("{op} {TIMED_OUT} {limit:?}"),
        }),
    }
}

/// What to add to a failed connection over https: without a client
/// certificate, an etcd with `--client-cert-auth` ends the TLS session
/// and the client sees only "transport error"; with one it refuses (not
/// yet valid, expired, of a CA it does not trust), often only "connection
/// closed" reaches the client, and etcd's log has the reason. Not when `detail`
/// says nothing listened (a TCP connect error) or the peer spoke no TLS
/// (a handshake cut short: a plain-http etcd), where it would mislead.
fn client_cert_hint(opts: &EtcdOptions, detail: &str) -> &'static str {
    let https = opts.endpoints.iter().any(|e| e.starts_with("https://"));
    let lower = detail.to_ascii_lowercase();
    let other_cause = lower.contains("tcp connect") || lower.contains("handshake eof");
    if !https || other_cause {
        ""
    } else if lower.contains("invalid peer certificate") {
        // Our side refused etcd's certificate: the CA we trust is at fault.
        "; check that --etcd-cafile holds the CA that signed etcd's server certificate (its --cert-file) and that the certificate names the endpoint's host"
    } else if opts.certfile.is_none() {
        "; does etcd require a client certificate (its --client-cert-auth)? give --etcd-certfile and --etcd-keyfile"
    } else {
        // With TLS 1.3 the client may see only a closed connection when
        // etcd refuses its certificate.
        "; if etcd requires client certificates (its --client-cert-auth), check that --etcd-certfile is valid now and signed by a CA in etcd's --trusted-ca-file (etcd's log names its reason)"
    }
}

/// The deadline of a request to a member: `MEMBER_TIMEOUT` while it has
/// not answered on its connection and there are other members to try,
/// else `OP_TIMEOUT`.
pub(crate) fn member_deadline(answered: bool, several: bool) -> Duration {
    if several && !answered {
        MEMBER_TIMEOUT
    } else {
        OP_TIMEOUT
    }
}

/// What a call that ran out of its deadline says (`call_within`).
const TIMED_OUT: &str = "timed out after";

/// Whether `e` is a call that ran out of a deadline shorter than
/// `OP_TIMEOUT` (`limit`): the member may only be slow.
fn ran_out(e: &ControlError, limit: Duration) -> bool {
    limit < OP_TIMEOUT
        && matches!(e, ControlError::Unreachable { detail, .. } if detail.contains(TIMED_OUT))
}

/// One round of connecting, over the members from `start` to the last:
/// each gets `member_deadline` (1 s while others are left); if none
/// answered and one only ran out of its short deadline (with auth the
/// connect authenticates: a slow link, a loaded member), the first such
/// one gets the whole deadline, as in `Registry::request`. The client and
/// its member's index.
async fn connect_round(opts: &EtcdOptions, start: usize) -> Result<(Client, usize), ControlError> {
    let n = opts.endpoints.len();
    let (mut slow, mut failed) = (None, None);
    for at in start..n {
        let limit = member_deadline(false, at + 1 < n);
        match new_client(opts, at, limit).await {
            Ok(client) => return Ok((client, at)),
            Err(e @ ControlError::Unreachable { .. }) => {
                slow = slow.or(ran_out(&e, limit).then_some(at));
                failed = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    match (slow, failed) {
        (Some(at), _) => Ok((new_client(opts, at, OP_TIMEOUT).await?, at)),
        (None, Some(e)) => Err(e),
        (None, None) => Err(ControlError::Options("no --etcd-endpoints given".into())),
    }
}

/// Sorts etcd-client errors into unreachable / credentials / other.
pub(crate) fn map_error(
    op: &'static str,
    opts: &EtcdOptions,
    e: etcd_client::Error,
) -> ControlError {
    let endpoints = &opts.endpoints;
    use etcd_client::Error as E;
    // gRPC status codes (tonic is not a direct dependency).
    const CANCELLED: i32 = 1;
    const UNKNOWN: i32 = 2;
    const DEADLINE_EXCEEDED: i32 = 4;
    const PERMISSION_DENIED: i32 = 7;
    const UNAVAILABLE: i32 = 14;
    const UNAUTHENTICATED: i32 = 16;
    const OUT_OF_RANGE: i32 = 11;
    let unreachable = |detail: String| ControlError::Unreachable {
        endpoints: endpoints.join(","),
        detail: {
            let hint = client_cert_hint(opts, &detail);
            detail + hint
        },
    };
    match e {
        E::TransportError(t) => unreachable(format!("{op}: {}", error_text(&t))),
        E::IoError(io) => unreachable(format!("{op}: {}", error_text(&io))),
        E::GRpcStatus(s) => {
            let msg = s.message().to_string();
            let lower = msg.to_ascii_lowercase();
            let code = s.code() as i32;
            // A token etcd no longer takes (a JWT past its ttl, a simple
            // token idle 5 min or lost in an etcd restart, one from before
            // the auth store changed): not the credentials, which a new
            // token cures (`Registry::request`).
            if lower.contains("invalid auth token")
                || lower.contains("revision of auth store is old")
            {
                ControlError::AuthToken(format!("{op}: {msg}"))
            } else if matches!(code, UNAUTHENTICATED | PERMISSION_DENIED)
                || lower.contains("authentication failed")
                || lower.contains("user name is empty")
                || lower.contains("permission denied")
            {
                ControlError::Auth(format!("{op}: {msg}"))
            } else if matches!(code, UNAVAILABLE | DEADLINE_EXCEEDED | CANCELLED | UNKNOWN) {
                // The status says only "transport error"; its causes say
                // why (a TLS alert: etcd refused our client certificate).
                unreachable(with_causes(
                    format!("{op}: {:?}: {msg}", s.code()),
                    std::error::Error::source(&s),
                ))
            } else if code == OUT_OF_RANGE && lower.contains("message length too large") {
                // tonic's decoding limit; etcd's own OutOfRange (a future
                // revision) says otherwise.
                ControlError::ReplyTooLarge { op, detail: msg }
            } else {
                ControlError::Etcd {
                    op,
                    detail: format!("{:?}: {msg}", s.code()),
                }
            }
        }
        other => ControlError::Etcd {
            op,
            detail: other.to_string(),
        },
    }
}

fn read_file(flag: &'static str, path: &std::path::Path) -> Result<Vec<u8>, ControlError> {
    std::fs::read(path).map_err(|source| ControlError::TlsFile {
        flag,
        path: path.to_path_buf(),
        source,
    })
}

fn connect_options(opts: &EtcdOptions) -> Result<ConnectOptions, ControlError> {
    let mut co = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
        .with_keep_alive_while_idle(true);
    if opts.cafile.is_some() || opts.certfile.is_some() || opts.keyfile.is_some() {
        let mut tls = TlsOptions::new();
        tls = match &opts.cafile {
            Some(ca) => tls.ca_certificate(Certificate::from_pem(read_file("etcd-cafile", ca)?)),
            // Without a CA file the servers are checked against the
            // system's trust roots, as flanneld's Go client does.
            None => tls.with_native_roots(),
        };
        match (&opts.certfile, &opts.keyfile) {
            (Some(c), Some(k)) => {
                tls = tls.identity(Identity::from_pem(
                    read_file("etcd-certfile", c)?,
                    read_file("etcd-keyfile", k)?,
                ));
            }
            (None, None) => {}
            _ => {
                return Err(ControlError::Options(
                    "--etcd-certfile and --etcd-keyfile must be given together".into(),
                ))
            }
        }
        if let Some(e) = opts.endpoints.iter().find(|e| e.starts_with("http://")) {
            return Err(ControlError::Options(format!(
                "endpoint {e} is plain http but TLS files are given; use https://"
            )));
        }
        co = co.with_tls(tls);
    } else if opts.endpoints.iter().any(|e| e.starts_with("https://")) {
        // etcd-client would otherwise speak TLS trusting no CA at all.
        tracing::info!(
            "https etcd endpoint without --etcd-cafile: the servers' certificates are checked against the system's trust roots (SSL_CERT_FILE, SSL_CERT_DIR or /etc/ssl/certs)"
        );
        co = co.with_tls(TlsOptions::new().with_native_roots());
    }
    if let Some(user) = &opts.username {
        co = co.with_user(user.clone(), opts.password.clone().unwrap_or_default());
    } else if opts.password.is_some() {
        return Err(ControlError::Options(
            "--etcd-password given without --etcd-username".into(),
        ));
    }
    Ok(co)
}

/// A client of the one member `opts.endpoints[at]`; authenticates at once
/// when credentials are configured, within `limit`.
async fn new_client(
    opts: &EtcdOptions,
    at: usize,
    limit: Duration,
) -> Result<Client, ControlError> {
    let co = connect_options(opts)?;
    let member = &opts.endpoints[at..=at];
    match call_within(
        "connect",
        opts,
        limit,
        Client::connect(member, Some(co)),
    )
    .await
    {
        // tonic loads the system's roots as it builds the channel; none
        // will appear by retrying.
        Err(ControlError::Unreachable { detail, .. })
            if detail.contains("no native certs found") =>
        {
            Err(ControlError::Options(format!(
                "https etcd endpoint without --etcd-cafile, and no system trust roots were found (SSL_CERT_FILE, SSL_CERT_DIR, /etc/ssl/certs): give the CA of etcd's server certificate with --etcd-cafile ({detail})"
            )))
        }
        r => r,
    }
}

/// A KV client that takes replies up to `max` bytes.
fn kv(c: &Client, max: usize) -> KvClient {
    c.kv_client().max_decoding_message_size(max)
}

/// A count-only read of the config key (`key`) with client `c`: its reply
/// header carries the store's revision (`revision_of`).
fn count_config(
    c: &Client,
    key: String,
    max: usize,
) -> impl Future<Output = Result<GetResponse, etcd_client::Error>> {
    let mut kv = kv(c, max);
    async move { kv.get(key, Some(GetOptions::new().with_count_only())).await }
}

/// The store's revision a reply was read at.
fn revision_of(resp: &GetResponse) -> i64 {
    resp.header().map_or(0, |h| h.revision())
}

impl Registry {
    /// Builds the client. With credentials, waits (with backoff) while etcd
    /// is unreachable, and fails at once if the credentials are refused.
    pub(crate) async fn connect(
        mut opts: EtcdOptions,
        status: Arc<ControlStatus>,
    ) -> Result<Self, ControlError> {
        if opts.endpoints.is_empty() {
            return Err(ControlError::Options("no --etcd-endpoints given".into()));
        }
        let prefix = opts.prefix.trim_end_matches('/').to_string();
        if prefix.is_empty() || !prefix.starts_with('/') {
            return Err(ControlError::Options(format!(
                "--etcd-prefix {:?} must start with '/' (flanneld default: /coreos.com/network)",
                opts.prefix
            )));
        }
        opts.prefix = prefix.clone();
        let mut backoff = Backoff::new();
        let repeats = RateLimitedLog::new(REPEAT_LOG);
        let mut start = 0;
        loop {
            match connect_round(&opts, start).await {
                Ok((client, at)) => {
                    return Ok(Self {
                        opts,
                        client,
                        at,
                        answered: false,
                        prefix,
                        status,
                    })
                }
                Err(e @ ControlError::Unreachable { .. }) => {
                    if let Some(suppressed) = repeats.check(&e.to_string()) {
                        tracing::warn!(error = %e, suppressed, "cannot connect to etcd yet; retrying");
                    }
                    // Every member tried: wait before the next round,
                    // which starts where etcd came back, if it did.
                    let back = sleep_or_reachable(backoff.next_delay(), &opts.endpoints).await;
                    start = back.unwrap_or(0);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A fresh client of the same member (new connections, new auth
    /// token) after an error.
    pub(crate) async fn reconnect(&mut self) -> Result<(), ControlError> {
        self.reconnect_within(OP_TIMEOUT).await
    }

    async fn reconnect_within(&mut self, limit: Duration) -> Result<(), ControlError> {
        self.client = new_client(&self.opts, self.at, limit).await?;
        self.answered = false;
        Ok(())
    }

    /// A fresh client of the next member (the same one when there is only
    /// one), after an error that may be its own.
    pub(crate) async fn fail_over(&mut self) -> Result<(), ControlError> {
        self.at = (self.at + 1) % self.opts.endpoints.len();
        self.reconnect().await
    }

    /// A fresh client of member `at` (one that just became reachable
    /// again).
    pub(crate) async fn go_to(&mut self, at: usize) -> Result<(), ControlError> {
        if at < self.opts.endpoints.len() {
            self.at = at;
        }
        self.reconnect().await
    }

    /// The endpoint the client talks to.
    pub(crate) fn member(&self) -> &str {
        &self.opts.endpoints[self.at]
    }

    /// Runs the etcd request `f` makes on the current client. If etcd no
    /// longer takes our auth token, authenticates again and retries once:
    /// etcd-client fetches a token at connect and never again, so with
    /// etcd's `--auth-token jwt,...,ttl=...` (or a simple token that
    /// expired or was lost in an etcd restart) every request would fail
    /// from then on. Only a refused password is a credentials problem.
    /// A member that cannot be reached (or answers `Unavailable`, or not
    /// in time) hands the request to the next one, each member tried once;
    /// with several members, one not yet heard from on its connection
    /// gets `MEMBER_TIMEOUT` (a blackholed member costs about a second),
    /// and if none answered, the first that only ran out of that time (an
    /// etcd still starting, a slow link) is tried once more with the
    /// whole `OP_TIMEOUT`.
    pub(crate) async fn request<T, F, Fut>(
        &mut self,
        op: &'static str,
        mut f: F,
    ) -> Result<T, ControlError>
    where
        F: FnMut(&Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let n = self.opts.endpoints.len();
        let mut slow: Option<usize> = None;
        let mut failed = None;
        for i in 0..n {
            if i > 0 {
                tracing::debug!(member = self.member(), error = ?failed, "etcd member unreachable; trying the next");
                self.at = (self.at + 1) % n;
                // A member whose client cannot be made (authentication
                // unanswered) counts as tried too.
                let limit = member_deadline(false, true);
                match self.reconnect_within(limit).await {
                    Ok(()) => {}
                    Err(e @ ControlError::Unreachable { .. }) => {
                        slow = slow.or(ran_out(&e, limit).then_some(self.at));
                        failed = Some(e);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let limit = member_deadline(self.answered, n > 1);
            match self.request_here(op, limit, &mut f).await {
                Err(e @ ControlError::Unreachable { .. }) => {
                    slow = slow.or(ran_out(&e, limit).then_some(self.at));
                    failed = Some(e);
                }
                r => return r,
            }
        }
        match (slow, failed) {
            (Some(at), _) => {
                tracing::debug!(member = %self.opts.endpoints[at], "no etcd member answered in time; the first slow one again, with the whole deadline");
                self.at = at;
                self.reconnect_within(OP_TIMEOUT).await?;
                self.request_here(op, OP_TIMEOUT, &mut f).await
            }
            (None, Some(e)) => Err(e),
            (None, None) => Err(ControlError::Options("no --etcd-endpoints given".into())),
        }
    }

    /// `request` on the current member only, within `limit`.
    async fn request_here<T, F, Fut>(
        &mut self,
        op: &'static str,
        limit: Duration,
        f: &mut F,
    ) -> Result<T, ControlError>
    where
        F: FnMut(&Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let r = match call_within(op, &self.opts, limit, f(&self.client)).await {
            Err(ControlError::AuthToken(why)) => {
                self.renew_token(&why).await?;
                call_within(op, &self.opts, limit, f(&self.client)).await
            }
            r => r,
        };
        // Any answer from etcd, an error it sent included, shows the
        // member serves this connection.
        if !matches!(r, Err(ControlError::Unreachable { .. })) {
            self.answered = true;
        }
        r
    }

    /// A new client, so a new token: etcd 3.4 refuses the Authenticate
    /// request itself when it carries the stale token, so the old client
    /// cannot fetch one (`set_client_auth`).
    pub(crate) async fn renew_token(&mut self, why: &str) -> Result<(), ControlError> {
        tracing::debug!(
            reason = why,
            "etcd no longer takes our auth token; authenticating again"
        );
        self.status.add_auth_token_renewal();
        self.reconnect().await
    }

    /// A read (`request`: one retry on a stale token; replies up to
    /// `EtcdOptions::max_reply_bytes`).
    pub(crate) async fn get(
        &mut self,
        op: &'static str,
        key: impl Into<Vec<u8>>,
        o: Option<GetOptions>,
    ) -> Result<GetResponse, ControlError> {
        let (key, max) = (key.into(), self.opts.max_reply_bytes);
        self.request(op, |c| {
            let (mut kv, key, o) = (kv(c, max), key.clone(), o.clone());
            async move { kv.get(key, o).await }
        })
        .await
    }

    /// A transaction, as `get`.
    pub(crate) async fn txn(&mut self, t: Txn) -> Result<TxnResponse, ControlError> {
        let max = self.opts.max_reply_bytes;
        self.request("txn", |c| {
            let (mut kv, t) = (kv(c, max), t.clone());
            async move { kv.txn(t).await }
        })
        .await
    }

    /// A watch client that takes responses up to the reply limit.
    pub(crate) fn watcher(&self) -> WatchClient {
        self.client
            .watch_client()
            .max_decoding_message_size(self.opts.max_reply_bytes)
    }

    pub(crate) fn config_key(&self) -> String {
        format!("{}/config", self.prefix)
    }

    pub(crate) fn subnets_dir(&self) -> String {
        format!("{}/subnets/", self.prefix)
    }

    /// A linearizable count-only read of the config key: the store's
    /// current revision, from whichever member answers with a quorum behind
    /// it.
    pub(crate) async fn revision(&mut self) -> Result<i64, ControlError> {
        let (key, max) = (self.config_key(), self.opts.max_reply_bytes);
        let resp = self
            .request("get", |c| count_config(c, key.clone(), max))
            .await?;
        Ok(revision_of(&resp))
    }

    /// `revision` on a copy of this registry, so that it can run beside a
    /// watch, from the member the watch is on (no fail-over: a member that
    /// cannot serve a quorum read must not keep the watch). Gives the copy
    /// back: its client is new if the token was renewed, for the caller to
    /// adopt.
    pub(crate) fn quorum_read(
        &self,
    ) -> impl Future<Output = (Result<i64, ControlError>, Registry)> + Send + 'static {
        let mut reg = self.clone();
        async move {
            let (key, max) = (reg.config_key(), reg.opts.max_reply_bytes);
            let r = reg
                .request_here("get", OP_TIMEOUT, &mut |c: &Client| {
                    count_config(c, key.clone(), max)
                })
                .await
                .map(|resp| revision_of(&resp));
            (r, reg)
        }
    }

    /// `revision` with the current token, not renewed if etcd refuses it.
    pub(crate) async fn revision_with_this_token(&self) -> Result<i64, ControlError> {
        let (key, max) = (self.config_key(), self.opts.max_reply_bytes);
        let resp = call("get", &self.opts, count_config(&self.client, key, max)).await?;
        Ok(revision_of(&resp))
    }

    /// The raw config value, or None if the key does not exist.
    pub(crate) async fn get_config(&mut self) -> Result<Option<Vec<u8>>, ControlError> {
        Ok(self.read_config().await?.value)
    }

    /// The config key as read, with the reply's cluster ID.
    pub(crate) async fn read_config(&mut self) -> Result<ConfigRead, ControlError> {
        let key = self.config_key();
        let resp = self.get("get config", key, None).await?;
        let kv = resp.kvs().first();
        Ok(ConfigRead {
            value: kv.map(|kv| kv.value().to_vec()),
            mod_revision: kv.map_or(0, |kv| kv.mod_revision()),
            cluster_id: resp.header().map_or(0, |h| h.cluster_id()),
        })
    }

    /// Waits for a readable `<prefix>/config`, like flanneld.
    pub(crate) async fn wait_for_config(
        &mut self,
    ) -> Result<(NetworkConfig, Vec<u8>), ControlError> {
        let mut backoff = Backoff::new();
        let repeats = RateLimitedLog::new(REPEAT_LOG);
        loop {
            let err = match self.get_config().await {
                Ok(Some(raw)) => {
                    let cfg =
                        NetworkConfig::parse(&raw).map_err(|source| ControlError::Config {
                            key: self.config_key(),
                            source,
                        })?;
                    return Ok((cfg, raw));
                }
                Ok(None) => {
                    if let Some(suppressed) = repeats.check("missing") {
                        tracing::warn!(
                            key = %self.config_key(),
                            suppressed,
                            "flannel config not found in etcd store. Did you create your config using etcdv3 API? Waiting for {}",
                            self.config_key()
                        );
                    }
                    None
                }
                Err(e @ ControlError::Auth(_)) => return Err(e),
                Err(e) => {
                    if let Some(suppressed) = repeats.check(&e.to_string()) {
                        tracing::warn!(error = %e, suppressed, "cannot read the flannel config from etcd; retrying");
                    }
                    Some(e)
                }
            };
            let delay = backoff.next_delay();
            if let Some(e) = &err {
                let next = match pause_after(e, delay, &self.opts.endpoints).await {
                    Some(back) => self.go_to(back).await,
                    None => self.fail_over().await,
                };
                if let Err(e) = next {
                    if matches!(e, ControlError::Auth(_)) {
                        return Err(e);
                    }
                }
            } else {
                tokio::time::sleep(delay).await;
            }
        }
    }

    /// All keys under `<prefix>/subnets/` at one revision, read in pages.
    /// A page over the reply limit is read again halved, down to one key
    /// (no single value etcd stores comes near the 2 GiB limit).
    pub(crate) async fn list_subnets(&mut self) -> Result<(i64, Vec<KeyValue>), ControlError> {
        let dir = self.subnets_dir();
        let end = prefix_end(dir.as_bytes());
        let mut from = dir.into_bytes();
        let mut rev = 0;
        let mut page = LIST_PAGE;
        let mut out = Vec::new();
        loop {
            let mut o = GetOptions::new().with_range(end.clone()).with_limit(page);
            if rev != 0 {
                o = o.with_revision(rev);
            }
            let read = self.get("list subnets", from.clone(), Some(o)).await;
            let mut resp = match read {
                Ok(r) => r,
                Err(e @ ControlError::ReplyTooLarge { .. }) if page > 1 => {
                    page /= 2;
                    tracing::debug!(page, error = %e, "lease list page over the reply limit; reading smaller pages");
                    continue;
                }
                Err(e) => return Err(e),
            };
            // Back up towards full pages after the large values.
            page = (page * 2).min(LIST_PAGE);
            if rev == 0 {
                rev = revision_of(&resp);
            }
            let more = resp.more();
            let kvs = resp.take_kvs();
            let next = kvs.last().filter(|_| more).map(|last| {
                let mut k = last.key().to_vec();
                k.push(0);
                k
            });
            out.extend(kvs);
            match next {
                Some(k) => from = k,
                None => return Ok((rev, out)),
            }
        }
    }
}

/// `<prefix>/config` as read.
pub(crate) struct ConfigRead {
    /// None: no such key.
    pub(crate) value: Option<Vec<u8>>,
    /// 0 without a key.
    pub(crate) mod_revision: i64,
    /// The cluster that answered: another one than before (with the
    /// revision gone back) tells a restored or wiped etcd.
    pub(crate) cluster_id: u64,
}

/// The smallest key after every key starting with `p` (etcd's prefix end).
pub(crate) fn prefix_end(p: &[u8]) -> Vec<u8> {
    let mut end = p.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection that fails over https without a client certificate
    /// asks whether etcd wants one, naming the flags; with one, it says
    /// what to check of it; over http, nothing of either.
    #[test]
    fn https_without_a_client_cert_hints_at_one() {
        let failed = |opts: &EtcdOptions| {
            let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
            map_error("get", opts, etcd_client::Error::IoError(io)).to_string()
        };
        let https = EtcdOptions::new(vec!["https://10.0.0.5:2379".into()]);
        let msg = failed(&https);
        assert!(
            msg.contains("does etcd require a client certificate")
                && msg.contains("--etcd-certfile and --etcd-keyfile"),
            "{msg}"
        );
        let mut with_cert = https.clone();
        with_cert.certfile = Some("/c.pem".into());
        with_cert.keyfile = Some("/k.pem".into());
        let msg = failed(&with_cert);
        assert!(
            !msg.contains("does etcd require a client certificate"),
            "{msg}"
        );
        assert!(
            msg.contains("check that --etcd-certfile is valid now and signed by a CA in etcd's --trusted-ca-file"),
            "{msg}"
        );
        let http = EtcdOptions::new(vec!["http://10.0.0.5:2379".into()]);
        assert!(!failed(&http).contains("client certificate"));
        // Nothing listening, or a plain-http etcd behind https://: the
        // hint would send the operator the wrong way.
        // Our side refused the server's certificate: the CA file is named,
        // not the client certificate.
        for opts in [&https, &with_cert] {
            let io = std::io::Error::other("invalid peer certificate: UnknownIssuer");
            let msg = map_error("get", opts, etcd_client::Error::IoError(io)).to_string();
            assert!(
                msg.contains("check that --etcd-cafile holds the CA"),
                "{msg}"
            );
            assert!(!msg.contains("client certificate"), "{msg}");
        }
        for other in ["tcp connect error", "tls handshake eof"] {
            for opts in [&https, &with_cert] {
                let io = std::io::Error::other(other);
                let msg = map_error("get", opts, etcd_client::Error::IoError(io)).to_string();
                assert!(!msg.contains("client certificate"), "{msg}");
                assert!(!msg.contains("--trusted-ca-file"), "{msg}");
            }
        }
    }

    /// With several members, one that has not answered on its connection
    /// gets 1 s; one that answered, or a single member, gets the whole
    /// request deadline (a slow link's large list pages). Only a call
    /// that ran out of the shorter deadline may be only slow (tried again
    /// with the whole one), not one refused.
    #[test]
    fn a_member_that_never_answered_gets_a_second_while_others_are_left() {
        assert_eq!(member_deadline(false, true), Duration::from_secs(1));
        assert_eq!(member_deadline(true, true), OP_TIMEOUT);
        assert_eq!(member_deadline(false, false), OP_TIMEOUT);
        assert_eq!(member_deadline(true, false), OP_TIMEOUT);
        let unreachable = |detail: &str| ControlError::Unreachable {
            endpoints: "e".into(),
            detail: detail.into(),
        };
        let slow = unreachable(&format!("get {TIMED_OUT} 1s"));
        assert!(ran_out(&slow, MEMBER_TIMEOUT));
        assert!(!ran_out(&slow, OP_TIMEOUT));
        assert!(!ran_out(
            &unreachable("get: connection refused"),
            MEMBER_TIMEOUT
        ));
    }

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(prefix_end(b"/a/subnets/"), b"/a/subnets0".to_vec());
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b".to_vec());
    }
}
