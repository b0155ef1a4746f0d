//! Consuming events (README): iterate the ordered event stream, with coalesced automatic
//! acknowledgement.
//!
//! `cargo run -p arcp-tokio --example events` runs it against an in-process runtime
//! with the demo agents; `-- --url ws://127.0.0.1:PORT/arcp` runs it against another one

mod common;

use arcp_tokio::client::{Client, ClientError, SubmitRequest};
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let client = Client::builder(common::url().await)
        .client_info("ack-demo", "1.0.0")
        .token(common::token())
        // Coalesced session.ack: send when 32+ events have accrued, at most every 250 ms.
        .auto_ack(32, Duration::from_millis(250))
        .connect()
        .await?;

    let handle = client
        .submit(SubmitRequest::new("chatty", json!({})))
        .await?;

    let mut events = handle.events();
    while let Some(event) = events.next().await {
        let body = event.body();
        match event.kind() {
            "log" => println!("{}", body["message"].as_str().unwrap_or("")),
            "tool_call" => println!(
                "-> {} {}",
                body["name"].as_str().unwrap_or(""),
                body["arguments"]
            ),
            "metric" => println!("metric {body}"),
            "progress" => println!("progress {body}"),
            _ => {}
        }
        // Or ack manually: client.ack(client.latest_event_seq()).await?;
    }
    handle.done().await?;
    client.close().await
}
