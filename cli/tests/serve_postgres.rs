//! `arcp serve --postgres URL`: the runtime's durable store on PostgreSQL. SIGKILLed mid-job
//! and restarted on the same database, the node replays the session from PostgreSQL: the
//! client resumes with no gap in `event_seq` and gets the job's terminal, `INTERNAL_ERROR`
//! "runtime restarted" (as with `--db`, tests/cli.rs).
//!
//! Needs `ARCP_TEST_POSTGRES_URL` (`eval "$(bash .ci/postgres.sh start)"`): without it the test
//! says so and skips; with `CI=true` it fails instead. Each run uses a scratch schema
//! (`--postgres-schema`), dropped at the end.

#[path = "support/serve.rs"]
mod serve;

use serve::Served;
use std::io::Write;

/// The test database's URL, or `None` to skip.
fn postgres_url() -> Option<String> {
    if let Some(url) = std::env::var("ARCP_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        return Some(url);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but ARCP_TEST_POSTGRES_URL is not set: the PostgreSQL tests must run in CI \
         (eval \"$(bash .ci/postgres.sh start)\" starts a throwaway cluster)"
    );
    let _ = writeln!(
        std::io::stderr(),
        "serve_postgres SKIPPED: ARCP_TEST_POSTGRES_URL is not set \
         (eval \"$(bash .ci/postgres.sh start)\" starts a throwaway cluster)"
    );
    None
}

/// Runs `f` with a client of the test database, off the async task (the client blocks).
fn on_db<T: Send + 'static>(
    url: &str,
    f: impl FnOnce(&mut postgres::Client) -> T + Send + 'static,
) -> T {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        f(&mut c)
    })
    .join()
    .expect("query thread")
}

#[tokio::test]
async fn serve_postgres_survives_sigkill_and_replays_from_postgres() {
    use arcp_proto::client::JobOutcome;
    use arcp_tokio::client::{Client, ErrorCode, StreamItem, SubmitRequest};
    use futures_util::StreamExt;

    let Some(url) = postgres_url() else {
        return;
    };
    let schema = format!("cli_restart_{}", std::process::id());
    let args = [
        "--postgres",
        url.as_str(),
        "--postgres-schema",
        schema.as_str(),
    ];
    let mut first = Served::start(&args);
    let client = Client::builder(first.url.clone())
        .token("alice-token")
        .auto_resume(false)
        .connect()
        .await
        .expect("connect");
    let handle = client
        .submit(SubmitRequest::new(
            "slow",
            serde_json::json!({"seconds": 30, "tick": 0.1}),
        ))
        .await
        .expect("submit");
    let job_id = handle.job_id().to_string();
    let mut seen = Vec::new();
    {
        let mut events = handle.events();
        while seen.len() < 4 {
            let e = events.next().await.expect("an event");
            seen.push(e.event_seq);
        }
    }
    assert_eq!(seen, vec![1, 2, 3, 4]);
    let state = client.resume_state().expect("resume state");
    assert_eq!(state.last_event_seq, 4);
    first.child.kill().expect("SIGKILL"); // Child::kill is SIGKILL on unix
    let _ = first.child.wait();
    drop(handle);
    drop(client);

    // What the killed node left in PostgreSQL: the session's record and the job's.
    let (sid, jid, s) = (state.session_id.to_string(), job_id.clone(), schema.clone());
    let stored: (i64, i64) = on_db(&url, move |c| {
        let q = |c: &mut postgres::Client, sql: &str, id: &str| -> i64 {
            c.query_one(&format!("SELECT count(*) FROM \"{s}\".{sql}"), &[&id])
                .expect("count")
                .get(0)
        };
        (
            q(c, "sessions WHERE session_id = $1", &sid),
            q(c, "jobs WHERE job_id = $1", &jid),
        )
    });
    assert_eq!(stored, (1, 1));

    let second = Served::start(&args);
    let resumed = Client::builder(second.url.clone())
        .token("alice-token")
        .resume(state.clone())
        .unrouted_events(1024)
        .connect()
        .await
        .expect("resume on the restarted runtime");
    assert_eq!(resumed.session_id(), &state.session_id);
    let mut stream = resumed.unrouted_events().expect("unrouted stream");
    let mut next = state.last_event_seq + 1;
    let terminal = loop {
        let item = tokio::time::timeout(std::time::Duration::from_secs(30), stream.next())
            .await
            .expect("frames within 30 s")
            .expect("stream open");
        assert_eq!(item.event_seq(), next, "no gap, no duplicate");
        next += 1;
        if let StreamItem::Terminal(outcome) = item {
            break outcome;
        }
    };
    match terminal.into_outcome() {
        JobOutcome::Failed { code, message, .. } => {
            assert_eq!(code, ErrorCode::InternalError);
            assert_eq!(message, "runtime restarted");
        }
        other => panic!("unexpected terminal {other:?}"),
    }
    let _ = resumed.close().await;
    drop(second);
    on_db(&url, move |c| {
        c.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .expect("drop the scratch schema")
    });
}

#[test]
fn serve_postgres_refuses_an_unreachable_server_with_one_line() {
    // No server needed: the socket directory does not exist.
    let out = std::process::Command::new(serve::ARCP)
        .args([
            "serve",
            "--demo",
            "--port",
            "0",
            "--postgres",
            "host=/nonexistent/arcp-test port=5432 user=x dbname=x password=hunter2",
        ])
        .output()
        .expect("run arcp");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: cannot open the PostgreSQL store: postgres: "),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
