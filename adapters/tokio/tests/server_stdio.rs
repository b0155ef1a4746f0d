//! The stdio server: one session over a byte-stream pair, one envelope per line.

mod server_support;

use arcp_tokio::server::Server;
use serde_json::{Value, json};
use server_support::{eid, hello, submit};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

struct Pipe {
    tx: tokio::io::WriteHalf<DuplexStream>,
    rx: tokio::io::Lines<BufReader<tokio::io::ReadHalf<DuplexStream>>>,
}

impl Pipe {
    async fn send(&mut self, v: &Value) {
        self.tx
            .write_all(format!("{v}\n").as_bytes())
            .await
            .unwrap();
    }
    /// The next line that is not a ping; `None` at EOF (the runtime closed the session).
    async fn recv(&mut self) -> Option<Value> {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(10), self.rx.next_line())
                .await
                .expect("timed out")
                .unwrap()?;
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["type"] != "session.ping" {
                return Some(v);
            }
        }
    }
}

/// Starts `builder` on an in-memory pipe; returns the peer end and the server task.
fn start(builder: arcp_tokio::server::ServerBuilder) -> (Pipe, tokio::task::JoinHandle<()>) {
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let (srv_r, srv_w) = tokio::io::split(theirs);
    let task = tokio::spawn(async move { builder.serve_io(srv_r, srv_w).await.unwrap() });
    let (r, w) = tokio::io::split(ours);
    (
        Pipe {
            tx: w,
            rx: BufReader::new(r).lines(),
        },
        task,
    )
}

#[tokio::test]
async fn one_session_over_stdio_runs_a_job_and_ends_on_bye() {
    let (mut p, task) = start(Server::builder().demo());
    p.send(&hello("alice-token", None)).await;
    let w = p.recv().await.unwrap();
    assert_eq!(w["type"], "session.welcome");
    let sid = w["payload"]["session_id"].clone();
    let mut s = submit("chatty", json!({"count": 2}));
    s["session_id"] = sid.clone();
    p.send(&s).await;
    let a = p.recv().await.unwrap();
    assert_eq!(a["type"], "job.accepted");
    let mut seqs = Vec::new();
    loop {
        let f = p.recv().await.unwrap();
        seqs.push(f["event_seq"].as_u64().unwrap());
        if f["type"] == "job.result" {
            assert_eq!(f["payload"]["result"], json!({"rounds": 2, "events": 14}));
            break;
        }
    }
    assert_eq!(seqs, (1..=15).collect::<Vec<u64>>());
    p.send(&json!({"arcp": "1.1", "id": eid(), "type": "session.bye", "session_id": sid, "payload": {"reason": "done"}}))
        .await;
    assert_eq!(
        p.recv().await,
        None,
        "the runtime ends the stream after bye"
    );
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("serve_io returns once the session is over")
        .unwrap();
}

#[tokio::test]
async fn an_over_cap_line_gets_invalid_request_then_the_session_closes_d35() {
    let (mut p, task) = start(Server::builder().demo().max_frame_bytes(1024));
    p.send(&hello("alice-token", None)).await;
    assert_eq!(p.recv().await.unwrap()["type"], "session.welcome");
    let line = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(2000));
    p.tx.write_all(line.as_bytes()).await.unwrap();
    let e = p.recv().await.unwrap();
    assert_eq!(e["type"], "session.error");
    assert_eq!(e["payload"]["code"], "INVALID_REQUEST");
    assert_eq!(
        e["payload"]["message"],
        "frame of 1025 bytes exceeds the limit of 1024 bytes"
    );
    assert_eq!(p.recv().await, None);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn eof_on_input_ends_the_server() {
    let (mut p, task) = start(Server::builder().demo());
    p.send(&hello("bob-token", None)).await;
    assert_eq!(p.recv().await.unwrap()["type"], "session.welcome");
    p.tx.shutdown().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}
