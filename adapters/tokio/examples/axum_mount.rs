//! Mounting a runtime on an existing axum app (feature `axum`): the app keeps its own routes
//! and serves ARCP at `/arcp` on the same listener.
//!
//! ```text
//! cargo run -p arcp-tokio --features axum --example axum_mount
//! ```
//!
//! Serves on a free port, submits one job to itself through the mounted route and prints
//! `health ok` then `result {"via":"axum"}`.

use arcp_agents::{AgentError, AgentRegistry, JobContext};
use arcp_tokio::client::{Client, ResultValue, SubmitRequest};
use arcp_tokio::server::Server;
use serde_json::Value;

async fn echo(input: Value, _ctx: JobContext) -> Result<Value, AgentError> {
    Ok(input)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut agents = AgentRegistry::new();
    agents.register("echo", None, echo);
    let builder = Server::builder()
        .agents(agents)
        .tokens([("app-token", "app")]);
    let (arcp, runtime) = arcp_tokio::server::axum::route(builder, "/arcp").await?;
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(arcp);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let http = tokio::spawn(async move { axum::serve(listener, app).await });

    // The app's own route still answers.
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    tcp.read_to_string(&mut response).await?;
    println!("health {}", response.rsplit("\r\n").next().unwrap_or(""));

    let client = Client::connect(format!("ws://{addr}/arcp"), "app-token").await?;
    let job = client
        .submit(SubmitRequest::new(
            "echo",
            serde_json::json!({"via": "axum"}),
        ))
        .await?;
    if let Some(ResultValue::Inline(v)) = job.done().await?.result() {
        println!("result {v}");
    }
    client.close().await?;
    runtime.shutdown().await;
    http.abort();
    Ok(())
}
