//! Jobs (§7, D6, D7, D8, D27, D34, D37): submit, events, terminals, cancel, timeout.

mod runtime_support;

use arcp_proto::runtime::{AgentEvent, Effect, RuntimeEvent};
use arcp_proto::wire::{
    ErrorCode, EventBody, JobStatus, LogBody, Message, MetricBody, MetricValue,
};
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

fn done(v: Value) -> AgentEvent {
    AgentEvent::Result {
        result: Some(v),
        summary: None,
    }
}

#[test]
fn submit_accepts_then_starts_the_agent_and_streams_gap_free() {
    let mut h = Host::contract();
    let (c, sid, _) = h.hello(1, "alice-token", &ALL);
    h.send(
        c,
        json!({"arcp":"1.1","id":eid(1),"type":"job.submit","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",
               "payload":{"agent":"echo","input":{"x":1}}}),
    );
    let out = h.take_json(c);
    assert_eq!(out.len(), 1);
    let acc = &out[0];
    assert_eq!(acc["type"], "job.accepted");
    assert_eq!(acc["session_id"], sid.as_str());
    assert_eq!(acc["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(acc["payload"]["agent"], "echo@1.0.0");
    assert_eq!(acc["payload"]["request_id"], eid(1).as_str());
    assert_eq!(acc["payload"]["lease"], json!({}));
    assert_eq!(
        acc["payload"]["trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert!(acc.get("event_seq").is_none());
    let job = arcp_proto::wire::JobId::from(acc["job_id"].as_str().unwrap());
    assert_eq!(acc["payload"]["job_id"], job.as_str());
    let Some(Effect::StartAgent(start)) = h.all_effects.last() else {
        panic!()
    };
    assert_eq!(start.job_id, job);
    assert_eq!(start.input, json!({"x":1}));
    assert_eq!(start.agent.to_string(), "echo@1.0.0");

    // Second job; events of both share one gap-free seq space.
    let job2 = h.submit(c, &eid(2), json!({"agent":"chatty"}));
    h.rt.handle_agent_event(h.now, &job, log("a")).unwrap();
    h.rt.handle_agent_event(h.now, &job2, log("b")).unwrap();
    h.rt.handle_agent_event(h.now, &job, done(json!({"x":1})))
        .unwrap();
    h.rt.handle_agent_event(h.now, &job2, done(Value::Null))
        .unwrap();
    h.drain();
    let frames = h.take(c);
    assert_eq!(seqs(&frames), vec![1, 2, 3, 4]);
    assert_eq!(
        types(&frames),
        vec!["job.event", "job.event", "job.result", "job.result"]
    );
    let j: Vec<Value> = frames
        .iter()
        .map(|f| serde_json::from_slice(&f.encode()).unwrap())
        .collect();
    assert_eq!(j[2]["payload"]["result"], json!({"x":1}));
    assert_eq!(j[2]["payload"]["final_status"], "success");
    assert_eq!(j[2]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    // D34: a null result has no `result` key.
    assert!(j[3]["payload"].get("result").is_none());
    // Nothing after the terminal: the agent is told the job ended.
    let e =
        h.rt.handle_agent_event(h.now, &job, log("late"))
            .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    h.drain();
    assert!(h.take(c).is_empty());
    assert!(h.events.contains(&RuntimeEvent::JobEnded {
        job_id: job.clone(),
        status: JobStatus::Success,
        parent_job_id: None,
        // Held once: a client-submitted job's result is not copied out of the runtime.
        result: None,
        error_code: None,
    }));
}

#[test]
fn agent_resolution_errors() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let cases = [
        ("nope", "AGENT_NOT_AVAILABLE"),
        ("unknown@1.0.0", "AGENT_NOT_AVAILABLE"),
        ("versioned@3.0.0", "AGENT_VERSION_NOT_AVAILABLE"),
    ];
    for (i, (agent, code)) in cases.iter().enumerate() {
        h.send(
            c,
            json!({"id":eid(i as u32),"type":"job.submit","payload":{"agent":agent}}),
        );
        let out = h.take_json(c);
        assert_eq!(out[0]["type"], "session.error");
        assert_eq!(out[0]["payload"]["code"], *code);
        assert_eq!(out[0]["payload"]["request_id"], eid(i as u32).as_str());
    }
    h.send(
        c,
        json!({"id":eid(10),"type":"job.submit","payload":{"agent":"versioned"}}),
    );
    assert_eq!(h.take_json(c)[0]["payload"]["agent"], "versioned@2.0.0");
    h.send(
        c,
        json!({"id":eid(11),"type":"job.submit","payload":{"agent":"versioned@1.0.0"}}),
    );
    assert_eq!(h.take_json(c)[0]["payload"]["agent"], "versioned@1.0.0");
}

#[test]
fn lease_validation_on_submit() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    for (i, payload) in [
        json!({"agent":"echo","lease_request":{"bogus.ns":["x"]}}),
        json!({"agent":"echo","lease_constraints":{"expires_at":"2020-01-01T00:00:00Z"}}),
    ]
    .into_iter()
    .enumerate()
    {
        h.send(
            c,
            json!({"id":eid(i as u32),"type":"job.submit","payload":payload}),
        );
        let out = h.take_json(c);
        assert_eq!(out[0]["payload"]["code"], "INVALID_REQUEST", "{i}");
        assert_eq!(out[0]["payload"]["retryable"], false);
    }
    h.send(
        c,
        json!({"id":eid(5),"type":"job.submit","payload":{"agent":"budget",
            "lease_request":{"tool.call":["paid-tool"],"cost.budget":["USD:1.00","USD:2.5","credits:1000"]},
            "lease_constraints":{"expires_at":"2026-11-24T01:40:00Z"}}}),
    );
    let out = h.take_json(c);
    assert_eq!(
        out[0]["payload"]["budget"],
        json!({"USD":"USD:3.50","credits":"credits:1000"})
    );
    assert_eq!(
        out[0]["payload"]["lease_constraints"],
        json!({"expires_at":"2026-11-24T01:40:00Z"})
    );
}

#[test]
fn idempotent_resubmit_d27() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let p = json!({"agent":"echo","input":1,"idempotency_key":"k1"});
    h.send(c, json!({"id":eid(1),"type":"job.submit","payload":p}));
    let first = h.take_json(c).remove(0);
    let job = arcp_proto::wire::JobId::from(first["job_id"].as_str().unwrap());
    // While running: same accepted payload except request_id, fresh envelope, no terminal.
    h.send(c, json!({"id":eid(2),"type":"job.submit","payload":p}));
    let again = h.take_json(c);
    assert_eq!(again.len(), 1);
    let mut expect = first["payload"].clone();
    expect["request_id"] = json!(eid(2));
    assert_eq!(again[0]["payload"], expect);
    assert_ne!(again[0]["id"], first["id"]);
    assert_eq!(h.started_jobs().len(), 1);
    h.rt.handle_agent_event(h.now, &job, done(json!(1)))
        .unwrap();
    h.drain();
    assert_eq!(seqs(&h.take(c)), vec![1]);
    // From another session of the same principal, after the end: accepted + terminal copy.
    let (c2, sid2, _) = h.hello(2, "alice-token", &ALL);
    h.send(c2, json!({"id":eid(3),"type":"job.submit","payload":p}));
    let out = h.take_json(c2);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["type"], "job.accepted");
    assert_eq!(out[0]["session_id"], sid2.as_str());
    assert_eq!(out[1]["type"], "job.result");
    assert_eq!(out[1]["event_seq"], 1);
    assert_eq!(out[1]["session_id"], sid2.as_str());
    assert_eq!(out[1]["payload"]["result"], 1);
    // Conflicting params: DUPLICATE_KEY.
    h.send(
        c2,
        json!({"id":eid(4),"type":"job.submit","payload":{"agent":"echo","input":2,"idempotency_key":"k1"}}),
    );
    let out = h.take_json(c2);
    assert_eq!(out[0]["payload"]["code"], "DUPLICATE_KEY");
    // Another principal: its own scope.
    let (c3, _, _) = h.hello(3, "bob-token", &ALL);
    h.send(c3, json!({"id":eid(5),"type":"job.submit","payload":p}));
    let out = h.take_json(c3);
    assert_ne!(out[0]["job_id"], job.as_str());
    assert_eq!(h.started_jobs().len(), 2);
}

#[test]
fn cancel_only_from_the_submitting_session_d6_d7_d37() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
    let (c2, _, _) = h.hello(2, "alice-token", &ALL);
    let (c3, _, _) = h.hello(3, "bob-token", &ALL);
    let cancel = |n: u32, job: &str| json!({"id":eid(n),"type":"job.cancel","job_id":job,"payload":{"reason":"stop"}});
    h.send(c2, cancel(2, &job));
    let out = h.take_json(c2);
    assert_eq!(out[0]["payload"]["code"], "PERMISSION_DENIED");
    assert_eq!(out[0]["payload"]["request_id"], eid(2).as_str());
    h.send(c3, cancel(3, &job));
    assert_eq!(h.take_json(c3)[0]["payload"]["code"], "JOB_NOT_FOUND");
    h.send(c3, cancel(4, "job_missing"));
    assert_eq!(h.take_json(c3)[0]["payload"]["code"], "JOB_NOT_FOUND");
    h.send(c, cancel(5, &job));
    let out = h.take_json(c);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["type"], "job.result");
    assert_eq!(out[0]["job_id"], job.as_str());
    assert_eq!(out[0]["event_seq"], 1);
    assert_eq!(out[0]["payload"]["final_status"], "cancelled");
    assert!(h.all_effects.contains(&Effect::CancelAgent {
        job_id: job.clone()
    }));
    // Cancelling a finished job does nothing.
    h.send(c, cancel(6, &job));
    assert!(h.take(c).is_empty());
    // No envelope job_id: INVALID_REQUEST.
    h.send(c, json!({"id":eid(7),"type":"job.cancel","payload":{}}));
    assert_eq!(h.take_json(c)[0]["payload"]["code"], "INVALID_REQUEST");
}

