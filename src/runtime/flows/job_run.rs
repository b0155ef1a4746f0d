//! A running job: agent events stamped with the session's `event_seq` and fanned out to
//! subscribers ([D10]), result chunks ([D32]), terminal frames exactly once, cancel ([D6], [D7],
//! [D37]), `max_runtime_sec` ([D8]), lease expiry ([D30]) and the lease gate.
//!
//! [D10]: crate::compat#d10--subscribed-events
//! [D32]: crate::compat#d32--chunk-order
//! [D6]: crate::compat#d6--cancel
//! [D7]: crate::compat#d7--who-may-cancel
//! [D37]: crate::compat#d37--existence-leak
//! [D8]: crate::compat#d8--timeout
//! [D30]: crate::compat#d30--expiry

use crate::lease::Operation;
use crate::runtime::Runtime;
use crate::runtime::effect::{ConnId, Effect};
use crate::runtime::event::{AgentEvent, AgentReply, RuntimeEvent};
use crate::runtime::jobs::Job;
use crate::runtime::jobs::chunks::Chunk;
use crate::runtime::jobs::lease::float_number;
use crate::runtime::outbox::TimerKey;
use crate::time::Instant;
use crate::wire::{
    ErrorCode, ErrorPayload, EventBody, Feature, FinalStatus, IdKind, JobError, JobEvent, JobId,
    JobResult, JobStatus, Message, MetricValue, TraceId,
};
use serde_json::Value;
use std::sync::Arc;

fn err(code: ErrorCode, msg: impl Into<String>) -> ErrorPayload {
    ErrorPayload::new(code, msg)
}

/// What stamping a job's frame needs of the job, read in one lookup.
struct JobView {
    /// The submitting session (shared, not copied: compared and looked up for every target).
    owner: Arc<str>,
    trace: Option<TraceId>,
    /// The job's last seq before this frame: what a truncated subscriber has.
    prev_last: u64,
}

impl JobView {
    fn of(job: &Job) -> Self {
        JobView {
            owner: job.shared_session_id(),
            trace: job.trace_id(),
            prev_last: job.event_seqs().0,
        }
    }
}

impl Runtime {
    /// Sends a job frame to its submitting session and every subscriber, each in its own
    /// `event_seq` space ([D10]). A rotated credential's value only reaches sessions of the
    /// submitting principal that negotiated `provisioned_credentials` (§9.8, [D26]). A
    /// subscriber whose buffer is full gets the truncation notice instead, and its
    /// subscription ends (subscribers never hold the job back).
    ///
    /// [D10]: crate::compat#d10--subscribed-events
    /// [D26]: crate::compat#d26--non-negotiated-features
    pub(in crate::runtime) fn emit_job(&mut self, now: Instant, job_id: &str, message: Message) {
        let Some(job) = self.jobs.get(job_id) else {
            return;
        };
        let view = JobView::of(job);
        self.emit_job_viewed(now, job_id, view, message);
    }

