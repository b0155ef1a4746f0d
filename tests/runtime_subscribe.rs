//! list_jobs (§6.6, D11) and subscribe / unsubscribe (§7.6, D9, D10, D37).

mod runtime_support;

use arcp_proto::runtime::AgentEvent;
use arcp_proto::wire::{EventBody, LogBody};
use runtime_support::*;
use serde_json::json;
use std::time::Duration;

fn log(msg: &str) -> AgentEvent {
    AgentEvent::Event(EventBody::Log(LogBody {
        level: "info".into(),
        message: msg.into(),
        attributes: None,
        extra: Default::default(),
    }))
}

#[test]
fn list_jobs_filters_pages_and_carries_d11_fields() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let a = h.submit(c, &eid(1), json!({"agent":"echo"}));
    h.advance(Duration::from_millis(10));
    let b = h.submit(c, &eid(2), json!({"agent":"slow"}));
    h.advance(Duration::from_millis(10));
    let v = h.submit(c, &eid(3), json!({"agent":"versioned"}));
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
    let (cb, _, _) = h.hello(2, "bob-token", &ALL);
    h.submit(cb, &eid(4), json!({"agent":"echo"}));
    h.send(
        c,
        json!({"id":eid(10),"type":"session.list_jobs","payload":{}}),
    );
    let out = h.take_json(c);
    let p = &out[0]["payload"];
    assert_eq!(p["request_id"], eid(10).as_str());
    let ids: Vec<&str> = p["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a.as_str(), b.as_str(), v.as_str()]);
    let first = &p["jobs"][0];
    assert_eq!(first["status"], "success");
    assert_eq!(first["agent"], "echo@1.0.0");
    assert_eq!(first["submitted_at"], "2026-11-24T01:30:25Z");
    assert_eq!(first["created_at"], "2026-11-24T01:30:25Z");
    assert_eq!(first["lease"], json!({}));
    assert_eq!(first["last_event_seq"], 1);
    assert!(p.get("next_cursor").is_none());
    // Filters.
    h.send(c, json!({"id":eid(11),"type":"session.list_jobs","payload":{"filter":{"status":["running"],"agent":"versioned@2.0.0"}}}));
    let out = h.take_json(c);
    assert_eq!(out[0]["payload"]["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(out[0]["payload"]["jobs"][0]["job_id"], v.as_str());
    h.send(c, json!({"id":eid(12),"type":"session.list_jobs","payload":{"filter":{"created_after":"2026-11-24T01:30:25.005Z"}}}));
    assert_eq!(
        h.take_json(c)[0]["payload"]["jobs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Paging with limit 1.
    let mut cursor = None;
    let mut seen = Vec::new();
    for n in 0..5u32 {
        let mut payload = json!({"limit":1});
        if let Some(cur) = &cursor {
            payload["cursor"] = json!(cur);
        }
        h.send(
            c,
            json!({"id":eid(20 + n),"type":"session.list_jobs","payload":payload}),
        );
        let out = h.take_json(c);
        seen.push(
            out[0]["payload"]["jobs"][0]["job_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        match out[0]["payload"].get("next_cursor") {
            Some(c) => cursor = Some(c.as_str().unwrap().to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, vec![a.clone(), b.clone(), v.clone()]);
    // limit 0: INVALID_REQUEST.
    h.send(
        c,
        json!({"id":eid(30),"type":"session.list_jobs","payload":{"limit":0}}),
    );
    assert_eq!(h.take_json(c)[0]["payload"]["code"], "INVALID_REQUEST");
    // The observer sees everything.
    let (co, _, _) = h.hello(3, "auditor-token", &ALL);
    h.send(
        co,
        json!({"id":eid(31),"type":"session.list_jobs","payload":{}}),
    );
    assert_eq!(
        h.take_json(co)[0]["payload"]["jobs"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn subscribe_with_history_d9_d10() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(
        c,
        &eid(1),
        json!({"agent":"slow","lease_request":{"cost.budget":["USD:2.00"]},"lease_constraints":{"expires_at":"2026-11-24T02:00:00Z"}}),
    );
    for i in 0..3 {
        h.rt.handle_agent_event(h.now, &job, log(&format!("e{i}")))
            .unwrap();
    }
    h.drain();
    let own = h.take_json(c);
    let (c2, sid2, _) = h.hello(2, "alice-token", &ALL);
    // The subscriber has its own job first: seq 1 in its space.
    let mine = h.submit(c2, &eid(2), json!({"agent":"echo"}));
    h.rt.handle_agent_event(h.now, &mine, log("mine")).unwrap();
    h.drain();
    assert_eq!(seqs(&h.take(c2)), vec![1]);
    h.send(
        c2,
        json!({"id":eid(3),"type":"job.subscribe","payload":{"job_id":job,"history":true,"from_event_seq":1}}),
    );
    let out = h.take_json(c2);
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["type"], "job.subscribed");
    let p = &out[0]["payload"];
    assert_eq!(p["request_id"], eid(3).as_str());
    assert_eq!(p["current_status"], "running");
    assert_eq!(p["replayed"], 2);
    assert_eq!(p["subscribed_from"], 3);
    assert_eq!(p["budget"], json!({"USD":"USD:2.00"}));
    assert_eq!(
        p["lease_constraints"],
        json!({"expires_at":"2026-11-24T02:00:00Z"})
    );
    assert_eq!(out[1]["event_seq"], 2);
    assert_eq!(out[2]["event_seq"], 3);
    assert_eq!(out[1]["payload"], own[1]["payload"]);
    assert_eq!(out[1]["session_id"], sid2.as_str());
    // Live frames follow, renumbered; the terminal ends the subscription.
    h.rt.handle_agent_event(h.now, &job, log("live")).unwrap();
    h.rt.handle_agent_event(
        h.now,
        &job,
        AgentEvent::Result {
            result: None,
            summary: None,
        },
    )
    .unwrap();
    h.rt.handle_agent_event(h.now, &mine, log("mine2")).unwrap();
    h.drain();
    let live = h.take(c2);
    assert_eq!(seqs(&live), vec![4, 5, 6]);
    assert_eq!(seqs(&h.take(c)), vec![4, 5]);
}

#[test]
fn subscribe_refusals_d37_and_subscriber_cannot_cancel() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
    let (cb, _, _) = h.hello(2, "bob-token", &ALL);
    for (n, j) in [(2, job.as_str()), (3, "job_missing")] {
        h.send(
            cb,
            json!({"id":eid(n),"type":"job.subscribe","payload":{"job_id":j}}),
        );
        let out = h.take_json(cb);
        assert_eq!(out[0]["payload"]["code"], "PERMISSION_DENIED");
    }
    let (co, _, _) = h.hello(3, "auditor-token", &ALL);
    h.send(
        co,
        json!({"id":eid(4),"type":"job.subscribe","payload":{"job_id":job}}),
    );
    let out = h.take_json(co);
    assert_eq!(out[0]["type"], "job.subscribed");
    assert_eq!(out[0]["payload"]["replayed"], 0);
    h.send(
        co,
        json!({"id":eid(5),"type":"job.cancel","job_id":job,"payload":{"reason":"x"}}),
    );
    assert_eq!(h.take_json(co)[0]["payload"]["code"], "PERMISSION_DENIED");
    // Unsubscribe: nothing more arrives.
    h.send(
        co,
        json!({"id":eid(6),"type":"job.unsubscribe","payload":{"job_id":job}}),
    );
    h.rt.handle_agent_event(h.now, &job, log("after")).unwrap();
    h.drain();
    assert!(h.take(co).is_empty());
    assert_eq!(seqs(&h.take(c)), vec![1]);
}

#[test]
fn subscriptions_are_bounded() {
    let mut cfg = contract_config();
    cfg.bounds.max_subscriptions_per_session = 1;
    let mut h = Host::new(cfg);
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let a = h.submit(c, &eid(1), json!({"agent":"slow"}));
    let b = h.submit(c, &eid(2), json!({"agent":"slow"}));
    let (c2, _, _) = h.hello(2, "alice-token", &ALL);
    h.send(
        c2,
        json!({"id":eid(3),"type":"job.subscribe","payload":{"job_id":a}}),
    );
    assert_eq!(h.take_json(c2)[0]["type"], "job.subscribed");
    h.send(
        c2,
        json!({"id":eid(4),"type":"job.subscribe","payload":{"job_id":b}}),
    );
    let out = h.take_json(c2);
    assert_eq!(out[0]["payload"]["code"], "INTERNAL_ERROR");
    assert_eq!(out[0]["payload"]["request_id"], eid(4).as_str());
}
