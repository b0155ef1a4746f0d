//! Every bound of `ClientConfig` and its defined outcome.

mod client_support;

use arcp_proto::client::{
    ApiError, ClientConfig, ClientEvent, ClientState, CloseReason, ListJobsRequest, SubmitRequest,
};
use arcp_proto::wire::ErrorCode;
use client_support::*;
use serde_json::json;

#[test]
fn defaults() {
    let c = config();
    assert_eq!(c.max_frame_bytes, 1 << 20);
    assert_eq!(c.max_chunk_bytes, 512 * 1024);
    assert_eq!(c.max_result_bytes, 64 * 1024 * 1024);
    assert_eq!(
        (
            c.max_pending_requests,
            c.max_pending_events,
            c.max_pending_transmits
        ),
        (1024, 8192, 1024)
    );
    assert_eq!(
        (
            c.max_subscriptions,
            c.max_outstanding_pings,
            c.max_open_results
        ),
        (256, 16, 64)
    );
    assert!(!c.auto_ping);
    assert_eq!(c.auto_ack, None);
}

#[test]
fn oversize_frame_is_refused_and_the_session_stays_resumable_d35() {
    let mut cfg: ClientConfig = config();
    cfg.max_frame_bytes = 600;
    let mut c = open(cfg);
    let frame = log(JOB, 1).to_string();
    assert!(frame.len() < 600);
    c.handle_frame(ms(2), frame.as_bytes());
    let big = event(
        JOB,
        2,
        "log",
        json!({"level": "info", "message": "x".repeat(600)}),
    );
    feed(&mut c, ms(3), big);
    let ev = evs(&mut c);
    assert_eq!(ev.len(), 3);
    assert!(matches!(&ev[1], ClientEvent::ProtocolError(e) if e.code == ErrorCode::InvalidRequest));
    assert_eq!(
        ev[2],
        ClientEvent::CloseTransport(CloseReason::FrameTooLarge)
    );
    assert_eq!(c.state(), ClientState::Disconnected);
    c.handle_connected(ms(4));
    let hello = json_of(&txs(&mut c)[0]);
    assert_eq!(hello["payload"]["resume"]["last_event_seq"], 1);
}

#[test]
fn pending_requests_are_bounded() {
    let mut cfg = config();
    cfg.max_pending_requests = 2;
    let mut c = open(cfg);
    c.submit(ms(1), SubmitRequest::new("echo", json!(1)))
        .unwrap();
    c.list_jobs(ms(1), ListJobsRequest::default()).unwrap();
    assert_eq!(
        c.submit(ms(1), SubmitRequest::new("echo", json!(2))),
        Err(ApiError::TooManyPending(2))
    );
    assert_eq!(
        c.subscribe(ms(1), &arcp_proto::wire::JobId::from(JOB), false, None),
        Err(ApiError::TooManyPending(2))
    );
    // Commands without an answer are not pending requests.
    c.cancel(ms(1), &arcp_proto::wire::JobId::from(JOB), None)
        .unwrap();
    assert_eq!(txs(&mut c).len(), 3);
    feed(&mut c, ms(2), accepted(JOB, None));
    assert_eq!(c.pending_requests(), 1);
    c.submit(ms(3), SubmitRequest::new("echo", json!(3)))
        .unwrap();
}

#[test]
fn unpolled_events_are_bounded_and_nothing_is_lost() {
    let mut cfg = config();
    cfg.max_pending_events = 3;
    let mut c = open(cfg);
    for seq in 1..=4 {
        feed(&mut c, ms(2), log(JOB, seq));
    }
    // The fourth frame is refused: overflow, close, and seq stays at 3.
    assert_eq!(c.last_event_seq(), 3);
    assert_eq!(c.state(), ClientState::Disconnected);
    let ev = evs(&mut c);
    assert_eq!(seqs(&ev), vec![1, 2, 3]);
    assert_eq!(
        &ev[3..],
        [
            ClientEvent::EventQueueOverflow { limit: 3 },
            ClientEvent::CloseTransport(CloseReason::EventQueueOverflow)
        ]
    );
    c.handle_disconnected(ms(3));
    c.handle_connected(ms(4));
    let hello = json_of(&txs(&mut c)[0]);
    assert_eq!(hello["payload"]["resume"]["last_event_seq"], 3);
    feed(&mut c, ms(5), welcome(SID, TOKEN2, None, &ALL));
    evs(&mut c);
    feed(&mut c, ms(5), log(JOB, 4));
    assert_eq!(seqs(&evs(&mut c)), vec![4]);
}

