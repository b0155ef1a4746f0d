//! Abuse limits (spec §14) and the runtime's counters: sessions and jobs per principal,
//! zero-throughput connections, the subscribe audit, and `Runtime::metrics()`.

mod runtime_support;

use arcp_proto::runtime::{
    AgentEvent, CloseReason, Effect, EffectOutcome, LimitKind, RuntimeEvent, RuntimeMetrics,
    SubscribeDecision,
};
use runtime_support::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

fn closes(h: &Host) -> Vec<(u64, CloseReason)> {
    h.all_effects
        .iter()
        .filter_map(|e| match e {
            Effect::CloseConnection { conn, reason } => Some((conn.0, *reason)),
            _ => None,
        })
        .collect()
}

fn limit_events(h: &Host) -> Vec<(u64, Option<String>, LimitKind)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            RuntimeEvent::LimitExceeded {
                conn,
                principal,
                limit,
            } => Some((conn.0, principal.clone(), *limit)),
            _ => None,
        })
        .collect()
}

#[test]
fn sessions_per_principal_over_the_limit_is_permission_denied_then_close() {
    let mut cfg = contract_config();
    cfg.limits.max_sessions_per_principal = 2;
    cfg.resume_window = Duration::from_secs(60);
    let mut h = Host::new(cfg);
    let (a1, sid1, tok1) = h.hello(1, "alice-token", &[]);
    let (_a2, _, _) = h.hello(2, "alice-token", &[]);
    let c3 = h.open(3);
    h.send(c3, hello("alice-token", &[]));
    let out = h.take_json(c3);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["type"], "session.error");
    assert_eq!(
        out[0]["payload"],
        json!({
            "code": "PERMISSION_DENIED",
            "message": "principal already holds 2 sessions (limit 2)",
            "retryable": false,
            "details": {"limit": "sessions_per_principal"},
            "request_id": "01M85JSX0CBPSZZ4SKK7GMCRQB"
        })
    );
    assert_eq!(closes(&h), vec![(3, CloseReason::HandshakeFailed)]);
    assert_eq!(
        limit_events(&h),
        vec![(3, Some("alice".into()), LimitKind::SessionsPerPrincipal)]
    );
    // Other principals are still served.
    let (_b, _, _) = h.hello(4, "bob-token", &[]);
    // A detached session no longer counts as live: its slot is free at once ...
    h.close(a1);
    let (a5, _, _) = h.hello(5, "alice-token", &[]);
    // ... and resuming it is not a new session (not refused at the live cap: a principal
    // holds at most its live plus resumable caps either way).
    let c6 = h.open(6);
    let mut resume = hello("alice-token", &[]);
    resume["payload"]["resume"] = json!({"session_id":sid1,"resume_token":tok1,"last_event_seq":0});
    h.send(c6, resume.clone());
    assert_eq!(h.take_json(c6)[0]["type"], "session.welcome");
    h.close(c6);
    h.close(a5);
    let (_a7, _, _) = h.hello(7, "alice-token", &[]);
    let m = h.rt.metrics();
    assert_eq!(m.sessions_per_principal_denied, 1);
    assert_eq!(m.sessions_opened, 5);
    assert_eq!(m.resumes_succeeded, 1);
}

