//! (Clustered) `job.subscribe` and `job.cancel` of a job this runtime does not hold: it may
//! run on another node of the cluster, whose records and event log live in the shared store.
//!
//! A subscribe looks the job up ([`Effect::LookupJob`]); unknown, or not the principal's to
//! see, it gets the refusal of a local job ([D37]). Found, it gets the `job.subscribed` and
//! the history of a local subscription ([D9], [D10]), the history read from the job's
//! submitting session's log ([`Effect::ReadJobEvents`]); then, while the job is live, its
//! frames are read again every `RuntimeConfig::remote_poll_interval` after the last seq seen
//! and each is stamped into the subscriber's own `event_seq` space, as a local
//! subscription's copies are. Its terminal, `job.unsubscribe` and the session's end stop
//! the reads. A cancel gets the local job's refusal ([D7], [D37]).
//!
//! [D7]: crate::compat#d7--who-may-cancel
//! [D9]: crate::compat#d9--job-subscribed
//! [D10]: crate::compat#d10--subscribed-events
//! [D37]: crate::compat#d37--existence-leak

use crate::runtime::effect::{ConnId, Effect, EffectOutcome, JobRecord};
use crate::runtime::event::{RuntimeEvent, SubscribeDecision};
use crate::runtime::outbox::TimerKey;
use crate::runtime::redact::redact_frame;
use crate::runtime::subscriptions::{RemoteAsk, RemoteFollow, RemoteRequest};
use crate::runtime::{Pending, Runtime};
use crate::time::Instant;
use crate::wire::{
    ErrorCode, ErrorPayload, Feature, Frame, IdKind, JobStatus, Message, Replayed, Subscribe,
    Subscribed,
};

/// The store keeps a job's whole log: a truncated remote subscription can always continue
/// from its last seq (the notice's `kept_from`).
const STORE_KEPT_FROM: u64 = 1;

/// The status a terminal `message` ends a job with (`None`: not a terminal).
fn terminal_status(message: &Message) -> Option<JobStatus> {
    match message {
        Message::Result(r) => Some(r.final_status.status()),
        Message::JobError(_) => Some(JobStatus::Error),
        _ => None,
    }
}

/// The frames of `job_id` after `after`, ascending, one per seq.
fn job_frames(mut frames: Vec<Frame>, job_id: &str, after: u64) -> Vec<(u64, Frame)> {
    frames.retain(|f| f.job_id.as_ref().is_some_and(|j| j.as_str() == job_id));
    let mut out: Vec<(u64, Frame)> = frames
        .into_iter()
        .filter_map(|f| f.event_seq.filter(|s| *s > after).map(|s| (s, f)))
        .collect();
    out.sort_by_key(|(s, _)| *s);
    out.dedup_by_key(|(s, _)| *s);
    out
}

impl Runtime {
    /// `session.error INTERNAL_ERROR` for a failed read of the shared store.
    pub(in crate::runtime) fn store_failed(message: &str, request_id: String) -> ErrorPayload {
        ErrorPayload::new(
            ErrorCode::InternalError,
            format!("shared store unavailable: {message}"),
        )
        .with_request_id(request_id)
    }

    /// Asks the shared store with `effect` on behalf of a request; over
    /// `max_pending_effects` the request gets `INTERNAL_ERROR` (retryable) at once.
    pub(in crate::runtime) fn ask_store(
        &mut self,
        now: Instant,
        req: RemoteRequest,
        effect: Effect,
    ) {
        if self.effects_full() {
            let e = ErrorPayload::new(ErrorCode::InternalError, "runtime busy, retry later")
                .with_request_id(req.request_id);
            self.send_error(now, req.conn, e);
            return;
        }
        self.push_effect(effect, Some(Pending::Remote(Box::new(req))));
    }

    /// `job.subscribe` of job `sub.job_id`, not held here: look it up in the store.
    pub(in crate::runtime) fn subscribe_remote(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        request_id: String,
        sub: Subscribe,
    ) {
        let job_id = sub.job_id.clone();
        let req = RemoteRequest {
            conn,
            session_id: sid.to_owned(),
            request_id,
            ask: RemoteAsk::Subscribe(sub),
        };
        self.ask_store(now, req, Effect::LookupJob { job_id });
    }

    /// `job.cancel` of job `job_id`, not held here: look it up to refuse it as a local job's
    /// cancel would be.
    pub(in crate::runtime) fn cancel_remote(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        request_id: String,
        job_id: &str,
    ) {
        let req = RemoteRequest {
            conn,
            session_id: sid.to_owned(),
            request_id,
            ask: RemoteAsk::Cancel(job_id.to_owned()),
        };
        let job_id = job_id.to_owned().into();
        self.ask_store(now, req, Effect::LookupJob { job_id });
    }