#[test]
fn max_runtime_ends_timed_out_d8() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    let job = h.submit(c, &eid(1), json!({"agent":"slow","max_runtime_sec":1}));
    h.advance(Duration::from_millis(999));
    assert!(h.take(c).is_empty());
    h.advance(Duration::from_millis(1));
    let out = h.take_json(c);
    assert_eq!(out[0]["payload"]["final_status"], "timed_out");
    assert!(h.all_effects.contains(&Effect::CancelAgent { job_id: job }));
}

#[test]
fn failing_agent_and_typed_errors() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    let a = h.submit(c, &eid(1), json!({"agent":"failing"}));
    let b = h.submit(
        c,
        &eid(2),
        json!({"agent":"failing","input":{"code":"PERMISSION_DENIED"}}),
    );
    h.rt.handle_agent_event(
        h.now,
        &a,
        AgentEvent::Error {
            code: ErrorCode::InternalError,
            message: "boom".into(),
            retryable: None,
        },
    )
    .unwrap();
    h.rt.handle_agent_event(
        h.now,
        &b,
        AgentEvent::Error {
            code: ErrorCode::PermissionDenied,
            message: "no".into(),
            retryable: None,
        },
    )
    .unwrap();
    h.drain();
    let out = h.take_json(c);
    assert_eq!(out[0]["type"], "job.error");
    assert_eq!(out[0]["payload"]["final_status"], "error");
    assert_eq!(out[0]["payload"]["code"], "INTERNAL_ERROR");
    assert_eq!(out[0]["payload"]["retryable"], true);
    assert_eq!(out[1]["payload"]["code"], "PERMISSION_DENIED");
    assert_eq!(out[1]["payload"]["retryable"], false);
    assert_eq!(seqs(&h.take(c)), Vec::<u64>::new());
}

