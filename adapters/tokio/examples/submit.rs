//! Submitting jobs (README): a version-pinned agent, an input, a lease request with an
//! expiry, an idempotency key and a runtime limit.
//!
//! `cargo run -p arcp-tokio --example submit` runs it against an in-process runtime
//! with the demo agents; `-- --url ws://127.0.0.1:PORT/arcp` runs it against another one
//! (the README's `weekly-report@2.1.0` is the contract agent `versioned@2.0.0`).

mod common;

use arcp_tokio::client::{Client, ClientError, LeaseConstraints, SubmitRequest, Timestamp};
use serde_json::json;
use std::time::{Duration, SystemTime};

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let client = Client::connect(common::url().await, common::token()).await?;

    let expires_at = Timestamp::from_system_time(SystemTime::now() + Duration::from_secs(60));

    let handle = client
        .submit(
            SubmitRequest::new("versioned@2.0.0", json!({"week": "2026-W19"}))
                .lease("net.fetch", ["s3://reports/**"])
                .lease_constraints(LeaseConstraints {
                    expires_at: Some(expires_at),
                    extra: Default::default(),
                })
                .idempotency_key("weekly-report-2026-W19")
                .max_runtime_sec(300),
        )
        .await?;

    println!("job_id = {}", handle.job_id());
    println!(
        "effective lease = {}",
        serde_json::to_string(handle.lease()).unwrap_or_default()
    );
    println!("resolved agent = {}", handle.agent_ref());

    let outcome = handle.done().await?;
    println!("final: {:?} {:?}", outcome.status(), outcome.result());
    client.close().await
}
