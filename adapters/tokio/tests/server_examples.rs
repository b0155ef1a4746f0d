//! The server-side examples run to completion with their exact last line: `jwt_tls` (an
//! HS256 JWT over `wss://` with a development CA) and `stdio_child` (a child runtime over
//! stdio). `axum_mount` needs feature `axum` and runs in `.ci/run`'s axum step.

use std::process::Command;

fn example(name: &str) -> String {
    // target/debug/deps/server_examples-HASH -> target/debug/examples/NAME
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples");
    let bin = dir.join(name);
    // `cargo test` builds the examples with the test's own features; a filtered run
    // (`--test NAME`) does not, so build what is missing.
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let built = Command::new(cargo)
            .args(["build", "-q", "-p", "arcp-tokio", "--example", name])
            .status()
            .expect("cargo build --example");
        assert!(built.success());
    }
    let out = Command::new(&bin).output().expect("run example");
    assert!(out.status.success(), "{name}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn jwt_tls_authenticates_a_jwt_over_wss() {
    let out = example("jwt_tls");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("LISTENING wss://127.0.0.1:"), "{out}");
    assert_eq!(lines[1], r#"result {"principal":"carol"}"#);
}

#[test]
fn stdio_child_runs_a_job_in_a_child_runtime() {
    assert_eq!(example("stdio_child"), "result \"HELLO\"\n");
}