    /// The store answered `req`. A request whose connection no longer carries its session
    /// is dropped (its client is gone; it asks again after a resume).
    pub(in crate::runtime) fn remote_answered(
        &mut self,
        now: Instant,
        req: RemoteRequest,
        outcome: EffectOutcome,
    ) {
        if self.conns.session_of(req.conn) != Some(req.session_id.as_str()) {
            return;
        }
        let RemoteRequest {
            conn,
            session_id,
            request_id,
            ask,
        } = req;
        match ask {
            RemoteAsk::Subscribe(sub) => {
                self.subscribe_looked_up(now, conn, &session_id, request_id, sub, outcome);
            }
            RemoteAsk::History(sub, record) => {
                let frames = match outcome {
                    EffectOutcome::EventsRead { frames } => frames,
                    EffectOutcome::Failed { message } => {
                        self.send_error(now, conn, Self::store_failed(&message, request_id));
                        return;
                    }
                    _ => Vec::new(),
                };
                self.subscribe_remote_done(now, conn, &session_id, request_id, sub, record, frames);
            }
            RemoteAsk::Cancel(job_id) => {
                self.cancel_looked_up(now, conn, &session_id, request_id, &job_id, outcome);
            }
            RemoteAsk::List(list) => {
                self.stored_listed(now, conn, &session_id, request_id, list, outcome)
            }
        }
    }

    /// The audit record of a subscribe to a job not held here (spec §14).
    fn audit_remote(
        &mut self,
        sid: &str,
        who: &str,
        job_id: &str,
        owner: Option<&str>,
        decision: SubscribeDecision,
    ) {
        self.out.push_event(RuntimeEvent::SubscribeAudit {
            session_id: sid.to_owned().into(),
            subscriber_principal: who.to_owned(),
            job_id: job_id.to_owned().into(),
            target_principal: owner.map(str::to_owned),
            decision,
        });
    }

    /// The subscribe's lookup answered: refuse it as for a local job, or read its history,
    /// or answer it.
    fn subscribe_looked_up(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        request_id: String,
        sub: Subscribe,
        outcome: EffectOutcome,
    ) {
        let principal = self
            .sessions
            .get(sid)
            .map(|s| s.principal().to_owned())
            .unwrap_or_default();
        let record = match outcome {
            EffectOutcome::JobLookedUp { job: Some(r) }
                if r.job_id == sub.job_id
                    && self
                        .cfg
                        .observer_policy
                        .may_observe(&principal, &r.principal) =>
            {
                r
            }
            EffectOutcome::Failed { message } => {
                self.send_error(now, conn, Self::store_failed(&message, request_id));
                return;
            }
            other => {
                // The audit names the job's principal when the store knows the job.
                let owner = match &other {
                    EffectOutcome::JobLookedUp { job: Some(r) } if r.job_id == sub.job_id => {
                        Some(r.principal.as_str())
                    }
                    _ => None,
                };
                self.audit_remote(
                    sid,
                    &principal,
                    &sub.job_id,
                    owner,
                    SubscribeDecision::Denied,
                );
                // D37: the same answer whether or not the job exists.
                let e = ErrorPayload::new(
                    ErrorCode::PermissionDenied,
                    "not permitted to subscribe to this job",
                )
                .with_request_id(request_id);
                self.send_error(now, conn, e);
                return;
            }
        };
        if self.remote_over_limit(now, conn, sid, &request_id, &principal, &record) {
            return;
        }
        // With history: the history from `from_event_seq`. Without: what the job logged
        // after its record's seq (the record's seq lags the log), to start the live frames
        // after it and not replay them.
        let after_seq = if sub.history == Some(true) {
            sub.from_event_seq.unwrap_or(0)
        } else {
            record.last_event_seq
        };
        let effect = Effect::ReadJobEvents {
            session_id: record.session_id.clone(),
            job_id: record.job_id.clone(),
            after_seq,
        };
        let req = RemoteRequest {
            conn,
            session_id: sid.to_owned(),
            request_id,
            ask: RemoteAsk::History(sub, record),
        };
        self.ask_store(now, req, effect);
    }

