//! `handle_frame`: every inbound frame, by state. Peer faults never surface as an `Err`:
//! they become events and, when the session cannot go on over this transport, a
//! `CloseTransport` (DESIGN "Errors").

use super::ClientSession;
use super::event::{
    ClientEvent, ClientState, CloseReason, JobOutcome, RequestError, RequestKind, SeqSpace,
    WelcomeInfo,
};
use super::sequence::Verdict;
use crate::time::Instant;
use crate::wire::{
    Direction, ErrorCode, ErrorPayload, EventBody, Feature, FeatureSet, FinalStatus, Frame,
    JobError, JobResult, Limits, Message, Pong, Replayed, RequestId, SessionId, Welcome, decode,
};
use std::time::Duration;

fn protocol_error(message: impl Into<String>) -> ClientEvent {
    ClientEvent::ProtocolError(ErrorPayload::new(ErrorCode::InvalidRequest, message))
}

impl ClientSession {
    /// One complete inbound envelope (a WebSocket message or a stdio line). Ignored when no
    /// transport is up.
    pub fn handle_frame(&mut self, now: Instant, bytes: &[u8]) {
        let now = self.clamp(now);
        if !matches!(self.state, ClientState::Handshaking | ClientState::Open) {
            return;
        }
        self.heartbeat.on_received(now);
        if bytes.len() > self.config.max_frame_bytes {
            // D35: refuse it and drop the transport; the session stays resumable.
            self.push_event(protocol_error(format!(
                "frame with {} bytes exceeds limit of {} bytes",
                bytes.len(),
                self.config.max_frame_bytes
            )));
            self.break_transport(CloseReason::FrameTooLarge);
            return;
        }
        if self.events.len() >= self.config.max_pending_events {
            // Refuse the frame; the resume replays it (the seq was not advanced).
            self.push_event(ClientEvent::EventQueueOverflow {
                limit: self.config.max_pending_events,
            });
            self.break_transport(CloseReason::EventQueueOverflow);
            return;
        }
        let limits = Limits {
            max_frame_bytes: self.config.max_frame_bytes,
            ..Limits::default()
        };
        let frame = match decode(bytes, &limits) {
            Ok(f) => f,
            Err(e) => {
                self.push_event(ClientEvent::ProtocolError(e.to_error_payload()));
                return;
            }
        };
        let ty = frame.message_type();
        if ty.direction() == Direction::ClientToRuntime {
            self.push_event(protocol_error(format!(
                "{} is not sent by a runtime",
                ty.as_str()
            )));
            return;
        }
        if self.state == ClientState::Open {
            if let (Some(theirs), Some(ours)) = (&frame.session_id, &self.session_id)
                && theirs != ours
            {
                self.push_event(protocol_error(format!(
                    "frame for session {theirs} on session {ours}"
                )));
                return;
            }
            self.on_open_frame(now, frame);
        } else {
            self.on_handshake_frame(now, frame);
        }
    }

    fn can_resume(&self) -> bool {
        self.session_id.is_some() && self.resume_token.is_some()
    }

    fn on_handshake_frame(&mut self, now: Instant, frame: Frame) {
        match frame.message {
            Message::Welcome(w) => self.on_welcome(now, frame.session_id, w),
            Message::Error(error) => {
                let resuming = self.resuming;
                self.push_event(ClientEvent::HandshakeFailed { error, resuming });
                self.close_session(CloseReason::HandshakeFailed, RequestError::SessionClosed);
            }
            Message::Ping(p) => self.answer_ping(now, p.nonce),
            Message::Bye(_) | Message::Closed(_) => {
                self.close_session(CloseReason::RuntimeClosed, RequestError::SessionClosed);
            }
            other => self.push_event(protocol_error(format!(
                "{} before session.welcome",
                other.message_type().as_str()
            ))),
        }
    }

    fn on_welcome(&mut self, now: Instant, envelope_sid: Option<SessionId>, w: Welcome) {
        let Some(sid) = envelope_sid.or(w.session_id) else {
            self.push_event(protocol_error("session.welcome without session_id"));
            self.close_session(CloseReason::HandshakeFailed, RequestError::SessionClosed);
            return;
        };
        let resumed = self.resuming && self.session_id.as_deref() == Some(sid.as_str());
        if !resumed {
            self.seq.reset();
            self.acks.reset(0);
            self.results.clear();
        }
        self.session_id = Some(sid.clone());
        self.resume_token = Some(w.resume_token.clone());
        let offered = w.capabilities.features.unwrap_or_default();
        // Unknown names on the wire are ignored.
        self.features = self
            .config
            .features
            .intersection(FeatureSet::from_names(&offered));
        // D26: the heartbeat interval counts only when `heartbeat` was negotiated.
        let interval = if self.features.contains(Feature::Heartbeat) {
            w.heartbeat_interval_sec.map(Duration::from_secs)
        } else {
            None
        };
        self.state = ClientState::Open;
        self.resuming = false;
        self.heartbeat.enable(now, interval, self.config.auto_ping);
        self.push_event(ClientEvent::Welcome(Box::new(WelcomeInfo {
            session_id: sid,
            resumed,
            runtime: w.runtime,
            features: self.features,
            agents: w.capabilities.agents.unwrap_or_default(),
            heartbeat_interval: self.heartbeat.interval(),
            resume_window_sec: w.resume_window_sec,
        })));
        if let Some(state) = self.resume_state() {
            self.push_event(ClientEvent::ResumeStateChanged(state));
        }
    }

