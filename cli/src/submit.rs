//! `arcp submit [--json] AGENT [INPUT_JSON]`: submit, render the events, print the result.

use super::render::Renderer;
use super::{Failure, SubmitArgs, connect};
use arcp_tokio::client::{JobHandle, SubmitRequest};
use futures_util::StreamExt;

pub(super) async fn run(args: SubmitArgs) -> Result<i32, Failure> {
    let client = connect(&args.conn).await?;
    let input = args.input.unwrap_or_else(|| serde_json::json!({}));
    let handle = client
        .submit(SubmitRequest::new(args.agent.as_str(), input))
        .await
        .map_err(|e| Failure::client(&args.conn.url, e))?;
    let mut out = Renderer::stdout(args.json);
    if !args.json {
        out.line(&format!(
            "job {} ({}) in session {}",
            handle.job_id(),
            handle.agent_ref(),
            client.session_id()
        ));
    }
    let outcome = follow(handle, &mut out, &args.conn.url).await;
    let _ = client.close().await;
    outcome
}

/// Renders a job's events, then its outcome; a failed job is an error (exit 1).
pub(super) async fn follow(
    handle: JobHandle,
    out: &mut Renderer,
    url: &str,
) -> Result<i32, Failure> {
    let job_id = handle.job_id().to_owned();
    let mut events = handle.events();
    while let Some(event) = events.next().await {
        out.event(&event);
    }
    out.finish();
    let outcome = handle.done().await.map_err(|e| Failure::client(url, e))?;
    out.outcome(&job_id, outcome.outcome());
    Ok(0)
}