    /// Answers a subscribe of remote job `record` as a local subscription is answered
    /// (flows/subscribe.rs): `job.subscribed`, the history that fits the subscriber's buffer
    /// (renumbered into its `event_seq` space), then, while the job is live, its reads.
    #[allow(clippy::too_many_arguments)]
    fn subscribe_remote_done(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        request_id: String,
        sub: Subscribe,
        record: Box<JobRecord>,
        frames: Vec<Frame>,
    ) {
        let Some(session) = self.sessions.get(sid) else {
            return;
        };
        let principal = session.principal().to_owned();
        let owner = principal == record.principal;
        let keep_secrets = owner && session.has(Feature::ProvisionedCredentials);
        // Checked again: other subscriptions may have been taken while the history was read.
        if self.remote_over_limit(now, conn, sid, &request_id, &principal, &record) {
            return;
        }
        let job_id = record.job_id.to_string();
        let with_history = sub.history == Some(true);
        let from = if with_history {
            sub.from_event_seq.unwrap_or(0)
        } else {
            record.last_event_seq
        };
        let mut all = job_frames(frames, &job_id, from);
        // Without history the frames read only say where the live ones start (and whether
        // the job already ended).
        let (skipped_to, skipped_end) = if with_history {
            (None, None)
        } else {
            let to = all.last().map(|(seq, _)| *seq);
            let end = all.iter().find_map(|(_, f)| terminal_status(&f.message));
            all.clear();
            (to, end)
        };
        let (mut events, mut bytes) = self.sessions.room(sid);
        let mut cut: Option<u64> = None;
        let mut history: Vec<(u64, Frame)> = Vec::with_capacity(all.len());
        for (seq, f) in all {
            let len = self.out.scratch.encode(&f).len() as u64;
            // Room for the frame and, when it is not the last, the notice after it.
            if events <= 1 || bytes <= len {
                cut = Some(history.last().map_or(from, |(s, _)| *s));
                break;
            }
            events -= 1;
            bytes -= len;
            history.push((seq, f));
        }
        let ended = history
            .iter()
            .find_map(|(_, f)| terminal_status(&f.message))
            .or(skipped_end);
        let status = ended.unwrap_or(record.status);
        let last_seq = self.sessions.get(sid).map_or(0, |s| s.last_seq());
        let n = history.len() as u64;
        let subscribed = Subscribed {
            request_id: Some(request_id.into()),
            job_id: record.job_id.clone(),
            current_status: status,
            agent: record.agent.clone(),
            lease: Some(record.lease.clone()),
            lease_constraints: record.lease_constraints.clone(),
            // The budget's live counters and the credentials stay with the running node.
            budget: None,
            credentials: None,
            parent_job_id: record.parent_job_id.clone(),
            trace_id: record.trace_id,
            subscribed_from: Some(if n == 0 { 0 } else { last_seq + n }),
            replayed: Some(Replayed::Count(n)),
        };
        let live = !status.is_terminal() && record.session_id.as_str() != sid && cut.is_none();
        let f = self
            .envelope(now, conn, Message::Subscribed(subscribed))
            .with_job(job_id.clone());
        self.transmit_after(sid, conn, f);
        // Live frames follow the history, or (without history) what the record has.
        let mut after = skipped_to.unwrap_or(from);
        for (seq, mut f) in history {
            after = seq;
            if !keep_secrets {
                redact_frame(&mut f);
            }
            let (m, trace) = (f.message, f.trace_id.or(record.trace_id));
            let id = self.mint(now, IdKind::Envelope);
            let f = Frame::new(id, m).with_job(job_id.clone()).with_trace(trace);
            self.stamp_with(sid, f, true);
        }
        if let Some(last) = cut {
            self.truncate(now, sid, &job_id, last, STORE_KEPT_FROM);
        } else if live {
            let follow = RemoteFollow {
                job_session: record.session_id.to_string(),
                after_seq: after,
                keep_secrets,
                generation: 0,
                reading: false,
            };
            if self.subs.follow_remote(sid, &job_id, follow) {
                self.arm_remote_poll(now, sid, &job_id);
            }
        }
        self.audit_remote(
            sid,
            &principal,
            &job_id,
            Some(&record.principal),
            SubscribeDecision::Allowed,
        );
    }

    /// Refuses a subscribe of `record` over `max_subscriptions_per_session` (a session
    /// already subscribed to it is not refused); `true` when it did.
    fn remote_over_limit(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        request_id: &str,
        principal: &str,
        record: &JobRecord,
    ) -> bool {
        let job_id = record.job_id.as_str();
        if self.subs.contains(sid, job_id)
            || self.subs.count(sid) < self.cfg.bounds.max_subscriptions_per_session
        {
            return false;
        }
        let owner = Some(record.principal.as_str());
        self.audit_remote(sid, principal, job_id, owner, SubscribeDecision::OverLimit);
        let e = ErrorPayload::new(
            ErrorCode::InternalError,
            "too many subscriptions on this session",
        )
        .with_request_id(request_id.to_owned());
        self.send_error(now, conn, e);
        true
    }

