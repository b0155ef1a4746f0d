//! The lease- and budget-bound contract agents (budget, lease-check, delegator) of
//! interop/README.md, as adjusted by COMPAT.md (D28, D29, D30, D31), run through `run_job` on
//! a real `Runtime` by the test host, and checked against the golden transcripts.

mod support;

use serde_json::{Value, json};
use support::*;

#[test]
fn budget_exhaustion_flow() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "budget", "input": {"cost": "0.40", "steps": 10},
                   "lease_request": {"tool.call": ["paid-tool"], "cost.budget": ["USD:1.00"]}}),
        )
        .unwrap();
    let f = h.job_frames(c, &job);
    let remaining: Vec<Value> = events(&f)
        .into_iter()
        .filter(|b| b["name"] == "cost.budget.remaining")
        .map(|b| b["value"].clone())
        .collect();
    assert_eq!(remaining, [json!(0.6), json!(0.2), json!(-0.2)]);
    let ev = events(&f);
    assert_eq!(
        ev[0],
        json!({"tool_call_id": "step_0", "name": "paid-tool", "arguments": {"step": 0}})
    );
    assert_eq!(
        ev[1],
        json!({"name": "cost.inference", "value": 0.4, "unit": "USD"})
    );
    assert_eq!(
        ev[3],
        json!({"tool_call_id": "step_0", "output": {"step": 0}})
    );
    let refused = &ev[13];
    assert_eq!(refused["tool_call_id"], "step_3");
    assert_eq!(refused["error"]["code"], "BUDGET_EXHAUSTED");
    assert_eq!(refused["error"]["retryable"], false);
    assert_eq!(ev.len(), 14);
    let end = last(&f);
    assert_eq!(end["type"], "job.error");
    assert_eq!(end["payload"]["code"], "BUDGET_EXHAUSTED");
    assert_eq!(end["payload"]["retryable"], false);
    assert_eq!(end["payload"]["final_status"], "error");
    replay_against_transcript("budget_exhaustion");
}

#[test]
fn budget_negative_costs_are_refused_and_logged() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "budget",
                   "input": {"cost": "0.10", "steps": 1, "negative_costs": ["-0.50", "-1"]},
                   "lease_request": {"tool.call": ["paid-tool"], "cost.budget": ["USD:1.00"]}}),
        )
        .unwrap();
    let f = h.job_frames(c, &job);
    // D31: nothing emitted for the refused metrics, no decrement (remaining 1.00 - 0.10).
    assert_eq!(
        events(&f),
        vec![
            json!({"level": "warn", "message": "negative cost metric rejected: -0.50"}),
            json!({"level": "warn", "message": "negative cost metric rejected: -1"}),
            json!({"tool_call_id": "step_0", "name": "paid-tool", "arguments": {"step": 0}}),
            json!({"name": "cost.inference", "value": 0.1, "unit": "USD"}),
            json!({"name": "cost.budget.remaining", "value": 0.9, "unit": "USD"}),
            json!({"tool_call_id": "step_0", "output": {"step": 0}}),
        ]
    );
    assert_eq!(last(&f)["payload"]["result"], json!({"steps": 1}));
}

#[test]
fn budget_unauthorized_tool_fails_permission_denied() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "budget", "input": {"steps": 2, "tool": "other"},
                                "lease_request": {"tool.call": ["paid-tool"]}}),
        )
        .unwrap();
    let f = h.job_frames(c, &job);
    assert_eq!(
        kinds(&f),
        ["job.accepted", "tool_call", "tool_result", "job.error"]
    );
    assert_eq!(last(&f)["payload"]["code"], "PERMISSION_DENIED");
}

#[test]
fn lease_check_ok_and_permission_denied() {
    let (_, ours) = replay_against_transcript("lease_enforcement");
    let end = last(
        &ours
            .iter()
            .filter(|f| f["type"] == "job.result")
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        end["payload"]["result"]["results"],
        json!([
            "OK",
            "OK",
            "PERMISSION_DENIED",
            "PERMISSION_DENIED",
            "OK",
            "OK",
            "PERMISSION_DENIED",
            "OK",
            "PERMISSION_DENIED",
            "PERMISSION_DENIED"
        ])
    );
}

