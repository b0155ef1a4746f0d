//! Every bound of `Bounds` has a defined outcome (DESIGN.md "Bounds").

mod runtime_support;

use arcp_proto::runtime::{AgentEvent, CloseReason, Effect, EffectOutcome};
use arcp_proto::wire::{EventBody, LogBody};
use runtime_support::*;
use serde_json::json;
use std::time::Duration;

fn log() -> AgentEvent {
    AgentEvent::Event(EventBody::Log(LogBody {
        level: "info".into(),
        message: "x".into(),
        attributes: None,
        extra: Default::default(),
    }))
}

fn ping(n: u32) -> Vec<u8> {
    json!({"arcp":"1.1","id":eid(n),"type":"session.ping",
        "payload":{"nonce":format!("n{n}"),"sent_at":"2026-11-24T01:30:25Z"}})
    .to_string()
    .into_bytes()
}

#[test]
fn transmit_queue_overflow_closes_as_slow_consumer_and_the_session_resumes() {
    let mut cfg = contract_config();
    cfg.bounds.max_transmit_queue = 3;
    let mut h = Host::new(cfg);
    let (c, sid, token) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"chatty"}));
    // Without draining: events are the ring's to bound (four of them do not overflow the
    // queue), but they count: the pong after them does.
    for _ in 0..4 {
        h.rt.handle_agent_event(h.now, &job, log()).unwrap();
    }
    assert_eq!(h.rt.pending_transmits_for(c), 4);
    h.rt.handle_frame(h.now, c, &ping(2));
    h.rt.handle_frame(h.now, c, &ping(3));
    h.drain();
    assert!(h.take(c).is_empty(), "queued frames are dropped");
    assert_eq!(
        h.all_effects.last(),
        Some(&Effect::CloseConnection {
            conn: c,
            reason: CloseReason::SlowConsumer
        })
    );
    assert_eq!(CloseReason::SlowConsumer.websocket_code(), 1008);
    h.close(c);
    let c2 = h.open(2);
    let mut hello = hello("alice-token", &ALL);
    hello["payload"]["resume"] = json!({"session_id":sid,"resume_token":token,"last_event_seq":0});
    h.send(c2, hello);
    // The replay is bounded by the ring, not the transmit cap: every frame comes back.
    let out = h.take(c2);
    assert_eq!(types(&out)[0], "session.welcome");
    assert_eq!(seqs(&out), vec![1, 2, 3, 4]);
}

#[test]
fn pending_effects_cap_refuses_hello_and_submit() {
    let mut cfg = contract_config();
    cfg.bounds.max_pending_effects = 1;
    let mut h = Host::new(cfg);
    h.auto = false;
    let c1 = h.open(1);
    h.send(c1, hello("alice-token", &[]));
    let c2 = h.open(2);
    h.send(c2, hello("alice-token", &[]));
    let out = h.take_json(c2);
    assert_eq!(out[0]["payload"]["code"], "INTERNAL_ERROR");
    assert_eq!(out[0]["payload"]["retryable"], true);
    assert!(h.all_effects.contains(&Effect::CloseConnection {
        conn: c2,
        reason: CloseReason::HandshakeFailed
    }));
    let (id, _) = h.effects.remove(0);
    h.rt.handle_effect_result(
        h.now,
        id,
        EffectOutcome::Authenticated {
            principal: "alice".into(),
        },
    );
    h.drain();
    let _ = h.take(c1);
    // One StartAgent outstanding fills the cap; the next submit is refused.
    h.send(
        c1,
        json!({"id":eid(1),"type":"job.submit","payload":{"agent":"echo"}}),
    );
    assert_eq!(h.take_json(c1)[0]["type"], "job.accepted");
    h.send(
        c1,
        json!({"id":eid(2),"type":"job.submit","payload":{"agent":"echo"}}),
    );
    let out = h.take_json(c1);
    assert_eq!(out[0]["payload"]["code"], "INTERNAL_ERROR");
    assert_eq!(out[0]["payload"]["request_id"], eid(2).as_str());
}

#[test]
fn jobs_per_session_cap() {
    let mut cfg = contract_config();
    cfg.bounds.max_jobs_per_session = 2;
    let mut h = Host::new(cfg);
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    let a = h.submit(c, &eid(1), json!({"agent":"slow"}));
    h.submit(c, &eid(2), json!({"agent":"slow"}));
    h.send(
        c,
        json!({"id":eid(3),"type":"job.submit","payload":{"agent":"slow"}}),
    );
    let out = h.take_json(c);
    assert_eq!(out[0]["payload"]["code"], "INTERNAL_ERROR");
    assert_eq!(
        out[0]["payload"]["message"],
        "too many unfinished jobs on this session"
    );
    h.rt.handle_agent_event(
        h.now,
        &a,
        AgentEvent::Result {
            result: None,
            summary: None,
        },
    )
    .unwrap();
    h.drain();
    let _ = h.take(c);
    h.submit(c, &eid(4), json!({"agent":"slow"}));
}

