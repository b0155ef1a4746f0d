//! Lease gate, cost metrics (D31), expiry (D30), result chunks (D32), delegation (D28) and
//! credentials (§9.8).

mod runtime_support;

use arcp_proto::runtime::{AgentEvent, AgentReply, Effect, EffectOutcome, Operation, RuntimeEvent};
use arcp_proto::wire::{
    AgentRef, ChunkEncoding, ErrorCode, EventBody, LeaseMap, MetricBody, MetricValue,
};
use runtime_support::*;
use serde_json::{Value, json};
use std::time::Duration;

fn cost(v: &str) -> AgentEvent {
    AgentEvent::Event(EventBody::Metric(MetricBody {
        name: "cost.inference".into(),
        value: MetricValue::Text(v.into()),
        unit: Some("USD".into()),
        attributes: None,
        extra: Default::default(),
    }))
}

fn ok() -> AgentEvent {
    AgentEvent::Result {
        result: None,
        summary: None,
    }
}

#[test]
fn budget_exhaustion_flow() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(
        c,
        &eid(1),
        json!({"agent":"budget","lease_request":{"tool.call":["paid-tool"],"cost.budget":["USD:1.00"]}}),
    );
    let op = Operation::new("tool.call", "paid-tool");
    // D31: a negative cost is refused, nothing emitted, nothing decremented.
    let e =
        h.rt.handle_agent_event(h.now, &job, cost("-0.10"))
            .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    h.drain();
    assert!(h.take(c).is_empty());
    let mut remaining = Vec::new();
    for _ in 0..3 {
        h.rt.authorize(h.now, &job, &op).unwrap();
        h.rt.handle_agent_event(h.now, &job, cost("0.40")).unwrap();
        h.drain();
        let out = h.take_json(c);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["payload"]["body"]["value"], json!(0.4));
        assert_eq!(out[1]["payload"]["body"]["name"], "cost.budget.remaining");
        remaining.push(out[1]["payload"]["body"]["value"].as_f64().unwrap());
    }
    assert_eq!(remaining, vec![0.6, 0.2, -0.2]);
    let e = h.rt.authorize(h.now, &job, &op).unwrap_err();
    assert_eq!(e.code, ErrorCode::BudgetExhausted);
    assert_eq!(e.message, "budget for USD exhausted (remaining=-0.20)");
    assert!(!e.retryable);
    let e =
        h.rt.authorize(h.now, &job, &Operation::new("tool.call", "other"))
            .unwrap_err();
    assert_eq!(e.code, ErrorCode::PermissionDenied);
    // The subscriber's D9 budget is the live counter.
    h.send(
        c,
        json!({"id":eid(2),"type":"job.subscribe","payload":{"job_id":job}}),
    );
    assert_eq!(
        h.take_json(c)[0]["payload"]["budget"],
        json!({"USD":"USD:-0.20"})
    );
}

#[test]
fn lease_expiry_ends_the_job_at_expires_at_d30() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    // T0 is 01:30:25 at instant 1s; expiry 2 s later.
    let job = h.submit(
        c,
        &eid(1),
        json!({"agent":"lease-check","lease_request":{"fs.read":["/project/**"]},
               "lease_constraints":{"expires_at":"2026-11-24T01:30:27Z"}}),
    );
    let op = Operation::new("fs.read", "/project/a/b.txt");
    h.rt.authorize(h.now, &job, &op).unwrap();
    assert_eq!(
        h.rt.authorize(
            h.now,
            &job,
            &Operation::new("fs.read", "/project/../etc/passwd")
        )
        .unwrap_err()
        .code,
        ErrorCode::PermissionDenied
    );
    h.advance(Duration::from_millis(1999));
    assert!(h.take(c).is_empty());
    h.advance(Duration::from_millis(1));
    let out = h.take_json(c);
    assert_eq!(out[0]["type"], "job.error");
    assert_eq!(out[0]["payload"]["code"], "LEASE_EXPIRED");
    assert_eq!(
        out[0]["payload"]["message"],
        "lease expired while job was running"
    );
    assert_eq!(out[0]["payload"]["retryable"], false);
    assert!(h.all_effects.contains(&Effect::CancelAgent {
        job_id: job.clone()
    }));
    assert_eq!(
        h.rt.authorize(h.now, &job, &op).unwrap_err().code,
        ErrorCode::InvalidRequest
    );
}

