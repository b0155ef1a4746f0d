//! Jobs: submit (idempotency D27 → agent → lease → credentials → `job.accepted` →
//! `StartAgent`), agent events with the session's `event_seq`, terminal frames, cancel
//! (D6, D7, D37), `max_runtime_sec` (D8), lease expiry (D30) and the lease gate.

use super::effect::{AgentStart, ConnId, Effect, EffectId, EffectOutcome};
use super::event::{AgentEvent, AgentReply, RuntimeEvent};
use super::jobs::chunks::Chunk;
use super::jobs::lease::{JobLease, float_number};
use super::jobs::{Job, NewJob, Room, Waiter, resolve_agent};
use super::outbox::TimerKey;
use super::{Pending, Runtime};
use crate::lease::Operation;
use crate::time::Instant;
use crate::wire::{
    Accepted, Credential, ErrorCode, ErrorPayload, EventBody, FinalStatus, Frame, IdKind, JobError,
    JobEvent, JobResult, JobStatus, Message, MetricValue, Submit, TraceId,
};
use serde_json::Value;
use std::time::Duration;

fn err(code: ErrorCode, msg: impl Into<String>) -> ErrorPayload {
    ErrorPayload::new(code, msg)
}

impl Runtime {
    /// Routes a finished effect.
    pub(super) fn complete_effect(
        &mut self,
        now: Instant,
        id: EffectId,
        p: Pending,
        outcome: EffectOutcome,
    ) {
        match p {
            Pending::Auth(req) => {
                let principal = match outcome {
                    EffectOutcome::Authenticated { principal } => Ok(principal),
                    EffectOutcome::AuthFailed { reason, message } => {
                        self.out.metrics_mut().auth_failed(&reason);
                        Err(message)
                    }
                    EffectOutcome::Failed { message } => {
                        self.out.metrics_mut().auth_failed("failed");
                        Err(message)
                    }
                    _ => {
                        self.out.metrics_mut().auth_failed("invalid_outcome");
                        Err("invalid bearer token".to_owned())
                    }
                };
                self.auth_done(now, id, *req, principal);
            }
            Pending::Mint(nj) => match outcome {
                EffectOutcome::Minted { credentials } => self.accept(now, *nj, credentials),
                EffectOutcome::Failed { message } => {
                    let e = err(
                        ErrorCode::InternalError,
                        format!("credential provisioning failed: {message}"),
                    );
                    let mut answer = self.jobs.end_minting(&nj.job_id);
                    if let (Some(conn), Some(rid)) = (nj.conn, nj.request_id.clone()) {
                        answer.insert(
                            0,
                            Waiter {
                                conn,
                                session_id: nj.session_id.clone(),
                                request_id: rid,
                            },
                        );
                    }
                    for w in answer {
                        self.send_error(now, w.conn, e.clone().with_request_id(w.request_id));
                    }
                    if let Some((key, _)) = &nj.idempotency {
                        self.jobs.forget_key(&nj.principal, key);
                    }
                    self.release_job_slot(&nj.session_id);
                }
                _ => self.accept(now, *nj, Vec::new()),
            },
            Pending::Start { job_id } => {
                if let EffectOutcome::Failed { message } = outcome {
                    self.fail_job(now, &job_id, ErrorCode::InternalError, message, false);
                }
            }
            Pending::Revoke {
                job_id,
                credential_id,
            } => self.revoke_done(now, &job_id, &credential_id, outcome),
            Pending::Append { session_id, seq } => {
                if let EffectOutcome::Failed { message } = outcome {
                    self.out.push_event(RuntimeEvent::StorageFailed { message });
                }
                self.append_done(&session_id, seq);
            }
            Pending::Welcome(pw) => {
                let ok = match outcome {
                    EffectOutcome::Failed { message } => Err(message),
                    _ => Ok(()),
                };
                self.welcome_persisted(now, id, *pw, ok);
            }
            Pending::ReadForResume(pw) => {
                let frames = match outcome {
                    EffectOutcome::EventsRead { frames } => Some(frames),
                    _ => None,
                };
                self.resume_read(now, id, *pw, frames);
            }
        }
    }

