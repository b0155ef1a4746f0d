//! A raw WebSocket peer for the server tests: JSON frames over tokio-tungstenite, no client
//! state machine (the tests check the wire).
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

pub const FEATURES: [&str; 11] = [
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

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A fresh upper-case ULID-shaped envelope id.
pub fn eid() -> String {
    format!("01J{:023}", NEXT.fetch_add(1, Ordering::Relaxed))
}

pub fn hello(token: &str, resume: Option<Value>) -> Value {
    let mut payload = json!({
        "client": {"name": "server-test", "version": "1.0.0"},
        "auth": {"scheme": "bearer", "token": token},
        "capabilities": {"encodings": ["json"], "features": FEATURES, "agents": []},
    });
    if let Some(r) = resume {
        payload["resume"] = r;
    }
    json!({"arcp": "1.1", "id": eid(), "type": "session.hello", "payload": payload})
}

pub fn submit(agent: &str, input: Value) -> Value {
    json!({"arcp": "1.1", "id": eid(), "type": "job.submit",
           "payload": {"agent": agent, "input": input}})
}

pub struct Peer {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub session_id: Option<String>,
}

/// How a connection ended, as the peer saw it.
#[derive(Debug, PartialEq)]
pub enum End {
    /// A close frame with this code.
    Close(u16),
    /// The stream ended without a close frame (or with a transport error).
    Dropped,
}

impl Peer {
    pub async fn connect(url: &str) -> Peer {
        let (ws, _) = connect_async(url).await.expect("connect");
        Peer {
            ws,
            session_id: None,
        }
    }

    pub async fn send(&mut self, v: &Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn send_raw(&mut self, text: String) {
        let _ = self.ws.send(Message::Text(text.into())).await;
    }

    /// The next JSON frame (pings included), within 10 s.
    pub async fn recv_any(&mut self) -> Value {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("stream ended")
                .expect("ws error");
            match m {
                Message::Text(t) => return serde_json::from_str(&t).expect("json"),
                Message::Close(c) => panic!("closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// The next frame that is not a runtime ping.
    pub async fn recv(&mut self) -> Value {
        loop {
            let v = self.recv_any().await;
            if v["type"] != "session.ping" {
                return v;
            }
        }
    }

    /// Frames until (and including) the first whose type is `ty`.
    pub async fn until(&mut self, ty: &str) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let v = self.recv().await;
            let done = v["type"] == ty;
            out.push(v);
            if done {
                return out;
            }
        }
    }

    /// Frames until the terminal frame of `job`.
    pub async fn until_terminal(&mut self, job: &str) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let v = self.recv().await;
            let done =
                v["job_id"] == job && (v["type"] == "job.result" || v["type"] == "job.error");
            out.push(v);
            if done {
                return out;
            }
        }
    }

    /// Sends a hello and returns the welcome.
    pub async fn hello(&mut self, token: &str) -> Value {
        self.send(&hello(token, None)).await;
        let w = self.recv().await;
        assert_eq!(w["type"], "session.welcome", "{w}");
        self.session_id = w["payload"]["session_id"].as_str().map(str::to_owned);
        w
    }

    /// Submits and returns the `job.accepted` frame.
    pub async fn submit(&mut self, agent: &str, input: Value) -> Value {
        let mut s = submit(agent, input);
        if let Some(sid) = &self.session_id {
            s["session_id"] = json!(sid);
        }
        self.send(&s).await;
        let a = self.recv().await;
        assert_eq!(a["type"], "job.accepted", "{a}");
        assert_eq!(a["payload"]["request_id"], s["id"]);
        a
    }

    /// Reads until the connection ends, ignoring frames.
    pub async fn end(&mut self) -> End {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("timed out waiting for the close");
            match m {
                None | Some(Err(_)) => return End::Dropped,
                Some(Ok(Message::Close(c))) => {
                    return End::Close(c.map_or(1005, |f| u16::from(f.code)));
                }
                Some(Ok(_)) => continue,
            }
        }
    }
}

/// `event_seq` of every seq-bearing frame.
pub fn seqs(frames: &[Value]) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|f| f["event_seq"].as_u64())
        .collect()
}
