//! Cluster-wide admission (clustered runtimes only): idempotency keys and the per-principal
//! caps hold across every node sharing the store.
//!
//! A `job.submit` that passed every local check (the local idempotency fast path and the
//! local caps stay first) keeps its session's job slot — and its key, so a resubmit here
//! waits for it ([D27]) — while the store admits it (`Effect::AdmitJob`): admitted, it is
//! accepted as usual; a duplicate key with another payload is `DUPLICATE_KEY`; with the same
//! payload the first job's `job.accepted` is replayed ([D27]), asked again every
//! `remote_poll_interval` while that job is still being accepted on its node (at most
//! [`UNACCEPTED_ANSWERS`] answers); over the cap it is refused as the local
//! `jobs_per_principal` cap refuses. A new session is admitted the same way
//! (`Effect::AdmitSession`). Refusals reach only a connection still on the submitting
//! session.
//!
//! [D27]: crate::compat#d27--idempotent-resubmit

use crate::runtime::conns::Phase;
use crate::runtime::conns::hello::HelloRequest;
use crate::runtime::effect::{
    Admission, ConnId, Effect, EffectId, EffectOutcome, IdempotencyRecord,
};
use crate::runtime::event::LimitKind;
use crate::runtime::jobs::Waiter;
use crate::runtime::outbox::TimerKey;
use crate::runtime::{Pending, Runtime};
use crate::time::Instant;
use crate::wire::{Accepted, ErrorCode, ErrorPayload, Feature, IdKind};

/// `Duplicate` answers without a `job.accepted` before the resubmit is refused
/// (`INTERNAL_ERROR`, retryable).
pub(in crate::runtime) const UNACCEPTED_ANSWERS: u32 = 25;

/// How an admission ends for the submit and the resubmits waiting for it.
enum Answer {
    /// This error to each.
    Error(ErrorPayload),
    /// The `job.accepted` of job `.0`, which runs here ([D27]).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    Local(String),
    /// The `job.accepted` of a job on another node ([D27]).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    Remote(Box<Accepted>),
}

impl Runtime {
    /// A clustered submit that passed the local checks: its session's job slot (and its
    /// idempotency key, here) is reserved while the store admits it.
    pub(in crate::runtime) fn start_admission(
        &mut self,
        now: Instant,
        nj: crate::runtime::jobs::NewJob,
    ) {
        self.sessions.add_job(&nj.session_id);
        if let Some((key, fp)) = &nj.idempotency {
            // A resubmit here waits for this one, as for one minting credentials (D27).
            self.jobs
                .reserve_key(now, &nj.principal, key, fp, &nj.job_id);
            self.jobs.start_minting(&nj.job_id);
        }
        let job_id = nj.job_id.clone();
        self.jobs.start_admitting(nj);
        self.ask_admission(now, &job_id);
    }

    /// Emits `AdmitJob` for the waiting submit of `job_id`.
    fn ask_admission(&mut self, now: Instant, job_id: &str) {
        let Some(a) = self.jobs.admitting(job_id) else {
            return;
        };
        let nj = &a.nj;
        let idempotency = nj.idempotency.as_ref().map(|(key, fp)| IdempotencyRecord {
            principal: nj.principal.clone(),
            key: key.clone(),
            fingerprint: fp.clone(),
            job_id: nj.job_id.clone().into(),
            expires_at: self.ids.timestamp_at(now + self.cfg.bounds.idempotency_ttl),
        });
        let effect = Effect::AdmitJob {
            principal: nj.principal.clone(),
            session_id: nj.session_id.clone().into(),
            job_id: nj.job_id.clone().into(),
            max_jobs: self.cfg.limits.max_jobs_per_principal,
            idempotency,
        };
        self.push_effect(
            effect,
            Some(Pending::AdmitJob {
                job_id: job_id.to_owned(),
            }),
        );
    }

    /// The retry timer of an admission whose first job was still being accepted.
    pub(in crate::runtime) fn admit_retry(&mut self, now: Instant, job_id: &str) {
        self.ask_admission(now, job_id);
    }

