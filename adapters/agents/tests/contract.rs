//! The contract agents of interop/README.md ("Agent contract", as adjusted by COMPAT.md) run
//! through `run_job` on a real `Runtime`, driven by the deterministic test host: exact event
//! kinds, bodies and terminal frames, and the golden transcripts' job frames.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::*;

fn events(frames: &[Value]) -> Vec<Value> {
    frames
        .iter()
        .filter(|f| f["type"] == "job.event")
        .map(|f| f["payload"]["body"].clone())
        .collect()
}

fn last(frames: &[Value]) -> Value {
    frames.last().cloned().unwrap()
}

#[test]
fn echo_verbatim_and_null_input_has_no_result_key() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let input = json!({"u": 18446744073709551615u64, "i": -9223372036854775808i64,
        "big": 9007199254740993u64, "s": "h\u{e9}llo \u{2713}", "n": [null, {"x": null}]});
    let job = h
        .submit(c, "r1", json!({"agent": "echo", "input": input}))
        .unwrap();
    let f = h.job_frames(c, &job);
    assert_eq!(kinds(&f), ["job.accepted", "job.result"]);
    assert_eq!(f[1]["payload"]["result"], input);
    assert_eq!(f[1]["payload"]["final_status"], "success");

    let job = h
        .submit(c, "r2", json!({"agent": "echo", "input": null}))
        .unwrap();
    let f = h.job_frames(c, &job);
    assert_eq!(kinds(&f), ["job.accepted", "job.result"]);
    assert!(f[1]["payload"].get("result").is_none(), "{f:?}");
    // Absent input is null too.
    let job = h.submit(c, "r3", json!({"agent": "echo"})).unwrap();
    assert!(
        last(&h.job_frames(c, &job))["payload"]
            .get("result")
            .is_none()
    );
}

#[test]
fn echo_matches_transcript() {
    replay_against_transcript("submit_echo");
}

#[test]
fn chatty_count_2_emits_14_events_and_the_result() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(c, "r1", json!({"agent": "chatty", "input": {"count": 2}}))
        .unwrap();
    let f = h.job_frames(c, &job);
    let ev = events(&f);
    assert_eq!(ev.len(), 14);
    let mut want = vec![json!({"phase": "chatty.start", "message": "emitting 2 rounds"})];
    for i in 0..2u64 {
        want.push(json!({"level": "info", "message": format!("round {i}")}));
        want.push(json!({"text": format!("thinking about round {i}")}));
        want.push(json!({"tool_call_id": format!("call_{i}"), "name": "lookup", "arguments": {"round": i}}));
        want.push(json!({"tool_call_id": format!("call_{i}"), "output": {"round": i, "ok": true}}));
        want.push(json!({"name": "rounds.completed", "value": (i + 1) as f64, "unit": "count"}));
        want.push(json!({"current": i + 1, "total": 2, "units": "rounds", "message": format!("round {i}")}));
    }
    want.push(
        json!({"artifact_id": "art_chatty_summary", "media_type": "text/plain",
        "size_bytes": 2, "uri": "mem://chatty/summary", "summary": "2 rounds"}),
    );
    assert_eq!(ev, want);
    let k = kinds(&f);
    assert_eq!(
        k[1..9],
        [
            "status",
            "log",
            "thought",
            "tool_call",
            "tool_result",
            "metric",
            "progress",
            "log"
        ]
    );
    assert_eq!(last(&f)["type"], "job.result");
    assert_eq!(
        last(&f)["payload"]["result"],
        json!({"rounds": 2, "events": 14})
    );
    // Gap-free event_seq 1..=15 on the session.
    let seqs: Vec<u64> = f.iter().filter_map(|x| x["event_seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=15).collect::<Vec<_>>());
}

#[test]
fn chatty_and_slow_match_transcript() {
    let (h, _) = replay_against_transcript("progress_events");
    // slow 0.6 s in 0.2 s ticks took 0.6 s of fake time.
    assert_eq!(h.elapsed_ms(), 600);
}

#[test]
fn chatty_event_ordering_matches_transcript() {
    replay_against_transcript("event_ordering");
}

#[test]
fn slow_ticks_on_the_fake_clock() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "slow", "input": {"seconds": 1, "tick": 0.4}}),
        )
        .unwrap();
    let f = h.job_frames(c, &job);
    assert_eq!(
        events(&f),
        vec![
            json!({"phase": "slow.start", "message": "sleeping 1s in 3 ticks"}),
            json!({"current": 1, "total": 3, "units": "ticks"}),
            json!({"current": 2, "total": 3, "units": "ticks"}),
            json!({"current": 3, "total": 3, "units": "ticks"}),
        ]
    );
    assert_eq!(
        last(&f)["payload"]["result"],
        json!({"slept": 1, "ticks": 3})
    );
    // min(tick, remaining): 0.4 + 0.4 + 0.2.
    assert_eq!(h.elapsed_ms(), 1000);
    assert_eq!(h.live_tasks(), 0);
}

