//! Issue 24 in the core: checked operations (`Runtime::check_operation`: normalised targets,
//! the `OperationRefused` audit and its counters), §12 `retryable` normalisation, D31 without
//! a budget, `filter.agent` by bare name (§6.6), `Z` expiry echoes (D22), `progress` with
//! `current > total` (§8.2.1) and the §14 signal counters.

mod runtime_support;

use arcp_proto::runtime::{AgentEvent, Operation, RuntimeConfig, RuntimeEvent, SubscribeDecision};
use arcp_proto::wire::{ErrorCode, EventBody, MetricBody, MetricValue, ProgressBody};
use runtime_support::*;
use serde_json::{Number, json};
use std::time::Duration;

fn metric(name: &str, value: MetricValue, unit: Option<&str>) -> AgentEvent {
    AgentEvent::Event(EventBody::Metric(MetricBody {
        name: name.into(),
        value,
        unit: unit.map(Into::into),
        attributes: None,
        extra: Default::default(),
    }))
}

fn refusals(h: &Host) -> Vec<(String, String, String, ErrorCode)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            RuntimeEvent::OperationRefused {
                principal,
                namespace,
                target,
                code,
                ..
            } => Some((
                principal.clone(),
                namespace.clone(),
                target.clone(),
                code.clone(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn checked_operations_return_the_normalised_target_and_audit_refusals() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(
        c,
        &eid(1),
        json!({"agent":"slow","lease_request":{
            "fs.read":["/project/**"],
            "fs.write":["/project/out/*"],
            "net.fetch":["https://api.example.com/v1/**"],
            "model.use":["gpt-*"],
            "cost.budget":["USD:0.50"]}}),
    );
    let check = |h: &mut Host, ns: &str, t: &str| {
        let now = h.now;
        h.rt.check_operation(now, &job, &Operation::new(ns, t))
    };
    assert_eq!(
        check(&mut h, "fs.read", "/project/a/./b/../c.txt").unwrap(),
        "/project/a/c.txt"
    );
    assert_eq!(
        check(&mut h, "fs.write", "/project//out/x.bin").unwrap(),
        "/project/out/x.bin"
    );
    assert_eq!(
        check(
            &mut h,
            "net.fetch",
            "HTTPS://API.example.com:443/v1/./a/../b?q=1#frag"
        )
        .unwrap(),
        "https://api.example.com/v1/b?q=1"
    );
    assert_eq!(check(&mut h, "model.use", "gpt-5").unwrap(), "gpt-5");
    h.drain();
    assert!(refusals(&h).is_empty());
    assert_eq!(h.rt.metrics().operations_denied, 0);

    // Refusals: the code to the agent, one audit event each, counted by code.
    let e = check(&mut h, "fs.read", "/project/../etc/passwd").unwrap_err();
    assert_eq!((e.code, e.retryable), (ErrorCode::PermissionDenied, false));
    assert_eq!(
        e.message,
        "operation fs.read:/project/../etc/passwd not permitted by lease"
    );
    let e = check(&mut h, "fs.write", "/project/a.txt").unwrap_err();
    assert_eq!(e.code, ErrorCode::PermissionDenied);
    let e = check(&mut h, "net.fetch", "https://user@api.example.com/v1/a").unwrap_err();
    assert_eq!(e.code, ErrorCode::PermissionDenied);
    h.rt.handle_agent_event(
        h.now,
        &job,
        metric("cost.x", MetricValue::Text("0.50".into()), Some("USD")),
    )
    .unwrap();
    let e = check(&mut h, "model.use", "gpt-5").unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            ErrorCode::BudgetExhausted,
            "budget for USD exhausted (remaining=0.00)"
        )
    );
    h.drain();
    assert_eq!(
        refusals(&h),
        vec![
            (
                "alice".into(),
                "fs.read".into(),
                "/project/../etc/passwd".into(),
                ErrorCode::PermissionDenied
            ),
            (
                "alice".into(),
                "fs.write".into(),
                "/project/a.txt".into(),
                ErrorCode::PermissionDenied
            ),
            (
                "alice".into(),
                "net.fetch".into(),
                "https://user@api.example.com/v1/a".into(),
                ErrorCode::PermissionDenied
            ),
            (
                "alice".into(),
                "model.use".into(),
                "gpt-5".into(),
                ErrorCode::BudgetExhausted
            ),
        ]
    );
    let m = h.rt.metrics();
    assert_eq!(
        (
            m.operations_denied,
            m.operations_budget_exhausted,
            m.operations_lease_expired
        ),
        (3, 1, 0)
    );
    // The audit event names the job's session.
    let sid = h.events.iter().find_map(|e| match e {
        RuntimeEvent::OperationRefused {
            session_id, job_id, ..
        } if *job_id == job => Some(session_id.to_string()),
        _ => None,
    });
    assert!(sid.is_some_and(|s| s.starts_with("sess_")));
    // An unknown job is refused without an audit event (nothing to attribute it to).
    let other = arcp_proto::wire::JobId::from("job_nope".to_owned());
    let now = h.now;
    let e =
        h.rt.check_operation(now, &other, &Operation::new("fs.read", "/project/a"))
            .unwrap_err();
    assert_eq!(e.code, ErrorCode::JobNotFound);
    h.drain();
    assert_eq!(refusals(&h).len(), 4);
}