#[test]
fn start_agent_failure_ends_the_job_internal_error() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    h.auto = false;
    h.send(
        c,
        json!({"id":eid(1),"type":"job.submit","payload":{"agent":"echo"}}),
    );
    let _ = h.take(c);
    let (id, e) = h.effects.pop().unwrap();
    assert!(matches!(e, Effect::StartAgent(_)));
    h.rt.handle_effect_result(
        h.now,
        id,
        arcp_proto::runtime::EffectOutcome::Failed {
            message: "spawn failed".into(),
        },
    );
    h.drain();
    let out = h.take_json(c);
    assert_eq!(out[0]["payload"]["code"], "INTERNAL_ERROR");
    assert_eq!(out[0]["payload"]["message"], "spawn failed");
}

#[test]
fn metric_values_go_out_as_floats() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    let job = h.submit(c, &eid(1), json!({"agent":"chatty"}));
    h.rt.handle_agent_event(
        h.now,
        &job,
        AgentEvent::Event(EventBody::Metric(MetricBody {
            name: "rounds.completed".into(),
            value: MetricValue::Number(1.into()),
            unit: Some("count".into()),
            attributes: None,
            extra: Default::default(),
        })),
    )
    .unwrap();
    h.drain();
    let f = h.take(c);
    assert!(
        String::from_utf8(f[0].encode())
            .unwrap()
            .contains("\"value\":1.0")
    );
    let Message::Event(_) = &f[0].message else {
        panic!()
    };
}
