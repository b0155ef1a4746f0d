//! Durability hooks (issue item 10): no storage effects without a store; with one,
//! write-ahead appends, session records before welcomes, records, ReadEvents and restore.

mod runtime_support;

use arcp_proto::runtime::{
    AgentEvent, Effect, EffectOutcome, JobRecord, RuntimeConfig, SessionRecord, StoreSnapshot,
};
use arcp_proto::wire::{
    AgentRef, EventBody, Frame, JobStatus, LeaseMap, LogBody, Message, Timestamp,
};
use runtime_support::*;
use serde_json::json;

fn log(m: &str) -> AgentEvent {
    AgentEvent::Event(EventBody::Log(LogBody {
        level: "info".into(),
        message: m.into(),
        attributes: None,
        extra: Default::default(),
    }))
}

fn durable() -> RuntimeConfig {
    let mut cfg = contract_config();
    cfg.durable = true;
    cfg
}

fn is_storage(e: &Effect) -> bool {
    matches!(
        e,
        Effect::AppendEvents(_)
            | Effect::ReadEvents { .. }
            | Effect::PersistSession(_)
            | Effect::PersistJob(_)
            | Effect::PersistIdempotency(_)
            | Effect::PersistCredential(_)
    )
}

/// Completes every held effect matching `f` with `Done`, in order.
fn complete(h: &mut Host, f: impl Fn(&Effect) -> bool) -> usize {
    let (mine, rest): (Vec<_>, Vec<_>) = h.effects.drain(..).partition(|(_, e)| f(e));
    h.effects = rest;
    let n = mine.len();
    for (id, _) in mine {
        h.rt.handle_effect_result(h.now, id, EffectOutcome::Done);
        h.drain();
    }
    n
}

fn storage(h: &mut Host) -> usize {
    complete(h, is_storage)
}

#[test]
fn without_a_store_no_storage_effect_is_emitted() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(
        c,
        &eid(1),
        json!({"agent":"rotator","idempotency_key":"k","lease_request":{"model.use":["m/*"]}}),
    );
    h.rt.handle_agent_event(h.now, &job, log("x")).unwrap();
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
    h.close(c);
    assert!(!h.all_effects.iter().any(is_storage), "{:?}", h.all_effects);
}

#[test]
fn welcome_waits_for_the_session_record_and_frames_for_their_append() {
    let mut h = Host::new(durable());
    let c = h.open(1);
    h.send(c, hello("alice-token", &ALL));
    assert!(h.take(c).is_empty(), "welcome waits for PersistSession");
    let Some((_, Effect::PersistSession(rec))) = h.effects.first().cloned() else {
        panic!("{:?}", h.effects)
    };
    assert_eq!(rec.principal, "alice");
    assert_eq!(rec.last_event_seq, 0);
    assert_eq!(rec.window_expires_at, None);
    assert_eq!(rec.resume_token_hash.len(), 64);
    assert_eq!(storage(&mut h), 1);
    let out = h.take(c);
    let Message::Welcome(w) = &out[0].message else {
        panic!()
    };
    assert_ne!(
        w.resume_token, rec.resume_token_hash,
        "never the token itself"
    );
    let job = h.submit(c, &eid(1), json!({"agent":"echo","idempotency_key":"k1"}));
    assert!(h.effects.iter().any(|(_, e)| matches!(e, Effect::PersistJob(j) if j.job_id == job && j.status == JobStatus::Running)));
    assert!(h.effects.iter().any(
        |(_, e)| matches!(e, Effect::PersistIdempotency(r) if r.key == "k1" && r.job_id == job)
    ));
    complete(&mut h, |e| !matches!(e, Effect::AppendEvents(_)));
    h.rt.handle_agent_event(h.now, &job, log("a")).unwrap();
    h.rt.handle_agent_event(h.now, &job, log("b")).unwrap();
    h.drain();
    assert!(
        h.take(c).is_empty(),
        "write-ahead: nothing before the append completes"
    );
    let appends: Vec<_> = h
        .effects
        .iter()
        .filter(|(_, e)| matches!(e, Effect::AppendEvents(_)))
        .cloned()
        .collect();
    assert_eq!(appends.len(), 2);
    let Effect::AppendEvents(batch) = &appends[0].1 else {
        panic!()
    };
    assert_eq!(batch[0].event_seq, 1);
    assert_eq!(batch[0].job_id.as_deref(), Some(job.as_str()));
    // The second append completes first: nothing yet; then the first: both, in order.
    h.effects
        .retain(|(_, e)| !matches!(e, Effect::AppendEvents(_)));
    h.rt.handle_effect_result(h.now, appends[1].0, EffectOutcome::Done);
    h.drain();
    assert!(h.take(c).is_empty());
    h.rt.handle_effect_result(h.now, appends[0].0, EffectOutcome::Done);
    h.drain();
    assert_eq!(seqs(&h.take(c)), vec![1, 2]);
    // A detach persists the session with its window.
    h.close(c);
    let Some((_, Effect::PersistSession(rec))) = h
        .effects
        .iter()
        .find(|(_, e)| matches!(e, Effect::PersistSession(_)))
        .cloned()
    else {
        panic!()
    };
    assert_eq!(rec.last_event_seq, 2);
    assert_eq!(
        rec.window_expires_at.unwrap().as_str(),
        "2026-11-24T01:40:25Z"
    );
}

