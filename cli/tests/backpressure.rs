//! Backpressure instead of loss, through the real binary (`arcp serve --demo`, issue #18):
//! a client that stops reading for 10 s during a 200,000-event `chatty` job ends with every
//! `event_seq` once, in order, after at most one resume (in memory and with `--db`); a
//! subscriber that falls behind and one that asks for freed history get the truncation
//! notice (docs/compat.md, "Subscriber gaps") and continue gap-free by subscribing again.

#[path = "support/serve.rs"]
mod serve;
// The raw WebSocket peer of arcp-tokio's server tests.
#[path = "../../adapters/tokio/tests/server_support/mod.rs"]
mod server_support;

use futures_util::StreamExt;
use serde_json::{Value, json};
use serve::Served;
use server_support::*;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// A hello without `heartbeat`: these raw peers do not answer runtime pings, and a pause
/// must not end in a heartbeat loss.
fn quiet_hello(token: &str, resume: Option<Value>) -> Value {
    let mut h = hello(token, resume);
    let features: Vec<&str> = FEATURES
        .iter()
        .copied()
        .filter(|f| *f != "heartbeat")
        .collect();
    h["payload"]["capabilities"]["features"] = json!(features);
    h
}

/// Connects and says hello (no heartbeat); returns the welcome.
async fn greet(p: &mut Peer, token: &str) -> Value {
    p.send(&quiet_hello(token, None)).await;
    let w = p.recv().await;
    assert_eq!(w["type"], "session.welcome", "{w}");
    p.session_id = w["payload"]["session_id"].as_str().map(str::to_owned);
    w
}

/// `chatty {count: 33333}`: 6·33,333 + 2 = 200,000 events, then `job.result`.
const ROUNDS: u64 = 33_333;
const FRAMES: u64 = 6 * ROUNDS + 2 + 1;

/// Reads seq-bearing frames of `job` into `seqs` until its terminal (`true`) or the
/// connection ends (`false`).
async fn read_job(p: &mut Peer, job: &str, seqs: &mut Vec<u64>, terminal: &mut Value) -> bool {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(60), p.ws.next())
            .await
            .expect("no frame for 60 s");
        let text = match m {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return false,
            Some(Ok(_)) => continue,
        };
        let v: Value = serde_json::from_str(&text).expect("json");
        if let Some(s) = v["event_seq"].as_u64() {
            seqs.push(s);
        }
        if v["job_id"] == job && (v["type"] == "job.result" || v["type"] == "job.error") {
            *terminal = v;
            return true;
        }
    }
}

