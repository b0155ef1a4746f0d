//! `arcp tail JOB`: follow a job to its end.
//!
//! A job this CLI submitted (in its state file) is followed by resuming the submitting
//! session, which replays what it still holds of the job and goes on live; any other job is
//! followed read-only by subscribing with history.

use super::owned::{self, Lookup, Owned};
use super::render::Renderer;
use super::submit::follow;
use super::{Failure, TailArgs, connect};
use arcp_proto::client::JobOutcome;
use arcp_tokio::client::StreamItem;
use futures_util::StreamExt;

pub(super) async fn run(args: TailArgs) -> Result<i32, Failure> {
    match owned::resume(&args.conn, &args.job, true).await? {
        Lookup::Resumed(owned) => return resumed(*owned, &args).await,
        Lookup::Gone(why) => eprintln!("note: {why}; subscribing instead"),
        Lookup::Unknown | Lookup::Foreign => {}
    }
    let client = connect(&args.conn).await?;
    let sub = client
        .subscribe(&args.job, true)
        .await
        .map_err(|e| Failure::client(&args.conn.url, e))?;
    let mut out = Renderer::stdout(args.json);
    if !args.json {
        out.line(&format!(
            "job {} ({}), {} replayed",
            sub.job_id(),
            sub.handle.agent_ref(),
            sub.replayed()
        ));
    }
    let outcome = follow(sub.handle, &mut out, &args.conn.url).await;
    let _ = client.close().await;
    outcome
}

/// Follows the job through its resumed session: the session's frames arrive on the
/// unrouted stream (the client holds no handle for the job).
async fn resumed(owned: Owned, args: &TailArgs) -> Result<i32, Failure> {
    let Owned {
        client,
        entry,
        state,
    } = owned;
    let mut out = Renderer::stdout(args.json);
    if !args.json {
        out.line(&format!(
            "job {}, resumed session {}",
            args.job, entry.session_id
        ));
    }
    let Some(mut stream) = client.unrouted_events() else {
        return Err(Failure::Error("no unrouted stream".to_owned()));
    };
    let mut result = Err(Failure::Error(format!(
        "the session closed before job {} ended",
        args.job
    )));
    while let Some(item) = stream.next().await {
        if item.job_id() != &args.job {
            continue;
        }
        match item {
            StreamItem::Event(e) => out.event(&e),
            StreamItem::Terminal(end) => {
                out.finish();
                result = match end.outcome() {
                    JobOutcome::Failed { code, message, .. } => {
                        Err(Failure::Error(format!("{code}: {message}")))
                    }
                    other => {
                        out.outcome(&args.job, other);
                        Ok(0)
                    }
                };
                break;
            }
        }
    }
    drop(stream);
    let _ = client.close().await;
    if result.is_ok()
        || matches!(result, Err(Failure::Error(ref m)) if !m.starts_with("the session closed"))
    {
        // The job ended: nothing left to resume for it.
        let _ = state.remove(&entry.url, &entry.session_id);
    }
    result
}
