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