#[test]
fn resumable_sessions_per_principal_expire_oldest_first_and_spare_others() {
    let mut cfg = contract_config();
    cfg.limits.max_resumable_sessions_per_principal = 2;
    cfg.resume_window = Duration::from_secs(600);
    let mut h = Host::new(cfg);
    let (b, bob_sid, bob_tok) = h.hello(1, "bob-token", &[]);
    h.close(b);
    let mut alice = Vec::new();
    for n in 2..=5u64 {
        let (c, sid, tok) = h.hello(n, "alice-token", &[]);
        h.close(c);
        alice.push((sid, tok));
    }
    // Alice detached four: her two oldest were expired early, bob's is untouched.
    let resume = |h: &mut Host, conn: u64, token: &str, sid: &str, tok: &str| {
        let c = h.open(conn);
        let mut r = hello(token, &[]);
        r["payload"]["resume"] = json!({"session_id":sid,"resume_token":tok,"last_event_seq":0});
        h.send(c, r);
        let out = h.take_json(c);
        (out[0]["type"].clone(), out[0]["payload"]["code"].clone())
    };
    for (i, (sid, tok)) in alice.iter().enumerate() {
        let got = resume(&mut h, 10 + i as u64, "alice-token", sid, tok);
        let want = if i < 2 {
            (json!("session.error"), json!("RESUME_WINDOW_EXPIRED"))
        } else {
            (json!("session.welcome"), Value::Null)
        };
        assert_eq!(got, want, "alice session {i}");
    }
    assert_eq!(
        resume(&mut h, 20, "bob-token", &bob_sid, &bob_tok),
        (json!("session.welcome"), Value::Null)
    );
    assert_eq!(h.rt.metrics().resumable_sessions_evicted, 2);
}

#[test]
fn resumable_ring_bytes_are_bounded_oldest_detached_first() {
    let mut cfg = contract_config();
    cfg.resume_window = Duration::from_secs(600);
    let mut h = Host::new(cfg.clone());
    // What one detached session's ring keeps after one job event (its accepted frame is
    // not kept: only seq-bearing frames are).
    let (c1, _, _) = h.hello(1, "alice-token", &[]);
    let job1 = h.submit(c1, &eid(1), json!({"agent":"chatty"}));
    h.close(c1);
    h.rt.handle_agent_event(h.now, &job1, log_event()).unwrap();
    h.drain();
    let one = h.rt.metrics().resumable_ring_bytes;
    assert!(one > 0);
    assert_eq!(h.rt.metrics().retained_bytes, one);
    // A cap of 1.5 events' worth: a second detached session with one event evicts the first.
    cfg.bounds.max_resumable_ring_bytes = usize::try_from(one + one / 2).unwrap();
    let mut h = Host::new(cfg);
    let mut sessions = Vec::new();
    for n in 1..=2u32 {
        let (c, sid, tok) = h.hello(u64::from(n), "alice-token", &[]);
        let job = h.submit(c, &eid(n), json!({"agent":"chatty"}));
        h.close(c);
        h.rt.handle_agent_event(h.now, &job, log_event()).unwrap();
        h.drain();
        sessions.push((sid, tok));
    }
    let m = h.rt.metrics();
    assert_eq!(
        (m.resumable_ring_bytes, m.resumable_sessions_evicted),
        (one, 1)
    );
    let c = h.open(9);
    let mut r = hello("alice-token", &[]);
    r["payload"]["resume"] =
        json!({"session_id":sessions[0].0,"resume_token":sessions[0].1,"last_event_seq":0});
    h.send(c, r);
    assert_eq!(
        h.take_json(c)[0]["payload"]["code"],
        "RESUME_WINDOW_EXPIRED"
    );
}

fn log_event() -> AgentEvent {
    AgentEvent::Event(arcp_proto::wire::EventBody::Log(
        arcp_proto::wire::LogBody {
            level: "info".into(),
            message: "x".into(),
            attributes: None,
            extra: Default::default(),
        },
    ))
}

fn submit_raw(h: &mut Host, c: arcp_proto::runtime::ConnId, n: u32, agent: &str) -> Vec<Value> {
    h.send(
        c,
        json!({"arcp":"1.1","id":eid(n),"type":"job.submit","payload":{"agent":agent}}),
    );
    h.take_json(c)
}

