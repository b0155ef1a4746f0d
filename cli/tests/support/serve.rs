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
    /// `http://127.0.0.1:PORT/` from the `DASHBOARD` line (with `--dashboard`).
    pub dashboard: Option<String>,
    /// `http://ADDR/metrics` from the `METRICS` line (with `--metrics`).
    pub metrics: Option<String>,
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
        let mut reader = BufReader::new(stdout);
        let mut next = |prefix: &str| {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read");
            line.trim()
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("not a {prefix}line: {line:?}"))
                .to_owned()
        };
        let url = next("LISTENING ");
        // The lines printed after LISTENING for these flags are read before the pipe is
        // dropped: the server's write to a closed pipe would fail it.
        let dashboard = extra.contains(&"--dashboard").then(|| next("DASHBOARD "));
        let metrics = extra.contains(&"--metrics").then(|| next("METRICS "));
        Served {
            child,
            url,
            dashboard,
            metrics,
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
