//! [`JobHandle`]: one job as the application sees it — what the runtime granted, an ordered
//! event stream, and a `done` future.

use super::ClientError;
use super::shared::{Command, Shared, Terminal};
use arcp_proto::client::{JobOutcome, SeqSpace};
use arcp_proto::wire::{
    Accepted, AgentRef, Budget, Credential, JobEvent, LeaseConstraints, LeaseMap, Replayed,
    Subscribed,
};
use futures_util::Stream;
use serde_json::Value;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, oneshot};

/// One `job.event`, as the events stream yields it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEventItem {
    /// The job.
    pub job_id: String,
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

/// The ordered event stream of one job (bounded; see [`ClientBuilder::event_capacity`]).
/// It ends after the job's terminal frame.
///
/// [`ClientBuilder::event_capacity`]: super::ClientBuilder::event_capacity
pub struct JobEvents<'a> {
    rx: &'a mut Option<mpsc::Receiver<JobEventItem>>,
    shared: &'a Shared,
}

impl Stream for JobEvents<'_> {
    type Item = JobEventItem;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<JobEventItem>> {
        let this = self.get_mut();
        let Some(rx) = this.rx.as_mut() else {
            return Poll::Ready(None);
        };
        match rx.poll_recv(cx) {
            Poll::Ready(Some(item)) => {
                if item.space == SeqSpace::Session {
                    this.shared.consumed(item.event_seq);
                }
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                *this.rx = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What the runtime granted a job: from `job.accepted`, or from `job.subscribed` for a
/// subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct JobInfo {
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
}

impl JobInfo {
    pub(crate) fn from_accepted(a: Box<Accepted>) -> Self {
        JobInfo {
            agent: a.agent.clone(),
            lease: a.lease.clone(),
            lease_constraints: a.lease_constraints.clone(),
            budget: a.budget.clone(),
            credentials: a.credentials.clone().unwrap_or_default(),
            accepted: Some(a),
        }
    }

    pub(crate) fn from_subscribed(s: &Subscribed) -> Self {
        JobInfo {
            agent: s.agent.clone(),
            lease: s.lease.clone().unwrap_or_default(),
            lease_constraints: s.lease_constraints.clone(),
            budget: s.budget.clone(),
            credentials: s.credentials.clone().unwrap_or_default(),
            accepted: None,
        }
    }
}

/// A submitted (or subscribed) job.
///
/// Read [`events`](JobHandle::events) to the end, then await [`done`](JobHandle::done), as
/// with the Python SDK's `handle.events()` and `handle.done`. The event channel is bounded:
/// while it is full the client stops reading from the transport (back-pressure), so a
/// handle that is kept but never read stalls the session; `done` (or dropping the handle)
/// discards the unread events instead.
pub struct JobHandle {
    job_id: String,
    info: JobInfo,
    events: Option<mpsc::Receiver<JobEventItem>>,
    done: oneshot::Receiver<Terminal>,
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
}

impl std::fmt::Debug for JobHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobHandle")
            .field("job_id", &self.job_id)
            .field("agent", &self.info.agent)
            .finish_non_exhaustive()
    }
}

impl JobHandle {
    pub(crate) fn new(
        job_id: String,
        info: JobInfo,
        events: mpsc::Receiver<JobEventItem>,
        done: oneshot::Receiver<Terminal>,
        shared: Arc<Shared>,
        commands: mpsc::Sender<Command>,
    ) -> Self {
        JobHandle {
            job_id,
            info,
            events: Some(events),
            done,
            shared,
            commands,
        }
    }

    /// The job id the runtime minted.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// Everything the runtime granted.
    pub fn info(&self) -> &JobInfo {
        &self.info
    }

    /// The resolved agent (`name@version`).
    pub fn agent_ref(&self) -> &AgentRef {
        &self.info.agent
    }

    /// The effective lease.
    pub fn lease(&self) -> &LeaseMap {
        &self.info.lease
    }

    /// The budget counters, when the lease has a `cost.budget`.
    pub fn budget(&self) -> Option<&Budget> {
        self.info.budget.as_ref()
    }

    /// Provisioned credentials.
    pub fn credentials(&self) -> &[Credential] {
        &self.info.credentials
    }

    /// The ordered event stream; it ends after the job's terminal frame.
    pub fn events(&mut self) -> JobEvents<'_> {
        JobEvents {
            rx: &mut self.events,
            shared: &self.shared,
        }
    }

    /// Cancels the job (`job.cancel`); its terminal then reports `Cancelled`.
    pub async fn cancel(&self) -> Result<(), ClientError> {
        super::request(&self.commands, |reply| Command::Cancel {
            job_id: self.job_id.clone(),
            reason: super::DEFAULT_CANCEL_REASON.to_owned(),
            reply,
        })
        .await
    }

    /// Waits for the terminal frame. Unread events are discarded.
    ///
    /// `Ok` for success, cancellation and timeout; a `job.error` with any other code is
    /// [`ClientError::JobFailed`] (carrying the §12 code and `retryable`). If the session
    /// closes first: [`ClientError::Closed`] (or the transport error that closed it).
    pub async fn done(mut self) -> Result<JobOutcome, ClientError> {
        self.events = None;
        let terminal = self.done.await.map_err(|_| ClientError::Closed)?;
        let (event_seq, space, outcome) = terminal?;
        if space == SeqSpace::Session {
            self.shared.consumed(event_seq);
        }
        match outcome {
            JobOutcome::Failed {
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
            other => Ok(other),
        }
    }
}

/// A read-only attachment to a job submitted elsewhere (`job.subscribe`).
#[derive(Debug)]
pub struct Subscription {
    /// The observed job.
    pub job_id: String,
    /// The `job.subscribed` payload.
    pub subscribed: Box<Subscribed>,
    /// Its events and terminal; [`JobHandle::cancel`] is refused by the runtime.
    pub handle: JobHandle,
}

impl Subscription {
    /// The seq of the last replayed frame (`subscribed_from`), 0 when absent.
    pub fn subscribed_from(&self) -> u64 {
        self.subscribed.subscribed_from.unwrap_or(0)
    }

    /// How many frames were replayed (the reference's integer form; a spec-form `true`
    /// counts as 1).
    pub fn replayed(&self) -> u64 {
        match self.subscribed.replayed {
            Some(Replayed::Count(n)) => n,
            Some(Replayed::Flag(true)) => 1,
            Some(Replayed::Flag(false)) | None => 0,
        }
    }
}