#[test]
fn jobs_per_principal_over_the_limit_is_permission_denied_with_request_id() {
    let mut cfg = contract_config();
    cfg.limits.max_jobs_per_principal = 2;
    let mut h = Host::new(cfg);
    let (a1, _, _) = h.hello(1, "alice-token", &[]);
    let (a2, _, _) = h.hello(2, "alice-token", &[]);
    let (b, _, _) = h.hello(3, "bob-token", &[]);
    let j1 = h.submit(a1, &eid(1), json!({"agent":"slow"}));
    let _j2 = h.submit(a2, &eid(2), json!({"agent":"slow"}));
    // The third unfinished job of alice, on either session, is refused.
    for (c, n) in [(a1, 3), (a2, 4)] {
        let out = submit_raw(&mut h, c, n, "slow");
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0]["payload"],
            json!({
                "code": "PERMISSION_DENIED",
                "message": "principal already has 2 unfinished jobs (limit 2)",
                "retryable": false,
                "details": {"limit": "jobs_per_principal"},
                "request_id": eid(n)
            })
        );
    }
    assert_eq!(h.started_jobs().len(), 2);
    // The session continues and bob is unaffected.
    let _jb1 = h.submit(b, &eid(5), json!({"agent":"slow"}));
    let _jb2 = h.submit(b, &eid(6), json!({"agent":"slow"}));
    assert_eq!(h.started_jobs().len(), 4);
    // When one of alice's jobs ends, she may submit again.
    h.finish(&j1, json!(1));
    h.take(a1);
    let _j3 = h.submit(a1, &eid(7), json!({"agent":"slow"}));
    assert_eq!(
        submit_raw(&mut h, a2, 8, "slow")[0]["payload"]["details"]["limit"],
        "jobs_per_principal"
    );
    assert!(closes(&h).is_empty(), "no connection was closed");
    let m = h.rt.metrics();
    assert_eq!(m.jobs_per_principal_denied, 3);
    assert_eq!(m.jobs_succeeded, 1);
    assert_eq!(
        limit_events(&h),
        vec![
            (1, Some("alice".into()), LimitKind::JobsPerPrincipal),
            (2, Some("alice".into()), LimitKind::JobsPerPrincipal),
            (2, Some("alice".into()), LimitKind::JobsPerPrincipal),
        ]
    );
}

fn ping(n: u32) -> Value {
    json!({"arcp":"1.1","id":eid(n),"type":"session.ping",
        "payload":{"nonce":format!("n{n}"),"sent_at":"2026-11-24T01:30:25Z"}})
}

#[test]
fn zero_throughput_connections_close_once_past_the_resume_window() {
    let mut cfg = contract_config();
    // 30 s configured, but never before the resume window (120 s).
    cfg.limits.zero_throughput_timeout = Some(Duration::from_secs(30));
    cfg.resume_window = Duration::from_secs(120);
    // The silent connection is this test's; the hello timeout would close it at 10 s.
    cfg.hello_timeout = Duration::ZERO;
    let mut h = Host::new(cfg);
    let t0 = h.now;
    let (a, _, _) = h.hello(1, "alice-token", &[]);
    let (b, _, _) = h.hello(2, "bob-token", &[]);
    let (c, _, _) = h.hello(3, "auditor-token", &[]);
    let silent = h.open(4); // never says hello
    let job = h.submit(c, &eid(1), json!({"agent":"chatty"}));
    // Alice only pings (answered with pongs: heartbeats are not throughput); bob lists his
    // jobs at 60 s; the auditor's job streams events to it.
    let mut n = 10;
    for s in 1..=119u64 {
        h.advance(Duration::from_secs(1));
        if s % 10 == 0 {
            n += 1;
            h.send(a, ping(n));
            assert_eq!(h.take_json(a)[0]["type"], "session.pong");
        }
        if s == 60 {
            h.send(
                b,
                json!({"arcp":"1.1","id":eid(2),"type":"session.list_jobs","payload":{}}),
            );
        }
        if s % 20 == 0 {
            h.rt.handle_agent_event(
                h.now,
                &job,
                AgentEvent::Event(arcp_proto::wire::EventBody::Log(
                    arcp_proto::wire::LogBody {
                        level: "info".into(),
                        message: "tick".into(),
                        attributes: None,
                        extra: Default::default(),
                    },
                )),
            )
            .unwrap();
            h.drain();
        }
    }
    assert_eq!(h.now, t0 + Duration::from_secs(119));
    assert!(closes(&h).is_empty(), "nobody is closed before 120 s");
    h.advance(Duration::from_secs(1));
    let mut got = closes(&h);
    got.sort_by_key(|(c, _)| *c);
    assert_eq!(
        got,
        vec![
            (1, CloseReason::ZeroThroughput),
            (4, CloseReason::ZeroThroughput)
        ]
    );
    assert_eq!(CloseReason::ZeroThroughput.websocket_code(), 1008);
    let mut ev = limit_events(&h);
    ev.sort_by_key(|(c, _, _)| *c);
    assert_eq!(
        ev,
        vec![
            (1, Some("alice".into()), LimitKind::ZeroThroughput),
            (4, None, LimitKind::ZeroThroughput)
        ]
    );
    // Bob's last throughput was at 60 s: closed at 180 s; the auditor's job stopped at 100 s.
    h.advance(Duration::from_secs(59));
    assert_eq!(closes(&h).len(), 2);
    h.advance(Duration::from_secs(1));
    let mut got = closes(&h);
    got.sort_by_key(|(c, _)| *c);
    assert_eq!(
        got,
        vec![
            (1, CloseReason::ZeroThroughput),
            (2, CloseReason::ZeroThroughput),
            (4, CloseReason::ZeroThroughput)
        ]
    );
    // The auditor's last event went out at 100 s (+ the resume window = 220 s).
    h.advance(Duration::from_secs(39));
    assert_eq!(closes(&h).len(), 3);
    h.advance(Duration::from_secs(1));
    assert_eq!(closes(&h).len(), 4);
    assert_eq!(h.rt.metrics().zero_throughput_closed, 4);
    assert_eq!(silent.0, 4);
}

