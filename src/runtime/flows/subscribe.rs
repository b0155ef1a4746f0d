//! `job.subscribe` / `job.unsubscribe` (§7.6, D9, D10, D37): `job.subscribed` first, then the
//! history renumbered into the subscriber's own `event_seq` space, then live frames.

use crate::runtime::Runtime;
use crate::runtime::effect::ConnId;
use crate::runtime::event::SubscribeDecision;
use crate::time::Instant;
use crate::wire::{
    ErrorCode, ErrorPayload, EventBody, Feature, Frame, IdKind, JobEvent, Message, Replayed,
    Subscribe, Subscribed,
};

/// Removes a rotated credential's secret (§9.8).
pub(in crate::runtime) fn strip_secret(msg: &mut Message) {
    if let Message::Event(JobEvent {
        body: EventBody::Status(st),
        ..
    }) = msg
        && st.phase == "credential_rotated"
    {
        st.value = None;
    }
}

impl Runtime {
    pub(in crate::runtime) fn subscribe(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        request_id: String,
        sub: Subscribe,
    ) {
        let Some(session) = self.sessions.get(sid) else {
            return;
        };
        let principal = session.principal().to_owned();
        let may_see_secrets = session.has(Feature::ProvisionedCredentials);
        let already = self.subs.contains(sid, &sub.job_id);
        let count = self.subs.count(sid);
        let Some(job) = self.jobs.get(&sub.job_id).filter(|j| {
            self.cfg
                .observer_policy
                .may_observe(&principal, j.principal())
        }) else {
            self.audit_subscribe(sid, &principal, &sub.job_id, SubscribeDecision::Denied);
            // D37: the same answer whether or not the job exists.
            let e = ErrorPayload::new(
                ErrorCode::PermissionDenied,
                "not permitted to subscribe to this job",
            )
            .with_request_id(request_id);
            self.send_error(now, conn, e);
            return;
        };
        if !already && count >= self.cfg.bounds.max_subscriptions_per_session {
            self.audit_subscribe(sid, &principal, &sub.job_id, SubscribeDecision::OverLimit);
            let e = ErrorPayload::new(
                ErrorCode::InternalError,
                "too many subscriptions on this session",
            )
            .with_request_id(request_id);
            self.send_error(now, conn, e);
            return;
        }
        let owner = principal == job.principal();
        // History in the submitting session's numbering (D10).
        let history: Vec<Message> = if sub.history == Some(true) {
            let from = sub.from_event_seq.unwrap_or(0);
            self.sessions
                .get(job.session_id())
                .map(|s| s.history(job.id(), from))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let last_seq = self.sessions.get(sid).map_or(0, |s| s.last_seq());
        let n = history.len() as u64;
        let subscribed = Subscribed {
            request_id: Some(request_id.into()),
            job_id: (job.id().to_owned()).into(),
            current_status: job.status(),
            agent: job.agent().clone(),
            lease: Some(job.lease().map.clone()),
            lease_constraints: job.lease_constraints().cloned(),
            budget: job.lease().remaining().cloned(),
            // D9: credentials only to the submitting principal.
            credentials: (owner && may_see_secrets && !job.credentials().is_empty())
                .then(|| job.credentials().to_vec()),
            parent_job_id: (job.parent_job_id().map(str::to_owned)).map(Into::into),
            trace_id: job.trace_id(),
            subscribed_from: Some(if n == 0 { 0 } else { last_seq + n }),
            replayed: Some(Replayed::Count(n)),
        };
        let job_id = job.id().to_owned();
        let trace = job.trace_id();
        let live = !job.status().is_terminal() && job.session_id() != sid;
        let f = self
            .envelope(now, conn, Message::Subscribed(subscribed))
            .with_job(job_id.clone());
        self.transmit(conn, f);
        for mut m in history {
            if !(owner && may_see_secrets) {
                strip_secret(&mut m);
            }
            let id = self.mint(now, IdKind::Envelope);
            let f = Frame::new(id, m).with_job(job_id.clone()).with_trace(trace);
            self.stamp_with(sid, f, true);
        }
        if live && !already {
            self.subs.add(sid, &job_id);
        }
        self.audit_subscribe(sid, &principal, &job_id, SubscribeDecision::Allowed);
    }

    /// `job.unsubscribe`: no reply; an unknown job is ignored.
    pub(in crate::runtime) fn unsubscribe(&mut self, sid: &str, job_id: &str) {
        self.subs.remove(sid, job_id);
    }
}
