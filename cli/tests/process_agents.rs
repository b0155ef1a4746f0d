//! Process agents through the real binary (`arcp serve --demo --agent …`, issue #20): the
//! happy path on the Python helper, the lease gate's refusal, and each way an agent process
//! can fail — killed mid-job, a malformed, oversized or unknown line, a reused request id, an
//! early exit, a program that cannot start, ignoring `cancel` (killed with its grandchild
//! after the grace period), flooding stderr (rate limit and total).

#[path = "support/serve.rs"]
mod serve;

use arcp_tokio::client::{Client, ClientError, JobHandle, ResultValue, SubmitRequest};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A test agent under cli/tests/agents/.
fn agent(file: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/agents")
        .join(file);
    format!("python3 {}", p.display())
}

/// The test agents' server: `arcp serve --demo` plus `helper_agent.py` as `helper@1.0.0`,
/// `raw_agent.py` as `raw` and `extra`.
struct Served(serve::Served);

impl Served {
    fn with_test_agents(extra: &[&str]) -> Self {
        let (helper, raw) = (
            format!("helper@1.0.0={}", agent("helper_agent.py")),
            format!("raw={}", agent("raw_agent.py")),
        );
        let mut args = vec!["--agent", helper.as_str(), "--agent", raw.as_str()];
        args.extend_from_slice(extra);
        Served(serve::Served::start(&args))
    }

    fn url(&self) -> &str {
        &self.0.url
    }

    async fn alice(&self) -> Client {
        within("connect", Client::connect(self.url(), "alice-token"))
            .await
            .unwrap()
    }
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 30 s"))
}

/// Every event of `job` as `[kind, body]` until its end.
async fn events(job: &JobHandle) -> Vec<Value> {
    let mut stream = job.events();
    let mut seen = Vec::new();
    while let Some(item) = within("events", stream.next()).await {
        let v = serde_json::to_value(&item.event).unwrap();
        seen.push(json!([v["kind"], v["body"]]));
    }
    seen
}

/// Events until one satisfies `stop` (included), leaving the stream to the job.
async fn events_until(job: &JobHandle, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut stream = job.events();
    let mut seen = Vec::new();
    while let Some(item) = within("events", stream.next()).await {
        let v = serde_json::to_value(&item.event).unwrap();
        let e = json!([v["kind"], v["body"]]);
        let done = stop(&e);
        seen.push(e);
        if done {
            return seen;
        }
    }
    panic!("the job ended before the awaited event: {seen:?}")
}

/// The `job.error` of a failed job: `(code, message, retryable)`.
async fn failure(job: JobHandle) -> (String, String, bool) {
    match within("end", job.done()).await {
        Err(ClientError::JobFailed {
            code,
            message,
            retryable,
            ..
        }) => (code.as_str().to_owned(), message, retryable),
        other => panic!("expected job.error, got {other:?}"),
    }
}

async fn submit(client: &Client, agent: &str, input: Value) -> JobHandle {
    within("submit", client.submit(SubmitRequest::new(agent, input)))
        .await
        .unwrap()
}

/// A raw agent's job in `mode` that must fail `INTERNAL_ERROR` (retryable) with `message`.
async fn internal_error(client: &Client, mode: &str, message: &str) {
    let job = submit(client, "raw", json!({"mode": mode})).await;
    assert_eq!(
        failure(job).await,
        ("INTERNAL_ERROR".to_owned(), message.to_owned(), true),
        "mode {mode}"
    );
}

fn alive(pid: u32) -> bool {
    // A zombie still has /proc/PID; its state letter is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

fn pid_in(message: &Value, prefix: &str) -> u32 {
    message
        .as_str()
        .and_then(|m| m.strip_prefix(prefix))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {message}"))
}

#[tokio::test]
async fn a_python_agent_on_the_helper_streams_its_events_in_order_and_returns() {
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let served = Served::with_test_agents(&["--agent-env", "ARCP_TEST_X=yes"]);
    let alice = served.alice().await;
    let job = submit(&alice, "helper", json!({"mode": "happy", "n": [1, 2]})).await;
    let job_id = job.job_id().to_string();
    assert_eq!(
        events(&job).await,
        vec![
            json!(["log", {"level": "info", "message": "hello"}]),
            json!(["thought", {"text": "thinking"}]),
            json!(["status", {"phase": "working", "message": "step 1"}]),
            json!(["progress", {"current": 1, "total": 2, "units": "steps"}]),
            json!(["tool_call", {"tool_call_id": "t1", "name": "search", "arguments": {"q": "x"}}]),
            json!(["tool_result", {"tool_call_id": "t1", "output": {"hits": 3}}]),
            json!(["metric", {"name": "latency", "value": 12.0, "unit": "ms"}]),
            json!(["progress", {"current": 2, "total": 2, "units": "steps"}]),
        ]
    );
    let outcome = within("end", job.done()).await.unwrap();
    let Some(ResultValue::Inline(v)) = outcome.result() else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        v,
        &json!({"echo": {"mode": "happy", "n": [1, 2]}, "job_id_env": true,
                "protocol_env": "arcp-agent/1", "agent": "helper@1.0.0",
                "runtime_env_leaked": false, "agent_env": "yes",
                "arcp_vars": ["ARCP_AGENT", "ARCP_AGENT_PROTOCOL", "ARCP_JOB_ID", "ARCP_TEST_X"]})
    );
    assert!(job_id.starts_with("job_"));
    within("close", alice.close()).await.unwrap();
}

