//! Transcript replay: for every golden transcript in `tests/vectors`, drive a `ClientSession`
//! per recorded connection with the commands the recorded client issued, feed it the recorded
//! `r2c` frames at their recorded times, and check that the `c2r` frames it produces equal the
//! recorded ones modulo ids, timestamps and tokens (interop/README.md, "Transcripts").
//!
//! A connection whose recorded hello carries `payload.resume` is driven by a session built
//! with `ClientSession::with_resume` from that resume block: the recording runner chose
//! `last_event_seq` itself (e.g. 5 after receiving 15 events) to test the runtime's replay.
//!
//! Excluded frames (each asserted to be refused by the command, never silently skipped):
//! - `handshake.jsonl` s2 `session.list_jobs`: `list_jobs` was not negotiated on that session,
//!   so COMPAT D26 forbids sending it; `list_jobs` returns `FeatureNotNegotiated`.
//! - `bad_token.jsonl` s2 `session.bye`: after a refused hello our session is closed for good
//!   (the runtime closes the transport anyway); `close` returns `Closed`.

use arcp_proto::client::{
    ApiError, ClientConfig, ClientEvent, ClientSession, ListJobsRequest, ResumeState, SubmitRequest,
};
use arcp_proto::time::{Instant, WallClock};
use arcp_proto::wire::{
    AgentInfo, ClientInfo, Frame, LeaseConstraints, LeaseMap, SeededEntropy, TraceId,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

const EXCLUDED: &[(&str, &str, &str)] = &[
    ("handshake.jsonl", "s2", "session.list_jobs"),
    ("bad_token.jsonl", "s2", "session.bye"),
];

const ID_KEYS: &[&str] = &[
    "id",
    "session_id",
    "job_id",
    "request_id",
    "resume_token",
    "nonce",
    "ping_nonce",
    "child_job_id",
    "result_id",
];
const TS_KEYS: &[&str] = &[
    "sent_at",
    "received_at",
    "expires_at",
    "created_after",
    "ts",
];

/// Replaces ids with placeholders numbered by first appearance (keeping equality relations)
/// and timestamps with `<ts>`.
fn normalise(v: &mut Value, ids: &mut HashMap<String, usize>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match x {
                    Value::String(s) if ID_KEYS.contains(&k.as_str()) => {
                        let n = ids.len();
                        let n = *ids.entry(s.clone()).or_insert(n);
                        *s = format!("<id{n}>");
                    }
                    Value::String(s) if TS_KEYS.contains(&k.as_str()) => *s = "<ts>".into(),
                    _ => normalise(x, ids),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| normalise(x, ids)),
        _ => {}
    }
}

struct Conn {
    client: ClientSession,
    produced: Vec<Value>,
    expected: Vec<Value>,
    events: Vec<ClientEvent>,
}

fn config_from_hello(hello: &Value) -> ClientConfig {
    let p = &hello["payload"];
    let info: ClientInfo = serde_json::from_value(p["client"].clone()).unwrap();
    let mut c = ClientConfig::new(info, p["auth"]["token"].as_str().unwrap());
    let caps = &p["capabilities"];
    let names: Vec<String> = serde_json::from_value(caps["features"].clone()).unwrap();
    c.features = arcp_proto::wire::FeatureSet::from_names(&names);
    c.extra_features = names
        .iter()
        .filter(|n| n.parse::<arcp_proto::wire::Feature>().is_err())
        .cloned()
        .collect();
    // The hello lists the known features in the canonical order, then the unknown ones, as
    // the transcripts do.
    let mut sent = c.features.to_names();
    sent.extend(c.extra_features.iter().cloned());
    assert_eq!(sent, names);
    c.hello_agents = caps
        .get("agents")
        .map(|a| serde_json::from_value::<Vec<AgentInfo>>(a.clone()).unwrap());
    c
}

