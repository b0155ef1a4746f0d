//! Three `arcp serve --postgres` nodes behind HAProxy (`support/haproxy.rs`: `mode tcp`,
//! `balance roundrobin`, one node per new TCP connection, health checks `GET /healthz`), and
//! two nodes reached directly:
//!
//! - through HAProxy, a job's submitter, a subscriber and the submitter's resume land on
//!   three different nodes (each welcome's `runtime.node_id`); the subscriber streams the job
//!   live; then the node running the job is SIGKILLed: the resumed session gets every event
//!   after its last one once and in order, then the job's `INTERNAL_ERROR` "node … lost"
//!   within the liveness timeout plus 5 s, and so does the subscriber;
//! - concurrent submits with one idempotency key on two nodes make one job;
//! - `list_jobs` on one node lists the principal's jobs of the other, running and finished.
//!
//! Needs `ARCP_TEST_POSTGRES_URL` and the `haproxy` binary (`bash .ci/postgres.sh start`,
//! `bash .ci/haproxy.sh`): without them a test says so and skips; with `CI=true` it fails.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/haproxy.rs"]
mod haproxy;
#[path = "support/pg.rs"]
mod pg;
#[path = "support/serve.rs"]
mod serve;

use arcp_proto::wire::{JobId, JobStatus};
use arcp_tokio::client::{Client, ErrorCode, ListJobsRequest, SubmitRequest};
use cluster::{addr, assert_internal_error, connect, node_of, read_to_terminal};
use futures_util::StreamExt;
use haproxy::HaProxy;
use serde_json::json;
use serve::Served;
use std::time::{Duration, Instant};

fn node(url: &str, schema: &str, id: &str) -> Served {
    cluster::node(url, schema, id, &[])
}

#[tokio::test]
async fn through_haproxy_resumes_and_subscribes_land_on_other_nodes_and_survive_a_kill() {
    let Some(url) = pg::postgres_url("cluster_haproxy") else {
        return;
    };
    let Some(bin) = haproxy::binary() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no haproxy binary (bash .ci/haproxy.sh installs it)"
        );
        println!("SKIPPED cluster_haproxy: no haproxy binary (bash .ci/haproxy.sh installs it)");
        return;
    };
    let schema = format!("cluster_ha_{}", std::process::id());
    let mut nodes = vec![
        node(&url, &schema, "node-1"),
        node(&url, &schema, "node-2"),
        node(&url, &schema, "node-3"),
    ];
    let addrs: Vec<String> = nodes.iter().map(addr).collect();
    let proxy = HaProxy::start(&bin, &addrs);
    let up = proxy.wait_servers(&[
        ("n0", "UP", "200"),
        ("n1", "UP", "200"),
        ("n2", "UP", "200"),
    ]);
    assert_eq!(up.len(), 3, "{up:?}");

    // The submitter: a slow job, 4 events read.
    let submitter = connect(&proxy.url(), "alice-token").await;
    let running_on = node_of(&submitter);
    let handle = submitter
        .submit(SubmitRequest::new(
            "slow",
            json!({"seconds": 60, "tick": 0.1}),
        ))
        .await
        .expect("submit");
    let job_id = handle.job_id().clone();
    {
        let mut events = handle.events();
        for want in 1..=4 {
            assert_eq!(events.next().await.expect("an event").event_seq, want);
        }
    }
    // A subscriber (the observer) on the next node: live events of the job.
    let observer = connect(&proxy.url(), "auditor-token").await;
    let subscribed_on = node_of(&observer);
    assert_ne!(
        subscribed_on, running_on,
        "the subscribe landed on another node"
    );
    let sub = observer.subscribe(&job_id, false).await.expect("subscribe");
    let mut sub_events = sub.events();
    let first = tokio::time::timeout(Duration::from_secs(10), sub_events.next())
        .await
        .expect("a live event through the other node")
        .expect("an event");
    assert_eq!(first.event_seq, 1, "the subscriber's own numbering");

    // The submitter drops and resumes through HAProxy: the third node.
    let state = submitter.resume_state().expect("resume state");
    let last = state.last_event_seq;
    assert_eq!(last, 4);
    submitter.drop_transport().await.expect("drop");
    let resumed = Client::builder(proxy.url())
        .token("alice-token")
        .resume(state)
        .auto_resume(false)
        .unrouted_events(1024)
        .connect()
        .await
        .expect("resume through HAProxy");
    let resumed_on = node_of(&resumed);
    assert_ne!(resumed_on, running_on, "the resume landed on another node");
    assert_ne!(resumed_on, subscribed_on, "three connections, three nodes");

    // Kill the node running the job.
    let index = ["node-1", "node-2", "node-3"]
        .iter()
        .position(|n| *n == running_on)
        .expect("a known node");
    nodes[index].child.kill().expect("SIGKILL");
    let _ = nodes[index].child.wait();
    let killed = Instant::now();
    let within = Duration::from_secs(cluster::LIVENESS_SECS + 5);

    // Once and in order, then the terminal within the liveness timeout + 5 s.
    let (_, outcome, _) =
        read_to_terminal(&resumed, last, within.saturating_sub(killed.elapsed())).await;
    let lost = format!("node {running_on} lost");
    assert_internal_error(outcome, &lost);
    // The subscriber gets the same terminal, its seqs gap-free.
    let mut seq = first.event_seq;
    while let Some(e) = tokio::time::timeout(Duration::from_secs(10), sub_events.next())
        .await
        .expect("the subscriber's stream ends")
    {
        seq += 1;
        assert_eq!(e.event_seq, seq, "the subscriber's seqs are gap-free");
    }
    match tokio::time::timeout(Duration::from_secs(10), sub.done())
        .await
        .expect("the subscription ends")
    {
        Err(arcp_tokio::client::ClientError::JobFailed {
            code,
            message,
            retryable,
            ..
        }) => {
            assert_eq!(code, ErrorCode::InternalError);
            assert_eq!(message, lost);
            assert!(retryable);
        }
        other => panic!("expected the subscriber's INTERNAL_ERROR, got {other:?}"),
    }
    let _ = resumed.close().await;
    let _ = observer.close().await;
    drop(proxy);
    drop(nodes);
    pg::drop_schema(&url, &schema);
}

