//! The client's interop hooks against a scripted in-test runtime: the frame tap sees every
//! frame in both directions and the transport's end, `send_raw` writes bytes verbatim,
//! getters are current when `connect` returns, and `ack` answers once its frame is written.

use arcp_tokio::client::{Client, TapEvent};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

const SID: &str = "sess_01M85JSX0DFE7QPHM3JHNS74VB";

#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Sent(String),
    Received(String),
    Closed,
}

fn ty(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn next_text(ws: &mut WebSocketStream<TcpStream>) -> Option<String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Some(t.as_str().to_owned()),
            Some(Ok(_)) => {}
            _ => return None,
        }
    }
}

fn welcome() -> String {
    json!({
        "arcp": "1.1", "id": "01M85JSX0DFE7QPHM3JHNS0001", "type": "session.welcome",
        "session_id": SID,
        "payload": {
            "runtime": {"name": "fake", "version": "0"},
            "session_id": SID,
            "resume_token": "tok_1",
            "resume_window_sec": 600,
            "capabilities": {"encodings": ["json"], "features": ["subscribe", "ack", "list_jobs"]},
            "accepted_at": "2026-11-24T01:30:25.165442Z",
        }
    })
    .to_string()
}

#[tokio::test]
async fn the_tap_sees_every_frame_and_send_raw_writes_verbatim() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/arcp", listener.local_addr().unwrap());
    let (got_tx, mut got) = mpsc::channel::<String>(8);
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        for reply in [Some(welcome()), None, None] {
            let text = next_text(&mut ws).await.unwrap();
            got_tx.send(text).await.unwrap();
            if let Some(r) = reply {
                ws.send(Message::text(r)).await.unwrap();
            }
        }
        ws.close(None).await.unwrap();
    });
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let tap = Arc::new(move |ev: TapEvent<'_>| {
        let item = match ev {
            TapEvent::Sent(b) => Seen::Sent(String::from_utf8_lossy(b).into_owned()),
            TapEvent::Received(b) => Seen::Received(String::from_utf8_lossy(b).into_owned()),
            TapEvent::Closed(_) => Seen::Closed,
        };
        sink.lock().unwrap().push(item);
    });
    let client = tokio::time::timeout(
        Duration::from_secs(5),
        Client::builder(url)
            .token("alice-token")
            .auto_resume(false)
            .frame_tap(tap)
            .connect(),
    )
    .await
    .unwrap()
    .unwrap();
    // Current as soon as connect returns (the negotiated set, in the client's order).
    assert_eq!(
        client.features().to_names(),
        ["ack", "list_jobs", "subscribe"]
    );
    let hello = got.recv().await.unwrap();
    assert_eq!(ty(&hello), "session.hello");
    assert_eq!(
        seen.lock().unwrap().clone(),
        [Seen::Sent(hello.clone()), Seen::Received(welcome())]
    );

    // A frame the API would never send goes out byte for byte, and the tap sees it.
    let raw = r#"{"arcp":"1.1","id":"01M85JSX0DFE7QPHM3JHNS0009","type":"session.bye","payload":{"reason":"by hand"}}"#;
    client.send_raw(raw.as_bytes().to_vec()).await.unwrap();
    assert_eq!(got.recv().await.unwrap(), raw);
    assert_eq!(seen.lock().unwrap()[2], Seen::Sent(raw.to_owned()));

    // `ack` returns once its frame is written: the tap already holds it.
    client.ack(0).await.unwrap();
    let ack = match seen.lock().unwrap().get(3) {
        Some(Seen::Sent(t)) => t.clone(),
        other => panic!("expected the ack on the tap, got {other:?}"),
    };
    assert_eq!(ty(&ack), "session.ack");
    assert_eq!(got.recv().await.unwrap(), ack);

    // The runtime closes: the tap sees the end, once.
    server.await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !seen.lock().unwrap().contains(&Seen::Closed) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(seen[4], Seen::Closed);
}
