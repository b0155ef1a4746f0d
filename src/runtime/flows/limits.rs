//! Abuse limits (spec §14): sessions per principal, concurrent jobs per principal, closing
//! sustained zero-throughput connections, and the audit record of every `job.subscribe`.
//!
//! Each over-limit outcome is documented on its field of
//! [`AbuseLimits`](crate::runtime::AbuseLimits). The runtime keeps serving every other
//! principal. Resumable sessions over their caps are expired early, oldest detach first.

use crate::runtime::Runtime;
use crate::runtime::conns::Throughput;
use crate::runtime::effect::{CloseReason, ConnId};
use crate::runtime::event::{LimitKind, RuntimeEvent, SubscribeDecision};
use crate::runtime::outbox::TimerKey;
use crate::time::Instant;
use crate::wire::{ErrorCode, ErrorPayload};
use serde_json::{Map, Value};
use std::time::Duration;

/// `PERMISSION_DENIED`, not retryable, `details: {"limit": ...}` ([D21]: `details` only when
/// non-empty). The caller adds the request's id ([D20]).
///
/// [D21]: crate::compat#d21--error-details
/// [D20]: crate::compat#d20--error-correlation
fn limit_error(kind: LimitKind, message: &str) -> ErrorPayload {
    let mut details = Map::new();
    details.insert("limit".into(), Value::String(kind.as_str().into()));
    let mut e = ErrorPayload::new(ErrorCode::PermissionDenied, message).with_details(details);
    e.retryable = false;
    e
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
    pub(in crate::runtime) fn arm_zero_throughput(&mut self, now: Instant, conn: ConnId) {
        if let Some(after) = self.zero_throughput_after() {
            self.out
                .set_timer(TimerKey::ZeroThroughput(conn), now + after);
        }
    }

    /// Checks a connection's throughput; closes it when idle past the timeout.
    pub(in crate::runtime) fn zero_throughput_check(&mut self, now: Instant, conn: ConnId) {
        let Some(after) = self.zero_throughput_after() else {
            return;
        };
        match self.conns.throughput(now, conn, after) {
            Throughput::Skip => return,
            Throughput::CheckAt(due) => {
                self.out.set_timer(TimerKey::ZeroThroughput(conn), due);
                return;
            }
            Throughput::Idle => {}
        }
        let principal = self.session_of(conn).map(|s| s.principal().to_owned());
        self.out.metrics_mut().limit_hit(LimitKind::ZeroThroughput);
        self.out.push_event(RuntimeEvent::LimitExceeded {
            conn,
            principal,
            limit: LimitKind::ZeroThroughput,
        });
        self.close_conn(now, conn, CloseReason::ZeroThroughput);
    }

    /// Sessions-per-principal check for a new session; `Err` is the error to send.
    pub(in crate::runtime) fn check_session_limit(
        &mut self,
        conn: ConnId,
        principal: &str,
    ) -> Result<(), ErrorPayload> {
        let max = self.cfg.limits.max_sessions_per_principal;
        if max == usize::MAX {
            return Ok(());
        }
        let held = self.sessions.held_by(principal);
        if held < max {
            return Ok(());
        }
        Err(self.principal_limit_hit(
            conn,
            principal,
            LimitKind::SessionsPerPrincipal,
            &format!("principal already holds {held} sessions (limit {max})"),
        ))
    }

    /// Expires resumable sessions early, the one detached longest ago first, while
    /// `principal` (just detached one) holds more than `max_resumable_sessions_per_principal`
    /// or the rings of all resumable sessions hold more than `max_resumable_ring_bytes`. Each
    /// ends as if its resume window had elapsed (a resume gets `RESUME_WINDOW_EXPIRED`).
    pub(in crate::runtime) fn enforce_resumable_caps(
        &mut self,
        now: Instant,
        principal: Option<&str>,
    ) {
        let max_per = self.cfg.limits.max_resumable_sessions_per_principal;
        let max_bytes = self.cfg.bounds.max_resumable_ring_bytes;
        loop {
            let victim = match principal {
                Some(p) if self.sessions.resumable_of(p) > max_per => {
                    self.sessions.oldest_resumable(Some(p))
                }
                _ if self.sessions.resumable_bytes() > max_bytes => {
                    self.sessions.oldest_resumable(None)
                }
                _ => None,
            };
            let Some(sid) = victim else {
                return;
            };
            self.out.metrics_mut().resumable_evicted();
            self.out.cancel_timer(&TimerKey::ResumeWindow(sid.clone()));
            // With a store, its record says the window closed now (a restart keeps it expired).
            self.persist_detached(&sid, now);
            self.resume_window_elapsed(now, &sid);
        }
    }

    /// Jobs-per-principal check for a submit; `Err` is the error to send.
    pub(in crate::runtime) fn check_job_limit(
        &mut self,
        conn: ConnId,
        principal: &str,
    ) -> Result<(), ErrorPayload> {
        let max = self.cfg.limits.max_jobs_per_principal;
        if max == usize::MAX {
            return Ok(());
        }
        let running = self.sessions.active_jobs_of(principal);
        if running < max {
            return Ok(());
        }
        Err(self.principal_limit_hit(
            conn,
            principal,
            LimitKind::JobsPerPrincipal,
            &format!("principal already has {running} unfinished jobs (limit {max})"),
        ))
    }

    /// A per-principal cap was reached: counts it, reports it to the host and returns the
    /// refusal to send (`PERMISSION_DENIED` with `details.limit`).
    pub(in crate::runtime) fn principal_limit_hit(
        &mut self,
        conn: ConnId,
        principal: &str,
        limit: LimitKind,
        message: &str,
    ) -> ErrorPayload {
        self.out.metrics_mut().limit_hit(limit);
        self.out.push_event(RuntimeEvent::LimitExceeded {
            conn,
            principal: Some(principal.to_owned()),
            limit,
        });
        limit_error(limit, message)
    }

    /// The audit record of one `job.subscribe` (spec §14).
    pub(in crate::runtime) fn audit_subscribe(
        &mut self,
        session_id: &str,
        subscriber: &str,
        job_id: &str,
        decision: SubscribeDecision,
    ) {
        let target_principal = self.jobs.get(job_id).map(|j| j.principal().to_owned());
        self.out.push_event(RuntimeEvent::SubscribeAudit {
            session_id: session_id.to_owned().into(),
            subscriber_principal: subscriber.to_owned(),
            job_id: job_id.to_owned().into(),
            target_principal,
            decision,
        });
    }
}