fn new_conn(hello: &Value) -> Conn {
    let config = config_from_hello(hello);
    let wall = WallClock::new(Instant::ZERO, 1_795_483_800_000_000);
    let entropy = Box::new(SeededEntropy::new(9));
    let client = match hello["payload"].get("resume") {
        Some(r) => ClientSession::with_resume(
            config,
            wall,
            entropy,
            ResumeState {
                session_id: r["session_id"].as_str().unwrap().into(),
                resume_token: r["resume_token"].as_str().unwrap().into(),
                last_event_seq: r["last_event_seq"].as_u64().unwrap(),
            },
        ),
        None => ClientSession::new(config, wall, entropy),
    };
    Conn {
        client,
        produced: Vec::new(),
        expected: Vec::new(),
        events: Vec::new(),
    }
}

fn opt<T: serde::de::DeserializeOwned>(p: &Value, key: &str) -> Option<T> {
    p.get(key)
        .map(|v| serde_json::from_value(v.clone()).unwrap())
}

/// Issues the command that produced the recorded frame `f`; `Ok(false)` for frames the
/// client sends on its own (pongs).
fn issue(c: &mut ClientSession, now: Instant, f: &Value) -> Result<bool, ApiError> {
    let p = &f["payload"];
    let job = f["job_id"].as_str().or(p["job_id"].as_str()).unwrap_or("");
    match f["type"].as_str().unwrap() {
        "session.pong" => return Ok(false),
        "job.submit" => {
            let mut req = SubmitRequest::new(p["agent"].as_str().unwrap(), p["input"].clone());
            req.lease_request = opt::<LeaseMap>(p, "lease_request").unwrap_or_default();
            req.lease_constraints = opt::<LeaseConstraints>(p, "lease_constraints");
            req.idempotency_key = opt(p, "idempotency_key");
            req.max_runtime_sec = opt(p, "max_runtime_sec");
            req.trace_id = f["trace_id"].as_str().map(|t| TraceId::parse(t).unwrap());
            c.submit(now, req)?;
        }
        "job.cancel" => {
            c.cancel(
                now,
                &arcp_proto::wire::JobId::from(job),
                p["reason"].as_str(),
            )?;
        }
        "session.list_jobs" => {
            let req: ListJobsRequest = serde_json::from_value(p.clone()).unwrap();
            c.list_jobs(now, req)?;
        }
        "job.subscribe" => {
            let history = p["history"].as_bool().unwrap_or(false);
            c.subscribe(
                now,
                &arcp_proto::wire::JobId::from(job),
                history,
                p["from_event_seq"].as_u64(),
            )?;
        }
        "job.unsubscribe" => {
            c.unsubscribe(now, &arcp_proto::wire::JobId::from(job))?;
        }
        "session.ack" => c.ack(now, p["last_processed_seq"].as_u64().unwrap())?,
        "session.ping" => {
            c.ping(now)?;
        }
        "session.bye" => c.close(now, p["reason"].as_str().unwrap())?,
        other => panic!("unexpected recorded command {other}"),
    }
    Ok(true)
}

fn drain(conn: &mut Conn) {
    while let Some(f) = conn.client.poll_transmit() {
        conn.produced
            .push(serde_json::from_slice(&Frame::encode(&f)).unwrap());
    }
    conn.events
        .extend(std::iter::from_fn(|| conn.client.poll_event()));
}

