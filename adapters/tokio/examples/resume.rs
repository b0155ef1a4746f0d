//! Sessions and resume (README): open a session, drop the transport mid-job without
//! `session.bye`, and resume it from a second client with the resume token; the runtime
//! replays every event after `last_event_seq`.
//!
//! `cargo run -p arcp-tokio --example resume` runs it against an in-process runtime
//! with the demo agents; `-- --url ws://127.0.0.1:PORT/arcp` runs it against another one
//! (the README's `long-running` is the contract agent `slow`).

mod common;

use arcp_tokio::client::{Client, ClientBuilder, ClientError, StreamItem, SubmitRequest};
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;

fn new_client(url: &str) -> ClientBuilder {
    Client::builder(url)
        .client_info("resumable", "1.0.0")
        .token(common::token())
        // This example resumes by hand, from a second client.
        .auto_resume(false)
}

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let url = common::url().await;
    let first = new_client(&url).connect().await?;
    let session_id = first.session_id().to_owned();

    let handle = first
        .submit(SubmitRequest::new(
            "slow",
            json!({"seconds": 2, "tick": 0.1}),
        ))
        .await?;
    let mut events = handle.events();
    while events.next().await.is_some() {
        if first.latest_event_seq() >= 2 {
            break;
        }
    }
    let last_seq = first.latest_event_seq();

    // Let a few more events reach the (soon dead) transport unread.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Drop the transport without sending session.bye; the job keeps running.
    first.drop_transport().await?;
    let resume = first.resume_state().expect("welcomed");
    assert_eq!(resume.last_event_seq, last_seq);

    let second = new_client(&url)
        .resume(resume)
        .unrouted_events(256)
        .connect()
        .await?;
    println!("resumed {session_id}: {}", second.welcome().resumed);
    // The runtime replays every event with seq > last_seq, then resumes live streaming.
    let mut replay = second.unrouted_events().expect("enabled above");
    // (The Python reference runtime loses the live tail after a drop, COMPAT D3: stop when
    // the stream goes quiet.)
    while let Ok(Some(item)) = tokio::time::timeout(Duration::from_secs(1), replay.next()).await {
        match item {
            StreamItem::Event(e) => println!("seq {} [{}] {}", e.event_seq, e.kind(), e.body()),
            StreamItem::Terminal(outcome) => {
                println!("seq {} final: {:?}", outcome.event_seq(), outcome.status());
                break;
            }
        }
    }
    second.close().await
}