    /// [`Runtime::emit_job`] with what it needs of the job already read (`view`, taken just
    /// before: the agent event path reads it in the lookup that checks the job is live).
    fn emit_job_viewed(&mut self, now: Instant, job_id: &str, view: JobView, message: Message) {
        let JobView {
            owner,
            trace,
            prev_last,
        } = view;
        let owner_sid: &str = &owner;
        // Empty for most jobs: cloning an empty Vec does not allocate.
        let subs = self.subs.subscribers(job_id).to_vec();
        let terminal = message.message_type().is_terminal();
        // Clustered: the submitting session is held by another node, which stamps the frame.
        let forward = self.clustered() && self.sessions.get(owner_sid).is_none();
        // Only a rotated credential's status depends on the target session (§9.8, D26).
        let rotated = matches!(
            &message,
            Message::Event(JobEvent { body: EventBody::Status(st), .. })
                if st.phase == "credential_rotated"
        );
        // The common case, the submitting session alone: no per-target checks, no moves of
        // the message through the target loop.
        if !forward && !rotated && subs.iter().all(|s| s == owner_sid) {
            self.stamp_job_frame(now, owner_sid, true, job_id, trace, message);
            if terminal {
                self.subs.end_job(job_id);
            }
            return;
        }
        // The owner first, then each other subscriber; no target list is built.
        let mut targets = std::iter::once(owner_sid)
            .chain(subs.iter().map(String::as_str).filter(|s| *s != owner_sid))
            .peekable();
        // The last target takes the message itself: with no subscribers, no clone at all.
        let mut message = Some(message);
        while let Some(sid) = targets.next() {
            let next = if targets.peek().is_none() {
                message.take()
            } else {
                message.clone()
            };
            let Some(mut msg) = next else {
                break;
            };
            // A durable subscriber's paused connection at its transmit cap counts as full.
            if sid != owner_sid && (self.sessions.full(sid) || self.owner_backlogged(sid)) {
                let kept_from = self
                    .sessions
                    .get(owner_sid)
                    .map_or(prev_last, |s| s.freed_through())
                    + 1;
                self.truncate(now, sid, job_id, prev_last, kept_from);
                continue;
            }
            if rotated {
                let keep_secret = self.sessions.get(sid).is_some_and(|s| {
                    self.jobs
                        .get(job_id)
                        .is_some_and(|j| s.principal() == j.principal())
                        && s.has(Feature::ProvisionedCredentials)
                });
                if !keep_secret
                    && let Message::Event(JobEvent {
                        body: EventBody::Status(st),
                        ..
                    }) = &mut msg
                {
                    st.value = None;
                }
            }
            if forward && sid == owner_sid {
                self.forward_job_frame(now, owner_sid, job_id, trace, msg);
                continue;
            }
            self.stamp_job_frame(now, sid, sid == owner_sid, job_id, trace, msg);
        }
        if terminal {
            self.subs.end_job(job_id);
        }
    }

    /// Stamps a job frame of `message` for session `sid`; on the submitting session's
    /// (`owner`) frames the job records the seq.
    #[inline]
    fn stamp_job_frame(
        &mut self,
        now: Instant,
        sid: &str,
        owner: bool,
        job_id: &str,
        trace: Option<TraceId>,
        message: Message,
    ) {
        let f = self.job_frame(now, job_id, trace, message);
        let seq = self.stamp(sid, f);
        if owner && seq > 0 {
            self.jobs.set_last_event_seq(job_id, seq);
        }
    }

    /// A `job.event` of `body`, stamped now.
    pub(in crate::runtime) fn emit_event(&mut self, now: Instant, job_id: &str, body: EventBody) {
        let ev = JobEvent {
            ts: self.ids.timestamp_at(now),
            body,
        };
        self.emit_job(now, job_id, Message::Event(ev));
    }

    /// Ends a job with `message` (a `job.result` or `job.error`), exactly once, then its
    /// live descendants with `cancelled` (§10).
    pub(in crate::runtime) fn finish(
        &mut self,
        now: Instant,
        job_id: &str,
        message: Message,
        status: JobStatus,
        stop_agent: bool,
    ) {
        if self.finish_one(now, job_id, message, status, stop_agent) {
            self.end_children(now, job_id);
        }
    }

    /// Ends one job (not its children); `false` when it had already ended.
    fn finish_one(
        &mut self,
        now: Instant,
        job_id: &str,
        message: Message,
        status: JobStatus,
        stop_agent: bool,
    ) -> bool {
        let Some(ended) = self.jobs.end(job_id, status, &message) else {
            return false;
        };
        let parent_job_id = self
            .jobs
            .get(job_id)
            .and_then(|j| j.parent_job_id())
            .map(|p| crate::wire::JobId::from(p.to_owned()));
        let (result, error_code) = match &message {
            Message::Result(r) if parent_job_id.is_some() => (r.result.clone(), None),
            Message::Result(_) => (None, None),
            Message::JobError(e) => (None, Some(e.code.clone())),
            _ => (None, None),
        };
        let timed = ended.timed;
        // The held chunk goes first, with `more:false` on success (D32).
        if let Some(held) = self
            .jobs
            .take_held_chunk(job_id, status == JobStatus::Success)
        {
            self.emit_event(now, job_id, EventBody::ResultChunk(held));
        }
        self.emit_job(now, job_id, message);
        self.release_job_slot(&ended.session_id);
        if timed {
            self.out
                .cancel_timer(&TimerKey::MaxRuntime(job_id.to_owned()));
            self.out
                .cancel_timer(&TimerKey::LeaseExpiry(job_id.to_owned()));
        }
        if stop_agent {
            self.push_effect(
                Effect::CancelAgent {
                    job_id: job_id.to_owned().into(),
                },
                None,
            );
        }
        self.persist_job(job_id);
        self.revoke_all(job_id);
        self.arm_finished_expiry(now, job_id);
        let mut forgotten = self.jobs.trim_kept();
        forgotten.extend(self.jobs.trim_finished());
        for forgot in forgotten {
            self.subs.end_job(&forgot);
            self.out.cancel_timer(&TimerKey::FinishedJob(forgot));
        }
        self.out.push_event(RuntimeEvent::JobEnded {
            job_id: job_id.to_owned().into(),
            status,
            parent_job_id,
            result,
            error_code,
        });
        true
    }

