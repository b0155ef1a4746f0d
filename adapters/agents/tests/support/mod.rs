//! A deterministic in-test host: owns a real `Runtime`, implements `JobHost` with a
//! single-threaded executor and a fake clock (a sleep advances the clock and runs the
//! runtime's deadlines), opens fake connections, performs the runtime's effects
//! (`StartAgent` → `run_job`) and collects the r2c frames as JSON.
#![allow(dead_code)]

use arcp_agents::{
    AgentRegistry, BoxFuture, CancelToken, JobEnd, JobEnds, JobHost, ToolRegistry, contract_agents,
    run_job_with_tools,
};
use arcp_proto::lease::Operation;
use arcp_proto::runtime::{
    AgentEvent, AgentReply, ConnId, Effect, EffectOutcome, ObserverPolicy, Runtime, RuntimeConfig,
    RuntimeEvent, TransportKind,
};
use arcp_proto::time::{Instant, WallClock};
use arcp_proto::wire::{
    Budget, Credential, CredentialConstraints, ErrorPayload, JobId, SeededEntropy, Timestamp,
};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// 2026-11-24T01:30:25Z
pub const T0_UNIX_MICROS: i64 = 1_795_483_825_000_000;

/// Every feature but `heartbeat` (no pings in the collected frames).
pub const FEATURES: [&str; 10] = [
    "ack",
    "list_jobs",
    "subscribe",
    "lease_expires_at",
    "cost.budget",
    "progress",
    "result_chunk",
    "agent_versions",
    "model.use",
    "provisioned_credentials",
];

struct Sleeper {
    id: u64,
    deadline: Instant,
    waker: Option<Waker>,
}

struct State {
    rt: Runtime,
    now: Instant,
    frames: Vec<(ConnId, Value)>,
    sleepers: Vec<Sleeper>,
    next_sleeper: u64,
    cancels: HashMap<JobId, CancelToken>,
    spawned: Vec<BoxFuture<'static, ()>>,
    closed: HashSet<ConnId>,
    cred_n: u32,
    events: Vec<RuntimeEvent>,
    started: Vec<JobId>,
}

/// The `JobHost` of the tests.
pub struct TestHost {
    st: Mutex<State>,
    ends: JobEnds,
    registry: Arc<AgentRegistry>,
    tools: Arc<ToolRegistry>,
    me: Weak<TestHost>,
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

struct Task {
    fut: BoxFuture<'static, ()>,
    flag: Arc<Flag>,
}

/// The harness: the host plus its executor.
pub struct Harness {
    pub host: Arc<TestHost>,
    tasks: Vec<Task>,
}

pub fn contract_config(registry: &AgentRegistry) -> RuntimeConfig {
    RuntimeConfig {
        agents: registry.specs(),
        observer_policy: ObserverPolicy {
            observers: vec!["auditor".into()],
        },
        ..RuntimeConfig::default()
    }
}

impl Harness {
    /// A runtime hosting the contract agents.
    pub fn contract() -> Self {
        Harness::with_registry(contract_agents(), |_| {})
    }

    pub fn with_registry(registry: AgentRegistry, tweak: impl FnOnce(&mut RuntimeConfig)) -> Self {
        Harness::at_wall(registry, tweak, T0_UNIX_MICROS)
    }

    /// A harness whose wall clock starts at `unix_micros`.
    pub fn at_wall(
        registry: AgentRegistry,
        tweak: impl FnOnce(&mut RuntimeConfig),
        unix_micros: i64,
    ) -> Self {
        Harness::build(registry, ToolRegistry::new(), tweak, unix_micros)
    }

    /// A harness whose agents reach `tools` through `JobContext::call_tool`.
    pub fn with_tools(
        registry: AgentRegistry,
        tools: ToolRegistry,
        tweak: impl FnOnce(&mut RuntimeConfig),
    ) -> Self {
        Harness::build(registry, tools, tweak, T0_UNIX_MICROS)
    }