#[test]
fn resume_beyond_the_ring_reads_the_store() {
    let mut cfg = durable();
    cfg.bounds.max_ring_events = 2;
    let mut h = Host::new(cfg);
    let c = h.open(1);
    h.send(c, hello("alice-token", &ALL));
    storage(&mut h);
    let w = h.take(c);
    let Message::Welcome(w) = &w[0].message else {
        panic!()
    };
    let (sid, token) = (w.session_id.clone().unwrap(), w.resume_token.clone());
    let job = h.submit(c, &eid(1), json!({"agent":"chatty"}));
    for i in 0..5 {
        h.rt.handle_agent_event(h.now, &job, log(&format!("e{i}")))
            .unwrap();
        h.drain();
        storage(&mut h);
    }
    let sent = h.take(c);
    assert_eq!(seqs(&sent), vec![1, 2, 3, 4, 5]);
    h.close(c);
    storage(&mut h);
    let c2 = h.open(2);
    let mut hello = hello("alice-token", &ALL);
    hello["payload"]["resume"] = json!({"session_id":sid,"resume_token":token,"last_event_seq":1});
    h.send(c2, hello);
    let Some((
        id,
        Effect::ReadEvents {
            session_id,
            after_seq,
        },
    )) = h.effects.first().cloned()
    else {
        panic!("{:?}", h.effects)
    };
    h.effects.clear();
    assert_eq!((session_id.as_str(), after_seq), (sid.as_str(), 1));
    let stored: Vec<Frame> = sent[1..].to_vec();
    h.rt.handle_effect_result(h.now, id, EffectOutcome::EventsRead { frames: stored });
    h.drain();
    storage(&mut h);
    let out = h.take(c2);
    assert_eq!(types(&out)[0], "session.welcome");
    assert_eq!(seqs(&out), vec![2, 3, 4, 5]);
    assert_eq!(out[1].id, sent[1].id);
}

