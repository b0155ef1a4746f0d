//! Transcript replay: the `c2r` frames of every golden transcript are fed into the `Runtime`
//! with a scripted fake host playing the contract agents (interop/README.md), and the `r2c`
//! frames are compared with the recording modulo ids and times — except where COMPAT.md
//! deliberately differs; there the COMPAT behaviour is what the recording is rewritten to.

mod runtime_support;

use arcp_proto::runtime::{
    AgentEvent, AgentReply, AgentStart, ConnId, Effect, EffectOutcome, Operation, Runtime,
    RuntimeEvent, TransportKind,
};
use arcp_proto::time::{Instant, WallClock};
use arcp_proto::wire::{
    AgentRef, ArtifactRefBody, ChunkEncoding, Credential, CredentialConstraints, ErrorCode,
    ErrorPayload, EventBody, JobStatus, LeaseMap, LogBody, MetricBody, MetricValue, ProgressBody,
    SeededEntropy, StatusBody, ThoughtBody, Timestamp, ToolCallBody, ToolResultBody,
};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

const BASE_MS: u64 = 1_000;

fn at(ms: u64) -> Instant {
    Instant::from_millis(BASE_MS + ms)
}

struct Record {
    t_ms: u64,
    conn: String,
    dir: String,
    event: Option<String>,
    raw: Option<String>,
}

fn load(name: &str) -> Vec<Record> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(format!("{name}.jsonl"));
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Record {
                t_ms: v["t_ms"].as_u64().unwrap(),
                conn: v["conn"].as_str().unwrap().to_owned(),
                dir: v["dir"].as_str().unwrap().to_owned(),
                event: v["event"].as_str().map(str::to_owned),
                raw: v["raw"].as_str().map(str::to_owned),
            }
        })
        .collect()
}

fn ev(body: EventBody) -> AgentEvent {
    AgentEvent::Event(body)
}

fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A timed continuation of an agent.
enum Cont {
    SlowTick {
        job: String,
        k: u64,
        ticks: u64,
        tick: f64,
        elapsed: f64,
        seconds: f64,
        seconds_json: Value,
    },
    Rotate {
        job: String,
        creds: Vec<String>,
    },
    LeaseOps {
        job: String,
        ops: Vec<Value>,
        i: usize,
        results: Vec<Value>,
        fatal: bool,
    },
}

struct Host {
    rt: Runtime,
    now: Instant,
    conts: Vec<(Instant, u64, Cont)>,
    cont_seq: u64,
    /// Our r2c frames per recorded connection name, as JSON.
    out: BTreeMap<String, Vec<Value>>,
    names: HashMap<ConnId, String>,
    closed: HashSet<ConnId>,
    /// Inline results per job (for the delegator).
    results: HashMap<String, Value>,
    /// child job → parent job waiting for it.
    waiting: HashMap<String, String>,
    cred_n: u32,
}