fn replay(name: &str, text: &str) -> (BTreeMap<String, Conn>, usize) {
    let recs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut conns: BTreeMap<String, Conn> = BTreeMap::new();
    let mut excluded = 0;
    for rec in &recs {
        let conn_name = rec["conn"].as_str().unwrap().to_owned();
        let now = Instant::from_millis(rec["t_ms"].as_u64().unwrap());
        let raw = rec.get("raw").and_then(Value::as_str);
        // Due deadlines first (heartbeat loss), as a host would.
        for conn in conns.values_mut() {
            if conn.client.poll_timeout().is_some_and(|t| t <= now) {
                conn.client.handle_timeout(now);
                drain(conn);
            }
        }
        match (rec["dir"].as_str().unwrap(), raw) {
            ("meta", _) => {
                let event = rec["event"].as_str().unwrap();
                if event == "open" {
                    let hello = recs
                        .iter()
                        .find(|r| r["conn"] == conn_name.as_str() && r["dir"] == "c2r")
                        .map(|r| serde_json::from_str::<Value>(r["raw"].as_str().unwrap()).unwrap())
                        .expect("a hello on every connection");
                    let mut conn = new_conn(&hello);
                    conn.client.handle_connected(now);
                    drain(&mut conn);
                    conns.insert(conn_name, conn);
                } else if let Some(conn) = conns.get_mut(&conn_name)
                    && matches!(event, "drop" | "closed" | "close")
                {
                    conn.client.handle_disconnected(now);
                    drain(conn);
                }
            }
            ("r2c", Some(raw)) => {
                let conn = conns.get_mut(&conn_name).unwrap();
                conn.client.handle_frame(now, raw.as_bytes());
                drain(conn);
            }
            ("c2r", Some(raw)) => {
                let f: Value = serde_json::from_str(raw).unwrap();
                let ty = f["type"].as_str().unwrap().to_owned();
                let conn = conns.get_mut(&conn_name).unwrap();
                if ty == "session.hello" {
                    conn.expected.push(f);
                    continue;
                }
                let excluded_here = EXCLUDED.contains(&(name, conn_name.as_str(), ty.as_str()));
                match issue(&mut conn.client, now, &f) {
                    Ok(_) => {
                        assert!(!excluded_here, "{name} {conn_name} {ty}: excluded but sent");
                        conn.expected.push(f);
                    }
                    Err(e) => {
                        assert!(excluded_here, "{name} {conn_name} {ty}: refused: {e}");
                        excluded += 1;
                    }
                }
                drain(conn);
            }
            _ => {}
        }
    }
    (conns, excluded)
}

#[test]
fn every_transcript_replays_frame_exact() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 24);
    let mut failures = Vec::new();
    let (mut compared, mut excluded_total, mut terminals) = (0, 0, 0);
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let (conns, excluded) = replay(&name, &std::fs::read_to_string(f).unwrap());
        excluded_total += excluded;
        for (cname, conn) in conns {
            let (mut a, mut b) = (HashMap::new(), HashMap::new());
            let norm = |frames: &[Value], ids: &mut HashMap<String, usize>| -> Vec<Value> {
                frames
                    .iter()
                    .map(|v| {
                        let mut v = v.clone();
                        normalise(&mut v, ids);
                        v
                    })
                    .collect()
            };
            let produced = norm(&conn.produced, &mut a);
            let expected = norm(&conn.expected, &mut b);
            compared += expected.len();
            if produced != expected {
                failures.push(format!(
                    "{name} {cname}:\n  produced {}\n  expected {}",
                    Value::Array(produced),
                    Value::Array(expected)
                ));
            }
            let delivered: Vec<u64> = conn
                .events
                .iter()
                .filter_map(|e| match e {
                    ClientEvent::JobEvent { event_seq, .. }
                    | ClientEvent::Terminal { event_seq, .. } => Some(*event_seq),
                    _ => None,
                })
                .collect();
            if (name.as_str(), cname.as_str()) == ("resume_replay.jsonl", "s2") {
                // Resumed at 5: exactly 6..=15 replayed, then the new job's 16.
                assert_eq!(delivered, (6..=16).collect::<Vec<_>>());
            }
            if (name.as_str(), cname.as_str()) == ("ack.jsonl", "s2") {
                assert_eq!(delivered, (11..=16).collect::<Vec<_>>());
            }
            for e in &conn.events {
                match e {
                    ClientEvent::Terminal { .. } => terminals += 1,
                    ClientEvent::ProtocolError(_)
                    | ClientEvent::SequenceBroken { .. }
                    | ClientEvent::SequenceGap { .. }
                    | ClientEvent::DuplicateDropped { .. }
                    | ClientEvent::EventQueueOverflow { .. }
                    | ClientEvent::ResultRefused { .. }
                    | ClientEvent::HeartbeatLost => {
                        failures.push(format!("{name} {cname}: unexpected {e:?}"))
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("c2r frames compared: {compared}, excluded: {excluded_total}, terminals: {terminals}");
    assert_eq!(excluded_total, EXCLUDED.len());
    // Every recorded c2r frame is either compared or listed in EXCLUDED, and every
    // recorded terminal reached the host.
    assert_eq!(compared + excluded_total, 138);
    assert_eq!(terminals, 42);
}
