//! The handshake: `session.hello` → `Authenticate` effect → `session.welcome` ([D24]), and
//! resume through `session.hello` + `payload.resume` or `session.resume` ([D2], [D4], [D5]).
//!
//! [D24]: crate::compat#d24--welcome
//! [D2]: crate::compat#d2--resume
//! [D4]: crate::compat#d4--failed-resume
//! [D5]: crate::compat#d5--ack

use crate::runtime::conns::Phase;
use crate::runtime::conns::hello::{FirstFrame, HelloRequest, PendingWelcome, first_frame};
use crate::runtime::effect::{CloseReason, ConnId, Effect, EffectId};
use crate::runtime::event::RuntimeEvent;
use crate::runtime::outbox::{Outgoing, TimerKey};
use crate::runtime::sessions::ResumeFrom;
use crate::runtime::{Pending, Runtime};
use crate::time::Instant;
use crate::wire::{
    Capabilities, ErrorCode, ErrorPayload, Feature, Frame, IdKind, Message, Welcome,
};

impl Runtime {
    /// A frame on a connection without a session yet.
    pub(in crate::runtime) fn handle_handshake_frame(
        &mut self,
        now: Instant,
        conn: ConnId,
        frame: Frame,
    ) {
        if matches!(self.conns.phase(conn), Some(Phase::Authenticating(_))) {
            let err = ErrorPayload::new(
                ErrorCode::InvalidRequest,
                "session.hello is still being authenticated",
            )
            .with_request_id(frame.id);
            self.send_error(now, conn, err);
            return;
        }
        match first_frame(conn, frame) {
            FirstFrame::Authenticate { token, req } => self.start_auth(now, token, req),
            FirstFrame::Resume(req) => self.resume(now, None, req),
            FirstFrame::Refuse(err) => self.fail_handshake(now, conn, err),
        }
    }

    fn start_auth(&mut self, now: Instant, token: String, req: HelloRequest) {
        let conn = req.conn;
        if self.effects_full() {
            let err = ErrorPayload::new(ErrorCode::InternalError, "runtime busy, retry later")
                .with_request_id(req.request_id);
            self.fail_handshake(now, conn, err);
            return;
        }
        let id = self.push_effect(
            Effect::Authenticate { conn, token },
            Some(Pending::Auth(Box::new(req))),
        );
        self.conns.set_phase(conn, Phase::Authenticating(id));
    }

    /// `session.error` without a session, then close (spec §6.1–§6.2).
    pub(in crate::runtime) fn fail_handshake(
        &mut self,
        now: Instant,
        conn: ConnId,
        err: ErrorPayload,
    ) {
        self.send_error(now, conn, err);
        self.close_conn(now, conn, CloseReason::HandshakeFailed);
    }

    /// The `Authenticate` effect finished.
    pub(in crate::runtime) fn auth_done(
        &mut self,
        now: Instant,
        effect: EffectId,
        req: HelloRequest,
        principal: Result<String, String>,
    ) {
        let conn = req.conn;
        if !self.conns.awaits(conn, effect) {
            return;
        }
        self.conns.set_phase(conn, Phase::AwaitHello);
        match principal {
            Err(message) => {
                let err = ErrorPayload::new(ErrorCode::Unauthenticated, message)
                    .with_request_id(req.request_id);
                self.fail_handshake(now, conn, err);
            }
            Ok(p) if req.resume.is_some() => self.resume(now, Some(p), req),
            Ok(p) => self.open_session(now, p, req),
        }
    }

    fn open_session(&mut self, now: Instant, principal: String, req: HelloRequest) {
        let conn = req.conn;
        // Spec §14: PERMISSION_DENIED, details.limit "sessions_per_principal", then close.
        if let Err(err) = self.check_session_limit(conn, &principal) {
            self.fail_handshake(now, conn, err.with_request_id(req.request_id));
            return;
        }
        if self.clustered() && self.cfg.limits.max_sessions_per_principal != usize::MAX {
            // The cap across the cluster: the shared store admits it (flows/admission.rs).
            self.admit_session(now, principal, req);
            return;
        }
        self.create_session(now, principal, None, req);
    }

    /// Creates the session (`sid`, or a fresh id) and welcomes it, unless `max_sessions`
    /// are held.
    pub(in crate::runtime) fn create_session(
        &mut self,
        now: Instant,
        principal: String,
        sid: Option<String>,
        req: HelloRequest,
    ) {
        let conn = req.conn;
        if self.sessions.len() >= self.cfg.bounds.max_sessions && !self.sessions.forget_expired() {
            let err = ErrorPayload::new(ErrorCode::InternalError, "too many sessions")
                .with_request_id(req.request_id);
            self.fail_handshake(now, conn, err);
            return;
        }
        let sid = match sid {
            Some(sid) => sid,
            None => self.mint(now, IdKind::Session),
        };
        let features = self.cfg.negotiate(req.features.as_deref().unwrap_or(&[]));
        self.sessions.create(sid.clone(), principal, features);
        self.welcome(now, PendingWelcome::new(conn, sid, req.request_id, None));
    }