#[test]
fn slow_defaults_and_max_runtime() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "slow", "input": {"seconds": 10, "tick": 0.5}, "max_runtime_sec": 1}),
        )
        .unwrap();
    let f = h.job_frames(c, &job);
    // D8: timed out at 1 s; the tick due at the same instant never runs (agent dropped).
    assert_eq!(
        kinds(&f),
        ["job.accepted", "status", "progress", "job.result"]
    );
    assert_eq!(last(&f)["payload"]["final_status"], "timed_out");
    assert_eq!(h.elapsed_ms(), 1000);
    assert_eq!(h.live_tasks(), 0);
}

#[test]
fn slow_zero_seconds_is_one_tick_without_waiting() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "slow", "input": {"seconds": 0.0, "tick": 0.5}}),
        )
        .unwrap();
    assert_eq!(
        last(&h.job_frames(c, &job))["payload"]["result"],
        json!({"slept": 0.0, "ticks": 1})
    );
    assert_eq!(h.elapsed_ms(), 0);
}

#[test]
fn slow_is_cancellable() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let limit = h.now() + Duration::from_millis(500);
    h.send_until(
        c,
        &json!({"arcp": "1.1", "id": "r1", "type": "job.submit",
                "payload": {"agent": "slow", "input": {"seconds": 30, "tick": 0.2}}}),
        limit,
    );
    assert_eq!(h.elapsed_ms(), 500);
    assert_eq!(h.live_tasks(), 1);
    let job = h.peek(c)[0]["job_id"].as_str().unwrap().to_owned();
    h.send(
        c,
        &json!({"arcp": "1.1", "id": "r2", "type": "job.cancel", "job_id": job,
                      "payload": {"reason": "test"}}),
    );
    // Cancelled: the agent was dropped mid-sleep; nothing after the terminal.
    assert_eq!(h.live_tasks(), 0);
    assert_eq!(h.elapsed_ms(), 500);
    let f = h.job_frames(c, &job);
    assert_eq!(
        kinds(&f),
        [
            "job.accepted",
            "status",
            "progress",
            "progress",
            "job.result"
        ]
    );
    assert_eq!(events(&f)[0]["message"], "sleeping 30s in 150 ticks");
    assert_eq!(last(&f)["payload"]["final_status"], "cancelled");
    assert_eq!(
        h.ends().get(&job).map(|e| e.status),
        Some(arcp_proto::wire::FinalStatus::Cancelled)
    );
}