fn chunk(seq: u64, data: &str, more: bool) -> AgentEvent {
    AgentEvent::ResultChunk {
        chunk_seq: seq,
        data: data.into(),
        encoding: ChunkEncoding::Utf8,
        more,
    }
}

#[test]
fn result_chunks_in_order_with_more_false_on_the_last_data_chunk_d32() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    let job = h.submit(c, &eid(1), json!({"agent":"chunked"}));
    // The reference's form: more:true everywhere, then an extra empty final chunk.
    for (i, d) in ["ARCP str", "eaming! "].iter().enumerate() {
        h.rt.handle_agent_event(h.now, &job, chunk(i as u64, d, true))
            .unwrap();
    }
    h.rt.handle_agent_event(h.now, &job, chunk(2, "", false))
        .unwrap();
    h.rt.handle_agent_event(
        h.now,
        &job,
        AgentEvent::Result {
            result: None,
            summary: Some("2 chunks".into()),
        },
    )
    .unwrap();
    h.drain();
    let out = h.take_json(c);
    assert_eq!(out.len(), 3);
    let rid = out[0]["payload"]["body"]["result_id"].as_str().unwrap();
    assert!(rid.starts_with("res_"));
    assert_eq!(out[0]["payload"]["body"]["more"], true);
    assert_eq!(out[1]["payload"]["body"]["more"], false);
    assert_eq!(out[1]["payload"]["body"]["data"], "eaming! ");
    assert_eq!(out[1]["payload"]["body"]["result_id"], rid);
    assert_eq!(out[2]["type"], "job.result");
    assert_eq!(out[2]["payload"]["result_id"], rid);
    assert_eq!(out[2]["payload"]["result_size"], 16);
    assert_eq!(out[2]["payload"]["summary"], "2 chunks");
    assert!(out[2]["payload"].get("result").is_none());
    // The spec's form: more:false on the last data chunk, then the result.
    let job = h.submit(c, &eid(2), json!({"agent":"chunked"}));
    h.rt.handle_agent_event(
        h.now,
        &job,
        AgentEvent::ResultChunk {
            chunk_seq: 0,
            data: "AAEC".into(),
            encoding: ChunkEncoding::Base64,
            more: true,
        },
    )
    .unwrap();
    h.rt.handle_agent_event(h.now, &job, chunk(1, "xy", false))
        .unwrap();
    h.rt.handle_agent_event(h.now, &job, ok()).unwrap();
    h.drain();
    let out = h.take_json(c);
    assert_eq!(out.len(), 3);
    assert_eq!(out[1]["payload"]["body"]["more"], false);
    assert_eq!(out[2]["payload"]["result_size"], 5);
}

#[test]
fn chunk_violations_fail_the_job() {
    let mut cfg = contract_config();
    cfg.bounds.max_chunk_bytes = 4;
    cfg.bounds.max_result_bytes = 6;
    let mut h = Host::new(cfg);
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    let cases: Vec<(Vec<AgentEvent>, &str)> = vec![
        (vec![chunk(1, "a", true)], "INVALID_REQUEST"),
        (vec![chunk(0, "abcde", true)], "INTERNAL_ERROR"),
        (
            vec![chunk(0, "abcd", true), chunk(1, "efg", true)],
            "INTERNAL_ERROR",
        ),
        (
            vec![
                chunk(0, "ab", true),
                AgentEvent::Result {
                    result: Some(json!("inline")),
                    summary: None,
                },
            ],
            "INVALID_REQUEST",
        ),
    ];
    for (i, (events, code)) in cases.into_iter().enumerate() {
        let job = h.submit(c, &eid(i as u32), json!({"agent":"chunked"}));
        for e in events {
            h.rt.handle_agent_event(h.now, &job, e).unwrap();
        }
        h.drain();
        let out = h.take_json(c);
        let last = out.last().unwrap();
        assert_eq!(last["type"], "job.error", "case {i}");
        assert_eq!(last["payload"]["code"], code, "case {i}");
    }
}

