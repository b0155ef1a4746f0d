//! `arcp serve` for the tests that run the real binary: started as
//! `arcp serve --demo --port 0 EXTRA…`, its URL read from the `LISTENING` line, killed on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// This crate's `arcp` binary.
pub const ARCP: &str = env!("CARGO_BIN_EXE_arcp");

/// A running `arcp serve`, killed (and reaped) on drop.
pub struct Served {
    /// The server process (its stdout is taken; stderr as `start_with` left it).
    pub child: Child,
    /// `ws://127.0.0.1:PORT/arcp`.
    pub url: String,
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
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read");
        let url = line
            .trim()
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("not a LISTENING line: {line:?}"))
            .to_owned();
        Served { child, url }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