#[test]
fn versioned_default_and_pinned() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    for (agent, version) in [
        ("versioned", "2.0.0"),
        ("versioned@1.0.0", "1.0.0"),
        ("versioned@2.0.0", "2.0.0"),
    ] {
        let job = h
            .submit(c, agent, json!({"agent": agent, "input": {"x": agent}}))
            .unwrap();
        let f = h.job_frames(c, &job);
        assert_eq!(f[0]["payload"]["agent"], format!("versioned@{version}"));
        assert_eq!(kinds(&f), ["job.accepted", "job.result"]);
        assert_eq!(
            f[1]["payload"]["result"],
            json!({"version": version, "input": {"x": agent}})
        );
    }
    replay_against_transcript("agent_versions");
}

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
fn chunked_utf8_and_base64_match_transcript_with_d32() {
    let (_, ours) = replay_against_transcript("result_chunks");
    for i in 0..2 {
        let f = nth_job(&ours, i);
        let chunks: Vec<&Value> = f
            .iter()
            .filter(|x| x["payload"]["kind"] == "result_chunk")
            .map(|x| &x["payload"]["body"])
            .collect();
        // D32: `more:false` only on the last data chunk; no empty chunk.
        let more: Vec<bool> = chunks
            .iter()
            .map(|b| b["more"].as_bool().unwrap())
            .collect();
        assert_eq!(more.iter().filter(|m| !**m).count(), 1);
        assert!(!more.last().unwrap());
        assert!(chunks.iter().all(|b| b["data"] != ""));
        let seqs: Vec<u64> = chunks
            .iter()
            .map(|b| b["chunk_seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, (0..chunks.len() as u64).collect::<Vec<_>>());
        let end = last(&f);
        assert_eq!(end["payload"]["result_size"], 62);
        assert_eq!(
            end["payload"]["summary"],
            format!("{} chunks", chunks.len())
        );
        assert!(end["payload"].get("result").is_none());
        assert_eq!(end["payload"]["result_id"], chunks[0]["result_id"]);
    }
}

#[test]
fn chunked_exact_bodies() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "chunked", "input": {"data": "h\u{e9}llo!", "chunk_size": 4}}),
        )
        .unwrap();
    let ev = events(&h.job_frames(c, &job));
    let strip = |b: &Value| {
        let mut b = b.clone();
        b.as_object_mut().unwrap().remove("result_id");
        b
    };
    assert_eq!(
        ev.iter().map(strip).collect::<Vec<_>>(),
        vec![
            json!({"chunk_seq": 0, "data": "h\u{e9}ll", "encoding": "utf8", "more": true}),
            json!({"chunk_seq": 1, "data": "o!", "encoding": "utf8", "more": false}),
        ]
    );
    let job = h
        .submit(c, "r2", json!({"agent": "chunked", "input": {"data": "h\u{e9}llo!", "encoding": "base64", "chunk_size": 4}}))
        .unwrap();
    let f = h.job_frames(c, &job);
    assert_eq!(
        events(&f).iter().map(strip).collect::<Vec<_>>(),
        vec![
            json!({"chunk_seq": 0, "data": "aMOpbA==", "encoding": "base64", "more": true}),
            json!({"chunk_seq": 1, "data": "bG8h", "encoding": "base64", "more": false}),
        ]
    );
    assert_eq!(last(&f)["payload"]["result_size"], 7);
    assert_eq!(last(&f)["payload"]["summary"], "2 chunks");
}

#[test]
fn chunked_edge_modes_are_refused() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(c, "r1", json!({"agent": "chunked", "input": {"data": "abcdefgh", "chunk_size": 2, "order": [0, 2, 1, 3]}}))
        .unwrap();
    let f = h.job_frames(c, &job);
    assert_eq!(last(&f)["type"], "job.error");
    assert_eq!(last(&f)["payload"]["code"], "INVALID_REQUEST");
    let job = h
        .submit(
            c,
            "r2",
            json!({"agent": "chunked", "input": {"data": "abcd", "inline_after_chunks": true}}),
        )
        .unwrap();
    let f = h.job_frames(c, &job);
    assert_eq!(last(&f)["type"], "job.error");
    assert_eq!(last(&f)["payload"]["code"], "INVALID_REQUEST");
    assert_eq!(h.live_tasks(), 0);
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
fn failing_with_and_without_code() {
    let (_, ours) = replay_against_transcript("failing_agent");
    let errors: Vec<&Value> = ours.iter().filter(|f| f["type"] == "job.error").collect();
    assert_eq!(errors.len(), 2);
    assert_eq!(
        errors[0]["payload"],
        json!({"final_status": "error", "code": "INTERNAL_ERROR", "message": "boom",
               "retryable": true, "completed_at": errors[0]["payload"]["completed_at"]})
    );
    assert_eq!(errors[1]["payload"]["code"], "PERMISSION_DENIED");
    assert_eq!(errors[1]["payload"]["message"], "nope");
    assert_eq!(errors[1]["payload"]["retryable"], false);
    // An explicit INTERNAL_ERROR code stays retryable.
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "failing", "input": {"code": "INTERNAL_ERROR"}}),
        )
        .unwrap();
    let end = last(&h.job_frames(c, &job));
    assert_eq!(end["payload"]["retryable"], true);
    assert_eq!(end["payload"]["message"], "boom");
}