    fn answer_ping(&mut self, now: Instant, nonce: String) {
        // D26: pongs are never gated. Dropped when the transmit queue is full.
        let pong = Pong {
            ping_nonce: nonce,
            received_at: self.wall.timestamp_at(now),
        };
        let frame = self.session_frame(now, Message::Pong(pong));
        let _ = self.send(now, frame);
    }

    /// Removes the pending request `request_id` names, or, without one, the oldest pending
    /// request of the right kind (the reference's FIFO fallback).
    fn take_pending(
        &mut self,
        request_id: Option<String>,
        fits: impl Fn(&RequestKind) -> bool,
    ) -> Option<RequestId> {
        match request_id {
            Some(id) => {
                if let Some(pos) = self.pending.iter().position(|(i, _)| *i == id) {
                    self.pending.remove(pos);
                }
                Some(RequestId::from(id))
            }
            None => {
                let pos = self.pending.iter().position(|(_, k)| fits(k))?;
                self.pending.remove(pos).map(|(id, _)| RequestId::from(id))
            }
        }
    }

    fn on_open_frame(&mut self, now: Instant, frame: Frame) {
        let seq = frame.event_seq;
        let job_id = frame.job_id;
        match frame.message {
            Message::Error(e) => self.on_error(e),
            Message::Ping(p) => self.answer_ping(now, p.nonce),
            Message::Pong(p) => {
                let rtt = self
                    .pings
                    .iter()
                    .position(|(n, _)| *n == p.ping_nonce)
                    .and_then(|pos| self.pings.remove(pos))
                    .map(|(_, sent)| now - sent);
                self.push_event(ClientEvent::Pong {
                    nonce: p.ping_nonce,
                    rtt,
                });
            }
            Message::Accepted(a) => {
                let request_id = self.take_pending(a.request_id.clone().map(Into::into), |k| {
                    *k == RequestKind::Submit
                });
                // D27: an idempotent resubmit of an ended job is followed by a copy of its
                // terminal; that copy is the one allowed repeat.
                self.ended.rearm(&a.job_id);
                self.push_event(ClientEvent::Accepted {
                    request_id,
                    job_id: a.job_id.clone(),
                    accepted: Box::new(a),
                });
            }
            Message::Jobs(jobs) => {
                let request_id = self.take_pending(jobs.request_id.clone().map(Into::into), |k| {
                    *k == RequestKind::ListJobs
                });
                self.push_event(ClientEvent::Jobs { request_id, jobs });
            }
            Message::Subscribed(s) => {
                let job = s.job_id.clone();
                let request_id = self.take_pending(
                    s.request_id.clone().map(Into::into),
                    |k| matches!(k, RequestKind::Subscribe(j) if *j == job),
                );
                // D10: the replay is the `replayed` frames ending at `subscribed_from`. It
                // may follow frames of the job stamped before the subscribe (a terminal
                // among them), so the job re-arms at the replay's first frame.
                if request_id.is_some()
                    && let (Some(Replayed::Count(n)), Some(last)) = (&s.replayed, s.subscribed_from)
                    && *n > 0
                    && last >= *n
                {
                    self.ended.rearm_from(&job, last - n + 1);
                }
                self.push_event(ClientEvent::Subscribed {
                    request_id,
                    subscribed: Box::new(s),
                });
            }
            Message::Bye(_) | Message::Closed(_) => {
                self.close_session(CloseReason::RuntimeClosed, RequestError::SessionClosed);
            }
            Message::Welcome(_) => self.push_event(protocol_error("second session.welcome")),
            message @ (Message::Event(_) | Message::Result(_) | Message::JobError(_)) => {
                self.on_job_frame(job_id.map(Into::into), seq, message);
            }
            other => self.push_event(protocol_error(format!(
                "{} is not sent by a runtime",
                other.message_type().as_str()
            ))),
        }
    }

    /// Decision [D20]: a `session.error` with `request_id` fails exactly that request; one without it
    /// fails every pending request, as the reference does.
    ///
    /// [D20]: crate::compat#d20--error-correlation
    fn on_error(&mut self, e: ErrorPayload) {
        match e.request_id.clone() {
            Some(id) => {
                let kind = self
                    .pending
                    .iter()
                    .position(|(i, _)| *i == id)
                    .and_then(|pos| self.pending.remove(pos))
                    .map(|(_, k)| k);
                if let Some(RequestKind::Subscribe(job)) = &kind {
                    self.seq.unsubscribe(job);
                }
                self.push_event(ClientEvent::RequestFailed {
                    request_id: id,
                    kind,
                    error: RequestError::Runtime(e),
                });
            }
            None if self.pending.is_empty() => self.push_event(ClientEvent::SessionError(e)),
            None => self.fail_pending(&RequestError::Runtime(e)),
        }
    }

