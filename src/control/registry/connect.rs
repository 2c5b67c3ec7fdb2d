//! Clients of one member: options from the flags (TLS, credentials), connecting over the members, reconnecting.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use super::deadline::{call_within, member_deadline, ran_out};
use super::{Registry, OP_TIMEOUT};
use crate::control::backoff::{sleep_or_reachable, Backoff, REPEAT_LOG};
use crate::control::status::ControlStatus;
use crate::control::{ControlError, EtcdOptions};
use crate::ops::logging::RateLimitedLog;

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

    pub(super) async fn reconnect_within(&mut self, limit: Duration) -> Result<(), ControlError> {
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
}
