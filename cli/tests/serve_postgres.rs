//! `arcp serve --postgres URL`: the runtime's durable store on PostgreSQL. SIGKILLed mid-job
//! and restarted on the same database, the node replays the session from PostgreSQL: the
//! client resumes with no gap in `event_seq` and gets the job's terminal, `INTERNAL_ERROR`
//! "runtime restarted" (as with `--db`, tests/cli.rs).
//!
//! Needs `ARCP_TEST_POSTGRES_URL` (`eval "$(bash .ci/postgres.sh start)"`): without it the test
//! says so and skips; with `CI=true` it fails instead. Each run uses a scratch schema
//! (`--postgres-schema`), dropped at the end.

#[path = "support/pg.rs"]
mod pg;
#[path = "support/restart.rs"]
mod restart;
#[path = "support/serve.rs"]
mod serve;

use pg::{on_db, postgres_url};

#[tokio::test]
async fn serve_postgres_survives_sigkill_and_replays_from_postgres() {
    let Some(url) = postgres_url("serve_postgres") else {
        return;
    };
    let schema = format!("cli_restart_{}", std::process::id());
    let args = [
        "--postgres",
        url.as_str(),
        "--postgres-schema",
        schema.as_str(),
        // The restarted node is the same node: it ends its own unfinished job at start.
        "--node-id",
        "restart-node",
    ];
    let (state, job_id) = restart::submit_then_kill(&args).await;

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

    restart::restart_and_resume(&args, &state).await;
    pg::drop_schema(&url, &schema);
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
        stderr.starts_with("error: cannot join the PostgreSQL cluster: postgres: "),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