    /// `job.submit` (WIRE.md §12, D27).
    pub(super) fn submit(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        request_id: String,
        trace_id: Option<TraceId>,
        submit: Submit,
    ) {
        match self.validate_submit(now, conn, sid, &request_id, trace_id, submit) {
            Ok(None) => {}
            Ok(Some(nj)) => self.admit(now, nj),
            Err(e) => self.send_error(now, conn, e.with_request_id(request_id)),
        }
    }

    /// Idempotency first (D27), then caps, agent, lease, expiry, parent (D28).
    fn validate_submit(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        request_id: &str,
        trace_id: Option<TraceId>,
        submit: Submit,
    ) -> Result<Option<NewJob>, ErrorPayload> {
        let Some(session) = self.sessions.get(sid) else {
            return Ok(None);
        };
        let principal = session.principal().to_owned();
        // Only a keyed submit needs its canonical JSON (D27).
        let fingerprint = submit
            .idempotency_key
            .is_some()
            .then(|| serde_json::to_string(&submit).unwrap_or_default());
        if let Some(key) = &submit.idempotency_key
            && let Some(entry) = self.jobs.idempotent(now, &principal, key)
        {
            if Some(&entry.fingerprint) != fingerprint.as_ref() {
                return Err(err(
                    ErrorCode::DuplicateKey,
                    "idempotency_key reused with different parameters",
                ));
            }
            let job_id = entry.job_id.clone();
            if self.jobs.get(&job_id).is_some() {
                self.replay_accepted(now, conn, sid, request_id, &job_id);
                return Ok(None);
            }
            // Still minting credentials: answered once the job is accepted (D27).
            let waiter = Waiter {
                conn,
                session_id: sid.to_owned(),
                request_id: request_id.to_owned(),
            };
            if self.jobs.wait_for_minting(&job_id, waiter) {
                return Ok(None);
            }
        }
        let Some(session) = self.sessions.get(sid) else {
            return Ok(None);
        };
        let active = session.active_jobs();
        // Spec §14: PERMISSION_DENIED, details.limit "jobs_per_principal".
        self.check_job_limit(conn, &principal)?;
        if active >= self.cfg.bounds.max_jobs_per_session {
            return Err(err(
                ErrorCode::InternalError,
                "too many unfinished jobs on this session",
            ));
        }
        if !self.make_room_for_job() {
            return Err(err(
                ErrorCode::InternalError,
                "too many jobs in the runtime",
            ));
        }
        let agent = resolve_agent(&self.cfg, &submit.agent)?;
        let mut lease = JobLease::parse(
            submit.lease_request.as_ref().unwrap_or(&Default::default()),
            submit.lease_constraints.as_ref(),
        )?;
        lease.check_future(&self.ids.timestamp_at(now))?;
        if let Some(parent) = &submit.parent_job_id {
            // D28: a subset of the parent's lease, visible to this principal.
            lease = self
                .jobs
                .child_lease(parent, &principal, &self.cfg.observer_policy, &lease)?;
        }
        if self.effects_full() {
            return Err(err(ErrorCode::InternalError, "runtime busy, retry later"));
        }
        let job_id = self.mint(now, IdKind::Job);
        Ok(Some(NewJob {
            job_id,
            conn: Some(conn),
            session_id: sid.to_owned(),
            principal: principal.clone(),
            request_id: Some(request_id.to_owned()),
            trace_id,
            agent,
            input: submit.input.unwrap_or(Value::Null),
            lease,
            lease_constraints: submit.lease_constraints,
            idempotency: submit
                .idempotency_key
                .map(|k| (k, fingerprint.unwrap_or_default())),
            max_runtime_sec: submit.max_runtime_sec,
            parent_job_id: submit.parent_job_id,
            delegate_id: submit.delegate_id,
        }))
    }

