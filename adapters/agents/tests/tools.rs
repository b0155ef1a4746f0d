//! Checked operations and runtime-hosted tools through `JobContext` on a real `Runtime`:
//! the `tool.call` gate, the `tool_call` / `tool_result` frames around a call, the declared
//! cost charged against the budget, cancellation, and the property that no tool runs and no
//! operation is authorised outside the lease.

mod support;

use arcp_agents::{AgentError, AgentRegistry, JobContext, ToolRegistry};
use arcp_proto::runtime::RuntimeEvent;
use arcp_proto::wire::{Amount, ErrorCode};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use support::*;

/// Calls every `{name, args}` of `input.calls` in turn and reports each outcome.
async fn tool_user(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    let mut out = Vec::new();
    for call in input["calls"].as_array().cloned().unwrap_or_default() {
        let name = call["name"].as_str().unwrap_or_default();
        match ctx.call_tool(name, call["args"].clone()).await {
            Ok(v) => out.push(json!({"ok": v})),
            Err(e) => out.push(json!({"err": e.code.as_str(), "retryable": e.is_retryable()})),
        }
    }
    Ok(Value::Array(out))
}

/// Reports what the checked IO helpers hand back.
async fn io_user(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let code = |e: AgentError| json!(e.code.as_str());
    Ok(json!({
        "read": ctx.check_fs_read(&s(&input["read"])).await.map_or_else(code, Value::from),
        "write": ctx.check_fs_write(&s(&input["write"])).await.map_or_else(code, Value::from),
        "fetch": ctx.check_net_fetch(&s(&input["fetch"])).await.map_or_else(code, Value::from),
        "model": ctx.check_model(&s(&input["model"])).await.map_or_else(code, Value::from),
    }))
}

fn agents() -> AgentRegistry {
    let mut r = AgentRegistry::new();
    r.register("tool-user", None, tool_user)
        .register("io-user", None, io_user);
    r
}

/// `echo` (free), `search` (USD 0.40 a call), `fail` (an error claiming retryable for a code
/// that never is), `hang` (never completes; counts drops); every run counted by name.
fn tools(runs: Arc<Mutex<BTreeMap<String, u64>>>, dropped: Arc<AtomicU64>) -> ToolRegistry {
    let count = move |runs: &Arc<Mutex<BTreeMap<String, u64>>>, name: &str| {
        *runs.lock().unwrap().entry(name.to_owned()).or_default() += 1;
    };
    let mut t = ToolRegistry::new();
    let r = runs.clone();
    t.register("echo", move |args: Value| {
        count(&r, "echo");
        async move { Ok(args) }
    });
    let r = runs.clone();
    t.register_with_cost(
        "search",
        Amount::parse("USD:0.40").unwrap(),
        move |args: Value| {
            count(&r, "search");
            async move { Ok(json!({"hits": [args["q"].clone()]})) }
        },
    );
    let r = runs.clone();
    t.register("fail", move |_args: Value| {
        count(&r, "fail");
        async move {
            Err(AgentError::new(ErrorCode::BudgetExhausted, "upstream quota").with_retryable(true))
        }
    });
    let r = runs;
    t.register("hang", move |_args: Value| {
        count(&r, "hang");
        let guard = DropCount(dropped.clone());
        async move {
            let _g = guard;
            std::future::pending::<Result<Value, AgentError>>().await
        }
    });
    t
}

