//! A connection's first frame (WIRE.md §5.4): `session.hello`, or the spec's `session.resume`
//! (D2) with or without credentials; anything else ends the connection. Also what a
//! handshake carries between its effects: the hello waiting for its `Authenticate` result,
//! and the welcome waiting for its session record (or its resume replay).

use crate::runtime::effect::ConnId;
use crate::wire::{ErrorCode, ErrorPayload, Frame, Message, ResumeRequest};

/// A hello waiting for its `Authenticate` result.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::runtime) struct HelloRequest {
    pub conn: ConnId,
    pub request_id: String,
    /// Requested features; `None` keeps a resumed session's set (a bare `session.resume`).
    pub features: Option<Vec<String>>,
    pub resume: Option<ResumeRequest>,
}

/// A welcome waiting for its session record to be persisted (or its replay to be read).
#[derive(Debug)]
pub(in crate::runtime) struct PendingWelcome {
    pub conn: ConnId,
    pub session_id: String,
    pub request_id: String,
    /// The new resume token.
    pub token: String,
    /// The hash the session had before this welcome (restored if it fails).
    pub old_hash: String,
    /// `Some(last_event_seq)` for a resume.
    pub replay_after: Option<u64>,
    /// Frames read from the store for the replay.
    pub stored: Vec<Frame>,
    /// The store has more frames before the ring: read page by page after the welcome.
    pub more_stored: bool,
}

impl PendingWelcome {
    /// A welcome of session `session_id` on `conn` answering `request_id`; a resume replays
    /// what follows `replay_after`.
    pub fn new(
        conn: ConnId,
        session_id: String,
        request_id: String,
        replay_after: Option<u64>,
    ) -> Self {
        PendingWelcome {
            conn,
            session_id,
            request_id,
            token: String::new(),
            old_hash: String::new(),
            replay_after,
            stored: Vec::new(),
            more_stored: false,
        }
    }
}

/// What a connection's first frame asks for.
#[derive(Debug, PartialEq)]
pub(in crate::runtime) enum FirstFrame {
    /// Authenticate `token`, then open or resume.
    Authenticate { token: String, req: HelloRequest },
    /// A `session.resume` without credentials: the resume token alone proves it (D2).
    Resume(HelloRequest),
    /// Not a hello: answer this (`INVALID_REQUEST`) and close.
    Refuse(ErrorPayload),
}

/// Reads the first frame of `conn`.
pub(in crate::runtime) fn first_frame(conn: ConnId, frame: Frame) -> FirstFrame {
    let request_id = frame.id;
    match frame.message {
        Message::Hello(h) => FirstFrame::Authenticate {
            req: HelloRequest {
                conn,
                request_id,
                features: Some(h.features().to_vec()),
                resume: h.resume,
            },
            token: h.auth.token,
        },
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
                Some(auth) => FirstFrame::Authenticate {
                    token: auth.token,
                    req,
                },
                None => FirstFrame::Resume(req),
            }
        }
        other => FirstFrame::Refuse(
            ErrorPayload::new(
                ErrorCode::InvalidRequest,
                format!(
                    "expected session.hello as first envelope, got {:?}",
                    other.message_type().as_str()
                ),
            )
            .with_request_id(request_id),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Limits, decode};

    fn first(json: &str) -> FirstFrame {
        let frame = decode(json.as_bytes(), &Limits::default()).expect("valid frame");
        first_frame(ConnId(1), frame)
    }

    #[test]
    fn hello_asks_to_authenticate_its_token_with_its_features() {
        let f = first(
            r#"{"arcp":"1.1","id":"01M85JT00000000000000000AA","type":"session.hello","payload":{"client":{"name":"c","version":"1"},"auth":{"scheme":"bearer","token":"tok"},"capabilities":{"features":["ack","heartbeat"]}}}"#,
        );
        assert_eq!(
            f,
            FirstFrame::Authenticate {
                token: "tok".into(),
                req: HelloRequest {
                    conn: ConnId(1),
                    request_id: "01M85JT00000000000000000AA".into(),
                    features: Some(vec!["ack".into(), "heartbeat".into()]),
                    resume: None,
                },
            }
        );
    }

    #[test]
    fn bare_resume_keeps_the_features_and_skips_authentication_d2() {
        let f = first(
            r#"{"arcp":"1.1","id":"r1","type":"session.resume","payload":{"session_id":"sess_1","resume_token":"rtk_1","last_event_seq":4}}"#,
        );
        assert_eq!(
            f,
            FirstFrame::Resume(HelloRequest {
                conn: ConnId(1),
                request_id: "r1".into(),
                features: None,
                resume: Some(ResumeRequest {
                    session_id: "sess_1".into(),
                    resume_token: "rtk_1".into(),
                    last_event_seq: 4,
                }),
            })
        );
    }

    #[test]
    fn anything_else_is_refused_with_its_request_id() {
        let f = first(
            r#"{"arcp":"1.1","id":"p1","type":"session.ping","payload":{"nonce":"n","sent_at":"2026-11-24T01:30:27Z"}}"#,
        );
        let FirstFrame::Refuse(e) = f else {
            panic!("refused");
        };
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert_eq!(
            e.message,
            "expected session.hello as first envelope, got \"session.ping\""
        );
        assert_eq!(e.request_id.as_deref(), Some("p1"));
    }
}