    /// The next read of `job_id`'s frames for `sid`, one poll interval from now.
    fn arm_remote_poll(&mut self, now: Instant, sid: &str, job_id: &str) {
        self.out.set_timer(
            TimerKey::RemotePoll(sid.to_owned(), job_id.to_owned()),
            now + self.cfg.remote_poll_interval,
        );
    }

    /// A follow's poll interval elapsed: read the job's frames after the last seq seen.
    pub(in crate::runtime) fn remote_poll(&mut self, now: Instant, sid: &str, job_id: &str) {
        let full = self.effects_full();
        let Some(f) = self.subs.remote_follow(sid, job_id) else {
            return;
        };
        if f.reading {
            return;
        }
        if full {
            self.arm_remote_poll(now, sid, job_id);
            return;
        }
        f.reading = true;
        let effect = Effect::ReadJobEvents {
            session_id: f.job_session.clone().into(),
            job_id: job_id.to_owned().into(),
            after_seq: f.after_seq,
        };
        let pending = Pending::RemotePoll {
            session_id: sid.to_owned(),
            job_id: job_id.to_owned(),
            generation: f.generation,
        };
        self.push_effect(effect, Some(pending));
    }

    /// A follow's read answered: stamp each new frame into the subscriber's session; a
    /// terminal ends the follow, anything else reads again one interval later (a failed read
    /// too).
    pub(in crate::runtime) fn remote_polled(
        &mut self,
        now: Instant,
        sid: &str,
        job_id: &str,
        generation: u64,
        outcome: EffectOutcome,
    ) {
        let Some(f) = self.subs.remote_follow(sid, job_id) else {
            return;
        };
        if f.generation != generation {
            return;
        }
        f.reading = false;
        let (mut after, keep_secrets) = (f.after_seq, f.keep_secrets);
        let frames = match outcome {
            EffectOutcome::EventsRead { frames } => job_frames(frames, job_id, after),
            _ => Vec::new(),
        };
        for (seq, mut frame) in frames {
            if self.sessions.full(sid) || self.owner_backlogged(sid) {
                self.truncate(now, sid, job_id, after, STORE_KEPT_FROM);
                return;
            }
            if !keep_secrets {
                redact_frame(&mut frame);
            }
            let (m, trace) = (frame.message, frame.trace_id);
            let terminal = terminal_status(&m).is_some();
            let out = self.job_frame(now, job_id, trace, m);
            self.stamp(sid, out);
            after = seq;
            if terminal {
                self.subs.remove(sid, job_id);
                return;
            }
            if let Some(f) = self.subs.remote_follow(sid, job_id) {
                f.after_seq = seq;
            }
        }
        if self.sessions.get(sid).is_none() {
            self.subs.end_session(sid);
            return;
        }
        if let Some(f) = self.subs.remote_follow(sid, job_id) {
            f.after_seq = f.after_seq.max(after);
            self.arm_remote_poll(now, sid, job_id);
        }
    }

    /// The cancel's lookup answered: the refusal a local job's cancel gets ([D7], [D37]).
    ///
    /// [D7]: crate::compat#d7--who-may-cancel
    /// [D37]: crate::compat#d37--existence-leak
    fn cancel_looked_up(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        request_id: String,
        job_id: &str,
        outcome: EffectOutcome,
    ) {
        let principal = self
            .sessions
            .get(sid)
            .map(|s| s.principal().to_owned())
            .unwrap_or_default();
        let e = match outcome {
            EffectOutcome::JobLookedUp { job: Some(r) }
                if r.job_id.as_str() == job_id
                    && self
                        .cfg
                        .observer_policy
                        .may_observe(&principal, &r.principal) =>
            {
                if r.session_id.as_str() == sid {
                    // Its own session, held here, but the job runs elsewhere: the cluster
                    // part routes such a cancel (`ForwardCancel`); an ended one needs nothing.
                    return;
                }
                ErrorPayload::new(
                    ErrorCode::PermissionDenied,
                    "only the submitting session may cancel this job",
                )
            }
            EffectOutcome::Failed { message } => Self::store_failed(&message, request_id.clone()),
            _ => ErrorPayload::new(ErrorCode::JobNotFound, format!("job {job_id:?} not found")),
        };
        self.send_error(now, conn, e.with_request_id(request_id));
    }
}