struct DropCount(Arc<AtomicU64>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn bodies(frames: &[Value]) -> Vec<Value> {
    frames
        .iter()
        .filter(|f| f["type"] == "job.event")
        .map(|f| {
            let mut b = f["payload"]["body"].clone();
            b["kind"] = f["payload"]["kind"].clone();
            b
        })
        .collect()
}

#[test]
fn call_tool_checks_reports_and_charges() {
    let runs = Arc::new(Mutex::new(BTreeMap::new()));
    let dropped = Arc::new(AtomicU64::new(0));
    let mut h = Harness::with_tools(agents(), tools(runs.clone(), dropped), |_| {});
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "tool-user",
            "lease_request": {"tool.call": ["echo", "search", "fail", "gh*"],
                              "cost.budget": ["USD:1.00"]},
            "input": {"calls": [
                {"name": "echo", "args": {"x": 1}},
                {"name": "search", "args": {"q": "a"}},
                {"name": "hang", "args": {}},
                {"name": "fail", "args": null},
                {"name": "ghost", "args": {}},
                {"name": "search", "args": {"q": "b"}},
                {"name": "search", "args": {"q": "c"}},
                {"name": "search", "args": {"q": "d"}},
            ]}}),
        )
        .unwrap();
    let f = h.job_frames(c, &job);
    let last = f.last().unwrap();
    assert_eq!(last["type"], "job.result");
    assert_eq!(
        last["payload"]["result"],
        json!([
            {"ok": {"x": 1}},
            {"ok": {"hits": ["a"]}},
            {"err": "PERMISSION_DENIED", "retryable": false},
            {"err": "BUDGET_EXHAUSTED", "retryable": false},
            {"err": "INVALID_REQUEST", "retryable": false},
            {"ok": {"hits": ["b"]}},
            {"ok": {"hits": ["c"]}},
            {"err": "BUDGET_EXHAUSTED", "retryable": false},
        ])
    );
    let cost = |id: &str, rem: f64| {
        vec![
            json!({"kind": "metric", "name": "cost.tool", "value": 0.4, "unit": "USD",
                   "attributes": {"tool": "search", "tool_call_id": id}}),
            json!({"kind": "metric", "name": "cost.budget.remaining", "value": rem, "unit": "USD"}),
        ]
    };
    let mut want = vec![
        json!({"kind": "tool_call", "tool_call_id": "call_1", "name": "echo", "arguments": {"x": 1}}),
        json!({"kind": "tool_result", "tool_call_id": "call_1", "output": {"x": 1}}),
        json!({"kind": "tool_call", "tool_call_id": "call_2", "name": "search", "arguments": {"q": "a"}}),
    ];
    want.extend(cost("call_2", 0.6));
    want.push(json!({"kind": "tool_result", "tool_call_id": "call_2", "output": {"hits": ["a"]}}));
    want.push(
        json!({"kind": "tool_call", "tool_call_id": "call_3", "name": "fail", "arguments": null}),
    );
    want.push(json!({"kind": "tool_result", "tool_call_id": "call_3",
                     "error": {"code": "BUDGET_EXHAUSTED", "message": "upstream quota", "retryable": false}}));
    for (id, q, rem) in [("call_4", "b", 0.2), ("call_5", "c", -0.2)] {
        want.push(json!({"kind": "tool_call", "tool_call_id": id, "name": "search", "arguments": {"q": q}}));
        want.extend(cost(id, rem));
        want.push(json!({"kind": "tool_result", "tool_call_id": id, "output": {"hits": [q]}}));
    }
    assert_eq!(bodies(&f), want);
    // Refused calls never ran; the gate's refusals were audited.
    assert_eq!(
        *runs.lock().unwrap(),
        BTreeMap::from([("echo".into(), 1), ("fail".into(), 1), ("search".into(), 3)])
    );
    let refused: Vec<(String, ErrorCode)> = h
        .runtime_events()
        .into_iter()
        .filter_map(|e| match e {
            RuntimeEvent::OperationRefused { target, code, .. } => Some((target, code)),
            _ => None,
        })
        .collect();
    assert_eq!(
        refused,
        vec![
            ("hang".into(), ErrorCode::PermissionDenied),
            ("search".into(), ErrorCode::BudgetExhausted)
        ]
    );
}

#[test]
fn a_cancelled_job_drops_its_tool_call() {
    let runs = Arc::new(Mutex::new(BTreeMap::new()));
    let dropped = Arc::new(AtomicU64::new(0));
    let mut h = Harness::with_tools(agents(), tools(runs.clone(), dropped.clone()), |_| {});
    let c = h.connect(1, "alice-token");
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "tool-user", "lease_request": {"tool.call": ["hang"]},
                   "input": {"calls": [{"name": "hang", "args": {}}]}}),
        )
        .unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    h.send(
        c,
        &json!({"arcp": "1.1", "id": "x1", "type": "job.cancel", "job_id": job, "payload": {}}),
    );
    let f = h.job_frames(c, &job);
    assert_eq!(
        kinds(&f),
        ["job.accepted", "tool_call", "job.result"],
        "no tool_result after the cancel"
    );
    assert_eq!(f.last().unwrap()["payload"]["final_status"], "cancelled");
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert_eq!(*runs.lock().unwrap(), BTreeMap::from([("hang".into(), 1)]));
}