    fn on_job_frame(&mut self, job_id: Option<String>, seq: Option<u64>, message: Message) {
        let Some(seq) = seq else {
            self.push_event(protocol_error(format!(
                "{} without event_seq",
                message.message_type().as_str()
            )));
            return;
        };
        let can_resume = self.can_resume();
        let space = match self.seq.check(job_id.as_deref(), seq, can_resume) {
            Verdict::Deliver(space) => space,
            Verdict::DeliverAfterGap { expected } => {
                self.push_event(ClientEvent::SequenceGap { expected, got: seq });
                SeqSpace::Session
            }
            Verdict::Duplicate => {
                self.push_event(ClientEvent::DuplicateDropped { event_seq: seq });
                return;
            }
            Verdict::Broken { expected } => {
                // Spec §8.3: the session is broken; resume on the next connect.
                self.push_event(ClientEvent::SequenceBroken { expected, got: seq });
                self.break_transport(CloseReason::SequenceBroken);
                return;
            }
        };
        let Some(job_id) = job_id else {
            self.push_event(protocol_error(format!(
                "{} without job_id",
                message.message_type().as_str()
            )));
            return;
        };
        if space == SeqSpace::Session {
            self.ended.reached(&job_id, seq);
        }
        if self.ended.contains(&job_id) {
            // One terminal per job, nothing after it (the D27 copy re-arms via job.accepted).
            self.push_event(protocol_error(format!(
                "{} for ended job {job_id}",
                message.message_type().as_str()
            )));
            return;
        }
        match message {
            Message::Event(event) => {
                let refused = match &event.body {
                    EventBody::ResultChunk(c) => self
                        .results
                        .chunk(&job_id, c)
                        .err()
                        .map(|reason| (c.result_id.clone(), reason)),
                    _ => None,
                };
                self.push_event(ClientEvent::JobEvent {
                    job_id: job_id.clone().into(),
                    event_seq: seq,
                    space,
                    event,
                });
                if let Some((result_id, reason)) = refused {
                    self.push_event(ClientEvent::ResultRefused {
                        job_id: job_id.into(),
                        result_id,
                        reason,
                    });
                }
            }
            Message::Result(r) => {
                let outcome = self.result_outcome(&job_id, r);
                self.terminal(job_id, seq, space, outcome);
            }
            Message::JobError(e) => {
                self.results.forget_job(&job_id);
                let outcome = error_outcome(e);
                self.terminal(job_id, seq, space, outcome);
            }
            _ => {}
        }
    }

    fn terminal(&mut self, job_id: String, event_seq: u64, space: SeqSpace, outcome: JobOutcome) {
        // A subscription ends with its job.
        self.seq.unsubscribe(&job_id);
        self.ended.insert(&job_id);
        self.push_event(ClientEvent::Terminal {
            job_id: job_id.into(),
            event_seq,
            space,
            outcome,
        });
    }

    fn result_outcome(&mut self, job_id: &str, r: JobResult) -> JobOutcome {
        let completed_at = r.completed_at.clone();
        match r.final_status {
            FinalStatus::Success => JobOutcome::Success {
                result: self.results.finish(job_id, &r),
                completed_at,
            },
            // D6, D8: the reference's terminal forms of cancel and timeout.
            FinalStatus::Cancelled => {
                self.results.forget_job(job_id);
                JobOutcome::Cancelled { completed_at }
            }
            FinalStatus::TimedOut => {
                self.results.forget_job(job_id);
                JobOutcome::TimedOut { completed_at }
            }
            FinalStatus::Error => {
                self.results.forget_job(job_id);
                JobOutcome::Failed {
                    code: ErrorCode::InternalError,
                    message: "job.result with final_status error".into(),
                    retryable: true,
                    details: r.result,
                    completed_at,
                }
            }
        }
    }
}

/// [D6], [D8]: `job.error CANCELLED` / `TIMEOUT` are the spec's forms of cancel and timeout.
///
/// [D6]: crate::compat#d6--cancel
/// [D8]: crate::compat#d8--timeout
fn error_outcome(e: JobError) -> JobOutcome {
    match e.code {
        ErrorCode::Cancelled => JobOutcome::Cancelled {
            completed_at: e.completed_at,
        },
        ErrorCode::Timeout => JobOutcome::TimedOut {
            completed_at: e.completed_at,
        },
        code => JobOutcome::Failed {
            code,
            message: e.message,
            retryable: e.retryable,
            details: e.details,
            completed_at: e.completed_at,
        },
    }
}