#[test]
fn store_that_cannot_cover_the_gap_gives_resume_window_expired() {
    let mut cfg = durable();
    cfg.bounds.max_ring_events = 1;
    let mut h = Host::new(cfg);
    let c = h.open(1);
    h.send(c, hello("alice-token", &ALL));
    storage(&mut h);
    let w = h.take(c);
    let Message::Welcome(w) = &w[0].message else {
        panic!()
    };
    let job = h.submit(c, &eid(1), json!({"agent":"chatty"}));
    for i in 0..3 {
        h.rt.handle_agent_event(h.now, &job, log(&format!("e{i}")))
            .unwrap();
    }
    h.drain();
    storage(&mut h);
    h.close(c);
    storage(&mut h);
    let c2 = h.open(2);
    let mut hello = hello("alice-token", &ALL);
    hello["payload"]["resume"] =
        json!({"session_id":w.session_id,"resume_token":w.resume_token,"last_event_seq":0});
    h.send(c2, hello);
    // The ring keeps every frame until it is durable (then it is a cache of the store): no
    // frame was lost before its append, so the live connection was never cut.
    assert!(!h.all_effects.iter().any(|e| matches!(
        e,
        Effect::CloseConnection {
            reason: arcp_proto::runtime::CloseReason::SlowConsumer,
            ..
        }
    )));
    let pos = h
        .effects
        .iter()
        .position(|(_, e)| matches!(e, Effect::ReadEvents { .. }))
        .unwrap();
    let (id, _) = h.effects.remove(pos);
    h.rt.handle_effect_result(h.now, id, EffectOutcome::EventsRead { frames: vec![] });
    h.drain();
    assert_eq!(
        h.take_json(c2)[0]["payload"]["code"],
        "RESUME_WINDOW_EXPIRED"
    );
}

#[test]
fn restore_ends_unfinished_jobs_and_revokes_outstanding_credentials() {
    let mut h = Host::new(durable());
    let snapshot = StoreSnapshot {
        sessions: vec![SessionRecord {
            session_id: "sess_A".into(),
            principal: "alice".into(),
            resume_token_hash: sha256_hex_of_known_token(),
            last_event_seq: 7,
            window_expires_at: Some(Timestamp::parse("2026-11-24T01:35:00Z").unwrap()),
            features: arcp_proto::wire::FeatureSet::from_names(ALL),
        }],
        jobs: vec![JobRecord {
            job_id: "job_A".into(),
            session_id: "sess_A".into(),
            principal: "alice".into(),
            agent: AgentRef::parse("slow@1.0.0").unwrap(),
            status: JobStatus::Running,
            submitted_at: Timestamp::parse("2026-11-24T01:30:00Z").unwrap(),
            last_event_seq: 7,
            lease: LeaseMap::default(),
            lease_constraints: None,
            trace_id: None,
            parent_job_id: None,
            delegate_id: None,
            accepted: None,
            terminal: None,
        }],
        idempotency: vec![],
        credentials: vec![arcp_proto::runtime::CredentialRecord {
            credential_id: "cred_A".into(),
            job_id: "job_A".into(),
            revoked: false,
        }],
    };
    h.rt.restore(h.now, snapshot);
    h.drain();
    let append = h
        .effects
        .iter()
        .find_map(|(_, e)| match e {
            Effect::AppendEvents(b) => Some(b.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(append[0].event_seq, 8);
    let j: serde_json::Value = serde_json::from_slice(&append[0].frame.encode()).unwrap();
    assert_eq!(j["type"], "job.error");
    assert_eq!(j["payload"]["code"], "INTERNAL_ERROR");
    assert_eq!(j["payload"]["retryable"], true);
    assert_eq!(j["payload"]["message"], "runtime restarted");
    assert!(h.all_effects.iter().any(|e| *e
        == Effect::RevokeCredential {
            job_id: "job_A".into(),
            credential_id: "cred_A".into(),
            value: None,
        }));
    let append_frame = Frame::clone(&append[0].frame);
    storage(&mut h);
    // A resume with the old token: the store serves 1..=7, the ring the error.
    let c = h.open(1);
    let mut hello = hello("alice-token", &ALL);
    hello["payload"]["resume"] =
        json!({"session_id":"sess_A","resume_token":KNOWN_TOKEN,"last_event_seq":7});
    h.send(c, hello);
    storage(&mut h);
    let out = h.take(c);
    assert_eq!(types(&out), vec!["session.welcome", "job.error"]);
    assert_eq!(out[1], append_frame);
    h.send(
        c,
        json!({"id":eid(1),"type":"session.list_jobs","payload":{}}),
    );
    assert_eq!(h.take_json(c)[0]["payload"]["jobs"][0]["status"], "error");
}

const KNOWN_TOKEN: &str = "abc";

/// SHA-256("abc") — the runtime keeps SHA-256 hex of resume tokens.
fn sha256_hex_of_known_token() -> String {
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into()
}