#[test]
fn transmit_queue_is_bounded() {
    let mut cfg = config();
    cfg.max_pending_transmits = 2;
    let mut c = open(cfg);
    c.submit(ms(1), SubmitRequest::new("echo", json!(1)))
        .unwrap();
    c.cancel(ms(1), &arcp_proto::wire::JobId::from(JOB), None)
        .unwrap();
    assert_eq!(
        c.submit(ms(1), SubmitRequest::new("echo", json!(2))),
        Err(ApiError::TransmitQueueFull(2))
    );
    assert_eq!(
        c.pending_requests(),
        1,
        "a refused command leaves no pending request"
    );
    // An automatic pong is dropped when the queue is full.
    feed(
        &mut c,
        ms(2),
        json!({"arcp": "1.1", "id": "P", "type": "session.ping", "session_id": SID,
        "payload": {"nonce": "n", "sent_at": "2026-11-24T01:30:36.909290+00:00"}}),
    );
    assert_eq!(txs(&mut c).len(), 2);
    // The bye always goes out.
    c.submit(ms(3), SubmitRequest::new("echo", json!(3)))
        .unwrap();
    c.cancel(ms(3), &arcp_proto::wire::JobId::from(JOB), None)
        .unwrap();
    c.close(ms(3), "client.close").unwrap();
    assert_eq!(json_of(txs(&mut c).last().unwrap())["type"], "session.bye");
}

#[test]
fn subscriptions_are_bounded() {
    let mut cfg = config();
    cfg.max_subscriptions = 1;
    let mut c = open(cfg);
    c.subscribe(ms(1), &arcp_proto::wire::JobId::from("job_a"), false, None)
        .unwrap();
    assert_eq!(
        c.subscribe(ms(1), &arcp_proto::wire::JobId::from("job_b"), false, None),
        Err(ApiError::TooManySubscriptions(1))
    );
    // A terminal of the subscribed job ends the subscription.
    feed(
        &mut c,
        ms(2),
        result("job_a", 1, json!({"final_status": "success"})),
    );
    c.subscribe(ms(3), &arcp_proto::wire::JobId::from("job_b"), false, None)
        .unwrap();
}

#[test]
fn outstanding_pings_are_bounded() {
    let mut cfg = config();
    cfg.max_outstanding_pings = 2;
    let mut c = open(cfg);
    let first = c.ping(ms(1)).unwrap();
    c.ping(ms(1)).unwrap();
    assert_eq!(c.ping(ms(1)), Err(ApiError::TooManyPending(2)));
    feed(
        &mut c,
        ms(5),
        json!({"arcp": "1.1", "id": "Q", "type": "session.pong", "session_id": SID,
        "payload": {"ping_nonce": first, "received_at": "2026-11-24T01:30:36Z"}}),
    );
    c.ping(ms(6)).unwrap();
    // An automatic ping forgets the oldest one instead.
    let mut cfg = config();
    cfg.max_outstanding_pings = 1;
    cfg.auto_ping = true;
    let mut c = client(cfg);
    c.handle_connected(ms(0));
    feed(&mut c, ms(0), welcome(SID, TOKEN1, Some(1), &ALL));
    c.ping(ms(0)).unwrap();
    txs(&mut c);
    c.handle_timeout(ms(1000));
    assert_eq!(json_of(&txs(&mut c)[0])["type"], "session.ping");
}

#[test]
fn ended_jobs_are_bounded_and_a_second_terminal_is_dropped() {
    let mut cfg = config();
    cfg.max_ended_jobs = 2;
    let mut c = open(cfg);
    let done = json!({"final_status": "success"});
    feed(&mut c, ms(1), result("job_a", 1, done.clone()));
    feed(&mut c, ms(1), result("job_a", 2, done.clone()));
    feed(&mut c, ms(1), log("job_a", 3));
    let ev = evs(&mut c);
    assert_eq!(seqs(&ev), vec![1]);
    assert!(matches!(
        &ev[1..],
        [ClientEvent::ProtocolError(_), ClientEvent::ProtocolError(_)]
    ));
    // Two more jobs end: job_a is forgotten (oldest first), so its terminal counts again.
    feed(&mut c, ms(2), result("job_b", 4, done.clone()));
    feed(&mut c, ms(2), result("job_c", 5, done.clone()));
    feed(&mut c, ms(2), result("job_a", 6, done.clone()));
    feed(&mut c, ms(2), result("job_c", 7, done));
    let ev = evs(&mut c);
    assert_eq!(seqs(&ev), vec![4, 5, 6]);
    assert!(matches!(ev.last(), Some(ClientEvent::ProtocolError(_))));
    assert_eq!(c.last_event_seq(), 7);
}
