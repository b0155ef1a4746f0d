//! `arcp jobs`: every job this principal may see, one line each (all pages).

use super::{ConnectArgs, Failure, connect};
use arcp_tokio::client::ListJobsRequest;
use serde_json::Value;

/// Pages fetched at most (a runtime bounds its job table; this bounds the loop).
const MAX_PAGES: usize = 1000;

pub(super) async fn run(args: ConnectArgs) -> Result<i32, Failure> {
    let client = connect(&args).await?;
    let mut cursor = None;
    let mut count = 0usize;
    for _ in 0..MAX_PAGES {
        let page = client
            .list_jobs(ListJobsRequest {
                cursor: cursor.take(),
                ..ListJobsRequest::default()
            })
            .await
            .map_err(|e| Failure::client(&args.url, e))?;
        for job in &page.jobs {
            let status = match serde_json::to_value(job.status) {
                Ok(Value::String(s)) => s,
                _ => format!("{:?}", job.status),
            };
            let when = job
                .submitted_at
                .as_ref()
                .map(|t| t.to_string())
                .unwrap_or_default();
            println!("{}  {:<10} {}  {}", job.job_id, status, job.agent, when);
            count += 1;
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    println!("{count} job(s)");
    let _ = client.close().await;
    Ok(0)
}
