//! The JobContext API through custom agents on the test host: getters, budget, the lease
//! gate, model authorization, credential rotation, explicit chunks and summaries.

mod support;

use arcp_agents::{AgentError, AgentRegistry, JobContext, contract_agents};
use arcp_proto::wire::ChunkEncoding;
use serde_json::{Value, json};
use support::*;

async fn inspect(_input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    let before = ctx.budget().await;
    ctx.cost("cost.inference", "0.25", "USD").await?;
    let after = ctx.budget().await;
    let model_ok = ctx.authorize_model("tier-fast/small").await.is_ok();
    let model_denied = ctx
        .authorize_model("tier-slow/large")
        .await
        .map_err(|e| e.code.as_str().to_owned())
        .err();
    let creds = ctx.credentials();
    let new_value = ctx.rotate_credential(&creds[0].id).await?;
    let rotated = ctx.credentials();
    let unknown = ctx
        .rotate_credential("cred_nope")
        .await
        .err()
        .map(|e| e.code);
    Ok(json!({
        "job_id_matches": ctx.job_id().starts_with("job_"),
        "agent": ctx.agent().to_string(),
        "principal": ctx.principal(),
        "lease_ns": ctx.lease().namespaces().collect::<Vec<_>>(),
        "expires_at": ctx.lease_constraints().and_then(|c| c.expires_at.as_ref()).map(|t| t.to_string()),
        "trace": ctx.trace_id().map(|t| t.as_str().to_owned()),
        "parent": ctx.parent_job_id(),
        "max_runtime_sec": ctx.max_runtime_sec(),
        "input": ctx.input().clone(),
        "budget_before": before.and_then(|b| b.get("USD").map(|d| d.to_string())),
        "budget_after": after.and_then(|b| b.get("USD").map(|d| d.to_string())),
        "model_ok": model_ok,
        "model_denied": model_denied,
        "new_value_is_current": rotated[0].value == new_value && creds[0].value != new_value,
        "unknown_rotation": unknown.map(|c| c.as_str().to_owned()),
        "cancelled": ctx.is_cancelled(),
    }))
}

async fn manual_stream(_input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    ctx.result_chunk("ab", ChunkEncoding::Utf8).await?;
    ctx.result_chunk(String::from("cd"), ChunkEncoding::Utf8)
        .await?;
    let n = ctx.stream_base64(b"xyz", 2).await?;
    assert_eq!(n, 2);
    assert_eq!(ctx.chunks_sent(), 4);
    ctx.set_summary("four");
    Ok(Value::Null)
}

fn registry() -> AgentRegistry {
    let mut r = contract_agents();
    r.register("inspect", None, inspect)
        .register("manual-stream", None, manual_stream);
    r
}

#[test]
fn context_getters_budget_gate_and_rotation() {
    let mut h = Harness::with_registry(registry(), |_| {});
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "inspect", "input": {"k": 1}, "max_runtime_sec": 60,
                   "lease_request": {"model.use": ["tier-fast/*"], "cost.budget": ["USD:1.00"]},
                   "lease_constraints": {"expires_at": "2026-11-24T02:00:00Z"}}),
        )
        .unwrap();
    let f = h.job_frames(c, &job);
    let r = f.last().unwrap()["payload"]["result"].clone();
    assert_eq!(
        r,
        json!({
            "job_id_matches": true,
            "agent": "inspect",
            "principal": "alice",
            // serde_json (no preserve_order) sends the lease keys sorted.
            "lease_ns": ["cost.budget", "model.use"],
            "expires_at": "2026-11-24T02:00:00Z",
            "trace": null,
            "parent": null,
            "max_runtime_sec": 60,
            "input": {"k": 1},
            "budget_before": "1.00",
            "budget_after": "0.75",
            "model_ok": true,
            "model_denied": "PERMISSION_DENIED",
            "new_value_is_current": true,
            "unknown_rotation": "INVALID_REQUEST",
            "cancelled": false,
        })
    );
    let kinds = kinds(&f);
    assert_eq!(
        kinds,
        ["job.accepted", "metric", "metric", "status", "job.result"]
    );
}

#[test]
fn explicit_chunks_get_more_false_on_the_last_and_the_summary() {
    let mut h = Harness::with_registry(registry(), |_| {});
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(c, "r1", json!({"agent": "manual-stream"}))
        .unwrap();
    let f = h.job_frames(c, &job);
    let chunks: Vec<(u64, String, bool)> = f
        .iter()
        .filter(|x| x["payload"]["kind"] == "result_chunk")
        .map(|x| {
            let b = &x["payload"]["body"];
            (
                b["chunk_seq"].as_u64().unwrap(),
                b["data"].as_str().unwrap().to_owned(),
                b["more"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        chunks,
        [
            (0, "ab".to_owned(), true),
            (1, "cd".to_owned(), true),
            (2, "eHk=".to_owned(), true),
            (3, "eg==".to_owned(), false),
        ]
    );
    let end = &f.last().unwrap()["payload"];
    assert_eq!(end["summary"], "four");
    assert_eq!(end["result_size"], 7);
    assert!(end.get("result").is_none());
}

async fn panics(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    ctx.log("info", "before").await?;
    if input.is_null() {
        panic!("agent bug");
    }
    Ok(input)
}

#[test]
fn a_panicking_agent_ends_its_job_internal_error() {
    let mut r = registry();
    r.register("panics", None, panics);
    let mut h = Harness::with_registry(r, |_| {});
    let c = h.connect(1, "alice-token");
    let job = h.submit(c, "r1", json!({"agent": "panics"})).unwrap();
    let f = h.job_frames(c, &job);
    assert_eq!(kinds(&f), ["job.accepted", "log", "job.error"]);
    let end = &f.last().unwrap()["payload"];
    assert_eq!(end["code"], "INTERNAL_ERROR");
    assert_eq!(end["message"], "agent panicked");
    assert_eq!(end["retryable"], true);
    assert_eq!(h.live_tasks(), 0);
    // The runtime carries on.
    let job = h
        .submit(c, "r2", json!({"agent": "echo", "input": 5}))
        .unwrap();
    assert_eq!(
        h.job_frames(c, &job).last().unwrap()["payload"]["result"],
        5
    );
}
