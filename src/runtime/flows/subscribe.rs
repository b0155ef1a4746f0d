//! `job.subscribe` / `job.unsubscribe` (§7.6, [D9], [D10], [D37]): `job.subscribed` first, then the
//! history renumbered into the subscriber's own `event_seq` space, then live frames.
//!
//! Subscribers never slow the job's owner: history no longer kept at subscribe time, history
//! that does not fit the subscriber's buffer, and live frames arriving while its buffer is
//! full all end the subscription with one truncation notice ([`truncation`]), a `status`
//! event in the subscriber's numbering naming the last seq it has and where history is kept
//! (docs/compat.md, "Subscriber gaps").
//!
//! [D9]: crate::compat#d9--job-subscribed
//! [D10]: crate::compat#d10--subscribed-events
//! [D37]: crate::compat#d37--existence-leak

use crate::runtime::Runtime;
use crate::runtime::effect::ConnId;
use crate::runtime::event::SubscribeDecision;
use crate::time::Instant;
use crate::wire::{
    ErrorCode, ErrorPayload, EventBody, Feature, Frame, IdKind, JobEvent, Message, Replayed,
    StatusBody, Subscribe, Subscribed, Timestamp,
};
use serde_json::{Map, Value};

/// The `phase` of the truncation notice.
pub(in crate::runtime) const TRUNCATED_PHASE: &str = "subscription_truncated";

/// The truncation notice: a `job.event` `status` body
/// `{phase:"subscription_truncated", message, code:"RESUME_WINDOW_EXPIRED", last_event_seq,
/// kept_from}`. `last` is the last seq of the job this subscription delivered, `kept_from`
/// the first seq the owner's buffer still keeps, both in the submitting session's numbering
/// (the one `from_event_seq` takes): subscribing again with `history: true` and
/// `from_event_seq: last` continues without a gap when `kept_from ≤ last + 1`.
pub(in crate::runtime) fn truncation(ts: Timestamp, last: u64, kept_from: u64) -> Message {
    let mut extra = Map::new();
    extra.insert(
        "code".into(),
        Value::from(ErrorCode::ResumeWindowExpired.as_str()),
    );
    extra.insert("last_event_seq".into(), Value::from(last));
    extra.insert("kept_from".into(), Value::from(kept_from));
    Message::Event(JobEvent {
        ts,
        body: EventBody::Status(StatusBody {
            phase: TRUNCATED_PHASE.into(),
            message: Some(format!(
                "subscription truncated: events after {last} are not delivered here (kept from {kept_from})"
            )),
            id: None,
            value: None,
            extra,
        }),
    })
}

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
        if self.jobs.get(&sub.job_id).is_none() && self.clustered() {
            // Clustered: the job may run on another node (flows/remote_subscribe.rs).
            self.subscribe_remote(now, conn, sid, request_id, sub);
            return;
        }
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
        let (job_last, job_first) = job.event_seqs();
        let owner_session = self.sessions.get(job.session_id());
        // Where the owner's buffer starts (everything, when the session is gone).
        let kept_from = owner_session.map_or(job_last, |s| s.freed_through()) + 1;
        // History in the submitting session's numbering (D10), as far as the subscriber's
        // buffer takes it; a gap (frames of this job freed after `from`) or a cut ends the
        // subscription with the truncation notice.
        let mut cut: Option<u64> = None;
        let history: Vec<Message> = if sub.history == Some(true) {
            let from = sub.from_event_seq.unwrap_or(0);
            if job_first != 0 && job_first < kept_from && from + 1 < kept_from && job_last > from {
                cut = Some(from);
                Vec::new()
            } else {
                let all = owner_session
                    .map(|s| s.history(job.id(), from))
                    .unwrap_or_default();
                let (mut events, mut bytes) = self.sessions.room(sid);
                let mut kept = Vec::with_capacity(all.len());
                for (seq, len, m) in all {
                    // Room for the frame and, when it is not the last, the notice after it.
                    if events <= 1 || bytes <= len as u64 {
                        cut = Some(kept.last().map_or(from, |(s, _)| *s));
                        break;
                    }
                    events -= 1;
                    bytes -= len as u64;
                    kept.push((seq, m));
                }
                kept.into_iter().map(|(_, m)| m).collect()
            }
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
        let live = !job.status().is_terminal() && job.session_id() != sid && cut.is_none();
        let f = self
            .envelope(now, conn, Message::Subscribed(subscribed))
            .with_job(job_id.clone());
        // Behind the frames stamped before it (a durable store may still hold them): the
        // replay it announces starts after them.
        self.transmit_after(sid, conn, f);
        for mut m in history {
            if !(owner && may_see_secrets) {
                strip_secret(&mut m);
            }
            let id = self.mint(now, IdKind::Envelope);
            let f = Frame::new(id, m).with_job(job_id.clone()).with_trace(trace);
            self.stamp_with(sid, f, true);
        }
        if let Some(last) = cut {
            self.truncate(now, sid, &job_id, last, kept_from);
        } else if live && !already {
            self.subs.add(sid, &job_id);
        }
        self.audit_subscribe(sid, &principal, &job_id, SubscribeDecision::Allowed);
    }

    /// Ends `sid`'s subscription to `job_id` with the truncation notice ([`truncation`]).
    pub(in crate::runtime) fn truncate(
        &mut self,
        now: Instant,
        sid: &str,
        job_id: &str,
        last: u64,
        kept_from: u64,
    ) {
        self.subs.remove(sid, job_id);
        let trace = self.jobs.get(job_id).and_then(|j| j.trace_id());
        let id = self.mint(now, IdKind::Envelope);
        let m = truncation(self.ids.timestamp_at(now), last, kept_from);
        let f = Frame::new(id, m)
            .with_job(job_id.to_owned())
            .with_trace(trace);
        self.stamp_with(sid, f, true);
        let m = self.out.metrics_mut();
        m.subscriptions_truncated = m.subscriptions_truncated.saturating_add(1);
    }

    /// `job.unsubscribe`: no reply; an unknown job is ignored.
    pub(in crate::runtime) fn unsubscribe(&mut self, sid: &str, job_id: &str) {
        self.subs.remove(sid, job_id);
    }
}