#[test]
fn lease_check_d29_globs() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let ops = json!([
        {"capability": "fs.read", "target": "/project/src/main.rs"},
        {"capability": "fs.read", "target": "/project/src/a/b.rs"},
        {"capability": "fs.read", "target": "/project/src/../../etc/passwd"},
        {"capability": "fs.read", "target": "relative/path"},
    ]);
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "lease-check", "input": {"ops": ops},
                                "lease_request": {"fs.read": ["/project/src/*"]}}),
        )
        .unwrap();
    let f = h.job_frames(c, &job);
    // D29: `*` stays within one segment; `..` escaping and relative paths are denied.
    assert_eq!(
        last(&f)["payload"]["result"],
        json!({"results": ["OK", "PERMISSION_DENIED", "PERMISSION_DENIED", "PERMISSION_DENIED"]})
    );
    let ev = events(&f);
    assert_eq!(ev[3]["error"]["retryable"], false);
    assert_eq!(ev[3]["tool_call_id"], "op_1");
}

#[test]
fn lease_check_lease_expired() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    // T0 + 2 s.
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "lease-check",
                   "input": {"ops": [{"capability": "fs.read", "target": "/project/a.txt"},
                                     {"capability": "fs.read", "target": "/project/b.txt", "delay_sec": 5}]},
                   "lease_request": {"fs.read": ["/project/**"]},
                   "lease_constraints": {"expires_at": "2026-11-24T01:30:27Z"}}),
        )
        .unwrap();
    let f = h.job_frames(c, &job);
    // D30: ended LEASE_EXPIRED at expires_at, the agent dropped mid-sleep.
    assert_eq!(
        kinds(&f),
        ["job.accepted", "tool_call", "tool_result", "job.error"]
    );
    assert_eq!(last(&f)["payload"]["code"], "LEASE_EXPIRED");
    assert_eq!(last(&f)["payload"]["retryable"], false);
    assert_eq!(h.elapsed_ms(), 2000);
    assert_eq!(h.live_tasks(), 0);
}

#[test]
fn lease_check_not_fatal_carries_on() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "lease-check", "input": {"fatal": false, "ops": [
                    {"capability": "tool.call", "target": "x"},
                    {"capability": "fs.read", "target": "/a"}]},
                "lease_request": {"fs.read": ["/**"]}}),
        )
        .unwrap();
    assert_eq!(
        last(&h.job_frames(c, &job))["payload"]["result"],
        json!({"results": ["PERMISSION_DENIED", "OK"]})
    );
}

#[test]
fn delegator_child_on_same_session_and_parent_result() {
    let (h, ours) = replay_against_transcript("delegation");
    let parent = ours.iter().find(|f| f["type"] == "job.accepted").unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let f = nth_job(&ours, 0);
    assert_eq!(kinds(&f), ["delegate", "job.result", "job.result"]);
    let child = f[0]["payload"]["body"]["child_job_id"].as_str().unwrap();
    assert_eq!(f[1]["job_id"], child);
    assert_eq!(f[1]["session_id"], f[0]["session_id"]);
    assert_eq!(f[2]["job_id"], parent.as_str());
    assert_eq!(
        f[2]["payload"]["result"],
        json!({"child_job_id": child, "child_agent": "echo@1.0.0",
               "child_final_status": "success", "child_result": {"ping": 1}})
    );
    // No job.accepted for the child.
    assert_eq!(
        ours.iter().filter(|x| x["type"] == "job.accepted").count(),
        1
    );
    assert_eq!(h.started().len(), 2);
}

