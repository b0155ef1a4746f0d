//! An attached session's side of the orchestration: frame dispatch after the handshake ([D36]
//! session check, ping [D26], ack [D5], bye/close [D1], the gated requests), detaching a connection,
//! the resume window (§6.7), and stamping a frame into a session's ring and onto its
//! connection (or, with a store, into a write-ahead append).
//!
//! [D36]: crate::compat#d36--inbound-session-id
//! [D26]: crate::compat#d26--non-negotiated-features
//! [D5]: crate::compat#d5--ack
//! [D1]: crate::compat#d1--close

use crate::runtime::effect::{CloseReason, ConnId, Effect};
use crate::runtime::event::RuntimeEvent;
use crate::runtime::outbox::{Outgoing, TimerKey};
use crate::runtime::sessions::{Expiry, Session, Stamp};
use crate::runtime::{Pending, Runtime};
use crate::time::Instant;
use crate::wire::{Close, ErrorCode, ErrorPayload, Feature, Frame, Message, Pong};

impl Runtime {
    /// The session attached to `conn`.
    pub(in crate::runtime) fn session_of(&self, conn: ConnId) -> Option<&Session> {
        self.sessions.get(self.conns.session_of(conn)?)
    }

    /// Detaches `conn`'s session (if any): it becomes resumable for the resume window; its
    /// jobs keep running and their frames keep going into its ring ([D3]).
    ///
    /// [D3]: crate::compat#d3--resume-of-a-running-job
    pub(in crate::runtime) fn detach_session_of(&mut self, conn: ConnId) {
        self.out.cancel_timer(&TimerKey::Heartbeat(conn));
        let Some(sid) = self.conns.detach(conn) else {
            return;
        };
        if self.sessions.detach(&sid, conn) {
            let at = self.now + self.cfg.resume_window;
            self.out.set_timer(TimerKey::ResumeWindow(sid.clone()), at);
            self.persist_detached(&sid, at);
            let principal = self.sessions.get(&sid).map(|s| s.principal().to_owned());
            self.enforce_resumable_caps(self.now, principal.as_deref());
        }
    }

    /// The resume window of a detached session elapsed: its buffer is freed, its
    /// subscriptions end, and a later resume gets `RESUME_WINDOW_EXPIRED` ([D2]). Its jobs keep
    /// running (§6.7).
    ///
    /// [D2]: crate::compat#d2--resume
    pub(in crate::runtime) fn resume_window_elapsed(&mut self, now: Instant, sid: &str) {
        match self.sessions.expire(sid) {
            Expiry::Kept => return,
            Expiry::Expired => {}
            Expiry::Welcoming => {
                // A resume is being welcomed (durable replay read in flight): expiring now would
                // welcome it over a cleared buffer and lose its replay silently. Check again
                // shortly; if that resume fails, the session expires then (found by the
                // `session_pair` simulation).
                self.out.set_timer(
                    TimerKey::ResumeWindow(sid.to_owned()),
                    now + std::time::Duration::from_secs(1),
                );
                return;
            }
        }
        self.subs.end_session(sid);
        self.out.set_timer(
            TimerKey::ExpiredSession(sid.to_owned()),
            now + self.cfg.bounds.expired_session_grace,
        );
        self.out.push_event(RuntimeEvent::SessionExpired {
            session_id: sid.to_owned().into(),
        });
    }

    /// An expired session record's grace elapsed: it is forgotten unless jobs it submitted
    /// still run (then it is checked again after the grace).
    pub(in crate::runtime) fn expired_session_grace_elapsed(&mut self, now: Instant, sid: &str) {
        if self.sessions.forget_if_expired(sid) == Some(false) {
            self.out.set_timer(
                TimerKey::ExpiredSession(sid.to_owned()),
                now + self.cfg.bounds.expired_session_grace,
            );
        }
    }