#[test]
fn delegation_runs_the_child_on_the_same_session_d28() {
    let mut h = Host::contract();
    let (c, sid, _) = h.hello(1, "alice-token", &ALL);
    let parent = h.submit(
        c,
        &eid(1),
        json!({"agent":"delegator","lease_request":{"agent.delegate":["echo"],"fs.read":["/project/**"],"cost.budget":["USD:1.00"]}}),
    );
    let lease = |ns: &str, pats: &[&str]| {
        let mut m = LeaseMap::default();
        m.0.push((ns.into(), pats.iter().map(|p| (*p).to_owned()).collect()));
        m.0.push(("cost.budget".into(), vec!["USD:0.50".into()]));
        m
    };
    let reply =
        h.rt.handle_agent_event(
            h.now,
            &parent,
            AgentEvent::Delegate {
                agent: AgentRef::parse("echo").unwrap(),
                input: json!({"ping":1}),
                lease: lease("fs.read", &["/project/src/**"]),
                lease_constraints: None,
            },
        )
        .unwrap();
    let AgentReply::Delegated { child_job_id } = reply else {
        panic!()
    };
    h.drain();
    let starts: Vec<_> = h.started_jobs();
    assert_eq!(starts, vec![parent.clone(), child_job_id.clone()]);
    h.rt.handle_agent_event(
        h.now,
        &child_job_id,
        AgentEvent::Result {
            result: Some(json!({"ping":1})),
            summary: None,
        },
    )
    .unwrap();
    h.drain();
    let out = h.take_json(c);
    assert_eq!(out.len(), 2, "no job.accepted for the child");
    assert_eq!(out[0]["payload"]["kind"], "delegate");
    assert_eq!(out[0]["job_id"], parent.as_str());
    assert_eq!(
        out[0]["payload"]["body"]["child_job_id"],
        child_job_id.as_str()
    );
    assert_eq!(out[0]["payload"]["body"]["agent"], "echo@1.0.0");
    assert_eq!(out[1]["job_id"], child_job_id.as_str());
    assert_eq!(out[1]["session_id"], sid.as_str());
    assert_eq!(out[1]["event_seq"], 2);
    // Violations.
    let bad = [
        (lease("fs.write", &["/x"]), ErrorCode::LeaseSubsetViolation),
        (
            lease("fs.read", &["/etc/**"]),
            ErrorCode::LeaseSubsetViolation,
        ),
    ];
    for (l, code) in bad {
        let e =
            h.rt.handle_agent_event(
                h.now,
                &parent,
                AgentEvent::Delegate {
                    agent: AgentRef::parse("echo").unwrap(),
                    input: Value::Null,
                    lease: l,
                    lease_constraints: None,
                },
            )
            .unwrap_err();
        assert_eq!(e.code, code);
    }
    let e =
        h.rt.handle_agent_event(
            h.now,
            &parent,
            AgentEvent::Delegate {
                agent: AgentRef::parse("chatty").unwrap(),
                input: Value::Null,
                lease: LeaseMap::default(),
                lease_constraints: None,
            },
        )
        .unwrap_err();
    assert_eq!(
        e.code,
        ErrorCode::PermissionDenied,
        "agent.delegate not granted"
    );
    // job.submit with parent_job_id is checked the same way.
    h.send(
        c,
        json!({"id":eid(5),"type":"job.submit","payload":{"agent":"echo","parent_job_id":parent,"lease_request":{"net.fetch":["https://x/**"]}}}),
    );
    assert_eq!(
        h.take_json(c)[0]["payload"]["code"],
        "LEASE_SUBSET_VIOLATION"
    );
    h.send(
        c,
        json!({"id":eid(6),"type":"job.submit","payload":{"agent":"echo","parent_job_id":parent,"lease_request":{"fs.read":["/project/a"]}}}),
    );
    let out = h.take_json(c);
    assert_eq!(out[0]["type"], "job.accepted");
    assert_eq!(out[0]["payload"]["parent_job_id"], parent.as_str());
    h.send(
        c,
        json!({"id":eid(7),"type":"job.submit","payload":{"agent":"echo","parent_job_id":"job_nope"}}),
    );
    assert_eq!(h.take_json(c)[0]["payload"]["code"], "JOB_NOT_FOUND");
    // The child is listed with parent_job_id.
    h.send(
        c,
        json!({"id":eid(8),"type":"session.list_jobs","payload":{}}),
    );
    let out = h.take_json(c);
    assert_eq!(
        out[0]["payload"]["jobs"][1]["parent_job_id"],
        parent.as_str()
    );
}

