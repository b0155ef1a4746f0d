//! Two `arcp serve --postgres` nodes on one PostgreSQL schema: a session submitted on node A
//! resumes on node B (replay from the shared log, then the live events A's job forwards, with
//! strictly increasing `event_seq`), a cancel sent to B stops the job running on A, and a
//! SIGKILLed node's job ends `INTERNAL_ERROR` (retryable, "node node-a lost") on the survivor
//! within the liveness timeout plus 5 s; a node drained by SIGTERM ends the job still
//! running at the end of its grace "runtime stopped" (retryable), and its client resumes on
//! the other node with nothing lost.
//!
//! Needs `ARCP_TEST_POSTGRES_URL` (`eval "$(bash .ci/postgres.sh start)"`): without it each
//! test says so and skips; with `CI=true` it fails instead.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/pg.rs"]
mod pg;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/signal.rs"]
mod signal;

use arcp_proto::client::JobOutcome;
use arcp_tokio::client::{Client, ErrorCode, ResumeState, SubmitRequest};
use cluster::{assert_internal_error, read_to_terminal, resume_on};
use futures_util::StreamExt;
use std::time::{Duration, Instant};

/// A node of the test cluster in `schema`.
fn node(url: &str, schema: &str, id: &str) -> serve::Served {
    cluster::node(url, schema, id, &[])
}

/// Connects to `url` as alice (no automatic resume).
async fn connect(url: &str) -> Client {
    Client::builder(url.to_owned())
        .token("alice-token")
        .auto_resume(false)
        .connect()
        .await
        .expect("connect")
}

/// Submits `slow` with `input` on `client` and reads its first `n` events (seqs 1..=n);
/// then drops the transport (no bye): the session stays resumable.
async fn submit_and_detach(
    client: &Client,
    input: serde_json::Value,
    n: u64,
) -> (String, ResumeState) {
    let handle = client
        .submit(SubmitRequest::new("slow", input))
        .await
        .expect("submit");
    let job_id = handle.job_id().to_string();
    let mut seen = Vec::new();
    {
        let mut events = handle.events();
        while (seen.len() as u64) < n {
            seen.push(events.next().await.expect("an event").event_seq);
        }
    }
    assert_eq!(seen, (1..=n).collect::<Vec<_>>());
    let state = client.resume_state().expect("resume state");
    assert_eq!(state.last_event_seq, n);
    client.drop_transport().await.expect("drop the transport");
    (job_id, state)
}

#[tokio::test]
async fn a_session_resumes_on_another_node_with_the_live_events_of_its_job() {
    let Some(url) = pg::postgres_url("cluster") else {
        return;
    };
    let schema = format!("cluster_resume_{}", std::process::id());
    let a = node(&url, &schema, "node-a");
    let b = node(&url, &schema, "node-b");
    let client = connect(&a.url).await;
    assert_eq!(client.welcome().runtime.node_id.as_deref(), Some("node-a"));
    // 1 status + 60 progress ticks + the result: seqs 1..=62.
    let (_, state) =
        submit_and_detach(&client, serde_json::json!({"seconds": 6, "tick": 0.1}), 4).await;
    let resumed = resume_on(&b.url, &state, "node-b").await;
    let (ticks, outcome, seq) = read_to_terminal(&resumed, 4, Duration::from_secs(30)).await;
    assert!(matches!(outcome, JobOutcome::Success { .. }), "{outcome:?}");
    assert_eq!(seq, 62);
    // Events 1..=4 were the status and ticks 1..=3: the other 57 ticks came through B.
    assert_eq!(ticks, 57);
    let _ = resumed.close().await;
    drop((a, b));
    pg::drop_schema(&url, &schema);
}

#[tokio::test]
async fn a_cancel_sent_to_another_node_stops_the_job() {
    let Some(url) = pg::postgres_url("cluster") else {
        return;
    };
    let schema = format!("cluster_cancel_{}", std::process::id());
    let a = node(&url, &schema, "node-a");
    let b = node(&url, &schema, "node-b");
    let client = connect(&a.url).await;
    let (job_id, state) =
        submit_and_detach(&client, serde_json::json!({"seconds": 60, "tick": 0.1}), 3).await;
    let resumed = resume_on(&b.url, &state, "node-b").await;
    resumed
        .cancel(&job_id.clone().into())
        .await
        .expect("cancel through node B");
    let (_, outcome, _) = read_to_terminal(&resumed, 3, Duration::from_secs(20)).await;
    match outcome {
        JobOutcome::Cancelled { .. } => {}
        other => panic!("expected the job cancelled, got {other:?}"),
    }
    let _ = resumed.close().await;
    drop((a, b));
    pg::drop_schema(&url, &schema);
}