    /// Makes room for one more job (retention cap): the forgotten job's subscriptions end;
    /// `false` when every remembered job is unfinished.
    pub(super) fn make_room_for_job(&mut self) -> bool {
        match self.jobs.make_room() {
            Room::Free => true,
            Room::Forgot(id) => {
                self.subs.end_job(&id);
                true
            }
            Room::Full => false,
        }
    }

    /// Reserves the session's job slot and mints credentials when the lease names `model.use`
    /// and the session negotiated `provisioned_credentials` (§9.8); otherwise accepts now.
    pub(super) fn admit(&mut self, now: Instant, nj: NewJob) {
        self.sessions.add_job(&nj.session_id);
        let wants_creds = nj.lease.map.get("model.use").is_some()
            && self
                .sessions
                .get(&nj.session_id)
                .is_some_and(|s| s.has("provisioned_credentials"));
        if wants_creds {
            let effect = Effect::MintCredentials {
                job_id: nj.job_id.clone(),
                principal: nj.principal.clone(),
                lease: nj.lease.map.clone(),
                lease_constraints: nj.lease_constraints.clone(),
                trace_id: nj.trace_id,
            };
            // The key is reserved while minting, so a resubmit waits for this job (D27).
            if let Some((key, fp)) = &nj.idempotency {
                self.jobs
                    .reserve_key(now, &nj.principal, key, fp, &nj.job_id);
            }
            self.jobs.start_minting(&nj.job_id);
            self.push_effect(effect, Some(Pending::Mint(Box::new(nj))));
        } else {
            self.accept(now, nj, Vec::new());
        }
    }

    pub(super) fn release_job_slot(&mut self, sid: &str) {
        self.sessions.release_job(sid);
    }

    /// Creates the job, sends `job.accepted` (not for delegated children) and starts the agent.
    pub(super) fn accept(&mut self, now: Instant, nj: NewJob, credentials: Vec<Credential>) {
        let accepted_at = self.ids.timestamp_at(now);
        let accepted = Accepted {
            job_id: nj.job_id.clone(),
            agent: nj.agent.clone(),
            accepted_at: accepted_at.clone(),
            lease: nj.lease.map.clone(),
            lease_constraints: nj.lease_constraints.clone(),
            budget: nj.lease.budget.clone(), // D12
            parent_job_id: nj.parent_job_id.clone(),
            delegate_id: nj.delegate_id.clone(),
            trace_id: nj.trace_id,
            credentials: (!credentials.is_empty()).then(|| credentials.clone()),
            request_id: nj.request_id.clone(),
        };
        let replayable = nj.idempotency.is_some() || self.cfg.durable;
        let job = Job::new(&nj, accepted_at, credentials.clone(), &accepted, replayable);
        self.jobs.insert(job);
        self.persist_job(&nj.job_id);
        for c in &credentials {
            self.persist_credential(&nj.job_id, &c.id, false);
        }
        if let Some((key, fp)) = &nj.idempotency {
            self.jobs
                .remember_key(now, &nj.principal, key, fp, &nj.job_id);
            self.persist_idempotency(now, &nj.principal, key, fp, &nj.job_id);
        }
        // Resubmits that arrived while the credentials were minted (D27).
        for w in self.jobs.end_minting(&nj.job_id) {
            self.replay_accepted(now, w.conn, &w.session_id, &w.request_id, &nj.job_id);
        }
        if nj.request_id.is_some() {
            let session = self.sessions.get(&nj.session_id);
            let conn = session.and_then(|s| s.conn());
            // D26: the session may have resumed without `provisioned_credentials` while the
            // credentials were minted; they then stay off the wire.
            let mut accepted = accepted;
            if !session.is_some_and(|s| s.has("provisioned_credentials")) {
                accepted.credentials = None;
            }
            if let Some(conn) = conn {
                let frame = self
                    .envelope(now, conn, Message::Accepted(accepted))
                    .with_job(nj.job_id.clone())
                    .with_trace(nj.trace_id);
                self.transmit(conn, frame);
            }
        }
        if let Some(secs) = nj.max_runtime_sec {
            let at = now + Duration::from_secs(u64::from(secs));
            self.out
                .set_timer(TimerKey::MaxRuntime(nj.job_id.clone()), at);
        }
        if let Some(exp) = &nj.lease.expires_at {
            // D30: ended with LEASE_EXPIRED at expires_at.
            let at = self.ids.instant_at(exp);
            self.out
                .set_timer(TimerKey::LeaseExpiry(nj.job_id.clone()), at);
        }
        let start = AgentStart {
            job_id: nj.job_id.clone(),
            agent: nj.agent,
            input: nj.input,
            lease: nj.lease.map,
            lease_constraints: nj.lease_constraints,
            credentials,
            principal: nj.principal,
            session_id: nj.session_id,
            parent_job_id: nj.parent_job_id,
            trace_id: nj.trace_id,
            max_runtime_sec: nj.max_runtime_sec,
        };
        self.push_effect(
            Effect::StartAgent(Box::new(start)),
            Some(Pending::Start { job_id: nj.job_id }),
        );
    }

