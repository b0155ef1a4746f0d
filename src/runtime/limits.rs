//! Abuse limits (spec §14): sessions per principal, concurrent jobs per principal, closing
//! sustained zero-throughput connections, and the audit record of every `job.subscribe`.
//!
//! Every limit defaults to off (unlimited); each over-limit outcome is documented on its
//! field of [`AbuseLimits`]. The runtime keeps serving every other principal.

use super::effect::{CloseReason, ConnId};
use super::event::RuntimeEvent;
use super::handshake::Phase;
use super::{Runtime, TimerKey};
use crate::time::Instant;
use crate::wire::{ErrorCode, ErrorPayload, Message};
use serde_json::{Map, Value};
use std::time::Duration;

/// Per-principal abuse limits. The defaults are unlimited / off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseLimits {
    /// Sessions one principal may hold: attached or still resumable (a detached session
    /// keeps its ring for the resume window, so it counts until that window elapses). A
    /// resume does not open a new session. Over it, the hello gets `session.error
    /// PERMISSION_DENIED` (retryable false, `details: {"limit": "sessions_per_principal"}`,
    /// with the hello's `request_id`), then the connection is closed.
    pub max_sessions_per_principal: usize,
    /// Unfinished jobs one principal may have across all its sessions (delegated children
    /// included). Over it, a `job.submit` gets `session.error PERMISSION_DENIED` with its
    /// `request_id` and `details: {"limit": "jobs_per_principal"}`; no job is created and the
    /// session continues.
    pub max_jobs_per_principal: usize,
    /// Closes a connection with no throughput for this long: nothing received but
    /// `session.ping`/`session.pong`, and nothing other than heartbeats sent to it (a
    /// streaming job's events count as throughput). The effective timeout is never shorter
    /// than the resume window (`RuntimeConfig::resume_window`), so a connection is only cut
    /// once it is past the resume window of its jobs' events. Closing uses
    /// [`CloseReason::ZeroThroughput`] (WebSocket 1008); the session stays resumable and its
    /// jobs keep running. `None`: never.
    pub zero_throughput_timeout: Option<Duration>,
}

impl Default for AbuseLimits {
    fn default() -> Self {
        AbuseLimits {
            max_sessions_per_principal: usize::MAX,
            max_jobs_per_principal: usize::MAX,
            zero_throughput_timeout: None,
        }
    }
}

/// Which limit was hit (the `details.limit` of the error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// [`AbuseLimits::max_sessions_per_principal`].
    SessionsPerPrincipal,
    /// [`AbuseLimits::max_jobs_per_principal`].
    JobsPerPrincipal,
    /// [`AbuseLimits::zero_throughput_timeout`].
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
pub enum SubscribeDecision {
    /// The policy allowed it and the subscription was made.
    Allowed,
    /// The policy refused it (or the job does not exist): `PERMISSION_DENIED`.
    Denied,
    /// The policy allowed it but the session's subscription cap refused it.
    OverLimit,
}

/// `PERMISSION_DENIED`, not retryable, `details: {"limit": ...}` (D21: `details` only when
/// non-empty). The caller adds the request's id (D20).
fn limit_error(kind: LimitKind, message: &str) -> ErrorPayload {
    let mut details = Map::new();
    details.insert("limit".into(), Value::String(kind.as_str().into()));
    let mut e = ErrorPayload::new(ErrorCode::PermissionDenied, message).with_details(details);
    e.retryable = false;
    e
}

/// `true` for the heartbeat messages, which are not throughput.
pub(super) fn is_heartbeat(m: &Message) -> bool {
    matches!(m, Message::Ping(_) | Message::Pong(_))
}

impl Runtime {
    /// The effective zero-throughput timeout, if the limit is on.
    fn zero_throughput_after(&self) -> Option<Duration> {
        self.cfg
            .limits
            .zero_throughput_timeout
            .map(|t| t.max(self.cfg.resume_window))
    }

    /// Arms the zero-throughput check of a new connection.
    pub(super) fn arm_zero_throughput(&mut self, now: Instant, conn: ConnId) {
        if let Some(after) = self.zero_throughput_after() {
            self.timers.set(TimerKey::ZeroThroughput(conn), now + after);
        }
    }

    /// Checks a connection's throughput; closes it when idle past the timeout.
    pub(super) fn zero_throughput_check(&mut self, now: Instant, conn: ConnId) {
        let Some(after) = self.zero_throughput_after() else {
            return;
        };
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if matches!(c.phase, Phase::Closing) {
            return;
        }
        let due = c.last_activity + after;
        if now < due {
            self.timers.set(TimerKey::ZeroThroughput(conn), due);
            return;
        }
        let principal = self.session_of(conn).map(|s| s.principal.clone());
        self.metrics.limit_hit(LimitKind::ZeroThroughput);
        self.push_event(RuntimeEvent::LimitExceeded {
            conn,
            principal,
            limit: LimitKind::ZeroThroughput,
        });
        self.close_conn(now, conn, CloseReason::ZeroThroughput);
    }

    /// Sessions-per-principal check for a new session; `Err` is the error to send.
    pub(super) fn check_session_limit(
        &mut self,
        conn: ConnId,
        principal: &str,
    ) -> Result<(), ErrorPayload> {
        let max = self.cfg.limits.max_sessions_per_principal;
        if max == usize::MAX {
            return Ok(());
        }
        let held = self
            .sessions
            .values()
            .filter(|s| !s.expired && s.principal == principal)
            .count();
        if held < max {
            return Ok(());
        }
        self.metrics.limit_hit(LimitKind::SessionsPerPrincipal);
        self.push_event(RuntimeEvent::LimitExceeded {
            conn,
            principal: Some(principal.to_owned()),
            limit: LimitKind::SessionsPerPrincipal,
        });
        Err(limit_error(
            LimitKind::SessionsPerPrincipal,
            &format!("principal already holds {held} sessions (limit {max})"),
        ))
    }

    /// Jobs-per-principal check for a submit; `Err` is the error to send.
    pub(super) fn check_job_limit(
        &mut self,
        conn: ConnId,
        principal: &str,
    ) -> Result<(), ErrorPayload> {
        let max = self.cfg.limits.max_jobs_per_principal;
        if max == usize::MAX {
            return Ok(());
        }
        let running: usize = self
            .sessions
            .values()
            .filter(|s| s.principal == principal)
            .map(|s| s.active_jobs)
            .sum();
        if running < max {
            return Ok(());
        }
        self.metrics.limit_hit(LimitKind::JobsPerPrincipal);
        self.push_event(RuntimeEvent::LimitExceeded {
            conn,
            principal: Some(principal.to_owned()),
            limit: LimitKind::JobsPerPrincipal,
        });
        Err(limit_error(
            LimitKind::JobsPerPrincipal,
            &format!("principal already has {running} unfinished jobs (limit {max})"),
        ))
    }

    /// The audit record of one `job.subscribe` (spec §14).
    pub(super) fn audit_subscribe(
        &mut self,
        session_id: &str,
        subscriber: &str,
        job_id: &str,
        decision: SubscribeDecision,
    ) {
        let target_principal = self.jobs.get(job_id).map(|j| j.principal.clone());
        self.push_event(RuntimeEvent::SubscribeAudit {
            session_id: session_id.to_owned(),
            subscriber_principal: subscriber.to_owned(),
            job_id: job_id.to_owned(),
            target_principal,
            decision,
        });
    }
}
