//! The `runtime` fuzz target: arbitrary frames from several connections, time steps, effect
//! completions and agent events, with invariants checked after every step.

use crate::runtime::{
    AgentEvent, AgentSpec, ConnId, Effect, EffectId, EffectOutcome, ObserverPolicy, Operation,
    Runtime, RuntimeConfig, TransportKind,
};
use crate::time::{Instant, WallClock};
use crate::wire::{
    AgentRef, ChunkEncoding, Credential, ErrorCode, EventBody, JobId, LeaseMap, LogBody, Message,
    MetricBody, MetricValue, SeededEntropy, SessionId, decode,
};
use arbitrary::Unstructured;
use std::collections::HashMap;
use std::time::Duration;

const TOKENS: [&str; 4] = ["alice-token", "bob-token", "auditor-token", "bad"];
const AGENTS: [&str; 5] = ["echo", "slow", "versioned@1.0.0", "nope", "budget"];
const FEATURES: [&str; 6] = [
    "heartbeat",
    "ack",
    "list_jobs",
    "subscribe",
    "provisioned_credentials",
    "agent_versions",
];

fn config(durable: bool) -> RuntimeConfig {
    let mut cfg = RuntimeConfig {
        heartbeat_interval: Duration::from_secs(2),
        resume_window: Duration::from_secs(30),
        agents: vec![
            AgentSpec::new("echo", &["1.0.0"]),
            AgentSpec::new("slow", &["1.0.0"]),
            AgentSpec::new("budget", &["1.0.0"]),
            AgentSpec::new("versioned", &["1.0.0", "2.0.0"]).with_default("2.0.0"),
        ],
        observer_policy: ObserverPolicy {
            observers: vec!["auditor".into()],
        },
        durable,
        ..RuntimeConfig::default()
    };
    let b = &mut cfg.bounds;
    b.max_frame_bytes = 2048;
    b.max_transmit_queue = 24;
    b.max_ring_events = 12;
    b.max_ring_bytes = 8192;
    b.max_pending_effects = 16;
    b.max_jobs_per_session = 4;
    b.max_retained_jobs = 12;
    b.max_subscriptions_per_session = 3;
    b.max_idempotency_entries = 4;
    b.max_chunk_bytes = 16;
    b.max_result_bytes = 40;
    b.max_sessions = 6;
    // Finished records and expired sessions are forgotten within a run (about 3 records).
    b.finished_job_ttl = Some(Duration::from_secs(5));
    b.max_finished_job_bytes = 5 * 1024;
    b.expired_session_grace = Duration::from_secs(10);
    b.max_pending_events = 32;
    cfg
}

/// What the fake host remembers.
#[derive(Default)]
struct World {
    pending: Vec<(EffectId, Effect)>,
    jobs: Vec<JobId>,
    /// (session id, resume token) from welcomes.
    sessions: Vec<(SessionId, String)>,
    /// Per connection: last `event_seq` received.
    last_seq: HashMap<ConnId, u64>,
    /// Per (connection, job): a terminal was received and no `job.subscribed` since.
    ended: HashMap<(ConnId, JobId), bool>,
    envelope: u32,
    /// Connections that received a welcome and are still open.
    welcomed: Vec<ConnId>,
    /// Connections the host opened and has not closed.
    opened: Vec<ConnId>,
    /// Effects the host answers at once (authentication, agent start).
    auto: Vec<(EffectId, Effect)>,
    /// Connections the host must report closed (after a `CloseConnection`).
    closing: Vec<ConnId>,
    /// Features the last hello on a connection asked for.
    requested: HashMap<ConnId, Vec<&'static str>>,
    /// Features negotiated on a connection (from its welcome).
    negotiated: HashMap<ConnId, Vec<&'static str>>,
}

fn eid(n: u32) -> String {
    format!("01M85JSX0CBPSZZ4SKK7{:06}", n % 1_000_000)
}

fn pick<'a, T>(u: &mut Unstructured<'_>, items: &'a [T]) -> Option<&'a T> {
    if items.is_empty() {
        return None;
    }
    let i = u.choose_index(items.len()).ok()?;
    items.get(i)
}

