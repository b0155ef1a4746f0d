//! A stdio child runtime: the client spawns a runtime process and speaks ARCP with it over
//! the child's stdin/stdout (one envelope per line), no socket involved.
//!
//! ```text
//! cargo run -p arcp-tokio --example stdio_child
//! ```
//!
//! The example is both sides: run plainly it spawns itself with `--serve` (the child serves
//! one session on stdio, hosting an `upper` agent) and prints `result "HELLO"`.

use arcp_agents::{AgentError, AgentRegistry, JobContext};
use arcp_tokio::client::{Client, ResultValue, SubmitRequest};
use arcp_tokio::server::Server;
use serde_json::{Value, json};

async fn upper(input: Value, _ctx: JobContext) -> Result<Value, AgentError> {
    let text = input
        .as_str()
        .ok_or_else(|| AgentError::invalid_input("input must be a string"))?;
    Ok(json!(text.to_uppercase()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("--serve") {
        let mut agents = AgentRegistry::new();
        agents.register("upper", None, upper);
        let result = Server::builder()
            .agents(agents)
            .tokens([("child-token", "parent")])
            .serve_stdio()
            .await;
        // Exit at once: a pending read of tokio's stdin would delay a normal return.
        std::process::exit(i32::from(result.is_err()));
    }
    let me = std::env::current_exe()?;
    let client =
        Client::spawn_stdio([me.into_os_string(), "--serve".into()], "child-token").await?;
    let job = client
        .submit(SubmitRequest::new("upper", json!("hello")))
        .await?;
    if let Some(ResultValue::Inline(v)) = job.done().await?.result() {
        println!("result {v}");
    }
    client.close().await?;
    Ok(())
}