    /// The `AdmitJob` of `job_id` returned.
    pub(in crate::runtime) fn job_admitted(
        &mut self,
        now: Instant,
        job_id: &str,
        outcome: EffectOutcome,
    ) {
        if self.jobs.admitting(job_id).is_none() {
            return;
        }
        match outcome {
            EffectOutcome::JobAdmission(Admission::Admitted) => {
                if let Some(nj) = self.jobs.end_admitting(job_id) {
                    self.admit_reserved(now, nj);
                }
            }
            EffectOutcome::JobAdmission(Admission::Duplicate {
                fingerprint,
                job_id: first,
                accepted,
            }) => self.admission_duplicate(now, job_id, &fingerprint, first.as_str(), accepted),
            EffectOutcome::JobAdmission(Admission::OverLimit) => {
                let err = self.cluster_job_limit(job_id);
                self.end_admission(now, job_id, Answer::Error(err));
            }
            EffectOutcome::Failed { message } => {
                let err = ErrorPayload::new(ErrorCode::InternalError, message);
                self.end_admission(now, job_id, Answer::Error(err));
            }
            _ => {
                let err = ErrorPayload::new(ErrorCode::InternalError, "invalid admission outcome");
                self.end_admission(now, job_id, Answer::Error(err));
            }
        }
    }

    /// The key of the submit of `job_id` already names job `first`: another payload is
    /// `DUPLICATE_KEY`; the same one replays `first`'s `job.accepted` (as the local path
    /// does when `first` runs here), or asks again later while it has none yet.
    fn admission_duplicate(
        &mut self,
        now: Instant,
        job_id: &str,
        fingerprint: &str,
        first: &str,
        accepted: Option<Box<Accepted>>,
    ) {
        let Some(a) = self.jobs.admitting(job_id) else {
            return;
        };
        let same =
            a.nj.idempotency
                .as_ref()
                .is_some_and(|(_, fp)| fp == fingerprint);
        let answer = if !same {
            Answer::Error(ErrorPayload::new(
                ErrorCode::DuplicateKey,
                "idempotency_key reused with different parameters",
            ))
        } else if first != job_id && self.jobs.get(first).is_some() {
            Answer::Local(first.to_owned())
        } else if let Some(acc) = accepted {
            Answer::Remote(acc)
        } else {
            let unaccepted = match self.jobs.admitting_mut(job_id) {
                Some(a) => {
                    a.unaccepted = a.unaccepted.saturating_add(1);
                    a.unaccepted
                }
                None => return,
            };
            if unaccepted < UNACCEPTED_ANSWERS {
                let at = now + self.cfg.remote_poll_interval;
                self.out
                    .set_timer(TimerKey::AdmitRetry(job_id.to_owned()), at);
                return;
            }
            Answer::Error(ErrorPayload::new(
                ErrorCode::InternalError,
                "idempotent submit still being accepted",
            ))
        };
        self.end_admission(now, job_id, answer);
    }

    /// The store's `OverLimit`: the local `jobs_per_principal` refusal at the cap.
    fn cluster_job_limit(&mut self, job_id: &str) -> ErrorPayload {
        let max = self.cfg.limits.max_jobs_per_principal;
        let Some((conn, principal)) = self.jobs.admitting(job_id).map(|a| {
            (
                a.nj.conn.unwrap_or(ConnId(u64::MAX)),
                a.nj.principal.clone(),
            )
        }) else {
            return ErrorPayload::new(ErrorCode::InternalError, "invalid admission");
        };
        self.principal_limit_hit(
            conn,
            &principal,
            LimitKind::JobsPerPrincipal,
            &format!("principal already has {max} unfinished jobs (limit {max})"),
        )
    }

    /// The admission of `job_id` ended without a job: its reservations go back and the
    /// submit and the resubmits waiting for it get `answer` (on connections still on their
    /// session; a closed one gets nothing).
    fn end_admission(&mut self, now: Instant, job_id: &str, answer: Answer) {
        let Some(nj) = self.jobs.end_admitting(job_id) else {
            return;
        };
        self.out
            .cancel_timer(&TimerKey::AdmitRetry(job_id.to_owned()));
        let mut waiters = self.jobs.end_minting(job_id);
        if let (Some(conn), Some(rid)) = (nj.conn, nj.request_id.clone()) {
            waiters.insert(
                0,
                Waiter {
                    conn,
                    session_id: nj.session_id.clone(),
                    request_id: rid,
                },
            );
        }
        if let Some((key, _)) = &nj.idempotency
            && self
                .jobs
                .idempotent(now, &nj.principal, key)
                .is_some_and(|e| e.job_id == nj.job_id)
        {
            self.jobs.forget_key(&nj.principal, key);
        }
        self.release_job_slot(&nj.session_id);
        if let Some(parent) = &nj.parent_job_id {
            // The whole reservation goes back (§10).
            self.jobs.detach_child(parent, &nj.job_id, None);
        }
        for w in waiters {
            if self.conns.session_of(w.conn) != Some(w.session_id.as_str()) {
                continue;
            }
            match &answer {
                Answer::Error(e) => {
                    self.send_error(now, w.conn, e.clone().with_request_id(w.request_id));
                }
                Answer::Local(first) => {
                    self.replay_accepted(now, w.conn, &w.session_id, &w.request_id, first);
                }
                Answer::Remote(acc) => {
                    self.replay_remote_accepted(now, w.conn, &w.session_id, &w.request_id, acc);
                }
            }
        }
    }

