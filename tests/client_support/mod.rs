//! Shared helpers of the `client_*` tests: a fake clock, frame builders, drains.
#![allow(dead_code)]

use arcp_proto::client::{ClientConfig, ClientEvent, ClientSession};
use arcp_proto::time::{Instant, WallClock};
use arcp_proto::wire::{Frame, SeededEntropy};
use serde_json::{Value, json};

pub const SID: &str = "sess_01M85JT4S9G5FDBMSJEE1TJW5A";
pub const TOKEN1: &str = "rtk_01M85JT4S9G5FDBMSJEE1TJW5B";
pub const TOKEN2: &str = "rtk_01M85JT4SMB2SCF16CA16ZMC9M";
pub const JOB: &str = "job_01M85JT4SAGX7B3XWCKQ17M6DG";

pub fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

pub fn config() -> ClientConfig {
    ClientConfig::named("arcp-interop-runner", "1.0.0", "alice-token")
}

pub fn client(config: ClientConfig) -> ClientSession {
    let wall = WallClock::new(Instant::ZERO, 1_795_483_833_000_000);
    ClientSession::new(config, wall, Box::new(SeededEntropy::new(42)))
}

pub fn txs(c: &mut ClientSession) -> Vec<Frame> {
    std::iter::from_fn(|| c.poll_transmit()).collect()
}

pub fn evs(c: &mut ClientSession) -> Vec<ClientEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// A frame's JSON, as sent.
pub fn json_of(f: &Frame) -> Value {
    serde_json::from_slice(&f.encode()).unwrap()
}

pub fn feed(c: &mut ClientSession, now: Instant, v: Value) {
    c.handle_frame(now, v.to_string().as_bytes());
}

pub fn welcome(sid: &str, token: &str, heartbeat: Option<u64>, features: &[&str]) -> Value {
    let mut p = json!({
        "runtime": {"name": "arcp-peer-runtime", "version": "1.1.3"},
        "session_id": sid,
        "resume_token": token,
        "resume_window_sec": 600,
        "capabilities": {"encodings": ["json"], "features": features, "agents": ["echo"]},
        "accepted_at": "2026-11-24T01:30:33.130968Z"
    });
    if let Some(h) = heartbeat {
        p["heartbeat_interval_sec"] = json!(h);
    }
    json!({"arcp": "1.1", "id": "01M85JT4S9G5FDBMSJEE1TJW60", "type": "session.welcome",
           "session_id": sid, "payload": p})
}

/// The eleven feature names, in the canonical order (as `Feature::ALL` spells them).
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

/// A client with a welcomed session (all features, no heartbeat); hello and welcome
/// events drained.
pub fn open(config: ClientConfig) -> ClientSession {
    let mut c = client(config);
    c.handle_connected(ms(0));
    txs(&mut c);
    feed(&mut c, ms(1), welcome(SID, TOKEN1, None, &ALL));
    evs(&mut c);
    c
}

pub fn accepted(job: &str, request_id: Option<&str>) -> Value {
    let mut p = json!({"job_id": job, "agent": "echo@1.0.0",
        "accepted_at": "2026-11-24T01:30:33.130968Z", "lease": {}});
    if let Some(r) = request_id {
        p["request_id"] = json!(r);
    }
    json!({"arcp": "1.1", "id": "01M85JT4SAGX7B3XWCKQ17M6D1", "type": "job.accepted",
           "session_id": SID, "job_id": job, "payload": p})
}

pub fn event(job: &str, seq: u64, kind: &str, body: Value) -> Value {
    json!({"arcp": "1.1", "id": format!("01M85JT4SAGX7B3XWCKQ17M{seq:03}"), "type": "job.event",
           "session_id": SID, "job_id": job, "event_seq": seq,
           "payload": {"kind": kind, "ts": "2026-11-24T01:30:33.131199Z", "body": body}})
}

pub fn log(job: &str, seq: u64) -> Value {
    event(
        job,
        seq,
        "log",
        json!({"level": "info", "message": format!("line {seq}")}),
    )
}

pub fn result(job: &str, seq: u64, payload: Value) -> Value {
    json!({"arcp": "1.1", "id": format!("01M85JT4SAGX7B3XWCKQ17R{seq:03}"), "type": "job.result",
           "session_id": SID, "job_id": job, "event_seq": seq, "payload": payload})
}

pub fn job_error(job: &str, seq: u64, code: &str, retryable: bool) -> Value {
    json!({"arcp": "1.1", "id": format!("01M85JT4SAGX7B3XWCKQ17E{seq:03}"), "type": "job.error",
           "session_id": SID, "job_id": job, "event_seq": seq,
           "payload": {"final_status": "error", "code": code, "message": "m",
                       "retryable": retryable}})
}

pub fn session_error(code: &str, request_id: Option<&str>) -> Value {
    let mut p = json!({"code": code, "message": "m", "retryable": false, "details": null});
    if let Some(r) = request_id {
        p["request_id"] = json!(r);
    }
    json!({"arcp": "1.1", "id": "01M85JT4SAGX7B3XWCKQ17ERR0", "type": "session.error",
           "session_id": SID, "payload": p})
}

/// The `event_seq`s of delivered job events and terminals.
pub fn seqs(events: &[ClientEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::JobEvent { event_seq, .. } | ClientEvent::Terminal { event_seq, .. } => {
                Some(*event_seq)
            }
            _ => None,
        })
        .collect()
}
