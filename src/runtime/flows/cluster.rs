//! Clustered runtimes (`RuntimeConfig::clustered` with a durable store): several runtimes
//! share one store; the node a session's connection is on owns the session (stamps its
//! `event_seq`), and jobs run where they were submitted. A job whose session is held by
//! another node forwards its frames (`Effect::ForwardJobMessage`), which the owner stamps
//! ([`Runtime::handle_remote_job_message`]); a resume claims its session first
//! (`Effect::ClaimSession`); a cancel of a job running elsewhere is routed to its node
//! (`Effect::ForwardCancel`, [`Runtime::handle_remote_cancel`]); a node that died has its
//! jobs ended by the node that noticed ([`Runtime::handle_node_lost`]), and a node cut off
//! from the store stops its own ([`Runtime::handle_isolated`]).

use crate::runtime::conns::Phase;
use crate::runtime::conns::hello::HelloRequest;
use crate::runtime::effect::{
    CloseReason, CredentialRecord, Effect, EffectId, EffectOutcome, JobRecord, SessionRecord,
};
use crate::runtime::outbox::TimerKey;
use crate::runtime::{Pending, Runtime};
use crate::time::Instant;
use crate::wire::{
    ErrorCode, ErrorPayload, FinalStatus, Frame, IdKind, JobError, JobStatus, Message, TraceId,
};

impl Runtime {
    /// `true` when this runtime is one node of a cluster (clustered, with a durable store).
    #[inline]
    pub(in crate::runtime) fn clustered(&self) -> bool {
        self.cfg.clustered && self.cfg.durable
    }

    /// A job frame for session `sid`, which another node holds: forwarded there unstamped.
    pub(in crate::runtime) fn forward_job_frame(
        &mut self,
        now: Instant,
        sid: &str,
        job_id: &str,
        trace: Option<TraceId>,
        message: Message,
    ) {
        let frame = Frame {
            id: self.mint(now, IdKind::Envelope),
            session_id: Some(sid.to_owned().into()),
            trace_id: trace,
            job_id: Some(job_id.to_owned().into()),
            event_seq: None,
            message,
        };
        self.push_effect(
            Effect::ForwardJobMessage {
                session_id: sid.to_owned().into(),
                job_id: job_id.to_owned().into(),
                frame: Box::new(frame),
            },
            None,
        );
    }

    /// A resume in a cluster: claim its session, then check it ([`Runtime::session_claimed`]).
    pub(in crate::runtime) fn claim_for_resume(
        &mut self,
        now: Instant,
        principal: Option<String>,
        req: HelloRequest,
    ) {
        let conn = req.conn;
        let Some(sid) = req.resume.as_ref().map(|r| r.session_id.clone()) else {
            return;
        };
        if self.effects_full() {
            let err = ErrorPayload::new(ErrorCode::InternalError, "runtime busy, retry later")
                .with_request_id(req.request_id);
            self.fail_handshake(now, conn, err);
            return;
        }
        let id = self.push_effect(
            Effect::ClaimSession { session_id: sid },
            Some(Pending::Claim(principal, Box::new(req))),
        );
        self.conns.set_phase(conn, Phase::Authenticating(id));
    }

    /// The `ClaimSession` of a resume returned: the session is rebuilt from its record when
    /// it is not held here, the jobs it has on other nodes are registered, then the ordinary
    /// resume checks run (an unknown session is refused as usual).
    pub(in crate::runtime) fn session_claimed(
        &mut self,
        now: Instant,
        effect: EffectId,
        principal: Option<String>,
        req: HelloRequest,
        outcome: EffectOutcome,
    ) {
        let conn = req.conn;
        let waiting = self.conns.awaits(conn, effect);
        let claimed = match outcome {
            EffectOutcome::SessionClaimed { session, jobs } => {
                // This node owns the session in the store now: hold it even when the
                // connection went away meanwhile (its forwarded frames come here).
                match session {
                    Some(record) => self.adopt_session(now, record, jobs),
                    None => Ok(()),
                }
            }
            EffectOutcome::Failed { message } => Err(message),
            _ => Err("invalid claim outcome".to_owned()),
        };
        if !waiting {
            return;
        }
        self.conns.set_phase(conn, Phase::AwaitHello);
        match claimed {
            Ok(()) => self.resume_checked(now, principal, req),
            Err(m) => {
                let err = ErrorPayload::new(
                    ErrorCode::InternalError,
                    format!("session could not be claimed: {m}"),
                )
                .with_request_id(req.request_id);
                self.out.metrics_mut().resume_refused(&err.code);
                self.fail_handshake(now, conn, err);
            }
        }
    }

