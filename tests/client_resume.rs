//! Scenarios with a fake clock: resume after a drop mid-job (D2, D3), gap detection
//! (spec §8.3), heartbeat loss (D25) and idle pings, auto-ack coalescing.

mod client_support;

use arcp_proto::client::{
    AutoAck, ClientEvent, ClientSession, ClientState, CloseReason, JobOutcome, RequestError,
    RequestKind, ResultValue, ResumeState, SubmitRequest,
};
use arcp_proto::time::{Instant, WallClock};
use arcp_proto::wire::SeededEntropy;
use client_support::*;
use serde_json::json;
use std::time::Duration;

fn hello_resume(c: &mut ClientSession) -> serde_json::Value {
    let out = txs(c);
    assert_eq!(out.len(), 1);
    let v = json_of(&out[0]);
    assert_eq!(v["type"], "session.hello");
    assert_eq!(v.get("session_id"), None);
    v["payload"]["resume"].clone()
}

#[test]
fn resume_after_a_drop_mid_job_delivers_each_event_once() {
    let mut c = open(config());
    let r = c
        .submit(ms(10), SubmitRequest::new("chatty", json!({"count": 2})))
        .unwrap();
    txs(&mut c);
    feed(&mut c, ms(11), accepted(JOB, Some(r.as_str())));
    for seq in 1..=3 {
        feed(&mut c, ms(12), log(JOB, seq));
    }
    let second = c
        .submit(ms(13), SubmitRequest::new("echo", json!(1)))
        .unwrap();
    txs(&mut c);
    assert_eq!(seqs(&evs(&mut c)), vec![1, 2, 3]);
    // The transport drops: the session keeps its state, the unanswered submit fails.
    c.handle_disconnected(ms(20));
    assert_eq!(c.state(), ClientState::Disconnected);
    assert_eq!(
        evs(&mut c),
        vec![ClientEvent::RequestFailed {
            request_id: second,
            kind: Some(RequestKind::Submit),
            error: RequestError::ConnectionLost
        }]
    );
    assert!(
        c.submit(ms(21), SubmitRequest::new("echo", json!(1)))
            .is_err()
    );
    // D2: the next connect resumes with hello + payload.resume.
    c.handle_connected(ms(30));
    assert_eq!(
        hello_resume(&mut c),
        json!({"session_id": SID, "resume_token": TOKEN1, "last_event_seq": 3})
    );
    feed(&mut c, ms(31), welcome(SID, TOKEN2, None, &ALL));
    // D3: the rest of the job, its terminal included, after the resume.
    for seq in 4..=5 {
        feed(&mut c, ms(31), log(JOB, seq));
    }
    feed(
        &mut c,
        ms(31),
        result(JOB, 6, json!({"final_status": "success", "result": 7})),
    );
    let ev = evs(&mut c);
    match &ev[0] {
        ClientEvent::Welcome(w) => assert!(w.resumed),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ev[1],
        ClientEvent::ResumeStateChanged(ResumeState {
            session_id: SID.into(),
            resume_token: TOKEN2.into(),
            last_event_seq: 3
        })
    );
    assert_eq!(seqs(&ev), vec![4, 5, 6]);
    assert!(matches!(
        ev.last(),
        Some(ClientEvent::Terminal { outcome: JobOutcome::Success { result: ResultValue::Inline(v), .. }, .. }) if *v == json!(7)
    ));
    assert_eq!(c.resume_token(), Some(TOKEN2));
    assert_eq!(c.last_event_seq(), 6);
    // A later drop resumes with the rotated token.
    c.handle_disconnected(ms(40));
    c.handle_connected(ms(41));
    assert_eq!(
        hello_resume(&mut c),
        json!({"session_id": SID, "resume_token": TOKEN2, "last_event_seq": 6})
    );
}

