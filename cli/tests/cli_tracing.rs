//! `arcp serve` and `tracing`: silent by default, `RUST_LOG` prints the `arcp.job` span on
//! stderr when it closes.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

const ARCP: &str = env!("CARGO_BIN_EXE_arcp");

/// Serves for a few seconds with `rust_log`, submits one echo job, returns serve's stderr.
fn serve_stderr(rust_log: Option<&str>) -> String {
    let mut cmd = Command::new(ARCP);
    cmd.args(["serve", "--demo", "--port", "0", "--exit-after", "3"])
        .env_remove("RUST_LOG")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(v) = rust_log {
        cmd.env("RUST_LOG", v);
    }
    let mut child = cmd.spawn().expect("spawn arcp serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().strip_prefix("LISTENING ").unwrap().to_owned();
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(ARCP)
        .env("ARCP_STATE_FILE", state.path().join("state.json"))
        .args([
            "submit",
            "--url",
            &url,
            "--token",
            "alice-token",
            "echo",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let job = String::from_utf8_lossy(&out.stdout)
        .split(' ')
        .nth(1)
        .unwrap()
        .to_owned();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    err.replace(&job, "JOB")
}

#[test]
fn serve_prints_nothing_without_rust_log() {
    assert_eq!(serve_stderr(None), "");
}

#[test]
fn rust_log_prints_the_job_span_on_stderr() {
    let err = serve_stderr(Some("arcp_agents=info"));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains(" INFO arcp.job{job_id=JOB session_id=sess_"),
        "{err}"
    );
    assert!(
        lines[0].contains(" principal=alice agent=echo@1.0.0}: arcp_agents::span: close"),
        "{err}"
    );
}
