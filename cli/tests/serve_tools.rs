//! `arcp serve --demo` (the real binary) hosting a runtime tool: demo mode's `lookup`
//! (declared cost USD:0.25) reached by the demo agent `tool-user` only through
//! `JobContext::call_tool`, gated by the lease's `tool.call`, reported as `tool_call` /
//! `tool_result` and charged against `cost.budget`.

#[path = "support/serve.rs"]
mod serve;
use arcp_tokio::client::{Client, ResultValue, SubmitRequest};
use futures_util::StreamExt;
use serde_json::{Value, json};
use serve::Served;
use std::time::Duration;

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 20 s"))
}

/// Runs `tool-user` over `tools` with `req`'s lease: every event as `[kind, body]`, then the
/// inline result.
async fn run(client: &Client, req: SubmitRequest) -> (Vec<Value>, Value) {
    let job = within("submit", client.submit(req)).await.unwrap();
    let mut events = job.events();
    let mut seen = Vec::new();
    while let Some(item) = within("events", events.next()).await {
        let v = serde_json::to_value(&item.event).unwrap();
        seen.push(json!([v["kind"], v["body"]]));
    }
    drop(events);
    let outcome = within("result", job.done()).await.unwrap();
    let result = match outcome.result() {
        Some(ResultValue::Inline(v)) => v.clone(),
        other => panic!("expected an inline result, got {other:?}"),
    };
    (seen, result)
}

#[tokio::test]
async fn a_runtime_hosted_tool_is_gated_reported_and_charged_through_the_binary() {
    let served = Served::start(&[]);
    let alice = within("alice", Client::connect(&served.url, "alice-token"))
        .await
        .unwrap();
    let req = SubmitRequest::new("tool-user", json!({"tools": ["lookup", "shell"]}))
        .lease("tool.call", ["lookup"])
        .lease("cost.budget", ["USD:1.00"]);
    let (events, result) = run(&alice, req).await;
    // `shell` is outside `tool.call`: refused before anything is emitted for it.
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
    assert_eq!(result, json!([{"found": "lookup"}, "PERMISSION_DENIED"]));
    within("close", alice.close()).await.unwrap();
}

#[tokio::test]
async fn without_tool_call_in_the_lease_no_tool_runs_through_the_binary() {
    let served = Served::start(&[]);
    let alice = within("alice", Client::connect(&served.url, "alice-token"))
        .await
        .unwrap();
    let req = SubmitRequest::new("tool-user", json!({"tools": ["lookup", "shell"]}))
        .lease("cost.budget", ["USD:1.00"]);
    let (events, result) = run(&alice, req).await;
    assert_eq!(events, Vec::<Value>::new());
    assert_eq!(result, json!(["PERMISSION_DENIED", "PERMISSION_DENIED"]));
    within("close", alice.close()).await.unwrap();
}
