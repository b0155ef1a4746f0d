//! No client holds up another (on smol): a connection that never reads a 100,000-event job
//! does not delay another principal's echo jobs; a text frame that is not UTF-8 closes 1007.

use arcp_futures::client::{Ws, open_ws};
use arcp_futures::server::{BoxFuture, Server};
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::frame::Frame;
use async_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn spawn(f: BoxFuture<'static, ()>) {
    smol::spawn(f).detach();
}

fn hello(token: &str) -> Message {
    Message::text(
        json!({"arcp":"1.1","id":"01J00000000000000000000001","type":"session.hello",
            "payload":{"client":{"name":"t","version":"1"},
            "auth":{"scheme":"bearer","token":token},"capabilities":{"features":[]}}})
        .to_string(),
    )
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

async fn open(url: &str, token: &str) -> Ws {
    let mut ws = open_ws(url, 1 << 20).await.unwrap();
    ws.send(hello(token)).await.unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "session.welcome");
    ws
}

#[test]
fn a_connection_that_never_reads_does_not_delay_another() {
    smol::block_on(async {
        let (url, server) = Server::builder(spawn)
            .demo()
            .outbound_capacity(16)
            .bind_ws("127.0.0.1:0", "/arcp")
            .await
            .unwrap();
        let mut stuck = open(&url, "alice-token").await;
        let submit = json!({"arcp":"1.1","id":"01J00000000000000000000100","type":"job.submit",
            "payload":{"agent":"chatty","input":{"count":16_667}}});
        stuck.send(Message::text(submit.to_string())).await.unwrap();
        async_io::Timer::after(Duration::from_millis(500)).await;

        let mut bob = open(&url, "bob-token").await;
        for i in 0..20u32 {
            let t0 = Instant::now();
            let submit = json!({"arcp":"1.1","id":format!("01J0000000000000000000{:04}", 200 + i),
                "type":"job.submit","payload":{"agent":"echo","input":{"i":i}}});
            bob.send(Message::text(submit.to_string())).await.unwrap();
            let result = loop {
                let f = next_json(&mut bob).await;
                if f["type"] == "job.result" {
                    break f;
                }
            };
            assert_eq!(result["payload"]["result"], json!({"i": i}));
            // Not delayed by the slow-consumer timeout (5 s).
            let took = t0.elapsed();
            assert!(took < Duration::from_secs(1), "echo job {i} took {took:?}");
        }
        drop(stuck);
        server.shutdown().await;
    });
}

#[test]
fn a_text_frame_that_is_not_utf8_is_closed_1007() {
    smol::block_on(async {
        let (url, server) = Server::builder(spawn)
            .demo()
            .bind_ws("127.0.0.1:0", "/arcp")
            .await
            .unwrap();
        let mut ws = open(&url, "alice-token").await;
        let bad = Frame::message(vec![0xC3, 0x28], OpCode::Data(Data::Text), true);
        ws.send(Message::Frame(bad)).await.unwrap();
        let code = loop {
            match ws.next().await {
                Some(Ok(Message::Close(f))) => break f.map(|f| f.code),
                Some(Ok(_)) => continue,
                other => panic!("expected a close, got {other:?}"),
            }
        };
        assert_eq!(code, Some(CloseCode::Invalid));
        server.shutdown().await;
    });
}
