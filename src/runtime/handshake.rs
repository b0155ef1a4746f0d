//! The handshake: `session.hello` → `Authenticate` effect → `session.welcome` (D24), and
//! resume through `session.hello` + `payload.resume` or `session.resume` (D2, D4, D5).

use super::Runtime;
use super::conns::Phase;
use super::conns::hello::{FirstFrame, HelloRequest, PendingWelcome, first_frame};
use super::durability::token_hash;
use super::effect::{CloseReason, ConnId, Effect, EffectId};
use super::event::RuntimeEvent;
use super::jobs::Pending;
use super::outbox::{Outgoing, TimerKey};
use super::session::Session;
use crate::time::Instant;
use crate::wire::{Capabilities, ErrorCode, ErrorPayload, Frame, IdKind, Message, Welcome};

fn window_expired(last: u64, freed: u64, request_id: &str) -> ErrorPayload {
    ErrorPayload::new(
        ErrorCode::ResumeWindowExpired,
        format!(
            "events after {last} are no longer buffered (kept from {})",
            freed + 1
        ),
    )
    .with_request_id(request_id)
}

/// Constant-time string comparison for resume tokens.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Runtime {
    /// A frame on a connection without a session yet.
    pub(super) fn handle_handshake_frame(&mut self, now: Instant, conn: ConnId, frame: Frame) {
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

    /// `session.error` without a session, then close (WIRE.md §5.4).
    pub(super) fn fail_handshake(&mut self, now: Instant, conn: ConnId, err: ErrorPayload) {
        self.send_error(now, conn, err);
        self.close_conn(now, conn, CloseReason::HandshakeFailed);
    }

    /// The `Authenticate` effect finished.
    pub(super) fn auth_done(
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
        if self.sessions.len() >= self.cfg.bounds.max_sessions && !self.forget_expired_session() {
            let err = ErrorPayload::new(ErrorCode::InternalError, "too many sessions")
                .with_request_id(req.request_id);
            self.fail_handshake(now, conn, err);
            return;
        }
        let sid = self.mint(now, IdKind::Session);
        let features = self.cfg.negotiate(req.features.as_deref().unwrap_or(&[]));
        let session = Session::new(
            sid.clone(),
            principal,
            String::new(),
            features,
            &self.cfg.bounds,
        );
        self.sessions.insert(sid.clone(), session);
        self.welcome(now, PendingWelcome::new(conn, sid, req.request_id, None));
    }

    /// Rotates the resume token, then sends the welcome and the replay. With a durable store
    /// the session record holding the new token is persisted first.
    pub(super) fn welcome(&mut self, now: Instant, mut pw: PendingWelcome) {
        let token = self.mint(now, IdKind::ResumeToken);
        let hash = token_hash(&token);
        let Some(s) = self.sessions.get_mut(&pw.session_id) else {
            return;
        };
        pw.old_hash = std::mem::replace(&mut s.token_hash, hash);
        pw.token = token;
        if !self.cfg.durable {
            self.finish_welcome(now, pw);
            return;
        }
        s.welcoming = true;
        let record = self.session_record(&pw.session_id, None);
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
    pub(super) fn welcome_persisted(
        &mut self,
        now: Instant,
        effect: EffectId,
        pw: PendingWelcome,
        ok: Result<(), String>,
    ) {
        let waiting = self.conns.awaits(pw.conn, effect);
        if let Some(s) = self.sessions.get_mut(&pw.session_id) {
            s.welcoming = false;
            if !waiting || ok.is_err() {
                s.token_hash = pw.old_hash.clone();
            }
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
        self.conns.set_phase(conn, Phase::Open(sid.clone()));
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        s.conn = Some(conn);
        let heartbeat = s.has("heartbeat");
        let rich = s.has("agent_versions");
        let principal = s.principal.clone();
        let welcome = Welcome {
            runtime: self.cfg.runtime.clone(),
            session_id: Some(sid.clone()),
            resume_token: pw.token,
            resume_window_sec: self.cfg.resume_window.as_secs(),
            // D26: only with `heartbeat` negotiated.
            heartbeat_interval_sec: heartbeat.then_some(self.cfg.heartbeat_interval.as_secs()),
            // D24: the runtime's full feature list and inventory.
            capabilities: Capabilities {
                encodings: Some(vec!["json".into()]),
                features: Some(self.cfg.features.clone()),
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
            let replay: Vec<Outgoing> = self
                .sessions
                .get(&sid)
                .map(|s| {
                    s.ring
                        .after(after)
                        .take_while(|e| e.seq <= s.durable_through)
                        .map(|e| Outgoing::Kept(e.frame.clone(), e.encoded.clone()))
                        .collect()
                })
                .unwrap_or_default();
            for out in pw.stored.into_iter().map(Outgoing::Plain).chain(replay) {
                self.transmit_replay(conn, out);
            }
        }
        if heartbeat {
            self.out
                .set_timer(TimerKey::Heartbeat(conn), now + self.cfg.heartbeat_interval);
        }
        self.out.push_event(RuntimeEvent::SessionOpened {
            conn,
            session_id: sid,
            principal,
            resumed: pw.replay_after.is_some(),
        });
    }

    /// Resume (D2): token and principal checked without destroying the record (D4); a gap
    /// below what is kept is `RESUME_WINDOW_EXPIRED` (D5), unless the durable store still
    /// has it (`ReadEvents`); then welcome and replay (D3).
    pub(super) fn resume(&mut self, now: Instant, principal: Option<String>, req: HelloRequest) {
        let conn = req.conn;
        let Some(r) = req.resume.as_ref() else {
            return;
        };
        let deny = |m: &str| {
            ErrorPayload::new(ErrorCode::PermissionDenied, m).with_request_id(&req.request_id)
        };
        let durable = self.cfg.durable;
        let presented = token_hash(&r.resume_token);
        let mut read_store = false;
        let refusal = match self.sessions.get(&r.session_id) {
            None => Some(deny("no resumable session")),
            Some(s) if principal.as_ref().is_some_and(|p| *p != s.principal) => {
                Some(deny("no resumable session"))
            }
            Some(s) if !same_secret(&s.token_hash, &presented) => {
                Some(deny("invalid resume token"))
            }
            Some(s) if s.expired => Some(
                ErrorPayload::new(ErrorCode::ResumeWindowExpired, "resume window elapsed")
                    .with_request_id(&req.request_id),
            ),
            Some(s) if s.conn.is_some() || s.welcoming => {
                Some(deny("session is attached to a connection"))
            }
            Some(s) if !s.ring.covers_after(r.last_event_seq) && durable => {
                read_store = true;
                None
            }
            Some(s) if !s.ring.covers_after(r.last_event_seq) => Some(window_expired(
                r.last_event_seq,
                s.ring.freed_through(),
                &req.request_id,
            )),
            Some(_) => None,
        };
        if let Some(err) = refusal {
            self.out.metrics_mut().resume_refused(&err.code);
            self.fail_handshake(now, conn, err);
            return;
        }
        let sid = r.session_id.clone();
        let last = r.last_event_seq;
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if let Some(f) = &req.features {
            s.features = self.cfg.negotiate(f);
        }
        let pw = PendingWelcome::new(conn, sid.clone(), req.request_id.clone(), Some(last));
        if read_store {
            s.welcoming = true;
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
    pub(super) fn resume_read(
        &mut self,
        now: Instant,
        effect: EffectId,
        mut pw: PendingWelcome,
        frames: Option<Vec<Frame>>,
    ) {
        let waiting = self.conns.awaits(pw.conn, effect);
        let Some(s) = self.sessions.get_mut(&pw.session_id) else {
            return;
        };
        s.welcoming = false;
        if !waiting {
            return;
        }
        let last = pw.replay_after.unwrap_or(0);
        let need = s.ring.freed_through();
        let mut got: Vec<Frame> = frames
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f.event_seq.is_some_and(|q| q > last && q <= need))
            .collect();
        got.sort_by_key(|f| f.event_seq);
        got.dedup_by_key(|f| f.event_seq);
        let covered = got.len() as u64 == need.saturating_sub(last);
        if !covered {
            let err = window_expired(last, need, &pw.request_id);
            self.out.metrics_mut().resume_refused(&err.code);
            self.fail_handshake(now, pw.conn, err);
            return;
        }
        pw.stored = got;
        self.welcome(now, pw);
    }

    /// Drops one expired session record to make room; `false` when there is none.
    fn forget_expired_session(&mut self) -> bool {
        let victim = self
            .sessions
            .iter()
            .find(|(_, s)| s.expired)
            .map(|(k, _)| k.clone());
        match victim {
            Some(k) => {
                self.sessions.remove(&k);
                true
            }
            None => false,
        }
    }
}
