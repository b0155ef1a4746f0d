//! `arcp serve` for the tests that run the real binary: started as
//! `arcp serve --demo --port 0 EXTRA…`, its URL read from the `LISTENING` line, killed on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

/// This crate's `arcp` binary.
pub const ARCP: &str = env!("CARGO_BIN_EXE_arcp");

/// A running `arcp serve`, killed (and reaped) on drop.
pub struct Served {
    /// The server process (its stdout is taken; stderr as `start_with` left it).
    pub child: Child,
    /// `ws://127.0.0.1:PORT/arcp`.
    pub url: String,
    /// The lines of its stdout after `LISTENING` (see [`Served::line`]), read by a thread
    /// so that the server never waits on a full pipe.
    pub stdout: mpsc::Receiver<String>,
}

impl Served {
    /// `arcp serve --demo --port 0 EXTRA…` with stderr discarded and no JWT secret or OTLP
    /// endpoint from the caller's environment.
    pub fn start(extra: &[&str]) -> Self {
        Self::start_with(extra, |_| {})
    }

    /// [`Served::start`], with `configure` applied to the command before it is spawned (its
    /// environment, a piped stderr).
    pub fn start_with(extra: &[&str], configure: impl FnOnce(&mut Command)) -> Self {
        let mut cmd = Command::new(ARCP);
        cmd.args(["serve", "--demo", "--port", "0"])
            .args(extra)
            .env_remove("ARCP_JWT_SECRET")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        configure(&mut cmd);
        let mut child = cmd.spawn().expect("spawn arcp serve");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, stdout) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut served = Served {
            child,
            url: String::new(),
            stdout,
        };
        served.url = served.line("LISTENING ");
        served
    }

    /// The next stdout line, which starts with `prefix` (e.g. `"METRICS "`), without it.
    pub fn line(&mut self, prefix: &str) -> String {
        let line = self.stdout.recv().expect("a stdout line");
        line.trim()
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("not a {prefix}line: {line:?}"))
            .to_owned()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