#[tokio::test]
async fn the_lease_gate_answers_the_normalised_target_and_refuses_outside_the_lease() {
    let served = Served::with_test_agents(&[]);
    let alice = served.alice().await;
    let req = SubmitRequest::new("helper", json!({"mode": "authorize"}))
        .lease("fs.read", ["/project/**"]);
    let job = within("submit", alice.submit(req)).await.unwrap();
    assert_eq!(
        events(&job).await,
        vec![json!(["log", {"level": "info", "message": "allowed /project/src/main.rs"}])]
    );
    assert_eq!(
        failure(job).await,
        (
            "PERMISSION_DENIED".to_owned(),
            "operation fs.read:/etc/passwd not permitted by lease".to_owned(),
            false
        )
    );
    within("close", alice.close()).await.unwrap();
}

#[tokio::test]
async fn protocol_errors_end_the_job_internal_error_saying_what_the_agent_did() {
    let served = Served::with_test_agents(&["--agent", "gone=/nonexistent/agent --x"]);
    let alice = served.alice().await;
    internal_error(
        &alice,
        "malformed",
        "agent wrote a malformed line (line 1): expected ident at line 1 column 2",
    )
    .await;
    internal_error(
        &alice,
        "oversized",
        "agent wrote a line longer than 1048576 bytes (line 1)",
    )
    .await;
    internal_error(
        &alice,
        "unknown_type",
        "agent wrote a message of unknown type \"shout\" (line 1)",
    )
    .await;
    internal_error(&alice, "reused_id", "agent reused request id 2 (line 2)").await;
    // 256 delegations wait for their children; the 257th request is one too many.
    let req = SubmitRequest::new("raw", json!({"mode": "many_delegates"}))
        .lease("agent.delegate", ["slow"]);
    let job = within("submit", alice.submit(req)).await.unwrap();
    assert_eq!(
        failure(job).await,
        (
            "INTERNAL_ERROR".to_owned(),
            "agent has more than 256 unanswered requests (line 257)".to_owned(),
            true
        )
    );
    internal_error(
        &alice,
        "exit3",
        "agent process exited with status 3 before ending the job",
    )
    .await;
    let job = submit(&alice, "gone", Value::Null).await;
    assert_eq!(
        failure(job).await,
        (
            "INTERNAL_ERROR".to_owned(),
            "agent process could not be started: No such file or directory (os error 2)".to_owned(),
            true
        )
    );
    // The runtime carries on: the next job of the same agent runs.
    let job = submit(&alice, "helper", json!({"mode": "happy"})).await;
    assert_eq!(events(&job).await.len(), 8);
    within("end", job.done()).await.unwrap();
    within("close", alice.close()).await.unwrap();
}

#[tokio::test]
async fn a_process_killed_mid_job_ends_it_internal_error() {
    let served = Served::with_test_agents(&[]);
    let alice = served.alice().await;
    let job = submit(&alice, "raw", json!({"mode": "wait_for_kill"})).await;
    let seen = events_until(&job, |_| true).await;
    let pid = pid_in(&seen[0][1]["message"], "pid ");
    assert!(alive(pid));
    let killed = Command::new("kill").args(["-9", &pid.to_string()]).status();
    assert!(killed.unwrap().success());
    assert_eq!(
        failure(job).await,
        (
            "INTERNAL_ERROR".to_owned(),
            "agent process was killed by signal 9 before ending the job".to_owned(),
            true
        )
    );
    within("close", alice.close()).await.unwrap();
}