    /// Rotates the resume token, then sends the welcome and the replay. With a durable store
    /// the session record holding the new token is persisted first.
    pub(in crate::runtime) fn welcome(&mut self, now: Instant, mut pw: PendingWelcome) {
        let token = self.mint(now, IdKind::ResumeToken);
        let Some(old_hash) = self.sessions.rotate_token(&pw.session_id, &token) else {
            return;
        };
        pw.old_hash = old_hash;
        pw.token = token;
        if !self.cfg.durable {
            self.finish_welcome(now, pw);
            return;
        }
        self.sessions.set_welcoming(&pw.session_id, true);
        let record = self.sessions.record(&pw.session_id, None);
        let conn = pw.conn;
        let Some(record) = record else {
            return;
        };
        let id = self.push_effect(
            Effect::PersistSession(record),
            Some(Pending::Welcome(Box::new(pw))),
        );
        self.conns.set_phase(conn, Phase::Authenticating(id));
    }

    /// The `PersistSession` before a welcome finished.
    pub(in crate::runtime) fn welcome_persisted(
        &mut self,
        now: Instant,
        effect: EffectId,
        pw: PendingWelcome,
        ok: Result<(), String>,
    ) {
        let waiting = self.conns.awaits(pw.conn, effect);
        self.sessions.set_welcoming(&pw.session_id, false);
        if !waiting || ok.is_err() {
            self.sessions
                .restore_token(&pw.session_id, pw.old_hash.clone());
        }
        if !waiting {
            return;
        }
        match ok {
            Ok(()) => self.finish_welcome(now, pw),
            Err(m) => {
                let err = ErrorPayload::new(
                    ErrorCode::InternalError,
                    format!("session could not be persisted: {m}"),
                )
                .with_request_id(pw.request_id);
                self.fail_handshake(now, pw.conn, err);
            }
        }
    }

    /// Attaches the connection, sends the welcome, the replay, and starts heartbeats.
    fn finish_welcome(&mut self, now: Instant, pw: PendingWelcome) {
        let (conn, sid) = (pw.conn, pw.session_id.clone());
        if self.sessions.get(&sid).is_none() {
            // Released to another node meanwhile (clustered only): the client resumes there.
            self.close_conn(now, conn, CloseReason::GoingAway);
            return;
        }
        self.conns.set_phase(conn, Phase::Open(sid.clone()));
        self.out.cancel_timer(&TimerKey::Hello(conn));
        // A resume's frames after `last_event_seq` are replayed: undelivered again.
        let resumed_after = pw.replay_after.map(|last| {
            pw.stored
                .iter()
                .filter_map(|f| f.event_seq)
                .max()
                .unwrap_or(last)
                .max(last)
        });
        self.sessions.attach(&sid, conn, resumed_after);
        // §9.8: no credentials over a transport that may not carry them.
        let withhold = self.conns.withholds_credentials(conn);
        if withhold {
            self.sessions
                .remove_feature(&sid, Feature::ProvisionedCredentials);
        }
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let heartbeat = s.has(Feature::Heartbeat);
        let rich = s.has(Feature::AgentVersions);
        let principal = s.principal().to_owned();
        let mut runtime = self.cfg.runtime.clone();
        if runtime.node_id.is_none() {
            runtime.node_id.clone_from(&self.cfg.node_id);
        }
        let welcome = Welcome {
            runtime,
            session_id: Some(sid.clone().into()),
            resume_token: pw.token,
            resume_window_sec: self.cfg.resume_window.as_secs(),
            // D26: only with `heartbeat` negotiated.
            heartbeat_interval_sec: heartbeat.then_some(self.cfg.heartbeat_interval.as_secs()),
            // D24: the runtime's full feature list and inventory.
            capabilities: Capabilities {
                encodings: Some(vec!["json".into()]),
                features: Some({
                    let mut offered = self.cfg.features;
                    if withhold {
                        offered.remove(Feature::ProvisionedCredentials);
                    }
                    offered.to_names()
                }),
                agents: Some(self.cfg.agents.iter().map(|a| a.info(rich)).collect()),
            },
            accepted_at: Some(self.ids.timestamp_at(now)),
        };
        self.out.cancel_timer(&TimerKey::ResumeWindow(sid.clone()));
        let frame = self.envelope(now, conn, Message::Welcome(welcome));
        self.transmit(conn, frame);
        if let Some(last) = pw.replay_after {
            // D3: everything after last_event_seq — from the store, then from the ring, up
            // to what is durable; later frames follow as their appends complete.
            let after = pw
                .stored
                .iter()
                .filter_map(|f| f.event_seq)
                .max()
                .unwrap_or(last)
                .max(last);
            let mut stored = pw.stored;
            self.stored_credentials(conn, &sid, &mut stored);
            for f in stored {
                self.transmit_replay(conn, Outgoing::Plain(Box::new(f)));
            }
            // The store has more before the ring, or frames that became durable while the
            // welcome was being persisted have left the ring since the read: read on, a
            // page at a time, as the connection takes them (live frames wait for the replay).
            if pw.more_stored || (self.cfg.durable && !self.sessions.ring_continues(&sid, after)) {
                self.sessions.set_store_next(&sid, Some(after));
                self.next_store_page(conn, &sid);
            } else {
                for (f, b) in self.sessions.replay(&sid, after) {
                    let out = self.kept_credentials(conn, f, b);
                    self.transmit_replay(conn, out);
                }
            }
        }
        if heartbeat {
            self.out
                .set_timer(TimerKey::Heartbeat(conn), now + self.cfg.heartbeat_interval);
        }
        self.out.push_event(RuntimeEvent::SessionOpened {
            conn,
            session_id: sid.into(),
            principal,
            resumed: pw.replay_after.is_some(),
        });
    }

