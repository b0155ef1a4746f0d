//! The contract agents of interop/README.md ("Agent contract", as adjusted by COMPAT.md) run
//! through `run_job` on a real `Runtime`, driven by the deterministic test host: exact event
//! kinds, bodies and terminal frames, and the golden transcripts' job frames.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::*;

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
    let job = arcp_proto::wire::JobId::from(h.peek(c)[0]["job_id"].as_str().unwrap());
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
fn slow_max_runtime_matches_transcript() {
    let (h, _) = replay_against_transcript("max_runtime");
    assert_eq!(h.elapsed_ms(), 1000);
}
