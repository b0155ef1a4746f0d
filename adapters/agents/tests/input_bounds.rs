//! Every input cap of the demo agents, at and over its bound, and malformed inputs: a
//! refused input ends the job `INVALID_REQUEST` before any event.

mod support;

use arcp_agents::agents::{
    MAX_BUDGET_STEPS, MAX_CHATTY_ROUNDS, MAX_FIREHOSE_EVENTS, MAX_LEASE_CHECK_OPS, MAX_SLOW_TICKS,
    firehose,
};
use arcp_agents::contract_agents;
use serde_json::{Value, json};
use support::*;

fn run(agent: &str, input: Value, lease: Value) -> Vec<Value> {
    let mut r = contract_agents();
    r.register("firehose", Some("1.0.0"), firehose);
    let mut h = Harness::with_registry(r, |_| {});
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": agent, "input": input, "lease_request": lease}),
        )
        .unwrap();
    assert_eq!(h.live_tasks(), 0);
    h.job_frames(c, &job)
}

fn refused(frames: &[Value]) -> bool {
    kinds(frames) == ["job.accepted", "job.error"]
        && frames[1]["payload"]["code"] == "INVALID_REQUEST"
        && frames[1]["payload"]["retryable"] == false
}

#[test]
fn chatty_rounds_cap() {
    assert!(refused(&run(
        "chatty",
        json!({"count": MAX_CHATTY_ROUNDS + 1}),
        json!({})
    )));
    assert!(refused(&run("chatty", json!({"count": -1}), json!({}))));
    assert!(refused(&run("chatty", json!({"count": "3"}), json!({}))));
    let f = run("chatty", json!({"count": 0}), json!({}));
    assert_eq!(
        kinds(&f),
        ["job.accepted", "status", "artifact_ref", "job.result"]
    );
    assert_eq!(f[3]["payload"]["result"], json!({"rounds": 0, "events": 2}));
}

#[test]
fn slow_ticks_cap() {
    let over = (MAX_SLOW_TICKS + 1) as f64;
    assert!(refused(&run(
        "slow",
        json!({"seconds": over, "tick": 1}),
        json!({})
    )));
    assert!(refused(&run(
        "slow",
        json!({"seconds": 1, "tick": 0}),
        json!({})
    )));
    assert!(refused(&run("slow", json!({"seconds": "1"}), json!({}))));
    // Zero seconds: one tick, no wait.
    let f = run("slow", json!({"seconds": 0, "tick": 1}), json!({}));
    assert_eq!(
        f.last().unwrap()["payload"]["result"],
        json!({"slept": 0, "ticks": 1})
    );
}

#[test]
fn budget_steps_cap() {
    assert!(refused(&run(
        "budget",
        json!({"steps": MAX_BUDGET_STEPS + 1}),
        json!({})
    )));
    assert!(refused(&run(
        "budget",
        json!({"negative_costs": "x"}),
        json!({})
    )));
    assert!(refused(&run(
        "budget",
        json!({"negative_costs": [true]}),
        json!({})
    )));
    let f = run("budget", json!({"steps": 0}), json!({}));
    assert_eq!(f.last().unwrap()["payload"]["result"], json!({"steps": 0}));
}

#[test]
fn lease_check_ops_cap() {
    let op = json!({"capability": "fs.read", "target": "/a"});
    let over: Vec<Value> = vec![op.clone(); MAX_LEASE_CHECK_OPS + 1];
    assert!(refused(&run(
        "lease-check",
        json!({"ops": over}),
        json!({})
    )));
    assert!(refused(&run("lease-check", json!({"ops": {}}), json!({}))));
    assert!(refused(&run(
        "lease-check",
        json!({"ops": [{"capability": "fs.read"}]}),
        json!({})
    )));
    let f = run("lease-check", json!({}), json!({}));
    assert_eq!(
        f.last().unwrap()["payload"]["result"],
        json!({"results": []})
    );
}

#[test]
fn firehose_cap() {
    assert!(refused(&run(
        "firehose",
        json!({"count": MAX_FIREHOSE_EVENTS + 1}),
        json!({})
    )));
    let f = run("firehose", json!({"count": 3}), json!({}));
    assert_eq!(
        kinds(&f),
        ["job.accepted", "log", "log", "log", "job.result"]
    );
    assert_eq!(f[4]["payload"]["result"], json!({"events": 3}));
}

#[test]
fn malformed_inputs() {
    assert!(refused(&run("chunked", json!({}), json!({}))));
    assert!(refused(&run(
        "chunked",
        json!({"data": "x", "encoding": "hex"}),
        json!({})
    )));
    assert!(refused(&run(
        "chunked",
        json!({"data": "x", "order": [5]}),
        json!({})
    )));
    assert!(refused(&run("delegator", json!({}), json!({}))));
    assert!(refused(&run(
        "delegator",
        json!({"agent": "bad@@"}),
        json!({})
    )));
    assert!(refused(&run(
        "delegator",
        json!({"agent": "echo", "lease": 3}),
        json!({})
    )));
    assert!(refused(&run("failing", json!({"message": 1}), json!({}))));
    assert!(refused(&run(
        "rotator",
        json!({"delay_sec": "soon"}),
        json!({})
    )));
    // Empty data streams one empty chunk: a streamed result of size 0.
    let f = run("chunked", json!({"data": ""}), json!({}));
    assert_eq!(kinds(&f), ["job.accepted", "result_chunk", "job.result"]);
    assert_eq!(f[1]["payload"]["body"]["more"], false);
    assert_eq!(f[2]["payload"]["result_size"], 0);
    assert_eq!(f[2]["payload"]["summary"], "0 chunks");
}