    fn build(
        registry: AgentRegistry,
        tools: ToolRegistry,
        tweak: impl FnOnce(&mut RuntimeConfig),
        unix_micros: i64,
    ) -> Self {
        let mut cfg = contract_config(&registry);
        tweak(&mut cfg);
        let now = Instant::from_millis(1_000);
        let rt = Runtime::new(
            cfg,
            WallClock::new(now, unix_micros),
            Box::new(SeededEntropy::new(11)),
        );
        let registry = Arc::new(registry);
        let host = Arc::new_cyclic(|me| TestHost {
            st: Mutex::new(State {
                rt,
                now,
                frames: Vec::new(),
                sleepers: Vec::new(),
                next_sleeper: 0,
                cancels: HashMap::new(),
                spawned: Vec::new(),
                closed: HashSet::new(),
                cred_n: 0,
                events: Vec::new(),
                started: Vec::new(),
            }),
            ends: JobEnds::new(64),
            registry,
            tools: Arc::new(tools),
            me: me.clone(),
        });
        Harness {
            host,
            tasks: Vec::new(),
        }
    }

    pub fn now(&self) -> Instant {
        self.host.st.lock().unwrap().now
    }

    /// Milliseconds of fake time since the start.
    pub fn elapsed_ms(&self) -> u64 {
        (self.now() - Instant::from_millis(1_000)).as_millis() as u64
    }

    /// Opens connection `n`, says hello with `token` and returns the session id.
    pub fn connect(&mut self, n: u64, token: &str) -> ConnId {
        let conn = ConnId(n);
        {
            let mut st = self.host.st.lock().unwrap();
            let now = st.now;
            st.rt
                .handle_connection_opened(now, conn, TransportKind::WebSocket);
        }
        let hello = json!({
            "arcp": "1.1", "id": format!("hello-{n}"), "type": "session.hello",
            "payload": {
                "client": {"name": "agents-test", "version": "1.0.0"},
                "auth": {"scheme": "bearer", "token": token},
                "capabilities": {"encodings": ["json"], "features": FEATURES},
            }
        });
        self.send(conn, &hello);
        let welcome = self.take(conn);
        assert_eq!(welcome.len(), 1, "{welcome:?}");
        assert_eq!(welcome[0]["type"], "session.welcome");
        conn
    }

    /// Sends one c2r frame and runs everything to idle.
    pub fn send(&mut self, conn: ConnId, frame: &Value) {
        let raw = serde_json::to_vec(frame).unwrap();
        {
            let mut st = self.host.st.lock().unwrap();
            let now = st.now;
            st.rt.handle_frame(now, conn, &raw);
            self.host.drain(&mut st);
        }
        self.run();
    }

    /// Submits `payload` as request `id` and runs to idle; returns the job id (from
    /// `job.accepted`, which stays in the collected frames).
    pub fn submit(&mut self, conn: ConnId, id: &str, payload: Value) -> Option<String> {
        let before = self.peek(conn).len();
        self.send(
            conn,
            &json!({"arcp": "1.1", "id": id, "type": "job.submit", "payload": payload}),
        );
        self.peek(conn)
            .into_iter()
            .skip(before)
            .find(|f| f["type"] == "job.accepted" && f["payload"]["request_id"] == id)
            .and_then(|f| f["job_id"].as_str().map(str::to_owned))
    }

    /// Frames sent on `conn` so far (kept).
    pub fn peek(&self, conn: ConnId) -> Vec<Value> {
        let st = self.host.st.lock().unwrap();
        st.frames
            .iter()
            .filter(|(c, _)| *c == conn)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Frames sent on `conn` so far (taken).
    pub fn take(&mut self, conn: ConnId) -> Vec<Value> {
        let mut st = self.host.st.lock().unwrap();
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut st.frames)
            .into_iter()
            .partition(|(c, _)| *c == conn);
        st.frames = rest;
        mine.into_iter().map(|(_, v)| v).collect()
    }

    /// The frames of job `job_id` on `conn` (taken from the rest are kept).
    pub fn job_frames(&self, conn: ConnId, job_id: &str) -> Vec<Value> {
        self.peek(conn)
            .into_iter()
            .filter(|f| f["job_id"] == job_id)
            .collect()
    }

    pub fn runtime_events(&self) -> Vec<RuntimeEvent> {
        self.host.st.lock().unwrap().events.clone()
    }

    pub fn started(&self) -> Vec<JobId> {
        self.host.st.lock().unwrap().started.clone()
    }

    pub fn ends(&self) -> JobEnds {
        self.host.ends.clone()
    }

    /// Live (unfinished) agent tasks.
    pub fn live_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Runs every task to idle, advancing the fake clock to the next sleeper while any task
    /// sleeps, and the runtime's deadlines on the way.
    pub fn run(&mut self) {
        self.run_until(None);
    }