#[test]
fn checked_io_returns_the_normalised_target() {
    let mut h = Harness::with_registry(agents(), |_| {});
    let c = h.connect(1, "alice-token");
    let lease = json!({"fs.read": ["/project/**"], "fs.write": ["/project/out/*"],
                       "net.fetch": ["https://api.example.com/**"], "model.use": ["m-*"]});
    let run = |h: &mut Harness, id: &str, input: Value| {
        let job = h
            .submit(
                c,
                id,
                json!({"agent": "io-user", "lease_request": lease, "input": input}),
            )
            .unwrap();
        h.job_frames(c, &job).last().unwrap()["payload"]["result"].clone()
    };
    assert_eq!(
        run(
            &mut h,
            "r1",
            json!({"read": "/project/a/../b.txt", "write": "/project/out//o.txt",
                   "fetch": "HTTPS://API.Example.com:443/v1/./x?q=1#top", "model": "m-1"})
        ),
        json!({"read": "/project/b.txt", "write": "/project/out/o.txt",
               "fetch": "https://api.example.com/v1/x?q=1", "model": "m-1"})
    );
    assert_eq!(
        run(
            &mut h,
            "r2",
            json!({"read": "/project/../etc/passwd", "write": "/project/a.txt",
                   "fetch": "https://api.example.com/%2e%2e/admin", "model": "other"})
        ),
        json!({"read": "PERMISSION_DENIED", "write": "PERMISSION_DENIED",
               "fetch": "PERMISSION_DENIED", "model": "PERMISSION_DENIED"})
    );
    let refused = h
        .runtime_events()
        .iter()
        .filter(|e| matches!(e, RuntimeEvent::OperationRefused { .. }))
        .count();
    assert_eq!(refused, 4);
}

/// `*` matches any run of characters (names hold no `/`): the oracle for name patterns.
fn wildcard(p: &[u8], t: &[u8]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((b'*', rest)) => (0..=t.len()).any(|i| wildcard(rest, &t[i..])),
        Some((c, rest)) => t.first() == Some(c) && wildcard(rest, &t[1..]),
    }
}

const NAMES: [&str; 6] = ["a", "b", "ab", "ba", "aab", "bb"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// No registered tool runs outside `tool.call`, and no call is authorised outside the
    /// lease: a tool ran (once) exactly when a `tool.call` pattern matches its name and the
    /// budget is not exhausted; every other call was refused with the gate's code.
    #[test]
    fn no_tool_runs_outside_the_lease(
        patterns in proptest::collection::vec("[ab]{0,2}\\*?[ab]{0,2}", 0..4),
        exhausted in any::<bool>(),
    ) {
        let patterns: Vec<String> = patterns.into_iter().filter(|p| !p.is_empty()).collect();
        let runs = Arc::new(Mutex::new(BTreeMap::new()));
        let mut t = ToolRegistry::new();
        for name in NAMES {
            let r = runs.clone();
            t.register(name, move |_args: Value| {
                *r.lock().unwrap().entry(name.to_owned()).or_insert(0u64) += 1;
                async { Ok(Value::Null) }
            });
        }
        let mut h = Harness::with_tools(agents(), t, |_| {});
        let c = h.connect(1, "alice-token");
        let mut lease = json!({"tool.call": patterns});
        if exhausted {
            lease["cost.budget"] = json!(["USD:0"]);
        }
        let calls: Vec<Value> = NAMES.iter().map(|n| json!({"name": n, "args": null})).collect();
        let job = h
            .submit(c, "r1", json!({"agent": "tool-user", "lease_request": lease,
                                    "input": {"calls": calls}}))
            .unwrap();
        let f = h.job_frames(c, &job);
        let result = f.last().unwrap()["payload"]["result"].clone();
        let runs = runs.lock().unwrap().clone();
        for (i, name) in NAMES.iter().enumerate() {
            let granted = patterns.iter().any(|p| wildcard(p.as_bytes(), name.as_bytes()));
            let allowed = granted && !exhausted;
            prop_assert_eq!(runs.get(*name).copied().unwrap_or(0), u64::from(allowed), "{}", name);
            let want = if allowed {
                json!({"ok": null})
            } else if granted {
                json!({"err": "BUDGET_EXHAUSTED", "retryable": false})
            } else {
                json!({"err": "PERMISSION_DENIED", "retryable": false})
            };
            prop_assert_eq!(&result[i], &want, "{}", name);
        }
        let reported = bodies(&f).iter().filter(|b| b["kind"] == "tool_call").count();
        prop_assert_eq!(reported as u64, runs.values().sum::<u64>());
    }
}
