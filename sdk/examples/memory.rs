//! The in-memory transport: a client and a runtime connected without sockets, as in a test.
//!
//! ```text
//! cargo run -p arcp-sdk --features runtime --example memory
//! ```
//!
//! Prints `result {"n":3}`.

use arcp_sdk::client::{ResultValue, SubmitRequest};
use arcp_sdk::server::Server;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Demo mode: the contract agents (`echo`) and tokens (`alice-token`).
    let (client, server) = arcp_sdk::memory::pair(Server::builder().demo(), "alice-token").await?;
    let job = client
        .submit(SubmitRequest::new("echo", serde_json::json!({"n": 3})))
        .await?;
    if let Some(ResultValue::Inline(v)) = job.done().await?.result() {
        println!("result {v}");
    }
    client.close().await?;
    server.closed().await?;
    Ok(())
}