async fn pause_reading_then_finish(extra: &[&str]) {
    let serve = Served::start(extra);
    let mut p = Peer::connect(&serve.url).await;
    let w = greet(&mut p, "alice-token").await;
    let (sid, token) = (
        w["payload"]["session_id"].clone(),
        w["payload"]["resume_token"].clone(),
    );
    let a = p.submit("chatty", json!({"count": ROUNDS})).await;
    let job = a["job_id"].as_str().unwrap().to_owned();
    let mut seqs = Vec::new();
    while seqs.len() < 1000 {
        let v = p.recv().await;
        if let Some(s) = v["event_seq"].as_u64() {
            seqs.push(s);
        }
    }
    // Stop reading for 10 s: the server must neither lose events nor need more than one
    // resume.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut terminal = Value::Null;
    let mut resumes = 0;
    while !read_job(&mut p, &job, &mut seqs, &mut terminal).await {
        resumes += 1;
        assert!(resumes <= 1, "a second resume was needed");
        p = Peer::connect(&serve.url).await;
        let last = seqs.last().copied().unwrap_or(0);
        p.send(&quiet_hello(
            "alice-token",
            Some(json!({"session_id": sid, "resume_token": token, "last_event_seq": last})),
        ))
        .await;
        let w = p.recv().await;
        assert_eq!(w["type"], "session.welcome", "resume refused: {w}");
    }
    eprintln!("resumes: {resumes}");
    assert_eq!(seqs.len() as u64, FRAMES, "every frame once");
    assert!(
        seqs.iter().copied().eq(1..=FRAMES),
        "in order, no gap, no duplicate"
    );
    assert_eq!(terminal["type"], "job.result");
    assert_eq!(terminal["payload"]["final_status"], "success");
    assert_eq!(
        terminal["payload"]["result"],
        json!({"rounds": ROUNDS, "events": 6 * ROUNDS + 2})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_for_10s_loses_nothing_in_memory() {
    pause_reading_then_finish(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_for_10s_loses_nothing_with_db() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("arcp.db");
    pause_reading_then_finish(&["--db", db.to_str().unwrap()]).await;
}

/// The owner's `event_seq` of a `chatty` frame (its only job, so frame i of the job is seq
/// i + 1): from the round number its body carries.
fn chatty_seq(f: &Value) -> u64 {
    let body = &f["payload"]["body"];
    let kind = f["payload"]["kind"].as_str().unwrap_or("");
    if kind == "status" {
        return 1;
    }
    let round = |s: &str| s.rsplit(' ').next().unwrap().parse::<u64>().unwrap();
    let (r, offset) = match kind {
        "log" => (round(body["message"].as_str().unwrap()), 0),
        "thought" => (round(body["text"].as_str().unwrap()), 1),
        "tool_call" => (body["arguments"]["round"].as_u64().unwrap(), 2),
        "tool_result" => (body["output"]["round"].as_u64().unwrap(), 3),
        "metric" => (body["value"].as_f64().unwrap() as u64 - 1, 4),
        "progress" => (body["current"].as_f64().unwrap() as u64 - 1, 5),
        // After the last round: `{summary: "N rounds"}`.
        "artifact_ref" => {
            let n = body["summary"].as_str().unwrap().split(' ').next().unwrap();
            (n.parse::<u64>().unwrap(), 0)
        }
        other => panic!("unexpected kind {other}: {f}"),
    };
    2 + 6 * r + offset
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_falls_behind_is_truncated_then_subscribes_again_gap_free() {
    let serve = Served::start(&[]);
    let rounds = 10_000u64;
    let total = 6 * rounds + 2 + 1;
    let mut owner = Peer::connect(&serve.url).await;
    greet(&mut owner, "alice-token").await;
    let a = owner.submit("chatty", json!({"count": rounds})).await;
    let job = a["job_id"].as_str().unwrap().to_owned();
    // The auditor subscribes live, then goes away: its frames pile up in its buffer.
    let mut sub = Peer::connect(&serve.url).await;
    let w = greet(&mut sub, "auditor-token").await;
    let (sid, token) = (
        w["payload"]["session_id"].clone(),
        w["payload"]["resume_token"].clone(),
    );
    sub.send(&json!({"arcp":"1.1","id":eid(),"type":"job.subscribe","payload":{"job_id":job}}))
        .await;
    let s = sub.recv().await;
    assert_eq!(s["type"], "job.subscribed", "{s}");
    drop(sub);
    // The owner is never held back by it: the whole job arrives.
    let frames = owner.until_terminal(&job).await;
    assert_eq!(seqs(&frames), (1..=total).collect::<Vec<_>>());
    // Resumed: what was handed out before the drop and is still kept (at most the margin),
    // then 10,000 undelivered frames (the buffer), then the notice.
    let mut sub = Peer::connect(&serve.url).await;
    sub.send(&quiet_hello(
        "auditor-token",
        Some(json!({"session_id": sid, "resume_token": token, "last_event_seq": 0})),
    ))
    .await;
    assert_eq!(sub.recv().await["type"], "session.welcome");
    let mut got = Vec::new();
    let notice = loop {
        let v = sub.recv().await;
        if v["payload"]["body"]["phase"] == "subscription_truncated" {
            break v;
        }
        got.push(v);
    };
    let n = got.len() as u64;
    assert!(
        (10_000..=10_000 + 4096).contains(&n),
        "{n} frames before the notice"
    );
    assert_eq!(seqs(&got), (1..=n).collect::<Vec<_>>());
    assert_eq!(notice["type"], "job.event");
    assert_eq!(notice["event_seq"], n + 1);
    let body = &notice["payload"]["body"];
    assert_eq!(body["phase"], "subscription_truncated");
    assert_eq!(body["code"], "RESUME_WINDOW_EXPIRED");
    let first = chatty_seq(&got[0]);
    let last = body["last_event_seq"].as_u64().unwrap();
    // Consecutive owner frames: the notice names the owner seq of the last one it got.
    assert_eq!(last, first + n - 1);
    assert_eq!(chatty_seq(&got[got.len() - 1]), last);
    assert!(body["kept_from"].as_u64().unwrap() <= last + 1, "{body}");
    // Subscribing again from there gives the rest, exactly once; a history larger than the
    // subscriber's buffer (10,000) is cut the same way, so it subscribes again from each
    // notice until the terminal.
    let mut from = last;
    let mut rest: Vec<Value> = Vec::new();
    let mut rounds = 0;
    loop {
        rounds += 1;
        sub.send(&json!({"arcp":"1.1","id":eid(),"type":"job.subscribe",
            "payload":{"job_id":job,"history":true,"from_event_seq":from}}))
            .await;
        let s = sub.recv().await;
        assert_eq!(s["type"], "job.subscribed", "{s}");
        let replayed = s["payload"]["replayed"].as_u64().unwrap();
        for _ in 0..replayed {
            rest.push(sub.recv().await);
        }
        if rest.last().is_some_and(|f| f["type"] == "job.result") {
            break;
        }
        let notice = sub.recv().await;
        assert_eq!(notice["payload"]["body"]["phase"], "subscription_truncated");
        from = notice["payload"]["body"]["last_event_seq"]
            .as_u64()
            .unwrap();
        assert_eq!(chatty_seq(rest.last().unwrap()), from);
    }
    assert_eq!(rest.len() as u64, total - last);
    let events: Vec<u64> = rest[..rest.len() - 1].iter().map(chatty_seq).collect();
    assert!(events.iter().copied().eq(last + 1..total), "gap-free");
    // 10,000 per round: the notice takes the last place of each cut round.
    assert_eq!(rounds, (total - last).div_ceil(9_999));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_asking_for_freed_history_gets_the_notice() {
    let serve = Served::start(&[]);
    let mut owner = Peer::connect(&serve.url).await;
    greet(&mut owner, "alice-token").await;
    let a = owner.submit("chatty", json!({"count": 2})).await;
    let job = a["job_id"].as_str().unwrap().to_owned();
    assert_eq!(
        seqs(&owner.until_terminal(&job).await),
        (1..=15).collect::<Vec<_>>()
    );
    owner
        .send(&json!({"arcp":"1.1","id":eid(),"type":"session.ack","payload":{"last_processed_seq":3}}))
        .await;
    let mut sub = Peer::connect(&serve.url).await;
    greet(&mut sub, "auditor-token").await;
    let ask = |from: Option<u64>| {
        let mut p = json!({"job_id": job, "history": true});
        if let Some(f) = from {
            p["from_event_seq"] = json!(f);
        }
        json!({"arcp":"1.1","id":eid(),"type":"job.subscribe","payload":p})
    };
    // The ack may still be in flight: ask until it took effect (the notice), at most 50 ×.
    let mut tries = 0;
    let notice = loop {
        sub.send(&ask(None)).await;
        let s = sub.recv().await;
        assert_eq!(s["type"], "job.subscribed", "{s}");
        if s["payload"]["replayed"] == 0 {
            break sub.recv().await;
        }
        for _ in 0..15 {
            sub.recv().await;
        }
        tries += 1;
        assert!(tries < 50, "the ack never freed history");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(notice["type"], "job.event");
    assert_eq!(notice["job_id"], job.as_str());
    assert_eq!(
        notice["payload"]["body"],
        json!({
            "phase": "subscription_truncated",
            "message": "subscription truncated: events after 0 are not delivered here (kept from 4)",
            "code": "RESUME_WINDOW_EXPIRED",
            "last_event_seq": 0,
            "kept_from": 4,
        })
    );
    sub.send(&ask(Some(3))).await;
    let s = sub.recv().await;
    assert_eq!(s["payload"]["replayed"], 12);
    let rest = sub.until_terminal(&job).await;
    assert_eq!(rest.len(), 12);
    assert_eq!(chatty_seq(&rest[0]), 4);
}
