//! The client against a scripted in-test WebSocket runtime that behaves as the spec says
//! where the reference does not (COMPAT D3: a job running across a drop keeps streaming to
//! the resumed session, terminal included). Needs no Python.

use arcp_proto::client::JobOutcome;
use arcp_tokio::client::{Client, ClientState, ResultValue, SubmitRequest};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

const SID: &str = "sess_01M85JSX0DFE7QPHM3JHNS74VB";
const JOB: &str = "job_01M85JSX0DFE7QPHM3JHNS74VJ";
const TS: &str = "2026-11-24T01:30:25.165442Z";

struct Conn {
    ws: WebSocketStream<TcpStream>,
    ids: u32,
}

impl Conn {
    async fn recv(&mut self) -> Option<Value> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    async fn send(&mut self, mut frame: Value) {
        self.ids += 1;
        frame["arcp"] = json!("1.1");
        frame["id"] = json!(format!("01M85JSX0DFE7QPHM3JHNS{:04}", self.ids));
        frame["session_id"] = json!(SID);
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .expect("send");
    }

    async fn welcome(&mut self, token: &str) {
        self.send(json!({
            "type": "session.welcome",
            "payload": {
                "runtime": {"name": "fake", "version": "0"},
                "session_id": SID,
                "resume_token": token,
                "resume_window_sec": 600,
                "capabilities": {"encodings": ["json"], "features": ["ack", "list_jobs", "subscribe"]},
                "accepted_at": TS,
            }
        }))
        .await;
    }

    async fn progress(&mut self, seq: u64) {
        self.send(json!({
            "type": "job.event", "job_id": JOB, "event_seq": seq,
            "payload": {"kind": "progress", "ts": TS, "body": {"current": seq, "total": 4}}
        }))
        .await;
    }
}

async fn accept(listener: &TcpListener) -> Conn {
    let (tcp, _) = listener.accept().await.expect("accept");
    let ws = tokio_tungstenite::accept_async(tcp).await.expect("upgrade");
    Conn { ws, ids: 0 }
}

#[tokio::test]
async fn a_job_running_across_a_drop_finishes_on_the_resumed_session() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/arcp", listener.local_addr().unwrap());
    let (hellos, mut hello_rx) = mpsc::channel::<Value>(4);
    let server = tokio::spawn(async move {
        // Connection 1: welcome, accept the submit, two events, then the client drops it.
        let mut c = accept(&listener).await;
        let hello = c.recv().await.expect("hello");
        hellos.send(hello).await.unwrap();
        c.welcome("rtk_1").await;
        let submit = c.recv().await.expect("submit");
        assert_eq!(submit["type"], "job.submit");
        c.send(json!({
            "type": "job.accepted", "job_id": JOB,
            "payload": {"job_id": JOB, "agent": "slow@1.0.0", "accepted_at": TS, "lease": {},
                        "request_id": submit["id"]}
        }))
        .await;
        c.progress(1).await;
        c.progress(2).await;
        while c.recv().await.is_some() {}
        // Connection 2: the resume; the job goes on (D3) and ends.
        let mut c = accept(&listener).await;
        let hello = c.recv().await.expect("resume hello");
        hellos.send(hello).await.unwrap();
        c.welcome("rtk_2").await;
        c.progress(3).await;
        c.send(json!({
            "type": "job.result", "job_id": JOB, "event_seq": 4,
            "payload": {"final_status": "success", "result": {"done": true}, "completed_at": TS}
        }))
        .await;
        let bye = c.recv().await.expect("bye");
        assert_eq!(bye["type"], "session.bye");
        assert_eq!(bye["payload"]["reason"], "client.close");
    });

    let client = tokio::time::timeout(Duration::from_secs(10), Client::connect(&url, "t"))
        .await
        .unwrap()
        .unwrap();
    let hello = hello_rx.recv().await.unwrap();
    assert_eq!(hello["type"], "session.hello");
    assert_eq!(
        hello["payload"]["auth"],
        json!({"scheme": "bearer", "token": "t"})
    );
    assert!(hello["payload"].get("resume").is_none());
    assert_eq!(
        client.features().to_names(),
        vec!["ack", "list_jobs", "subscribe"]
    );

    let handle = client
        .submit(SubmitRequest::new("slow", json!({})))
        .await
        .unwrap();
    let mut seqs = Vec::new();
    for _ in 0..2 {
        seqs.push(handle.events().next().await.unwrap().event_seq);
    }
    // Both events were read, so the session has received seq 2: drop the transport.
    client.drop_transport().await.unwrap();
    let hello = tokio::time::timeout(Duration::from_secs(10), hello_rx.recv())
        .await
        .unwrap()
        .unwrap();
    // D2: the resume is a session.hello with payload.resume, from the last seq received.
    assert_eq!(
        hello["payload"]["resume"],
        json!({"session_id": SID, "resume_token": "rtk_1", "last_event_seq": 2})
    );
    let rest: Vec<u64> = tokio::time::timeout(
        Duration::from_secs(10),
        handle.events().map(|e| e.event_seq).collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    seqs.extend(rest);
    assert_eq!(seqs, vec![1, 2, 3]);
    let outcome = handle.done().await.unwrap();
    assert_eq!(
        outcome.into_outcome(),
        JobOutcome::Success {
            result: ResultValue::Inline(json!({"done": true})),
            completed_at: Some(arcp_tokio::client::Timestamp::parse(TS).unwrap()),
        }
    );
    assert_eq!(client.welcomes(), 2);
    assert_eq!(client.resume_token().as_deref(), Some("rtk_2"));
    assert_eq!(client.latest_event_seq(), 4);
    client.close().await.unwrap();
    assert_eq!(client.state(), ClientState::Closed);
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
}