    /// Sends one c2r frame and runs to idle without moving the clock past `limit`.
    pub fn send_until(&mut self, conn: ConnId, frame: &Value, limit: Instant) {
        let raw = serde_json::to_vec(frame).unwrap();
        {
            let mut st = self.host.st.lock().unwrap();
            let now = st.now;
            st.rt.handle_frame(now, conn, &raw);
            self.host.drain(&mut st);
        }
        self.run_until(Some(limit));
    }

    /// [`Harness::run`], stopping the clock at `limit` when given.
    pub fn run_until(&mut self, limit: Option<Instant>) {
        for _ in 0..1_000_000 {
            let spawned = std::mem::take(&mut self.host.st.lock().unwrap().spawned);
            for fut in spawned {
                self.tasks.push(Task {
                    fut,
                    flag: Arc::new(Flag(AtomicBool::new(true))),
                });
            }
            let mut progressed = false;
            let mut i = 0;
            while i < self.tasks.len() {
                if self.tasks[i].flag.0.swap(false, Ordering::SeqCst) {
                    progressed = true;
                    let waker = Waker::from(self.tasks[i].flag.clone());
                    let mut cx = Context::from_waker(&waker);
                    if self.tasks[i].fut.as_mut().poll(&mut cx).is_ready() {
                        self.tasks.remove(i);
                        continue;
                    }
                }
                i += 1;
            }
            if progressed || !self.host.st.lock().unwrap().spawned.is_empty() {
                continue;
            }
            let next = {
                let st = self.host.st.lock().unwrap();
                st.sleepers.iter().map(|s| s.deadline).min()
            };
            match (next, limit) {
                (Some(t), Some(l)) if t > l => {
                    if self.now() >= l {
                        return;
                    }
                    self.step_to(l);
                }
                (Some(t), _) => self.step_to(t),
                (None, _) => return,
            }
        }
        panic!("the executor did not become idle");
    }

    /// Moves the fake clock towards `t`: to the runtime's next deadline when it comes first
    /// (handled, so that tasks can react to it before time moves on), else to `t`, waking
    /// the sleepers due.
    pub fn step_to(&mut self, t: Instant) {
        let mut st = self.host.st.lock().unwrap();
        if let Some(d) = st.rt.poll_timeout().filter(|d| *d <= t) {
            st.now = st.now.max(d);
            let now = st.now;
            st.rt.handle_timeout(now);
            self.host.drain(&mut st);
            if d < t {
                return;
            }
        }
        st.now = st.now.max(t);
        let now = st.now;
        for s in st.sleepers.iter_mut().filter(|s| s.deadline <= now) {
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
    }
}

impl TestHost {
    fn arc(&self) -> Arc<TestHost> {
        self.me.upgrade().expect("host alive")
    }

    /// Drains the runtime: frames, effects (performed), events (job ends recorded).
    fn drain(&self, st: &mut State) {
        loop {
            let mut progressed = false;
            while let Some((conn, f)) = st.rt.poll_transmit() {
                progressed = true;
                let v: Value = serde_json::from_slice(&f.encode()).unwrap();
                st.frames.push((conn, v));
            }
            while let Some((id, e)) = st.rt.poll_effect() {
                progressed = true;
                let now = st.now;
                let outcome = match e {
                    Effect::Authenticate { token, .. } => match token.as_str() {
                        "alice-token" => EffectOutcome::Authenticated {
                            principal: "alice".into(),
                        },
                        "bob-token" => EffectOutcome::Authenticated {
                            principal: "bob".into(),
                        },
                        "auditor-token" => EffectOutcome::Authenticated {
                            principal: "auditor".into(),
                        },
                        _ => EffectOutcome::Failed {
                            message: "invalid bearer token".into(),
                        },
                    },
                    Effect::MintCredentials { lease, .. } => {
                        st.cred_n += 1;
                        EffectOutcome::Minted {
                            credentials: vec![Credential {
                                id: format!("cred_{:026}", st.cred_n),
                                scheme: "bearer".into(),
                                value: format!("virt-{:026}", st.cred_n),
                                endpoint: Some("https://llm-gateway.invalid/v1".into()),
                                profile: None,
                                constraints: Some(CredentialConstraints {
                                    cost_budget: None,
                                    model_use: lease.get("model.use").map(<[String]>::to_vec),
                                    expires_at: None,
                                }),
                            }],
                        }
                    }
                    Effect::StartAgent(start) => {
                        let cancel = CancelToken::new();
                        st.cancels.insert(start.job_id.clone(), cancel.clone());
                        st.started.push(start.job_id.clone());
                        let host: Arc<dyn JobHost> = self.arc();
                        st.spawned.push(run_job_with_tools(
                            self.registry.clone(),
                            self.tools.clone(),
                            *start,
                            host,
                            cancel,
                        ));
                        EffectOutcome::Done
                    }
                    Effect::CancelAgent { job_id } => {
                        if let Some(c) = st.cancels.remove(&job_id) {
                            c.cancel();
                        }
                        EffectOutcome::Done
                    }
                    Effect::CloseConnection { conn, .. } => {
                        if st.closed.insert(conn) {
                            st.rt.handle_connection_closed(now, conn);
                        }
                        EffectOutcome::Done
                    }
                    _ => EffectOutcome::Done,
                };
                st.rt.handle_effect_result(now, id, outcome);
            }
            while let Some(e) = st.rt.poll_event() {
                progressed = true;
                if let Some((job, end)) = JobEnd::from_runtime_event(&e) {
                    st.cancels.remove(&job);
                    self.ends.record(&job, end);
                }
                st.events.push(e);
            }
            if !progressed {
                break;
            }
        }
    }
}

impl JobHost for TestHost {
    fn emit(
        &self,
        job_id: &JobId,
        event: AgentEvent,
    ) -> BoxFuture<'_, Result<AgentReply, ErrorPayload>> {
        let mut st = self.st.lock().unwrap();
        let now = st.now;
        let r = st.rt.handle_agent_event(now, job_id, event);
        self.drain(&mut st);
        Box::pin(std::future::ready(r))
    }