/// Appends `s` as a JSON string (escaped as `serde_json` escapes it).
fn js(out: &mut Vec<u8>, s: &str) {
    // Writing into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Appends the frame's envelope up to its payload: `{"id":…,` then `"job_id":…,` if given.
fn envelope(id: &str, job: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(192);
    out.extend_from_slice(b"{\"id\":");
    js(&mut out, id);
    if let Some(job) = job {
        out.extend_from_slice(b",\"job_id\":");
        js(&mut out, job);
    }
    out.extend_from_slice(b",\"payload\":");
    out
}

/// Closes a frame whose payload was appended: `,"type":…}`.
fn close(mut out: Vec<u8>, kind: &str) -> Vec<u8> {
    out.extend_from_slice(b",\"type\":");
    js(&mut out, kind);
    out.push(b'}');
    out
}

/// A request frame from the choices `u` makes. The JSON is written directly (keys in the
/// sorted order `serde_json::Value` writes them, so the bytes are those a `json!` value would
/// encode to): building a `Value` tree per frame was a tenth of the target's time.
fn frame_json(u: &mut Unstructured<'_>, w: &mut World, conn: ConnId) -> arbitrary::Result<Vec<u8>> {
    use std::io::Write;
    w.envelope += 1;
    let id = eid(w.envelope);
    let job = pick(u, &w.jobs).cloned().unwrap_or_else(|| "job_x".into());
    let token = *pick(u, &TOKENS).unwrap_or(&"bad");
    let mut features = Vec::new();
    for f in FEATURES {
        if u.arbitrary::<bool>()? {
            features.push(f);
        }
    }
    // Mostly well-formed traffic: a hello first, then requests.
    let choice = if w.welcomed.contains(&conn) {
        u.int_in_range(2..=14u8)?
    } else if u.int_in_range(0..=7u8)? == 0 {
        u.int_in_range(2..=12u8)?
    } else {
        u.int_in_range(0..=1u8)?
    };
    let choice = match choice {
        13 | 14 => 2,
        c => c,
    };
    if choice <= 1 {
        // Only a connection's first hello counts: later ones are refused.
        w.requested.entry(conn).or_insert_with(|| features.clone());
    }
    let hello = |resume: Option<(&str, &str, u64)>| {
        let mut out = envelope(&id, None);
        out.extend_from_slice(b"{\"auth\":{\"scheme\":\"bearer\",\"token\":");
        js(&mut out, token);
        out.extend_from_slice(b"},\"capabilities\":{\"features\":[");
        for (i, f) in features.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            js(&mut out, f);
        }
        out.extend_from_slice(b"]},\"client\":{\"name\":\"f\",\"version\":\"1\"}");
        if let Some((sid, tok, last)) = resume {
            let _ = write!(
                out,
                ",\"resume\":{{\"last_event_seq\":{last},\"resume_token\":"
            );
            js(&mut out, tok);
            out.extend_from_slice(b",\"session_id\":");
            js(&mut out, sid);
            out.push(b'}');
        }
        out.push(b'}');
        close(out, "session.hello")
    };
    Ok(match choice {
        0 => hello(None),
        1 => {
            let (sid, tok) = pick(u, &w.sessions)
                .cloned()
                .unwrap_or_else(|| ("sess_x".into(), "rtk_x".into()));
            let tok = if u.arbitrary::<bool>()? {
                tok
            } else {
                "rtk_wrong".into()
            };
            let last = u.int_in_range(0..=20u64)?;
            hello(Some((sid.as_str(), &tok, last)))
        }
        2 => {
            let agent = *pick(u, &AGENTS).unwrap_or(&"echo");
            let input = u.int_in_range(0..=3u8)?;
            let key = if u.arbitrary::<bool>()? {
                Some(u.int_in_range(0..=2u8)?)
            } else {
                None
            };
            let lease = u.arbitrary::<bool>()?;
            let max_runtime = if u.arbitrary::<bool>()? {
                Some(u.int_in_range(1..=5u8)?)
            } else {
                None
            };
            let constraints = u.arbitrary::<bool>()?;
            let parent = u.arbitrary::<bool>()?;
            let mut out = envelope(&id, None);
            out.extend_from_slice(b"{\"agent\":");
            js(&mut out, agent);
            if let Some(k) = key {
                let _ = write!(out, ",\"idempotency_key\":\"k{k}\"");
            }
            let _ = write!(out, ",\"input\":{input}");
            if constraints {
                out.extend_from_slice(
                    b",\"lease_constraints\":{\"expires_at\":\"2026-11-24T01:30:40Z\"}",
                );
            }
            if lease {
                out.extend_from_slice(
                    b",\"lease_request\":{\"agent.delegate\":[\"echo\"],\"cost.budget\":[\"USD:1.00\"],\"model.use\":[\"m/*\"],\"tool.call\":[\"paid-*\"]}",
                );
            }
            if let Some(s) = max_runtime {
                let _ = write!(out, ",\"max_runtime_sec\":{s}");
            }
            if parent {
                out.extend_from_slice(b",\"parent_job_id\":");
                js(&mut out, &job);
            }
            out.push(b'}');
            close(out, "job.submit")
        }
        3 => {
            let mut out = envelope(&id, Some(&job));
            out.extend_from_slice(b"{}");
            close(out, "job.cancel")
        }
        4 => {
            let n = u.int_in_range(0..=30u64)?;
            let mut out = envelope(&id, None);
            let _ = write!(out, "{{\"last_processed_seq\":{n}}}");
            close(out, "session.ack")
        }
        5 => {
            let limit = u.int_in_range(0..=3u32)?;
            let cursor = u.int_in_range(0..=3u8)?;
            let mut out = envelope(&id, None);
            let _ = write!(out, "{{\"cursor\":\"{cursor}\",\"limit\":{limit}}}");
            close(out, "session.list_jobs")
        }
        6 => {
            let history = u.arbitrary::<bool>()?;
            let from = u.int_in_range(0..=5u64)?;
            let mut out = envelope(&id, None);
            let _ = write!(
                out,
                "{{\"from_event_seq\":{from},\"history\":{history},\"job_id\":"
            );
            js(&mut out, &job);
            out.push(b'}');
            close(out, "job.subscribe")
        }
        7 => {
            let mut out = envelope(&id, None);
            out.extend_from_slice(b"{\"job_id\":");
            js(&mut out, &job);
            out.push(b'}');
            close(out, "job.unsubscribe")
        }
        8 => {
            let mut out = envelope(&id, None);
            out.extend_from_slice(b"{\"nonce\":\"n\",\"sent_at\":\"2026-11-24T01:30:25Z\"}");
            close(out, "session.ping")
        }
        9 => {
            let mut out = envelope(&id, None);
            out.extend_from_slice(b"{\"reason\":\"f\"}");
            close(out, "session.bye")
        }
        10 => vec![b'x'; 2049],
        11 => u.arbitrary::<Vec<u8>>()?,
        _ => {
            let mut out = envelope(&id, None);
            out.extend_from_slice(b"{}");
            close(out, "session.close")
        }
    })
}

