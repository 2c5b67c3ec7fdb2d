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
/// writes them, less a cause whose text the line already holds: several
/// errors name their cause in their own message and keep it as their
/// source too, which `{:#}` would print twice.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
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
            error_text(&e),
            "invalid config at /k/config: Backend.Type is \"udp\""
        );
    }

    #[test]
    fn every_other_cause_and_context_is_kept_in_order() {
        let e = anyhow::Error::new(Hides("/tmp/x.pcap", io("disk full"))).context("pktgen");
        assert_eq!(error_text(&e), "pktgen: writing /tmp/x.pcap: disk full");
        assert_eq!(error_text(&e), format!("{e:#}"));
    }
}