    fn check_operation(
        &self,
        job_id: &JobId,
        op: Operation,
    ) -> BoxFuture<'_, Result<String, ErrorPayload>> {
        let mut st = self.st.lock().unwrap();
        let now = st.now;
        let r = st.rt.check_operation(now, job_id, &op);
        self.drain(&mut st);
        Box::pin(std::future::ready(r))
    }

    fn budget(&self, job_id: &JobId) -> BoxFuture<'_, Option<Budget>> {
        let st = self.st.lock().unwrap();
        Box::pin(std::future::ready(st.rt.job_budget(job_id)))
    }

    fn wait_job(&self, job_id: &JobId) -> BoxFuture<'_, JobEnd> {
        self.ends.wait(job_id)
    }

    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        let mut st = self.st.lock().unwrap();
        let id = st.next_sleeper;
        st.next_sleeper += 1;
        let deadline = st.now + d;
        st.sleepers.push(Sleeper {
            id,
            deadline,
            waker: None,
        });
        Box::pin(Sleep {
            host: self.me.clone(),
            id,
        })
    }
}

struct Sleep {
    host: Weak<TestHost>,
    id: u64,
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(host) = self.host.upgrade() else {
            return Poll::Ready(());
        };
        let mut st = host.st.lock().unwrap();
        let now = st.now;
        let Some(pos) = st.sleepers.iter().position(|s| s.id == self.id) else {
            return Poll::Ready(());
        };
        if st.sleepers[pos].deadline <= now {
            st.sleepers.remove(pos);
            return Poll::Ready(());
        }
        st.sleepers[pos].waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(host) = self.host.upgrade() {
            host.st.lock().unwrap().sleepers.retain(|s| s.id != self.id);
        }
    }
}

/// The bodies of the `job.event` frames.
pub fn events(frames: &[Value]) -> Vec<Value> {
    frames
        .iter()
        .filter(|f| f["type"] == "job.event")
        .map(|f| f["payload"]["body"].clone())
        .collect()
}

/// The last frame.
pub fn last(frames: &[Value]) -> Value {
    frames.last().cloned().unwrap()
}

// ---- transcripts ------------------------------------------------------------------------

/// The r2c frames of `name`'s transcript on connection `conn`, as JSON.
pub fn transcript_r2c(name: &str, conn: &str) -> Vec<Value> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/vectors")
        .join(format!("{name}.jsonl"));
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["dir"] == "r2c" && v["conn"] == conn)
                .then(|| serde_json::from_str(v["raw"].as_str().unwrap()).unwrap())
        })
        .collect()
}

