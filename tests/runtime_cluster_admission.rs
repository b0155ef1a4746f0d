//! Cluster-wide admission (issue #19, part 3): a clustered, durable `Runtime` driven by hand,
//! its `AdmitJob` / `AdmitSession` effects answered from the test — admitted, duplicate keys
//! (same payload replayed, another payload refused, still being accepted: asked again), the
//! per-principal caps across the cluster, store failures, connections gone meanwhile; an
//! unclustered runtime never asks.

mod runtime_support;

use arcp_proto::runtime::{
    Admission, ConnId, Effect, EffectId, EffectOutcome, IdempotencyRecord, LimitKind,
    RuntimeConfig, RuntimeEvent,
};
use arcp_proto::wire::{Accepted, Frame, JobId, Message, SessionId};
use runtime_support::*;
use serde_json::{Value, json};
use std::time::Duration;

/// Features without heartbeats (no timers but the ones under test).
const FEATURES: [&str; 4] = ["ack", "list_jobs", "subscribe", "cost.budget"];

fn clustered_config() -> RuntimeConfig {
    let mut cfg = contract_config();
    cfg.durable = true;
    cfg.clustered = true;
    cfg.node_id = Some("n-a".into());
    cfg
}

fn host(cfg: RuntimeConfig) -> Host {
    let mut h = Host::new(cfg);
    h.auto = true;
    h
}

