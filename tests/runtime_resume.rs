//! Event ring, ack and resume (§6.3, §6.5, D2, D3, D4, D5), heartbeats (D25).

mod runtime_support;

use arcp_proto::runtime::{AgentEvent, CloseReason, ConnId, Effect, RuntimeEvent};
use arcp_proto::wire::{EventBody, LogBody, Message};
use runtime_support::*;
use serde_json::{Value, json};
use std::time::Duration;

fn log(msg: &str) -> AgentEvent {
    AgentEvent::Event(EventBody::Log(LogBody {
        level: "info".into(),
        message: msg.into(),
        attributes: None,
        extra: Default::default(),
    }))
}

fn resume_hello(sid: &str, token: &str, last: u64) -> Value {
    let mut h = hello("alice-token", &ALL);
    h["payload"]["resume"] = json!({"session_id":sid,"resume_token":token,"last_event_seq":last});
    h
}

fn emit(h: &mut Host, job: &str, n: usize) {
    for i in 0..n {
        h.rt.handle_agent_event(
            h.now,
            &arcp_proto::wire::JobId::from(job),
            log(&format!("e{i}")),
        )
        .unwrap();
    }
    h.drain();
}

#[test]
fn resume_replays_after_last_seq_byte_identical_and_rotates_the_token() {
    let mut h = Host::contract();
    let (c, sid, token) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"chatty"}));
    emit(&mut h, &job, 10);
    let sent = h.take(c);
    assert_eq!(seqs(&sent), (1..=10).collect::<Vec<_>>());
    h.close(c);
    // D3: events while detached are buffered.
    emit(&mut h, &job, 5);
    h.rt.handle_agent_event(
        h.now,
        &job,
        AgentEvent::Result {
            result: None,
            summary: None,
        },
    )
    .unwrap();
    h.drain();
    let c2 = h.open(2);
    h.send(c2, resume_hello(&sid, &token, 5));
    let out = h.take(c2);
    let Message::Welcome(w) = &out[0].message else {
        panic!("{out:?}")
    };
    assert_eq!(w.session_id.as_deref(), Some(sid.as_str()));
    assert_ne!(w.resume_token, token);
    assert_eq!(seqs(&out[1..]), (6..=16).collect::<Vec<_>>());
    assert_eq!(out[1].id, sent[5].id, "replayed with the original envelope");
    assert_eq!(out[1].encode(), sent[5].encode());
    assert_eq!(out[16 - 5].message_type().as_str(), "job.result");
    // Numbering continues.
    let job2 = h.submit(c2, &eid(2), json!({"agent":"echo"}));
    emit(&mut h, &job2, 1);
    assert_eq!(seqs(&h.take(c2)), vec![17]);
    assert!(h.events.contains(&RuntimeEvent::SessionOpened {
        conn: c2,
        session_id: sid.clone(),
        principal: "alice".into(),
        resumed: true
    }));
    // The old token is refused now, and the record survives (D4).
    h.close(c2);
    let c3 = h.open(3);
    h.send(c3, resume_hello(&sid, &token, 0));
    let out = h.take_json(c3);
    assert_eq!(out[0]["payload"]["code"], "PERMISSION_DENIED");
    let c4 = h.open(4);
    h.send(c4, resume_hello(&sid, &w.resume_token, 17));
    assert_eq!(h.take_json(c4)[0]["type"], "session.welcome");
}

#[test]
fn resume_refusals_d2() {
    let mut h = Host::contract();
    let (c, sid, token) = h.hello(1, "alice-token", &ALL);
    // Attached: not resumable.
    let c2 = h.open(2);
    h.send(c2, resume_hello(&sid, &token, 0));
    assert_eq!(h.take_json(c2)[0]["payload"]["code"], "PERMISSION_DENIED");
    h.close(c);
    // Unknown session.
    let c3 = h.open(3);
    h.send(c3, resume_hello("sess_nope", &token, 0));
    assert_eq!(h.take_json(c3)[0]["payload"]["code"], "PERMISSION_DENIED");
    // Another principal.
    let c4 = h.open(4);
    let mut bob = resume_hello(&sid, &token, 0);
    bob["payload"]["auth"]["token"] = json!("bob-token");
    h.send(c4, bob);
    assert_eq!(h.take_json(c4)[0]["payload"]["code"], "PERMISSION_DENIED");
    // The window elapses: RESUME_WINDOW_EXPIRED.
    h.advance(Duration::from_secs(600));
    assert!(h.events.contains(&RuntimeEvent::SessionExpired {
        session_id: sid.clone()
    }));
    let c5 = h.open(5);
    h.send(c5, resume_hello(&sid, &token, 0));
    assert_eq!(
        h.take_json(c5)[0]["payload"]["code"],
        "RESUME_WINDOW_EXPIRED"
    );
}

