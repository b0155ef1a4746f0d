//! A scripted fake host for `Runtime` scenario tests.
#![allow(dead_code)]

use arcp_proto::runtime::{
    AgentEvent, AgentSpec, ConnId, Effect, EffectId, EffectOutcome, ObserverPolicy, Runtime,
    RuntimeConfig, RuntimeEvent, TransportKind,
};
use arcp_proto::time::{Instant, WallClock};
use arcp_proto::wire::{
    Credential, CredentialConstraints, Frame, JobId, Message, SeededEntropy, SessionId,
};
use serde_json::{Value, json};
use std::time::Duration;

/// 2026-11-24T01:30:25Z
pub const T0_UNIX_MICROS: i64 = 1_795_483_825_000_000;

pub const ALL: [&str; 11] = [
    "heartbeat",
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

pub fn contract_config() -> RuntimeConfig {
    let mut cfg = RuntimeConfig {
        heartbeat_interval: Duration::from_secs(2),
        ..RuntimeConfig::default()
    };
    cfg.agents = [
        "echo",
        "chatty",
        "slow",
        "budget",
        "lease-check",
        "chunked",
        "delegator",
        "failing",
        "rotator",
    ]
    .iter()
    .map(|n| AgentSpec::new(*n, &["1.0.0"]))
    .collect();
    cfg.agents
        .push(AgentSpec::new("versioned", &["1.0.0", "2.0.0"]).with_default("2.0.0"));
    cfg.observer_policy = ObserverPolicy {
        observers: vec!["auditor".into()],
    };
    cfg
}

pub struct Host {
    pub rt: Runtime,
    pub now: Instant,
    /// Frames sent, per connection, not yet taken.
    pub out: Vec<(ConnId, Frame)>,
    /// Effects not answered automatically (or all, when `auto` is false).
    pub effects: Vec<(EffectId, Effect)>,
    /// Every effect seen, in order.
    pub all_effects: Vec<Effect>,
    pub events: Vec<RuntimeEvent>,
    /// Answer Authenticate / MintCredentials / RevokeCredential / StartAgent automatically.
    pub auto: bool,
    pub cred_counter: u32,
    /// Drain with `poll_transmit_encoded` (decoding each frame back for `out`) instead of
    /// `poll_transmit`.
    pub encoded: bool,
    /// Every frame sent, as bytes: `poll_transmit_encoded`'s, or `Frame::encode` of
    /// `poll_transmit`'s.
    pub wire: Vec<(ConnId, Vec<u8>)>,
}

impl Host {
    pub fn new(cfg: RuntimeConfig) -> Self {
        let now = Instant::from_millis(1_000);
        let rt = Runtime::new(
            cfg,
            WallClock::new(now, T0_UNIX_MICROS),
            Box::new(SeededEntropy::new(7)),
        );
        Host {
            rt,
            now,
            out: Vec::new(),
            effects: Vec::new(),
            all_effects: Vec::new(),
            events: Vec::new(),
            auto: true,
            cred_counter: 0,
            encoded: false,
            wire: Vec::new(),
        }
    }

    pub fn contract() -> Self {
        Host::new(contract_config())
    }

    pub fn drain(&mut self) {
        loop {
            let mut progressed = false;
            if self.encoded {
                while let Some((c, bytes)) = self.rt.poll_transmit_encoded() {
                    let f = Frame::decode(&bytes).expect("the runtime's own encoding decodes");
                    self.wire.push((c, bytes.to_vec()));
                    self.out.push((c, f));
                    progressed = true;
                }
            }
            while let Some(t) = self.rt.poll_transmit() {
                self.wire.push((t.0, t.1.encode()));
                self.out.push(t);
                progressed = true;
            }
            while let Some((id, e)) = self.rt.poll_effect() {
                progressed = true;
                self.all_effects.push(e.clone());
                if self.auto
                    && let Some(outcome) = self.auto_answer(&e)
                {
                    self.rt.handle_effect_result(self.now, id, outcome);
                    continue;
                }
                self.effects.push((id, e));
            }
            while let Some(ev) = self.rt.poll_event() {
                self.events.push(ev);
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
    }

    fn auto_answer(&mut self, e: &Effect) -> Option<EffectOutcome> {
        match e {
            Effect::Authenticate { token, .. } => Some(match token.as_str() {
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
            }),
            Effect::MintCredentials { lease, .. } => {
                self.cred_counter += 1;
                Some(EffectOutcome::Minted {
                    credentials: vec![Credential {
                        id: format!("cred_{}", self.cred_counter),
                        scheme: "bearer".into(),
                        value: format!("secret-{}", self.cred_counter),
                        endpoint: Some("https://llm-gateway.invalid/v1".into()),
                        profile: None,
                        constraints: Some(CredentialConstraints {
                            cost_budget: lease.get("cost.budget").map(<[String]>::to_vec),
                            model_use: lease.get("model.use").map(<[String]>::to_vec),
                            expires_at: None,
                        }),
                    }],
                })
            }
            Effect::RevokeCredential { .. } | Effect::StartAgent(_) => Some(EffectOutcome::Done),
            _ => None,
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
        if self.rt.poll_timeout().is_some_and(|t| t <= self.now) {
            self.rt.handle_timeout(self.now);
        }
        self.drain();
    }

    pub fn open(&mut self, conn: u64) -> ConnId {
        self.open_kind(conn, TransportKind::WebSocket)
    }

    pub fn open_kind(&mut self, conn: u64, kind: TransportKind) -> ConnId {
        let c = ConnId(conn);
        self.rt.handle_connection_opened(self.now, c, kind);
        self.drain();
        c
    }

    pub fn close(&mut self, conn: ConnId) {
        self.rt.handle_connection_closed(self.now, conn);
        self.drain();
    }

    pub fn send_raw(&mut self, conn: ConnId, raw: &[u8]) {
        self.rt.handle_frame(self.now, conn, raw);
        self.drain();
    }

    pub fn send(&mut self, conn: ConnId, frame: Value) {
        let raw = serde_json::to_vec(&frame).unwrap();
        self.send_raw(conn, &raw);
    }

    /// Frames sent to `conn` since the last call.
    pub fn take(&mut self, conn: ConnId) -> Vec<Frame> {
        let (mine, rest): (Vec<_>, Vec<_>) = self.out.drain(..).partition(|(c, _)| *c == conn);
        self.out = rest;
        mine.into_iter().map(|(_, f)| f).collect()
    }

    /// Frames to `conn` as JSON values.
    pub fn take_json(&mut self, conn: ConnId) -> Vec<Value> {
        self.take(conn)
            .iter()
            .map(|f| serde_json::from_slice(&f.encode()).unwrap())
            .collect()
    }

    /// Opens `conn`, says hello with `features`, returns (session_id, resume_token).
    pub fn hello(
        &mut self,
        conn: u64,
        token: &str,
        features: &[&str],
    ) -> (ConnId, SessionId, String) {
        let c = self.open(conn);
        self.send(c, hello(token, features));
        let frames = self.take(c);
        let Some(Message::Welcome(w)) = frames.first().map(|f| f.message.clone()) else {
            panic!("expected a welcome, got {frames:?}");
        };
        (c, w.session_id.unwrap(), w.resume_token)
    }

    pub fn submit(&mut self, conn: ConnId, id: &str, payload: Value) -> JobId {
        self.send(
            conn,
            json!({"arcp":"1.1","id":id,"type":"job.submit","payload":payload}),
        );
        let frames = self.take(conn);
        match frames.first().map(|f| &f.message) {
            Some(Message::Accepted(a)) => a.job_id.clone(),
            _ => panic!("expected job.accepted, got {frames:?}"),
        }
    }

    /// Job `job`'s agent ends it with `result`; the runtime's output is drained.
    pub fn finish(&mut self, job: &JobId, result: Value) {
        let end = AgentEvent::Result {
            result: Some(result),
            summary: None,
        };
        self.rt.handle_agent_event(self.now, job, end).unwrap();
        self.drain();
    }

    pub fn started_jobs(&self) -> Vec<JobId> {
        self.all_effects
            .iter()
            .filter_map(|e| match e {
                Effect::StartAgent(s) => Some(s.job_id.clone()),
                _ => None,
            })
            .collect()
    }
}

pub fn hello(token: &str, features: &[&str]) -> Value {
    json!({"arcp":"1.1","id":"01M85JSX0CBPSZZ4SKK7GMCRQB","type":"session.hello","payload":{
        "client":{"name":"t","version":"1"},
        "auth":{"scheme":"bearer","token":token},
        "capabilities":{"encodings":["json"],"features":features}}})
}

/// An envelope id: a valid upper-case ULID with a distinguishing tail.
pub fn eid(n: u32) -> String {
    format!("01M85JSX0CBPSZZ4SKK7G{n:05}")
}

pub fn seqs(frames: &[Frame]) -> Vec<u64> {
    frames.iter().filter_map(|f| f.event_seq).collect()
}

pub fn types(frames: &[Frame]) -> Vec<&'static str> {
    frames.iter().map(|f| f.message_type().as_str()).collect()
}
