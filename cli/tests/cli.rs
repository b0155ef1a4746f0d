//! The `arcp` binary end to end: `demo`, `serve` + the client commands, and the errors a
//! person sees (exit codes 0 / 1 / 2 and their one-line messages).

#[path = "support/restart.rs"]
mod restart;
#[path = "support/serve.rs"]
mod serve;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use serve::{ARCP, Served};

/// A state file of this test process (never the user's).
fn state_file() -> String {
    format!(
        "{}/cli-state-{}.json",
        env!("CARGO_TARGET_TMPDIR"),
        std::process::id()
    )
}

/// `arcp ARGS` with `ARCP_URL` cleared, `ARCP_TOKEN=alice-token` (a demo token) and the
/// test's state file.
fn arcp(args: &[&str]) -> Output {
    Command::new(ARCP)
        .args(args)
        .env_remove("ARCP_URL")
        .env("ARCP_TOKEN", "alice-token")
        .env("ARCP_STATE_FILE", state_file())
        .output()
        .expect("run arcp")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn demo_resumes_without_gap_or_duplicate() {
    let out = arcp(&["demo"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("-- dropping the connection after event_seq 5 --"),
        "{stdout}"
    );
    assert!(
        stdout.contains("result: {\"slept\":3,\"ticks\":12}"),
        "{stdout}"
    );
    assert!(
        stdout.contains("13 events (event_seq 1..13), 12 progress, gaps [], duplicates []"),
        "{stdout}"
    );
    assert!(stdout.ends_with("ok: no gap, no duplicate\n"), "{stdout}");
    // Not a TTY: one plain line per progress event.
    assert!(
        stdout.contains("[##########....................] 4/12 ticks\n"),
        "{stdout}"
    );
}

#[test]
fn serve_then_submit_jobs_tail_and_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("arcp.db");
    let db = db.to_str().expect("utf-8 path");
    // One tokio worker: everything below runs as on several.
    let served = Served::start(&["--db", db, "--workers", "1"]);
    assert!(served.url.starts_with("ws://127.0.0.1:"), "{}", served.url);
    assert!(served.url.ends_with("/arcp"), "{}", served.url);

    let out = arcp(&[
        "submit",
        "--url",
        &served.url,
        "echo",
        r#"{"hello":"world"}"#,
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("job job_"), "{stdout}");
    assert!(
        lines[0].contains(" (echo@1.0.0) in session sess_"),
        "{stdout}"
    );
    assert_eq!(lines[1], r#"result: {"hello":"world"}"#);
    let job = lines[0].split(' ').nth(1).expect("job id").to_owned();
    let session = lines[0].rsplit(' ').next().expect("session id").to_owned();

    // --json: one JSON object per line, the last one the result.
    let out = arcp(&["submit", "--url", &served.url, "--json", "echo", "[1]"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let last: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a line")).expect("json");
    assert_eq!(last["type"], "job.result");
    assert_eq!(last["final_status"], "success");
    assert_eq!(last["result"], serde_json::json!([1]));

    // ARCP_URL / ARCP_TOKEN are the defaults of --url / --token.
    let out = Command::new(ARCP)
        .arg("jobs")
        .env("ARCP_URL", &served.url)
        .env("ARCP_TOKEN", "alice-token")
        .output()
        .expect("run arcp jobs");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["JOB", "STATUS", "AGENT", "AGE", "EVENTS", "PROGRESS"]
    );
    let row = lines
        .iter()
        .find(|l| l.starts_with(&job))
        .expect("the job's row");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..3], [job.as_str(), "success", "echo@1.0.0"], "{row}");
    assert_eq!(cells[4..], ["1", "-"], "{row}");
    // Aligned: every row's STATUS column starts where the header's does.
    let status_col = lines[0].find("STATUS").unwrap();
    assert_eq!(&row[status_col..status_col + 7], "success", "{stdout}");
    assert_eq!(lines[3], "2 job(s)");

    let out = arcp(&["tail", "--url", &served.url, &job]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        stdout,
        format!("job {job} (echo@1.0.0), 1 replayed\nresult: {{\"hello\":\"world\"}}\n")
    );

    let out = arcp(&["replay", "--db", db, "--session", &session]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let frame: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one frame");
    assert_eq!(frame["type"], "job.result");
    assert_eq!(frame["job_id"], job.as_str());
    assert_eq!(frame["event_seq"], 1);
    assert_eq!(text(&out.stderr), "1 frame(s)\n");

    let out = arcp(&["replay", "--db", db, "--session", "sess_nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!("error: no session sess_nope in {db}\n")
    );
}

/// COMPAT D7: only the submitting session may cancel, so `arcp cancel` from a CLI that has
/// no record of the submitting session (another state file) is refused with
/// `PERMISSION_DENIED` (exit 1) and the job runs on to its result; a job the principal
/// cannot see is `JOB_NOT_FOUND` (D37).
#[test]
fn cancel_from_another_session_is_refused_and_the_job_runs_on() {
    let served = Served::start(&[]);
    let mut submit = Command::new(ARCP)
        .env("ARCP_STATE_FILE", state_file())
        .args([
            "submit",
            "--url",
            &served.url,
            "--token",
            "alice-token",
            "slow",
            r#"{"seconds": 1, "tick": 0.5}"#,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn submit");
    let mut first = String::new();
    let mut reader = BufReader::new(submit.stdout.take().expect("stdout"));
    reader.read_line(&mut first).expect("read");
    let job = first.split(' ').nth(1).expect("job id").to_owned();
    let other = format!(
        "{}/cli-other-state-{}.json",
        env!("CARGO_TARGET_TMPDIR"),
        std::process::id()
    );
    let out = arcp(&["cancel", "--url", &served.url, "--state-file", &other, &job]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: PERMISSION_DENIED: only the submitting session may cancel this job (only \
the session that submitted a job may cancel it, and {other} has no session of this CLI that \
submitted it: cancel it from the program that did)\n"
        )
    );
    assert_eq!(text(&out.stdout), "");
    let out = arcp(&[
        "cancel",
        "--url",
        &served.url,
        "--token",
        "bob-token",
        "--state-file",
        &other,
        &job,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!("error: JOB_NOT_FOUND: job \"{job}\" not found\n")
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).expect("read rest");
    let status = submit.wait().expect("wait submit");
    assert_eq!(status.code(), Some(0));
    assert!(
        rest.ends_with("result: {\"slept\":1,\"ticks\":2}\n"),
        "{rest}"
    );
}

#[test]
fn a_refusal_is_code_and_message_exit_1() {
    let served = Served::start(&[]);
    let out = arcp(&["submit", "--url", &served.url, "--token", "bad", "echo"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: UNAUTHENTICATED: invalid bearer token\n"
    );
    assert_eq!(text(&out.stdout), "");

    let out = arcp(&["submit", "--url", &served.url, "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: AGENT_NOT_AVAILABLE: agent \"nosuch\" is not available\n"
    );

    let out = arcp(&["submit", "--url", &served.url, "failing"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "error: INTERNAL_ERROR: boom\n");
}

#[test]
fn configured_tokens_replace_the_demo_ones() {
    let served = Served::start(&["--token", "t1=carol"]);
    let out = arcp(&["submit", "--url", &served.url, "--token", "t1", "echo", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("result: 2\n"));
    let out = arcp(&["submit", "--url", &served.url, "echo"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: UNAUTHENTICATED: invalid bearer token\n"
    );
}

#[test]
fn argument_errors_are_one_line_exit_2() {
    for args in [
        &["serve", "--bogus"][..],
        &["serve"][..],
        &["serve", "--port", "1", "--stdio"][..],
        &["serve", "--port", "0", "--token", "no-principal"][..],
        &["serve", "--port", "0", "--workers", "0"][..],
        &["submit", "echo", "{not json"][..],
        &["tail"][..],
        &["frobnicate"][..],
    ] {
        let out = arcp(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(
            stderr.ends_with(" (see `arcp --help`)\n"),
            "{args:?}: {stderr}"
        );
    }
    let out = arcp(&["serve", "--bogus"]);
    assert_eq!(
        text(&out.stderr),
        "error: unexpected argument '--bogus' found (see `arcp --help`)\n"
    );
    let help = arcp(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).contains("demo"));
}

#[test]
fn an_unreachable_url_is_a_transport_error_exit_1() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("ws://127.0.0.1:{port}/arcp");
    for cmd in ["jobs", "submit"] {
        let mut args = vec![cmd, "--url", &url];
        if cmd == "submit" {
            args.push("echo");
        }
        let out = arcp(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with(&format!("error: cannot connect to {url}: ")),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn serve_exit_after_stops_by_itself() {
    let mut child = Command::new(ARCP)
        .args([
            "serve",
            "--demo",
            "--port",
            "0",
            "--exit-after",
            "0.5",
            "--heartbeat-interval",
            "0",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn serve_stdio_answers_a_hello() {
    use std::io::Write;
    let mut child = Command::new(ARCP)
        .args(["serve", "--stdio", "--demo"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let hello = r#"{"arcp":"1.1","id":"01J0000000000000000000000A","type":"session.hello","payload":{"client":{"name":"t","version":"1"},"auth":{"scheme":"bearer","token":"alice-token"},"capabilities":{"encodings":["json"]}}}"#;
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{hello}").expect("write");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let welcome: serde_json::Value = serde_json::from_str(&line).expect("json");
    assert_eq!(welcome["type"], "session.welcome", "{line}");
    drop(stdin);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
}

/// `arcp serve --db` SIGKILLed mid-job and restarted on the same file: a client resumes the
/// session with no gap in `event_seq` and gets the job's terminal frame, `INTERNAL_ERROR`
/// "runtime restarted".
#[tokio::test]
async fn serve_db_survives_sigkill_and_the_client_resumes_without_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("arcp.db");
    let db = db.to_str().expect("utf-8 path");
    let (state, _) = restart::submit_then_kill(&["--db", db]).await;
    restart::restart_and_resume(&["--db", db], &state).await;
}
