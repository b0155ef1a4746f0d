//! Newline-delimited framing for the stdio transport (spec §4, [D35]).
//!
//! [D35]: crate::compat#d35--frame-size

/// A line longer than the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stdio line exceeds limit of {limit} bytes")]
pub struct LineTooLong {
    /// The cap in bytes.
    pub limit: usize,
}

/// Splits a byte stream into `\n`-terminated lines, each at most `max_line` bytes.
///
/// Memory is bounded by `max_line`: a partial line is buffered only up to the cap. A longer
/// line is reported once as [`LineTooLong`] and skipped up to its newline (the host then answers
/// `session.error INVALID_REQUEST` and closes, [D35]). A trailing `\r` is stripped and blank lines
/// are skipped.
///
/// [D35]: crate::compat#d35--frame-size
#[derive(Debug, Clone)]
pub struct LineFramer {
    buf: Vec<u8>,
    max_line: usize,
    discarding: bool,
}

impl LineFramer {
    /// A framer with a line cap of `max_line` bytes (use the frame cap, default 1 MiB).
    pub fn new(max_line: usize) -> Self {
        LineFramer {
            buf: Vec::new(),
            max_line,
            discarding: false,
        }
    }

    /// Bytes of a partial line currently held (never more than the cap).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feeds `data`, calling `on_line` for every complete line (without its terminator) and
    /// for every over-long line, in stream order.
    pub fn feed(&mut self, mut data: &[u8], mut on_line: impl FnMut(Result<&[u8], LineTooLong>)) {
        let limit = self.max_line;
        while !data.is_empty() {
            let nl = data.iter().position(|&b| b == b'\n');
            let (chunk, rest, complete) = match nl {
                Some(i) => (&data[..i], &data[i + 1..], true),
                None => (data, &data[data.len()..], false),
            };
            data = rest;
            if self.discarding {
                if complete {
                    self.discarding = false;
                }
                continue;
            }
            let total = self.buf.len() + chunk.len();
            // The cap applies to the line without its `\r\n` terminator.
            let content_len = if complete && chunk.last() == Some(&b'\r') {
                total - 1
            } else {
                total
            };
            if content_len > limit && (complete || total > limit + 1) {
                self.buf.clear();
                self.discarding = !complete;
                on_line(Err(LineTooLong { limit }));
                continue;
            }
            if !complete {
                self.buf.extend_from_slice(chunk);
                continue;
            }
            let line: &[u8] = if self.buf.is_empty() {
                chunk
            } else {
                self.buf.extend_from_slice(chunk);
                &self.buf
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.iter().all(u8::is_ascii_whitespace) {
                on_line(Ok(line));
            }
            self.buf.clear();
        }
    }

    /// Appends `frame` encoded as one line (compact JSON never contains a raw newline).
    pub fn encode_line(frame: &super::Frame, out: &mut Vec<u8>) {
        frame.encode_into(out);
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(f: &mut LineFramer, input: &[&[u8]]) -> Vec<Result<String, LineTooLong>> {
        let mut out = Vec::new();
        for chunk in input {
            f.feed(chunk, |l| {
                out.push(l.map(|b| String::from_utf8_lossy(b).into_owned()))
            });
        }
        out
    }

    #[test]
    fn splits_across_chunks_and_strips_cr() {
        let mut f = LineFramer::new(16);
        let got = lines(&mut f, &[b"{\"a\"", b":1}\r\n\n{\"b\":2}\n{\"c"]);
        assert_eq!(
            got,
            vec![Ok("{\"a\":1}".to_owned()), Ok("{\"b\":2}".to_owned())]
        );
        assert_eq!(f.buffered(), 3);
    }

    #[test]
    fn over_long_line_reported_once_and_skipped_with_bounded_buffer() {
        let mut f = LineFramer::new(8);
        let got = lines(&mut f, &[b"0123456", b"789abcdef", b"ghij", b"k\nok\n"]);
        assert_eq!(
            got,
            vec![Err(LineTooLong { limit: 8 }), Ok("ok".to_owned())]
        );
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn exactly_at_the_cap_is_accepted() {
        let mut f = LineFramer::new(4);
        let got = lines(&mut f, &[b"abcd\r\nabcde\n", b"abcd", b"\n"]);
        assert_eq!(
            got,
            vec![
                Ok("abcd".to_owned()),
                Err(LineTooLong { limit: 4 }),
                Ok("abcd".to_owned())
            ]
        );
    }
}
