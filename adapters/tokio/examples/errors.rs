//! Error handling (README): catch the typed error taxonomy and respect `retryable` —
//! `LEASE_EXPIRED` and `BUDGET_EXHAUSTED` never are.
//!
//! `cargo run -p arcp-tokio --example errors` runs it against an in-process runtime
//! with the demo agents; `-- --url ws://127.0.0.1:PORT/arcp` runs it against another one
//! (the README's `flaky` is the contract agent `failing`).

mod common;

use arcp_tokio::client::{Client, ClientError, ErrorCode, SubmitRequest};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let client = Client::connect(common::url().await, common::token()).await?;

    let attempt = async {
        let handle = client
            .submit(SubmitRequest::new("failing", json!({})))
            .await?;
        handle.done().await
    };
    match attempt.await {
        Ok(outcome) => println!("final: {:?} {:?}", outcome.status(), outcome.result()),
        Err(err)
            if matches!(
                err.code(),
                Some(ErrorCode::LeaseExpired | ErrorCode::BudgetExhausted)
            ) =>
        {
            // Resubmit with a fresh lease / budget instead of retrying.
            return Err(err);
        }
        Err(err) => {
            if err.retryable() {
                // Safe to retry with backoff (e.g. INTERNAL_ERROR, TIMEOUT).
                println!("retryable: {err}");
            } else {
                return Err(err);
            }
        }
    }
    client.close().await
}
