//! Runtime-hosted tools and the §14 signals through an in-process tokio server built with
//! the real builder (`.demo().agents(..).tools(..)`) over WebSocket: the exact frames of a
//! checked tool call and a refused one, and the signal counters in `ServerMetrics`.

mod server_support;

use arcp_agents::{AgentError, AgentRegistry, JobContext, ToolRegistry};
use arcp_proto::wire::Amount;
use arcp_tokio::server::{Server, ServerMetrics};
use serde_json::{Value, json};
use server_support::*;
use std::time::Duration;

async fn tool_user(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    let mut out = Vec::new();
    for name in input["tools"].as_array().cloned().unwrap_or_default() {
        let name = name.as_str().unwrap_or_default();
        match ctx.call_tool(name, json!({"q": name})).await {
            Ok(v) => out.push(v),
            Err(e) => out.push(json!(e.code.as_str())),
        }
    }
    Ok(Value::Array(out))
}

fn submit_with_lease(p: &Peer, tools: Value, lease: Value) -> Value {
    let mut s = submit("tool-user", json!({"tools": tools}));
    s["payload"]["lease_request"] = lease;
    s["session_id"] = json!(p.session_id.clone().unwrap());
    s
}

/// The latest metrics once `done` holds (published at most 5 ms after a change).
async fn metrics_when(
    handle: &arcp_tokio::server::ServerHandle,
    done: impl Fn(&ServerMetrics) -> bool,
) -> ServerMetrics {
    let mut m = handle.metrics();
    for _ in 0..200 {
        if done(&m) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        m = handle.metrics();
    }
    m
}

#[tokio::test]
async fn a_runtime_hosted_tool_is_checked_reported_and_charged_and_signals_are_counted() {
    let mut agents = AgentRegistry::new();
    agents.register("tool-user", None, tool_user);
    let mut tools = ToolRegistry::new();
    tools.register_with_cost(
        "lookup",
        Amount::parse("USD:0.25").unwrap(),
        |args: Value| async move { Ok(json!({"found": args["q"]})) },
    );
    let (url, handle) = Server::builder()
        .demo()
        .agents(agents)
        .tools(tools)
        .heartbeat_interval(Duration::ZERO)
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();

    let mut alice = Peer::connect(&url).await;
    alice.hello("alice-token").await;
    let s = submit_with_lease(
        &alice,
        json!(["lookup", "shell"]),
        json!({"tool.call": ["lookup"], "cost.budget": ["USD:1.00"]}),
    );
    alice.send(&s).await;
    let accepted = alice.recv().await;
    assert_eq!(accepted["type"], "job.accepted", "{accepted}");
    let job = accepted["job_id"].as_str().unwrap().to_owned();
    let frames = alice.until_terminal(&job).await;
    let events: Vec<Value> = frames
        .iter()
        .filter(|f| f["type"] == "job.event")
        .map(|f| json!([f["payload"]["kind"], f["payload"]["body"]]))
        .collect();
    assert_eq!(
        events,
        vec![
            json!(["tool_call", {"tool_call_id": "call_1", "name": "lookup", "arguments": {"q": "lookup"}}]),
            json!(["metric", {"name": "cost.tool", "value": 0.25, "unit": "USD",
                              "attributes": {"tool": "lookup", "tool_call_id": "call_1"}}]),
            json!(["metric", {"name": "cost.budget.remaining", "value": 0.75, "unit": "USD"}]),
            json!(["tool_result", {"tool_call_id": "call_1", "output": {"found": "lookup"}}]),
        ]
    );
    let end = frames.last().unwrap();
    assert_eq!(end["type"], "job.result");
    assert_eq!(
        end["payload"]["result"],
        json!([{"found": "lookup"}, "PERMISSION_DENIED"])
    );

    // Subscribe decisions: bob may not see alice's job, the auditor may.
    let mut bob = Peer::connect(&url).await;
    bob.hello("bob-token").await;
    bob.send(&json!({"arcp": "1.1", "id": eid(), "type": "job.subscribe",
                     "session_id": bob.session_id, "payload": {"job_id": job}}))
        .await;
    let e = bob.recv().await;
    assert_eq!(e["payload"]["code"], "PERMISSION_DENIED", "{e}");
    let mut auditor = Peer::connect(&url).await;
    auditor.hello("auditor-token").await;
    auditor
        .send(&json!({"arcp": "1.1", "id": eid(), "type": "job.subscribe",
                      "session_id": auditor.session_id, "payload": {"job_id": job}}))
        .await;
    let sub = auditor.recv().await;
    assert_eq!(sub["type"], "job.subscribed", "{sub}");

    let m = metrics_when(&handle, |m| {
        m.runtime.subscribes_allowed + m.runtime.subscribes_denied == 2
    })
    .await;
    let r = &m.runtime;
    assert_eq!(
        (
            r.operations_denied,
            r.operations_budget_exhausted,
            r.operations_lease_expired,
            r.subscribes_allowed,
            r.subscribes_denied,
            r.subscribes_over_limit,
            r.leases_expired,
            r.heartbeats_lost,
            r.revocations_failed,
            r.jobs_succeeded,
        ),
        (1, 0, 0, 1, 1, 0, 0, 0, 0, 1)
    );
    handle.shutdown().await;
}
