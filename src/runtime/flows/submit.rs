//! Submit (spec §7): idempotency first ([D27]), then caps, agent, lease, expiry and parent
//! ([D28]); credentials minted when the lease names `model.use` (§9.8); `job.accepted` and
//! `StartAgent`; an idempotent resubmit answered with the stored `job.accepted` ([D27]).
//!
//! [D27]: crate::compat#d27--idempotent-resubmit
//! [D28]: crate::compat#d28--delegation

use crate::runtime::Pending;
use crate::runtime::Runtime;
use crate::runtime::effect::{AgentStart, ConnId, Effect};
use crate::runtime::jobs::lease::JobLease;
use crate::runtime::jobs::{Job, NewJob, Room, Waiter, resolve_agent};
use crate::runtime::outbox::TimerKey;
use crate::time::Instant;
use crate::wire::{
    Accepted, Credential, ErrorCode, ErrorPayload, Feature, Frame, IdKind, LeaseConstraints,
    Message, Submit, TraceId,
};
use serde_json::Value;
use std::time::Duration;

fn err(code: ErrorCode, msg: impl Into<String>) -> ErrorPayload {
    ErrorPayload::new(code, msg)
}

impl Runtime {
    /// `job.submit` (spec §7, [D27]).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    pub(in crate::runtime) fn submit(
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
            // Clustered: the shared store admits it first (flows/admission.rs).
            Ok(Some(nj)) if self.clustered() => self.start_admission(now, nj),
            Ok(Some(nj)) => self.admit(now, nj),
            Err(e) => self.send_error(now, conn, e.with_request_id(request_id)),
        }
    }

    /// Idempotency first ([D27]), then caps, agent, lease, expiry, parent ([D28]).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    /// [D28]: crate::compat#d28--delegation
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
                // An ended job's copy of its terminal (D27) is stamped into the session's
                // buffer (with a durable store, an append): not past either bound.
                if self.effects_full() || self.sessions.full(sid) {
                    return Err(err(ErrorCode::InternalError, "runtime busy, retry later"));
                }
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
            // §10, D28, D37: a live parent of this principal whose lease delegates to this
            // agent; the child's lease a subset of the parent's.
            self.jobs.check_parent(
                parent,
                &principal,
                &self.cfg.observer_policy,
                &agent.name,
                &self.ids.timestamp_at(now),
            )?;
            lease = self.jobs.child_lease(parent, &lease)?;
        }
        if self.effects_full() {
            return Err(err(ErrorCode::InternalError, "runtime busy, retry later"));
        }
        let job_id = self.mint(now, IdKind::Job);
        if let Some(parent) = &submit.parent_job_id {
            // §10: the child's budget is reserved from the parent's counters.
            self.jobs
                .attach_child(parent, &job_id, lease.budget.as_ref())?;
        }
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
            // D22: a `+00:00` expiry is echoed with `Z`.
            lease_constraints: submit.lease_constraints.map(LeaseConstraints::zulu),
            idempotency: submit
                .idempotency_key
                .map(|k| (k, fingerprint.unwrap_or_default())),
            max_runtime_sec: submit.max_runtime_sec,
            parent_job_id: submit.parent_job_id.map(Into::into),
            delegate_id: submit.delegate_id,
        }))
    }

    /// Makes room for one more job (retention cap): the forgotten job's subscriptions end;
    /// `false` when every remembered job is unfinished.
    pub(in crate::runtime) fn make_room_for_job(&mut self) -> bool {
        match self.jobs.make_room() {
            Room::Free => true,
            Room::Forgot(id) => {
                self.subs.end_job(&id);
                self.out.cancel_timer(&TimerKey::FinishedJob(id));
                true
            }
            Room::Full => false,
        }
    }

    /// Reserves the session's job slot and mints credentials when the lease names `model.use`
    /// and the session negotiated `provisioned_credentials` (§9.8); otherwise accepts now.
    pub(in crate::runtime) fn admit(&mut self, now: Instant, nj: NewJob) {
        self.sessions.add_job(&nj.session_id);
        self.admit_reserved(now, nj);
    }

    /// [`Runtime::admit`] once the session's job slot is reserved.
    pub(in crate::runtime) fn admit_reserved(&mut self, now: Instant, nj: NewJob) {
        let wants_creds = nj.lease.map.get("model.use").is_some()
            && self
                .sessions
                .get(&nj.session_id)
                .is_some_and(|s| s.has(Feature::ProvisionedCredentials));
        if wants_creds {
            let effect = Effect::MintCredentials {
                job_id: nj.job_id.clone().into(),
                principal: nj.principal.clone(),
                lease: nj.lease.map.clone(),
                lease_constraints: nj.lease_constraints.clone(),
                budget: nj.lease.budget.clone(),
                expires_at: nj.lease.expires_at.clone(),
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

    pub(in crate::runtime) fn release_job_slot(&mut self, sid: &str) {
        self.sessions.release_job(sid);
    }

    /// Creates the job, sends `job.accepted` (not for delegated children) and starts the agent.
    pub(in crate::runtime) fn accept(
        &mut self,
        now: Instant,
        nj: NewJob,
        credentials: Vec<Credential>,
    ) {
        let accepted_at = self.ids.timestamp_at(now);
        let accepted = Accepted {
            job_id: nj.job_id.clone().into(),
            agent: nj.agent.clone(),
            accepted_at: accepted_at.clone(),
            lease: nj.lease.map.clone(),
            lease_constraints: nj.lease_constraints.clone(),
            budget: nj.lease.budget.clone(), // D12
            parent_job_id: nj.parent_job_id.clone().map(Into::into),
            delegate_id: nj.delegate_id.clone(),
            trace_id: nj.trace_id,
            credentials: (!credentials.is_empty()).then(|| credentials.clone()),
            request_id: nj.request_id.clone().map(Into::into),
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
            if !session.is_some_and(|s| s.has(Feature::ProvisionedCredentials)) {
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
        // §10: a parent that ended while this child's credentials were minted has already
        // cancelled its children; this one follows at once.
        let orphan = nj
            .parent_job_id
            .as_deref()
            .filter(|p| !self.jobs.is_live(p))
            .map(|_| nj.job_id.clone());
        let start = AgentStart {
            job_id: nj.job_id.clone().into(),
            agent: nj.agent,
            input: nj.input,
            lease: nj.lease.map,
            lease_constraints: nj.lease_constraints,
            credentials,
            principal: nj.principal,
            session_id: nj.session_id.into(),
            parent_job_id: nj.parent_job_id.map(Into::into),
            trace_id: nj.trace_id,
            max_runtime_sec: nj.max_runtime_sec,
        };
        self.push_effect(
            Effect::StartAgent(Box::new(start)),
            Some(Pending::Start { job_id: nj.job_id }),
        );
        if let Some(id) = orphan {
            self.end_one(now, &id, crate::wire::FinalStatus::Cancelled);
            self.end_children(now, &id);
        }
    }

    /// Decision [D27]: the stored `job.accepted` with this request's id, in a fresh envelope on the
    /// current session, then a copy of the terminal frame when the job has ended.
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    pub(in crate::runtime) fn replay_accepted(
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
        // Only to the connection still attached to the resubmitting session: one that closed
        // meanwhile (its id possibly reused by a new connection that said no hello) gets
        // nothing; its client resubmits after resuming.
        let attached = self.sessions.get(sid).and_then(|s| s.conn()) == Some(conn);
        if attached && let Some(mut acc) = job.accepted().cloned() {
            acc.request_id = Some(request_id.to_owned().into());
            // D26 over D27: the copy keeps the payload, except that credentials only go to a
            // session of the submitting principal that negotiated `provisioned_credentials`.
            let may_see = self
                .sessions
                .get(sid)
                .is_some_and(|s| s.principal() == owner && s.has(Feature::ProvisionedCredentials));
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
}