#[test]
fn lease_expiry_is_signalled_and_counted() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(
        c,
        &eid(1),
        json!({"agent":"slow","lease_request":{"fs.read":["/p/**"]},
               "lease_constraints":{"expires_at":"2026-11-24T01:30:27Z"}}),
    );
    h.advance(Duration::from_millis(2000));
    let expired: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            RuntimeEvent::LeaseExpired {
                job_id, principal, ..
            } => Some((job_id.clone(), principal.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(expired, vec![(job.clone(), "alice".to_owned())]);
    assert_eq!(h.rt.metrics().leases_expired, 1);
    // After the end, the gate answers the ended job without a further audit.
    let now = h.now;
    let e =
        h.rt.check_operation(now, &job, &Operation::new("fs.read", "/p/a"))
            .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    h.drain();
    assert_eq!(refusals(&h).len(), 0);
}

#[test]
fn agent_retryable_is_normalised_per_code_s12() {
    for (code, given, want) in [
        (ErrorCode::LeaseExpired, Some(true), false),
        (ErrorCode::BudgetExhausted, Some(true), false),
        (ErrorCode::InternalError, Some(false), true),
        (ErrorCode::InternalError, None, true),
        (ErrorCode::PermissionDenied, Some(true), true),
        (ErrorCode::PermissionDenied, None, false),
        (ErrorCode::InvalidRequest, Some(false), false),
    ] {
        let mut h = Host::contract();
        let (c, _, _) = h.hello(1, "alice-token", &ALL);
        let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
        h.take_json(c);
        h.rt.handle_agent_event(
            h.now,
            &job,
            AgentEvent::Error {
                code: code.clone(),
                message: "m".into(),
                retryable: given,
            },
        )
        .unwrap();
        h.drain();
        let out = h.take_json(c);
        assert_eq!(out[0]["type"], "job.error");
        assert_eq!(out[0]["payload"]["code"], code.as_str());
        assert_eq!(out[0]["payload"]["retryable"], want, "{code} {given:?}");
    }
}

#[test]
fn a_negative_cost_is_refused_with_or_without_a_budget_d31() {
    for lease in [json!({}), json!({"cost.budget":["USD:1.00"]})] {
        let mut h = Host::contract();
        let (c, _, _) = h.hello(1, "alice-token", &ALL);
        let job = h.submit(c, &eid(1), json!({"agent":"slow","lease_request":lease}));
        h.take_json(c);
        for ev in [
            metric(
                "cost.refund",
                MetricValue::Number(Number::from_f64(-2.0).unwrap()),
                None,
            ),
            metric(
                "cost.refund",
                MetricValue::Text("-0.01".into()),
                Some("USD"),
            ),
            metric("cost.refund", MetricValue::Number((-1).into()), Some("EUR")),
        ] {
            let e = h.rt.handle_agent_event(h.now, &job, ev).unwrap_err();
            assert_eq!((e.code, e.retryable), (ErrorCode::InvalidRequest, false));
        }
        h.drain();
        assert!(h.take_json(c).is_empty(), "nothing emitted for {lease}");
        // A non-cost negative metric and a positive cost still pass.
        h.rt.handle_agent_event(
            h.now,
            &job,
            metric("temperature", MetricValue::Number((-3).into()), None),
        )
        .unwrap();
        h.drain();
        let out = h.take_json(c);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["payload"]["body"]["value"], json!(-3.0));
    }
}