#[test]
fn delegator_reports_child_error_code_and_refusals() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(c, "r1", json!({"agent": "delegator",
            "input": {"agent": "failing", "input": {"code": "PERMISSION_DENIED", "message": "no"}, "lease": {}},
            "lease_request": {"agent.delegate": ["failing"]}}))
        .unwrap();
    let f = h.job_frames(c, &job);
    let r = &last(&f)["payload"]["result"];
    assert_eq!(r["child_agent"], "failing@1.0.0");
    assert_eq!(r["child_final_status"], "error");
    assert_eq!(r["child_error_code"], "PERMISSION_DENIED");
    assert!(r.get("child_result").is_none());

    // agent.delegate not granted: job.error PERMISSION_DENIED, no child.
    let job = h
        .submit(
            c,
            "r2",
            json!({"agent": "delegator", "input": {"agent": "echo", "input": 1, "lease": {}},
            "lease_request": {"agent.delegate": ["other"]}}),
        )
        .unwrap();
    let f = h.job_frames(c, &job);
    assert_eq!(kinds(&f), ["job.accepted", "job.error"]);
    assert_eq!(last(&f)["payload"]["code"], "PERMISSION_DENIED");

    // A child lease wider than the parent's: LEASE_SUBSET_VIOLATION.
    let job = h
        .submit(
            c,
            "r3",
            json!({"agent": "delegator",
            "input": {"agent": "echo", "input": 1, "lease": {"fs.read": ["/**"]}},
            "lease_request": {"agent.delegate": ["echo"], "fs.read": ["/project/**"]}}),
        )
        .unwrap();
    let f = h.job_frames(c, &job);
    assert_eq!(kinds(&f), ["job.accepted", "job.error"]);
    assert_eq!(last(&f)["payload"]["code"], "LEASE_SUBSET_VIOLATION");
    assert_eq!(h.live_tasks(), 0);
}

#[test]
fn lease_check_budget_exhausted_is_fatal() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "lease-check", "input": {"ops": [
                    {"capability": "fs.read", "target": "/a"},
                    {"capability": "fs.read", "target": "/b"}]},
                "lease_request": {"fs.read": ["/**"], "cost.budget": ["USD:0.00"]}}),
        )
        .unwrap();
    let f = h.job_frames(c, &job);
    assert_eq!(
        kinds(&f),
        ["job.accepted", "tool_call", "tool_result", "job.error"]
    );
    assert_eq!(events(&f)[1]["error"]["code"], "BUDGET_EXHAUSTED");
    assert_eq!(last(&f)["payload"]["code"], "BUDGET_EXHAUSTED");
}

#[test]
fn delegator_passes_lease_constraints_to_the_delegate_event() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "delegator",
            "input": {"agent": "echo@1.0.0", "input": "hi", "lease": {"fs.read": ["/p/**"]},
                      "lease_constraints": {"expires_at": "2026-11-24T01:40:00Z"}},
            "lease_request": {"agent.delegate": ["echo"], "fs.read": ["/p/**"]}}),
        )
        .unwrap();
    let f = nth_job(&h.peek(c), 0);
    assert_eq!(kinds(&f), ["delegate", "job.result", "job.result"]);
    let body = &f[0]["payload"]["body"];
    assert_eq!(body["agent"], "echo@1.0.0");
    assert_eq!(body["lease"], json!({"fs.read": ["/p/**"]}));
    assert_eq!(
        body["lease_constraints"],
        json!({"expires_at": "2026-11-24T01:40:00Z"})
    );
    assert_eq!(f[2]["job_id"], job.as_str());
    assert_eq!(f[2]["payload"]["result"]["child_result"], "hi");
}

#[test]
fn lease_expiry_matches_transcript() {
    // expires_at 01:30:42Z, about 2.05 s after the recording's welcome: the second op's
    // 5 s delay outlives the lease (D30).
    let (h, ours) = replay_against_transcript("lease_expiry");
    assert_eq!(last(&nth_job(&ours, 0))["payload"]["code"], "LEASE_EXPIRED");
    assert!(h.elapsed_ms() < 5000);
    assert_eq!(h.live_tasks(), 0);
}
