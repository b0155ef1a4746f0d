//! `arcp submit [FLAGS] AGENT [INPUT_JSON]`: submit, render the events, print the result;
//! with `--detach`, print the job id and leave the job running.
//!
//! The submitting session is recorded in the state file (see [`super::state`]) as soon as
//! the job is accepted, so `arcp cancel JOB` and `arcp tail JOB` can resume it; a job
//! followed to its end drops the record.

use super::render::Renderer;
use super::{Failure, SubmitArgs, connect, owned};
use arcp_tokio::client::{JobHandle, SubmitRequest, Timestamp};
use futures_util::StreamExt;
use std::time::Duration;

/// The request the flags describe.
pub(super) fn request(args: &SubmitArgs) -> SubmitRequest {
    let input = args.input.clone().unwrap_or_else(|| serde_json::json!({}));
    let mut req = SubmitRequest::new(args.agent.as_str(), input);
    // Patterns of one namespace add up, in the order given.
    let mut namespaces: Vec<(&str, Vec<&str>)> = Vec::new();
    for (ns, pattern) in &args.leases {
        match namespaces.iter_mut().find(|(n, _)| n == ns) {
            Some((_, ps)) => ps.push(pattern),
            None => namespaces.push((ns, vec![pattern])),
        }
    }
    for (ns, patterns) in namespaces {
        req = req.lease(ns, patterns);
    }
    if !args.budgets.is_empty() {
        req = req.budget(args.budgets.iter().cloned());
    }
    if let Some(secs) = args.expires_in {
        let at = Timestamp::from_system_time(std::time::SystemTime::now())
            .add(Duration::from_secs(secs));
        req = req.expires_at(at);
    }
    if let Some(at) = &args.expires_at {
        req = req.expires_at(at.clone());
    }
    if let Some(k) = &args.idempotency_key {
        req = req.idempotency_key(k.clone());
    }
    if let Some(s) = args.max_runtime {
        req = req.max_runtime_sec(s);
    }
    req
}

pub(super) async fn run(args: SubmitArgs) -> Result<i32, Failure> {
    let client = connect(&args.conn).await?;
    let handle = client
        .submit(request(&args))
        .await
        .map_err(|e| Failure::client(&args.conn.url, e))?;
    let recorded = owned::record(&args.conn, &client, handle.job_id());
    if args.detach {
        let job_id = handle.job_id().to_owned();
        let agent = handle.agent_ref().to_string();
        drop(handle);
        // `session.bye` ends the connection only: the session stays resumable (for its
        // resume window) and the job runs on.
        let _ = client.close().await;
        recorded?;
        if args.json {
            let line = serde_json::json!({
                "type": "job.accepted",
                "job_id": job_id,
                "agent": agent,
                "session_id": client.session_id().to_string(),
            });
            println!("{line}");
        } else {
            println!("{job_id}");
        }
        return Ok(0);
    }
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
    if let Ok((state, entry)) = recorded {
        // Ended: nothing left to cancel or resume.
        let _ = state.remove(&entry.url, &entry.session_id);
    }
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
