//! What agents hand the runtime ([`AgentEvent`]) and what the runtime tells its host
//! ([`RuntimeEvent`]).

use super::effect::ConnId;
use crate::wire::{
    AgentRef, ChunkEncoding, ErrorCode, EventBody, JobId, LeaseConstraints, LeaseMap, SessionId,
};
use serde_json::Value;

/// Something a running agent emits, fed in with `Runtime::handle_agent_event`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AgentEvent {
    /// An event of any kind. A `metric` whose name starts with `cost.` and whose unit is a
    /// budgeted currency decrements the budget (a negative cost is refused, [D31]); a
    /// `result_chunk` body is treated as [`AgentEvent::ResultChunk`].
    ///
    /// [D31]: crate::compat#d31--negative-cost
    Event(EventBody),
    /// One chunk of a streamed result; the runtime assigns `result_id` and checks order and
    /// caps ([D32]).
    ///
    /// [D32]: crate::compat#d32--chunk-order
    ResultChunk {
        /// 0-based position.
        chunk_seq: u64,
        /// The data, in `encoding`.
        data: String,
        /// `utf8` or `base64`.
        encoding: ChunkEncoding,
        /// `false` on the last chunk (an extra empty final chunk is also accepted).
        more: bool,
    },
    /// Successful end. After chunks, `result` must be `None` and the terminal carries
    /// `result_id` and `result_size`; `summary` is only sent for a streamed result.
    Result {
        /// The inline result (`None` or `Some(Null)`: no `result` key, [D34]).
        ///
        /// [D34]: crate::compat#d34--null-result
        result: Option<Value>,
        /// Description of a streamed result.
        summary: Option<String>,
    },
    /// Failed end.
    Error {
        /// The code.
        code: ErrorCode,
        /// The message.
        message: String,
        /// `None`: the code's default.
        retryable: Option<bool>,
    },
    /// A delegation (§10, [D28]): start a child job with a subset lease.
    ///
    /// [D28]: crate::compat#d28--delegation
    Delegate {
        /// The child agent.
        agent: AgentRef,
        /// Its input.
        input: Value,
        /// The child's lease.
        lease: LeaseMap,
        /// The child's constraints.
        lease_constraints: Option<LeaseConstraints>,
    },
    /// A credential of the job was rotated (§9.8).
    CredentialRotated {
        /// The credential id.
        id: String,
        /// The new secret.
        value: String,
    },
}

impl AgentEvent {
    /// `true` when [`Runtime::handle_agent_event`](super::Runtime::handle_agent_event)
    /// refuses this event only when its job is not live (unknown or ended) and otherwise
    /// answers `Ok(AgentReply::Ok)`: no check of its own can refuse it (a `metric` may be a
    /// refused cost, a `progress` a refused count; a result, an error, a delegation and a
    /// rotation are not events of the stream). A host may then answer the agent before
    /// feeding the event, as long as it feeds it in order and stops doing so once the job is
    /// held or has ended.
    #[must_use]
    pub fn refused_only_when_ended(&self) -> bool {
        match self {
            AgentEvent::Event(EventBody::Metric(_) | EventBody::Progress(_)) => false,
            AgentEvent::Event(_) | AgentEvent::ResultChunk { .. } => true,
            AgentEvent::Result { .. }
            | AgentEvent::Error { .. }
            | AgentEvent::Delegate { .. }
            | AgentEvent::CredentialRotated { .. } => false,
        }
    }
}

/// What an accepted agent event produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentReply {
    /// Accepted.
    Ok,
    /// A delegation started this child job.
    Delegated {
        /// The child's id.
        child_job_id: JobId,
    },
}