/// The job frames (`job.event`, `job.result`, `job.error`) of the `n`-th job accepted in
/// `frames`, plus those of jobs it delegated to, in order.
pub fn nth_job(frames: &[Value], n: usize) -> Vec<Value> {
    let job = frames
        .iter()
        .filter(|f| f["type"] == "job.accepted")
        .nth(n)
        .and_then(|f| f["job_id"].as_str())
        .unwrap()
        .to_owned();
    let mut jobs = vec![job];
    let mut out = Vec::new();
    for f in frames {
        let Some(j) = f["job_id"].as_str() else {
            continue;
        };
        if f["type"] == "job.event" && f["payload"]["kind"] == "delegate" && jobs[0] == j {
            jobs.push(
                f["payload"]["body"]["child_job_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        if jobs.iter().any(|x| x == j) && f["type"] != "job.accepted" {
            out.push(f.clone());
        }
    }
    out
}

/// `(type, payload)` with ids, times and error texts masked: `ts`, `completed_at` and the
/// `message` of error objects dropped, every
/// `job_…`, `res_…`, `cred_…` and `virt-…` string reduced to its prefix.
pub fn shape(frames: &[Value]) -> Vec<(String, Value)> {
    fn mask(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("ts");
                m.remove("completed_at");
                // Error texts are free-form; codes and flags are compared.
                if m.contains_key("code") && m.contains_key("retryable") {
                    m.remove("message");
                }
                m.values_mut().for_each(mask);
            }
            Value::Array(a) => a.iter_mut().for_each(mask),
            Value::String(s) => {
                for p in ["job_", "res_", "cred_", "virt-rotated-", "virt-"] {
                    if s.starts_with(p) {
                        *s = format!("{p}*");
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    frames
        .iter()
        .map(|f| {
            let mut p = f["payload"].clone();
            mask(&mut p);
            (f["type"].as_str().unwrap().to_owned(), p)
        })
        .collect()
}

/// D32 rewrite of a recording: the reference's extra empty final chunk dropped and
/// `more: false` moved onto the last data chunk.
pub fn d32(mut frames: Vec<Value>) -> Vec<Value> {
    let mut i = 0;
    while i < frames.len() {
        let b = &frames[i]["payload"]["body"];
        if frames[i]["payload"]["kind"] == "result_chunk" && b["data"] == "" && b["more"] == false {
            frames.remove(i);
            frames[i - 1]["payload"]["body"]["more"] = json!(false);
            continue;
        }
        i += 1;
    }
    frames
}

/// The event kinds and terminal types of `frames`.
pub fn kinds(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| {
            if f["type"] == "job.event" {
                f["payload"]["kind"].as_str().unwrap().to_owned()
            } else {
                f["type"].as_str().unwrap().to_owned()
            }
        })
        .collect()
}

/// The `job.submit` frames `name`'s transcript sends on connection `conn`: (id, payload).
pub fn transcript_submits(name: &str, conn: &str) -> Vec<(String, Value)> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/vectors")
        .join(format!("{name}.jsonl"));
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            if v["dir"] != "c2r" || v["conn"] != conn {
                return None;
            }
            let f: Value = serde_json::from_str(v["raw"].as_str().unwrap()).unwrap();
            (f["type"] == "job.submit")
                .then(|| (f["id"].as_str().unwrap().to_owned(), f["payload"].clone()))
        })
        .collect()
}

/// Replays the submits of `name` (connection s1) against the contract agents and asserts
/// that every accepted job's frames (with delegated children) have the recording's shape,
/// after the D32 rewrite. Returns the harness and our frames.
pub fn replay_against_transcript(name: &str) -> (Harness, Vec<Value>) {
    // The wall clock starts when the recording's welcome was sent (absolute expiries).
    let t0 = transcript_r2c(name, "s1")
        .iter()
        .find(|f| f["type"] == "session.welcome")
        .and_then(|f| f["payload"]["accepted_at"].as_str())
        .map(|t| Timestamp::parse(t).unwrap().unix_micros())
        .unwrap_or(T0_UNIX_MICROS);
    let mut h = Harness::at_wall(contract_agents(), |_| {}, t0);
    let c = h.connect(1, "alice-token");
    for (id, payload) in transcript_submits(name, "s1") {
        h.submit(c, &id, payload);
    }
    let ours = h.peek(c);
    let rec = transcript_r2c(name, "s1");
    let n = rec.iter().filter(|f| f["type"] == "job.accepted").count();
    assert_eq!(
        ours.iter().filter(|f| f["type"] == "job.accepted").count(),
        n,
        "{name}: accepted jobs"
    );
    assert!(n > 0);
    for i in 0..n {
        let want = shape(&d32(nth_job(&rec, i)));
        let got = shape(&nth_job(&ours, i));
        assert!(!want.is_empty(), "{name}: job #{i} has frames");
        assert_eq!(got, want, "{name}: job #{i}");
    }
    (h, ours)
}
