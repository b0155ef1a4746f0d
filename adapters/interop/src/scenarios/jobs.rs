//! budget_exhaustion, lease_enforcement, lease_expiry, result_chunks, max_runtime,
//! failing_agent, delegation, provisioned_credentials, bad_token, graceful_close.

use super::basic::statuses;
use crate::api::SubmitSpec;
use crate::check::{Res, Stop, b64decode, check, close_to, eq, now_micros, now_z, parse_ts, short};
use crate::ctx::{
    CREDENTIAL_FEATURES, Ctx, V1_1_FEATURES, assert_gap_free, last_accepted, submit_and_wait,
};
use crate::tap::{TERMINAL_TYPES, payload, ty};
use serde_json::{Value, json};
use std::thread::sleep;
use std::time::{Duration, Instant};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn bodies(frames: &[Value]) -> Vec<Value> {
    frames.iter().map(|e| payload(e)["body"].clone()).collect()
}

fn expect_job_error(r: Result<crate::api::Outcome, crate::api::ClientError>, code: &str) -> Res {
    match r {
        Ok(_) => Err(Stop::fail(format!("client did not surface {code}"))),
        Err(e) if e.code().is_some() => {
            eq(&json!(e.code()), &json!(code), "client-visible error code")
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) fn budget_exhaustion(ctx: &Ctx) -> Res {
    let s = ctx.client(None, None)?;
    let lease = json!({"tool.call": ["paid-tool"], "cost.budget": ["USD:1.00"]});
    let mut spec = SubmitSpec::new("budget", json!({"cost": "0.40", "steps": 10}));
    spec.lease_request = Some(lease.clone());
    let job = s.client.submit(&spec)?;
    let acc = last_accepted(&s.tap)?;
    eq(&payload(&acc)["lease"], &lease, "effective lease")?;
    eq(
        &payload(&acc)["budget"],
        &json!({"USD": "USD:1.00"}),
        "initial budget counters in job.accepted",
    )?;
    let term = s.tap.wait_terminal(&job, 10.0)?;
    expect_job_error(s.client.done(&job, secs(3.0)), "BUDGET_EXHAUSTED")?;
    let evs = s.tap.job_events(&job, None);
    let kinds: Vec<Value> = evs.iter().map(|e| payload(e)["kind"].clone()).collect();
    let mut want: Vec<&str> = Vec::new();
    for _ in 0..3 {
        want.extend(["tool_call", "metric", "metric", "tool_result"]);
    }
    want.extend(["tool_call", "tool_result"]);
    eq(&json!(kinds), &json!(want), "event kinds")?;
    let metrics: Vec<Value> = evs
        .iter()
        .filter(|e| payload(e)["kind"] == json!("metric"))
        .map(|e| payload(e)["body"].clone())
        .collect();
    let spent: Vec<&Value> = metrics
        .iter()
        .filter(|m| m["name"] == json!("cost.inference"))
        .collect();
    let remaining: Vec<&Value> = metrics
        .iter()
        .filter(|m| m["name"] == json!("cost.budget.remaining"))
        .collect();
    eq(&json!(spent.len()), &json!(3), "cost.inference metrics")?;
    for m in &spent {
        eq(&m["unit"], &json!("USD"), "cost unit")?;
        close_to(&m["value"], 0.4, "cost value", 1e-9)?;
    }
    let units: Vec<Value> = remaining.iter().map(|m| m["unit"].clone()).collect();
    eq(
        &json!(units),
        &json!(["USD", "USD", "USD"]),
        "cost.budget.remaining units",
    )?;
    for (m, exp) in remaining.iter().zip([0.6, 0.2, -0.2]) {
        close_to(&m["value"], exp, "cost.budget.remaining value", 1e-9)?;
    }
    let last = evs
        .last()
        .map_or(Value::Null, |e| payload(e)["body"].clone());
    eq(
        &last["tool_call_id"],
        &json!("step_3"),
        "failing tool_result call id",
    )?;
    eq(
        &last["error"]["code"],
        &json!("BUDGET_EXHAUSTED"),
        "tool_result error code",
    )?;
    eq(
        &last["error"]["retryable"],
        &json!(false),
        "tool_result error retryable",
    )?;
    eq(&term["type"], &json!("job.error"), "terminal type")?;
    let tp = payload(&term);
    eq(
        &json!([tp["code"], tp["retryable"], tp["final_status"]]),
        &json!(["BUDGET_EXHAUSTED", false, "error"]),
        "job.error code/retryable/final_status",
    )?;
    parse_ts(&tp["completed_at"])?;
    Ok(())
}

pub(super) fn lease_enforcement(ctx: &Ctx) -> Res {
    let s = ctx.client(None, None)?;
    let lease = json!({"fs.read": ["/project/**"], "tool.call": ["search", "fetch-*"], "model.use": ["tier-fast/*"]});
    let ops = [
        ("fs.read", "/project/src/main.rs", "OK"),
        ("fs.read", "/project/a/b/c/deep.txt", "OK"),
        ("fs.read", "/etc/passwd", "PERMISSION_DENIED"),
        ("fs.write", "/project/out.txt", "PERMISSION_DENIED"),
        ("tool.call", "search", "OK"),
        ("tool.call", "fetch-web", "OK"),
        ("tool.call", "exec", "PERMISSION_DENIED"),
        ("model.use", "tier-fast/small", "OK"),
        ("model.use", "tier-slow/large", "PERMISSION_DENIED"),
        ("net.fetch", "https://example.com/", "PERMISSION_DENIED"),
    ];
    let inp = json!({"ops": ops.iter().map(|(c, t, _)| json!({"capability": c, "target": t})).collect::<Vec<_>>()});
    let mut spec = SubmitSpec::new("lease-check", inp);
    spec.lease_request = Some(lease);
    let (job, term) = submit_and_wait(&s, spec, 10.0)?;
    eq(&term["type"], &json!("job.result"), "terminal type")?;
    let outcomes: Vec<&str> = ops.iter().map(|(_, _, r)| *r).collect();
    eq(
        &payload(&term)["result"],
        &json!({"results": outcomes}),
        "per-operation outcomes",
    )?;
    let calls = bodies(&s.tap.job_events(&job, Some("tool_call")));
    let results = bodies(&s.tap.job_events(&job, Some("tool_result")));
    let want: Vec<Value> = ops
        .iter()
        .enumerate()
        .map(|(i, (c, t, _))| json!({"tool_call_id": format!("op_{i}"), "name": c, "arguments": {"target": t}}))
        .collect();
    eq(&json!(calls), &json!(want), "tool_call bodies")?;
    check(
        results.len() == ops.len(),
        format!(
            "tool_result count: expected {}, got {}",
            ops.len(),
            results.len()
        ),
    )?;
    for (i, (body, (_, _, exp))) in results.iter().zip(&ops).enumerate() {
        eq(
            &body["tool_call_id"],
            &json!(format!("op_{i}")),
            "tool_result id",
        )?;
        if *exp == "OK" {
            eq(
                &body["output"],
                &json!({"allowed": true}),
                &format!("op_{i} output"),
            )?;
        } else {
            let err = &body["error"];
            eq(
                &json!([err["code"], err["retryable"]]),
                &json!([exp, false]),
                &format!("op_{i} error"),
            )?;
            check(
                err["message"].is_string(),
                format!("op_{i} error message must be a string"),
            )?;
        }
    }
    Ok(())
}

pub(super) fn lease_expiry(ctx: &Ctx) -> Res {
    let s = ctx.client(None, None)?;
    let exp = now_z(3.0, false);
    let exp_us = parse_ts(&json!(exp))?;
    let inp = json!({"ops": [{"capability": "fs.read", "target": "/project/a.txt"},
                              {"capability": "fs.read", "target": "/project/b.txt", "delay_sec": 5}]});
    let mut spec = SubmitSpec::new("lease-check", inp);
    spec.lease_request = Some(json!({"fs.read": ["/project/**"]}));
    spec.expires_at = Some(exp.clone());
    let job = s.client.submit(&spec)?;
    let sub = s.tap.last_sent("job.submit")?;
    eq(
        &sub["payload"]["lease_constraints"],
        &json!({"expires_at": exp}),
        "job.submit lease_constraints",
    )?;
    let acc = last_accepted(&s.tap)?;
    eq(
        &payload(&acc)["lease_constraints"],
        &json!({"expires_at": exp}),
        "job.accepted lease_constraints",
    )?;
    let term = s.tap.wait_terminal(&job, 10.0)?;
    let t_arrival = now_micros();
    eq(&term["type"], &json!("job.error"), "terminal type")?;
    let tp = payload(&term);
    eq(
        &json!([tp["code"], tp["retryable"], tp["final_status"]]),
        &json!(["LEASE_EXPIRED", false, "error"]),
        "job.error code/retryable/final_status",
    )?;
    check(
        t_arrival >= exp_us - 200_000,
        format!(
            "LEASE_EXPIRED arrived before expires_at ({} < {exp})",
            now_z(0.0, true)
        ),
    )?;
    check(
        t_arrival <= exp_us + 3_000_000,
        "LEASE_EXPIRED arrived more than 3s after expires_at",
    )?;
    let first = bodies(&s.tap.job_events(&job, Some("tool_result")));
    check(
        first.first().is_some_and(|b| {
            crate::check::json_eq(
                b,
                &json!({"tool_call_id": "op_0", "output": {"allowed": true}}),
            )
        }),
        format!(
            "operation before expiry must succeed, got {}",
            short(&json!(first))
        ),
    )?;
    for body in first.iter().skip(1) {
        eq(
            &body["error"]["code"],
            &json!("LEASE_EXPIRED"),
            "operation after expiry",
        )?;
    }
    expect_job_error(s.client.done(&job, secs(3.0)), "LEASE_EXPIRED")
}

fn decode_chunks(chunks: &[Value]) -> Res<Vec<u8>> {
    let mut out = Vec::new();
    for c in chunks {
        let enc = &c["encoding"];
        check(
            *enc == json!("utf8") || *enc == json!("base64"),
            format!("chunk encoding {}", short(enc)),
        )?;
        let data = c["data"].as_str().unwrap_or("");
        if *enc == json!("base64") {
            out.extend(b64decode(data).ok_or_else(|| Stop::fail("chunk data is not base64"))?);
        } else {
            out.extend(data.as_bytes());
        }
    }
    Ok(out)
}

pub(super) fn result_chunks(ctx: &Ctx) -> Res {
    let s = ctx.client(None, None)?;
    let text =
        "ARCP streams large results in order. \u{dc}n\u{ef}c\u{f6}d\u{e9} \u{2713} \u{2014} done.";
    for encoding in ["utf8", "base64"] {
        let job = s.client.submit(&SubmitSpec::new(
            "chunked",
            json!({"data": text, "encoding": encoding, "chunk_size": 8}),
        ))?;
        let term = s.tap.wait_terminal(&job, 10.0)?;
        let chunk_frames = s.tap.job_events(&job, Some("result_chunk"));
        let chunks = bodies(&chunk_frames);
        check(
            !chunks.is_empty(),
            format!("{encoding}: no result_chunk events"),
        )?;
        eq(
            &json!(s.tap.job_events(&job, None).len()),
            &json!(chunks.len()),
            &format!("{encoding}: events other than result_chunk"),
        )?;
        let rid = chunks[0]["result_id"].clone();
        check(
            rid.as_str().is_some_and(|r| r.starts_with("res_")),
            format!(
                "{encoding}: result_id must start with res_, got {}",
                short(&rid)
            ),
        )?;
        let mut rids: Vec<Value> = chunks.iter().map(|c| c["result_id"].clone()).collect();
        rids.dedup();
        eq(
            &json!(rids),
            &json!([rid]),
            &format!("{encoding}: result_id of every chunk"),
        )?;
        let seqs: Vec<Value> = chunks.iter().map(|c| c["chunk_seq"].clone()).collect();
        eq(
            &json!(seqs),
            &json!((0..chunks.len()).collect::<Vec<_>>()),
            &format!("{encoding}: chunk_seq values"),
        )?;
        // COMPAT D32: more:false on the last data chunk (ours) or on an extra empty chunk.
        let mores: Vec<Value> = chunks.iter().map(|c| c["more"].clone()).collect();
        let mut want = vec![json!(true); chunks.len() - 1];
        want.push(json!(false));
        eq(
            &json!(mores),
            &json!(want),
            &format!("{encoding}: more flags"),
        )?;
        let mut encs: Vec<Value> = chunks
            .iter()
            .filter(|c| c["data"].as_str().is_some_and(|d| !d.is_empty()))
            .map(|c| c["encoding"].clone())
            .collect();
        encs.sort_by_key(Value::to_string);
        encs.dedup();
        eq(
            &json!(encs),
            &json!([encoding]),
            &format!("{encoding}: encoding of non-empty chunks"),
        )?;
        let bytes = decode_chunks(&chunks)?;
        check(
            bytes == text.as_bytes(),
            format!("{encoding}: reassembled bytes differ"),
        )?;
        eq(
            &term["type"],
            &json!("job.result"),
            &format!("{encoding}: terminal type"),
        )?;
        let tp = payload(&term);
        eq(
            &tp["final_status"],
            &json!("success"),
            &format!("{encoding}: final_status"),
        )?;
        eq(
            &tp["result_id"],
            &rid,
            &format!("{encoding}: job.result result_id"),
        )?;
        eq(
            &tp["result_size"],
            &json!(text.len()),
            &format!("{encoding}: result_size (decoded bytes)"),
        )?;
        check(
            tp.get("result").is_none(),
            format!("{encoding}: job.result mixes an inline result with chunks"),
        )?;
        let last_chunk = chunk_frames
            .last()
            .and_then(|f| f["event_seq"].as_u64())
            .unwrap_or(0);
        check(
            term["event_seq"].as_u64().is_some_and(|n| n > last_chunk),
            format!("{encoding}: job.result before the last chunk"),
        )?;
        let got = s.client.done(&job, secs(3.0))?;
        check(
            got.chunks.as_deref() == Some(text.as_bytes()),
            format!(
                "{encoding}: client-side reassembly: expected {} bytes, got {:?}",
                text.len(),
                got.chunks.map(|c| c.len())
            ),
        )?;
    }
    assert_gap_free(&s.tap.seq_frames(), "session", 1)
}

pub(super) fn max_runtime(ctx: &Ctx) -> Res {
    let s = ctx.client(None, None)?;
    let mut spec = SubmitSpec::new("slow", json!({"seconds": 10, "tick": 0.5}));
    spec.max_runtime_sec = Some(1);
    let job = s.client.submit(&spec)?;
    eq(
        &s.tap.last_sent("job.submit")?["payload"]["max_runtime_sec"],
        &json!(1),
        "job.submit max_runtime_sec",
    )?;
    let t0 = Instant::now();
    let term = s.tap.wait_terminal(&job, 6.0)?;
    let dt = t0.elapsed().as_secs_f64();
    check(
        (0.7..=4.0).contains(&dt),
        format!("timed_out after {dt:.2}s for max_runtime_sec=1"),
    )?;
    eq(&term["type"], &json!("job.result"), "terminal type")?;
    eq(
        &payload(&term)["final_status"],
        &json!("timed_out"),
        "final_status",
    )?;
    check(
        payload(&term).get("result").is_none(),
        "timed_out job.result must not carry a result",
    )?;
    let lst = s.client.list_jobs(&json!({}))?;
    eq(
        &statuses(&lst)
            .get(job.as_str())
            .cloned()
            .unwrap_or(Value::Null),
        &json!("timed_out"),
        "list_jobs status",
    )
}

pub(super) fn failing_agent(ctx: &Ctx) -> Res {
    let s = ctx.client(None, None)?;
    let (job, term) = submit_and_wait(
        &s,
        SubmitSpec::new("failing", json!({"message": "boom"})),
        10.0,
    )?;
    eq(
        &json!(bodies(&s.tap.job_events(&job, None))),
        &json!([{"level": "error", "message": "about to fail"}]),
        "events before the failure",
    )?;
    eq(&term["type"], &json!("job.error"), "terminal type")?;
    let tp = payload(&term);
    eq(
        &json!([
            tp["final_status"],
            tp["code"],
            tp["message"],
            tp["retryable"]
        ]),
        &json!(["error", "INTERNAL_ERROR", "boom", true]),
        "job.error payload",
    )?;
    let (_j2, t2) = submit_and_wait(
        &s,
        SubmitSpec::new(
            "failing",
            json!({"message": "nope", "code": "PERMISSION_DENIED"}),
        ),
        10.0,
    )?;
    let tp2 = payload(&t2);
    eq(
        &json!([tp2["code"], tp2["message"], tp2["retryable"]]),
        &json!(["PERMISSION_DENIED", "nope", false]),
        "typed job.error payload",
    )?;
    assert_gap_free(&s.tap.seq_frames(), "session", 1)
}

pub(super) fn delegation(ctx: &Ctx) -> Res {
    let s = ctx.client(None, None)?;
    let parent_lease = json!({"agent.delegate": ["echo"], "fs.read": ["/project/**"], "cost.budget": ["USD:2.00"]});
    let child_lease = json!({"fs.read": ["/project/src/**"], "cost.budget": ["USD:0.50"]});
    let mut spec = SubmitSpec::new(
        "delegator",
        json!({"agent": "echo", "input": {"ping": 1}, "lease": child_lease}),
    );
    spec.lease_request = Some(parent_lease);
    let (job, term) = submit_and_wait(&s, spec, 10.0)?;
    let dels = s.tap.job_events(&job, Some("delegate"));
    eq(&json!(dels.len()), &json!(1), "delegate events")?;
    let body = payload(&dels[0])["body"].clone();
    let child = body["child_job_id"].as_str().unwrap_or("").to_owned();
    check(
        child.starts_with("job_") && child != job,
        format!("child_job_id {}", short(&body["child_job_id"])),
    )?;
    eq(
        &body,
        &json!({"child_job_id": child, "agent": "echo@1.0.0", "lease": child_lease}),
        "delegate body",
    )?;
    let cterm = s
        .tap
        .frames(|f| TERMINAL_TYPES.contains(&ty(f)) && f["job_id"] == json!(child));
    eq(
        &json!(cterm.len()),
        &json!(1),
        "child terminal frames on the session",
    )?;
    eq(
        &payload(&cterm[0])["result"],
        &json!({"ping": 1}),
        "child result",
    )?;
    let (d, c, t) = (
        dels[0]["event_seq"].as_u64().unwrap_or(0),
        cterm[0]["event_seq"].as_u64().unwrap_or(0),
        term["event_seq"].as_u64().unwrap_or(0),
    );
    check(
        d < c && c < t,
        "order: delegate event, child terminal, parent terminal",
    )?;
    eq(
        &payload(&term)["result"],
        &json!({"child_job_id": child, "child_agent": "echo@1.0.0", "child_final_status": "success", "child_result": {"ping": 1}}),
        "parent result",
    )?;
    let lst = s.client.list_jobs(&json!({}))?;
    let entry = lst["jobs"]
        .as_array()
        .and_then(|js| js.iter().find(|j| j["job_id"] == json!(child)).cloned());
    let Some(entry) = entry else {
        return Err(Stop::fail("child job not listed"));
    };
    eq(
        &json!([entry["parent_job_id"], entry["agent"], entry["status"]]),
        &json!([job, "echo@1.0.0", "success"]),
        "child listing",
    )?;
    assert_gap_free(&s.tap.seq_frames(), "session", 1)
}

pub(super) fn provisioned_credentials(ctx: &Ctx) -> Res {
    let s = ctx.client(None, None)?;
    let exp = now_z(120.0, false);
    let lease = json!({"model.use": ["tier-fast/*"], "cost.budget": ["USD:1.00"]});
    let mut spec = SubmitSpec::new("rotator", json!({"delay_sec": 0.2}));
    spec.lease_request = Some(lease);
    spec.expires_at = Some(exp.clone());
    let (job, term) = submit_and_wait(&s, spec, 10.0)?;
    let acc = last_accepted(&s.tap)?;
    let creds = payload(&acc)["credentials"].clone();
    check(
        creds.as_array().is_some_and(|c| c.len() == 1),
        format!("expected exactly one credential, got {}", short(&creds)),
    )?;
    let cred = creds[0].clone();
    for k in ["id", "value", "endpoint"] {
        check(
            cred[k].as_str().is_some_and(|v| !v.is_empty()),
            format!("credential {k} must be a non-empty string"),
        )?;
    }
    eq(&cred["scheme"], &json!("bearer"), "credential scheme")?;
    if let Some(cons) = cred.get("constraints").filter(|c| !c.is_null()) {
        // COMPAT D13: constraint keys in the reference's form; a runtime may list fewer.
        let expected =
            json!({"cost_budget": ["USD:1.00"], "model_use": ["tier-fast/*"], "expires_at": exp});
        let ok = cons
            .as_object()
            .is_some_and(|m| m.keys().all(|k| expected.get(k).is_some()));
        check(
            ok,
            format!(
                "credential constraints keys {}; expected a subset of [\"cost_budget\", \"expires_at\", \"model_use\"]",
                short(cons)
            ),
        )?;
        for (k, v) in cons.as_object().into_iter().flatten() {
            if k == "expires_at" {
                eq(
                    &json!(parse_ts(v)?),
                    &json!(parse_ts(&json!(exp))?),
                    "credential constraints.expires_at",
                )?;
            } else {
                eq(v, &expected[k], &format!("credential constraints.{k}"))?;
            }
        }
    }
    let rot = s.tap.job_events(&job, Some("status"));
    eq(
        &json!(rot.len()),
        &json!(1),
        "credential_rotated status events",
    )?;
    let rb = payload(&rot[0])["body"].clone();
    eq(
        &json!([rb["phase"], rb["id"]]),
        &json!(["credential_rotated", cred["id"]]),
        "rotation body",
    )?;
    check(
        rb["value"].as_str().is_some_and(|v| !v.is_empty()) && rb["value"] != cred["value"],
        "rotated value must be a new non-empty string",
    )?;
    eq(
        &payload(&term)["result"],
        &json!({"rotated": [cred["id"]]}),
        "rotator result",
    )?;
    submit_and_wait(&s, SubmitSpec::new("echo", json!(1)), 10.0)?;
    check(
        payload(&last_accepted(&s.tap)?)
            .get("credentials")
            .is_none(),
        "credentials issued for a lease without model.use",
    )?;
    // A session that did not negotiate provisioned_credentials gets none.
    let s2 = ctx.client(None, Some(&V1_1_FEATURES))?;
    let _ = CREDENTIAL_FEATURES;
    let mut spec = SubmitSpec::new("rotator", json!({"delay_sec": 0}));
    spec.lease_request = Some(json!({"model.use": ["tier-fast/*"]}));
    let (_j3, t3) = submit_and_wait(&s2, spec, 10.0)?;
    check(
        payload(&last_accepted(&s2.tap)?)
            .get("credentials")
            .is_none(),
        "credentials issued without the provisioned_credentials feature",
    )?;
    eq(
        &payload(&t3)["result"],
        &json!({"rotated": []}),
        "rotator result without credentials",
    )
}

pub(super) fn bad_token(ctx: &Ctx) -> Res {
    let (raw, first) = ctx.raw(Some("definitely-not-a-valid-token"), None, None, false)?;
    eq(
        &first["type"],
        &json!("session.error"),
        "reply to a hello with a bad token",
    )?;
    let p = payload(&first);
    eq(
        &json!([p["code"], p["retryable"]]),
        &json!(["UNAUTHENTICATED", false]),
        "session.error code/retryable",
    )?;
    check(
        p["message"].is_string(),
        "session.error message must be a string",
    )?;
    check(
        raw.tap.wait_closed(3.0),
        "runtime did not close the transport after UNAUTHENTICATED",
    )?;
    check(
        raw.tap.frames(|f| ty(f) == "session.welcome").is_empty(),
        "session.welcome sent for a bad token",
    )?;
    match ctx.try_connect(&ctx.connect_request("another-bad-token")) {
        Ok(_) => Err(Stop::fail("reference client connected with a bad token")),
        Err(e) if e.code().is_some() => eq(
            &json!(e.code()),
            &json!("UNAUTHENTICATED"),
            "client-visible error code",
        ),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn graceful_close(ctx: &Ctx) -> Res {
    let a = ctx.client(None, None)?;
    let job = a.client.submit(&SubmitSpec::new(
        "slow",
        json!({"seconds": 1.5, "tick": 0.5}),
    ))?;
    a.tap.wait_for(
        |f| f["job_id"] == json!(job) && ty(f) == "job.event",
        3.0,
        "first event",
        0,
    )?;
    let start = a.tap.len();
    a.send("session.bye", json!({"reason": "interop.done"}))?;
    check(
        a.tap.wait_closed(3.0),
        "runtime did not close the transport after session.bye",
    )?;
    for f in a.tap.inbound_from(start) {
        check(
            ty(&f) != "session.error",
            format!("session.error after session.bye: {}", short(&f)),
        )?;
    }
    if !ctx.multi_session() {
        return Ok(());
    }
    let b = ctx.client(None, None)?;
    let deadline = Instant::now() + secs(5.0);
    let mut status = Value::Null;
    while Instant::now() < deadline {
        let lst = b.client.list_jobs(&json!({}))?;
        status = statuses(&lst)
            .get(job.as_str())
            .cloned()
            .unwrap_or(Value::Null);
        if status == json!("success") {
            break;
        }
        check(
            status == json!("running"),
            format!("job status after the submitter closed: {}", short(&status)),
        )?;
        sleep(secs(0.25));
    }
    eq(
        &status,
        &json!("success"),
        "job status after session.bye (jobs are not affected by close)",
    )
}