#[tokio::test]
async fn concurrent_submits_with_one_key_on_two_nodes_make_one_job() {
    let Some(url) = pg::postgres_url("cluster_haproxy") else {
        return;
    };
    let schema = format!("cluster_idem_{}", std::process::id());
    let a = node(&url, &schema, "node-a");
    let b = node(&url, &schema, "node-b");
    let on_a = connect(&a.url, "alice-token").await;
    let on_b = connect(&b.url, "alice-token").await;
    assert_eq!(node_of(&on_a), "node-a");
    assert_eq!(node_of(&on_b), "node-b");
    for round in 0..10 {
        let key = format!("key-{round}");
        let req =
            || SubmitRequest::new("echo", json!({"round": round})).idempotency_key(key.clone());
        let (x, y) = tokio::join!(on_a.submit(req()), on_b.submit(req()));
        let (x, y) = (x.expect("submit on A"), y.expect("submit on B"));
        assert_eq!(x.job_id(), y.job_id(), "round {round}: one job for one key");
    }
    // A key reused with other parameters is refused on the other node too.
    let first = on_a
        .submit(SubmitRequest::new("echo", json!(1)).idempotency_key("other"))
        .await
        .expect("first");
    let Err(refused) = on_b
        .submit(SubmitRequest::new("echo", json!(2)).idempotency_key("other"))
        .await
    else {
        panic!("a key reused with other parameters is refused on another node");
    };
    assert_eq!(
        refused.code(),
        Some(ErrorCode::DuplicateKey),
        "{refused:?} (first job {})",
        first.job_id()
    );
    drop((a, b));
    pg::drop_schema(&url, &schema);
}

#[tokio::test]
async fn list_jobs_on_one_node_lists_the_jobs_of_the_other() {
    let Some(url) = pg::postgres_url("cluster_haproxy") else {
        return;
    };
    let schema = format!("cluster_list_{}", std::process::id());
    let a = node(&url, &schema, "node-a");
    let b = node(&url, &schema, "node-b");
    let on_a = connect(&a.url, "alice-token").await;
    let done = on_a
        .submit(SubmitRequest::new("echo", json!("x")))
        .await
        .expect("submit echo");
    let done_id = done.job_id().clone();
    done.done().await.expect("echo ends");
    let running = on_a
        .submit(SubmitRequest::new(
            "slow",
            json!({"seconds": 30, "tick": 0.5}),
        ))
        .await
        .expect("submit slow");
    let running_id = running.job_id().clone();
    let on_b = connect(&b.url, "alice-token").await;
    let listed = on_b
        .list_jobs(ListJobsRequest::default())
        .await
        .expect("list");
    let mut got: Vec<(JobId, JobStatus)> = listed
        .jobs
        .iter()
        .map(|j| (j.job_id.clone(), j.status))
        .collect();
    got.sort_by(|x, y| x.0.cmp(&y.0));
    let mut want = vec![
        (done_id, JobStatus::Success),
        (running_id.clone(), JobStatus::Running),
    ];
    want.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(got, want);
    // Bob sees none of them.
    let bob = connect(&b.url, "bob-token").await;
    let listed = bob
        .list_jobs(ListJobsRequest::default())
        .await
        .expect("list");
    assert_eq!(listed.jobs.len(), 0);
    running.cancel().await.expect("cancel");
    drop((a, b));
    pg::drop_schema(&url, &schema);
}
