//! Resume against the Python reference runtime: automatic resume after `drop_transport`,
//! a second client resuming a session, and the frame cap (D35).

mod client_support;

use arcp_proto::client::JobOutcome;
use arcp_proto::wire::ErrorCode;
use arcp_tokio::client::{
    Client, ClientError, ClientState, ResultValue, StreamItem, SubmitRequest,
};
use client_support::{start_peer, within};
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;

fn success_value(outcome: &arcp_tokio::client::JobOutcome) -> &ResultValue {
    match outcome.outcome() {
        JobOutcome::Success { result, .. } => result,
        other => panic!("expected success, got {other:?}"),
    }
}

#[tokio::test]
async fn resume_after_drop_transport_mid_job() {
    let Some(peer) = start_peer("resume_after_drop").await else {
        return;
    };
    let client = within(10, "connect", Client::connect(&peer.url, "alice-token"))
        .await
        .unwrap();
    let session = client.session_id().to_owned();
    let first_token = client.resume_token().unwrap();
    let handle = within(
        10,
        "submit",
        client.submit(SubmitRequest::new(
            "slow",
            json!({"seconds": 1.5, "tick": 0.1}),
        )),
    )
    .await
    .unwrap();
    let mut seqs = Vec::new();
    {
        let mut events = handle.events();
        for _ in 0..3 {
            seqs.push(within(10, "event", events.next()).await.unwrap().event_seq);
        }
    }
    within(10, "drop", client.drop_transport()).await.unwrap();
    // Automatic resume: a second welcome on the same session with a rotated token.
    within(10, "resumed", async {
        while client.welcomes() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(client.state(), ClientState::Open);
    assert_eq!(client.resume_token().map(|t| t != first_token), Some(true));
    assert_eq!(client.resume_state().unwrap().session_id, session);
    // The reference loses live events after a drop (COMPAT D3): assert only on what was
    // delivered and replayed — gap-free and without duplicates — never on the live tail.
    let mut events = handle.events();
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(800), events.next()).await {
        seqs.push(ev.event_seq);
    }
    let n = u64::try_from(seqs.len()).unwrap();
    assert_eq!(seqs, (1..=n).collect::<Vec<u64>>());
    // The session still works after the resume.
    let echo = within(
        10,
        "submit",
        client.submit(SubmitRequest::new("echo", json!("after"))),
    )
    .await
    .unwrap();
    let outcome = within(10, "done", echo.done()).await.unwrap();
    assert_eq!(
        success_value(&outcome),
        &ResultValue::Inline(json!("after"))
    );
}

#[tokio::test]
async fn a_new_client_resumes_and_gets_exactly_the_unconsumed_events() {
    let Some(peer) = start_peer("resume_replay").await else {
        return;
    };
    let first = within(
        10,
        "connect",
        Client::builder(&peer.url)
            .token("alice-token")
            .auto_resume(false)
            .connect(),
    )
    .await
    .unwrap();
    let handle = within(
        10,
        "submit",
        first.submit(SubmitRequest::new("chatty", json!({"count": 2}))),
    )
    .await
    .unwrap();
    let job_id = handle.job_id().to_owned();
    {
        let mut events = handle.events();
        for _ in 0..5 {
            within(10, "event", events.next()).await.unwrap();
        }
    }
    // Let the job finish: every frame is in the runtime's log.
    within(10, "all received", async {
        while first.received_event_seq() < 15 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    within(10, "drop", first.drop_transport()).await.unwrap();
    assert_eq!(first.state(), ClientState::Disconnected);
    let state = first.resume_state().unwrap();
    assert_eq!(state.last_event_seq, 5);
    let second = within(
        10,
        "resume",
        Client::builder(&peer.url)
            .token("alice-token")
            .resume(state.clone())
            .unrouted_events(4)
            .connect(),
    )
    .await
    .unwrap();
    assert!(second.welcome().resumed);
    assert_eq!(second.session_id(), &state.session_id);
    let mut replay = second.unrouted_events().unwrap();
    assert!(second.unrouted_events().is_none());
    let mut seqs = Vec::new();
    loop {
        let item = within(10, "replayed", replay.next()).await.unwrap();
        assert_eq!(*item.job_id(), job_id);
        seqs.push(item.event_seq());
        if let StreamItem::Terminal(outcome) = item {
            assert_eq!(
                success_value(&outcome),
                &ResultValue::Inline(json!({"rounds": 2, "events": 14}))
            );
            break;
        }
    }
    assert_eq!(seqs, (6..=15).collect::<Vec<u64>>());
    assert_eq!(second.latest_event_seq(), 15);
    // The old token was rotated away: the first client cannot resume any more.
    let err = within(10, "stale resume", first.resume())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::PermissionDenied));
    assert_eq!(first.state(), ClientState::Closed);
}

#[tokio::test]
async fn a_frame_over_the_cap_drops_the_transport_and_a_replayed_one_ends_the_session() {
    let Some(peer) = start_peer("frame_over_cap").await else {
        return;
    };
    let client = within(
        10,
        "connect",
        Client::builder(&peer.url)
            .token("alice-token")
            .max_frame_bytes(2048)
            .reconnect(2, Duration::from_millis(20))
            .connect(),
    )
    .await
    .unwrap();
    let small = within(
        10,
        "small",
        client.submit(SubmitRequest::new("echo", json!("ok"))),
    )
    .await
    .unwrap();
    within(10, "small done", small.done()).await.unwrap();
    // The job.result of a 4 KiB echo exceeds the 2 KiB cap (D35): the transport is closed,
    // the resume replays the same frame, twice, and the client gives up.
    let big = within(
        10,
        "big",
        client.submit(SubmitRequest::new("echo", json!("x".repeat(4096)))),
    )
    .await
    .unwrap();
    let err = within(20, "big done", big.done()).await.unwrap_err();
    match &err {
        ClientError::Transport { message: why, .. } => {
            assert!(why.contains("without progress"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.state(), ClientState::Closed);
    assert_eq!(client.welcomes(), 3);
}
