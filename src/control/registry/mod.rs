//! The etcd connection and the reads every other part needs: ping, the
//! network config (waiting for it like flanneld), and a paged lease list.
//!
//! Here: [`Registry`] and the deadlines of its requests. By file:
//! `deadline` (one call under a deadline, and the deadline each member
//! gets), `errors` (what etcd-client's errors mean), `connect` (clients of
//! one member, connecting and moving between members), `request` (a
//! request retried on the next member or with a new auth token) and
//! `reads` (the store's revision, the config key, the lease list).

mod connect;
mod deadline;
mod errors;
mod reads;
mod request;

use std::sync::Arc;
use std::time::Duration;

use etcd_client::Client;

use super::status::ControlStatus;
use super::EtcdOptions;

pub(crate) use deadline::call;
pub(crate) use errors::map_error;

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