    /// D27: the stored `job.accepted` with this request's id, in a fresh envelope on the
    /// current session, then a copy of the terminal frame when the job has ended.
    fn replay_accepted(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        request_id: &str,
        job_id: &str,
    ) {
        let Some(job) = self.jobs.get(job_id) else {
            return;
        };
        let trace = job.trace_id();
        let terminal = job.terminal().cloned();
        let owner = job.principal().to_owned();
        if let Some(mut acc) = job.accepted().cloned() {
            acc.request_id = Some(request_id.to_owned());
            // D26 over D27: the copy keeps the payload, except that credentials only go to a
            // session of the submitting principal that negotiated `provisioned_credentials`.
            let may_see = self
                .sessions
                .get(sid)
                .is_some_and(|s| s.principal() == owner && s.has("provisioned_credentials"));
            if !may_see {
                acc.credentials = None;
            }
            let f = self
                .envelope(now, conn, Message::Accepted(acc))
                .with_job(job_id)
                .with_trace(trace);
            self.transmit(conn, f);
        }
        if let Some(t) = terminal {
            let id = self.mint(now, IdKind::Envelope);
            let f = Frame::new(id, t).with_job(job_id).with_trace(trace);
            self.stamp(sid, f);
        }
    }

    /// Sends a job frame to its submitting session and every subscriber, each in its own
    /// `event_seq` space (D10). A rotated credential's value only reaches sessions of the
    /// submitting principal that negotiated `provisioned_credentials` (§9.8, D26).
    pub(super) fn emit_job(&mut self, now: Instant, job_id: &str, message: Message) {
        let Some(job) = self.jobs.get(job_id) else {
            return;
        };
        let owner_sid = job.session_id().to_owned();
        let trace = job.trace_id();
        // Empty for most jobs: cloning an empty Vec does not allocate.
        let subs = self.subs.subscribers(job_id).to_vec();
        let terminal = message.message_type().is_terminal();
        // Only a rotated credential's status depends on the target session (§9.8, D26).
        let rotated = matches!(
            &message,
            Message::Event(JobEvent { body: EventBody::Status(st), .. })
                if st.phase == "credential_rotated"
        );
        // The owner first, then each other subscriber; no target list is built.
        let mut targets = std::iter::once(&owner_sid)
            .chain(subs.iter().filter(|s| **s != owner_sid))
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
            if rotated {
                let keep_secret = self.sessions.get(sid).is_some_and(|s| {
                    self.jobs
                        .get(job_id)
                        .is_some_and(|j| s.principal() == j.principal())
                        && s.has("provisioned_credentials")
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
            // Built in place (the builder methods move the whole frame once each).
            let f = Frame {
                id: self.mint(now, IdKind::Envelope),
                session_id: None,
                trace_id: trace,
                job_id: Some(job_id.to_owned()),
                event_seq: None,
                message: msg,
            };
            let seq = self.stamp(sid, f);
            if *sid == owner_sid && seq > 0 {
                self.jobs.set_last_event_seq(job_id, seq);
            }
        }
        if terminal {
            self.subs.end_job(job_id);
        }
    }

    /// A `job.event` of `body`, stamped now.
    pub(super) fn emit_event(&mut self, now: Instant, job_id: &str, body: EventBody) {
        let ev = JobEvent {
            ts: self.ids.timestamp_at(now),
            body,
        };
        self.emit_job(now, job_id, Message::Event(ev));
    }

    /// Ends a job with `message` (a `job.result` or `job.error`), exactly once.
    pub(super) fn finish(
        &mut self,
        now: Instant,
        job_id: &str,
        message: Message,
        status: JobStatus,
        stop_agent: bool,
    ) {
        let Some(ended) = self.jobs.end(job_id, status, &message) else {
            return;
        };
        let (result, error_code) = match &message {
            Message::Result(r) => (r.result.clone(), None),
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
                    job_id: job_id.to_owned(),
                },
                None,
            );
        }
        self.persist_job(job_id);
        self.revoke_all(job_id);
        self.out.push_event(RuntimeEvent::JobEnded {
            job_id: job_id.to_owned(),
            status,
            result,
            error_code,
        });
    }