#[tokio::test]
async fn a_process_ignoring_cancel_is_killed_with_its_grandchild_after_the_grace_period() {
    let served = Served::with_test_agents(&["--agent-grace", "0.5", "--agent-kill-after", "0.5"]);
    let alice = served.alice().await;
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("stdin.jsonl");
    let job = submit(
        &alice,
        "raw",
        json!({"mode": "ignore_cancel", "record": record.to_str().unwrap()}),
    )
    .await;
    let seen = events_until(&job, |_| true).await;
    let grandchild = pid_in(&seen[0][1]["message"], "grandchild ");
    assert!(alive(grandchild));
    within("cancel", job.cancel()).await.unwrap();
    let outcome = within("end", job.done()).await.unwrap();
    assert_eq!(outcome.status(), arcp_proto::wire::JobStatus::Cancelled);
    // SIGTERM (ignored) after 0.5 s, SIGKILL to the group 0.5 s later: wait for it.
    for _ in 0..200 {
        if !alive(grandchild) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !alive(grandchild),
        "grandchild {grandchild} outlived the job"
    );
    // The agent read `start` (before it started recording) and then `cancel`.
    let lines = std::fs::read_to_string(&record).unwrap();
    assert_eq!(
        lines,
        "{\"code\":null,\"grace_ms\":500,\"message\":null,\"reason\":\"cancelled\",\"type\":\"cancel\"}\n"
    );
    within("close", alice.close()).await.unwrap();
}

#[tokio::test]
async fn a_stderr_flood_is_rate_limited_to_100_lines_a_second_with_the_drops_counted() {
    let served = Served::with_test_agents(&[]);
    let alice = served.alice().await;
    let job = submit(&alice, "raw", json!({"mode": "stderr_flood"})).await;
    let seen = events_until(&job, |e| e[1]["message"] == "after").await;
    let mut want: Vec<Value> = (0..100)
        .map(|i| json!(["log", {"level": "warn", "message": format!("flood {i}"), "attributes": {"source": "stderr"}}]))
        .collect();
    want.push(json!(["log", {"level": "warn", "message": "agent stderr: 900 lines dropped (rate limit)"}]));
    want.push(
        json!(["log", {"level": "warn", "message": "after", "attributes": {"source": "stderr"}}]),
    );
    assert_eq!(seen, want);
    within("cancel", job.cancel()).await.unwrap();
    let outcome = within("end", job.done()).await.unwrap();
    assert_eq!(outcome.status(), arcp_proto::wire::JobStatus::Cancelled);
    within("close", alice.close()).await.unwrap();
}

#[tokio::test]
async fn stderr_lines_past_the_per_job_limit_are_discarded_after_one_notice() {
    let served =
        Served::with_test_agents(&["--agent-stderr-rate", "0", "--agent-stderr-max-lines", "50"]);
    let alice = served.alice().await;
    let job = submit(&alice, "raw", json!({"mode": "stderr_total"})).await;
    let seen = events_until(&job, |e| {
        e[1]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("agent stderr: limit"))
    })
    .await;
    // The long line keeps its first 4,096 bytes, cut back to 4,095 (a character boundary).
    let long = format!("{}{}", "y".repeat(3001), "\u{e9}".repeat(547));
    let mut want = vec![
        json!(["log", {"level": "warn", "message": long, "attributes": {"source": "stderr"}}]),
    ];
    want.extend((0..49).map(|i| json!(["log", {"level": "warn", "message": format!("line {i}"), "attributes": {"source": "stderr"}}])));
    want.push(json!(["log", {"level": "warn", "message": "agent stderr: limit of 50 lines reached; further output discarded"}]));
    assert_eq!(seen, want);
    within("cancel", job.cancel()).await.unwrap();
    within("end", job.done()).await.unwrap();
    within("close", alice.close()).await.unwrap();
}

#[tokio::test]
async fn max_runtime_sends_cancel_timed_out_then_stops_the_process() {
    // A grace of 3 s: the agent (which may still be starting when the second is up) records
    // what it reads and its grandchild's pid before the group is signalled.
    let served = Served::with_test_agents(&["--agent-grace", "3", "--agent-kill-after", "0.5"]);
    let alice = served.alice().await;
    let dir = tempfile::tempdir().unwrap();
    let (record, pidfile) = (dir.path().join("stdin.jsonl"), dir.path().join("pid"));
    let req = SubmitRequest::new(
        "raw",
        json!({"mode": "ignore_cancel", "record": record.to_str().unwrap(),
               "pidfile": pidfile.to_str().unwrap()}),
    )
    .max_runtime_sec(1);
    let job = within("submit", alice.submit(req)).await.unwrap();
    let outcome = within("end", job.done()).await.unwrap();
    assert_eq!(outcome.status(), arcp_proto::wire::JobStatus::TimedOut);
    let mut grandchild = None;
    for _ in 0..200 {
        grandchild = grandchild.or_else(|| {
            std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|p| p.parse::<u32>().ok())
        });
        if grandchild.is_some_and(|g| !alive(g)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let grandchild = grandchild.expect("the agent wrote its grandchild's pid");
    assert!(
        !alive(grandchild),
        "grandchild {grandchild} outlived the job"
    );
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        "{\"code\":null,\"grace_ms\":3000,\"message\":null,\"reason\":\"timed_out\",\"type\":\"cancel\"}\n"
    );
    within("close", alice.close()).await.unwrap();
}