#[test]
fn credentials_minted_before_accepted_rotated_and_revoked() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    h.auto = false;
    let p = json!({"agent":"rotator","lease_request":{"model.use":["tier-fast/*"],"cost.budget":["USD:1.00"]}});
    h.send(c, json!({"id":eid(1),"type":"job.submit","payload":p}));
    assert!(h.take(c).is_empty(), "accepted waits for the credentials");
    let (id, e) = h.effects.remove(0);
    assert!(matches!(e, Effect::MintCredentials { .. }));
    h.auto = true;
    let creds = vec![arcp_proto::wire::Credential {
        id: "cred_1".into(),
        scheme: "bearer".into(),
        value: "secret-1".into(),
        endpoint: Some("https://llm-gateway.invalid/v1".into()),
        profile: None,
        constraints: None,
    }];
    h.rt.handle_effect_result(h.now, id, EffectOutcome::Minted { credentials: creds });
    h.drain();
    let out = h.take_json(c);
    assert_eq!(out[0]["type"], "job.accepted");
    assert_eq!(out[0]["payload"]["credentials"][0]["value"], "secret-1");
    let job = arcp_proto::wire::JobId::from(out[0]["job_id"].as_str().unwrap());
    let (co, _, _) = h.hello(2, "auditor-token", &ALL);
    h.send(
        co,
        json!({"id":eid(2),"type":"job.subscribe","payload":{"job_id":job}}),
    );
    let sub = h.take_json(co);
    assert!(sub[0]["payload"].get("credentials").is_none());
    h.rt.handle_agent_event(
        h.now,
        &job,
        AgentEvent::CredentialRotated {
            id: "cred_1".into(),
            value: "secret-2".into(),
        },
    )
    .unwrap();
    h.drain();
    let own = h.take_json(c);
    assert_eq!(own[0]["payload"]["body"]["phase"], "credential_rotated");
    assert_eq!(own[0]["payload"]["body"]["value"], "secret-2");
    let obs = h.take_json(co);
    assert_eq!(obs[0]["payload"]["body"]["id"], "cred_1");
    assert!(obs[0]["payload"]["body"].get("value").is_none());
    // The rotated-out value was revoked at once.
    assert!(h.all_effects.contains(&Effect::RevokeCredential {
        job_id: job.clone(),
        credential_id: "cred_1".into(),
        value: Some("secret-1".into()),
    }));
    // Revoked at the end; failures retried by the core with backoff (1 s, 2 s), then
    // reported.
    h.auto = false;
    h.rt.handle_agent_event(h.now, &job, ok()).unwrap();
    h.drain();
    for attempt in 1..=3u32 {
        let (id, e) = h.effects.pop().unwrap();
        assert_eq!(
            e,
            Effect::RevokeCredential {
                job_id: job.clone(),
                credential_id: "cred_1".into(),
                value: Some("secret-2".into()),
            },
            "attempt {attempt}"
        );
        h.rt.handle_effect_result(
            h.now,
            id,
            EffectOutcome::Failed {
                message: "down".into(),
            },
        );
        h.drain();
        if attempt < 3 {
            let wait = Duration::from_secs(1 << (attempt - 1));
            h.advance(wait - Duration::from_millis(1));
            assert!(h.effects.is_empty(), "attempt {attempt}: retried early");
            h.advance(Duration::from_millis(1));
        }
    }
    assert!(h.effects.is_empty());
    assert!(
        h.events
            .contains(&RuntimeEvent::CredentialRevocationFailed {
                job_id: job.clone(),
                credential_id: "cred_1".into(),
                message: "down".into()
            })
    );
}

#[test]
fn no_credentials_without_the_feature() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &["model.use"]);
    h.send(
        c,
        json!({"id":eid(1),"type":"job.submit","payload":{"agent":"rotator","lease_request":{"model.use":["tier-fast/*"]}}}),
    );
    let out = h.take_json(c);
    assert!(out[0]["payload"].get("credentials").is_none());
    assert!(
        !h.all_effects
            .iter()
            .any(|e| matches!(e, Effect::MintCredentials { .. }))
    );
}

