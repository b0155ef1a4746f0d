//! The real `arcp` binary for the robustness tests: found in the workspace's target
//! directory, whichever package owns it, started as
//! `arcp serve --demo --port 0 EXTRA…` and killed on drop; plus raw WebSocket helpers.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use tokio_tungstenite::tungstenite::Message;

/// The workspace's `target/<profile>/arcp`: built with the tests by `cargo test --workspace`
/// (or by `cargo test -p` of the package that owns the binary); otherwise run
/// `cargo build --bin arcp` first.
pub fn arcp_binary() -> PathBuf {
    // target/<profile>/deps/<test>-<hash> → target/<profile>/arcp
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>")
        .join("arcp");
    assert!(
        bin.exists(),
        "{} missing: build it first (cargo build --bin arcp)",
        bin.display()
    );
    bin
}

/// `arcp serve --demo --port 0 EXTRA…`, killed on drop.
pub struct Served {
    pub child: Child,
    pub url: String,
}

impl Served {
    pub fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(arcp_binary())
            .args(["serve", "--demo", "--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn arcp serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read");
        let url = line
            .trim()
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("not a LISTENING line: {line:?}"))
            .to_owned();
        Served { child, url }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
