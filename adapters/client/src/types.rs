//! The public types every adapter's client API shares: events, outcomes, what a job was
//! granted, and the answers the driver hands back.

use crate::ClientError;
use arcp_proto::client::{JobOutcome as CoreOutcome, ResultValue, SeqSpace, WelcomeInfo};
use arcp_proto::wire::{
    Accepted, AgentRef, Budget, Credential, ErrorCode, JobEvent, JobId, JobStatus, Jobs,
    LeaseConstraints, LeaseMap, Replayed, Subscribed, Timestamp,
};
use serde_json::Value;
use std::time::Duration;

/// One `job.event`, as a job's event stream yields it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEventItem {
    /// The job.
    pub job_id: JobId,
    /// Its `event_seq`.
    pub event_seq: u64,
    /// Which numbering `event_seq` is in (a subscription's own, with the reference).
    pub space: SeqSpace,
    /// Timestamp, kind and typed body.
    pub event: JobEvent,
}

impl JobEventItem {
    /// The event kind (`log`, `progress`, …), the Python SDK's `event["kind"]`.
    pub fn kind(&self) -> &str {
        self.event.body.kind()
    }

    /// The body as JSON, the Python SDK's `event["body"]`.
    pub fn body(&self) -> Value {
        match serde_json::to_value(&self.event) {
            Ok(Value::Object(mut m)) => m.remove("body").unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }
}

/// How a job ended: its terminal frame, with accessors.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    job_id: JobId,
    event_seq: u64,
    space: SeqSpace,
    outcome: CoreOutcome,
}

/// The error of a job that ended with `job.error` (other than `CANCELLED` / `TIMEOUT`).
#[derive(Debug, Clone, PartialEq)]
pub struct JobError {
    /// The §12 code.
    pub code: ErrorCode,
    /// Human-readable text.
    pub message: String,
    /// Whether a retry may succeed.
    pub retryable: bool,
    /// Extra detail.
    pub details: Option<Value>,
}

impl JobOutcome {
    /// The terminal of `job_id` at `event_seq`.
    pub fn new(job_id: JobId, event_seq: u64, space: SeqSpace, outcome: CoreOutcome) -> Self {
        JobOutcome {
            job_id,
            event_seq,
            space,
            outcome,
        }
    }

    /// The job.
    pub fn job_id(&self) -> &JobId {
        &self.job_id
    }

    /// The terminal frame's `event_seq`.
    pub fn event_seq(&self) -> u64 {
        self.event_seq
    }

    /// Which numbering [`event_seq`](Self::event_seq) is in.
    pub fn space(&self) -> SeqSpace {
        self.space
    }

    /// `success`, `error`, `cancelled` or `timed_out` (both terminal forms of a cancel and of
    /// a timeout map to one status, [D6]/[D8]).
    ///
    /// [D6]: arcp_proto::compat#d6--cancel
    /// [D8]: arcp_proto::compat#d8--timeout
    pub fn status(&self) -> JobStatus {
        match &self.outcome {
            CoreOutcome::Success { .. } => JobStatus::Success,
            CoreOutcome::Cancelled { .. } => JobStatus::Cancelled,
            CoreOutcome::TimedOut { .. } => JobStatus::TimedOut,
            // A failure, and any outcome a later core adds.
            _ => JobStatus::Error,
        }
    }

    /// The value of a successful job (inline, reassembled from chunks, or refused, [D32]).
    ///
    /// [D32]: arcp_proto::compat#d32--chunk-order
    pub fn result(&self) -> Option<&ResultValue> {
        match &self.outcome {
            CoreOutcome::Success { result, .. } => Some(result),
            _ => None,
        }
    }

    /// The error of a failed job.
    pub fn error(&self) -> Option<JobError> {
        match &self.outcome {
            CoreOutcome::Failed {
                code,
                message,
                retryable,
                details,
                ..
            } => Some(JobError {
                code: code.clone(),
                message: message.clone(),
                retryable: *retryable,
                details: details.clone(),
            }),
            _ => None,
        }
    }

    /// When the job ended, when the runtime said.
    pub fn completed_at(&self) -> Option<&Timestamp> {
        match &self.outcome {
            CoreOutcome::Success { completed_at, .. }
            | CoreOutcome::Cancelled { completed_at }
            | CoreOutcome::TimedOut { completed_at }
            | CoreOutcome::Failed { completed_at, .. } => completed_at.as_ref(),
            _ => None,
        }
    }

    /// The core's form.
    pub fn outcome(&self) -> &CoreOutcome {
        &self.outcome
    }

    /// The core's form, owned.
    pub fn into_outcome(self) -> CoreOutcome {
        self.outcome
    }

    /// `Ok` for success, cancellation and timeout; [`ClientError::JobFailed`] for any other
    /// `job.error` (what `JobHandle::done` returns).
    pub fn into_result(self) -> Result<JobOutcome, ClientError> {
        match self.outcome {
            CoreOutcome::Failed {
                code,
                message,
                retryable,
                details,
                ..
            } => Err(ClientError::JobFailed {
                job_id: self.job_id,
                code,
                message,
                retryable,
                details,
            }),
            _ => Ok(self),
        }
    }
}

/// An item of the unrouted stream: frames of jobs the client holds no handle for (jobs
/// replayed into a resumed session, delegated children).
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// A `job.event`.
    Event(JobEventItem),
    /// A job's terminal frame.
    Terminal(JobOutcome),
}