    /// Ends a job with `job.error`.
    pub(super) fn fail_job(
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

    pub(super) fn fail_job_with(
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

    fn end_with_status(&mut self, now: Instant, job_id: &str, status: FinalStatus) {
        let r = JobResult {
            final_status: status,
            result: None,
            result_id: None,
            result_size: None,
            summary: None,
            completed_at: Some(self.ids.timestamp_at(now)),
        };
        self.finish(now, job_id, Message::Result(r), status.status(), true);
    }

    /// `job.cancel` (D6, D7, D37): only the submitting session cancels.
    pub(super) fn cancel(
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
        let verdict = self
            .jobs
            .may_cancel(job_id, &principal, sid, &self.cfg.observer_policy);
        match verdict {
            Err(e) => self.send_error(now, conn, e.with_request_id(request_id)),
            Ok(true) => self.end_with_status(now, job_id, FinalStatus::Cancelled),
            Ok(false) => {}
        }
    }

    /// D8: `job.result timed_out`.
    pub(super) fn max_runtime_elapsed(&mut self, now: Instant, job_id: &str) {
        self.end_with_status(now, job_id, FinalStatus::TimedOut);
    }

    /// D30: `job.error LEASE_EXPIRED` at `expires_at`.
    pub(super) fn lease_expired(&mut self, now: Instant, job_id: &str) {
        self.fail_job(
            now,
            job_id,
            ErrorCode::LeaseExpired,
            "lease expired while job was running".into(),
            true,
        );
    }

    /// The lease gate agents call before every authority-bearing operation: expiry
    /// (`LEASE_EXPIRED`), patterns (`PERMISSION_DENIED`), budget (`BUDGET_EXHAUSTED`) (D30).
    pub fn authorize(
        &self,
        now: Instant,
        job_id: &str,
        op: &Operation,
    ) -> Result<(), ErrorPayload> {
        self.jobs.authorize(job_id, &self.ids.timestamp_at(now), op)
    }

    /// Something a running agent emitted. Errors go back to the agent (the job's state is
    /// unchanged): an unknown or ended job, a negative cost (D31), a refused delegation.
    pub fn handle_agent_event(
        &mut self,
        now: Instant,
        job_id: &str,
        event: AgentEvent,
    ) -> Result<AgentReply, ErrorPayload> {
        self.now = now;
        self.jobs.check_live(job_id)?;
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
            AgentEvent::Event(body) => self.emit_event(now, job_id, body),
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
                let r = retryable.unwrap_or_else(|| code.retryable());
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
                    child_job_id: child,
                });
            }
            AgentEvent::CredentialRotated { id, value } => {
                self.rotate_credential(now, job_id, id, value)?;
            }
        }
        Ok(AgentReply::Ok)
    }

    /// A successful end: inline, or streamed when chunks were sent (D32, D34).
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

    /// One result chunk (§8.4, D32): emitted in order, or the job fails.
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
