//! Raw WebSocket helpers for the robustness tests (the server is `support/serve.rs`).
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// A raw WebSocket client.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `session.hello` envelope with `token` (and `resume`, when given).
pub fn hello(id: &str, token: &str, resume: Option<serde_json::Value>) -> String {
    let mut v = serde_json::json!({"arcp":"1.1","id":id,"type":"session.hello","payload":{
        "client":{"name":"robust","version":"1"},
        "auth":{"scheme":"bearer","token":token},
        "capabilities":{"encodings":["json"],"features":[]}}});
    if let Some(r) = resume {
        v["payload"]["resume"] = r;
    }
    v.to_string()
}

/// The next text frame as JSON (skipping control frames); panics on anything else.
pub async fn next_json(ws: &mut Ws) -> serde_json::Value {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).expect("JSON"),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Connects and says hello with `token`; returns the socket and the welcome.
pub async fn open(url: &str, token: &str) -> (Ws, serde_json::Value) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    ws.send(Message::text(hello(
        "01J00000000000000000000001",
        token,
        None,
    )))
    .await
    .expect("hello");
    let welcome = next_json(&mut ws).await;
    assert_eq!(welcome["type"], "session.welcome", "{welcome}");
    (ws, welcome)
}

/// Reads until the close frame; its code (`None`: closed without one).
pub async fn close_code(ws: &mut Ws) -> Option<u16> {
    while let Some(m) = ws.next().await {
        match m {
            Ok(Message::Close(f)) => return f.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(e) => panic!("transport error before the close frame: {e}"),
        }
    }
    panic!("ended without a close frame")
}