fn agent_event(u: &mut Unstructured<'_>) -> arbitrary::Result<AgentEvent> {
    Ok(match u.int_in_range(0..=8u8)? {
        0 => AgentEvent::Event(EventBody::Log(LogBody {
            level: "info".into(),
            message: "m".into(),
            attributes: None,
            extra: Default::default(),
        })),
        1 => AgentEvent::Event(EventBody::Metric(MetricBody {
            name: "cost.x".into(),
            value: MetricValue::Text(["0.40", "-0.1", "0", "0.00001"][u.choose_index(4)?].into()),
            unit: Some("USD".into()),
            attributes: None,
            extra: Default::default(),
        })),
        2 => AgentEvent::ResultChunk {
            chunk_seq: u.int_in_range(0..=3u64)?,
            data: "x".repeat(u.int_in_range(0..=20usize)?),
            encoding: ChunkEncoding::Utf8,
            more: u.arbitrary()?,
        },
        3 => AgentEvent::Result {
            result: if u.arbitrary()? {
                Some(serde_json::json!(1))
            } else {
                None
            },
            summary: None,
        },
        4 => AgentEvent::Error {
            code: ErrorCode::InternalError,
            message: "boom".into(),
            retryable: None,
        },
        5 => AgentEvent::Delegate {
            agent: AgentRef::new("echo", None),
            input: serde_json::Value::Null,
            lease: LeaseMap(vec![("tool.call".into(), vec!["paid-x".into()])]),
            lease_constraints: None,
        },
        6 => AgentEvent::CredentialRotated {
            id: "cred_f".into(),
            value: "v2".into(),
        },
        _ => AgentEvent::Event(EventBody::Other {
            kind: "x-vendor.k".into(),
            body: serde_json::json!({}),
        }),
    })
}