    /// Resume ([D2]): token and principal checked without destroying the record ([D4]); a gap
    /// below what is kept is `RESUME_WINDOW_EXPIRED` ([D5]), unless the durable store still
    /// has it (`ReadEvents`); then welcome and replay ([D3]).
    ///
    /// [D2]: crate::compat#d2--resume
    /// [D4]: crate::compat#d4--failed-resume
    /// [D5]: crate::compat#d5--ack
    /// [D3]: crate::compat#d3--resume-of-a-running-job
    pub(in crate::runtime) fn resume(
        &mut self,
        now: Instant,
        principal: Option<String>,
        req: HelloRequest,
    ) {
        if self.clustered() {
            // The session is claimed first; the checks below follow its answer.
            self.claim_for_resume(now, principal, req);
            return;
        }
        self.resume_checked(now, principal, req);
    }

    /// The resume's checks, then its welcome (with a claimed session, in a cluster).
    pub(in crate::runtime) fn resume_checked(
        &mut self,
        now: Instant,
        principal: Option<String>,
        req: HelloRequest,
    ) {
        let conn = req.conn;
        let Some(r) = req.resume.as_ref() else {
            return;
        };
        let from = match self
            .sessions
            .check_resume(r, principal.as_deref(), &req.request_id)
        {
            Ok(from) => from,
            Err(err) => {
                self.out.metrics_mut().resume_refused(&err.code);
                self.fail_handshake(now, conn, err);
                return;
            }
        };
        let sid = r.session_id.clone();
        let last = r.last_event_seq;
        if let Some(f) = &req.features {
            let features = self.cfg.negotiate(f);
            self.sessions.set_features(&sid, features);
        }
        let pw = PendingWelcome::new(conn, sid.clone().into(), req.request_id.clone(), Some(last));
        if from == ResumeFrom::Store {
            self.sessions.set_welcoming(&sid, true);
            let id = self.push_effect(
                Effect::ReadEvents {
                    session_id: sid,
                    after_seq: last,
                },
                Some(Pending::ReadForResume(Box::new(pw))),
            );
            self.conns.set_phase(conn, Phase::Authenticating(id));
            return;
        }
        self.welcome(now, pw);
    }

    /// `ReadEvents` for a resume beyond the ring returned: the store must cover the gap.
    pub(in crate::runtime) fn resume_read(
        &mut self,
        now: Instant,
        effect: EffectId,
        mut pw: PendingWelcome,
        frames: Option<Vec<Frame>>,
    ) {
        let waiting = self.conns.awaits(pw.conn, effect);
        if self.sessions.get(&pw.session_id).is_none() {
            // Released to another node meanwhile (clustered only): the client resumes there.
            if waiting {
                self.close_conn(now, pw.conn, CloseReason::GoingAway);
            }
            return;
        }
        self.sessions.set_welcoming(&pw.session_id, false);
        if !waiting {
            return;
        }
        let last = pw.replay_after.unwrap_or(0);
        match self
            .sessions
            .stored_replay(&pw.session_id, last, frames, &pw.request_id)
        {
            Ok((stored, more)) => {
                pw.stored = stored;
                pw.more_stored = more;
                self.welcome(now, pw);
            }
            Err(err) => {
                self.out.metrics_mut().resume_refused(&err.code);
                self.fail_handshake(now, pw.conn, err);
            }
        }
    }
}