    /// Holds claimed session `record` (unless it is held here already) with its `jobs` on
    /// other nodes as remote jobs. `Err` when no session fits (`max_sessions`).
    fn adopt_session(
        &mut self,
        now: Instant,
        record: SessionRecord,
        jobs: Vec<JobRecord>,
    ) -> Result<(), String> {
        let sid = String::from(record.session_id.clone());
        if self.sessions.get(&sid).is_none() {
            if self.sessions.len() >= self.cfg.bounds.max_sessions
                && !self.sessions.forget_expired()
            {
                return Err("too many sessions".to_owned());
            }
            self.restore_session(now, record);
            // Its jobs still running here (they forwarded while it was elsewhere).
            let running = self
                .jobs
                .in_order()
                .filter(|j| j.session_id() == sid && !j.status().is_terminal())
                .count();
            for _ in 0..running {
                self.sessions.add_job(&sid);
            }
        }
        for j in jobs {
            if j.session_id.as_str() == sid && self.jobs.add_remote(j) {
                self.sessions.add_job(&sid);
            }
        }
        Ok(())
    }

    /// Another node claimed session `session_id`: its connection here (if any) is closed
    /// with [`CloseReason::GoingAway`] and the session is forgotten (ring, timers, its
    /// subscriptions, its remote jobs). Its jobs running here keep running; from now on
    /// their frames are forwarded.
    pub fn handle_session_released(&mut self, now: Instant, session_id: &str) {
        let now = self.clamp(now);
        let conn = self.sessions.get(session_id).and_then(|s| s.conn());
        if !self.sessions.forget(session_id) {
            return;
        }
        self.out
            .cancel_timer(&TimerKey::ResumeWindow(session_id.to_owned()));
        self.out
            .cancel_timer(&TimerKey::ExpiredSession(session_id.to_owned()));
        self.subs.end_session(session_id);
        self.jobs.forget_remote_session(session_id);
        if let Some(conn) = conn {
            self.close_conn(now, conn, CloseReason::GoingAway);
        }
    }

    /// A frame forwarded by another node for session `session_id`. When the session is held
    /// here it is stamped into it as its own job's frame would be (a fresh envelope id; its
    /// `job_id`, `trace_id` and message kept), a remote job's subscribers here get it too
    /// and a terminal ends the remote job: `true` (the frame is consumed). `false` when the
    /// session is not held here (it belongs to its owner). A frame without `job_id`, or whose
    /// message is not a job's (`job.event`, `job.result`, `job.error`), is dropped (`true`
    /// when held).
    pub fn handle_remote_job_message(
        &mut self,
        now: Instant,
        session_id: &str,
        frame: Frame,
    ) -> bool {
        let now = self.clamp(now);
        if self.sessions.get(session_id).is_none() {
            return false;
        }
        let Some(job_id) = frame.job_id.map(String::from) else {
            return true;
        };
        // Only what a job emits (`emit_job`) is stamped for another node.
        if !matches!(
            frame.message,
            Message::Event(_) | Message::Result(_) | Message::JobError(_)
        ) {
            return true;
        }
        self.deliver_remote(now, session_id, &job_id, frame.trace_id, frame.message);
        true
    }

    /// Stamps `message` of job `job_id` into held session `sid` (and, for a job not running
    /// here, its subscribers here); moves the remote job's state. Returns the seq (0: none).
    fn deliver_remote(
        &mut self,
        now: Instant,
        sid: &str,
        job_id: &str,
        trace: Option<TraceId>,
        message: Message,
    ) -> u64 {
        let local = self.jobs.get(job_id).is_some();
        // A local job's subscribers had their copy when it was emitted here.
        let subs: Vec<String> = if local {
            Vec::new()
        } else {
            self.subs
                .subscribers(job_id)
                .iter()
                .filter(|s| s.as_str() != sid)
                .cloned()
                .collect()
        };
        let terminal = message.message_type().is_terminal();
        for s in &subs {
            let f = self.job_frame(now, job_id, trace, message.clone());
            self.stamp(s, f);
        }
        let keep = (!local).then(|| message.clone());
        let f = self.job_frame(now, job_id, trace, message);
        let seq = self.stamp(sid, f);
        if local {
            if seq > 0 && self.jobs.get(job_id).is_some_and(|j| j.session_id() == sid) {
                self.jobs.set_last_event_seq(job_id, seq);
            }
        } else if let Some(m) = keep {
            if self.jobs.remote_frame(job_id, seq, &m) {
                self.sessions.release_job(sid);
            }
            if terminal {
                self.subs.end_job(job_id);
            }
        }
        seq
    }

    /// An unstamped frame of job `job_id`, with a fresh envelope id.
    pub(in crate::runtime) fn job_frame(
        &mut self,
        now: Instant,
        job_id: &str,
        trace: Option<TraceId>,
        message: Message,
    ) -> Frame {
        Frame {
            id: self.mint(now, IdKind::Envelope),
            session_id: None,
            trace_id: trace,
            job_id: Some(job_id.to_owned().into()),
            event_seq: None,
            message,
        }
    }

