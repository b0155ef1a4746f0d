//! Host your own agent: a runtime serving one typed agent, and a client calling it.
//!
//! ```text
//! cargo run -p arcp-sdk --features runtime --example host_agent
//! ```
//!
//! Prints `LISTENING ws://127.0.0.1:PORT/arcp`, submits one job to itself and prints
//! `result {"line":"2 x tea","total_cents":700}`.

use arcp_sdk::agent::{AgentError, AgentRegistry, JobContext, typed};
use arcp_sdk::client::{Client, ResultValue, SubmitRequest};
use arcp_sdk::server::Server;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Order {
    item: String,
    quantity: u32,
    unit_cents: u64,
}

#[derive(Serialize)]
struct Receipt {
    line: String,
    total_cents: u64,
}

async fn shop(order: Order, ctx: JobContext) -> Result<Receipt, AgentError> {
    ctx.log("info", &format!("ordering {}", order.item)).await?;
    Ok(Receipt {
        line: format!("{} x {}", order.quantity, order.item),
        total_cents: u64::from(order.quantity) * order.unit_cents,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut agents = AgentRegistry::new();
    agents.register("shop", None, typed(shop));
    let (url, server) = Server::builder()
        .agents(agents)
        .tokens([("s3cret-token", "alice")])
        .bind_ws("127.0.0.1:0", "/arcp")
        .await?;
    println!("LISTENING {url}");

    let client = Client::connect(&url, "s3cret-token").await?;
    let input = serde_json::json!({"item": "tea", "quantity": 2, "unit_cents": 350});
    let outcome = client
        .submit(SubmitRequest::new("shop", input))
        .await?
        .done()
        .await?;
    if let Some(ResultValue::Inline(v)) = outcome.result() {
        println!("result {v}");
    }
    client.close().await?;
    server.shutdown().await;
    Ok(())
}