    /// [D27] for a job on another node: its stored `job.accepted` with this request's id, in
    /// a fresh envelope; credentials only to a session that negotiated
    /// `provisioned_credentials` (the key is the principal's, so the session is its own).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    fn replay_remote_accepted(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        request_id: &str,
        acc: &Accepted,
    ) {
        let mut acc = acc.clone();
        acc.request_id = Some(request_id.to_owned().into());
        let may_see = self
            .sessions
            .get(sid)
            .is_some_and(|s| s.has(Feature::ProvisionedCredentials));
        if !may_see {
            acc.credentials = None;
        }
        let (job_id, trace) = (acc.job_id.clone(), acc.trace_id);
        let f = self
            .envelope(now, conn, crate::wire::Message::Accepted(acc))
            .with_job(job_id)
            .with_trace(trace);
        self.transmit(conn, f);
    }

    /// Every admission under way is dropped (the node is isolated): nothing is sent.
    pub(in crate::runtime) fn abandon_admissions(&mut self) {
        for job_id in self.jobs.admitting_ids() {
            if let Some(nj) = self.jobs.end_admitting(&job_id) {
                self.out.cancel_timer(&TimerKey::AdmitRetry(job_id.clone()));
                self.jobs.end_minting(&job_id);
                if let Some((key, _)) = &nj.idempotency {
                    self.jobs.forget_key(&nj.principal, key);
                }
                self.release_job_slot(&nj.session_id);
                if let Some(parent) = &nj.parent_job_id {
                    self.jobs.detach_child(parent, &nj.job_id, None);
                }
            }
        }
    }

    // ---- sessions ---------------------------------------------------------------------

    /// A clustered new session that passed the local cap: the store admits it first.
    pub(in crate::runtime) fn admit_session(
        &mut self,
        now: Instant,
        principal: String,
        req: HelloRequest,
    ) {
        let conn = req.conn;
        if self.effects_full() {
            let err = ErrorPayload::new(ErrorCode::InternalError, "runtime busy, retry later")
                .with_request_id(req.request_id);
            self.fail_handshake(now, conn, err);
            return;
        }
        let sid = self.mint(now, IdKind::Session);
        let effect = Effect::AdmitSession {
            principal: principal.clone(),
            session_id: sid.clone().into(),
            max_sessions: self.cfg.limits.max_sessions_per_principal,
        };
        let id = self.push_effect(
            effect,
            Some(Pending::AdmitSession(principal, sid, Box::new(req))),
        );
        self.conns.set_phase(conn, Phase::Authenticating(id));
    }

    /// The `AdmitSession` of a hello returned.
    pub(in crate::runtime) fn session_admitted(
        &mut self,
        now: Instant,
        effect: EffectId,
        principal: String,
        sid: String,
        req: HelloRequest,
        outcome: EffectOutcome,
    ) {
        let conn = req.conn;
        if !self.conns.awaits(conn, effect) {
            return;
        }
        self.conns.set_phase(conn, Phase::AwaitHello);
        let refusal = match outcome {
            EffectOutcome::SessionAdmission { admitted: true } => {
                // Sessions opened here meanwhile count too.
                match self.check_session_limit(conn, &principal) {
                    Ok(()) => {
                        self.create_session(now, principal, Some(sid), req);
                        return;
                    }
                    Err(e) => e,
                }
            }
            EffectOutcome::SessionAdmission { admitted: false } => {
                let max = self.cfg.limits.max_sessions_per_principal;
                self.principal_limit_hit(
                    conn,
                    &principal,
                    LimitKind::SessionsPerPrincipal,
                    &format!("principal already holds {max} sessions (limit {max})"),
                )
            }
            EffectOutcome::Failed { message } => ErrorPayload::new(
                ErrorCode::InternalError,
                format!("session could not be admitted: {message}"),
            ),
            _ => ErrorPayload::new(
                ErrorCode::InternalError,
                "session could not be admitted: invalid admission outcome",
            ),
        };
        self.fail_handshake(now, conn, refusal.with_request_id(req.request_id));
    }
}