// The raw WebSocket peer of arcp-tokio's server tests: it reads only when told to.
#[path = "../../adapters/tokio/tests/server_support/mod.rs"]
mod server_support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_stops_the_agent_and_then_gets_every_event_in_order() {
    use server_support::Peer;
    use tokio_tungstenite::tungstenite::Message;
    const COUNT: u64 = 100_000;
    let served = Served::with_test_agents(&[]);
    let dir = tempfile::tempdir().unwrap();
    let progress = dir.path().join("progress");
    let mut p = Peer::connect(served.url()).await;
    let mut hello = server_support::hello("alice-token", None);
    // No heartbeat: this peer does not answer pings while it is not reading.
    let features: Vec<&str> = server_support::FEATURES
        .iter()
        .copied()
        .filter(|f| *f != "heartbeat")
        .collect();
    hello["payload"]["capabilities"]["features"] = json!(features);
    p.send(&hello).await;
    assert_eq!(p.recv().await["type"], "session.welcome");
    let input = json!({"mode": "firehose", "count": COUNT, "progress": progress.to_str().unwrap()});
    let job = p.submit("raw", input).await["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Not reading for 3 s (under the 5 s slow-consumer cut): the session's buffer fills, the
    // runtime stops reading the agent's stdout, and the agent blocks part-way.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let written: u64 = std::fs::read_to_string(&progress)
        .unwrap_or_default()
        .parse()
        .unwrap_or(0);
    eprintln!("events written while nobody read: {written}");
    assert!(
        written < COUNT,
        "the agent wrote all {COUNT} events while nobody read"
    );
    let mut seqs = Vec::new();
    let terminal = loop {
        let m = within("frame", p.ws.next()).await;
        let Some(Ok(Message::Text(t))) = m else {
            match m {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("connection ended: {other:?}"),
            }
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        if let Some(s) = v["event_seq"].as_u64() {
            seqs.push(s);
        }
        if v["job_id"] == job.as_str() && v["type"] == "job.result" {
            break v;
        }
    };
    // Every event once, in order: seq 1..=COUNT, then the result.
    assert!(
        seqs.iter().copied().eq(1..=COUNT + 1),
        "{} seqs, not 1..={}",
        seqs.len(),
        COUNT + 1
    );
    assert_eq!(terminal["payload"]["result"], json!({"events": COUNT}));
}

#[tokio::test]
async fn a_closed_stdout_and_a_line_after_the_end_are_handled_as_documented() {
    // Grace 0.5 s for the closed stdout; the line after the end is killed at once, long
    // before a grace period could (SIGTERM ignored, SIGKILL 30.5 s after the end otherwise).
    let served = Served::with_test_agents(&["--agent-grace", "0.5", "--agent-kill-after", "30"]);
    let alice = served.alice().await;
    internal_error(
        &alice,
        "close_stdout",
        "agent closed its stdout before ending the job",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let job = submit(
        &alice,
        "raw",
        json!({"mode": "after_end", "pidfile": pidfile.to_str().unwrap()}),
    )
    .await;
    assert_eq!(events(&job).await, Vec::<Value>::new());
    let outcome = within("end", job.done()).await.unwrap();
    assert!(matches!(outcome.result(), Some(ResultValue::Inline(v)) if v == "done"));
    let pid: u32 = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    for _ in 0..200 {
        if !alive(pid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !alive(pid),
        "the agent ({pid}) still runs after writing past its end"
    );
    within("close", alice.close()).await.unwrap();
}

#[test]
fn agent_flags_that_conflict_with_the_registry_are_usage_errors() {
    for (args, want) in [
        (
            vec!["--agent", "echo=python3 x.py"],
            "error: agent echo is registered with versions (1.0.0): give echo@VERSION\n",
        ),
        (
            vec!["--agent-default", "echo@9.9"],
            "error: agent default echo@9.9 is not a registered agent\n",
        ),
    ] {
        let out = Command::new(serve::ARCP)
            .args(["serve", "--demo", "--port", "0"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), want, "{args:?}");
    }
}

/// `[kind, body]` with the minted ids and secrets replaced by placeholders; the rotated
/// secret of a `credential_rotated` status must be the one the agent logs next.
fn masked(events: Vec<Value>) -> Vec<Value> {
    let mut secret = None;
    let mut out = Vec::new();
    for mut e in events {
        let body = &mut e[1];
        for key in ["child_job_id", "result_id"] {
            if body.get(key).is_some() {
                body[key] = json!(format!("<{key}>"));
            }
        }
        if body["phase"] == "credential_rotated" {
            secret = body["value"].as_str().map(str::to_owned);
            assert!(
                secret
                    .as_ref()
                    .is_some_and(|s| s.starts_with("virt-") && s.len() == 31)
            );
            body["id"] = json!("<cred>");
            body["value"] = json!("<secret>");
        }
        if let (Some(m), Some(v)) = (body["message"].as_str(), &secret)
            && m == format!("credentials {v}")
        {
            body["message"] = json!("credentials <secret>");
        }
        out.push(e);
    }
    out
}

#[tokio::test]
async fn the_python_and_node_tours_use_every_call_through_the_binary() {
    let tour = |lang: &str, cmd: &str, file: &str| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../agents")
            .join(lang)
            .join("examples")
            .join(file);
        format!("tour-{lang}@1.0.0={cmd} {}", p.display())
    };
    let (py, js) = (
        tour("python", "python3", "tour.py"),
        tour("node", "node", "tour.js"),
    );
    let served = Served::with_test_agents(&["--agent", &py, "--agent", &js]);
    let alice = served.alice().await;
    // As .ci/run does for the helper's own tests: without Node.js only the Python tour runs.
    let node = Command::new("node").arg("--version").output().is_ok();
    if !node {
        eprintln!("node not installed: the Node.js tour did not run");
    }
    let agents: &[&str] = if node {
        &["tour-python", "tour-node"]
    } else {
        &["tour-python"]
    };
    for &agent in agents {
        let req = SubmitRequest::new(agent, json!({}))
            .lease("agent.delegate", ["echo"])
            .lease("fs.read", ["/p/**"])
            .lease("model.use", ["tier-fast/*"])
            .lease("cost.budget", ["USD:1.00"]);
        let job = within("submit", alice.submit(req)).await.unwrap();
        let seen = masked(events(&job).await);
        assert_eq!(
            seen,
            vec![
                json!(["thought", {"text": "planning the tour"}]),
                json!(["status", {"phase": "tour.start", "message": "protocol arcp-agent/1"}]),
                json!(["log", {"level": "info", "message": "budget {\"USD\":\"USD:1.00\"}", "attributes": {"step": 1}}]),
                json!(["metric", {"name": "cost.inference", "value": 0.25, "unit": "USD"}]),
                json!(["metric", {"name": "cost.budget.remaining", "value": 0.75, "unit": "USD"}]),
                json!(["x-vendor.note", {"n": 1}]),
                json!(["tool_call", {"tool_call_id": "t1", "name": "search", "arguments": {"q": "arcp"}}]),
                json!(["tool_result", {"tool_call_id": "t1", "output": {"hits": 2}}]),
                json!(["delegate", {"child_job_id": "<child_job_id>", "agent": "echo@1.0.0", "lease": {"fs.read": ["/p/**"]}}]),
                json!(["metric", {"name": "child.ok", "value": 1.0, "unit": "bool"}]),
                json!(["status", {"phase": "credential_rotated", "id": "<cred>", "value": "<secret>"}]),
                json!(["log", {"level": "info", "message": "credentials <secret>"}]),
                json!(["artifact_ref", {"artifact_id": "art_1", "media_type": "text/plain", "size_bytes": 2, "uri": "mem://tour"}]),
                json!(["result_chunk", {"result_id": "<result_id>", "chunk_seq": 0, "data": "AAH/", "encoding": "base64", "more": true}]),
                json!(["result_chunk", {"result_id": "<result_id>", "chunk_seq": 1, "data": "text \u{2713}", "encoding": "utf8", "more": false}]),
            ],
            "{agent}"
        );
        let outcome = within("end", job.done()).await.unwrap();
        let Some(ResultValue::Streamed { data, summary, .. }) = outcome.result() else {
            panic!("{agent}: {outcome:?}")
        };
        assert_eq!(
            data,
            &[&[0u8, 1, 0xff][..], "text \u{2713}".as_bytes()].concat()
        );
        assert_eq!(summary.as_deref(), Some("2 chunks"));
    }
    within("close", alice.close()).await.unwrap();
}