    /// Ends a job with `job.error`.
    pub(in crate::runtime) fn fail_job(
        &mut self,
        now: Instant,
        job_id: &str,
        code: ErrorCode,
        message: String,
        stop_agent: bool,
    ) {
        let retryable = code.retryable();
        self.fail_job_with(now, job_id, code, message, retryable, stop_agent);
    }

    pub(in crate::runtime) fn fail_job_with(
        &mut self,
        now: Instant,
        job_id: &str,
        code: ErrorCode,
        message: String,
        retryable: bool,
        stop_agent: bool,
    ) {
        let e = JobError {
            final_status: FinalStatus::Error,
            code,
            message,
            retryable,
            completed_at: Some(self.ids.timestamp_at(now)),
            details: None,
        };
        self.finish(
            now,
            job_id,
            Message::JobError(e),
            JobStatus::Error,
            stop_agent,
        );
    }

    pub(in crate::runtime) fn end_with_status(
        &mut self,
        now: Instant,
        job_id: &str,
        status: FinalStatus,
    ) {
        let r = self.status_result(now, status);
        self.finish(now, job_id, Message::Result(r), status.status(), true);
    }

    /// Ends one job with `job.result` of `status` and stops its agent; not its children.
    pub(in crate::runtime) fn end_one(&mut self, now: Instant, job_id: &str, status: FinalStatus) {
        let r = self.status_result(now, status);
        self.finish_one(now, job_id, Message::Result(r), status.status(), true);
    }

    fn status_result(&self, now: Instant, status: FinalStatus) -> JobResult {
        JobResult {
            final_status: status,
            result: None,
            result_id: None,
            result_size: None,
            summary: None,
            completed_at: Some(self.ids.timestamp_at(now)),
        }
    }

    /// `job.cancel` ([D6], [D7], [D37]): only the submitting session cancels.
    ///
    /// [D6]: crate::compat#d6--cancel
    /// [D7]: crate::compat#d7--who-may-cancel
    /// [D37]: crate::compat#d37--existence-leak
    pub(in crate::runtime) fn cancel(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        request_id: String,
        job_id: &str,
    ) {
        let principal = self
            .sessions
            .get(sid)
            .map(|s| s.principal().to_owned())
            .unwrap_or_default();
        if self.jobs.get(job_id).is_none()
            && let Some(verdict) =
                self.jobs
                    .may_cancel_remote(job_id, &principal, sid, &self.cfg.observer_policy)
        {
            // Clustered: the job runs on another node; its terminal comes back forwarded.
            match verdict {
                Err(e) => self.send_error(now, conn, e.with_request_id(request_id)),
                Ok(true) => {
                    let job_id = job_id.to_owned().into();
                    self.push_effect(Effect::ForwardCancel { job_id }, None);
                }
                Ok(false) => {}
            }
            return;
        }
        if self.jobs.get(job_id).is_none() && self.clustered() {
            // Clustered: the job may run on another node (flows/remote_subscribe.rs).
            self.cancel_remote(now, conn, sid, request_id, job_id);
            return;
        }
        let verdict = self
            .jobs
            .may_cancel(job_id, &principal, sid, &self.cfg.observer_policy);
        match verdict {
            Err(e) => self.send_error(now, conn, e.with_request_id(request_id)),
            Ok(true) => self.end_with_status(now, job_id, FinalStatus::Cancelled),
            Ok(false) => {}
        }
    }

    /// Decision [D8]: `job.result timed_out`.
    ///
    /// [D8]: crate::compat#d8--timeout
    pub(in crate::runtime) fn max_runtime_elapsed(&mut self, now: Instant, job_id: &str) {
        self.end_with_status(now, job_id, FinalStatus::TimedOut);
    }

