//! The stdio client: a child `peer_runtime.py --stdio` speaking NDJSON on stdin/stdout.

mod client_support;

use arcp_proto::client::JobOutcome;
use arcp_proto::wire::ErrorCode;
use arcp_tokio::client::{Client, ClientError, ClientState, ResultValue, SubmitRequest};
use client_support::{stdio_argv, within};
use futures_util::StreamExt;
use serde_json::json;

#[tokio::test]
async fn stdio_child_runs_jobs() {
    let Some(argv) = stdio_argv("stdio_child_runs_jobs") else {
        return;
    };
    let client = within(30, "spawn", Client::spawn_stdio(argv, "alice-token"))
        .await
        .unwrap();
    assert!(client.session_id().starts_with("sess_"));
    let h = within(
        10,
        "echo",
        client.submit(SubmitRequest::new("echo", json!({"a": [1, 2]}))),
    )
    .await
    .unwrap();
    match within(10, "done", h.done()).await.unwrap().into_outcome() {
        JobOutcome::Success { result, .. } => {
            assert_eq!(result, ResultValue::Inline(json!({"a": [1, 2]})));
        }
        other => panic!("{other:?}"),
    }
    let h = within(
        10,
        "chatty",
        client.submit(SubmitRequest::new("chatty", json!({"count": 1}))),
    )
    .await
    .unwrap();
    let seqs: Vec<u64> = within(
        10,
        "events",
        h.events().map(|e| e.event_seq).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(seqs, (2..=9).collect::<Vec<u64>>());
    within(10, "done", h.done()).await.unwrap();
    let err = within(
        10,
        "unknown",
        client.submit(SubmitRequest::new("nope", json!(null))),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::AgentNotAvailable));
    within(10, "close", client.close()).await.unwrap();
    assert_eq!(client.state(), ClientState::Closed);
}

#[tokio::test]
async fn a_stdio_drop_cannot_resume_and_closes_the_session() {
    let Some(argv) = stdio_argv("stdio_drop") else {
        return;
    };
    let client = within(30, "spawn", Client::spawn_stdio(argv, "alice-token"))
        .await
        .unwrap();
    let h = within(
        10,
        "slow",
        client.submit(SubmitRequest::new(
            "slow",
            json!({"seconds": 30, "tick": 0.5}),
        )),
    )
    .await
    .unwrap();
    within(10, "drop", client.drop_transport()).await.unwrap();
    // A new child is a new runtime: the session ends and the handle learns why.
    let err = within(10, "done", h.done()).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Transport { message: _, .. }),
        "{err:?}"
    );
    assert_eq!(client.state(), ClientState::Closed);
}

#[tokio::test]
async fn spawning_a_missing_program_is_a_transport_error() {
    let err = Client::spawn_stdio(["/nonexistent/arcp-runtime"], "alice-token")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Transport { message: _, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_stdio_line_over_the_cap_ends_the_session() {
    let Some(argv) = stdio_argv("stdio_line_over_cap") else {
        return;
    };
    let client = within(
        30,
        "spawn",
        Client::stdio_builder(argv)
            .token("alice-token")
            .max_frame_bytes(2048)
            .connect(),
    )
    .await
    .unwrap();
    let h = within(
        10,
        "big echo",
        client.submit(SubmitRequest::new("echo", json!("y".repeat(4096)))),
    )
    .await
    .unwrap();
    // D35: the line is refused by the framer and the transport closed; a stdio session
    // cannot resume, so it ends and the handle reports the transport failure.
    let err = within(10, "done", h.done()).await.unwrap_err();
    match &err {
        ClientError::Transport { message: why, .. } => assert!(why.contains("size cap"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.state(), ClientState::Closed);
}