/// Things the host may want to know; none of them needs an answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RuntimeEvent {
    /// A session was established (new or resumed) on a connection.
    SessionOpened {
        /// The connection.
        conn: ConnId,
        /// The session.
        session_id: SessionId,
        /// Its principal.
        principal: String,
        /// `true` for a resume.
        resumed: bool,
    },
    /// A session's resume window elapsed; it is gone.
    SessionExpired {
        /// The session.
        session_id: SessionId,
    },
    /// A connection's heartbeat was lost ([D25]); it is being closed.
    ///
    /// [D25]: crate::compat#d25--heartbeat-loss
    HeartbeatLost {
        /// The connection.
        conn: ConnId,
    },
    /// A peer sent something invalid; it was answered on the wire.
    ProtocolViolation {
        /// The connection.
        conn: ConnId,
        /// What was wrong.
        message: String,
    },
    /// A job ended.
    JobEnded {
        /// The job.
        job_id: JobId,
        /// Its final status (`success`, `error`, `cancelled`, `timed_out`).
        status: crate::wire::JobStatus,
        /// The job that delegated it (§10); `None` for a job a client submitted.
        parent_job_id: Option<JobId>,
        /// The inline result of a delegated child's `job.result` that carried one, for its
        /// delegating parent. `None` for a client-submitted job: its result went out on the
        /// wire and is held once, in the session ring, not copied to the host.
        result: Option<Value>,
        /// The code of a `job.error`.
        error_code: Option<ErrorCode>,
    },
    /// A storage effect failed; the runtime carried on without durability for it (a failed
    /// append's frame is still transmitted).
    StorageFailed {
        /// The host's message.
        message: String,
    },
    /// A `job.subscribe` was decided (spec §14 subscription audit); one per subscribe.
    SubscribeAudit {
        /// The subscribing session.
        session_id: SessionId,
        /// Its principal.
        subscriber_principal: String,
        /// The job named by the subscribe.
        job_id: JobId,
        /// The job's submitting principal; `None` when no such job is known.
        target_principal: Option<String>,
        /// The decision.
        decision: SubscribeDecision,
    },
    /// An abuse limit refused a hello or submit, or closed a connection.
    LimitExceeded {
        /// The connection.
        conn: ConnId,
        /// The principal, once known (`None` for a connection without a session).
        principal: Option<String>,
        /// Which limit.
        limit: LimitKind,
    },
    /// A running job's operation was refused by the lease gate (spec §9.3, §14 audit): the
    /// agent got `code` (`PERMISSION_DENIED`, `LEASE_EXPIRED` or `BUDGET_EXHAUSTED`).
    OperationRefused {
        /// The job.
        job_id: JobId,
        /// The job's submitting principal.
        principal: String,
        /// The job's session.
        session_id: SessionId,
        /// The operation's namespace (`fs.read`, `tool.call`, …).
        namespace: String,
        /// The operation's target as the agent gave it.
        target: String,
        /// The code the agent got.
        code: ErrorCode,
    },
    /// A running job reached its lease's `expires_at` and was ended `LEASE_EXPIRED` ([D30]).
    ///
    /// [D30]: crate::compat#d30--expiry
    LeaseExpired {
        /// The job.
        job_id: JobId,
        /// The job's submitting principal.
        principal: String,
        /// The job's session.
        session_id: SessionId,
    },
    /// A credential could not be revoked after every attempt.
    CredentialRevocationFailed {
        /// The job.
        job_id: JobId,
        /// The credential.
        credential_id: String,
        /// The last failure.
        message: String,
    },
}

/// Which limit was hit (the `details.limit` of the error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitKind {
    /// [`AbuseLimits::max_sessions_per_principal`](super::AbuseLimits::max_sessions_per_principal).
    SessionsPerPrincipal,
    /// [`AbuseLimits::max_jobs_per_principal`](super::AbuseLimits::max_jobs_per_principal).
    JobsPerPrincipal,
    /// [`AbuseLimits::zero_throughput_timeout`](super::AbuseLimits::zero_throughput_timeout).
    ZeroThroughput,
}

impl LimitKind {
    /// The wire name (`details.limit`).
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::SessionsPerPrincipal => "sessions_per_principal",
            LimitKind::JobsPerPrincipal => "jobs_per_principal",
            LimitKind::ZeroThroughput => "zero_throughput",
        }
    }
}

/// The policy decision on one `job.subscribe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubscribeDecision {
    /// The policy allowed it and the subscription was made.
    Allowed,
    /// The policy refused it (or the job does not exist): `PERMISSION_DENIED`.
    Denied,
    /// The policy allowed it but the session's subscription cap refused it.
    OverLimit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stream_events_are_refused_only_when_the_job_ended() {
        let other = AgentEvent::Event(EventBody::Other {
            kind: "x.custom".into(),
            body: Value::Null,
        });
        let chunk = AgentEvent::ResultChunk {
            chunk_seq: 0,
            data: "a".into(),
            encoding: ChunkEncoding::Utf8,
            more: true,
        };
        let result = AgentEvent::Result {
            result: None,
            summary: None,
        };
        let error = AgentEvent::Error {
            code: ErrorCode::InternalError,
            message: "m".into(),
            retryable: None,
        };
        let got: Vec<bool> = [other, chunk, result, error]
            .iter()
            .map(AgentEvent::refused_only_when_ended)
            .collect();
        assert_eq!(got, vec![true, true, false, false]);
    }
}