    /// Decision [D30]: `job.error LEASE_EXPIRED` at `expires_at`.
    ///
    /// [D30]: crate::compat#d30--expiry
    pub(in crate::runtime) fn lease_expired(&mut self, now: Instant, job_id: &str) {
        if let Some(j) = self.jobs.get(job_id) {
            let ev = RuntimeEvent::LeaseExpired {
                job_id: job_id.to_owned().into(),
                principal: j.principal().to_owned(),
                session_id: j.session_id().to_owned().into(),
            };
            self.out.push_event(ev);
        }
        self.fail_job(
            now,
            job_id,
            ErrorCode::LeaseExpired,
            "lease expired while job was running".into(),
            true,
        );
    }

    /// The lease gate agents call before every authority-bearing operation: expiry
    /// (`LEASE_EXPIRED`), patterns (`PERMISSION_DENIED`), budget (`BUDGET_EXHAUSTED`) ([D30]).
    ///
    /// [D30]: crate::compat#d30--expiry
    pub fn authorize(
        &self,
        now: Instant,
        job_id: &JobId,
        op: &Operation,
    ) -> Result<(), ErrorPayload> {
        self.authorize_job(now, job_id.as_str(), op)
    }

    /// [`Runtime::authorize`] by the internal `&str` key.
    pub(crate) fn authorize_job(
        &self,
        now: Instant,
        job_id: &str,
        op: &Operation,
    ) -> Result<(), ErrorPayload> {
        // Clamped like every input (a query: the latest `now` is not moved).
        let now = now.max(self.now);
        self.jobs.authorize(job_id, &self.ids.timestamp_at(now), op)
    }

    /// A checked operation (spec §9.3): the same lease gate as [`Runtime::authorize`]
    /// (expiry, patterns, budget), returning on success the target exactly as it was matched
    /// — an `fs.*` path normalised, a `net.fetch` URL canonical, a name as given — so that
    /// the agent acts on what was authorised. A refusal of a live job is also reported as a
    /// [`RuntimeEvent::OperationRefused`] (the §14 audit) and counted in the metrics.
    pub fn check_operation(
        &mut self,
        now: Instant,
        job_id: &JobId,
        op: &Operation,
    ) -> Result<String, ErrorPayload> {
        let now = self.clamp(now);
        let id = job_id.as_str();
        let verdict = self
            .jobs
            .authorize_target(id, &self.ids.timestamp_at(now), op);
        if let Err(e) = &verdict
            && let Some(j) = self.jobs.get(id)
            && !j.status().is_terminal()
        {
            let ev = RuntimeEvent::OperationRefused {
                job_id: job_id.clone(),
                principal: j.principal().to_owned(),
                session_id: j.session_id().to_owned().into(),
                namespace: op.namespace.clone(),
                target: op.target.clone(),
                code: e.code.clone(),
            };
            self.out.push_event(ev);
        }
        verdict
    }

