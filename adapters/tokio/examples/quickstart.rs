//! Quick start (README): connect to a runtime, submit a job, stream its events to completion.
//!
//! `cargo run -p arcp-tokio --example quickstart` runs it against an in-process runtime
//! with the demo agents; `-- --url ws://127.0.0.1:PORT/arcp` runs it against another one
//! (the README's `data-analyzer` is the contract agent `echo`).

mod common;

use arcp_tokio::client::{Client, ClientError, SubmitRequest};
use futures_util::StreamExt;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let client = Client::builder(common::url().await)
        .client_info("quickstart", "1.0.0")
        .token(common::token())
        .connect()
        .await?;

    let handle = client
        .submit(
            SubmitRequest::new("echo", json!({"dataset": "s3://example/sales.csv"}))
                .lease("net.fetch", ["s3://example/**"]),
        )
        .await?;
    let mut events = handle.events();
    while let Some(event) = events.next().await {
        println!("[{}] {}", event.kind(), event.body());
    }

    let result = handle.done().await?;
    println!("final: {:?} {:?}", result.status(), result.result());
    client.close().await
}
