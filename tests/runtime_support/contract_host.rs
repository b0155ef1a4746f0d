//! The scripted fake host of the transcript replay: it performs the runtime's effects and
//! plays the contract agents of interop/README.md ("Agent contract") on top of the runtime's
//! agent API, with timed continuations for the agents that wait.
#![allow(dead_code)]

use arcp_proto::runtime::{
    AgentEvent, AgentReply, AgentStart, ConnId, Effect, EffectOutcome, Operation, Runtime,
    RuntimeEvent,
};
use arcp_proto::time::Instant;
use arcp_proto::wire::{
    AgentRef, ArtifactRefBody, ChunkEncoding, Credential, CredentialConstraints, ErrorCode,
    ErrorPayload, EventBody, JobId, JobStatus, LeaseMap, LogBody, MetricBody, MetricValue,
    ProgressBody, StatusBody, ThoughtBody, ToolCallBody, ToolResultBody,
};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

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
pub enum Cont {
    SlowTick {
        job: JobId,
        k: u64,
        ticks: u64,
        tick: f64,
        elapsed: f64,
        seconds: f64,
        seconds_json: Value,
    },
    Rotate {
        job: JobId,
        creds: Vec<String>,
    },
    LeaseOps {
        job: JobId,
        ops: Vec<Value>,
        i: usize,
        results: Vec<Value>,
        fatal: bool,
    },
}

pub struct Host {
    pub rt: Runtime,
    pub now: Instant,
    pub conts: Vec<(Instant, u64, Cont)>,
    pub cont_seq: u64,
    /// Our r2c frames per recorded connection name, as JSON.
    pub out: BTreeMap<String, Vec<Value>>,
    pub names: HashMap<ConnId, String>,
    pub closed: HashSet<ConnId>,
    /// Inline results per job (for the delegator).
    pub results: HashMap<JobId, Value>,
    /// child job → parent job waiting for it.
    pub waiting: HashMap<JobId, JobId>,
    pub cred_n: u32,
}

impl Host {
    pub fn new(rt: Runtime, now: Instant) -> Self {
        Host {
            rt,
            now,
            conts: Vec::new(),
            cont_seq: 0,
            out: BTreeMap::new(),
            names: HashMap::new(),
            closed: HashSet::new(),
            results: HashMap::new(),
            waiting: HashMap::new(),
            cred_n: 0,
        }
    }

    pub fn drain(&mut self) {
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
                if let RuntimeEvent::JobEnded { job_id, status, .. } = e
                    && let Some(parent) = self.waiting.remove(job_id.as_str())
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
        self.rt
            .handle_agent_event(self.now, &arcp_proto::wire::JobId::from(job), e)
    }

    fn finish(&mut self, job: &str, result: Value) {
        self.results.insert(job.to_owned().into(), result.clone());
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
            if let Err(e) = self.rt.authorize(
                self.now,
                &arcp_proto::wire::JobId::from(job),
                &Operation::new("tool.call", tool.clone()),
            ) {
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
        job: JobId,
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
    pub fn advance(&mut self, t: Instant) {
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
