//! A client's view of a `slow` job over a raw WebSocket, for the drain tests: start one,
//! read its frames until the close (and the close code), see an upgrade refused.
#![allow(dead_code)]

use super::robust::Ws;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// What the client reads next: a frame, or the close (its code).
#[derive(Debug)]
pub enum Read {
    Frame(Value),
    Closed(Option<u16>),
}

/// The next frame or the close, within 20 s.
pub async fn read(ws: &mut Ws) -> Read {
    let next = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    return Read::Frame(serde_json::from_str(&t).expect("JSON"));
                }
                Some(Ok(Message::Close(f))) => return Read::Closed(f.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                other => panic!("expected a frame or a close, got {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), next)
        .await
        .expect("a frame or the close within 20 s")
}

/// Submits `slow` with `input` and reads up to its `job.accepted` and its first event (the
/// `slow.start` status): the job runs.
pub async fn start_slow(ws: &mut Ws, input: Value) {
    let submit = json!({"arcp":"1.1","id":"01J00000000000000000000100","type":"job.submit",
        "payload":{"agent":"slow","input":input}});
    ws.send(Message::text(submit.to_string()))
        .await
        .expect("send");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match read(ws).await {
            Read::Frame(f) if f["type"] == "job.accepted" || f["type"] == "job.event" => {
                seen.push(f["type"].as_str().unwrap_or_default().to_owned());
            }
            Read::Frame(_) => {}
            Read::Closed(code) => panic!("closed {code:?} before the job ran"),
        }
    }
    assert_eq!(seen, ["job.accepted", "job.event"]);
}

/// Reads until the close: the types of the job frames seen (`job.*`), and the close code.
pub async fn job_frames_until_close(ws: &mut Ws) -> (Vec<String>, Option<u16>) {
    let mut types = Vec::new();
    loop {
        match read(ws).await {
            Read::Frame(f) => {
                let t = f["type"].as_str().unwrap_or_default();
                if t.starts_with("job.") {
                    types.push(t.to_owned());
                }
            }
            Read::Closed(code) => return (types, code),
        }
    }
}

/// The status of a refused WebSocket upgrade of `url` (`None`: it was accepted).
pub async fn upgrade_refused(url: &str) -> Option<u16> {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => None,
        Err(WsError::Http(resp)) => Some(resp.status().as_u16()),
        Err(e) => panic!("upgrade of {url}: {e}"),
    }
}
