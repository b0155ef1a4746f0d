//! No client holds up another (threads): a connection that never reads a 100,000-event job
//! does not delay another principal's echo jobs; a text frame that is not UTF-8 closes 1007.

use arcp_blocking::server::Server;
use serde_json::{Value, json};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

fn next_json(ws: &mut Ws) -> Value {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => return serde_json::from_str(&t).unwrap(),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

fn open(url: &str, token: &str) -> Ws {
    let (mut ws, _) = tungstenite::connect(url).unwrap();
    let hello = json!({"arcp":"1.1","id":"01J00000000000000000000001","type":"session.hello",
        "payload":{"client":{"name":"t","version":"1"},
        "auth":{"scheme":"bearer","token":token},"capabilities":{"features":[]}}});
    ws.send(Message::text(hello.to_string())).unwrap();
    assert_eq!(next_json(&mut ws)["type"], "session.welcome");
    ws
}

#[test]
fn a_connection_that_never_reads_does_not_delay_another() {
    let (url, handle) = Server::builder()
        .demo()
        .outbound_capacity(16)
        .bind_ws("127.0.0.1:0", "/arcp")
        .unwrap();
    let mut stuck = open(&url, "alice-token");
    let submit = json!({"arcp":"1.1","id":"01J00000000000000000000100","type":"job.submit",
        "payload":{"agent":"chatty","input":{"count":16_667}}});
    stuck.send(Message::text(submit.to_string())).unwrap();
    std::thread::sleep(Duration::from_millis(500));

    let mut bob = open(&url, "bob-token");
    for i in 0..20u32 {
        let t0 = Instant::now();
        let submit = json!({"arcp":"1.1","id":format!("01J0000000000000000000{:04}", 200 + i),
            "type":"job.submit","payload":{"agent":"echo","input":{"i":i}}});
        bob.send(Message::text(submit.to_string())).unwrap();
        let result = loop {
            let f = next_json(&mut bob);
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
    handle.shutdown();
}

#[test]
fn a_text_frame_that_is_not_utf8_is_closed_1007() {
    let (url, handle) = Server::builder()
        .demo()
        .bind_ws("127.0.0.1:0", "/arcp")
        .unwrap();
    let mut ws = open(&url, "alice-token");
    let bad = Frame::message(vec![0xC3, 0x28], OpCode::Data(Data::Text), true);
    ws.send(Message::Frame(bad)).unwrap();
    let code = loop {
        match ws.read() {
            Ok(Message::Close(f)) => break f.map(|f| f.code),
            Ok(_) => continue,
            other => panic!("expected a close, got {other:?}"),
        }
    };
    assert_eq!(code, Some(CloseCode::Invalid));
    handle.shutdown();
}
