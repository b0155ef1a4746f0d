//! `ServerBuilder::healthz` and `ServerHandle::drain`: `GET /healthz` answers `200 ok`, then
//! `503 draining` once a drain started; a draining server refuses new upgrades 503 (through
//! the HTTP front and straight through tungstenite alike), lets the running job end
//! normally, then closes the connection 1001 and ends; a grace of zero closes 1001 at once.

mod server_support;

use arcp_tokio::server::{Server, ServerHandle};
use serde_json::json;
use server_support::{End, Peer};
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Error as WsError;

/// `GET /healthz` from `addr` over a raw TCP connection: the status and the body.
async fn healthz(addr: std::net::SocketAddr) -> (u16, String) {
    tokio::task::spawn_blocking(move || {
        let mut tcp = std::net::TcpStream::connect(addr).expect("connect");
        let req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        tcp.write_all(req.as_bytes()).expect("write");
        let mut raw = String::new();
        tcp.read_to_string(&mut raw).expect("read");
        let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
        let status = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .expect("status");
        (status, body.to_owned())
    })
    .await
    .expect("join")
}

/// A demo server on loopback, with `/healthz` when `healthz`.
async fn serve(healthz: bool) -> (String, ServerHandle) {
    Server::builder()
        .demo()
        .healthz(healthz)
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .expect("bind")
}

/// The status of a refused upgrade of `url` (`None`: accepted).
async fn refused(url: &str) -> Option<u16> {
    match connect_async(url).await {
        Ok(_) => None,
        Err(WsError::Http(resp)) => Some(resp.status().as_u16()),
        Err(e) => panic!("upgrade: {e}"),
    }
}

#[tokio::test]
async fn healthz_answers_200_ok() {
    let (url, handle) = serve(true).await;
    let addr = handle.local_addr().expect("addr");
    assert_eq!(healthz(addr).await, (200, "ok".to_owned()));
    // The WebSocket is served as before.
    Peer::connect(&url).await.hello("alice-token").await;
    handle.shutdown().await;
}

/// A job running when the drain starts ends normally, then the connection is closed 1001.
async fn the_running_job_ends_then_1001(with_healthz: bool) {
    let (url, handle) = serve(with_healthz).await;
    let addr = handle.local_addr().expect("addr");
    let mut peer = Peer::connect(&url).await;
    peer.hello("alice-token").await;
    let accepted = peer
        .submit("slow", json!({"seconds": 1, "tick": 0.25}))
        .await;
    let job = accepted["job_id"].as_str().expect("job_id").to_owned();
    let drain = tokio::spawn(handle.drain(Duration::from_secs(30)));
    if with_healthz {
        let until = Instant::now() + Duration::from_secs(10);
        let mut answer = healthz(addr).await;
        while answer.0 != 503 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
            answer = healthz(addr).await;
        }
        assert_eq!(answer, (503, "draining".to_owned()));
    } else {
        // The flag is set as the drain starts: let its task run.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(refused(&url).await, Some(503));
    let frames = peer.until_terminal(&job).await;
    let last = frames.last().expect("the terminal");
    assert_eq!(last["type"], "job.result", "{last}");
    assert_eq!(last["payload"]["final_status"], "success", "{last}");
    assert_eq!(peer.end().await, End::Close(1001));
    tokio::time::timeout(Duration::from_secs(10), drain)
        .await
        .expect("the drain ends")
        .expect("join");
}

#[tokio::test]
async fn a_drain_through_the_http_front_lets_the_job_end_then_closes_1001() {
    the_running_job_ends_then_1001(true).await;
}

#[tokio::test]
async fn a_drain_straight_through_tungstenite_lets_the_job_end_then_closes_1001() {
    the_running_job_ends_then_1001(false).await;
}

#[tokio::test]
async fn a_zero_grace_closes_1001_at_once() {
    let (url, handle) = serve(true).await;
    let mut peer = Peer::connect(&url).await;
    peer.hello("alice-token").await;
    peer.submit("slow", json!({"seconds": 30})).await;
    let started = Instant::now();
    handle.drain(Duration::ZERO).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(peer.end().await, End::Close(1001));
}
