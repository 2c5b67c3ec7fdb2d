//! The reads: the store's revision, the config key (waited for like flanneld), and the lease list in pages.

use std::future::Future;

use etcd_client::{Client, GetOptions, GetResponse, KeyValue};

use super::deadline::call;
use super::request::kv;
use super::{Registry, LIST_PAGE, OP_TIMEOUT};
use crate::control::backoff::{pause_after, Backoff, REPEAT_LOG};
use crate::control::schema::NetworkConfig;
use crate::control::ControlError;
use crate::ops::logging::RateLimitedLog;

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

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(prefix_end(b"/a/subnets/"), b"/a/subnets0".to_vec());
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b".to_vec());
    }
}