#[test]
fn filter_agent_bare_name_matches_every_version_s6_6() {
    let mut cfg = contract_config();
    cfg.agents.push(arcp_proto::runtime::AgentSpec {
        name: "multi".into(),
        versions: vec!["1.0.0".into(), "2.0.0".into()],
        default: Some("2.0.0".into()),
    });
    let mut h = Host::new(cfg);
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let j1 = h.submit(c, &eid(1), json!({"agent":"multi@1.0.0"}));
    let j2 = h.submit(c, &eid(2), json!({"agent":"multi"}));
    let _j3 = h.submit(c, &eid(3), json!({"agent":"slow"}));
    h.take_json(c);
    let list = |h: &mut Host, n: u32, agent: &str| -> Vec<String> {
        h.send(
            c,
            json!({"id":eid(n),"type":"session.list_jobs","payload":{"filter":{"agent":agent}}}),
        );
        h.take_json(c)[0]["payload"]["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["job_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        list(&mut h, 10, "multi"),
        vec![j1.to_string(), j2.to_string()]
    );
    assert_eq!(list(&mut h, 11, "multi@1.0.0"), vec![j1.to_string()]);
    assert_eq!(list(&mut h, 12, "multi@2.0.0"), vec![j2.to_string()]);
    assert_eq!(list(&mut h, 13, "mult"), Vec::<String>::new());
}

#[test]
fn a_plus_zero_expiry_is_echoed_with_z_d22() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    h.send(
        c,
        json!({"id":eid(1),"type":"job.submit","payload":{"agent":"slow",
            "lease_request":{"fs.read":["/p/**"]},
            "lease_constraints":{"expires_at":"2030-01-01T00:00:00.5+00:00"}}}),
    );
    let out = h.take_json(c);
    assert_eq!(out[0]["type"], "job.accepted");
    assert_eq!(
        out[0]["payload"]["lease_constraints"],
        json!({"expires_at":"2030-01-01T00:00:00.5Z"})
    );
}

#[test]
fn progress_current_above_total_is_refused_s8_2_1() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
    h.take_json(c);
    let progress = |current: u64, total: Option<u64>| {
        AgentEvent::Event(EventBody::Progress(ProgressBody {
            current: current.into(),
            total: total.map(Into::into),
            units: None,
            message: None,
            extra: Default::default(),
        }))
    };
    let e =
        h.rt.handle_agent_event(h.now, &job, progress(11, Some(10)))
            .unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            ErrorCode::InvalidRequest,
            "progress current must not exceed total"
        )
    );
    h.drain();
    assert!(h.take_json(c).is_empty());
    for ev in [progress(10, Some(10)), progress(11, None)] {
        h.rt.handle_agent_event(h.now, &job, ev).unwrap();
    }
    h.drain();
    let out = h.take_json(c);
    let bodies: Vec<_> = out.iter().map(|f| f["payload"]["body"].clone()).collect();
    assert_eq!(
        bodies,
        vec![json!({"current":10,"total":10}), json!({"current":11})]
    );
}

#[test]
fn subscribe_decisions_and_heartbeat_loss_are_counted_s14() {
    let mut cfg: RuntimeConfig = contract_config();
    cfg.heartbeat_interval = Duration::from_secs(1);
    let mut h = Host::new(cfg);
    let (a, _, _) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(a, &eid(1), json!({"agent":"slow"}));
    let (b, _, _) = h.hello(2, "bob-token", &ALL);
    let (o, _, _) = h.hello(3, "auditor-token", &ALL);
    h.send(
        b,
        json!({"id":eid(2),"type":"job.subscribe","payload":{"job_id":job}}),
    );
    h.send(
        o,
        json!({"id":eid(3),"type":"job.subscribe","payload":{"job_id":job}}),
    );
    h.send(
        o,
        json!({"id":eid(4),"type":"job.subscribe","payload":{"job_id":"job_nope"}}),
    );
    let decisions: Vec<SubscribeDecision> = h
        .events
        .iter()
        .filter_map(|e| match e {
            RuntimeEvent::SubscribeAudit { decision, .. } => Some(*decision),
            _ => None,
        })
        .collect();
    assert_eq!(
        decisions,
        vec![
            SubscribeDecision::Denied,
            SubscribeDecision::Allowed,
            SubscribeDecision::Denied
        ]
    );
    let m = h.rt.metrics();
    assert_eq!(
        (
            m.subscribes_allowed,
            m.subscribes_denied,
            m.subscribes_over_limit
        ),
        (1, 2, 0)
    );
    assert_eq!(m.heartbeats_lost, 0);
    // Nobody answers the pings: every connection's heartbeat is lost (D25).
    h.advance(Duration::from_secs(10));
    let lost = h
        .events
        .iter()
        .filter(|e| matches!(e, RuntimeEvent::HeartbeatLost { .. }))
        .count();
    assert_eq!((lost, h.rt.metrics().heartbeats_lost), (3, 3));
}