#[test]
fn retained_jobs_cap_forgets_the_oldest_finished_job() {
    let mut cfg = contract_config();
    cfg.bounds.max_retained_jobs = 2;
    let mut h = Host::new(cfg);
    let (c, _, _) = h.hello(1, "alice-token", &["list_jobs"]);
    let a = h.submit(c, &eid(1), json!({"agent":"slow"}));
    let b = h.submit(c, &eid(2), json!({"agent":"slow"}));
    h.send(
        c,
        json!({"id":eid(3),"type":"job.submit","payload":{"agent":"slow"}}),
    );
    assert_eq!(
        h.take_json(c)[0]["payload"]["message"],
        "too many jobs in the runtime"
    );
    h.rt.handle_agent_event(
        h.now,
        &a,
        AgentEvent::Result {
            result: None,
            summary: None,
        },
    )
    .unwrap();
    h.drain();
    let _ = h.take(c);
    let d = h.submit(c, &eid(4), json!({"agent":"slow"}));
    h.send(
        c,
        json!({"id":eid(5),"type":"session.list_jobs","payload":{}}),
    );
    let out = h.take_json(c);
    let ids: Vec<&str> = out[0]["payload"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![b.as_str(), d.as_str()]);
}

#[test]
fn sessions_cap_reuses_expired_records_first() {
    let mut cfg = contract_config();
    cfg.bounds.max_sessions = 1;
    let mut h = Host::new(cfg);
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    let c2 = h.open(2);
    h.send(c2, hello("alice-token", &[]));
    let out = h.take_json(c2);
    assert_eq!(out[0]["payload"]["code"], "INTERNAL_ERROR");
    assert_eq!(out[0]["payload"]["message"], "too many sessions");
    h.close(c);
    h.advance(Duration::from_secs(600));
    h.hello(3, "alice-token", &[]);
}

#[test]
fn idempotency_entries_cap_forgets_the_oldest_key() {
    let mut cfg = contract_config();
    cfg.bounds.max_idempotency_entries = 1;
    let mut h = Host::new(cfg);
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    let a = h.submit(c, &eid(1), json!({"agent":"echo","idempotency_key":"k1"}));
    h.submit(c, &eid(2), json!({"agent":"echo","idempotency_key":"k2"}));
    let again = h.submit(c, &eid(3), json!({"agent":"echo","idempotency_key":"k1"}));
    assert_ne!(a, again, "k1 was forgotten: a new job");
    assert_eq!(h.started_jobs().len(), 3);
}

#[test]
fn idempotency_ttl_expires_keys() {
    let mut cfg = contract_config();
    cfg.bounds.idempotency_ttl = Duration::from_secs(5);
    let mut h = Host::new(cfg);
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    let a = h.submit(c, &eid(1), json!({"agent":"echo","idempotency_key":"k1"}));
    let same = h.submit(c, &eid(2), json!({"agent":"echo","idempotency_key":"k1"}));
    assert_eq!(a, same);
    h.advance(Duration::from_secs(5));
    let fresh = h.submit(c, &eid(3), json!({"agent":"echo","idempotency_key":"k1"}));
    assert_ne!(a, fresh);
}

#[test]
fn pending_events_cap_drops_the_oldest() {
    let mut cfg = contract_config();
    cfg.bounds.max_pending_events = 2;
    let mut h = Host::new(cfg);
    for i in 0..3u64 {
        let c = arcp_proto::runtime::ConnId(i + 1);
        h.rt.handle_connection_opened(h.now, c, arcp_proto::runtime::TransportKind::WebSocket);
        h.rt.handle_frame(h.now, c, b"{bad");
    }
    let mut evs = Vec::new();
    while let Some(e) = h.rt.poll_event() {
        evs.push(e);
    }
    assert_eq!(evs.len(), 2);
    assert!(matches!(
        &evs[0],
        arcp_proto::runtime::RuntimeEvent::ProtocolViolation { conn, .. } if conn.0 == 2
    ));
}

#[test]
fn runtime_is_send_so_an_async_host_can_own_it_on_a_task() {
    fn assert_send<T: Send>() {}
    assert_send::<arcp_proto::runtime::Runtime>();
}

/// A submit whose `input` nests `levels` arrays.
fn nested_submit(id: &str, levels: usize) -> serde_json::Value {
    let input: serde_json::Value =
        serde_json::from_str(&format!("{}1{}", "[".repeat(levels), "]".repeat(levels))).unwrap();
    json!({"arcp":"1.1","id":id,"type":"job.submit","payload":{"agent":"echo","input":input}})
}