#[test]
fn resume_from_persisted_state_and_refused_resume() {
    let wall = WallClock::new(Instant::ZERO, 1_795_483_833_000_000);
    let state = ResumeState {
        session_id: SID.into(),
        resume_token: TOKEN1.into(),
        last_event_seq: 5,
    };
    let mut c = ClientSession::with_resume(
        config(),
        wall,
        Box::new(SeededEntropy::new(1)),
        state.clone(),
    );
    assert_eq!(c.resume_state(), Some(state));
    c.handle_connected(ms(0));
    assert_eq!(
        hello_resume(&mut c),
        json!({"session_id": SID, "resume_token": TOKEN1, "last_event_seq": 5})
    );
    feed(&mut c, ms(1), session_error("PERMISSION_DENIED", None));
    let ev = evs(&mut c);
    assert!(matches!(
        &ev[0],
        ClientEvent::HandshakeFailed { resuming: true, .. }
    ));
    assert_eq!(c.state(), ClientState::Closed);
}

#[test]
fn a_welcome_for_another_session_starts_numbering_again() {
    let mut c = open(config());
    feed(&mut c, ms(2), log(JOB, 1));
    c.handle_disconnected(ms(3));
    c.handle_connected(ms(4));
    txs(&mut c);
    feed(&mut c, ms(5), welcome("sess_new", TOKEN2, None, &ALL));
    let ev = evs(&mut c);
    assert!(matches!(&ev[1], ClientEvent::Welcome(w) if !w.resumed && w.session_id == "sess_new"));
    assert_eq!(c.last_event_seq(), 0);
    assert_eq!(c.session_id().map(|s| s.as_str()), Some("sess_new"));
}

#[test]
fn a_gap_breaks_the_session_once_then_is_surfaced() {
    let mut c = open(config());
    feed(&mut c, ms(2), log(JOB, 1));
    feed(&mut c, ms(2), log(JOB, 3));
    feed(&mut c, ms(2), log(JOB, 4)); // no transport any more: ignored
    let ev = evs(&mut c);
    assert_eq!(seqs(&ev), vec![1]);
    assert_eq!(
        &ev[1..],
        [
            ClientEvent::SequenceBroken {
                expected: 2,
                got: 3
            },
            ClientEvent::CloseTransport(CloseReason::SequenceBroken)
        ]
    );
    assert_eq!(c.state(), ClientState::Disconnected);
    c.handle_disconnected(ms(3));
    c.handle_connected(ms(4));
    assert_eq!(hello_resume(&mut c)["last_event_seq"], 1);
    feed(&mut c, ms(5), welcome(SID, TOKEN2, None, &ALL));
    evs(&mut c);
    // The runtime still skips 2: surfaced, delivered, and the session continues.
    feed(&mut c, ms(6), log(JOB, 3));
    feed(&mut c, ms(6), log(JOB, 3));
    feed(&mut c, ms(6), log(JOB, 4));
    let ev = evs(&mut c);
    assert_eq!(
        ev[0],
        ClientEvent::SequenceGap {
            expected: 2,
            got: 3
        }
    );
    assert_eq!(ev[2], ClientEvent::DuplicateDropped { event_seq: 3 });
    assert_eq!(seqs(&ev), vec![3, 4]);
    assert_eq!(c.state(), ClientState::Open);
    assert_eq!(c.last_event_seq(), 4);
}

#[test]
fn a_duplicate_also_breaks_the_session() {
    let mut c = open(config());
    feed(&mut c, ms(2), log(JOB, 1));
    feed(&mut c, ms(2), log(JOB, 1));
    let ev = evs(&mut c);
    assert_eq!(
        ev[1],
        ClientEvent::SequenceBroken {
            expected: 2,
            got: 1
        }
    );
    assert_eq!(c.last_event_seq(), 1);
}

