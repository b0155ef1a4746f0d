//! [`run_job`]: what an adapter spawns for `Effect::StartAgent`.

use crate::agent::AgentError;
use crate::cancel::CancelToken;
use crate::context::JobContext;
use crate::host::{BoxFuture, JobHost};
use crate::registry::AgentRegistry;
use crate::tools::ToolRegistry;
use arcp_proto::runtime::{AgentEvent, AgentStart};
use arcp_proto::wire::ErrorCode;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use tracing::Instrument;

/// Resolves the agent of `start`, runs it with a [`JobContext`] and emits the terminal
/// [`AgentEvent`] through `host.emit`: `Result` (with no inline result after streamed chunks
/// when the agent returns `null`, D32/D34) or `Error`. An agent the registry does not know
/// ends the job `INTERNAL_ERROR`, and so does an agent that panics (when panics unwind).
///
/// The whole run is inside the job's `arcp.job` span (see [`crate::JOB_SPAN`]).
///
/// Returns when done. The adapter answers the `StartAgent` effect `Done` right away and
/// spawns this; on `Effect::CancelAgent` it fires `cancel`, and this future then drops the
/// agent at its next suspension point and returns without emitting anything (the job has
/// already ended on the wire).
pub fn run_job(
    registry: Arc<AgentRegistry>,
    start: AgentStart,
    host: Arc<dyn JobHost>,
    cancel: CancelToken,
) -> BoxFuture<'static, ()> {
    run_job_with_tools(registry, Arc::new(ToolRegistry::new()), start, host, cancel)
}

/// [`run_job`] with the server's runtime-hosted `tools` in the agent's context
/// ([`JobContext::call_tool`]).
pub fn run_job_with_tools(
    registry: Arc<AgentRegistry>,
    tools: Arc<ToolRegistry>,
    start: AgentStart,
    host: Arc<dyn JobHost>,
    cancel: CancelToken,
) -> BoxFuture<'static, ()> {
    let span = crate::span::job_span(&start);
    let budgeted = crate::span::lease_budget(&start).is_some();
    let job_id = start.job_id.clone();
    Box::pin(
        async move {
            let ended = run(registry, tools, start, host.clone(), cancel).await;
            // The counters at the end, read after the terminal so that no frame moves.
            if budgeted
                && ended
                && let Some(b) = host.budget(&job_id).await
            {
                tracing::Span::current()
                    .record("arcp.budget.remaining", crate::span::format_budget(&b));
            }
        }
        .instrument(span),
    )
}

/// Runs the job; `true` when it emitted its terminal (not cancelled, agent registered).
async fn run(
    registry: Arc<AgentRegistry>,
    tools: Arc<ToolRegistry>,
    start: AgentStart,
    host: Arc<dyn JobHost>,
    cancel: CancelToken,
) -> bool {
    {
        let job_id = start.job_id.clone();
        let Some(agent) = registry.resolve(&start.agent) else {
            let _ = host
                .emit(
                    &job_id,
                    AgentEvent::Error {
                        code: ErrorCode::InternalError,
                        message: format!("agent {} is not registered", start.agent),
                        retryable: None,
                    },
                )
                .await;
            return false;
        };
        let input = start.input.clone();
        let ctx =
            JobContext::new(start, host.clone(), cancel.clone(), Some(registry)).with_tools(tools);
        let watcher = ctx.clone();
        let outcome = {
            let run = agent.run(input, ctx);
            match until_cancelled(run, &cancel).await {
                Some(Ok(o)) => o,
                Some(Err(Panicked)) => Err(AgentError::internal("agent panicked")),
                None => return false,
            }
        };
        let event = match outcome {
            Ok(value) => {
                let streamed = watcher.chunks_sent() > 0;
                let summary = watcher.take_summary();
                if streamed && value.is_null() {
                    AgentEvent::Result {
                        result: None,
                        summary,
                    }
                } else {
                    // An inline result after chunks is passed on: the runtime refuses it.
                    AgentEvent::Result {
                        result: Some(value),
                        summary: None,
                    }
                }
            }
            Err(AgentError {
                code,
                message,
                retryable,
            }) => AgentEvent::Error {
                code,
                message,
                retryable,
            },
        };
        if cancel.is_cancelled() {
            return false;
        }
        // An Err here means the job had already ended (e.g. lease expiry): nothing to do.
        host.emit(&job_id, event).await.is_ok()
    }
}

/// The agent's future panicked (with `panic = "unwind"`).
struct Panicked;

/// Runs `fut` until it completes (`Some(Ok)`), panics (`Some(Err)`, so that the job still
/// ends, `INTERNAL_ERROR`) or `cancel` fires (`None`); `fut` is dropped in every case and
/// never polled after a panic.
async fn until_cancelled<F: Future>(
    fut: F,
    cancel: &CancelToken,
) -> Option<Result<F::Output, Panicked>> {
    let mut fut = pin!(fut);
    let mut cancelled = pin!(cancel.cancelled());
    let mut panicked = false;
    std::future::poll_fn(move |cx| {
        if panicked {
            return Poll::Ready(Some(Err(Panicked)));
        }
        if cancelled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(p) => p.map(|o| Some(Ok(o))),
            Err(_) => {
                panicked = true;
                Poll::Ready(Some(Err(Panicked)))
            }
        }
    })
    .await
}