    /// Something a running agent emitted. Errors go back to the agent (the job's state is
    /// unchanged): an unknown or ended job, a negative cost ([D31]), a refused delegation.
    ///
    /// [D31]: crate::compat#d31--negative-cost
    pub fn handle_agent_event(
        &mut self,
        now: Instant,
        job_id: &JobId,
        event: AgentEvent,
    ) -> Result<AgentReply, ErrorPayload> {
        let job_id = job_id.as_str();
        let now = self.clamp(now);
        let view = JobView::of(self.jobs.check_live(job_id)?);
        match event {
            AgentEvent::Event(EventBody::ResultChunk(c)) => {
                let chunk = Chunk {
                    chunk_seq: c.chunk_seq,
                    data: c.data,
                    encoding: c.encoding,
                    more: c.more,
                };
                self.result_chunk(now, job_id, chunk);
            }
            AgentEvent::Event(EventBody::Metric(mut m)) => {
                let applied = self.jobs.apply_cost(job_id, &m)?;
                // The reference re-serialises metric values as floats.
                if let MetricValue::Number(n) = &m.value {
                    m.value = MetricValue::Number(float_number(n.as_f64().unwrap_or(0.0)));
                } else if let MetricValue::Text(t) = &m.value
                    && let Ok(v) = t.parse::<f64>()
                {
                    m.value = MetricValue::Number(float_number(v));
                }
                self.emit_event(now, job_id, EventBody::Metric(m));
                if let Some(Some(rem)) = applied {
                    self.emit_event(now, job_id, EventBody::Metric(rem));
                }
            }
            // D33: `current` (and `total`) any non-negative number; anything else is refused
            // to the agent and nothing is emitted.
            AgentEvent::Event(EventBody::Progress(p))
                if p.current.as_f64().is_none_or(|c| c < 0.0)
                    || p.total
                        .as_ref()
                        .is_some_and(|t| t.as_f64().is_none_or(|t| t < 0.0)) =>
            {
                return Err(err(
                    ErrorCode::InvalidRequest,
                    "progress current and total must be non-negative numbers",
                ));
            }
            // §8.2.1 (a SHOULD) and the reference's body definition (`total ≥ current`):
            // `current` above `total` is refused the same way, nothing emitted.
            AgentEvent::Event(EventBody::Progress(p))
                if p.total
                    .as_ref()
                    .and_then(serde_json::Number::as_f64)
                    .is_some_and(|t| p.current.as_f64().is_some_and(|c| c > t)) =>
            {
                return Err(err(
                    ErrorCode::InvalidRequest,
                    "progress current must not exceed total",
                ));
            }
            AgentEvent::Event(body) => {
                let ev = JobEvent {
                    ts: self.ids.timestamp_at(now),
                    body,
                };
                self.emit_job_viewed(now, job_id, view, Message::Event(ev));
            }
            AgentEvent::ResultChunk {
                chunk_seq,
                data,
                encoding,
                more,
            } => {
                let chunk = Chunk {
                    chunk_seq,
                    data,
                    encoding,
                    more,
                };
                self.result_chunk(now, job_id, chunk);
            }
            AgentEvent::Result { result, summary } => {
                self.agent_result(now, job_id, result, summary)
            }
            AgentEvent::Error {
                code,
                message,
                retryable,
            } => {
                // §12: the agent's flag, normalised per code.
                let r = code.normalize_retryable(retryable);
                self.fail_job_with(now, job_id, code, message, r, false);
            }
            AgentEvent::Delegate {
                agent,
                input,
                lease,
                lease_constraints,
            } => {
                let child = self.delegate(now, job_id, agent, input, lease, lease_constraints)?;
                return Ok(AgentReply::Delegated {
                    child_job_id: child.into(),
                });
            }
            AgentEvent::CredentialRotated { id, value } => {
                self.rotate_credential(now, job_id, id, value)?;
            }
        }
        Ok(AgentReply::Ok)
    }

    /// A successful end: inline, or streamed when chunks were sent ([D32], [D34]).
    ///
    /// [D32]: crate::compat#d32--chunk-order
    /// [D34]: crate::compat#d34--null-result
    fn agent_result(
        &mut self,
        now: Instant,
        job_id: &str,
        result: Option<Value>,
        summary: Option<String>,
    ) {
        let streamed = self.jobs.streamed(job_id);
        let result = result.filter(|v| !v.is_null());
        let r = match streamed {
            Some((rid, size)) => {
                if result.is_some() {
                    self.fail_job(
                        now,
                        job_id,
                        ErrorCode::InvalidRequest,
                        "inline result after result chunks".into(),
                        false,
                    );
                    return;
                }
                JobResult {
                    final_status: FinalStatus::Success,
                    result: None,
                    result_id: Some(rid),
                    result_size: Some(size),
                    summary,
                    completed_at: Some(self.ids.timestamp_at(now)),
                }
            }
            None => JobResult {
                final_status: FinalStatus::Success,
                result,
                result_id: None,
                result_size: None,
                summary: None,
                completed_at: Some(self.ids.timestamp_at(now)),
            },
        };
        self.finish(now, job_id, Message::Result(r), JobStatus::Success, false);
    }

    /// One result chunk (§8.4, [D32]): emitted in order, or the job fails.
    ///
    /// [D32]: crate::compat#d32--chunk-order
    fn result_chunk(&mut self, now: Instant, job_id: &str, chunk: Chunk) {
        let ids = &mut self.ids;
        match self
            .jobs
            .chunk(job_id, chunk, || ids.mint(now, IdKind::Result))
        {
            Ok(bodies) => {
                for b in bodies {
                    self.emit_event(now, job_id, EventBody::ResultChunk(b));
                }
            }
            Err((code, message)) => self.fail_job(now, job_id, code, message, true),
        }
    }
}