    /// Arms finished job `job_id`'s end of remembrance: `finished_job_ttl` (default: the
    /// resume window) after it ended, at least the idempotency TTL for a keyed job ([D27]).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    pub(in crate::runtime) fn arm_finished_expiry(&mut self, now: Instant, job_id: &str) {
        let Some(job) = self.jobs.get(job_id) else {
            return;
        };
        let b = &self.cfg.bounds;
        let mut ttl = b.finished_job_ttl.unwrap_or(self.cfg.resume_window);
        if job.keyed() {
            ttl = ttl.max(b.idempotency_ttl);
        }
        self.out
            .set_timer(TimerKey::FinishedJob(job_id.to_owned()), now + ttl);
    }

    /// Stamps `frame` with session `sid`'s next `event_seq`, keeps it in the ring and sends it
    /// when the session is attached. Returns the seq (0 for an unknown or expired session).
    pub(in crate::runtime) fn stamp(&mut self, sid: &str, frame: Frame) -> u64 {
        self.stamp_with(sid, frame, false)
    }

    /// [`Runtime::stamp`]; `replay` frames bypass the transmit cap (see `transmit_replay`).
    pub(in crate::runtime) fn stamp_with(&mut self, sid: &str, frame: Frame, replay: bool) -> u64 {
        let seq = self.stamp_inner(sid, frame, replay);
        if self.sessions.resumable_bytes() > self.cfg.bounds.max_resumable_ring_bytes {
            self.enforce_resumable_caps(self.now, None);
        }
        seq
    }

    fn stamp_inner(&mut self, sid: &str, frame: Frame, replay: bool) -> u64 {
        // A replayed frame here is a copy (a subscription's history or notice).
        match self
            .sessions
            .stamp(sid, frame, &mut self.out.scratch, replay)
        {
            Stamp::Dropped => 0,
            Stamp::Append { seq, records } => {
                // Write-ahead: transmitted once the append holding it completed.
                self.push_effect(
                    Effect::AppendEvents(records),
                    Some(Pending::Append {
                        session_id: sid.to_owned(),
                        seq,
                    }),
                );
                seq
            }
            Stamp::Send {
                seq,
                conn,
                frame,
                encoded,
            } => {
                if let Some(conn) = conn {
                    if replay {
                        self.transmit_replay(conn, Outgoing::Kept(frame, encoded));
                    } else {
                        self.transmit_kept(conn, frame, encoded);
                    }
                }
                seq
            }
        }
    }

    /// A decoded frame on an established session.
    pub(in crate::runtime) fn handle_session_frame(
        &mut self,
        now: Instant,
        conn: ConnId,
        frame: Frame,
    ) {
        let Some(session) = self.session_of(conn) else {
            return;
        };
        let sid = session.id().to_owned();
        // D36: an inbound session_id must be absent or this connection's session.
        if frame.session_id.as_deref().is_some_and(|s| s != sid) {
            let err = ErrorPayload::new(
                ErrorCode::InvalidRequest,
                "session_id does not match this connection's session",
            )
            .with_request_id(frame.id);
            self.send_error(now, conn, err);
            return;
        }
        let has = |f: Feature| self.sessions.get(&sid).is_some_and(|s| s.has(f));
        let request_id = frame.id.clone();
        match frame.message {
            Message::Hello(_) | Message::Resume(_) => {
                let err = ErrorPayload::new(
                    ErrorCode::InvalidRequest,
                    "session.hello already sent on this connection",
                )
                .with_request_id(request_id);
                self.send_error(now, conn, err);
            }
            // D26: ping is always answered.
            Message::Ping(p) => {
                let pong = Pong {
                    ping_nonce: p.nonce,
                    received_at: self.ids.timestamp_at(now),
                };
                let f = self.envelope(now, conn, Message::Pong(pong));
                self.transmit(conn, f);
            }
            Message::Pong(_) => {}
            Message::Ack(a) => {
                // D26: ignored without `ack`; D5: frees only acked events.
                if has(Feature::Ack) {
                    self.sessions.ack(&sid, a.last_processed_seq);
                }
            }
            // D1: bye closes the transport; the session stays resumable.
            // Nothing waits on a session whose client said bye (its ring drops the oldest).
            Message::Bye(_) => {
                self.sessions.said_bye(&sid);
                self.close_conn(now, conn, CloseReason::Normal);
            }
            Message::Close(_) => {
                let f = self.envelope(now, conn, Message::Closed(Close::default()));
                self.transmit(conn, f);
                self.sessions.said_bye(&sid);
                self.close_conn(now, conn, CloseReason::Normal);
            }
            Message::ListJobs(l) => {
                if has(Feature::ListJobs) {
                    self.list_jobs(now, conn, &sid, request_id, l);
                } else {
                    self.not_negotiated(now, conn, "list_jobs", request_id);
                }
            }
            Message::Subscribe(sub) => {
                if has(Feature::Subscribe) {
                    self.subscribe(now, conn, &sid, request_id, sub);
                } else {
                    self.not_negotiated(now, conn, "subscribe", request_id);
                }
            }
            Message::Unsubscribe(u) => {
                if has(Feature::Subscribe) {
                    self.unsubscribe(&sid, &u.job_id);
                } else {
                    self.not_negotiated(now, conn, "subscribe", request_id);
                }
            }
            Message::Submit(s) => {
                let trace = frame.trace_id;
                self.submit(now, conn, &sid, request_id, trace, s);
            }
            Message::Cancel(_) => match frame.job_id {
                Some(job) => self.cancel(now, conn, &sid, request_id, &job),
                None => {
                    let err = ErrorPayload::new(
                        ErrorCode::InvalidRequest,
                        "job.cancel requires an envelope job_id",
                    )
                    .with_request_id(request_id);
                    self.send_error(now, conn, err);
                }
            },
            other => {
                let err = ErrorPayload::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "{:?} is not sent by a client",
                        other.message_type().as_str()
                    ),
                )
                .with_request_id(request_id);
                self.send_error(now, conn, err);
            }
        }
    }

    fn not_negotiated(&mut self, now: Instant, conn: ConnId, feature: &str, request_id: String) {
        let err = ErrorPayload::new(
            ErrorCode::InvalidRequest,
            format!("feature {feature:?} not negotiated for this session"),
        )
        .with_request_id(request_id);
        self.send_error(now, conn, err);
    }
}