#[test]
fn every_subscribe_is_audited() {
    let mut cfg = contract_config();
    cfg.bounds.max_subscriptions_per_session = 1;
    let mut h = Host::new(cfg);
    let (a, _, _) = h.hello(1, "alice-token", &ALL);
    let (b, bsid, _) = h.hello(2, "bob-token", &ALL);
    let (o, osid, _) = h.hello(3, "auditor-token", &ALL);
    let j1 = h.submit(a, &eid(1), json!({"agent":"slow"}));
    let j2 = h.submit(a, &eid(2), json!({"agent":"slow"}));
    let sub = |n: u32, job: &str| json!({"arcp":"1.1","id":eid(n),"type":"job.subscribe","payload":{"job_id":job}});
    h.send(b, sub(3, &j1));
    assert_eq!(h.take_json(b)[0]["payload"]["code"], "PERMISSION_DENIED");
    h.send(b, sub(4, "job_does_not_exist"));
    assert_eq!(h.take_json(b)[0]["payload"]["code"], "PERMISSION_DENIED");
    h.send(o, sub(5, &j1));
    assert_eq!(h.take_json(o)[0]["type"], "job.subscribed");
    h.send(o, sub(6, &j2));
    assert_eq!(h.take_json(o)[0]["payload"]["code"], "INTERNAL_ERROR");
    let audits: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            RuntimeEvent::SubscribeAudit {
                session_id,
                subscriber_principal,
                job_id,
                target_principal,
                decision,
            } => Some((
                session_id.clone(),
                subscriber_principal.clone(),
                job_id.clone(),
                target_principal.clone(),
                *decision,
            )),
            _ => None,
        })
        .collect();
    let alice = Some("alice".to_owned());
    assert_eq!(
        audits,
        vec![
            (
                bsid.clone(),
                "bob".into(),
                j1.clone(),
                alice.clone(),
                SubscribeDecision::Denied
            ),
            (
                bsid,
                "bob".into(),
                "job_does_not_exist".into(),
                None,
                SubscribeDecision::Denied
            ),
            (
                osid.clone(),
                "auditor".into(),
                j1,
                alice.clone(),
                SubscribeDecision::Allowed
            ),
            (
                osid,
                "auditor".into(),
                j2,
                alice,
                SubscribeDecision::OverLimit
            ),
        ]
    );
}