#[test]
fn rotator_credential_rotated_status() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "rotator", "input": {"delay_sec": 0.2},
            "lease_request": {"model.use": ["tier-fast/*"]}}),
        )
        .unwrap();
    let f = h.job_frames(c, &job);
    let cred = f[0]["payload"]["credentials"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(cred, format!("cred_{:026}", 1));
    assert_eq!(
        events(&f),
        vec![json!({"phase": "credential_rotated", "id": cred,
                    "value": format!("virt-rotated-0-{:026}", 1)})]
    );
    assert_eq!(last(&f)["payload"]["result"], json!({"rotated": [cred]}));
    assert_eq!(h.elapsed_ms(), 200);
    // Without model.use there is no credential: nothing rotated.
    let job = h
        .submit(
            c,
            "r2",
            json!({"agent": "rotator", "input": {"delay_sec": 0}}),
        )
        .unwrap();
    let f = h.job_frames(c, &job);
    assert_eq!(kinds(&f), ["job.accepted", "job.result"]);
    assert_eq!(last(&f)["payload"]["result"], json!({"rotated": []}));
}

#[test]
fn rotator_value_hidden_from_observers() {
    let mut h = Harness::contract();
    let c = h.connect(1, "alice-token");
    let auditor = h.connect(2, "auditor-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "rotator", "input": {"delay_sec": 1},
            "lease_request": {"model.use": ["m"]}}),
        )
        .unwrap_or_default();
    // The job ran to completion inside submit; subscribe with history afterwards.
    h.send(
        auditor,
        &json!({"arcp": "1.1", "id": "s1", "type": "job.subscribe",
        "payload": {"job_id": job, "history": true}}),
    );
    let seen = h.peek(auditor);
    let status: Vec<&Value> = seen
        .iter()
        .filter(|f| f["payload"]["kind"] == "status")
        .collect();
    assert_eq!(status.len(), 1, "{seen:?}");
    // D9/D13: an observer never sees the value.
    assert!(status[0]["payload"]["body"].get("value").is_none());
    assert_eq!(status[0]["payload"]["body"]["phase"], "credential_rotated");
}

#[test]
fn rotator_matches_transcript() {
    replay_against_transcript("provisioned_credentials");
}

#[test]
fn unknown_agent_in_registry_ends_internal_error() {
    // The runtime knows an agent the registry does not host.
    let mut h = Harness::with_registry(arcp_agents::contract_agents(), |cfg| {
        cfg.agents
            .push(arcp_proto::runtime::AgentSpec::new("ghost", &["1.0.0"]));
    });
    let c = h.connect(1, "alice-token");
    let job = h.submit(c, "r1", json!({"agent": "ghost"})).unwrap();
    let end = last(&h.job_frames(c, &job));
    assert_eq!(end["type"], "job.error");
    assert_eq!(end["payload"]["code"], "INTERNAL_ERROR");
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
fn slow_max_runtime_matches_transcript() {
    let (h, _) = replay_against_transcript("max_runtime");
    assert_eq!(h.elapsed_ms(), 1000);
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
