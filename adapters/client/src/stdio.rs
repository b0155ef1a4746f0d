//! The stdio transport to a child process: newline-delimited JSON over its stdin/stdout
//! (spec §4), framed by the core's [`LineFramer`], on a std reader thread, so any
//! adapter (async or blocking) can use it.

use arcp_proto::wire::LineFramer;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// Bytes read from the child's stdout per read call.
const READ_CHUNK: usize = 64 * 1024;

/// What the reader thread reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StdioInbound {
    /// One complete line: a frame.
    Frame(Vec<u8>),
    /// A line over the frame cap ([D35]); the transport must be closed.
    ///
    /// [D35]: arcp_proto::compat#d35--frame-size
    TooLarge,
    /// The child closed its stdout (or reading failed): the last report.
    Closed(String),
}

/// A child process serving one session on its stdin/stdout.
#[derive(Debug)]
pub struct StdioChild {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl StdioChild {
    /// Spawns `argv` (program, then arguments; stderr inherited) and a reader thread that
    /// reports every inbound line to `on_input` (capped at `max_frame_bytes`), then
    /// [`StdioInbound::Closed`]. `on_input` returning `false` stops the reader.
    pub fn spawn<S: AsRef<OsStr>>(
        argv: &[S],
        max_frame_bytes: usize,
        mut on_input: impl FnMut(StdioInbound) -> bool + Send + 'static,
    ) -> io::Result<Self> {
        let Some((program, args)) = argv.split_first() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
        };
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let (Some(stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(io::Error::other("child has no stdin/stdout"));
        };
        std::thread::Builder::new()
            .name("arcp-stdio-read".into())
            .spawn(move || {
                let mut framer = LineFramer::new(max_frame_bytes);
                let mut buf = vec![0; READ_CHUNK];
                let why = loop {
                    let n = match stdout.read(&mut buf) {
                        Ok(0) => break "child closed its stdout".to_owned(),
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => break e.to_string(),
                    };
                    let mut go = true;
                    framer.feed(&buf[..n], |line| {
                        if go {
                            go = on_input(match line {
                                Ok(l) => StdioInbound::Frame(l.to_vec()),
                                Err(_) => StdioInbound::TooLarge,
                            });
                        }
                    });
                    if !go {
                        return;
                    }
                };
                on_input(StdioInbound::Closed(why));
            })?;
        Ok(StdioChild {
            child,
            stdin: Some(stdin),
        })
    }

    /// Writes one frame and its newline.
    pub fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "stdin closed"));
        };
        let mut line = Vec::with_capacity(frame.len() + 1);
        line.extend_from_slice(frame);
        line.push(b'\n');
        stdin.write_all(&line)?;
        stdin.flush()
    }

    /// Closes the child's stdin (the child's cue to end the session and exit).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// `true` once the child has exited (never blocks).
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the child (if still running) and reaps it.
    pub fn kill(&mut self) {
        if !self.has_exited() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// Closes the child's stdin, waits up to `grace` for it to exit, then kills it.
    pub fn close(&mut self, grace: Duration) {
        self.stdin = None;
        let until = Instant::now() + grace;
        while Instant::now() < until {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for StdioChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn lines_from_the_child_are_frames_and_an_over_long_one_is_reported() {
        let (tx, rx) = mpsc::channel();
        let argv = ["sh", "-c", "printf 'ab\\n\\nabcdefgh\\ncd\\n'"];
        let mut child = StdioChild::spawn(&argv, 4, move |i| tx.send(i).is_ok()).unwrap();
        let got: Vec<_> = rx.iter().collect();
        assert_eq!(
            got,
            vec![
                StdioInbound::Frame(b"ab".to_vec()),
                StdioInbound::TooLarge,
                StdioInbound::Frame(b"cd".to_vec()),
                StdioInbound::Closed("child closed its stdout".into()),
            ]
        );
        child.close(Duration::from_secs(1));
    }

    #[test]
    fn a_frame_sent_comes_back_from_cat() {
        let (tx, rx) = mpsc::channel();
        let mut child = StdioChild::spawn(&["cat"], 1024, move |i| tx.send(i).is_ok()).unwrap();
        child.send(br#"{"x":1}"#).unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            StdioInbound::Frame(br#"{"x":1}"#.to_vec())
        );
        child.close(Duration::from_secs(2));
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            StdioInbound::Closed("child closed its stdout".into())
        );
        assert_eq!(
            child.send(b"{}").unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
    }

    #[test]
    fn an_empty_command_is_refused() {
        let argv: [&str; 0] = [];
        let err = StdioChild::spawn(&argv, 16, |_| true).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
