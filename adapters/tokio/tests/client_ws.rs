//! The WebSocket client against the Python reference runtime (`peer_runtime.py --port 0`).

mod client_support;

use arcp_proto::client::JobOutcome;
use arcp_proto::wire::{ErrorCode, JobStatus};
use arcp_tokio::client::{
    Client, ClientError, ClientState, Feature, FeatureSet, ListJobsRequest, ResultValue, SeqSpace,
    StreamItem, SubmitRequest,
};
use client_support::{start_peer, within};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;

fn success_value(outcome: &arcp_tokio::client::JobOutcome) -> &ResultValue {
    match outcome.outcome() {
        JobOutcome::Success { result, .. } => result,
        other => panic!("expected success, got {other:?}"),
    }
}

#[tokio::test]
async fn submit_echo_returns_the_input() {
    let Some(peer) = start_peer("submit_echo_returns_the_input").await else {
        return;
    };
    let client = within(10, "connect", Client::connect(&peer.url, "alice-token"))
        .await
        .unwrap();
    assert!(client.session_id().starts_with("sess_"));
    assert_eq!(client.welcome().features.len(), 11);
    assert_eq!(client.state(), ClientState::Open);
    let input = json!({"text": "héllo", "n": 9007199254740993u64, "nested": {"x": null}});
    let handle = within(
        10,
        "submit",
        client.submit(SubmitRequest::new("echo", input.clone())),
    )
    .await
    .unwrap();
    assert!(handle.job_id().starts_with("job_"));
    assert_eq!(handle.agent_ref().to_string(), "echo@1.0.0");
    let events: Vec<_> = within(10, "events", handle.events().collect::<Vec<_>>()).await;
    assert_eq!(events, vec![]);
    let outcome = within(10, "done", handle.done()).await.unwrap();
    assert_eq!(success_value(&outcome), &ResultValue::Inline(input));
    // The job.result was session event 1, and done() consumed it.
    assert_eq!(client.latest_event_seq(), 1);
    within(10, "close", client.close()).await.unwrap();
    assert_eq!(client.state(), ClientState::Closed);
    assert_eq!(
        within(
            10,
            "submit after close",
            client.submit(SubmitRequest::new("echo", json!(1)))
        )
        .await
        .unwrap_err(),
        ClientError::Closed
    );
}

#[tokio::test]
async fn chatty_events_arrive_in_order_through_a_one_slot_channel() {
    let Some(peer) = start_peer("chatty_events_in_order").await else {
        return;
    };
    // A one-event channel and a slow reader: back-pressure, nothing lost or reordered.
    let client = within(
        10,
        "connect",
        Client::builder(&peer.url)
            .token("alice-token")
            .event_capacity(1)
            .max_buffered_events(1)
            .connect(),
    )
    .await
    .unwrap();
    let handle = within(
        10,
        "submit",
        client.submit(SubmitRequest::new("chatty", json!({"count": 2}))),
    )
    .await
    .unwrap();
    let mut kinds = Vec::new();
    let mut seqs = Vec::new();
    let mut bodies = Vec::new();
    let mut events = handle.events();
    while let Some(ev) = within(10, "next event", events.next()).await {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(ev.space, SeqSpace::Session);
        kinds.push(ev.kind().to_owned());
        seqs.push(ev.event_seq);
        bodies.push(ev.body());
    }
    let round = [
        "log",
        "thought",
        "tool_call",
        "tool_result",
        "metric",
        "progress",
    ];
    let mut expected = vec!["status".to_owned()];
    for _ in 0..2 {
        expected.extend(round.iter().map(|k| (*k).to_owned()));
    }
    expected.push("artifact_ref".to_owned());
    assert_eq!(kinds, expected);
    assert_eq!(seqs, (1..=14).collect::<Vec<u64>>());
    assert_eq!(
        bodies[0],
        json!({"phase": "chatty.start", "message": "emitting 2 rounds"})
    );
    assert_eq!(bodies[1], json!({"level": "info", "message": "round 0"}));
    assert_eq!(
        bodies[3],
        json!({"tool_call_id": "call_0", "name": "lookup", "arguments": {"round": 0}})
    );
    assert_eq!(bodies[12]["current"].as_f64(), Some(2.0));
    assert_eq!(bodies[12]["total"].as_f64(), Some(2.0));
    assert_eq!(client.latest_event_seq(), 14);
    let outcome = within(10, "done", handle.done()).await.unwrap();
    assert_eq!(
        success_value(&outcome),
        &ResultValue::Inline(json!({"rounds": 2, "events": 14}))
    );
    assert_eq!(client.latest_event_seq(), 15);
}

