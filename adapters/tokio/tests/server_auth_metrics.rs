//! A custom `arcp_auth::Authenticator` on the tokio server (accept and refuse, exact
//! `session.error`), and `ServerHandle::metrics` after a scripted exchange: every counter
//! matches what the peers received, byte for byte.

mod server_support;

use arcp_auth::{AuthError, AuthFailure, Authenticator, Principal};
use arcp_tokio::server::{Server, ServerMetrics};
use futures_util::StreamExt;
use serde_json::{Value, json};
use server_support::*;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

struct OnlyCarol;

impl Authenticator for OnlyCarol {
    fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        match token {
            "carol-token" => Ok(Principal("carol".into())),
            _ => Err(AuthError::new(AuthFailure::Expired)),
        }
    }
}

/// The next text frame as JSON and its byte length.
async fn next(p: &mut Peer) -> (Value, usize) {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), p.ws.next())
            .await
            .expect("timed out")
            .expect("ended")
            .expect("ws error");
        if let Message::Text(t) = m {
            return (serde_json::from_str(&t).unwrap(), t.len());
        }
    }
}

#[derive(Default)]
struct Seen {
    frames: u64,
    events: u64,
    bytes: u64,
}

impl Seen {
    async fn until(&mut self, p: &mut Peer, done: impl Fn(&Value) -> bool) -> Value {
        loop {
            let (v, n) = next(p).await;
            self.frames += 1;
            self.bytes += n as u64;
            if v["type"] == "job.event" {
                self.events += 1;
            }
            if done(&v) {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn a_custom_authenticator_accepts_and_refuses_and_metrics_count_the_exchange() {
    let (url, handle) = Server::builder()
        .demo()
        .authenticator(OnlyCarol)
        .heartbeat_interval(Duration::ZERO)
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();
    assert_eq!(handle.metrics(), ServerMetrics::default());
    let mut seen = Seen::default();

    let mut carol = Peer::connect(&url).await;
    // What the peers send, for frames_in / bytes_in.
    let mut sent = Vec::new();
    let h = hello("carol-token", None);
    sent.push(h.to_string().len() as u64);
    carol.send(&h).await;
    let w = seen
        .until(&mut carol, |v| v["type"] == "session.welcome")
        .await;
    let sid = w["payload"]["session_id"].as_str().unwrap().to_owned();
    let mut s = submit("echo", json!({"x": 1}));
    s["session_id"] = json!(sid);
    sent.push(s.to_string().len() as u64);
    carol.send(&s).await;
    let end = seen
        .until(&mut carol, |v| {
            v["type"] == "job.result" || v["type"] == "job.error"
        })
        .await;
    assert_eq!(end["type"], "job.result", "{end}");

    let mut alice = Peer::connect(&url).await;
    let h = hello("alice-token", None);
    sent.push(h.to_string().len() as u64);
    alice.send(&h).await;
    let e = seen.until(&mut alice, |_| true).await;
    assert_eq!(e["type"], "session.error");
    assert_eq!(e["payload"]["code"], "UNAUTHENTICATED");
    assert_eq!(e["payload"]["message"], "token has expired");
    assert_eq!(alice.end().await, End::Close(1000));

    // Published at most 5 ms after a change: the last one may trail the peers' reads.
    let mut m = handle.metrics();
    for _ in 0..100 {
        let settled = m.connections_open == 1 && m.jobs_running == 0;
        if m.runtime.frames_out == seen.frames && m.runtime.jobs_succeeded == 1 && settled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        m = handle.metrics();
    }
    assert_eq!(m.runtime.sessions_opened, 1);
    assert_eq!(m.runtime.jobs_succeeded, 1);
    assert_eq!(m.runtime.jobs_failed, 0);
    assert_eq!(m.runtime.frames_out, seen.frames);
    assert_eq!(m.runtime.events_out, seen.events);
    assert_eq!(m.bytes_out, seen.bytes);
    assert_eq!(m.runtime.resumes_succeeded, 0);
    assert_eq!(
        m.runtime.auth_failures,
        BTreeMap::from([("expired".to_owned(), 1)])
    );
    // The transport side: carol is still connected, alice was closed after her refusal.
    assert_eq!(m.frames_in, 3);
    assert_eq!(m.bytes_in, sent.iter().sum::<u64>());
    assert_eq!((m.connections_opened, m.connections_open), (2, 1));
    assert_eq!((m.sessions_live, m.sessions_resumable), (1, 0));
    assert_eq!((m.jobs_running, m.slow_consumer_cuts), (0, 0));
    handle.shutdown().await;
}

#[tokio::test]
async fn the_default_token_table_keeps_its_refusal_text() {
    let (url, handle) = Server::builder()
        .demo()
        .heartbeat_interval(Duration::ZERO)
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();
    let mut p = Peer::connect(&url).await;
    p.send(&hello("nope", None)).await;
    let e = p.recv().await;
    assert_eq!(e["type"], "session.error");
    assert_eq!(e["payload"]["code"], "UNAUTHENTICATED");
    assert_eq!(e["payload"]["message"], "invalid bearer token");
    // Published at most 5 ms after the change.
    let want = BTreeMap::from([("unknown_token".to_owned(), 1)]);
    let mut m = handle.metrics();
    for _ in 0..100 {
        if m.runtime.auth_failures == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        m = handle.metrics();
    }
    assert_eq!(m.runtime.auth_failures, want);
    handle.shutdown().await;
}
