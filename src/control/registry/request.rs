//! Requests: on the current member, handed to the next one when it cannot be reached, retried once with a new auth token.

use std::future::Future;
use std::time::Duration;

use etcd_client::{Client, GetOptions, GetResponse, KvClient, Txn, TxnResponse, WatchClient};

use super::deadline::{call_within, member_deadline, ran_out};
use super::{Registry, OP_TIMEOUT};
use crate::control::ControlError;

/// A KV client that takes replies up to `max` bytes.
pub(super) fn kv(c: &Client, max: usize) -> KvClient {
    c.kv_client().max_decoding_message_size(max)
}

impl Registry {
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
    pub(super) async fn request_here<T, F, Fut>(
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
}