#[tokio::test]
async fn result_chunks_are_reassembled_utf8_and_base64() {
    let Some(peer) = start_peer("result_chunks").await else {
        return;
    };
    let client = within(10, "connect", Client::connect(&peer.url, "alice-token"))
        .await
        .unwrap();
    let data = "héllo wörld — chunked ✓";
    for encoding in ["utf8", "base64"] {
        let input = json!({"data": data, "encoding": encoding, "chunk_size": 5});
        let handle = within(
            10,
            "submit",
            client.submit(SubmitRequest::new("chunked", input)),
        )
        .await
        .unwrap();
        let chunks: Vec<_> = within(10, "events", handle.events().collect::<Vec<_>>()).await;
        assert!(chunks.len() >= 2, "{encoding}: {} chunks", chunks.len());
        assert!(chunks.iter().all(|c| c.kind() == "result_chunk"));
        let outcome = within(10, "done", handle.done()).await.unwrap();
        match success_value(&outcome) {
            ResultValue::Streamed {
                result_id,
                data: bytes,
                ..
            } => {
                assert!(result_id.starts_with("res_"), "{result_id}");
                assert_eq!(std::str::from_utf8(bytes).unwrap(), data, "{encoding}");
            }
            other => panic!("{encoding}: expected a streamed result, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn cancel_of_slow_ends_cancelled() {
    let Some(peer) = start_peer("cancel_of_slow").await else {
        return;
    };
    let client = within(10, "connect", Client::connect(&peer.url, "alice-token"))
        .await
        .unwrap();
    let handle = within(
        10,
        "submit",
        client.submit(SubmitRequest::new(
            "slow",
            json!({"seconds": 30, "tick": 0.1}),
        )),
    )
    .await
    .unwrap();
    let job_id = handle.job_id().to_owned();
    let mut events = handle.events();
    let first = within(10, "status", events.next()).await.unwrap();
    assert_eq!(first.kind(), "status");
    let second = within(10, "progress", events.next()).await.unwrap();
    assert_eq!(second.kind(), "progress");
    assert_eq!(second.body()["current"].as_f64(), Some(1.0));
    within(10, "cancel", client.cancel(&job_id)).await.unwrap();
    let outcome = within(10, "done", handle.done()).await.unwrap();
    assert!(
        matches!(outcome.outcome(), JobOutcome::Cancelled { .. }),
        "{outcome:?}"
    );
    let listing = within(10, "list", client.list_jobs(ListJobsRequest::default()))
        .await
        .unwrap();
    let job = listing.jobs.iter().find(|j| j.job_id == job_id).unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
}

#[tokio::test]
async fn list_jobs_reports_finished_jobs() {
    let Some(peer) = start_peer("list_jobs").await else {
        return;
    };
    let client = within(10, "connect", Client::connect(&peer.url, "alice-token"))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..2 {
        let h = within(
            10,
            "submit",
            client.submit(SubmitRequest::new("echo", json!(i))),
        )
        .await
        .unwrap();
        ids.push(h.job_id().to_owned());
        within(10, "done", h.done()).await.unwrap();
    }
    let listing = within(10, "list", client.list_jobs(ListJobsRequest::default()))
        .await
        .unwrap();
    let mut listed: Vec<_> = listing
        .jobs
        .iter()
        .map(|j| (j.job_id.clone(), j.agent.clone(), j.status))
        .collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected: Vec<_> = ids
        .iter()
        .map(|id| (id.clone(), "echo@1.0.0".to_owned(), JobStatus::Success))
        .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(listed, expected);
    // Paging with limit 1.
    let page = within(
        10,
        "page",
        client.list_jobs(ListJobsRequest {
            limit: Some(1),
            ..ListJobsRequest::default()
        }),
    )
    .await
    .unwrap();
    assert_eq!(page.jobs.len(), 1);
    assert!(page.next_cursor.is_some());
}

#[tokio::test]
async fn a_second_client_subscribes_with_history() {
    let Some(peer) = start_peer("subscribe").await else {
        return;
    };
    let alice = within(10, "connect", Client::connect(&peer.url, "alice-token"))
        .await
        .unwrap();
    let handle = within(
        10,
        "submit",
        alice.submit(SubmitRequest::new(
            "slow",
            json!({"seconds": 1, "tick": 0.1}),
        )),
    )
    .await
    .unwrap();
    let job_id = handle.job_id().to_owned();
    // Let a few ticks happen so the subscription has history to replay.
    for _ in 0..4 {
        within(10, "own event", handle.events().next())
            .await
            .unwrap();
    }
    let observer = within(
        10,
        "observer",
        Client::builder(&peer.url)
            .token("auditor-token")
            .features([Feature::ListJobs, Feature::Subscribe])
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(
        observer.features(),
        FeatureSet::from([Feature::ListJobs, Feature::Subscribe])
    );
    let sub = within(10, "subscribe", observer.subscribe(&job_id, true))
        .await
        .unwrap();
    assert_eq!(*sub.job_id(), job_id);
    assert!(sub.replayed() >= 4, "replayed {}", sub.replayed());
    let seen: Vec<_> = within(10, "sub events", sub.handle.events().collect::<Vec<_>>()).await;
    let kinds: Vec<_> = seen.iter().map(|e| e.kind().to_owned()).collect();
    let mut expected = vec!["status".to_owned()];
    expected.extend(std::iter::repeat_n("progress".to_owned(), 10));
    assert_eq!(kinds, expected);
    let currents: Vec<_> = seen[1..]
        .iter()
        .map(|e| e.body()["current"].as_f64())
        .collect();
    assert_eq!(
        currents,
        (1..=10).map(|k| Some(f64::from(k))).collect::<Vec<_>>()
    );
    // The reference numbers a subscription's frames on their own, from 1 (D10).
    let seqs: Vec<_> = seen.iter().map(|e| e.event_seq).collect();
    let first = seqs[0];
    assert_eq!(seqs, (first..first + 11).collect::<Vec<u64>>());
    let outcome = within(10, "sub done", sub.handle.done()).await.unwrap();
    match success_value(&outcome) {
        ResultValue::Inline(v) => {
            assert_eq!(v["ticks"], json!(10));
            assert_eq!(v["slept"].as_f64(), Some(1.0));
        }
        other => panic!("{other:?}"),
    }
    within(10, "alice done", handle.done()).await.unwrap();
    let listing = within(
        10,
        "observer list",
        observer.list_jobs(ListJobsRequest::default()),
    )
    .await
    .unwrap();
    assert!(listing.jobs.iter().any(|j| j.job_id == job_id));
}

#[tokio::test]
async fn unsubscribe_ends_the_stream() {
    let Some(peer) = start_peer("unsubscribe").await else {
        return;
    };
    let alice = within(10, "connect", Client::connect(&peer.url, "alice-token"))
        .await
        .unwrap();
    let handle = within(
        10,
        "submit",
        alice.submit(SubmitRequest::new(
            "slow",
            json!({"seconds": 5, "tick": 0.1}),
        )),
    )
    .await
    .unwrap();
    let observer = within(10, "observer", Client::connect(&peer.url, "auditor-token"))
        .await
        .unwrap();
    let sub = within(10, "subscribe", observer.subscribe(handle.job_id(), false))
        .await
        .unwrap();
    let ev = within(10, "live event", sub.handle.events().next())
        .await
        .unwrap();
    assert_eq!(ev.kind(), "progress");
    within(10, "unsubscribe", observer.unsubscribe(handle.job_id()))
        .await
        .unwrap();
    // The stream ends (unread events discarded); done reports the end of the attachment.
    let rest: Vec<_> = within(10, "rest", sub.handle.events().collect::<Vec<_>>()).await;
    assert!(rest.len() <= 256);
    assert_eq!(
        within(10, "done", sub.handle.done()).await.unwrap_err(),
        ClientError::Closed
    );
    within(10, "cancel", alice.cancel(handle.job_id()))
        .await
        .unwrap();
}

#[tokio::test]
async fn refusals_carry_the_code_and_retryable() {
    let Some(peer) = start_peer("refusals").await else {
        return;
    };
    let client = within(10, "connect", Client::connect(&peer.url, "alice-token"))
        .await
        .unwrap();
    let err = within(
        10,
        "unknown agent",
        client.submit(SubmitRequest::new("no-such-agent", json!({}))),
    )
    .await
    .unwrap_err();
    match &err {
        ClientError::Refused {
            code, retryable, ..
        } => {
            assert_eq!(*code, ErrorCode::AgentNotAvailable);
            assert!(!retryable);
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.retryable());
    let keyed = |input: Value| SubmitRequest::new("echo", input).idempotency_key("key-1");
    let h = within(10, "keyed", client.submit(keyed(json!(1))))
        .await
        .unwrap();
    within(10, "done", h.done()).await.unwrap();
    let err = within(10, "duplicate", client.submit(keyed(json!(2))))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::DuplicateKey));
    // A failing job: done() is a typed error.
    let h = within(
        10,
        "failing",
        client.submit(SubmitRequest::new("failing", json!({}))),
    )
    .await
    .unwrap();
    match within(10, "done", h.done()).await.unwrap_err() {
        ClientError::JobFailed {
            code,
            message,
            retryable,
            ..
        } => {
            assert_eq!(code, ErrorCode::InternalError);
            assert_eq!(message, "boom");
            assert!(retryable);
        }
        other => panic!("{other:?}"),
    }
    let h = within(
        10,
        "failing typed",
        client.submit(SubmitRequest::new(
            "failing",
            json!({"code": "BUDGET_EXHAUSTED", "message": "spent"}),
        )),
    )
    .await
    .unwrap();
    let err = within(10, "done", h.done()).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BudgetExhausted));
    assert!(!err.retryable());
    // The session survived all of it.
    assert!(within(10, "ping", client.ping()).await.unwrap() < Duration::from_secs(5));
}

#[tokio::test]
async fn bad_token_is_refused_at_connect() {
    let Some(peer) = start_peer("bad_token").await else {
        return;
    };
    let err = within(10, "connect", Client::connect(&peer.url, "wrong-token"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Unauthenticated));
}

#[tokio::test]
async fn a_replay_larger_than_the_buffers_fails_the_subscription() {
    let Some(peer) = start_peer("subscribe_overflow").await else {
        return;
    };
    let alice = within(10, "connect", Client::connect(&peer.url, "alice-token"))
        .await
        .unwrap();
    let h = within(
        10,
        "submit",
        alice.submit(SubmitRequest::new("chatty", json!({"count": 2}))),
    )
    .await
    .unwrap();
    let job_id = h.job_id().to_owned();
    within(10, "done", h.done()).await.unwrap();
    let observer = within(
        10,
        "observer",
        Client::builder(&peer.url)
            .token("auditor-token")
            .event_capacity(1)
            .max_buffered_events(2)
            .connect(),
    )
    .await
    .unwrap();
    // The reference replays 15 frames before job.subscribed (D9): 1 + 2 fit, then refused.
    let err = within(10, "subscribe", observer.subscribe(&job_id, true))
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::Overflow { limit: 2 });
    // The session is still usable.
    let listing = within(10, "list", observer.list_jobs(ListJobsRequest::default()))
        .await
        .unwrap();
    assert!(listing.jobs.iter().any(|j| j.job_id == job_id));
}