#[test]
fn idempotent_resubmit_while_credentials_are_minted_waits_for_the_job_d27() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    h.auto = false;
    let p = json!({"agent":"rotator","idempotency_key":"k","lease_request":{"model.use":["m/*"]}});
    h.send(c, json!({"id":eid(1),"type":"job.submit","payload":p}));
    h.send(c, json!({"id":eid(2),"type":"job.submit","payload":p}));
    assert!(h.take(c).is_empty());
    let mints: Vec<_> = h
        .effects
        .iter()
        .filter(|(_, e)| matches!(e, Effect::MintCredentials { .. }))
        .cloned()
        .collect();
    assert_eq!(mints.len(), 1, "one job, one mint");
    h.effects.clear();
    h.rt.handle_effect_result(
        h.now,
        mints[0].0,
        EffectOutcome::Minted {
            credentials: vec![],
        },
    );
    h.drain();
    let out = h.take_json(c);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["payload"]["request_id"], eid(2).as_str());
    assert_eq!(out[1]["payload"]["request_id"], eid(1).as_str());
    assert_eq!(out[0]["job_id"], out[1]["job_id"]);
    // A failed mint answers every waiter and frees the key.
    h.send(c, json!({"id":eid(3),"type":"job.submit","payload":{"agent":"rotator","idempotency_key":"k2","lease_request":{"model.use":["m/*"]}}}));
    h.send(c, json!({"id":eid(4),"type":"job.submit","payload":{"agent":"rotator","idempotency_key":"k2","lease_request":{"model.use":["m/*"]}}}));
    let (id, _) = h
        .effects
        .iter()
        .find(|(_, e)| matches!(e, Effect::MintCredentials { .. }))
        .cloned()
        .unwrap();
    h.effects.clear();
    h.rt.handle_effect_result(
        h.now,
        id,
        EffectOutcome::Failed {
            message: "down".into(),
        },
    );
    h.drain();
    let out = h.take_json(c);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|v| v["payload"]["code"] == "INTERNAL_ERROR"));
    h.send(c, json!({"id":eid(5),"type":"job.submit","payload":{"agent":"rotator","idempotency_key":"k2","lease_request":{"model.use":["m/*"]}}}));
    assert!(
        h.effects
            .iter()
            .any(|(_, e)| matches!(e, Effect::MintCredentials { .. }))
    );
}

#[test]
fn progress_current_must_be_a_non_negative_number_d33() {
    use arcp_proto::wire::ProgressBody;
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
    let progress = |current: serde_json::Number, total: Option<serde_json::Number>| {
        AgentEvent::Event(EventBody::Progress(ProgressBody {
            current,
            total,
            units: None,
            message: None,
            extra: Default::default(),
        }))
    };
    let n = |v: f64| serde_json::Number::from_f64(v).unwrap();
    for bad in [progress(n(-1.0), None), progress(n(1.0), Some(n(-2.0)))] {
        let e = h.rt.handle_agent_event(h.now, &job, bad).unwrap_err();
        assert_eq!((e.code, e.retryable), (ErrorCode::InvalidRequest, false));
    }
    h.drain();
    assert!(h.take(c).is_empty(), "a refused progress emits nothing");
    h.rt.handle_agent_event(h.now, &job, progress(n(2.5), Some(10.into())))
        .unwrap();
    h.drain();
    let out = h.take_json(c);
    assert_eq!(out[0]["payload"]["body"], json!({"current":2.5,"total":10}));
    assert_eq!(out[0]["event_seq"], json!(1));
}

#[test]
fn trace_id_is_forwarded_to_the_agent_the_credentials_and_a_child_job() {
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut h = Host::contract();
    let (c, sid, _) = h.hello(1, "alice-token", &ALL);
    h.send(
        c,
        json!({"id":eid(1),"type":"job.submit","trace_id":TRACE,
               "payload":{"agent":"delegator","lease_request":{"agent.delegate":["echo"],"model.use":["tier-fast/*"]}}}),
    );
    let parent = arcp_proto::wire::JobId::from(h.take_json(c)[0]["job_id"].as_str().unwrap());
    let minted: Vec<_> = h
        .all_effects
        .iter()
        .filter_map(|e| match e {
            Effect::MintCredentials {
                job_id, trace_id, ..
            } => Some((job_id.clone(), trace_id.map(|t| t.to_string()))),
            _ => None,
        })
        .collect();
    assert_eq!(minted, vec![(parent.clone(), Some(TRACE.to_owned()))]);
    let reply =
        h.rt.handle_agent_event(
            h.now,
            &parent,
            AgentEvent::Delegate {
                agent: AgentRef::parse("echo").unwrap(),
                input: Value::Null,
                lease: LeaseMap::default(),
                lease_constraints: None,
            },
        )
        .unwrap();
    let AgentReply::Delegated { child_job_id } = reply else {
        panic!()
    };
    h.drain();
    let starts: Vec<_> = h
        .all_effects
        .iter()
        .filter_map(|e| match e {
            Effect::StartAgent(s) => Some((
                s.job_id.clone(),
                s.session_id.clone(),
                s.parent_job_id.clone(),
                s.trace_id.map(|t| t.to_string()),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        vec![
            (parent.clone(), sid.clone(), None, Some(TRACE.to_owned())),
            (child_job_id, sid, Some(parent), Some(TRACE.to_owned())),
        ]
    );
}
