//! Through the real binary (`arcp serve --demo`): no client can hold up another. Three
//! sessions that never read a 100,000-event job do not delay another principal's jobs; the
//! hello timeout; a text frame that is not UTF-8 closes 1007 and the session resumes.

#[path = "support/robust.rs"]
mod robust;
#[path = "support/serve.rs"]
mod serve;

use arcp_proto::client::JobOutcome;
use arcp_tokio::client::{Client, ResultValue, SubmitRequest};
use futures_util::SinkExt;
use robust::{close_code, hello, next_json, open};
use serde_json::json;
use serve::Served;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// `chatty` emits 6 events per round: 16,667 rounds plus its status and artifact are
/// 100,004 events.
const ROUNDS: u64 = 16_667;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_non_readers_do_not_delay_another_principals_echo_jobs() {
    let mut served = Served::start(&["--metrics", "--metrics-addr", "127.0.0.1:0"]);
    let metrics = served.line("METRICS ");
    let mut stuck = Vec::new();
    let submitted = Instant::now();
    for n in 0..3 {
        let (mut ws, _) = open(&served.url, "alice-token").await;
        let submit = json!({"arcp":"1.1","id":format!("01J0000000000000000000010{n}"),
            "type":"job.submit","payload":{"agent":"chatty","input":{"count":ROUNDS}}});
        ws.send(Message::text(submit.to_string())).await.unwrap();
        // Never read again (until the end of the test).
        stuck.push(ws);
    }
    // Let their writers fill up: every later echo job runs while they are stalled.
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let bob = Client::builder(served.url.clone())
        .token("bob-token")
        .connect()
        .await
        .expect("bob connects");
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    for i in 0..100u64 {
        let input = json!({"i": i, "text": "not delayed"});
        let t0 = Instant::now();
        let handle = bob
            .submit(SubmitRequest::new("echo", input.clone()))
            .await
            .expect("submit");
        let outcome = handle.done().await.expect("done");
        let took = t0.elapsed();
        match outcome.outcome() {
            JobOutcome::Success { result, .. } => {
                assert_eq!(result, &ResultValue::Inline(input), "job {i}");
            }
            other => panic!("job {i}: {other:?}"),
        }
        // The threshold: not delayed by the slow-consumer timeout (5 s).
        assert!(took < Duration::from_secs(1), "echo job {i} took {took:?}");
        slowest = slowest.max(took);
    }
    eprintln!(
        "100 echo jobs beside 3 non-readers: {:?} in all, slowest {slowest:?}",
        started.elapsed()
    );
    bob.close().await.expect("bye");
    // The non-readers are cut as slow consumers, as before, once their writer has taken
    // nothing for 5 s. Reading before the server has cut all three would make a non-reader
    // a mere slow reader that catches up (on a loaded machine its job may not have filled
    // the socket yet): wait for the server's own count of cuts.
    let mut polls = 0;
    while slow_consumer_cuts(&metrics).await < 3 {
        polls += 1;
        // A hang guard (120 s), not a measured bound.
        assert!(
            polls < 600,
            "the three non-readers were not all cut within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "all three non-readers cut {:?} after their submits",
        submitted.elapsed()
    );
    for mut ws in stuck {
        let code = tokio::time::timeout(Duration::from_secs(60), close_code(&mut ws))
            .await
            .expect("closed within 60 s");
        assert_eq!(code, Some(1008));
    }
}

#[tokio::test]
async fn a_websocket_that_never_says_hello_is_closed_1008_at_the_hello_timeout() {
    let served = Served::start(&["--hello-timeout", "1"]);
    let (mut silent, _) = tokio_tungstenite::connect_async(served.url.as_str())
        .await
        .expect("connect");
    let (mut greeted, _) = open(&served.url, "alice-token").await;
    let code = tokio::time::timeout(Duration::from_secs(30), close_code(&mut silent))
        .await
        .expect("closed within 30 s");
    assert_eq!(code, Some(1008));
    // A connection that said hello in time is not affected.
    let ping = json!({"arcp":"1.1","id":"01J00000000000000000000201","type":"session.ping",
        "payload":{"nonce":"still-here","sent_at":"2026-12-07T00:00:00Z"}});
    greeted.send(Message::text(ping.to_string())).await.unwrap();
    let pong = loop {
        let f = next_json(&mut greeted).await;
        if f["type"] == "session.pong" {
            break f;
        }
    };
    assert_eq!(pong["payload"]["ping_nonce"], "still-here");
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_is_closed_1007_and_the_session_resumes() {
    let served = Served::start(&[]);
    let (mut ws, welcome) = open(&served.url, "alice-token").await;
    let sid = welcome["payload"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = welcome["payload"]["resume_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = Frame::message(vec![b'{', 0xC3, 0x28, b'}'], OpCode::Data(Data::Text), true);
    ws.send(Message::Frame(bad)).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1007));

    let (mut again, _) = tokio_tungstenite::connect_async(served.url.as_str())
        .await
        .expect("connect");
    let resume = json!({"session_id": sid, "resume_token": token, "last_event_seq": 0});
    again
        .send(Message::text(hello(
            "01J00000000000000000000301",
            "alice-token",
            Some(resume),
        )))
        .await
        .unwrap();
    let w = next_json(&mut again).await;
    assert_eq!(w["type"], "session.welcome", "{w}");
    assert_eq!(w["payload"]["session_id"], sid.as_str());
}

/// `arcp_slow_consumer_cuts_total` from the server's `/metrics` at `url`.
async fn slow_consumer_cuts(url: &str) -> u64 {
    let url = url.to_owned();
    let text = tokio::task::spawn_blocking(move || {
        ureq::get(&url)
            .call()
            .expect("GET /metrics")
            .body_mut()
            .read_to_string()
            .expect("body")
    })
    .await
    .expect("join");
    text.lines()
        .find_map(|l| l.strip_prefix("arcp_slow_consumer_cuts_total "))
        .and_then(|n| n.trim().parse().ok())
        .expect("arcp_slow_consumer_cuts_total in the scrape")
}