impl StreamItem {
    /// The job it belongs to.
    pub fn job_id(&self) -> &JobId {
        match self {
            StreamItem::Event(e) => &e.job_id,
            StreamItem::Terminal(o) => o.job_id(),
        }
    }

    /// Its `event_seq`.
    pub fn event_seq(&self) -> u64 {
        match self {
            StreamItem::Event(e) => e.event_seq,
            StreamItem::Terminal(o) => o.event_seq(),
        }
    }

    /// Which numbering its `event_seq` is in.
    pub fn space(&self) -> SeqSpace {
        match self {
            StreamItem::Event(e) => e.space,
            StreamItem::Terminal(o) => o.space(),
        }
    }
}

/// What the runtime granted a job: from `job.accepted`, or from `job.subscribed` for a
/// subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct JobInfo {
    /// The job.
    pub job_id: JobId,
    /// The resolved `name@version`.
    pub agent: AgentRef,
    /// The effective lease.
    pub lease: LeaseMap,
    /// The lease constraints, when any.
    pub lease_constraints: Option<LeaseConstraints>,
    /// The budget counters (initial on accept, current on subscribe).
    pub budget: Option<Budget>,
    /// Provisioned credentials (only with `provisioned_credentials`).
    pub credentials: Vec<Credential>,
    /// The whole `job.accepted` payload, for a submitted job.
    pub accepted: Option<Box<Accepted>>,
    /// The whole `job.subscribed` payload, for a subscription.
    pub subscribed: Option<Box<Subscribed>>,
}

impl JobInfo {
    /// What `job.accepted` granted.
    pub fn from_accepted(job_id: JobId, a: Box<Accepted>) -> Self {
        JobInfo {
            job_id,
            agent: a.agent.clone(),
            lease: a.lease.clone(),
            lease_constraints: a.lease_constraints.clone(),
            budget: a.budget.clone(),
            credentials: a.credentials.clone().unwrap_or_default(),
            accepted: Some(a),
            subscribed: None,
        }
    }

    /// What `job.subscribed` reports.
    pub fn from_subscribed(job_id: JobId, s: Box<Subscribed>) -> Self {
        JobInfo {
            job_id,
            agent: s.agent.clone(),
            lease: s.lease.clone().unwrap_or_default(),
            lease_constraints: s.lease_constraints.clone(),
            budget: s.budget.clone(),
            credentials: s.credentials.clone().unwrap_or_default(),
            accepted: None,
            subscribed: Some(s),
        }
    }

    /// A subscription: the seq of the last replayed frame (`subscribed_from`), 0 when absent.
    pub fn subscribed_from(&self) -> u64 {
        self.subscribed
            .as_ref()
            .and_then(|s| s.subscribed_from)
            .unwrap_or(0)
    }

    /// A subscription: how many frames were replayed (the reference's integer form; a
    /// spec-form `true` counts as 1).
    pub fn replayed(&self) -> u64 {
        match self.subscribed.as_ref().and_then(|s| s.replayed) {
            Some(Replayed::Count(n)) => n,
            Some(Replayed::Flag(true)) => 1,
            Some(Replayed::Flag(false)) | None => 0,
        }
    }
}

/// The driver's answer to one command (matched by its [`Ticket`](crate::Ticket)).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Answer {
    /// The session opened or resumed (`Command::Resume`, the first connect).
    Welcome(Box<WelcomeInfo>),
    /// `job.accepted` (submit) or `job.subscribed` (subscribe).
    Job(Box<JobInfo>),
    /// A `session.jobs` page.
    Jobs(Jobs),
    /// The round trip of a ping.
    Pong(Duration),
    /// Done: written (cancel, ack, unsubscribe, close), or confirmed (a confirmed cancel).
    Done,
    /// The command failed.
    Failed(ClientError),
}

impl Answer {
    fn unexpected(self, what: &str) -> ClientError {
        match self {
            Answer::Failed(e) => e,
            other => ClientError::transport(format!("unexpected answer to {what}: {other:?}")),
        }
    }

    /// The welcome.
    pub fn into_welcome(self) -> Result<WelcomeInfo, ClientError> {
        match self {
            Answer::Welcome(w) => Ok(*w),
            a => Err(a.unexpected("connect")),
        }
    }

    /// The job (submit, subscribe).
    pub fn into_job(self) -> Result<JobInfo, ClientError> {
        match self {
            Answer::Job(j) => Ok(*j),
            a => Err(a.unexpected("submit")),
        }
    }

    /// The page (list_jobs).
    pub fn into_jobs(self) -> Result<Jobs, ClientError> {
        match self {
            Answer::Jobs(j) => Ok(j),
            a => Err(a.unexpected("list_jobs")),
        }
    }

    /// The round trip (ping).
    pub fn into_pong(self) -> Result<Duration, ClientError> {
        match self {
            Answer::Pong(d) => Ok(d),
            a => Err(a.unexpected("ping")),
        }
    }

    /// Done (cancel, ack, unsubscribe, close, resume).
    pub fn into_done(self) -> Result<(), ClientError> {
        match self {
            Answer::Done | Answer::Welcome(_) => Ok(()),
            a => Err(a.unexpected("command")),
        }
    }
}
