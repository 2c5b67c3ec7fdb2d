//! One etcd call under a deadline: the deadline each member gets, and whether a call only ran out of it.

use std::time::Duration;

use super::errors::map_error;
use super::{MEMBER_TIMEOUT, OP_TIMEOUT};
use crate::control::{ControlError, EtcdOptions};

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
pub(super) async fn call_within<T, F>(
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
pub(super) fn ran_out(e: &ControlError, limit: Duration) -> bool {
    limit < OP_TIMEOUT
        && matches!(e, ControlError::Unreachable { detail, .. } if detail.contains(TIMED_OUT))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
