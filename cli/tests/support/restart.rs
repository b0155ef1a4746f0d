//! A durable `arcp serve` SIGKILLed mid-job and restarted on the same store: the two halves
//! of the restart tests (`--db` in cli.rs, `--postgres` in serve_postgres.rs).
#![allow(dead_code)]

use crate::serve::Served;
use arcp_proto::client::JobOutcome;
use arcp_tokio::client::{Client, ErrorCode, ResumeState, StreamItem, SubmitRequest};
use futures_util::StreamExt;

/// `arcp serve --demo --port 0 ARGS…`, a `slow` job submitted and its first 4 events read,
/// then the server SIGKILLed: the session's resume state (last seq 4) and the job's id.
pub async fn submit_then_kill(args: &[&str]) -> (ResumeState, String) {
    let mut first = Served::start(args);
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
    (state, job_id)
}

/// `arcp serve --demo --port 0 ARGS…` again, on the same store: `state`'s session resumes
/// with no gap and no duplicate in `event_seq`, and the job ends `INTERNAL_ERROR` "runtime
/// restarted".
pub async fn restart_and_resume(args: &[&str], state: &ResumeState) {
    let second = Served::start(args);
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
}
