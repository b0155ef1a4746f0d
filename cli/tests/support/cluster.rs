//! The cluster tests' nodes and clients: `arcp serve --postgres` nodes on one scratch schema,
//! alice's clients without automatic resume, the gap-free read of a resumed session to its
//! job's terminal.
#![allow(dead_code)]

use crate::serve::Served;
use arcp_proto::client::JobOutcome;
use arcp_tokio::client::{Client, ErrorCode, ResumeState, StreamItem};
use futures_util::StreamExt;
use std::time::Duration;

/// Liveness timeout of the test nodes (seconds).
pub const LIVENESS_SECS: u64 = 3;

/// A node of the test cluster in `schema`, named `id`, with the liveness timeout above and
/// `extra` flags.
pub fn node(url: &str, schema: &str, id: &str, extra: &[&str]) -> Served {
    let liveness = LIVENESS_SECS.to_string();
    let mut args = vec![
        "--postgres",
        url,
        "--postgres-schema",
        schema,
        "--node-id",
        id,
        "--liveness-timeout",
        liveness.as_str(),
    ];
    args.extend_from_slice(extra);
    Served::start(&args)
}

/// `HOST:PORT` of a node's `ws://HOST:PORT/arcp`.
pub fn addr(served: &Served) -> String {
    let rest = served.url.trim_start_matches("ws://");
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// Connects to `url` with `token` (no automatic resume; frames of jobs without a handle on
/// the unrouted stream).
pub async fn connect(url: &str, token: &str) -> Client {
    Client::builder(url.to_owned())
        .token(token)
        .auto_resume(false)
        .unrouted_events(1024)
        .connect()
        .await
        .expect("connect")
}

/// The node a client's welcome named.
pub fn node_of(c: &Client) -> String {
    c.welcome().runtime.node_id.clone().expect("a node id")
}

/// Resumes alice's `state` on `url`, asserting the welcome names `node_id`.
pub async fn resume_on(url: &str, state: &ResumeState, node_id: &str) -> Client {
    let resumed = Client::builder(url.to_owned())
        .token("alice-token")
        .resume(state.clone())
        .auto_resume(false)
        .unrouted_events(1024)
        .connect()
        .await
        .expect("resume on the other node");
    assert_eq!(resumed.session_id(), &state.session_id);
    assert_eq!(resumed.welcome().runtime.node_id.as_deref(), Some(node_id));
    resumed
}

/// Reads the resumed session's frames until a terminal, asserting seqs run on from
/// `after + 1` with no gap and no duplicate: (the progress ticks seen, the terminal, its seq).
pub async fn read_to_terminal(
    client: &Client,
    after: u64,
    within: Duration,
) -> (u64, JobOutcome, u64) {
    let mut stream = client.unrouted_events().expect("unrouted stream");
    let mut next = after + 1;
    let mut ticks = 0;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let item = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("the job's frames in time")
            .expect("stream open");
        assert_eq!(item.event_seq(), next, "no gap, no duplicate");
        match item {
            StreamItem::Terminal(outcome) => return (ticks, outcome.into_outcome(), next),
            StreamItem::Event(e) if e.kind() == "progress" => ticks += 1,
            _ => {}
        }
        next += 1;
    }
}

/// `outcome` is `job.error` `INTERNAL_ERROR`, retryable, with `message`.
pub fn assert_internal_error(outcome: JobOutcome, message: &str) {
    match outcome {
        JobOutcome::Failed {
            code,
            message: got,
            retryable,
            ..
        } => {
            assert_eq!(code, ErrorCode::InternalError);
            assert_eq!(got, message);
            assert!(retryable);
        }
        other => panic!("expected INTERNAL_ERROR, got {other:?}"),
    }
}