#[tokio::test]
async fn connect_to_nothing_is_a_transport_error() {
    let err = Client::connect("ws://127.0.0.1:9/arcp", "alice-token")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Transport { message: _, .. }),
        "{err:?}"
    );
    assert!(err.retryable());
}

#[tokio::test]
async fn callers_wait_for_room_in_a_one_slot_command_queue() {
    let Some(peer) = start_peer("command_capacity").await else {
        return;
    };
    let client = within(
        10,
        "connect",
        Client::builder(&peer.url)
            .token("alice-token")
            .command_capacity(1)
            .connect(),
    )
    .await
    .unwrap();
    let submits = (0..20).map(|i| {
        let client = &client;
        async move {
            let h = client.submit(SubmitRequest::new("echo", json!(i))).await?;
            h.done().await
        }
    });
    let outcomes = within(30, "20 submits", futures_util::future::join_all(submits)).await;
    let values: Vec<_> = outcomes
        .into_iter()
        .map(|o| match o.unwrap().into_outcome() {
            JobOutcome::Success {
                result: ResultValue::Inline(v),
                ..
            } => v,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(values, (0..20).map(|i| json!(i)).collect::<Vec<_>>());
}

#[tokio::test]
async fn ack_ping_and_feature_gating() {
    let Some(peer) = start_peer("ack_ping_features").await else {
        return;
    };
    let client = within(10, "connect", Client::connect(&peer.url, "alice-token"))
        .await
        .unwrap();
    let h = within(
        10,
        "submit",
        client.submit(SubmitRequest::new("chatty", json!({"count": 1}))),
    )
    .await
    .unwrap();
    within(10, "done", h.done()).await.unwrap();
    assert_eq!(client.latest_event_seq(), 9);
    within(10, "ack", client.ack(9)).await.unwrap();
    let err = within(10, "ack beyond", client.ack(10)).await.unwrap_err();
    assert!(matches!(err, ClientError::Api(_)), "{err:?}");
    within(10, "ping", client.ping()).await.unwrap();
    within(10, "close", client.close()).await.unwrap();

    // Only heartbeat negotiated: list_jobs, subscribe and ack are refused locally (D26).
    let narrow = within(
        10,
        "narrow",
        Client::builder(&peer.url)
            .token("alice-token")
            .features([Feature::Heartbeat])
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(narrow.features(), FeatureSet::from(Feature::Heartbeat));
    let err = within(10, "list", narrow.list_jobs(ListJobsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ClientError::Api(arcp_tokio::client::ApiError::FeatureNotNegotiated(
            Feature::ListJobs
        ))
    );
    let err = within(10, "subscribe", narrow.subscribe(&"job_x".into(), true))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ClientError::Api(arcp_tokio::client::ApiError::FeatureNotNegotiated(
            Feature::Subscribe
        ))
    );
    let err = within(10, "ack", narrow.ack(0)).await.unwrap_err();
    assert_eq!(
        err,
        ClientError::Api(arcp_tokio::client::ApiError::FeatureNotNegotiated(
            Feature::Ack
        ))
    );
}

#[tokio::test]
async fn a_delegated_childs_frames_arrive_on_the_unrouted_stream() {
    let Some(peer) = start_peer("delegation_unrouted").await else {
        return;
    };
    let client = within(
        10,
        "connect",
        Client::builder(&peer.url)
            .token("alice-token")
            .unrouted_events(16)
            .connect(),
    )
    .await
    .unwrap();
    let parent = within(
        10,
        "submit",
        client.submit(
            SubmitRequest::new(
                "delegator",
                json!({"agent": "echo", "input": 5, "lease": {}}),
            )
            .lease("agent.delegate", ["echo"]),
        ),
    )
    .await
    .unwrap();
    let events: Vec<_> = within(10, "parent events", parent.events().collect::<Vec<_>>()).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind(), "delegate");
    let child_id = events[0].body()["child_job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let outcome = within(10, "parent done", parent.done()).await.unwrap();
    match success_value(&outcome) {
        ResultValue::Inline(v) => {
            assert_eq!(v["child_job_id"], json!(child_id));
            assert_eq!(v["child_result"], json!(5));
        }
        other => panic!("{other:?}"),
    }
    let mut unrouted = client.unrouted_events().unwrap();
    let item = within(10, "child terminal", unrouted.next()).await.unwrap();
    assert_eq!(*item.job_id(), child_id);
    match item {
        StreamItem::Terminal(outcome) => {
            assert_eq!(success_value(&outcome), &ResultValue::Inline(json!(5)));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn subscribing_to_a_finished_job_replays_it_to_the_end() {
    let Some(peer) = start_peer("subscribe_finished").await else {
        return;
    };
    let alice = within(10, "connect", Client::connect(&peer.url, "alice-token"))
        .await
        .unwrap();
    let h = within(
        10,
        "submit",
        alice.submit(SubmitRequest::new("chatty", json!({"count": 2}))),
    )
    .await
    .unwrap();
    let job_id = h.job_id().to_owned();
    within(10, "done", h.done()).await.unwrap();
    let observer = within(10, "observer", Client::connect(&peer.url, "auditor-token"))
        .await
        .unwrap();
    // The reference replays all 15 frames, terminal included, before job.subscribed (D9).
    let sub = within(10, "subscribe", observer.subscribe(&job_id, true))
        .await
        .unwrap();
    assert_eq!(sub.replayed(), 15);
    let seqs: Vec<u64> = within(
        10,
        "events",
        sub.handle.events().map(|e| e.event_seq).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(seqs, (1..=14).collect::<Vec<u64>>());
    let outcome = within(10, "done", sub.handle.done()).await.unwrap();
    assert_eq!(
        success_value(&outcome),
        &ResultValue::Inline(json!({"rounds": 2, "events": 14}))
    );
    // The subscription ended with its job: subscribing again replays again.
    let again = within(10, "again", observer.subscribe(&job_id, true))
        .await
        .unwrap();
    assert_eq!(again.replayed(), 15);
}
