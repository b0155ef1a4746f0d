//! Leases and budgets (README): request capabilities, a budget and an expiry; read the
//! budget-remaining metrics; handle the runtime's enforcement decision.
//!
//! `cargo run -p arcp-tokio --example budget` runs it against an in-process runtime
//! with the demo agents; `-- --url ws://127.0.0.1:PORT/arcp` runs it against another one
//! (the README's `web-research` is the contract agent `budget`).

mod common;

use arcp_tokio::client::{
    Client, ClientError, ErrorCode, LeaseConstraints, SubmitRequest, Timestamp,
};
use futures_util::StreamExt;
use serde_json::json;
use std::time::{Duration, SystemTime};

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let client = Client::connect(common::url().await, common::token()).await?;

    let expires_at = Timestamp::from_system_time(SystemTime::now() + Duration::from_secs(600));

    let handle = client
        .submit(
            SubmitRequest::new(
                "budget",
                json!({"steps": 8, "cost": "0.30", "tool": "search.web"}),
            )
            .lease("tool.call", ["search.*", "fetch.*"])
            .lease("cost.budget", ["USD:1.00"])
            .lease_constraints(LeaseConstraints {
                expires_at: Some(expires_at),
                extra: Default::default(),
            }),
        )
        .await?;

    println!(
        "initial budget = {}",
        serde_json::to_string(&handle.budget()).unwrap_or_default()
    );

    let mut events = handle.events();
    while let Some(event) = events.next().await {
        let body = event.body();
        if event.kind() == "metric" && body["name"] == "cost.budget.remaining" {
            let value = body["value"].as_f64().unwrap_or(f64::NAN);
            println!(
                "budget remaining: {value:.2} {}",
                body["unit"].as_str().unwrap_or("")
            );
        }
    }
    match handle.done().await {
        Ok(outcome) => println!("final: {:?} {:?}", outcome.status(), outcome.result()),
        Err(err @ ClientError::JobFailed { .. })
            if matches!(
                err.code(),
                Some(ErrorCode::BudgetExhausted | ErrorCode::LeaseExpired)
            ) =>
        {
            // Never retryable: resubmit with a fresh lease or budget instead.
            if let ClientError::JobFailed { code, message, .. } = &err {
                println!("job ended: {code} {message}");
            }
        }
        Err(err) => return Err(err),
    }
    client.close().await
}
