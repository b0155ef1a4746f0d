//! Transcript replay: the `c2r` frames of every golden transcript are fed into the `Runtime`
//! with a scripted fake host playing the contract agents (interop/README.md), and the `r2c`
//! frames are compared with the recording modulo ids and times — except where COMPAT.md
//! deliberately differs; there the COMPAT behaviour is what the recording is rewritten to.

mod runtime_support;

#[path = "runtime_support/contract_host.rs"]
mod contract_host;

use arcp_proto::runtime::{ConnId, Runtime, TransportKind};
use arcp_proto::time::{Instant, WallClock};
use arcp_proto::wire::{SeededEntropy, Timestamp};
use contract_host::Host;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

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
    cfg.features = arcp_proto::wire::FeatureSet::from_names(runtime_support::ALL);
    let rt = Runtime::new(
        cfg,
        WallClock::new(at(welcome_at.0), welcome_at.1.unix_micros()),
        Box::new(SeededEntropy::new(3)),
    );
    let mut h = Host::new(rt, at(0));
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
