//! What an adapter implements so agent code can run on it ([`JobHost`]), and how a job ended
//! ([`JobEnd`]).

use arcp_proto::lease::Operation;
use arcp_proto::runtime::{AgentEvent, AgentReply, RuntimeEvent};
use arcp_proto::wire::{Budget, ErrorCode, ErrorPayload, FinalStatus, JobId, JobStatus};
use serde_json::Value;
use std::time::Duration;

/// A boxed, `Send` future (the same type as `futures_core::future::BoxFuture`).
pub use futures_core::future::BoxFuture;

/// What each adapter implements so agent code can run on it.
///
/// Every method round-trips through the adapter's single task or thread that owns the
/// `Runtime` (the driving contract): the adapter calls the matching `Runtime` method with its
/// own `now`, then drains the runtime's outputs as usual.
pub trait JobHost: Send + Sync + 'static {
    /// `Runtime::handle_agent_event(now, job_id, event)`: returns its answer. For an event
    /// that only a job that ended refuses (`AgentEvent::refused_only_when_ended`), a host
    /// may answer `Ok` before feeding it, as long as it feeds such events in order and
    /// answers the job's next emit itself once the job is held or has ended.
    fn emit(
        &self,
        job_id: &JobId,
        event: AgentEvent,
    ) -> BoxFuture<'_, Result<AgentReply, ErrorPayload>>;

    /// `Runtime::check_operation(now, job_id, &op)`: the lease gate (expiry, patterns,
    /// budget), answering the target as it was matched (a normalised path, a canonical URL,
    /// a name as given). A refusal is audited by the runtime.
    fn check_operation(
        &self,
        job_id: &JobId,
        op: Operation,
    ) -> BoxFuture<'_, Result<String, ErrorPayload>>;

    /// The lease gate without the target: [`JobHost::check_operation`] by default.
    fn authorize(&self, job_id: &JobId, op: Operation) -> BoxFuture<'_, Result<(), ErrorPayload>> {
        let fut = self.check_operation(job_id, op);
        Box::pin(async move { fut.await.map(|_| ()) })
    }

    /// The job's current remaining budget counters (`None`: unbudgeted), e.g.
    /// `Runtime::job_budget(job_id)`.
    fn budget(&self, job_id: &JobId) -> BoxFuture<'_, Option<Budget>>;

    /// Resolves when job `job_id` (e.g. a delegated child) has ended. [`crate::JobEnds`]
    /// implements the bookkeeping.
    fn wait_job(&self, job_id: &JobId) -> BoxFuture<'_, JobEnd>;

    /// The adapter's timer: resolves after `d`.
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()>;

    /// A fresh secret for a rotated credential of job `job_id` (§9.8), from the adapter's
    /// credential provider. `None` (the default): [`crate::JobContext::rotate_credential`]
    /// derives a demo value itself.
    fn rotated_secret(&self, job_id: &JobId, credential_id: &str) -> Option<String> {
        let _ = (job_id, credential_id);
        None
    }
}

/// How a job ended (for [`JobHost::wait_job`]).
#[derive(Debug, Clone, PartialEq)]
pub struct JobEnd {
    /// `success`, `error`, `cancelled` or `timed_out`.
    pub status: FinalStatus,
    /// The inline result of a successful job (none for a streamed or null result).
    pub result: Option<Value>,
    /// The code of a `job.error`.
    pub error_code: Option<ErrorCode>,
}

impl JobEnd {
    /// The job id and end reported by a [`RuntimeEvent::JobEnded`]; `None` for any other
    /// event (or a non-terminal status, which the runtime never reports).
    pub fn from_runtime_event(event: &RuntimeEvent) -> Option<(JobId, JobEnd)> {
        let RuntimeEvent::JobEnded {
            job_id,
            status,
            result,
            error_code,
            ..
        } = event
        else {
            return None;
        };
        let status = final_status(*status)?;
        Some((
            job_id.clone(),
            JobEnd {
                status,
                result: result.clone(),
                error_code: error_code.clone(),
            },
        ))
    }
}

/// The final status of a terminal [`JobStatus`].
pub fn final_status(status: JobStatus) -> Option<FinalStatus> {
    match status {
        JobStatus::Success => Some(FinalStatus::Success),
        JobStatus::Error => Some(FinalStatus::Error),
        JobStatus::Cancelled => Some(FinalStatus::Cancelled),
        JobStatus::TimedOut => Some(FinalStatus::TimedOut),
        JobStatus::Pending | JobStatus::Running => None,
    }
}