impl Host {
    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some((conn, f)) = self.rt.poll_transmit() {
                progressed = true;
                let v: Value = serde_json::from_slice(&f.encode()).unwrap();
                let name = self.names.get(&conn).cloned().unwrap_or_default();
                self.out.entry(name).or_default().push(v);
            }
            while let Some((id, e)) = self.rt.poll_effect() {
                progressed = true;
                self.effect(id, e);
            }
            while let Some(e) = self.rt.poll_event() {
                progressed = true;
                if let RuntimeEvent::JobEnded { job_id, status } = e
                    && let Some(parent) = self.waiting.remove(&job_id)
                {
                    self.child_done(&parent, &job_id, status);
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn effect(&mut self, id: arcp_proto::runtime::EffectId, e: Effect) {
        let now = self.now;
        match e {
            Effect::Authenticate { token, .. } => {
                let o = match token.as_str() {
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
                };
                self.rt.handle_effect_result(now, id, o);
            }
            Effect::MintCredentials {
                lease,
                lease_constraints,
                ..
            } => {
                self.cred_n += 1;
                let c = Credential {
                    id: format!("cred_{:026}", self.cred_n),
                    scheme: "bearer".into(),
                    value: format!("virt-{:026}", self.cred_n),
                    endpoint: Some("https://llm-gateway.invalid/v1".into()),
                    profile: Some("openai".into()),
                    constraints: Some(CredentialConstraints {
                        cost_budget: Some(
                            lease
                                .get("cost.budget")
                                .map(<[String]>::to_vec)
                                .unwrap_or_default(),
                        ),
                        model_use: lease.get("model.use").map(<[String]>::to_vec),
                        expires_at: lease_constraints.and_then(|c| c.expires_at),
                    }),
                };
                self.rt.handle_effect_result(
                    now,
                    id,
                    EffectOutcome::Minted {
                        credentials: vec![c],
                    },
                );
            }
            Effect::StartAgent(s) => {
                self.rt.handle_effect_result(now, id, EffectOutcome::Done);
                self.start(*s);
            }
            Effect::CloseConnection { conn, .. } => {
                if self.closed.insert(conn) {
                    self.rt.handle_connection_closed(now, conn);
                }
            }
            _ => self.rt.handle_effect_result(now, id, EffectOutcome::Done),
        }
    }

    fn emit(&mut self, job: &str, e: AgentEvent) -> Result<AgentReply, ErrorPayload> {
        self.rt.handle_agent_event(self.now, job, e)
    }

    fn finish(&mut self, job: &str, result: Value) {
        self.results.insert(job.to_owned(), result.clone());
        let _ = self.emit(
            job,
            AgentEvent::Result {
                result: Some(result),
                summary: None,
            },
        );
    }

    fn fail(&mut self, job: &str, code: ErrorCode, message: String) {
        let _ = self.emit(
            job,
            AgentEvent::Error {
                code,
                message,
                retryable: None,
            },
        );
    }

    fn later(&mut self, secs: f64, c: Cont) {
        self.cont_seq += 1;
        let due = self.now + Duration::from_micros((secs * 1e6).round() as u64);
        self.conts.push((due, self.cont_seq, c));
    }

    fn start(&mut self, s: AgentStart) {
        let job = s.job_id.clone();
        let input = s.input.clone();
        match s.agent.name.as_str() {
            "echo" => {
                self.results.insert(job.clone(), input.clone());
                let _ = self.emit(
                    &job,
                    AgentEvent::Result {
                        result: Some(input),
                        summary: None,
                    },
                );
            }
            "versioned" => self.finish(&job, json!({"version": s.agent.version, "input": input})),
            "chatty" => self.chatty(&job, input["count"].as_u64().unwrap_or(3)),
            "slow" => {
                let seconds_json = input.get("seconds").cloned().unwrap_or(json!(30));
                let seconds = seconds_json.as_f64().unwrap();
                // Python's `{:g}`: 2.0 → "2", 0.6 → "0.6".
                let tick = input["tick"].as_f64().unwrap_or(0.5);
                let ticks = ((seconds / tick).ceil() as u64).max(1);
                let _ = self.emit(
                    &job,
                    ev(EventBody::Status(StatusBody {
                        phase: "slow.start".into(),
                        message: Some(format!("sleeping {seconds}s in {ticks} ticks")),
                        id: None,
                        value: None,
                        extra: Map::new(),
                    })),
                );
                self.later(
                    tick.min(seconds),
                    Cont::SlowTick {
                        job,
                        k: 1,
                        ticks,
                        tick,
                        elapsed: tick.min(seconds),
                        seconds,
                        seconds_json,
                    },
                );
            }
            "failing" => {
                let _ = self.emit(&job, log("error", "about to fail"));
                let msg = input["message"].as_str().unwrap_or("boom").to_owned();
                let code = input["code"]
                    .as_str()
                    .map_or(ErrorCode::InternalError, ErrorCode::parse);
                self.fail(&job, code, msg);
            }
            "budget" => self.budget(&job, &input),
            "lease-check" => {
                let ops = input["ops"].as_array().cloned().unwrap_or_default();
                let fatal = input["fatal"].as_bool().unwrap_or(true);
                self.lease_ops(job, ops, 0, Vec::new(), fatal);
            }
            "chunked" => self.chunked(&job, &input),
            "delegator" => {
                let agent = AgentRef::parse(input["agent"].as_str().unwrap()).unwrap();
                let lease: LeaseMap = serde_json::from_value(input["lease"].clone()).unwrap();
                let lc = input
                    .get("lease_constraints")
                    .map(|v| serde_json::from_value(v.clone()).unwrap());
                let r = self.emit(
                    &job,
                    AgentEvent::Delegate {
                        agent,
                        input: input["input"].clone(),
                        lease,
                        lease_constraints: lc,
                    },
                );
                match r {
                    Ok(AgentReply::Delegated { child_job_id }) => {
                        self.waiting.insert(child_job_id, job);
                    }
                    Ok(_) => {}
                    Err(e) => self.fail(&job, e.code, e.message),
                }
            }
            "rotator" => {
                let delay = input["delay_sec"].as_f64().unwrap_or(0.2);
                let creds = s.credentials.iter().map(|c| c.id.clone()).collect();
                self.later(delay, Cont::Rotate { job, creds });
            }
            other => panic!("no agent {other}"),
        }
    }

    fn child_done(&mut self, parent: &str, child: &str, status: JobStatus) {
        let mut r = json!({
            "child_job_id": child,
            "child_agent": "echo@1.0.0",
            "child_final_status": status.as_str(),
        });
        if let Some(v) = self.results.get(child) {
            r["child_result"] = v.clone();
        }
        self.finish(parent, r);
    }

    fn chatty(&mut self, job: &str, count: u64) {
        let mut evs = vec![ev(EventBody::Status(StatusBody {
            phase: "chatty.start".into(),
            message: Some(format!("emitting {count} rounds")),
            id: None,
            value: None,
            extra: Map::new(),
        }))];
        for i in 0..count {
            evs.push(log("info", &format!("round {i}")));
            evs.push(ev(EventBody::Thought(ThoughtBody {
                text: format!("thinking about round {i}"),
                extra: Map::new(),
            })));
            evs.push(ev(EventBody::ToolCall(ToolCallBody {
                tool_call_id: format!("call_{i}"),
                name: "lookup".into(),
                arguments: Some(json!({"round": i})),
                extra: Map::new(),
            })));
            evs.push(ev(EventBody::ToolResult(ToolResultBody {
                tool_call_id: format!("call_{i}"),
                output: Some(json!({"round": i, "ok": true})),
                error: None,
                extra: Map::new(),
            })));
            evs.push(metric("rounds.completed", json!(i + 1), "count"));
            evs.push(ev(EventBody::Progress(ProgressBody {
                current: (i + 1).into(),
                total: Some(count.into()),
                units: Some("rounds".into()),
                message: Some(format!("round {i}")),
                extra: Map::new(),
            })));
        }
        evs.push(ev(EventBody::ArtifactRef(ArtifactRefBody {
            artifact_id: Some("art_chatty_summary".into()),
            media_type: Some("text/plain".into()),
            size_bytes: Some(2),
            uri: Some("mem://chatty/summary".into()),
            summary: Some(format!("{count} rounds")),
            sha256: None,
            extra: Map::new(),
        })));
        for e in evs {
            self.emit(job, e).unwrap();
        }
        self.finish(job, json!({"rounds": count, "events": 6 * count + 2}));
    }

    fn budget(&mut self, job: &str, input: &Value) {
        let cost = input["cost"].as_str().unwrap_or("0.40").to_owned();
        let currency = input["currency"].as_str().unwrap_or("USD").to_owned();
        let steps = input["steps"].as_u64().unwrap_or(10);
        let tool = input["tool"].as_str().unwrap_or("paid-tool").to_owned();
        for neg in input["negative_costs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let v = neg.as_str().unwrap().to_owned();
            let refused = self.emit(job, metric_text("cost.refund", &v, &currency));
            assert!(refused.is_err());
            self.emit(
                job,
                log("warn", &format!("negative cost metric rejected: {v}")),
            )
            .unwrap();
        }
        for i in 0..steps {
            let id = format!("step_{i}");
            self.emit(
                job,
                ev(EventBody::ToolCall(ToolCallBody {
                    tool_call_id: id.clone(),
                    name: tool.clone(),
                    arguments: Some(json!({"step": i})),
                    extra: Map::new(),
                })),
            )
            .unwrap();
            if let Err(e) =
                self.rt
                    .authorize(self.now, job, &Operation::new("tool.call", tool.clone()))
            {
                self.tool_error(job, &id, &e);
                self.fail(job, e.code, e.message);
                return;
            }
            self.emit(job, metric_text("cost.inference", &cost, &currency))
                .unwrap();
            self.emit(
                job,
                ev(EventBody::ToolResult(ToolResultBody {
                    tool_call_id: id,
                    output: Some(json!({"step": i})),
                    error: None,
                    extra: Map::new(),
                })),
            )
            .unwrap();
        }
        self.finish(job, json!({"steps": steps}));
    }

    fn tool_error(&mut self, job: &str, id: &str, e: &ErrorPayload) {
        let mut err = ErrorPayload::new(e.code.clone(), e.message.clone());
        err.retryable = false;
        self.emit(
            job,
            ev(EventBody::ToolResult(ToolResultBody {
                tool_call_id: id.to_owned(),
                output: None,
                error: Some(err),
                extra: Map::new(),
            })),
        )
        .unwrap();
    }

    fn lease_ops(
        &mut self,
        job: String,
        ops: Vec<Value>,
        i: usize,
        mut results: Vec<Value>,
        fatal: bool,
    ) {
        let mut i = i;
        while let Some(op) = ops.get(i).cloned() {
            if let Some(d) = op["delay_sec"].as_f64().filter(|d| *d > 0.0) {
                let mut op2 = ops.clone();
                op2[i]["delay_sec"] = json!(0);
                self.later(
                    d,
                    Cont::LeaseOps {
                        job,
                        ops: op2,
                        i,
                        results,
                        fatal,
                    },
                );
                return;
            }
            let cap = op["capability"].as_str().unwrap().to_owned();
            let target = op["target"].as_str().unwrap().to_owned();
            let id = format!("op_{i}");
            if self
                .emit(
                    &job,
                    ev(EventBody::ToolCall(ToolCallBody {
                        tool_call_id: id.clone(),
                        name: cap.clone(),
                        arguments: Some(json!({"target": target})),
                        extra: Map::new(),
                    })),
                )
                .is_err()
            {
                return; // the job already ended (e.g. lease expiry, D30)
            }
            match self
                .rt
                .authorize(self.now, &job, &Operation::new(cap, target))
            {
                Ok(()) => {
                    self.emit(
                        &job,
                        ev(EventBody::ToolResult(ToolResultBody {
                            tool_call_id: id,
                            output: Some(json!({"allowed": true})),
                            error: None,
                            extra: Map::new(),
                        })),
                    )
                    .unwrap();
                    results.push(json!("OK"));
                }
                Err(e) => {
                    self.tool_error(&job, &id, &e);
                    results.push(json!(e.code.as_str()));
                    if fatal
                        && matches!(e.code, ErrorCode::LeaseExpired | ErrorCode::BudgetExhausted)
                    {
                        self.fail(&job, e.code, e.message);
                        return;
                    }
                }
            }
            i += 1;
        }
        self.finish(&job, json!({"results": results}));
    }

    fn chunked(&mut self, job: &str, input: &Value) {
        let data = input["data"].as_str().unwrap();
        let base64 = input["encoding"].as_str() == Some("base64");
        let size = input["chunk_size"].as_u64().unwrap_or(8) as usize;
        let chunks: Vec<(String, ChunkEncoding)> = if base64 {
            data.as_bytes()
                .chunks(size)
                .map(|c| (b64(c), ChunkEncoding::Base64))
                .collect()
        } else {
            let chars: Vec<char> = data.chars().collect();
            chars
                .chunks(size)
                .map(|c| (c.iter().collect(), ChunkEncoding::Utf8))
                .collect()
        };
        let n = chunks.len();
        for (i, (d, enc)) in chunks.into_iter().enumerate() {
            self.emit(
                job,
                AgentEvent::ResultChunk {
                    chunk_seq: i as u64,
                    data: d,
                    encoding: enc,
                    more: true,
                },
            )
            .unwrap();
        }
        // The reference's stream ending: an extra empty final chunk (folded, D32).
        self.emit(
            job,
            AgentEvent::ResultChunk {
                chunk_seq: n as u64,
                data: String::new(),
                encoding: ChunkEncoding::Utf8,
                more: false,
            },
        )
        .unwrap();
        self.emit(
            job,
            AgentEvent::Result {
                result: None,
                summary: Some(format!("{n} chunks")),
            },
        )
        .unwrap();
    }

    fn run_cont(&mut self, c: Cont) {
        match c {
            Cont::SlowTick {
                job,
                k,
                ticks,
                tick,
                elapsed,
                seconds,
                seconds_json,
            } => {
                let e = ev(EventBody::Progress(ProgressBody {
                    current: k.into(),
                    total: Some(ticks.into()),
                    units: Some("ticks".into()),
                    message: None,
                    extra: Map::new(),
                }));
                if self.emit(&job, e).is_err() {
                    return; // cancelled or timed out
                }
                if k >= ticks {
                    self.finish(&job, json!({"slept": seconds_json, "ticks": ticks}));
                } else {
                    let step = tick.min(seconds - elapsed);
                    self.later(
                        step,
                        Cont::SlowTick {
                            job,
                            k: k + 1,
                            ticks,
                            tick,
                            elapsed: elapsed + step,
                            seconds,
                            seconds_json,
                        },
                    );
                }
            }
            Cont::Rotate { job, creds } => {
                for (i, id) in creds.iter().enumerate() {
                    let _ = self.emit(
                        &job,
                        AgentEvent::CredentialRotated {
                            id: id.clone(),
                            value: format!("virt-rotated-{i}-{:020}", self.cred_n),
                        },
                    );
                }
                self.finish(&job, json!({"rotated": creds}));
            }
            Cont::LeaseOps {
                job,
                ops,
                i,
                results,
                fatal,
            } => self.lease_ops(job, ops, i, results, fatal),
        }
    }

    /// Runs runtime deadlines and agent continuations up to `t`, in time order.
    fn advance(&mut self, t: Instant) {
        loop {
            let rt_next = self.rt.poll_timeout().filter(|d| *d <= t);
            let cont_next = self
                .conts
                .iter()
                .filter(|(d, _, _)| *d <= t)
                .map(|(d, s, _)| (*d, *s))
                .min();
            match (rt_next, cont_next) {
                (None, None) => break,
                (Some(r), c) if c.is_none_or(|(d, _)| r <= d) => {
                    self.now = r;
                    self.rt.handle_timeout(r);
                }
                (_, Some((d, s))) => {
                    self.now = d;
                    let pos = self.conts.iter().position(|(_, q, _)| *q == s).unwrap();
                    let (_, _, c) = self.conts.remove(pos);
                    self.run_cont(c);
                }
                (Some(_), None) => unreachable!(),
            }
            self.drain();
        }
        self.now = t;
    }
}

fn log(level: &str, msg: &str) -> AgentEvent {
    ev(EventBody::Log(LogBody {
        level: level.into(),
        message: msg.into(),
        attributes: None,
        extra: Map::new(),
    }))
}

fn metric(name: &str, v: Value, unit: &str) -> AgentEvent {
    let Value::Number(n) = v else { panic!() };
    ev(EventBody::Metric(MetricBody {
        name: name.into(),
        value: MetricValue::Number(n),
        unit: Some(unit.into()),
        attributes: None,
        extra: Map::new(),
    }))
}

fn metric_text(name: &str, v: &str, unit: &str) -> AgentEvent {
    ev(EventBody::Metric(MetricBody {
        name: name.into(),
        value: MetricValue::Text(v.into()),
        unit: Some(unit.into()),
        attributes: None,
        extra: Map::new(),
    }))
}

/// Keys whose values are ids: learned as a recorded → ours mapping.
const ID_KEYS: [&str; 11] = [
    "session_id",
    "job_id",
    "request_id",
    "child_job_id",
    "result_id",
    "nonce",
    "ping_nonce",
    "resume_token",
    "id",
    "value",
    "parent_job_id",
];

fn learn(rec: &Value, ours: &Value, key: Option<&str>, map: &mut HashMap<String, String>) {
    match (rec, ours) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                if let Some(w) = b.get(k) {
                    learn(v, w, Some(k), map);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (v, w) in a.iter().zip(b) {
                learn(v, w, key, map);
            }
        }
        (Value::String(a), Value::String(b)) if key.is_some_and(|k| ID_KEYS.contains(&k)) => {
            map.entry(a.clone()).or_insert_with(|| b.clone());
        }
        _ => {}
    }
}

/// Drops what may differ: envelope ids, times, error messages, the runtime's name, tokens.
fn normalize(v: &mut Value, map: &HashMap<String, String>, top: bool) {
    match v {
        Value::Object(m) => {
            if top {
                m.remove("id");
            }
            for k in [
                "accepted_at",
                "completed_at",
                "submitted_at",
                "ts",
                "sent_at",
                "received_at",
                "resume_token",
                "runtime",
                "details",
            ] {
                m.remove(k);
            }
            if m.contains_key("code") && m.contains_key("retryable") {
                m.remove("message");
            }
            for (_, x) in m.iter_mut() {
                normalize(x, map, false);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| normalize(x, map, false)),
        Value::String(s) => {
            if let Some(o) = map.get(s.as_str()) {
                *s = o.clone();
            }
        }
        _ => {}
    }
}

/// COMPAT rewrites of the recording, and additive fields of ours dropped.
fn compat(name: &str, conn: &str, rec: &mut Vec<Value>, ours: &mut [Value]) {
    // D20: `request_id` on session.error is additive. D11: spec fields on session.jobs are
    // additive.
    for v in ours.iter_mut() {
        if v["type"] == "session.error" {
            v["payload"].as_object_mut().unwrap().remove("request_id");
        }
        if v["type"] == "session.jobs" {
            for j in v["payload"]["jobs"].as_array_mut().unwrap() {
                let j = j.as_object_mut().unwrap();
                j.remove("created_at");
                j.remove("lease");
                j.remove("last_event_seq");
            }
        }
    }
    // D32: `more:false` on the last data chunk, no extra empty chunk.
    let mut dropped = 0u64;
    let mut i = 0;
    while i < rec.len() {
        if let Some(s) = rec[i]["event_seq"].as_u64() {
            rec[i]["event_seq"] = json!(s - dropped);
        }
        let body = &rec[i]["payload"]["body"];
        if rec[i]["payload"]["kind"] == "result_chunk"
            && body["data"] == ""
            && body["more"] == false
        {
            rec.remove(i);
            rec[i - 1]["payload"]["body"]["more"] = json!(false);
            dropped += 1;
            continue;
        }
        i += 1;
    }
    // D9: job.subscribed before the replayed history.
    if let Some(pos) = rec.iter().position(|v| v["type"] == "job.subscribed") {
        let replayed = rec[pos]["payload"]["replayed"].as_u64().unwrap_or(0) as usize;
        let sub = rec.remove(pos);
        rec.insert(pos - replayed, sub);
    }
    // D7: an observer's cancel is answered PERMISSION_DENIED.
    if name == "subscriber_cannot_cancel" && conn == "s2" && !rec.is_empty() {
        let pos = rec
            .iter()
            .position(|v| v["type"] == "job.subscribed")
            .unwrap();
        let mut err = rec[pos].clone();
        err["type"] = json!("session.error");
        err.as_object_mut().unwrap().remove("job_id");
        err["payload"] = json!({"code":"PERMISSION_DENIED","retryable":false});
        rec.insert(pos + 1, err);
    }
}

fn replay(name: &str) {
    let records = load(name);
    let welcome_at = records
        .iter()
        .find_map(|r| {
            let raw = r.raw.as_ref()?;
            let v: Value = serde_json::from_str(raw).ok()?;
            let t = v["payload"]["accepted_at"].as_str()?;
            (v["type"] == "session.welcome").then(|| (r.t_ms, Timestamp::parse(t).unwrap()))
        })
        .unwrap_or((0, Timestamp::parse("2026-11-24T01:30:25Z").unwrap()));
    let mut cfg = runtime_support::contract_config();
    cfg.features = runtime_support::ALL
        .iter()
        .map(|f| (*f).to_owned())
        .collect();
    let rt = Runtime::new(
        cfg,
        WallClock::new(at(welcome_at.0), welcome_at.1.unix_micros()),
        Box::new(SeededEntropy::new(3)),
    );
    let mut h = Host {
        rt,
        now: at(0),
        conts: Vec::new(),
        cont_seq: 0,
        out: BTreeMap::new(),
        names: HashMap::new(),
        closed: HashSet::new(),
        results: HashMap::new(),
        waiting: HashMap::new(),
        cred_n: 0,
    };
    let mut conns: HashMap<String, ConnId> = HashMap::new();
    // Recorded r2c frames per connection, with the COMPAT rewrites (applied at the end too).
    let mut recorded: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in &records {
        if r.dir == "r2c" {
            let v: Value = serde_json::from_str(r.raw.as_ref().unwrap()).unwrap();
            if v["type"] != "session.ping" {
                recorded.entry(r.conn.clone()).or_default().push(v);
            }
        }
    }
    for (c, rec) in recorded.iter_mut() {
        compat(name, c, rec, &mut []);
    }
    let mut map: HashMap<String, String> = HashMap::new();
    let mut learned: HashMap<String, usize> = HashMap::new();
    for r in &records {
        h.advance(at(r.t_ms));
        // Learn ids from what both sides sent so far.
        for (c, ours) in &h.out {
            let ours: Vec<&Value> = ours
                .iter()
                .filter(|v| v["type"] != "session.ping")
                .collect();
            let rec = recorded.get(c).map(Vec::as_slice).unwrap_or(&[]);
            let from = learned.get(c).copied().unwrap_or(0);
            for k in from..ours.len().min(rec.len()) {
                // Listings of the recording hold other scenarios' jobs: learn nothing there.
                if rec[k]["type"] != "session.jobs" {
                    learn(&rec[k], ours[k], None, &mut map);
                }
            }
            learned.insert(c.clone(), ours.len().min(rec.len()));
        }
        match (r.dir.as_str(), r.event.as_deref()) {
            ("meta", Some("open")) => {
                let id = ConnId(conns.len() as u64 + 1);
                conns.insert(r.conn.clone(), id);
                h.names.insert(id, r.conn.clone());
                h.rt.handle_connection_opened(h.now, id, TransportKind::WebSocket);
            }
            ("meta", Some("close" | "drop" | "closed")) => {
                let id = conns[&r.conn];
                if h.closed.insert(id) {
                    h.rt.handle_connection_closed(h.now, id);
                }
            }
            ("c2r", _) => {
                let mut raw = r.raw.clone().unwrap();
                for (a, b) in &map {
                    raw = raw.replace(a.as_str(), b.as_str());
                }
                let id = conns[&r.conn];
                h.rt.handle_frame(h.now, id, raw.as_bytes());
            }
            _ => {}
        }
        h.drain();
    }
    let mut failures = Vec::new();
    let names: HashSet<String> = recorded.keys().chain(h.out.keys()).cloned().collect();
    for c in names {
        let mut ours: Vec<Value> = h
            .out
            .get(&c)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|v| v["type"] != "session.ping")
            .collect();
        let mut rec = recorded.get(&c).cloned().unwrap_or_default();
        compat(name, &c, &mut Vec::new(), &mut ours);
        // The recording's runtime served every scenario: its listings also hold earlier
        // scenarios' jobs. Keep the jobs of this transcript.
        for v in rec.iter_mut() {
            if v["type"] == "session.jobs" {
                v["payload"]["jobs"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|j| map.contains_key(j["job_id"].as_str().unwrap()));
            }
        }
        for v in rec.iter_mut() {
            normalize(v, &map, true);
        }
        for v in ours.iter_mut() {
            normalize(v, &HashMap::new(), true);
        }
        if rec.len() != ours.len() {
            failures.push(format!(
                "{name}/{c}: {} recorded frames, {} ours\n rec: {:?}\n our: {:?}",
                rec.len(),
                ours.len(),
                rec.iter().map(|v| v["type"].clone()).collect::<Vec<_>>(),
                ours.iter().map(|v| v["type"].clone()).collect::<Vec<_>>()
            ));
            continue;
        }
        for (k, (a, b)) in rec.iter().zip(&ours).enumerate() {
            if a != b {
                failures.push(format!("{name}/{c} frame {k}:\n rec: {a}\n our: {b}"));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $( #[test] fn $name() { replay(stringify!($name)); } )*
    };
}

scenarios!(
    ack,
    agent_versions,
    bad_token,
    budget_exhaustion,
    cancel,
    delegation,
    event_ordering,
    failing_agent,
    graceful_close,
    handshake,
    heartbeat,
    idempotent_resubmit,
    lease_enforcement,
    lease_expiry,
    list_jobs,
    max_runtime,
    progress_events,
    provisioned_credentials,
    result_chunks,
    resume_replay,
    submit_echo,
    subscribe,
    subscriber_cannot_cancel,
    unsubscribe,
);
