//! The handshake: `session.hello` → `Authenticate` effect → `session.welcome` (D24), and
//! resume through `session.hello` + `payload.resume` or `session.resume` (D2, D4, D5).

use super::effect::{CloseReason, ConnId, Effect, EffectId};
use super::event::RuntimeEvent;
use super::jobs::Pending;
use super::session::Session;
use super::{Runtime, TimerKey};
use crate::time::Instant;
use crate::wire::{
    Capabilities, ErrorCode, ErrorPayload, Frame, IdKind, Message, ResumeRequest, Welcome,
};

/// Where a connection is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting for the first frame, which must be a hello.
    AwaitHello,
    /// The hello's token is being authenticated.
    Authenticating(EffectId),
    /// Attached to this session.
    Open(String),
    /// Being closed; nothing more is sent or handled.
    Closing,
}

/// A hello waiting for its `Authenticate` result.
#[derive(Debug, Clone)]
pub(super) struct HelloRequest {
    pub conn: ConnId,
    pub request_id: String,
    /// Requested features; `None` keeps a resumed session's set (a bare `session.resume`).
    pub features: Option<Vec<String>>,
    pub resume: Option<ResumeRequest>,
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
        if matches!(
            self.conns.get(&conn).map(|c| &c.phase),
            Some(Phase::Authenticating(_))
        ) {
            let err = ErrorPayload::new(
                ErrorCode::InvalidRequest,
                "session.hello is still being authenticated",
            )
            .with_request_id(frame.id);
            self.send_error(now, conn, err);
            return;
        }
        let request_id = frame.id;
        match frame.message {
            Message::Hello(h) => {
                let req = HelloRequest {
                    conn,
                    request_id,
                    features: Some(h.features().to_vec()),
                    resume: h.resume,
                };
                self.start_auth(now, h.auth.token, req);
            }
            // D2: the spec's `session.resume`, with or without credentials.
            Message::Resume(r) => {
                let req = HelloRequest {
                    conn,
                    request_id,
                    features: r
                        .capabilities
                        .as_ref()
                        .map(|c| c.features.clone().unwrap_or_default()),
                    resume: Some(ResumeRequest {
                        session_id: r.session_id,
                        resume_token: r.resume_token,
                        last_event_seq: r.last_event_seq,
                    }),
                };
                match r.auth {
                    Some(auth) => self.start_auth(now, auth.token, req),
                    None => self.resume(now, None, req),
                }
            }
            other => {
                let err = ErrorPayload::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "expected session.hello as first envelope, got {:?}",
                        other.message_type().as_str()
                    ),
                )
                .with_request_id(request_id);
                self.fail_handshake(now, conn, err);
            }
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
        if let Some(c) = self.conns.get_mut(&conn) {
            c.phase = Phase::Authenticating(id);
        }
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
        let waiting = self
            .conns
            .get(&conn)
            .is_some_and(|c| c.phase == Phase::Authenticating(effect));
        if !waiting {
            return;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.phase = Phase::AwaitHello;
        }
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
        if self.sessions.len() >= self.cfg.bounds.max_sessions && !self.forget_expired_session() {
            let err = ErrorPayload::new(ErrorCode::InternalError, "too many sessions")
                .with_request_id(req.request_id);
            self.fail_handshake(now, conn, err);
            return;
        }
        let sid = self.mint(now, IdKind::Session);
        let token = self.mint(now, IdKind::ResumeToken);
        let features = self.cfg.negotiate(req.features.as_deref().unwrap_or(&[]));
        let session = Session::new(
            sid.clone(),
            principal.clone(),
            token,
            features,
            &self.cfg.bounds,
        );
        self.sessions.insert(sid.clone(), session);
        self.attach(now, conn, &sid);
        self.push_event(RuntimeEvent::SessionOpened {
            conn,
            session_id: sid,
            principal,
            resumed: false,
        });
    }

    /// Attaches `conn` to session `sid`, sends the welcome and starts heartbeats.
    fn attach(&mut self, now: Instant, conn: ConnId, sid: &str) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.phase = Phase::Open(sid.to_owned());
        }
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        s.conn = Some(conn);
        let heartbeat = s.has("heartbeat");
        let rich = s.has("agent_versions");
        let welcome = Welcome {
            runtime: self.cfg.runtime.clone(),
            session_id: Some(sid.to_owned()),
            resume_token: s.token.clone(),
            resume_window_sec: self.cfg.resume_window.as_secs(),
            // D26: only with `heartbeat` negotiated.
            heartbeat_interval_sec: heartbeat.then(|| self.cfg.heartbeat_interval.as_secs()),
            // D24: the runtime's full feature list and inventory.
            capabilities: Capabilities {
                encodings: Some(vec!["json".into()]),
                features: Some(self.cfg.features.clone()),
                agents: Some(self.cfg.agents.iter().map(|a| a.info(rich)).collect()),
            },
            accepted_at: Some(self.wall.timestamp_at(now)),
        };
        self.timers.cancel(&TimerKey::ResumeWindow(sid.to_owned()));
        let frame = self.envelope(now, conn, Message::Welcome(welcome));
        self.transmit(conn, frame);
        if heartbeat {
            self.timers
                .set(TimerKey::Heartbeat(conn), now + self.cfg.heartbeat_interval);
        }
    }

    /// Resume (D2): token and principal checked without destroying the record (D4); a gap
    /// below what is kept is `RESUME_WINDOW_EXPIRED` (D5); then welcome and replay (D3).
    pub(super) fn resume(&mut self, now: Instant, principal: Option<String>, req: HelloRequest) {
        let conn = req.conn;
        let Some(r) = req.resume.as_ref() else {
            return;
        };
        let deny = |m: &str| {
            ErrorPayload::new(ErrorCode::PermissionDenied, m).with_request_id(&req.request_id)
        };
        let refusal = match self.sessions.get(&r.session_id) {
            None => Some(deny("no resumable session")),
            Some(s) if principal.as_ref().is_some_and(|p| *p != s.principal) => {
                Some(deny("no resumable session"))
            }
            Some(s) if !same_secret(&s.token, &r.resume_token) => {
                Some(deny("invalid resume token"))
            }
            Some(s) if s.expired => Some(
                ErrorPayload::new(ErrorCode::ResumeWindowExpired, "resume window elapsed")
                    .with_request_id(&req.request_id),
            ),
            Some(s) if s.conn.is_some() => Some(deny("session is attached to a connection")),
            Some(s) if !s.ring.covers_after(r.last_event_seq) => Some(
                ErrorPayload::new(
                    ErrorCode::ResumeWindowExpired,
                    format!(
                        "events after {} are no longer buffered (kept from {})",
                        r.last_event_seq,
                        s.ring.freed_through() + 1
                    ),
                )
                .with_request_id(&req.request_id),
            ),
            Some(_) => None,
        };
        if let Some(err) = refusal {
            self.fail_handshake(now, conn, err);
            return;
        }
        let sid = r.session_id.clone();
        let last = r.last_event_seq;
        let token = self.mint(now, IdKind::ResumeToken);
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        s.token = token;
        if let Some(f) = &req.features {
            s.features = self.cfg.negotiate(f);
        }
        let principal = s.principal.clone();
        self.attach(now, conn, &sid);
        let replay: Vec<Frame> = self
            .sessions
            .get(&sid)
            .map(|s| s.ring.after(last).map(|e| e.frame.clone()).collect())
            .unwrap_or_default();
        for f in replay {
            self.transmit_replay(conn, f);
        }
        self.push_event(RuntimeEvent::SessionOpened {
            conn,
            session_id: sid,
            principal,
            resumed: true,
        });
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
