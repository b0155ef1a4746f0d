//! Reading the agent's pipes by lines, bounded (`docs/agent-protocol.md` §2, §8): stdout
//! lines up to a maximum (a longer one is reported without buffering the rest), stderr lines
//! cut to a prefix.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What [`LineReader::next`] read.
#[derive(Debug, PartialEq)]
pub(crate) enum Read {
    /// A line, without its `\n` and a final `\r` (it may be empty).
    Line,
    /// A line longer than the maximum: nothing of it is kept, and the reader must not be
    /// used for lines again (its position is inside that line).
    TooLong,
    /// End of the stream.
    Eof,
}

/// Reads `\n`-terminated lines of at most `max` bytes (not counting the `\n` and a `\r`
/// before it). A final line without `\n` at EOF counts as a line.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    inner: R,
    max: usize,
    /// The current line ([`Read::Line`]); while a line is incomplete, what was read of it.
    pub(crate) buf: Vec<u8>,
    /// `buf` holds a returned line, to be cleared by the next call.
    returned: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub(crate) fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            max,
            buf: Vec::new(),
            returned: false,
        }
    }

    /// Reads the next line into `buf`. Cancel-safe: dropped while waiting for input, the
    /// next call carries on with the same line (bytes move from the `BufReader` into `buf`
    /// only between waits).
    pub(crate) async fn next(&mut self) -> std::io::Result<Read> {
        if self.returned {
            self.buf.clear();
            self.returned = false;
        }
        // One byte over the maximum is allowed while looking: it may be the `\r` of `\r\n`.
        let limit = self.max.saturating_add(1);
        loop {
            let avail = self.inner.fill_buf().await?;
            if avail.is_empty() {
                return Ok(if self.buf.is_empty() {
                    Read::Eof
                } else {
                    self.finish()
                });
            }
            match avail.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    if self.buf.len() + i > limit {
                        self.returned = true;
                        return Ok(Read::TooLong);
                    }
                    self.buf.extend_from_slice(&avail[..i]);
                    self.inner.consume(i + 1);
                    return Ok(self.finish());
                }
                None => {
                    let n = avail.len();
                    if self.buf.len() + n > limit {
                        self.returned = true;
                        return Ok(Read::TooLong);
                    }
                    self.buf.extend_from_slice(avail);
                    self.inner.consume(n);
                }
            }
        }
    }

    fn finish(&mut self) -> Read {
        self.returned = true;
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if self.buf.len() > self.max {
            Read::TooLong
        } else {
            Read::Line
        }
    }

    /// Reads and discards everything up to EOF (or a read error).
    pub(crate) async fn drain(&mut self) {
        loop {
            match self.inner.fill_buf().await {
                Ok([]) | Err(_) => return,
                Ok(b) => {
                    let n = b.len();
                    self.inner.consume(n);
                }
            }
        }
    }
}

/// Reads stderr lines keeping the first `keep` bytes of each (cut back to a UTF-8 character
/// boundary, invalid UTF-8 replaced with U+FFFD, a final `\r` removed); the rest of a line is
/// read and discarded.
pub(crate) async fn next_stderr_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    keep: usize,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<String>> {
    buf.clear();
    let mut seen = false;
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            if !seen {
                return Ok(None);
            }
            break;
        }
        seen = true;
        let (part, used, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..i], i + 1, true),
            None => (avail, avail.len(), false),
        };
        // Keep one byte more than asked, to tell a cut line's `\r` from the end.
        let room = keep.saturating_add(1).saturating_sub(buf.len());
        buf.extend_from_slice(&part[..part.len().min(room)]);
        r.consume(used);
        if done {
            break;
        }
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    if buf.len() > keep {
        buf.truncate(keep);
        // Cut back to a character boundary: drop a last character the limit cut in two.
        let from = buf.len().saturating_sub(3);
        if let Some(i) = (from..buf.len()).rev().find(|&i| buf[i] & 0xC0 != 0x80) {
            let need = match buf[i] {
                b if b >= 0xF0 => 4,
                b if b >= 0xE0 => 3,
                b if b >= 0xC0 => 2,
                _ => 1,
            };
            if buf.len() - i < need {
                buf.truncate(i);
            }
        }
    }
    Ok(Some(String::from_utf8_lossy(buf).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    async fn lines(input: &[u8], max: usize) -> Vec<(Read, String)> {
        let mut r = LineReader::new(BufReader::with_capacity(4, input), max);
        let mut out = Vec::new();
        loop {
            let got = r.next().await.unwrap();
            let text = String::from_utf8_lossy(&r.buf).into_owned();
            let stop = got != Read::Line;
            out.push((got, text));
            if stop {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn lines_are_bounded_without_the_newline_and_cr() {
        assert_eq!(
            lines(b"abcde\r\nab\n\nxyz", 5).await,
            vec![
                (Read::Line, "abcde".into()),
                (Read::Line, "ab".into()),
                (Read::Line, "".into()),
                (Read::Line, "xyz".into()),
                (Read::Eof, "".into()),
            ]
        );
        assert_eq!(lines(b"abcdef\n", 5).await[0].0, Read::TooLong);
        assert_eq!(
            lines(b"abcde\r", 5).await,
            vec![(Read::Line, "abcde".into()), (Read::Eof, "".into())]
        );
        assert_eq!(lines(b"abcdefghijklmnop", 5).await[0].0, Read::TooLong);
    }

    #[tokio::test]
    async fn stderr_lines_keep_a_prefix_on_a_character_boundary() {
        let input = "h\u{e9}llo world\r\n\u{e9}\u{e9}\u{e9}\nlast".as_bytes();
        let mut r = BufReader::with_capacity(3, input);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        while let Some(l) = next_stderr_line(&mut r, 5, &mut buf).await.unwrap() {
            got.push(l);
        }
        // "héllo" is 6 bytes: 5 keep "héll"; "ééé" is 6 bytes: 5 cut the third in two.
        assert_eq!(got, vec!["h\u{e9}ll", "\u{e9}\u{e9}", "last"]);
        let mut bad = BufReader::new(&b"a\xffb\n"[..]);
        assert_eq!(
            next_stderr_line(&mut bad, 100, &mut buf).await.unwrap(),
            Some("a\u{fffd}b".into())
        );
    }
}
