//! Locating and starting the Python reference runtime (`peer_runtime.py`) for the client
//! tests. When its virtualenv is missing the tests print a line and return, so `cargo test`
//! passes on a machine without it.
//!
//! `ARCP_PEER_PYTHON` (default `<workspace>/.peer-venv/bin/python`) and `ARCP_PEER_DIR`
//! (default `<workspace>/../shared/interop`) locate it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The interpreter and the runtime script, or `None` (after printing why) to skip.
pub fn peer_paths(test: &str) -> Option<(PathBuf, PathBuf)> {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("ARCP_PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join(".peer-venv/bin/python"));
    let dir = std::env::var_os("ARCP_PEER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("../shared/interop"));
    let script = dir.join("peer_runtime.py");
    if !python.exists() || !script.exists() {
        println!(
            "SKIP {test}: reference runtime not found ({} / {}); set ARCP_PEER_PYTHON and ARCP_PEER_DIR",
            python.display(),
            script.display()
        );
        return None;
    }
    Some((python, script))
}

/// The argv of a stdio child runtime.
pub fn stdio_argv(test: &str) -> Option<Vec<String>> {
    let (python, script) = peer_paths(test)?;
    Some(vec![
        python.display().to_string(),
        script.display().to_string(),
        "--stdio".to_owned(),
    ])
}

/// A running `peer_runtime.py --port 0`, killed on drop.
pub struct Peer {
    _child: Child,
    /// `ws://127.0.0.1:PORT/arcp`
    pub url: String,
}

/// Starts the reference runtime on a free port, or `None` to skip.
pub async fn start_peer(test: &str) -> Option<Peer> {
    let (python, script) = peer_paths(test)?;
    let mut child = Command::new(python)
        .arg(script)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn peer_runtime.py");
    let stdout = child.stdout.take().expect("peer stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("peer_runtime.py did not start within 30 s")
        .expect("read peer stdout")
        .expect("peer_runtime.py exited");
    let url = line
        .strip_prefix("LISTENING ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    // Keep draining its stdout so the runtime never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some(Peer { _child: child, url })
}

/// Bounded wait: every await in the tests goes through this.
pub async fn within<T>(secs: u64, what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs} s: {what}"))
}
