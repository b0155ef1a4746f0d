//! Counters the host reads through `Runtime::metrics()`: sessions, jobs by final status,
//! frames and bytes out, resume outcomes, auth failures by reason, limits hit, and the §14
//! operator signals (subscribe decisions, refused operations, lease expiries, heartbeat losses,
//! failed revocations).

use super::event::LimitKind;
use super::event::{RuntimeEvent, SubscribeDecision};
use crate::wire::{ErrorCode, JobStatus};
use std::collections::BTreeMap;

/// Distinct auth-failure reasons kept; further reasons are counted under `"other"`.
pub const MAX_AUTH_FAILURE_REASONS: usize = 32;

/// A snapshot of the runtime's counters. Every counter only grows (saturating); the fields
/// marked "gauge" are current figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// New sessions welcomed (resumes are counted in `resumes_succeeded`).
    pub sessions_opened: u64,
    /// Jobs that ended `success`.
    pub jobs_succeeded: u64,
    /// Jobs that ended `error`.
    pub jobs_failed: u64,
    /// Jobs that ended `cancelled`.
    pub jobs_cancelled: u64,
    /// Jobs that ended `timed_out`.
    pub jobs_timed_out: u64,
    /// Frames handed to the host by `poll_transmit`.
    pub frames_out: u64,
    /// Of those, `job.event` frames.
    pub events_out: u64,
    /// Resumes that were welcomed.
    pub resumes_succeeded: u64,
    /// Resumes refused `RESUME_WINDOW_EXPIRED`.
    pub resumes_expired: u64,
    /// Resumes refused otherwise (unknown session, wrong token or principal, attached).
    pub resumes_denied: u64,
    /// Failed authentications, by reason: the host's reason from
    /// [`EffectOutcome::AuthFailed`](super::EffectOutcome::AuthFailed), `"failed"` for a plain
    /// `Failed`, `"invalid_outcome"` for any other answer. At most
    /// [`MAX_AUTH_FAILURE_REASONS`] keys, then `"other"`.
    pub auth_failures: BTreeMap<String, u64>,
    /// Hellos refused by `max_sessions_per_principal`.
    pub sessions_per_principal_denied: u64,
    /// Submits refused by `max_jobs_per_principal`.
    pub jobs_per_principal_denied: u64,
    /// Connections closed for zero throughput.
    pub zero_throughput_closed: u64,
    /// `job.subscribe` requests the observer policy allowed (spec §14 audit).
    pub subscribes_allowed: u64,
    /// `job.subscribe` requests refused (policy, or no such job).
    pub subscribes_denied: u64,
    /// `job.subscribe` requests the policy allowed but the subscription cap refused.
    pub subscribes_over_limit: u64,
    /// Operations of running jobs the lease gate refused `PERMISSION_DENIED`.
    pub operations_denied: u64,
    /// Operations refused `LEASE_EXPIRED` at the gate.
    pub operations_lease_expired: u64,
    /// Operations refused `BUDGET_EXHAUSTED` at the gate.
    pub operations_budget_exhausted: u64,
    /// Running jobs ended `LEASE_EXPIRED` by the expiry watchdog ([D30]).
    ///
    /// [D30]: crate::compat#d30--expiry
    pub leases_expired: u64,
    /// Connections closed for a lost heartbeat ([D25]).
    ///
    /// [D25]: crate::compat#d25--heartbeat-loss
    pub heartbeats_lost: u64,
    /// Credentials that could not be revoked.
    pub revocations_failed: u64,
    /// Subscriptions ended by a truncation notice (history no longer kept, or the
    /// subscriber's buffer full).
    pub subscriptions_truncated: u64,
    /// Resumable sessions expired before their resume window elapsed, because their
    /// principal held more than `max_resumable_sessions_per_principal` or all resumable
    /// rings held more than `max_resumable_ring_bytes`.
    pub resumable_sessions_evicted: u64,
    /// Gauge (not a counter): bytes the runtime keeps now — every session ring's encoded
    /// frames, the encoded terminal and `job.accepted` messages kept for idempotent resubmits
    /// ([D27]) and the estimated heap bytes of the finished job records kept for listing and
    /// subscription (`Bounds::max_finished_job_bytes`, until `Bounds::finished_job_ttl`; see
    /// [`Runtime::metrics`](super::Runtime::metrics)).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    pub retained_bytes: u64,
    /// Gauge: of `retained_bytes`, the rings of detached (resumable) sessions.
    pub resumable_ring_bytes: u64,
}