#[test]
fn metrics_count_sessions_jobs_frames_resumes_and_auth_failures() {
    let mut cfg = contract_config();
    cfg.resume_window = Duration::from_secs(10);
    let mut h = Host::new(cfg);
    assert_eq!(h.rt.metrics(), RuntimeMetrics::default());
    let (a, sid, tok) = h.hello(1, "alice-token", &[]);
    let ok = h.submit(a, &eid(1), json!({"agent":"echo"}));
    let failed = h.submit(a, &eid(2), json!({"agent":"failing"}));
    let cancelled = h.submit(a, &eid(3), json!({"agent":"slow"}));
    let _timed = h.submit(a, &eid(4), json!({"agent":"slow","max_runtime_sec":1}));
    h.rt.handle_agent_event(
        h.now,
        &ok,
        AgentEvent::Result {
            result: Some(json!("hi")),
            summary: None,
        },
    )
    .unwrap();
    h.rt.handle_agent_event(
        h.now,
        &failed,
        AgentEvent::Error {
            code: arcp_proto::wire::ErrorCode::InternalError,
            message: "boom".into(),
            retryable: None,
        },
    )
    .unwrap();
    h.drain();
    h.send(
        a,
        json!({"arcp":"1.1","id":eid(5),"type":"job.cancel","job_id":cancelled,"payload":{}}),
    );
    h.advance(Duration::from_secs(1));
    // Auth failures: a plain Failed, and a labelled AuthFailed answered by hand.
    let bad = h.open(2);
    h.send(bad, hello("wrong-token", &[]));
    h.auto = false;
    let c3 = h.open(3);
    h.send(c3, hello("expired-jwt", &[]));
    let (id, _) = h.effects.pop().unwrap();
    h.rt.handle_effect_result(
        h.now,
        id,
        EffectOutcome::AuthFailed {
            reason: "expired".into(),
            message: "token has expired".into(),
        },
    );
    h.auto = true;
    h.drain();
    let out = h.take_json(c3);
    assert_eq!(out[0]["payload"]["code"], "UNAUTHENTICATED");
    assert_eq!(out[0]["payload"]["message"], "token has expired");
    // Resumes: a good one, a wrong token, then one after the window.
    h.close(a);
    let r = |token: &str| {
        let mut m = hello("alice-token", &[]);
        m["payload"]["resume"] = json!({"session_id":sid,"resume_token":token,"last_event_seq":0});
        m
    };
    let c4 = h.open(4);
    h.send(c4, r("not-the-token"));
    let c5 = h.open(5);
    h.send(c5, r(&tok));
    let welcome = h.take_json(c5);
    assert_eq!(welcome[0]["type"], "session.welcome");
    let tok2 = welcome[0]["payload"]["resume_token"]
        .as_str()
        .unwrap()
        .to_owned();
    h.close(c5);
    h.advance(Duration::from_secs(10));
    let c6 = h.open(6);
    h.send(c6, r(&tok2));
    assert_eq!(
        h.take_json(c6)[0]["payload"]["code"],
        "RESUME_WINDOW_EXPIRED"
    );

    let m = h.rt.metrics();
    // RuntimeMetrics is #[non_exhaustive]: built from its default, field by field.
    let mut want = RuntimeMetrics::default();
    want.sessions_opened = 1;
    want.jobs_succeeded = 1;
    want.jobs_failed = 1;
    want.jobs_cancelled = 1;
    want.jobs_timed_out = 1;
    // welcome, 4 accepted, 4 terminals, 2 auth errors, a refused resume, a welcome and
    // its replay of the 4 terminals, an expired resume.
    want.frames_out = 18;
    want.events_out = 0;
    want.resumes_succeeded = 1;
    want.resumes_expired = 1;
    want.resumes_denied = 1;
    want.auth_failures = BTreeMap::from([("expired".into(), 1), ("failed".into(), 1)]);
    want.sessions_per_principal_denied = 0;
    want.jobs_per_principal_denied = 0;
    want.zero_throughput_closed = 0;
    assert_eq!(m, want);
    // Every frame polled (taken by the helpers or still in `out`) was counted.
}