    /// The owner of job `job_id`'s session routed a `job.cancel` here: the job ends
    /// `cancelled` as its owner's cancel would (its agent stopped). Unknown or ended: nothing.
    pub fn handle_remote_cancel(&mut self, now: Instant, job_id: &str) {
        let now = self.clamp(now);
        if self
            .jobs
            .get(job_id)
            .is_some_and(|j| !j.status().is_terminal())
        {
            self.end_with_status(now, job_id, FinalStatus::Cancelled);
        }
    }

    /// This node won the reap of dead node `node_id`: each of its unfinished `jobs` ends with
    /// `job.error {code: INTERNAL_ERROR, retryable: true, message: "node {node_id} lost"}`
    /// in its session (stamped when held here, forwarded otherwise) and its record is
    /// persisted ended; each outstanding credential is revoked (`value: None`) and persisted
    /// revoked.
    pub fn handle_node_lost(
        &mut self,
        now: Instant,
        node_id: &str,
        jobs: Vec<JobRecord>,
        credentials: Vec<CredentialRecord>,
    ) {
        let now = self.clamp(now);
        for mut r in jobs {
            if r.status.is_terminal() {
                continue;
            }
            let message = Message::JobError(JobError {
                final_status: FinalStatus::Error,
                code: ErrorCode::InternalError,
                message: format!("node {node_id} lost"),
                retryable: true,
                completed_at: Some(self.ids.timestamp_at(now)),
                details: None,
            });
            let (sid, job_id) = (
                String::from(r.session_id.clone()),
                String::from(r.job_id.clone()),
            );
            if self.sessions.get(&sid).is_some() {
                let seq = self.deliver_remote(now, &sid, &job_id, r.trace_id, message.clone());
                r.last_event_seq = r.last_event_seq.max(seq);
            } else {
                self.forward_job_frame(now, &sid, &job_id, r.trace_id, message.clone());
            }
            r.status = JobStatus::Error;
            r.terminal = Some(message);
            if self.cfg.durable {
                self.push_effect(Effect::PersistJob(Box::new(r)), None);
            }
        }
        for c in credentials.into_iter().filter(|c| !c.revoked) {
            self.push_effect(
                Effect::RevokeCredential {
                    job_id: c.job_id.clone(),
                    credential_id: c.credential_id.clone(),
                    value: None,
                },
                None,
            );
            self.persist_credential(c.job_id.as_str(), &c.credential_id, true);
        }
    }

    /// This node cannot refresh its liveness in the store: every running job here has its
    /// agent stopped (`CancelAgent`) and is forgotten, without a terminal (the node that
    /// reaps this one ends them), and every connection is closed with
    /// [`CloseReason::GoingAway`]. Idempotent.
    pub fn handle_isolated(&mut self, now: Instant) {
        let now = self.clamp(now);
        let running: Vec<(String, String)> = self
            .jobs
            .in_order()
            .filter(|j| !j.status().is_terminal())
            .map(|j| (j.id().to_owned(), j.session_id().to_owned()))
            .collect();
        for (job_id, sid) in running {
            self.push_effect(
                Effect::CancelAgent {
                    job_id: job_id.clone().into(),
                },
                None,
            );
            self.out.cancel_timer(&TimerKey::MaxRuntime(job_id.clone()));
            self.out
                .cancel_timer(&TimerKey::LeaseExpiry(job_id.clone()));
            self.subs.end_job(&job_id);
            self.sessions.release_job(&sid);
            self.jobs.drop_job(&job_id);
        }
        self.abandon_admissions();
        for conn in self.conns.ids() {
            self.close_conn(now, conn, CloseReason::GoingAway);
        }
    }

    /// This runtime stops while jobs still run here (a drain whose grace is over): each
    /// ends with `job.error` `INTERNAL_ERROR`, `retryable: true`, "runtime stopped" (its
    /// agent stopped, its credentials revoked, its children ended), logged and sent like any
    /// terminal, so a client resuming elsewhere finds it instead of a job that never ends.
    /// The host then waits for the store to commit before it exits. Idempotent.
    pub fn handle_stopping(&mut self, now: Instant) {
        let now = self.clamp(now);
        let running: Vec<String> = self
            .jobs
            .in_order()
            .filter(|j| !j.status().is_terminal())
            .map(|j| j.id().to_owned())
            .collect();
        for job_id in running {
            // Ending a parent ends its children (cancelled): skip what already ended.
            if self
                .jobs
                .get(&job_id)
                .is_none_or(|j| j.status().is_terminal())
            {
                continue;
            }
            self.fail_job_with(
                now,
                &job_id,
                ErrorCode::InternalError,
                "runtime stopped".to_owned(),
                true,
                true,
            );
        }
    }
}
