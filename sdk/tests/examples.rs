//! The facade's examples run to completion with their exact output (`.ci/run` tests this
//! crate with `--features full`, which builds them).

use std::process::Command;

fn example(name: &str) -> String {
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
            .args([
                "build",
                "-q",
                "-p",
                "arcp-sdk",
                "--features",
                "full",
                "--example",
                name,
            ])
            .status()
            .expect("cargo build --example");
        assert!(built.success());
    }
    let out = Command::new(&bin).output().expect("run example");
    assert!(out.status.success(), "{name}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn host_agent_serves_a_typed_agent_and_calls_it() {
    let out = example("host_agent");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("LISTENING ws://127.0.0.1:"), "{out}");
    assert_eq!(lines[1], r#"result {"line":"2 x tea","total_cents":700}"#);
}

#[test]
fn memory_runs_a_job_without_sockets() {
    assert_eq!(example("memory"), "result {\"n\":3}\n");
}