fn inc(c: &mut u64) {
    *c = c.saturating_add(1);
}

impl RuntimeMetrics {
    /// Counts what a runtime event says (sessions opened, resumes, job ends).
    pub(super) fn observe(&mut self, ev: &RuntimeEvent) {
        match ev {
            RuntimeEvent::SessionOpened { resumed: false, .. } => inc(&mut self.sessions_opened),
            RuntimeEvent::SessionOpened { resumed: true, .. } => inc(&mut self.resumes_succeeded),
            RuntimeEvent::JobEnded { status, .. } => match status {
                JobStatus::Success => inc(&mut self.jobs_succeeded),
                JobStatus::Error => inc(&mut self.jobs_failed),
                JobStatus::Cancelled => inc(&mut self.jobs_cancelled),
                JobStatus::TimedOut => inc(&mut self.jobs_timed_out),
                JobStatus::Pending | JobStatus::Running => {}
            },
            RuntimeEvent::SubscribeAudit { decision, .. } => match decision {
                SubscribeDecision::Allowed => inc(&mut self.subscribes_allowed),
                SubscribeDecision::Denied => inc(&mut self.subscribes_denied),
                SubscribeDecision::OverLimit => inc(&mut self.subscribes_over_limit),
            },
            RuntimeEvent::OperationRefused { code, .. } => match code {
                ErrorCode::LeaseExpired => inc(&mut self.operations_lease_expired),
                ErrorCode::BudgetExhausted => inc(&mut self.operations_budget_exhausted),
                _ => inc(&mut self.operations_denied),
            },
            RuntimeEvent::LeaseExpired { .. } => inc(&mut self.leases_expired),
            RuntimeEvent::HeartbeatLost { .. } => inc(&mut self.heartbeats_lost),
            RuntimeEvent::CredentialRevocationFailed { .. } => inc(&mut self.revocations_failed),
            _ => {}
        }
    }

    /// A frame handed to the host.
    /// (Bytes out are the adapter's to count: it holds the encoded frame, and counting here
    /// would serialise every frame a second time.)
    pub(super) fn frame_out(&mut self, is_event: bool) {
        inc(&mut self.frames_out);
        if is_event {
            inc(&mut self.events_out);
        }
    }

    /// A refused resume.
    pub(super) fn resume_refused(&mut self, code: &ErrorCode) {
        if *code == ErrorCode::ResumeWindowExpired {
            inc(&mut self.resumes_expired);
        } else {
            inc(&mut self.resumes_denied);
        }
    }

    /// A failed authentication.
    pub(super) fn auth_failed(&mut self, reason: &str) {
        let key = if self.auth_failures.contains_key(reason)
            || self.auth_failures.len() < MAX_AUTH_FAILURE_REASONS - 1
        {
            reason
        } else {
            "other"
        };
        inc(self.auth_failures.entry(key.to_owned()).or_insert(0));
    }

    /// A resumable session was expired early.
    pub(super) fn resumable_evicted(&mut self) {
        inc(&mut self.resumable_sessions_evicted);
    }

    /// A limit refused or closed something.
    pub(super) fn limit_hit(&mut self, kind: LimitKind) {
        match kind {
            LimitKind::SessionsPerPrincipal => inc(&mut self.sessions_per_principal_denied),
            LimitKind::JobsPerPrincipal => inc(&mut self.jobs_per_principal_denied),
            LimitKind::ZeroThroughput => inc(&mut self.zero_throughput_closed),
        }
    }
}