/// Drives the runtime by hand, so every polled frame is seen: answers Authenticate (alice)
/// and StartAgent, returns the frames in order.
fn pump(h: &mut Host) -> Vec<arcp_proto::wire::Frame> {
    let mut frames = Vec::new();
    loop {
        let mut progressed = false;
        while let Some((_, f)) = h.rt.poll_transmit() {
            frames.push(f);
            progressed = true;
        }
        while let Some((id, e)) = h.rt.poll_effect() {
            progressed = true;
            let outcome = match e {
                Effect::Authenticate { .. } => EffectOutcome::Authenticated {
                    principal: "alice".into(),
                },
                _ => EffectOutcome::Done,
            };
            h.rt.handle_effect_result(h.now, id, outcome);
        }
        while h.rt.poll_event().is_some() {}
        if !progressed {
            return frames;
        }
    }
}

#[test]
fn frames_and_events_out_match_what_the_host_polled() {
    let mut h = Host::contract();
    let c = arcp_proto::runtime::ConnId(1);
    h.rt.handle_connection_opened(h.now, c, arcp_proto::runtime::TransportKind::WebSocket);
    let raw = |v: Value| serde_json::to_vec(&v).unwrap();
    h.rt.handle_frame(h.now, c, &raw(hello("alice-token", &ALL)));
    let mut frames = pump(&mut h);
    h.rt.handle_frame(
        h.now,
        c,
        &raw(json!({"arcp":"1.1","id":eid(1),"type":"job.submit","payload":{"agent":"chatty"}})),
    );
    frames.extend(pump(&mut h));
    let job = frames[1].job_id.clone().unwrap();
    for i in 0..3 {
        h.rt.handle_agent_event(
            h.now,
            &job,
            AgentEvent::Event(arcp_proto::wire::EventBody::Log(
                arcp_proto::wire::LogBody {
                    level: "info".into(),
                    message: format!("line {i}"),
                    attributes: None,
                    extra: Default::default(),
                },
            )),
        )
        .unwrap();
    }
    h.rt.handle_frame(h.now, c, &raw(ping(9)));
    frames.extend(pump(&mut h));
    assert_eq!(
        types(&frames),
        vec![
            "session.welcome",
            "job.accepted",
            "job.event",
            "job.event",
            "job.event",
            "session.pong"
        ]
    );
    let m = h.rt.metrics();
    assert_eq!((m.frames_out, m.events_out), (6, 3));
}

#[test]
fn auth_failure_reasons_are_capped_with_other() {
    use arcp_proto::runtime::MAX_AUTH_FAILURE_REASONS;
    assert_eq!(MAX_AUTH_FAILURE_REASONS, 32);
    let mut h = Host::contract();
    h.auto = false;
    for i in 0..40u64 {
        let c = h.open(100 + i);
        h.send(c, hello("whatever", &[]));
        let (id, _) = h.effects.pop().unwrap();
        h.rt.handle_effect_result(
            h.now,
            id,
            EffectOutcome::AuthFailed {
                reason: format!("r{:02}", i % 35),
                message: "no".into(),
            },
        );
        h.drain();
    }
    let m = h.rt.metrics().auth_failures;
    assert_eq!(m.len(), 32);
    // r00..r30 kept (31 keys) with r00..r04 seen twice; r31..r34 fall under "other".
    assert_eq!(m.get("r00"), Some(&2));
    assert_eq!(m.get("r05"), Some(&1));
    assert_eq!(m.get("r30"), Some(&1));
    assert_eq!(m.get("r31"), None);
    assert_eq!(m.get("other"), Some(&4));
    assert_eq!(m.values().sum::<u64>(), 40);
}
