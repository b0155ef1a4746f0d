//! The server's transport bounds, each with its defined outcome (on smol): an over-cap frame
//! closes the connection 1009 (COMPAT D35), an unknown path is closed 1008, a TCP connection
//! that never completes the upgrade is dropped after `handshake_timeout`.

use arcp_futures::client::open_ws;
use arcp_futures::server::{BoxFuture, Server};
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use futures_lite::AsyncReadExt;
use futures_util::StreamExt;
use std::time::{Duration, Instant};

fn spawn(f: BoxFuture<'static, ()>) {
    smol::spawn(f).detach();
}

/// The close code the server sends next (skipping text frames).
async fn close_code(ws: &mut arcp_futures::client::Ws) -> Option<CloseCode> {
    while let Some(m) = ws.next().await {
        match m {
            Ok(Message::Close(f)) => return f.map(|f| f.code),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[test]
fn an_over_cap_frame_is_closed_1009() {
    smol::block_on(async {
        let (url, server) = Server::builder(spawn)
            .demo()
            .max_frame_bytes(1024)
            .bind_ws("127.0.0.1:0", "/arcp")
            .await
            .unwrap();
        let mut ws = open_ws(&url, 1 << 20).await.unwrap();
        ws.send(Message::text("x".repeat(2048))).await.unwrap();
        assert_eq!(close_code(&mut ws).await, Some(CloseCode::Size));
        server.shutdown().await;
    });
}

#[test]
fn an_unknown_path_is_closed_1008() {
    smol::block_on(async {
        let (url, server) = Server::builder(spawn)
            .demo()
            .bind_ws("127.0.0.1:0", "/arcp")
            .await
            .unwrap();
        let other = url.replace("/arcp", "/other");
        let mut ws = open_ws(&other, 1 << 20).await.unwrap();
        assert_eq!(close_code(&mut ws).await, Some(CloseCode::Policy));
        server.shutdown().await;
    });
}

#[test]
fn a_stalled_handshake_is_dropped_after_the_timeout() {
    smol::block_on(async {
        let (_, server) = Server::builder(spawn)
            .demo()
            .handshake_timeout(Duration::from_millis(200))
            .bind_ws("127.0.0.1:0", "/arcp")
            .await
            .unwrap();
        let mut tcp = async_io::Async::<std::net::TcpStream>::connect(server.local_addr())
            .await
            .unwrap();
        let start = Instant::now();
        let mut buf = [0u8; 16];
        // EOF (0 bytes) once the server drops the connection.
        assert_eq!(tcp.read(&mut buf).await.unwrap(), 0);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(150) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
        server.shutdown().await;
    });
}