#[test]
fn heartbeat_pings_when_idle_and_declares_loss_after_two_silent_intervals_d25() {
    let mut cfg = config();
    cfg.auto_ping = true;
    let mut c = client(cfg);
    c.handle_connected(ms(0));
    txs(&mut c);
    feed(&mut c, ms(100), welcome(SID, TOKEN1, Some(2), &ALL));
    evs(&mut c);
    // Nothing sent since the hello at 0: ping at 2000; loss at 100 + 4000.
    assert_eq!(c.poll_timeout(), Some(ms(2000)));
    c.handle_timeout(ms(1999));
    assert!(txs(&mut c).is_empty());
    c.handle_timeout(ms(2000));
    let ping = json_of(&txs(&mut c)[0]);
    assert_eq!(ping["type"], "session.ping");
    // A chatty link carries no extra pings: every frame sent moves the deadline.
    assert_eq!(c.poll_timeout(), Some(ms(4000)));
    let pending = c
        .submit(ms(3000), SubmitRequest::new("echo", json!(1)))
        .unwrap();
    txs(&mut c);
    assert_eq!(c.poll_timeout(), Some(ms(4100)));
    c.handle_timeout(ms(4100));
    assert!(txs(&mut c).is_empty());
    assert_eq!(
        evs(&mut c),
        vec![
            ClientEvent::HeartbeatLost,
            ClientEvent::RequestFailed {
                request_id: pending,
                kind: Some(RequestKind::Submit),
                error: RequestError::ConnectionLost
            },
            ClientEvent::CloseTransport(CloseReason::HeartbeatLost),
        ]
    );
    assert_eq!(c.state(), ClientState::Disconnected);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn inbound_traffic_keeps_the_session_alive() {
    let mut c = client(config());
    c.handle_connected(ms(0));
    txs(&mut c);
    feed(&mut c, ms(0), welcome(SID, TOKEN1, Some(2), &ALL));
    evs(&mut c);
    // auto_ping is off (the reference never pings): only the loss deadline.
    assert_eq!(c.poll_timeout(), Some(ms(4000)));
    feed(&mut c, ms(3000), log(JOB, 1));
    assert_eq!(c.poll_timeout(), Some(ms(7000)));
    c.handle_timeout(ms(6999));
    assert_eq!(c.state(), ClientState::Open);
    c.handle_timeout(ms(7000));
    assert_eq!(c.state(), ClientState::Disconnected);
}

#[test]
fn auto_ack_is_coalesced() {
    let mut cfg = config();
    cfg.auto_ack = Some(AutoAck {
        every_n: 3,
        interval: Duration::from_millis(100),
    });
    let mut c = open(cfg);
    assert_eq!(c.poll_timeout(), None);
    feed(&mut c, ms(10), log(JOB, 1));
    feed(&mut c, ms(10), log(JOB, 2));
    evs(&mut c);
    assert_eq!(c.poll_timeout(), None, "fewer than every_n events");
    for seq in 3..=7 {
        feed(&mut c, ms(10), log(JOB, seq));
    }
    // Delivered but not yet polled: nothing is acked.
    assert_eq!(c.poll_timeout(), None);
    evs(&mut c);
    assert_eq!(c.poll_timeout(), Some(Instant::ZERO), "due now");
    c.handle_timeout(ms(10));
    let acks: Vec<_> = txs(&mut c).iter().map(json_of).collect();
    assert_eq!(acks.len(), 1, "seven events, one ack");
    assert_eq!(acks[0]["payload"], json!({"last_processed_seq": 7}));
    for seq in 8..=10 {
        feed(&mut c, ms(20), log(JOB, seq));
    }
    evs(&mut c);
    // At most one ack per interval.
    assert_eq!(c.poll_timeout(), Some(ms(110)));
    c.handle_timeout(ms(50));
    assert!(txs(&mut c).is_empty());
    c.handle_timeout(ms(110));
    assert_eq!(
        json_of(&txs(&mut c)[0])["payload"],
        json!({"last_processed_seq": 10})
    );
    // A manual ack also counts.
    feed(&mut c, ms(120), log(JOB, 11));
    evs(&mut c);
    c.ack(ms(300), 11).unwrap();
    assert_eq!(
        json_of(&txs(&mut c)[0])["payload"],
        json!({"last_processed_seq": 11})
    );
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn auto_ack_needs_the_ack_feature_d26() {
    let mut cfg = config();
    cfg.auto_ack = Some(AutoAck {
        every_n: 1,
        interval: Duration::ZERO,
    });
    let mut c = client(cfg);
    c.handle_connected(ms(0));
    txs(&mut c);
    feed(&mut c, ms(1), welcome(SID, TOKEN1, None, &["progress"]));
    feed(&mut c, ms(2), log(JOB, 1));
    evs(&mut c);
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(ms(1000));
    assert!(txs(&mut c).is_empty());
}
