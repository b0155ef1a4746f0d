//! Runs every example of `examples/` (the Python SDK README's, line for line) to completion,
//! without `--url` (each starts an in-process runtime) and against the reference runtime, and
//! checks its key output line.

mod client_support;

use client_support::start_peer;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Example name and a line its output must contain.
const EXAMPLES: [(&str, &str); 7] = [
    ("quickstart", "final: Success"),
    ("resume", ": true"),
    ("submit", "resolved agent = versioned@2.0.0"),
    ("events", "progress {\"current\":3"),
    ("budget", "job ended: BUDGET_EXHAUSTED"),
    ("subscribe", "submitter's view: Success"),
    ("errors", "retryable: job"),
];

fn examples_dir() -> PathBuf {
    // target/debug/deps/client_examples-HASH -> target/debug/examples
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
}

/// Makes sure the example binaries are current (cargo test builds them, a filtered
/// `cargo test --test client_examples` may not).
fn build_examples() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-q", "-p", "arcp-tokio", "--examples"])
        .status()
        .expect("cargo build --examples");
    assert!(status.success());
}

/// Runs each example with `args` and checks its exit status and key line.
async fn run_examples(args: &[&str]) {
    for (name, expected) in EXAMPLES {
        let bin = examples_dir().join(name);
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::process::Command::new(&bin)
                .args(args)
                .env_remove("ARCP_TOKEN")
                .kill_on_drop(true)
                .output(),
        )
        .await
        .unwrap_or_else(|_| panic!("example {name} did not finish within 60 s"))
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "example {name} {args:?} failed: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(expected),
            "example {name} {args:?}: {expected:?} not in\n{stdout}"
        );
    }
}

#[tokio::test]
async fn every_readme_example_runs_in_process_without_url() {
    build_examples();
    run_examples(&[]).await;
    // An unknown argument is an argument error: exit 2.
    let out = Command::new(examples_dir().join("quickstart"))
        .arg("--bogus")
        .output()
        .expect("run quickstart");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(out.stdout, b"");
}

#[tokio::test]
async fn every_readme_example_runs_against_the_reference() {
    let Some(peer) = start_peer("every_readme_example_runs_against_the_reference").await else {
        return;
    };
    build_examples();
    run_examples(&["--url", &peer.url]).await;
}