fn outcome(u: &mut Unstructured<'_>, e: &Effect) -> arbitrary::Result<EffectOutcome> {
    if u.int_in_range(0..=4u8)? == 0 {
        return Ok(EffectOutcome::Failed {
            message: "f".into(),
        });
    }
    Ok(match e {
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
                message: "bad".into(),
            },
        },
        Effect::ReadEvents { .. } => EffectOutcome::EventsRead { frames: Vec::new() },
        Effect::MintCredentials { .. } => EffectOutcome::Minted {
            credentials: vec![Credential {
                id: "cred_f".into(),
                scheme: "bearer".into(),
                value: "v".into(),
                endpoint: None,
                profile: None,
                constraints: None,
            }],
        },
        _ => EffectOutcome::Done,
    })
}

/// Checks every transmitted frame: it re-decodes; per connection `event_seq` is gap-free;
/// nothing of a job follows its terminal on a connection (except a `job.subscribed` reset or
/// an idempotent resubmit's copy of the terminal, [D27]).
///
/// [D27]: crate::compat#d27--idempotent-resubmit
fn check(rt: &mut Runtime, w: &mut World) {
    // §10: no child running after its parent's terminal; reservations within the budget.
    if let Err(e) = rt.check_delegation() {
        panic!("delegation invariant: {e}");
    }
    while let Some((conn, f)) = rt.poll_transmit() {
        let bytes = f.encode();
        let again = decode(&bytes, &crate::wire::Limits::default());
        assert!(again.is_ok(), "emitted frame does not decode: {f:?}");
        // No frame outside the negotiated features (D26).
        let has = |feat: &str| w.negotiated.get(&conn).is_some_and(|n| n.contains(&feat));
        match &f.message {
            Message::Ping(_) => assert!(has("heartbeat"), "ping without heartbeat"),
            Message::Subscribed(_) => assert!(has("subscribe"), "subscribed without subscribe"),
            Message::Jobs(_) => assert!(has("list_jobs"), "jobs without list_jobs"),
            Message::Accepted(a) if a.credentials.is_some() => {
                assert!(
                    has("provisioned_credentials"),
                    "credentials without the feature"
                );
            }
            _ => {}
        }
        if let Message::Welcome(wl) = &f.message {
            let req = w.requested.get(&conn).cloned().unwrap_or_default();
            assert_eq!(
                wl.heartbeat_interval_sec.is_some(),
                req.contains(&"heartbeat"),
                "heartbeat_interval_sec outside the intersection"
            );
            w.negotiated.insert(conn, req);
            if let Some(sid) = &wl.session_id {
                w.sessions.push((sid.clone(), wl.resume_token.clone()));
            }
            w.last_seq.remove(&conn);
            w.welcomed.push(conn);
        }
        if let (Message::Accepted(a), _) = (&f.message, ())
            && !w.jobs.contains(&a.job_id)
        {
            w.jobs.push(a.job_id.clone());
        }
        let job = f.job_id.clone().unwrap_or_default();
        if let Message::Subscribed(_) = &f.message {
            w.ended.remove(&(conn, job.clone()));
        }
        if let Some(seq) = f.event_seq {
            if let Some(last) = w.last_seq.get(&conn) {
                assert_eq!(seq, last + 1, "event_seq gap on {conn:?}: {f:?}");
            }
            w.last_seq.insert(conn, seq);
            let key = (conn, job);
            let terminal = f.message_type().is_terminal();
            if w.ended.get(&key).copied().unwrap_or(false) {
                assert!(terminal, "event after the terminal: {f:?}");
            }
            if terminal {
                w.ended.insert(key, true);
            }
        }
    }
    while let Some((id, e)) = rt.poll_effect() {
        if let Effect::StartAgent(s) = &e
            && !w.jobs.contains(&s.job_id)
        {
            w.jobs.push(s.job_id.clone());
        }
        match &e {
            Effect::Authenticate { .. } | Effect::StartAgent(_) => {
                w.auto.push((id, e));
            }
            Effect::CloseConnection { conn, .. } => w.closing.push(*conn),
            _ => w.pending.push((id, e)),
        }
    }
    while rt.poll_event().is_some() {}
}

