//! Subscribing to jobs (README): attach read-only to a job submitted elsewhere and observe
//! its stream (with history replay) without cancel authority.
//!
//! `cargo run -p arcp-tokio --example subscribe` runs it against an in-process runtime
//! with the demo agents; `-- --url ws://127.0.0.1:PORT/arcp` runs it against another one
//! (first submits a `slow` job as `alice-token`, so there is something running to watch;
//! the dashboard uses `ARCP_OBSERVER_TOKEN`, default `auditor-token`).

mod common;

use arcp_tokio::client::{Client, ClientError, Feature, JobFilter, ListJobsRequest, SubmitRequest};
use futures_util::StreamExt;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let url = common::url().await;
    // Elsewhere: a CLI submitted a job.
    let cli = Client::connect(&url, common::token()).await?;
    let job = cli
        .submit(SubmitRequest::new(
            "slow",
            json!({"seconds": 2, "tick": 0.2}),
        ))
        .await?;

    let observer = Client::builder(&url)
        .client_info("dashboard", "1.0.0")
        .token(std::env::var("ARCP_OBSERVER_TOKEN").unwrap_or_else(|_| "auditor-token".into()))
        .features([Feature::ListJobs, Feature::Subscribe])
        .connect()
        .await?;

    let listing = observer
        .list_jobs(ListJobsRequest {
            filter: Some(JobFilter {
                status: Some(vec!["running".to_owned()]),
                ..JobFilter::default()
            }),
            ..ListJobsRequest::default()
        })
        .await?;
    let sub = observer.subscribe(&listing.jobs[0].job_id, true).await?;
    println!(
        "subscribed from seq={} replayed={}",
        sub.subscribed_from(),
        sub.replayed()
    );

    let mut events = sub.handle.events();
    let mut seen = 0;
    while let Some(event) = events.next().await {
        println!("[seq>{}] {}", sub.subscribed_from(), event.kind());
        seen += 1;
        if seen == 5 {
            break;
        }
    }

    // ... later ...
    observer.unsubscribe(sub.job_id()).await?;

    println!("submitter's view: {:?}", job.done().await?.status());
    observer.close().await?;
    cli.close().await
}
