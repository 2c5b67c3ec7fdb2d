//! Reports and error messages written so that a reader who went away
//! cannot turn a clean stop into a crash. Rust ignores SIGPIPE, so a write
//! to a pipe whose reader has gone (`vxgate run ... | tee log` on Ctrl-C:
//! the signal reaches `tee` too) fails with EPIPE, and `print!` panics on
//! that, which with `panic = "abort"` dumps core instead of exiting 0.

use std::io::Write;

/// Writes `text` to stdout; false if it could not be written (stdout
/// closed): the caller decides whether that matters.
pub fn print_out(text: &str) -> bool {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_ok()
}

/// Writes `text` and a newline to stderr, best effort: an error message
/// nobody can read is no reason to crash.
pub fn print_err(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// An error and its causes on one line, `a: b: c`, as anyhow's `{:#}`
/// writes them ("transport error" alone does not tell a refused
/// connection from a TLS certificate the server rejected), less a cause
/// whose text the line already holds: several errors name their cause in
/// their own message and keep it as their source too, which `{:#}` would
/// print twice. An `anyhow::Error` is passed as `e.as_ref()`.
pub fn error_text(e: &dyn std::error::Error) -> String {
    with_causes(e.to_string(), e.source())
}

/// `head`, then each error of the chain from `cause` on that `head` and
/// the causes before it do not already say, after ": ". For an error whose
/// own text is not the one to show (a gRPC status's).
pub fn with_causes(head: String, mut cause: Option<&dyn std::error::Error>) -> String {
    let mut out = head;
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[derive(Debug, thiserror::Error)]
    #[error("invalid config at {key}: {source}")]
    struct Names {
        key: &'static str,
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("writing {0}")]
    struct Hides(&'static str, #[source] std::io::Error);

    fn io(why: &str) -> std::io::Error {
        std::io::Error::other(why.to_owned())
    }

    #[test]
    fn a_cause_named_in_the_message_is_written_once() {
        let e = anyhow::Error::new(Names {
            key: "/k/config",
            source: io("Backend.Type is \"udp\""),
        });
        assert_eq!(format!("{e:#}").matches("Backend.Type").count(), 2);
        assert_eq!(
            error_text(e.as_ref()),
            "invalid config at /k/config: Backend.Type is \"udp\""
        );
    }

    #[test]
    fn every_other_cause_and_context_is_kept_in_order() {
        let e = anyhow::Error::new(Hides("/tmp/x.pcap", io("disk full"))).context("pktgen");
        assert_eq!(
            error_text(e.as_ref()),
            "pktgen: writing /tmp/x.pcap: disk full"
        );
        assert_eq!(error_text(e.as_ref()), format!("{e:#}"));
    }

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    /// etcd-client's transport errors: the layers down to the reason.
    #[test]
    fn errors_carry_their_causes() {
        let tls = Layer("invalid peer certificate: UnknownIssuer", None);
        let e = Layer(
            "transport error",
            Some(Box::new(Layer(
                "error trying to connect",
                Some(Box::new(tls)),
            ))),
        );
        assert_eq!(
            error_text(&e),
            "transport error: error trying to connect: invalid peer certificate: UnknownIssuer"
        );
        // A layer that already ends with its cause is not repeated.
        let e = Layer(
            "connect: connection refused",
            Some(Box::new(Layer("connection refused", None))),
        );
        assert_eq!(error_text(&e), "connect: connection refused");
    }
}
