//! The adapter's own bounds, each with its defined outcome: the per-connection writer queue
//! (a consumer that stops reading is closed 1008, its session stays resumable) and the
//! driver's input queue (senders wait; nothing is lost).

mod server_support;

use arcp_tokio::server::Server;
use serde_json::json;
use server_support::*;
use std::time::Duration;

#[tokio::test]
async fn a_consumer_that_stops_reading_is_closed_1008_and_can_resume() {
    let (url, server) = Server::builder()
        .demo()
        .outbound_capacity(2)
        // Long enough that all 80 submits are sent before the cut even on a loaded machine
        // (a cut while they are still being sent resets the connection: no close frame).
        .slow_consumer_timeout(Duration::from_millis(1_000))
        // This peer never answers pings; keep heartbeat loss out of the picture.
        .heartbeat_interval(Duration::ZERO)
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();
    let mut p = Peer::connect(&url).await;
    let w = p.hello("alice-token").await;
    let pad = "x".repeat(200_000);
    // ~16 MB of results: more than the socket buffers hold while nobody reads.
    for _ in 0..80 {
        let mut s = submit("echo", json!({"pad": pad}));
        s["session_id"] = json!(p.session_id);
        p.send(&s).await;
    }
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    assert_eq!(p.end().await, End::Close(1008));
    // Counted as a slow-consumer cut (published within 5 ms).
    for _ in 0..500 {
        if server.metrics().slow_consumer_cuts == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.metrics().slow_consumer_cuts, 1);
    // The session survived the close: resume from the start gets everything kept.
    let mut q = Peer::connect(&url).await;
    q.send(&hello(
        "alice-token",
        Some(json!({"session_id": w["payload"]["session_id"],
                    "resume_token": w["payload"]["resume_token"], "last_event_seq": 0})),
    ))
    .await;
    let w2 = q.recv().await;
    assert_eq!(w2["type"], "session.welcome", "{w2}");
    // Submits still in flight when the connection was dropped never reached the runtime;
    // every job that was accepted ran, and its result is replayed without a gap.
    let mut last = 0;
    loop {
        let next = tokio::time::timeout(Duration::from_secs(2), q.recv()).await;
        let Ok(f) = next else { break };
        assert_eq!(f["type"], "job.result", "{f}");
        let seq = f["event_seq"].as_u64().unwrap();
        assert_eq!(seq, last + 1, "replay without a gap");
        last = seq;
    }
    assert!((1..=80).contains(&last), "{last}");
    server.shutdown().await;
}

#[tokio::test]
async fn an_input_queue_of_one_only_slows_senders_down() {
    let (url, server) = Server::builder()
        .demo()
        .input_capacity(1)
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();
    let mut p = Peer::connect(&url).await;
    p.hello("alice-token").await;
    for _ in 0..3 {
        let mut s = submit("chatty", json!({"count": 10}));
        s["session_id"] = json!(p.session_id);
        p.send(&s).await;
    }
    // 3 × (62 events + result) interleaved on one session stream, gap-free.
    let mut frames = Vec::new();
    let (mut accepted, mut ended) = (0, 0);
    while ended < 3 {
        let f = p.recv().await;
        if f["type"] == "job.accepted" {
            accepted += 1;
            continue;
        }
        if f["type"] == "job.result" {
            ended += 1;
        }
        frames.push(f);
    }
    assert_eq!(accepted, 3);
    assert_eq!(seqs(&frames), (1..=189).collect::<Vec<u64>>());
    server.shutdown().await;
}