/// Answers every held store effect (`Done`, an empty `EventsRead`) but the admissions,
/// until nothing moves.
fn store(h: &mut Host) {
    loop {
        h.drain();
        let mut moved = false;
        for (id, e) in std::mem::take(&mut h.effects) {
            let out = match e {
                Effect::AdmitJob { .. } | Effect::AdmitSession { .. } => {
                    h.effects.push((id, e));
                    continue;
                }
                Effect::ReadEvents { .. } => EffectOutcome::EventsRead { frames: Vec::new() },
                _ => EffectOutcome::Done,
            };
            h.rt.handle_effect_result(h.now, id, out);
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

/// The one held admission effect, removed.
fn take_admission(h: &mut Host) -> (EffectId, Effect) {
    store(h);
    let at = h
        .effects
        .iter()
        .position(|(_, e)| matches!(e, Effect::AdmitJob { .. } | Effect::AdmitSession { .. }))
        .unwrap_or_else(|| panic!("an admission among {:?}", h.effects));
    let taken = h.effects.remove(at);
    assert!(
        !h.effects
            .iter()
            .any(|(_, e)| matches!(e, Effect::AdmitJob { .. } | Effect::AdmitSession { .. })),
        "one admission at a time"
    );
    taken
}

fn answer(h: &mut Host, id: EffectId, out: EffectOutcome) {
    h.rt.handle_effect_result(h.now, id, out);
    store(h);
}

/// A hello whose `AdmitSession` is answered `admitted: true`.
fn hello_admitted(h: &mut Host, conn: u64, token: &str) -> (ConnId, SessionId) {
    let c = h.open(conn);
    h.send(c, hello(token, &FEATURES));
    let (id, e) = take_admission(h);
    let Effect::AdmitSession { session_id, .. } = e else {
        panic!("AdmitSession, got {e:?}");
    };
    answer(h, id, EffectOutcome::SessionAdmission { admitted: true });
    let frames = h.take(c);
    let Some(Message::Welcome(w)) = frames.first().map(|f| f.message.clone()) else {
        panic!("expected a welcome, got {frames:?}");
    };
    assert_eq!(w.session_id.as_ref(), Some(&session_id));
    (c, session_id)
}

fn submit_frame(n: u32, payload: Value) -> Value {
    json!({"arcp":"1.1","id":eid(n),"type":"job.submit","payload":payload})
}

/// Sends a submit and returns its `AdmitJob` (unanswered).
fn submit_held(h: &mut Host, c: ConnId, n: u32, payload: Value) -> (EffectId, Effect) {
    h.send(c, submit_frame(n, payload));
    let (id, e) = take_admission(h);
    assert!(matches!(e, Effect::AdmitJob { .. }), "AdmitJob, got {e:?}");
    (id, e)
}

fn admit_job_id(e: &Effect) -> JobId {
    match e {
        Effect::AdmitJob { job_id, .. } => job_id.clone(),
        _ => panic!("AdmitJob, got {e:?}"),
    }
}

fn admit_fingerprint(e: &Effect) -> String {
    match e {
        Effect::AdmitJob {
            idempotency: Some(r),
            ..
        } => r.fingerprint.clone(),
        _ => panic!("a keyed AdmitJob, got {e:?}"),
    }
}

fn json_of(f: &Frame) -> Value {
    serde_json::from_slice(&f.encode()).expect("json")
}

/// The one frame sent to `c`, as JSON without its envelope id.
fn only_error(h: &mut Host, c: ConnId) -> Value {
    let frames = h.take(c);
    assert_eq!(types(&frames), vec!["session.error"], "{frames:?}");
    json_of(&frames[0])["payload"].clone()
}

fn admissions(h: &Host) -> usize {
    h.all_effects
        .iter()
        .filter(|e| matches!(e, Effect::AdmitJob { .. } | Effect::AdmitSession { .. }))
        .count()
}

fn stored_accepted(job_id: &str) -> Accepted {
    serde_json::from_value(json!({
        "job_id": job_id,
        "agent": "slow@1.0.0",
        "accepted_at": "2026-11-24T01:30:20Z",
        "lease": {"tool.call": ["search"]},
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "request_id": "01M85JSX0CBPSZZ4SKK7G00077"
    }))
    .expect("an accepted payload")
}

#[test]
fn an_admitted_submit_is_accepted_as_usual_and_the_effect_carries_the_key() {
    let mut h = host(clustered_config());
    let (c, sid) = hello_admitted(&mut h, 1, "alice-token");
    let (id, e) = submit_held(
        &mut h,
        c,
        1,
        json!({"agent":"slow","idempotency_key":"k-1","input":{"q":1}}),
    );
    assert!(h.take(c).is_empty(), "nothing before the admission");
    assert!(h.started_jobs().is_empty());
    let job = admit_job_id(&e);
    let fingerprint = admit_fingerprint(&e);
    assert_eq!(
        fingerprint,
        r#"{"agent":"slow","input":{"q":1},"idempotency_key":"k-1"}"#
    );
    assert_eq!(
        e,
        Effect::AdmitJob {
            principal: "alice".into(),
            session_id: sid.clone(),
            job_id: job.clone(),
            max_jobs: 10_000,
            idempotency: Some(IdempotencyRecord {
                principal: "alice".into(),
                key: "k-1".into(),
                fingerprint: fingerprint.clone(),
                job_id: job.clone(),
                expires_at: "2026-11-25T01:30:25Z".parse().expect("timestamp"),
            }),
        }
    );
    answer(&mut h, id, EffectOutcome::JobAdmission(Admission::Admitted));
    let frames = h.take(c);
    assert_eq!(types(&frames), vec!["job.accepted"]);
    let Message::Accepted(acc) = &frames[0].message else {
        unreachable!()
    };
    assert_eq!(acc.job_id, job);
    assert_eq!(
        acc.request_id.as_ref().map(|r| r.as_str()),
        Some(eid(1).as_str())
    );
    assert_eq!(h.started_jobs(), vec![job.clone()]);
    assert!(h.all_effects.iter().any(|e| matches!(
        e,
        Effect::PersistIdempotency(r) if r.key == "k-1" && r.job_id == job
    )));
    // A resubmit here now takes the local fast path: no second admission.
    h.send(
        c,
        submit_frame(
            2,
            json!({"agent":"slow","idempotency_key":"k-1","input":{"q":1}}),
        ),
    );
    store(&mut h);
    let again = h.take(c);
    assert_eq!(types(&again), vec!["job.accepted"]);
    assert_eq!(again[0].job_id.as_ref(), Some(&job));
    assert_eq!(admissions(&h), 2, "the hello's and the first submit's");
}

#[test]
fn an_unkeyed_submit_is_admitted_without_a_record() {
    let mut h = host(clustered_config());
    let (c, sid) = hello_admitted(&mut h, 1, "alice-token");
    let (id, e) = submit_held(&mut h, c, 1, json!({"agent":"slow"}));
    let job = admit_job_id(&e);
    assert_eq!(
        e,
        Effect::AdmitJob {
            principal: "alice".into(),
            session_id: sid,
            job_id: job.clone(),
            max_jobs: 10_000,
            idempotency: None,
        }
    );
    answer(&mut h, id, EffectOutcome::JobAdmission(Admission::Admitted));
    let frames = h.take(c);
    assert_eq!(types(&frames), vec!["job.accepted"]);
    assert_eq!(frames[0].job_id.as_ref(), Some(&job));
}

#[test]
fn a_duplicate_with_the_same_payload_replays_the_stored_accepted() {
    let mut h = host(clustered_config());
    let (c, _sid) = hello_admitted(&mut h, 1, "alice-token");
    let payload = json!({"agent":"slow","idempotency_key":"k-1"});
    let (id, e) = submit_held(&mut h, c, 3, payload);
    let stored = stored_accepted("job_on_b");
    answer(
        &mut h,
        id,
        EffectOutcome::JobAdmission(Admission::Duplicate {
            fingerprint: admit_fingerprint(&e),
            job_id: "job_on_b".to_owned().into(),
            accepted: Some(Box::new(stored.clone())),
        }),
    );
    let frames = h.take(c);
    assert_eq!(types(&frames), vec!["job.accepted"]);
    let mut expected = stored;
    expected.request_id = Some(eid(3).into());
    assert_eq!(frames[0].message, Message::Accepted(expected));
    assert_eq!(
        frames[0].job_id.as_ref().map(|j| j.as_str()),
        Some("job_on_b")
    );
    assert_eq!(
        frames[0].trace_id.map(|t| t.to_string()),
        Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned())
    );
    assert_eq!(frames[0].event_seq, None);
    assert!(h.started_jobs().is_empty(), "no job of its own");
    assert_eq!(h.rt.job_count(), 0);
    assert!(
        !h.all_effects
            .iter()
            .any(|e| matches!(e, Effect::PersistJob(_) | Effect::PersistIdempotency(_)))
    );
}

#[test]
fn a_duplicate_with_another_payload_is_duplicate_key_and_the_key_is_free_again() {
    let mut h = host(clustered_config());
    let (c, _) = hello_admitted(&mut h, 1, "alice-token");
    let (id, _e) = submit_held(
        &mut h,
        c,
        4,
        json!({"agent":"slow","idempotency_key":"k-1"}),
    );
    answer(
        &mut h,
        id,
        EffectOutcome::JobAdmission(Admission::Duplicate {
            fingerprint: r#"{"agent":"echo","idempotency_key":"k-1"}"#.into(),
            job_id: "job_on_b".to_owned().into(),
            accepted: Some(Box::new(stored_accepted("job_on_b"))),
        }),
    );
    assert_eq!(
        only_error(&mut h, c),
        json!({"code":"DUPLICATE_KEY","message":"idempotency_key reused with different parameters",
               "retryable":false,"request_id":eid(4)})
    );
    assert_eq!(h.rt.job_count(), 0);
    // The local reservation went with it: the next submit asks the store again.
    let (id, _) = submit_held(
        &mut h,
        c,
        5,
        json!({"agent":"slow","idempotency_key":"k-1"}),
    );
    answer(&mut h, id, EffectOutcome::JobAdmission(Admission::Admitted));
    assert_eq!(types(&h.take(c)), vec!["job.accepted"]);
}

#[test]
fn a_duplicate_still_being_accepted_is_asked_again_after_the_poll_interval() {
    let mut h = host(clustered_config());
    let (c, _) = hello_admitted(&mut h, 1, "alice-token");
    let (id, e) = submit_held(
        &mut h,
        c,
        6,
        json!({"agent":"slow","idempotency_key":"k-1"}),
    );
    let fp = admit_fingerprint(&e);
    let unaccepted = || {
        EffectOutcome::JobAdmission(Admission::Duplicate {
            fingerprint: admit_fingerprint(&e),
            job_id: "job_on_b".to_owned().into(),
            accepted: None,
        })
    };
    answer(&mut h, id, unaccepted());
    assert!(h.take(c).is_empty());
    assert_eq!(
        h.rt.poll_timeout(),
        Some(h.now + Duration::from_millis(200))
    );
    h.advance(Duration::from_millis(199));
    store(&mut h);
    assert!(h.effects.is_empty(), "not yet: {:?}", h.effects);
    h.advance(Duration::from_millis(1));
    let (id2, e2) = take_admission(&mut h);
    assert_eq!(admit_job_id(&e2), admit_job_id(&e));
    assert_eq!(admit_fingerprint(&e2), fp);
    // Now the first job has its accepted.
    answer(
        &mut h,
        id2,
        EffectOutcome::JobAdmission(Admission::Duplicate {
            fingerprint: fp,
            job_id: "job_on_b".to_owned().into(),
            accepted: Some(Box::new(stored_accepted("job_on_b"))),
        }),
    );
    let frames = h.take(c);
    assert_eq!(types(&frames), vec!["job.accepted"]);
    assert_eq!(
        frames[0].job_id.as_ref().map(|j| j.as_str()),
        Some("job_on_b")
    );
    assert_eq!(h.rt.poll_timeout(), None);
}

#[test]
fn a_duplicate_still_being_accepted_then_admitted_is_accepted_as_usual() {
    let mut h = host(clustered_config());
    let (c, _) = hello_admitted(&mut h, 1, "alice-token");
    let (id, e) = submit_held(&mut h, c, 6, json!({"agent":"slow","idempotency_key":"k"}));
    answer(
        &mut h,
        id,
        EffectOutcome::JobAdmission(Admission::Duplicate {
            fingerprint: admit_fingerprint(&e),
            job_id: "job_on_b".to_owned().into(),
            accepted: None,
        }),
    );
    h.advance(Duration::from_millis(200));
    let (id2, _) = take_admission(&mut h);
    // The first job failed on its node and its key lapsed: this one is admitted.
    answer(
        &mut h,
        id2,
        EffectOutcome::JobAdmission(Admission::Admitted),
    );
    let frames = h.take(c);
    assert_eq!(types(&frames), vec!["job.accepted"]);
    assert_eq!(frames[0].job_id.as_ref(), Some(&admit_job_id(&e)));
}

#[test]
fn twenty_five_answers_without_accepted_end_internal_error_retryable() {
    let mut h = host(clustered_config());
    let (c, _) = hello_admitted(&mut h, 1, "alice-token");
    let (mut id, e) = submit_held(
        &mut h,
        c,
        7,
        json!({"agent":"slow","idempotency_key":"k-1"}),
    );
    let before = admissions(&h);
    for n in 1..=25 {
        answer(
            &mut h,
            id,
            EffectOutcome::JobAdmission(Admission::Duplicate {
                fingerprint: admit_fingerprint(&e),
                job_id: "job_on_b".to_owned().into(),
                accepted: None,
            }),
        );
        if n == 25 {
            break;
        }
        assert!(h.take(c).is_empty(), "answer {n}: nothing yet");
        h.advance(Duration::from_millis(200));
        id = take_admission(&mut h).0;
    }
    assert_eq!(admissions(&h) - before, 24, "asked 25 times in all");
    assert_eq!(
        only_error(&mut h, c),
        json!({"code":"INTERNAL_ERROR","message":"idempotent submit still being accepted",
               "retryable":true,"request_id":eid(7)})
    );
    assert_eq!(h.rt.poll_timeout(), None);
    h.advance(Duration::from_secs(5));
    assert!(h.effects.is_empty());
    assert_eq!(h.rt.job_count(), 0);
}

#[test]
fn over_the_cluster_cap_is_the_local_jobs_per_principal_refusal() {
    let mut cfg = clustered_config();
    cfg.limits.max_jobs_per_principal = 3;
    let mut h = host(cfg);
    let (c, _) = hello_admitted(&mut h, 1, "alice-token");
    let (id, e) = submit_held(&mut h, c, 8, json!({"agent":"slow"}));
    assert!(matches!(e, Effect::AdmitJob { max_jobs: 3, .. }));
    h.events.clear();
    answer(
        &mut h,
        id,
        EffectOutcome::JobAdmission(Admission::OverLimit),
    );
    let refusal = only_error(&mut h, c);
    assert_eq!(
        refusal,
        json!({"code":"PERMISSION_DENIED","message":"principal already has 3 unfinished jobs (limit 3)",
               "retryable":false,"details":{"limit":"jobs_per_principal"},"request_id":eid(8)})
    );
    assert_eq!(
        h.events,
        vec![RuntimeEvent::LimitExceeded {
            conn: c,
            principal: Some("alice".into()),
            limit: LimitKind::JobsPerPrincipal,
        }]
    );
    assert_eq!(h.rt.job_count(), 0);

    // The local cap's own refusal (an unclustered runtime at 3 jobs) is the same payload.
    let mut local_cfg = contract_config();
    local_cfg.limits.max_jobs_per_principal = 3;
    let mut l = host(local_cfg);
    let (lc, _, _) = l.hello(1, "alice-token", &FEATURES);
    for n in 1..=3 {
        l.submit(lc, &eid(n), json!({"agent":"slow"}));
    }
    l.send(lc, submit_frame(8, json!({"agent":"slow"})));
    assert_eq!(only_error(&mut l, lc), refusal);
}

#[test]
fn a_failed_admission_is_internal_error_with_the_message() {
    let mut h = host(clustered_config());
    let (c, _) = hello_admitted(&mut h, 1, "alice-token");
    let (id, _) = submit_held(&mut h, c, 9, json!({"agent":"slow","idempotency_key":"k"}));
    answer(
        &mut h,
        id,
        EffectOutcome::Failed {
            message: "connection to the store lost".into(),
        },
    );
    assert_eq!(
        only_error(&mut h, c),
        json!({"code":"INTERNAL_ERROR","message":"connection to the store lost",
               "retryable":true,"request_id":eid(9)})
    );
    assert_eq!(h.rt.job_count(), 0);
    // An outcome of the wrong kind is a failure too.
    let (id, _) = submit_held(&mut h, c, 10, json!({"agent":"slow"}));
    answer(&mut h, id, EffectOutcome::Done);
    assert_eq!(
        only_error(&mut h, c),
        json!({"code":"INTERNAL_ERROR","message":"invalid admission outcome",
               "retryable":true,"request_id":eid(10)})
    );
}

#[test]
fn a_resubmit_here_waits_for_the_admission_and_shares_its_answer() {
    let mut h = host(clustered_config());
    let (c, _) = hello_admitted(&mut h, 1, "alice-token");
    let payload = json!({"agent":"slow","idempotency_key":"k-1"});
    let (id, e) = submit_held(&mut h, c, 11, payload.clone());
    h.send(c, submit_frame(12, payload));
    store(&mut h);
    assert!(
        h.effects.is_empty(),
        "the resubmit waits, no second admission"
    );
    assert!(h.take(c).is_empty());
    answer(&mut h, id, EffectOutcome::JobAdmission(Admission::Admitted));
    let frames = h.take(c);
    assert_eq!(types(&frames), vec!["job.accepted", "job.accepted"]);
    let job = admit_job_id(&e);
    let rids: Vec<Value> = frames
        .iter()
        .map(|f| {
            assert_eq!(f.job_id.as_ref(), Some(&job));
            json_of(f)["payload"]["request_id"].clone()
        })
        .collect();
    // As when credentials are minted: the waiting resubmit is answered first.
    assert_eq!(rids, vec![json!(eid(12)), json!(eid(11))]);
    assert_eq!(h.started_jobs(), vec![job]);
}

#[test]
fn a_refused_delegated_submit_gives_its_reservation_back_to_the_parent() {
    let mut h = host(clustered_config());
    let (c, _) = hello_admitted(&mut h, 1, "alice-token");
    let lease = json!({"agent.delegate":["echo"],"cost.budget":["USD:2.00"]});
    let (id, e) = submit_held(&mut h, c, 1, json!({"agent":"slow","lease_request":lease}));
    answer(&mut h, id, EffectOutcome::JobAdmission(Admission::Admitted));
    let parent = admit_job_id(&e);
    assert_eq!(types(&h.take(c)), vec!["job.accepted"]);
    let budget = |h: &Host| serde_json::to_string(&h.rt.job_budget(&parent)).unwrap();
    let (id, _) = submit_held(
        &mut h,
        c,
        2,
        json!({"agent":"echo","parent_job_id":parent,"lease_request":{"cost.budget":["USD:0.50"]}}),
    );
    // Reserved while the store decides.
    assert_eq!(budget(&h), r#"{"USD":"USD:1.50"}"#);
    answer(
        &mut h,
        id,
        EffectOutcome::JobAdmission(Admission::OverLimit),
    );
    assert_eq!(only_error(&mut h, c)["code"], json!("PERMISSION_DENIED"));
    assert_eq!(budget(&h), r#"{"USD":"USD:2.00"}"#);
    assert_eq!(h.rt.check_delegation(), Ok(()));
    assert_eq!(h.rt.job_count(), 1);
}

#[test]
fn a_refused_session_gets_the_local_sessions_per_principal_refusal() {
    let mut cfg = clustered_config();
    cfg.limits.max_sessions_per_principal = 2;
    let mut h = host(cfg);
    let c = h.open(1);
    h.send(c, hello("alice-token", &FEATURES));
    let (id, e) = take_admission(&mut h);
    let Effect::AdmitSession {
        principal,
        session_id,
        max_sessions,
    } = e
    else {
        panic!("AdmitSession, got {e:?}");
    };
    assert_eq!((principal.as_str(), max_sessions), ("alice", 2));
    assert!(session_id.as_str().starts_with("sess_"), "{session_id}");
    h.events.clear();
    answer(
        &mut h,
        id,
        EffectOutcome::SessionAdmission { admitted: false },
    );
    let refusal = only_error(&mut h, c);
    assert_eq!(
        refusal,
        json!({"code":"PERMISSION_DENIED","message":"principal already holds 2 sessions (limit 2)",
               "retryable":false,"details":{"limit":"sessions_per_principal"},
               "request_id":"01M85JSX0CBPSZZ4SKK7GMCRQB"})
    );
    assert!(h.all_effects.iter().any(|e| matches!(
        e,
        Effect::CloseConnection { conn, reason: arcp_proto::runtime::CloseReason::HandshakeFailed }
            if *conn == c
    )));
    assert_eq!(h.rt.session_count(), 0);
    assert!(h.events.contains(&RuntimeEvent::LimitExceeded {
        conn: c,
        principal: Some("alice".into()),
        limit: LimitKind::SessionsPerPrincipal,
    }));

    // The local cap's refusal (an unclustered runtime holding 2) is the same payload.
    let mut local_cfg = contract_config();
    local_cfg.limits.max_sessions_per_principal = 2;
    let mut l = host(local_cfg);
    l.hello(1, "alice-token", &FEATURES);
    l.hello(2, "alice-token", &FEATURES);
    let lc = l.open(3);
    l.send(lc, hello("alice-token", &FEATURES));
    assert_eq!(only_error(&mut l, lc), refusal);
}

#[test]
fn a_failed_session_admission_refuses_the_hello() {
    let mut h = host(clustered_config());
    let c = h.open(1);
    h.send(c, hello("alice-token", &FEATURES));
    let (id, _) = take_admission(&mut h);
    // The hello is still in its handshake: another frame is told so.
    h.send(c, hello("alice-token", &FEATURES));
    assert_eq!(
        only_error(&mut h, c)["message"],
        json!("session.hello is still being authenticated")
    );
    answer(
        &mut h,
        id,
        EffectOutcome::Failed {
            message: "store down".into(),
        },
    );
    assert_eq!(
        only_error(&mut h, c),
        json!({"code":"INTERNAL_ERROR","message":"session could not be admitted: store down",
               "retryable":true,"request_id":"01M85JSX0CBPSZZ4SKK7GMCRQB"})
    );
    assert_eq!(h.rt.session_count(), 0);
}

#[test]
fn a_connection_closed_while_admitted_gets_nothing_and_nothing_panics() {
    let mut h = host(clustered_config());
    // A hello whose connection goes away: the admission's answer opens nothing.
    let c = h.open(1);
    h.send(c, hello("alice-token", &FEATURES));
    let (id, _) = take_admission(&mut h);
    h.close(c);
    answer(
        &mut h,
        id,
        EffectOutcome::SessionAdmission { admitted: true },
    );
    assert!(h.out.is_empty(), "{:?}", h.out);
    assert_eq!(h.rt.session_count(), 0);

    // Submits whose connection goes away: refused, duplicate, admitted — nothing is sent.
    let (c, _) = hello_admitted(&mut h, 2, "alice-token");
    let (refused, _) = submit_held(&mut h, c, 1, json!({"agent":"slow"}));
    h.send(
        c,
        submit_frame(2, json!({"agent":"slow","idempotency_key":"k"})),
    );
    let (dup, dup_e) = take_admission(&mut h);
    h.send(c, submit_frame(3, json!({"agent":"slow"})));
    let (admitted, admitted_e) = take_admission(&mut h);
    h.close(c);
    h.out.clear();
    answer(
        &mut h,
        refused,
        EffectOutcome::JobAdmission(Admission::OverLimit),
    );
    answer(
        &mut h,
        dup,
        EffectOutcome::JobAdmission(Admission::Duplicate {
            fingerprint: admit_fingerprint(&dup_e),
            job_id: "job_on_b".to_owned().into(),
            accepted: None,
        }),
    );
    h.advance(Duration::from_millis(200));
    let (dup2, _) = take_admission(&mut h);
    answer(
        &mut h,
        dup2,
        EffectOutcome::JobAdmission(Admission::Duplicate {
            fingerprint: admit_fingerprint(&dup_e),
            job_id: "job_on_b".to_owned().into(),
            accepted: Some(Box::new(stored_accepted("job_on_b"))),
        }),
    );
    answer(
        &mut h,
        admitted,
        EffectOutcome::JobAdmission(Admission::Admitted),
    );
    assert!(h.out.is_empty(), "{:?}", h.out);
    // The admitted one runs, as a submit accepted before the close would.
    assert_eq!(h.started_jobs(), vec![admit_job_id(&admitted_e)]);
    // Answers for nothing, twice, never panic.
    answer(
        &mut h,
        admitted,
        EffectOutcome::JobAdmission(Admission::Admitted),
    );
    answer(
        &mut h,
        EffectId(9_999),
        EffectOutcome::SessionAdmission { admitted: true },
    );
    assert!(h.out.is_empty());
}

#[test]
fn an_isolated_node_drops_its_admissions_silently() {
    let mut h = host(clustered_config());
    let (c, _) = hello_admitted(&mut h, 1, "alice-token");
    let (id, e) = submit_held(&mut h, c, 1, json!({"agent":"slow","idempotency_key":"k"}));
    answer(
        &mut h,
        id,
        EffectOutcome::JobAdmission(Admission::Duplicate {
            fingerprint: admit_fingerprint(&e),
            job_id: "job_on_b".to_owned().into(),
            accepted: None,
        }),
    );
    h.rt.handle_isolated(h.now);
    store(&mut h);
    h.out.clear();
    h.advance(Duration::from_secs(1));
    assert!(h.effects.is_empty(), "{:?}", h.effects);
    assert!(h.out.is_empty());
    assert_eq!(h.rt.job_count(), 0);
}

#[test]
fn unclustered_runtimes_never_ask_for_admission() {
    for (durable, clustered) in [(false, false), (true, false), (false, true)] {
        let mut cfg = contract_config();
        cfg.durable = durable;
        cfg.clustered = clustered;
        cfg.limits.max_sessions_per_principal = 2;
        cfg.limits.max_jobs_per_principal = 2;
        let mut h = host(cfg);
        let c = h.open(1);
        h.send(c, hello("alice-token", &FEATURES));
        store(&mut h);
        let frames = h.take(c);
        assert_eq!(types(&frames), vec!["session.welcome"]);
        h.send(
            c,
            submit_frame(1, json!({"agent":"slow","idempotency_key":"k"})),
        );
        store(&mut h);
        assert_eq!(types(&h.take(c)), vec!["job.accepted"]);
        assert_eq!(
            admissions(&h),
            0,
            "durable {durable}, clustered {clustered}"
        );
    }
}