#[test]
fn ack_frees_only_acked_events_and_a_resume_below_is_refused_d5() {
    let mut h = Host::contract();
    let (c, sid, token) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"chatty"}));
    emit(&mut h, &job, 15);
    let _ = h.take(c);
    h.send(
        c,
        json!({"id":eid(2),"type":"session.ack","payload":{"last_processed_seq":10}}),
    );
    assert!(h.take(c).is_empty(), "ack is silent");
    h.close(c);
    let c2 = h.open(2);
    h.send(c2, resume_hello(&sid, &token, 9));
    let out = h.take_json(c2);
    assert_eq!(out[0]["payload"]["code"], "RESUME_WINDOW_EXPIRED");
    let c3 = h.open(3);
    h.send(c3, resume_hello(&sid, &token, 10));
    let out = h.take(c3);
    assert_eq!(seqs(&out[1..]), vec![11, 12, 13, 14, 15]);
}

#[test]
fn ack_beyond_latest_frees_everything_but_later_frames_are_kept() {
    let mut h = Host::contract();
    let (c, sid, token) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"chatty"}));
    emit(&mut h, &job, 3);
    h.send(
        c,
        json!({"id":eid(2),"type":"session.ack","payload":{"last_processed_seq":1000}}),
    );
    emit(&mut h, &job, 2);
    let _ = h.take(c);
    h.close(c);
    let c2 = h.open(2);
    h.send(c2, resume_hello(&sid, &token, 3));
    assert_eq!(seqs(&h.take(c2)[1..]), vec![4, 5]);
}

#[test]
fn ring_count_bound_gives_resume_window_expired() {
    let mut cfg = contract_config();
    cfg.bounds.max_ring_events = 4;
    // No margin: delivered frames past the bound go at once.
    cfg.bounds.ring_margin_events = 0;
    cfg.bounds.ring_margin_bytes = 0;
    let mut h = Host::new(cfg);
    let (c, sid, token) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"chatty"}));
    emit(&mut h, &job, 10);
    h.close(c);
    let c2 = h.open(2);
    h.send(c2, resume_hello(&sid, &token, 5));
    assert_eq!(
        h.take_json(c2)[0]["payload"]["code"],
        "RESUME_WINDOW_EXPIRED"
    );
    let c3 = h.open(3);
    h.send(c3, resume_hello(&sid, &token, 6));
    assert_eq!(seqs(&h.take(c3)[1..]), vec![7, 8, 9, 10]);
}

#[test]
fn ring_byte_bound_gives_resume_window_expired() {
    let mut cfg = contract_config();
    cfg.bounds.max_ring_bytes = 1000;
    cfg.bounds.ring_margin_events = 0;
    cfg.bounds.ring_margin_bytes = 0;
    let mut h = Host::new(cfg);
    let (c, sid, token) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"chatty"}));
    emit(&mut h, &job, 20);
    let sent = h.take(c);
    let each = sent[0].encode().len();
    let kept = 1000 / each;
    h.close(c);
    let c2 = h.open(2);
    h.send(c2, resume_hello(&sid, &token, 0));
    assert_eq!(
        h.take_json(c2)[0]["payload"]["code"],
        "RESUME_WINDOW_EXPIRED"
    );
    let c3 = h.open(3);
    h.send(c3, resume_hello(&sid, &token, (20 - kept) as u64));
    assert_eq!(h.take(c3).len(), 1 + kept);
}

#[test]
fn session_resume_message_is_accepted_d2() {
    let mut h = Host::contract();
    let (c, sid, token) = h.hello(1, "alice-token", &["ack"]);
    h.close(c);
    let c2 = h.open(2);
    h.send(
        c2,
        json!({"id":eid(1),"type":"session.resume","payload":{"session_id":sid,"resume_token":token,"last_event_seq":0}}),
    );
    assert_eq!(h.take_json(c2)[0]["type"], "session.welcome");
}

#[test]
fn heartbeat_pings_every_interval_and_closes_after_two_silent_intervals_d25() {
    let mut h = Host::contract();
    let (c, sid, _) = h.hello(1, "alice-token", &["heartbeat"]);
    let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
    h.advance(Duration::from_secs(2));
    let out = h.take_json(c);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["type"], "session.ping");
    assert!(
        out[0]["payload"]["sent_at"]
            .as_str()
            .unwrap()
            .ends_with("+00:00")
    );
    // Answered a second later: the next tick sees traffic within the interval.
    let nonce = out[0]["payload"]["nonce"].clone();
    h.advance(Duration::from_secs(1));
    h.send(
        c,
        json!({"id":eid(2),"type":"session.pong","payload":{"ping_nonce":nonce,"received_at":"2026-11-24T01:30:28Z"}}),
    );
    h.advance(Duration::from_secs(1));
    // WIRE.md §8: a ping every interval regardless of traffic; the pong kept it alive.
    assert_eq!(h.take_json(c)[0]["type"], "session.ping");
    h.advance(Duration::from_secs(2));
    assert_eq!(h.take_json(c)[0]["type"], "session.ping");
    assert!(
        h.events
            .iter()
            .all(|e| !matches!(e, RuntimeEvent::HeartbeatLost { .. }))
    );
    h.advance(Duration::from_secs(2));
    assert!(h.events.contains(&RuntimeEvent::HeartbeatLost { conn: c }));
    assert_eq!(
        h.all_effects.last(),
        Some(&Effect::CloseConnection {
            conn: c,
            reason: CloseReason::HeartbeatLost
        })
    );
    // The job keeps running and its frames are kept for the resume.
    emit(&mut h, &job, 1);
    assert!(h.take(c).is_empty());
    let _ = sid;
    let _ = ConnId(0);
}
