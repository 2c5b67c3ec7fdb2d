//! Writing a reply: its head and body, sent by a deadline, and the
//! lingering after it that keeps the close from resetting the connection.
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Instant;

use super::{time_left, LINGER, LINGER_BYTES};

/// Closing with unread input makes the kernel send a reset, which can
/// destroy the reply in flight: after the reply, read (and drop) the rest,
/// for at most [`LINGER`] and [`LINGER_BYTES`], so that a client cannot
/// hold a handler.
pub(super) fn linger(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    drain(stream, Instant::now() + LINGER);
}

/// Reads until the client closes, `deadline` or [`LINGER_BYTES`].
pub(super) fn drain(mut stream: &TcpStream, deadline: Instant) {
    let mut sink = [0u8; 4096];
    let mut left = LINGER_BYTES;
    while left > 0 {
        let Ok(timeout) = time_left(deadline) else {
            break;
        };
        if stream.set_read_timeout(Some(timeout)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => left = left.saturating_sub(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

/// One reply, always `Connection: close`.
pub(super) struct Reply {
    status: &'static str,
    content_type: &'static str,
    extra: Option<&'static str>,
    body: String,
    head_only: bool,
}

impl Reply {
    pub(super) fn new(
        status: &'static str,
        content_type: &'static str,
        body: impl Into<String>,
    ) -> Self {
        Reply {
            status,
            content_type,
            extra: None,
            body: body.into(),
            head_only: false,
        }
    }

    /// One more header line, without its CRLF.
    pub(super) fn header(mut self, line: &'static str) -> Self {
        self.extra = Some(line);
        self
    }

    /// Sends the head only, with the Content-Length of the whole reply
    /// (RFC 9110 9.3.2).
    pub(super) fn head_only(mut self, head_only: bool) -> Self {
        self.head_only = head_only;
        self
    }

    pub(super) fn bytes(&self) -> Vec<u8> {
        let extra = self.extra.map(|l| format!("{l}\r\n")).unwrap_or_default();
        let mut out = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if !self.head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }

    /// Writes the reply by `deadline` (a client that reads slowly cannot
    /// hold the handler longer by taking a byte at a time).
    pub(super) fn send(&self, stream: &mut TcpStream, deadline: Instant) -> io::Result<()> {
        let bytes = self.bytes();
        let mut data = bytes.as_slice();
        while !data.is_empty() {
            stream.set_write_timeout(Some(time_left(deadline)?))?;
            match stream.write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_carry_length_and_extra_headers() {
        let r = Reply::new("405 Method Not Allowed", "text/plain", "use GET\n")
            .header("Allow: GET, HEAD");
        assert_eq!(
            String::from_utf8(r.bytes()).unwrap(),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 8\r\nAllow: GET, HEAD\r\nConnection: close\r\n\r\nuse GET\n"
        );
        let r = Reply::new("200 OK", "text/plain", "abc").head_only(true);
        assert!(String::from_utf8(r.bytes())
            .unwrap()
            .ends_with("Content-Length: 3\r\nConnection: close\r\n\r\n"));
    }
}