/// The host's immediate reactions: answer authentications and agent starts, report closes.
fn settle(rt: &mut Runtime, w: &mut World, now: Instant) {
    for _ in 0..16 {
        if w.auto.is_empty() && w.closing.is_empty() {
            return;
        }
        for (id, e) in std::mem::take(&mut w.auto) {
            let o = match &e {
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
                        message: "bad".into(),
                    },
                },
                _ => EffectOutcome::Done,
            };
            rt.handle_effect_result(now, id, o);
        }
        for conn in std::mem::take(&mut w.closing) {
            rt.handle_connection_closed(now, conn);
            forget_conn(w, conn);
        }
        check(rt, w);
    }
}

fn forget_conn(w: &mut World, conn: ConnId) {
    w.last_seq.remove(&conn);
    w.ended.retain(|(c, _), _| *c != conn);
    w.welcomed.retain(|c| *c != conn);
    w.opened.retain(|c| *c != conn);
    w.requested.remove(&conn);
    w.negotiated.remove(&conn);
}

/// Drives a [`Runtime`] with steps decoded from `data` (with or without a durable store);
/// panics only on a broken invariant.
pub fn runtime_steps(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut now = Instant::from_millis(1000);
    // One run in four has a durable store: write-ahead appends completed in any order.
    let durable = u.int_in_range(0..=3u8).unwrap_or(0) == 0;
    let mut rt = Runtime::new(
        config(durable),
        WallClock::new(now, 1_795_483_825_000_000),
        Box::new(SeededEntropy::new(1)),
    );
    let mut w = World::default();
    for _ in 0..400 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.int_in_range(0..=7u8) else {
            break;
        };
        let conn = ConnId(u.int_in_range(0..=3u64).unwrap_or(0));
        match op {
            0 => {
                let kind = if u.arbitrary::<bool>().unwrap_or(false) {
                    TransportKind::Stdio
                } else {
                    TransportKind::WebSocket
                };
                rt.handle_connection_closed(now, conn);
                rt.handle_connection_opened(now, conn, kind);
                forget_conn(&mut w, conn);
                w.opened.push(conn);
            }
            1 => {
                rt.handle_connection_closed(now, conn);
                forget_conn(&mut w, conn);
            }
            2 | 3 => {
                if !w.opened.contains(&conn) {
                    rt.handle_connection_opened(now, conn, TransportKind::WebSocket);
                    w.opened.push(conn);
                }
                let Ok(bytes) = frame_json(&mut u, &mut w, conn) else {
                    break;
                };
                // An idempotent resubmit may copy a terminal (D27): reset the per-job check.
                if bytes.windows(15).any(|x| x == b"idempotency_key") {
                    w.ended.retain(|(c, _), _| *c != conn);
                }
                rt.handle_frame(now, conn, &bytes);
            }
            4 => {
                let ms = u.int_in_range(0..=3000u64).unwrap_or(0);
                now = now + Duration::from_millis(ms);
                if rt.poll_timeout().is_some_and(|t| t <= now) {
                    rt.handle_timeout(now);
                }
            }
            5 => {
                if !w.pending.is_empty() {
                    let i = u.choose_index(w.pending.len()).unwrap_or(0);
                    let (id, e) = w.pending.swap_remove(i);
                    if let Ok(o) = outcome(&mut u, &e) {
                        rt.handle_effect_result(now, id, o);
                    }
                }
            }
            6 => {
                if let (Some(job), Ok(ev)) = (pick(&mut u, &w.jobs).cloned(), agent_event(&mut u)) {
                    // A delegated child becomes a job the host can drive too.
                    if let Ok(crate::runtime::AgentReply::Delegated { child_job_id }) =
                        rt.handle_agent_event(now, &job, ev)
                        && !w.jobs.contains(&child_job_id)
                    {
                        w.jobs.push(child_job_id);
                    }
                }
            }
            _ => {
                if let Some(job) = pick(&mut u, &w.jobs).cloned() {
                    let op = Operation::new("tool.call", "paid-x");
                    // The checked form decides as the plain gate does (and audits refusals).
                    let plain = rt.authorize(now, &job, &op);
                    let checked = rt.check_operation(now, &job, &op);
                    assert_eq!(checked.map(|_| ()), plain, "one decision procedure");
                }
            }
        }
        check(&mut rt, &mut w);
        settle(&mut rt, &mut w, now);
        if rt.poll_timeout().is_some_and(|t| t < now) {
            rt.handle_timeout(now);
            check(&mut rt, &mut w);
        }
    }
}
