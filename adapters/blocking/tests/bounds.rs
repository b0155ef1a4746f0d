//! The adapter's own bounds, each with its defined outcome.

use arcp_blocking::client::{FrameTap, RawConnection, TapEvent};
use arcp_blocking::server::Server;
use std::io::Read;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tungstenite::Message;

const HELLO: &str = r#"{"arcp":"1.1","id":"01J00000000000000000000001","type":"session.hello","payload":{"client":{"name":"t","version":"1"},"auth":{"scheme":"bearer","token":"alice-token"},"capabilities":{"features":[]}}}"#;

#[test]
fn a_frame_over_the_cap_closes_the_connection_1009() {
    let (url, handle) = Server::builder()
        .demo()
        .max_frame_bytes(1024)
        .bind_ws("127.0.0.1:0", "/arcp")
        .unwrap();
    let closed = Arc::new(Mutex::new(None::<String>));
    let c = closed.clone();
    let tap: FrameTap = Arc::new(move |ev: TapEvent<'_>| {
        if let TapEvent::Closed(why) = ev {
            c.lock().unwrap().get_or_insert(why.to_owned());
        }
    });
    let raw = RawConnection::open(&url, Duration::from_secs(5), tap).unwrap();
    raw.send_text(&"x".repeat(2048)).unwrap();
    let t0 = Instant::now();
    while closed.lock().unwrap().is_none() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let why = closed.lock().unwrap().clone().expect("closed");
    assert!(why.contains("Size"), "{why}");
    handle.shutdown();
}

#[test]
fn an_idle_tcp_connection_is_dropped_after_the_handshake_timeout() {
    let (url, handle) = Server::builder()
        .demo()
        .handshake_timeout(Duration::from_millis(200))
        .bind_ws("127.0.0.1:0", "/arcp")
        .unwrap();
    let addr = url.trim_start_matches("ws://").trim_end_matches("/arcp");
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 16];
    // EOF: the server dropped the connection without a handshake.
    assert_eq!(tcp.read(&mut buf).unwrap(), 0);
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    handle.shutdown();
}

#[test]
fn a_consumer_that_stops_reading_is_dropped_after_the_slow_consumer_timeout() {
    let mut agents = arcp_agents::contract_agents();
    agents.register("firehose", Some("1.0.0"), arcp_agents::agents::firehose);
    let (url, handle) = Server::builder()
        .demo()
        .agents(agents)
        .outbound_capacity(8)
        .slow_consumer_timeout(Duration::from_millis(200))
        .bind_ws("127.0.0.1:0", "/arcp")
        .unwrap();
    let (mut ws, _) = tungstenite::connect(url.as_str()).unwrap();
    // A read that waits 30 s fails the test below instead of hanging the suite.
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = ws.get_ref() {
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    }
    ws.send(Message::text(HELLO)).unwrap();
    let welcome = ws.read().unwrap();
    assert!(welcome.to_text().unwrap().contains("session.welcome"));
    let submit = r#"{"arcp":"1.1","id":"01J00000000000000000000002","type":"job.submit","payload":{"agent":"firehose","input":{"count":200000}}}"#;
    ws.send(Message::text(submit)).unwrap();
    // Stop reading until the server has cut the connection: reading before the writer has
    // stalled for the timeout would make this a slow reader that catches up (on a loaded
    // machine the job may not have filled the socket in a fixed pause).
    let mut polls = 0;
    while handle.metrics().slow_consumer_cuts < 1 {
        polls += 1;
        // A hang guard (120 s), not a measured bound.
        assert!(polls < 1_200, "not cut within 120 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let t0 = Instant::now();
    let mut saw_terminal = false;
    let ended = loop {
        match ws.read() {
            Ok(Message::Text(t)) => saw_terminal |= t.contains("\"job.result\""),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("no frame and no close for 30 s: the consumer was never dropped")
            }
            Err(e) => break e.to_string(),
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "never dropped");
    };
    assert!(
        !saw_terminal,
        "the job finished before the consumer was dropped"
    );
    assert!(!ended.is_empty());
    handle.shutdown();
}
