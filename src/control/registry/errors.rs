//! What etcd-client's errors mean: unreachable, refused credentials, a stale token, a reply too large.

use crate::control::{ControlError, EtcdOptions};
use crate::ops::output::{error_text, with_causes};

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
}