#[test]
fn json_nesting_limit_accepts_the_exact_depth_and_refuses_one_more() {
    let mut cfg = contract_config();
    // Envelope (1) + payload (2) + 8 levels of input = 10.
    cfg.bounds.max_json_depth = 10;
    let mut h = Host::new(cfg);
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    h.send(c, nested_submit(&eid(1), 8));
    assert_eq!(h.take_json(c)[0]["type"], "job.accepted");
    h.send(c, nested_submit(&eid(2), 9));
    let out = h.take_json(c);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["type"], "session.error");
    assert_eq!(
        out[0]["payload"],
        json!({
            "code": "INVALID_REQUEST",
            "message": "frame nesting depth exceeds limit of 10",
            "retryable": false,
            "request_id": eid(2)
        })
    );
    // D19: the session continues.
    h.send(c, nested_submit(&eid(3), 8));
    assert_eq!(h.take_json(c)[0]["type"], "job.accepted");
}

#[test]
fn json_nesting_default_is_128_levels_so_input_may_nest_126() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    h.send(c, nested_submit(&eid(1), 126));
    assert_eq!(h.take_json(c)[0]["type"], "job.accepted");
    h.send_raw(
        c,
        format!(
            r#"{{"arcp":"1.1","id":"{}","type":"job.submit","payload":{{"agent":"echo","input":{}1{}}}}}"#,
            eid(2),
            "[".repeat(127),
            "]".repeat(127)
        )
        .as_bytes(),
    );
    let out = h.take_json(c);
    assert_eq!(
        (
            &out[0]["payload"]["code"],
            &out[0]["payload"]["message"],
            &out[0]["payload"]["request_id"]
        ),
        (
            &json!("INVALID_REQUEST"),
            &json!("frame nesting depth exceeds limit of 128"),
            &json!(eid(2))
        )
    );
}

/// Ends `job` with `result`.
fn finish(h: &mut Host, job: &arcp_proto::wire::JobId, result: serde_json::Value) {
    h.rt.handle_agent_event(
        h.now,
        job,
        AgentEvent::Result {
            result: Some(result),
            summary: None,
        },
    )
    .unwrap();
    h.drain();
}

#[test]
fn kept_terminal_bytes_are_counted_and_bounded_d27() {
    // Measure one keyed job's kept messages; unkeyed jobs keep none.
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &["ack"]);
    let plain = h.submit(c, &eid(1), json!({"agent":"slow"}));
    finish(&mut h, &plain, json!("x".repeat(1000)));
    h.send(
        c,
        json!({"id":eid(2),"type":"session.ack","payload":{"last_processed_seq":99}}),
    );
    h.drain();
    let _ = h.take(c);
    // Only the finished record is retained (`max_finished_job_bytes`), not its result.
    let record = h.rt.metrics().retained_bytes;
    assert!(record > 0, "the finished record counts: {record}");
    let keyed = h.submit(c, &eid(3), json!({"agent":"slow","idempotency_key":"k1"}));
    finish(&mut h, &keyed, json!("x".repeat(1000)));
    h.send(
        c,
        json!({"id":eid(4),"type":"session.ack","payload":{"last_processed_seq":99}}),
    );
    h.drain();
    let _ = h.take(c);
    // A keyed job's record (as large as the plain one's) and its kept messages.
    let one = h.rt.metrics().retained_bytes - record;
    let kept = one - record;
    assert!(kept > 1000, "the kept result counts: {kept}");

    // Room for one such job: the second keyed job's end forgets the first.
    let mut cfg = contract_config();
    cfg.bounds.max_kept_terminal_bytes = usize::try_from(kept + kept / 2).unwrap();
    let mut h = Host::new(cfg);
    let (c, _, _) = h.hello(1, "alice-token", &["ack"]);
    let mut jobs = Vec::new();
    for (n, key) in [(1u32, "k1"), (2, "k2")] {
        let job = h.submit(c, &eid(n), json!({"agent":"slow","idempotency_key":key}));
        finish(&mut h, &job, json!("x".repeat(1000)));
        let _ = h.take(c);
        jobs.push(job);
    }
    h.send(
        c,
        json!({"id":eid(5),"type":"session.ack","payload":{"last_processed_seq":99}}),
    );
    h.drain();
    let _ = h.take(c);
    assert_eq!(h.rt.metrics().retained_bytes, one);
    // k2 still answers with its job; k1's job was forgotten, so k1 starts a new one.
    let again2 = h.submit(c, &eid(6), json!({"agent":"slow","idempotency_key":"k2"}));
    assert_eq!(again2, jobs[1]);
    let again1 = h.submit(c, &eid(7), json!({"agent":"slow","idempotency_key":"k1"}));
    assert_ne!(again1, jobs[0]);
}
