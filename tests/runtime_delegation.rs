//! Contained delegation (§10): who may attach a child, budget reservations and their
//! settlement, and a parent's end cancelling its live children, recursively.

mod runtime_support;

use arcp_proto::runtime::{AgentEvent, AgentReply, Effect, RuntimeEvent};
use arcp_proto::wire::{AgentRef, ErrorCode, EventBody, JobId, LeaseMap, MetricBody, MetricValue};
use runtime_support::*;
use serde_json::{Value, json};

fn cost(v: &str) -> AgentEvent {
    AgentEvent::Event(EventBody::Metric(MetricBody {
        name: "cost.inference".into(),
        value: MetricValue::Text(v.into()),
        unit: Some("USD".into()),
        attributes: None,
        extra: Default::default(),
    }))
}

fn budget(h: &Host, job: &JobId) -> String {
    serde_json::to_string(&h.rt.job_budget(job)).unwrap()
}

/// (code, message) of the single error frame on `c`.
fn refusal(h: &mut Host, c: arcp_proto::runtime::ConnId) -> (String, String) {
    let out = h.take_json(c);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["type"], "session.error", "{out:?}");
    (
        out[0]["payload"]["code"].as_str().unwrap().to_owned(),
        out[0]["payload"]["message"].as_str().unwrap().to_owned(),
    )
}

const PARENT: &str = r#"{"agent.delegate":["echo","delegator"],"fs.read":["/project/**"],"model.use":["tier-fast/*"],"cost.budget":["USD:2.00"]}"#;

#[test]
fn who_may_attach_a_child_to_a_parent() {
    let mut h = Host::contract();
    let (a, _, _) = h.hello(1, "alice-token", &ALL);
    let (b, _, _) = h.hello(2, "bob-token", &ALL);
    let (o, _, _) = h.hello(3, "auditor-token", &ALL);
    let lease: Value = serde_json::from_str(PARENT).unwrap();
    let parent = h.submit(
        a,
        &eid(1),
        json!({"agent":"delegator","lease_request":lease}),
    );
    let child = |agent: &str| json!({"agent":agent,"parent_job_id":parent,"lease_request":{"fs.read":["/project/a"]}});
    // The parent's lease does not delegate to `chatty`.
    h.send(
        a,
        json!({"id":eid(2),"type":"job.submit","payload":child("chatty")}),
    );
    assert_eq!(
        refusal(&mut h, a),
        (
            "PERMISSION_DENIED".into(),
            "operation agent.delegate:chatty not permitted by lease".into()
        )
    );
    // bob cannot see the parent: no existence leak (D37).
    h.send(
        b,
        json!({"id":eid(3),"type":"job.submit","payload":child("echo")}),
    );
    assert_eq!(
        refusal(&mut h, b),
        (
            "JOB_NOT_FOUND".into(),
            format!("parent job {:?} not found", parent.as_str())
        )
    );
    // The auditor can see the parent but does not own it.
    h.send(
        o,
        json!({"id":eid(4),"type":"job.submit","payload":child("echo")}),
    );
    assert_eq!(
        refusal(&mut h, o),
        (
            "PERMISSION_DENIED".into(),
            "only the parent job's principal may attach children to it".into()
        )
    );
    // The parent's own principal may, from another session too.
    let (a2, _, _) = h.hello(4, "alice-token", &ALL);
    let kid = h.submit(a2, &eid(5), child("echo"));
    assert_eq!(h.rt.check_delegation(), Ok(()));
    // A parent that has ended refuses children; its live child was cancelled with it.
    h.rt.handle_agent_event(
        h.now,
        &parent,
        AgentEvent::Result {
            result: None,
            summary: None,
        },
    )
    .unwrap();
    h.drain();
    let out = h.take_json(a2);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        (
            &out[0]["type"],
            &out[0]["job_id"],
            &out[0]["payload"]["final_status"]
        ),
        (
            &json!("job.result"),
            &json!(kid.as_str()),
            &json!("cancelled")
        )
    );
    assert_eq!(h.take_json(a)[0]["payload"]["final_status"], "success");
    h.send(
        a,
        json!({"id":eid(7),"type":"job.submit","payload":child("echo")}),
    );
    assert_eq!(
        refusal(&mut h, a),
        ("INVALID_REQUEST".into(), "the parent job has ended".into())
    );
    assert_eq!(h.rt.check_delegation(), Ok(()));
}