#[tokio::test]
async fn a_killed_nodes_job_ends_internal_error_on_the_survivor() {
    let Some(url) = pg::postgres_url("cluster") else {
        return;
    };
    let schema = format!("cluster_kill_{}", std::process::id());
    let mut a = node(&url, &schema, "node-a");
    let b = node(&url, &schema, "node-b");
    let client = connect(&a.url).await;
    let (_, state) =
        submit_and_detach(&client, serde_json::json!({"seconds": 60, "tick": 0.1}), 4).await;
    a.child.kill().expect("SIGKILL node A");
    let _ = a.child.wait();
    let killed = Instant::now();
    let resumed = resume_on(&b.url, &state, "node-b").await;
    // Whatever A logged after seq 4 is replayed once and in order, then the terminal.
    let within = Duration::from_secs(cluster::LIVENESS_SECS + 5);
    let (_, outcome, _) = read_to_terminal(&resumed, 4, within).await;
    assert!(killed.elapsed() <= within, "{:?}", killed.elapsed());
    assert_internal_error(outcome, "node node-a lost");
    let _ = resumed.close().await;
    drop(b);
    pg::drop_schema(&url, &schema);
}

#[tokio::test]
async fn a_drained_nodes_client_resumes_on_the_other_node_with_nothing_lost() {
    let Some(url) = pg::postgres_url("cluster") else {
        return;
    };
    let schema = format!("cluster_drain_{}", std::process::id());
    let mut a = cluster::node(&url, &schema, "node-a", &["--drain-grace", "1"]);
    let b = node(&url, &schema, "node-b");
    let client = connect(&a.url).await;
    let handle = client
        .submit(SubmitRequest::new(
            "slow",
            serde_json::json!({"seconds": 60, "tick": 0.1}),
        ))
        .await
        .expect("submit");
    {
        let mut events = handle.events();
        for want in 1..=4 {
            assert_eq!(events.next().await.expect("an event").event_seq, want);
        }
    }
    // A rolling restart: node A drains (grace 1 s), ends the job still running, closes 1001
    // and exits 0.
    signal::send(&a.child, "TERM");
    let status = signal::wait_exit(&mut a.child, Duration::from_secs(15));
    assert_eq!(status.code(), Some(0));
    let state = client.resume_state().expect("resume state");
    let resumed = resume_on(&b.url, &state, "node-b").await;
    let (_, outcome, _) =
        read_to_terminal(&resumed, state.last_event_seq, Duration::from_secs(10)).await;
    assert_internal_error(outcome, "runtime stopped");
    let _ = resumed.close().await;
    drop((a, b));
    pg::drop_schema(&url, &schema);
}

#[tokio::test]
async fn the_resumable_sessions_cap_holds_across_nodes() {
    let Some(url) = pg::postgres_url("cluster") else {
        return;
    };
    let schema = format!("cluster_rescap_{}", std::process::id());
    let capped = |id: &str| {
        cluster::node(
            &url,
            &schema,
            id,
            &["--max-resumable-sessions-per-principal", "1"],
        )
    };
    let (a, b) = (capped("node-a"), capped("node-b"));
    // Alice detaches a session on A, then another on B: over the cap of 1 across the cluster,
    // the first (its window closes first) is expired, though it was A's.
    let first = connect(&a.url).await;
    let first_state = first.resume_state().expect("resume state");
    first.drop_transport().await.expect("drop");
    let second = connect(&b.url).await;
    let second_state = second.resume_state().expect("resume state");
    // Its window closes after the first's (the clock's millisecond resolution).
    tokio::time::sleep(Duration::from_millis(20)).await;
    second.drop_transport().await.expect("drop");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = Client::builder(b.url.clone())
        .token("alice-token")
        .resume(first_state)
        .auto_resume(false)
        .connect()
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(refused, Some(Some(ErrorCode::PermissionDenied)));
    // The second is still resumable, on the other node.
    let resumed = resume_on(&a.url, &second_state, "node-a").await;
    let _ = resumed.close().await;
    drop((a, b));
    pg::drop_schema(&url, &schema);
}