#[test]
fn a_child_reserves_its_budget_and_returns_what_it_did_not_spend() {
    let mut h = Host::contract();
    let (a, _, _) = h.hello(1, "alice-token", &ALL);
    let lease: Value = serde_json::from_str(PARENT).unwrap();
    let parent = h.submit(
        a,
        &eid(1),
        json!({"agent":"delegator","lease_request":lease}),
    );
    let child = |usd: &str| json!({"agent":"echo","parent_job_id":parent,"lease_request":{"cost.budget":[usd]}});
    let k1 = h.submit(a, &eid(2), child("USD:0.50"));
    assert_eq!(budget(&h, &parent), r#"{"USD":"USD:1.50"}"#);
    assert_eq!(budget(&h, &k1), r#"{"USD":"USD:0.50"}"#);
    // A second child cannot take more than the parent has left.
    h.send(
        a,
        json!({"id":eid(3),"type":"job.submit","payload":child("USD:1.60")}),
    );
    assert_eq!(refusal(&mut h, a).0, "LEASE_SUBSET_VIOLATION");
    // A child naming no amount reserves all the parent has left.
    let k2 = h.submit(
        a,
        &eid(4),
        json!({"agent":"echo","parent_job_id":parent,"lease_request":{}}),
    );
    assert_eq!(budget(&h, &parent), r#"{"USD":"USD:0.00"}"#);
    assert_eq!(budget(&h, &k2), r#"{"USD":"USD:1.50"}"#);
    // The parent's job.subscribed shows its counter, reservations excluded.
    let (o, _, _) = h.hello(2, "auditor-token", &ALL);
    h.send(
        o,
        json!({"id":eid(5),"type":"job.subscribe","payload":{"job_id":parent}}),
    );
    let sub = h.take_json(o);
    assert_eq!(sub[0]["payload"]["budget"], json!({"USD":"USD:0.00"}));
    assert_eq!(h.rt.check_delegation(), Ok(()));
    // k2 gives back its reservation unspent; k1 spends 0.20 of 0.50, k2 nothing.
    h.rt.handle_agent_event(h.now, &k1, cost("0.20")).unwrap();
    h.rt.handle_agent_event(
        h.now,
        &k1,
        AgentEvent::Result {
            result: None,
            summary: None,
        },
    )
    .unwrap();
    h.drain();
    assert_eq!(budget(&h, &parent), r#"{"USD":"USD:0.30"}"#);
    h.rt.handle_agent_event(
        h.now,
        &k2,
        AgentEvent::Result {
            result: None,
            summary: None,
        },
    )
    .unwrap();
    h.drain();
    assert_eq!(budget(&h, &parent), r#"{"USD":"USD:1.80"}"#);
    // An overspending child is charged to the parent.
    h.take_json(a);
    let k3 = h.submit(a, &eid(6), child("USD:0.50"));
    h.rt.handle_agent_event(h.now, &k3, cost("0.70")).unwrap();
    h.rt.handle_agent_event(
        h.now,
        &k3,
        AgentEvent::Result {
            result: None,
            summary: None,
        },
    )
    .unwrap();
    h.drain();
    assert_eq!(budget(&h, &parent), r#"{"USD":"USD:1.10"}"#);
    assert_eq!(h.rt.check_delegation(), Ok(()));
}

#[test]
fn a_parents_end_cancels_its_children_recursively_and_revokes_their_credentials() {
    let mut h = Host::contract();
    let (a, _, _) = h.hello(1, "alice-token", &ALL);
    let lease: Value = serde_json::from_str(PARENT).unwrap();
    let parent = h.submit(
        a,
        &eid(1),
        json!({"agent":"delegator","lease_request":lease,"lease_constraints":{"expires_at":"2026-11-24T02:00:00Z"}}),
    );
    // A child with credentials (model.use), which delegates a grandchild.
    let kid = h.submit(
        a,
        &eid(2),
        json!({"agent":"delegator","parent_job_id":parent,"lease_request":{"agent.delegate":["echo"],"model.use":["tier-fast/*"],"cost.budget":["USD:1.00"]}}),
    );
    // Its credentials are minted for its reservation and the expiry it inherits.
    let mint = h
        .all_effects
        .iter()
        .filter_map(|e| match e {
            Effect::MintCredentials {
                job_id,
                budget,
                expires_at,
                ..
            } if *job_id == kid => Some((
                serde_json::to_string(budget).unwrap(),
                expires_at.as_ref().map(|t| t.to_string()),
            )),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert_eq!(
        mint,
        vec![(
            r#"{"USD":"USD:1.00"}"#.to_owned(),
            Some("2026-11-24T02:00:00Z".to_owned())
        )]
    );
    let reply =
        h.rt.handle_agent_event(
            h.now,
            &kid,
            AgentEvent::Delegate {
                agent: AgentRef::parse("echo").unwrap(),
                input: Value::Null,
                lease: LeaseMap(vec![("cost.budget".into(), vec!["USD:0.25".into()])]),
                lease_constraints: None,
            },
        )
        .unwrap();
    let AgentReply::Delegated {
        child_job_id: grandkid,
    } = reply
    else {
        panic!("{reply:?}")
    };
    h.drain();
    assert_eq!(budget(&h, &parent), r#"{"USD":"USD:1.00"}"#);
    assert_eq!(budget(&h, &kid), r#"{"USD":"USD:0.75"}"#);
    h.take_json(a);
    h.all_effects.clear();
    // The parent is cancelled by its session.
    h.send(
        a,
        json!({"id":eid(3),"type":"job.cancel","job_id":parent,"payload":{}}),
    );
    let out = h.take_json(a);
    let ends: Vec<(String, String)> = out
        .iter()
        .map(|f| {
            (
                f["job_id"].as_str().unwrap().to_owned(),
                f["payload"]["final_status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        ends,
        vec![
            (parent.to_string(), "cancelled".to_owned()),
            (grandkid.to_string(), "cancelled".to_owned()),
            (kid.to_string(), "cancelled".to_owned()),
        ]
    );
    let effects: Vec<String> = h
        .all_effects
        .iter()
        .filter_map(|e| match e {
            Effect::CancelAgent { job_id } => Some(format!("cancel {job_id}")),
            Effect::RevokeCredential {
                job_id,
                credential_id,
                ..
            } => Some(format!("revoke {job_id} {credential_id}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        effects,
        vec![
            format!("cancel {parent}"),
            format!("revoke {parent} cred_1"),
            format!("cancel {grandkid}"),
            format!("cancel {kid}"),
            format!("revoke {kid} cred_2"),
        ]
    );
    // list_jobs: nobody is running.
    h.send(
        a,
        json!({"id":eid(4),"type":"session.list_jobs","payload":{}}),
    );
    let jobs = h.take_json(a);
    let listed: Vec<(&str, &str)> = jobs[0]["payload"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["job_id"].as_str().unwrap(), j["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (parent.as_str(), "cancelled"),
            (kid.as_str(), "cancelled"),
            (grandkid.as_str(), "cancelled"),
        ]
    );
    // Everything the children held came back.
    assert_eq!(budget(&h, &parent), r#"{"USD":"USD:2.00"}"#);
    assert_eq!(h.rt.check_delegation(), Ok(()));
}

#[test]
fn an_agents_delegation_sends_its_expiry_with_z_and_audits_a_refusal() {
    let mut h = Host::contract();
    let (a, sid, _) = h.hello(1, "alice-token", &ALL);
    let lease: Value = serde_json::from_str(PARENT).unwrap();
    let parent = h.submit(
        a,
        &eid(1),
        json!({"agent":"delegator","lease_request":lease}),
    );
    h.take_json(a);
    h.all_effects.clear();
    // D22: the agent's `+00:00` expiry goes out as `Z`, in `delegate` and to the provisioner.
    let constraints: arcp_proto::wire::LeaseConstraints =
        serde_json::from_value(json!({"expires_at":"2026-11-24T01:45:00+00:00"})).unwrap();
    let reply =
        h.rt.handle_agent_event(
            h.now,
            &parent,
            AgentEvent::Delegate {
                agent: AgentRef::parse("echo").unwrap(),
                input: Value::Null,
                lease: LeaseMap(vec![
                    ("model.use".into(), vec!["tier-fast/a".into()]),
                    ("cost.budget".into(), vec!["USD:0.50".into()]),
                ]),
                lease_constraints: Some(constraints),
            },
        )
        .unwrap();
    let AgentReply::Delegated { child_job_id: kid } = reply else {
        panic!("{reply:?}")
    };
    h.drain();
    let out = h.take_json(a);
    assert_eq!(out[0]["payload"]["kind"], "delegate", "{out:?}");
    assert_eq!(
        out[0]["payload"]["body"]["lease_constraints"],
        json!({"expires_at":"2026-11-24T01:45:00Z"})
    );
    let mint: Vec<Option<String>> = h
        .all_effects
        .iter()
        .filter_map(|e| match e {
            Effect::MintCredentials {
                job_id, expires_at, ..
            } if *job_id == kid => Some(expires_at.as_ref().map(|t| t.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(mint, vec![Some("2026-11-24T01:45:00Z".to_owned())]);
    // §14: a delegation refused for lack of `agent.delegate` is audited and counted like
    // every refused operation.
    assert_eq!(h.rt.metrics().operations_denied, 0);
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
        (e.code.clone(), e.message.as_str()),
        (
            ErrorCode::PermissionDenied,
            "operation agent.delegate:chatty not permitted by lease"
        )
    );
    h.drain();
    let refused: Vec<(String, String, String, String, String, ErrorCode)> = h
        .events
        .iter()
        .filter_map(|ev| match ev {
            RuntimeEvent::OperationRefused {
                job_id,
                principal,
                session_id,
                namespace,
                target,
                code,
            } => Some((
                job_id.to_string(),
                principal.clone(),
                session_id.to_string(),
                namespace.clone(),
                target.clone(),
                code.clone(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        refused,
        vec![(
            parent.to_string(),
            "alice".to_owned(),
            sid.to_string(),
            "agent.delegate".to_owned(),
            "chatty".to_owned(),
            ErrorCode::PermissionDenied
        )]
    );
    assert_eq!(h.rt.metrics().operations_denied, 1);
}
