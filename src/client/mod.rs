//! [`ClientSession`]: the Sans-IO client state machine.
//!
//! One `ClientSession` per logical session. It outlives transports: after
//! [`handle_disconnected`](ClientSession::handle_disconnected) it keeps its state, and the next
//! [`handle_connected`](ClientSession::handle_connected) resumes ([D2]: `session.hello`
//! with `payload.resume`). It never reads a clock or an RNG: every input takes `now`, wall time
//! comes from the [`WallClock`] anchor, ids from the [`Entropy`] given at construction. A
//! `now` earlier than the latest already seen is taken as the latest: time never runs
//! backwards inside the session.
//!
//! Drive it by the crate's driving contract: feed one input, drain
//! [`poll_transmit`](ClientSession::poll_transmit) and [`poll_event`](ClientSession::poll_event),
//! then ask [`poll_timeout`](ClientSession::poll_timeout).
//!
//! ```
//! use arcp_proto::client::{ClientConfig, ClientSession, SubmitRequest};
//! use arcp_proto::time::{Instant, WallClock};
//! use arcp_proto::wire::SeededEntropy;
//!
//! let now = Instant::from_millis(0);
//! let wall = WallClock::new(now, 1_795_483_836_000_000);
//! let config = ClientConfig::named("demo", "1.0.0", "alice-token");
//! let mut client = ClientSession::new(config, wall, Box::new(SeededEntropy::new(7)));
//! client.handle_connected(now);
//! let hello = client.poll_transmit().unwrap();
//! assert_eq!(hello.message_type().as_str(), "session.hello");
//! // Commands wait for the welcome.
//! assert!(client.submit(now, SubmitRequest::new("echo", serde_json::json!(1))).is_err());
//! ```
//!
//! [D2]: crate::compat#d2--resume

mod ack;
mod commands;
mod config;
mod error;
mod event;
mod heartbeat;
mod inbound;
mod results;
mod sequence;

/// Requests are named by the wire's `RequestId`; features are the wire's `Feature`/`FeatureSet`.
#[doc(no_inline)]
pub use crate::wire::{Feature, FeatureSet, RequestId};
pub use commands::{DEFAULT_CANCEL_REASON, ListJobsRequest, SubmitRequest};
pub use config::{AutoAck, ClientConfig};
pub use error::ApiError;
pub use event::{
    ChunkError, ClientEvent, ClientState, CloseReason, JobOutcome, RequestError, RequestKind,
    ResultValue, ResumeState, SeqSpace, WelcomeInfo,
};
pub use results::decode_base64;

use crate::time::{Instant, WallClock};
use crate::wire::{
    Auth, Capabilities, Entropy, Frame, Hello, IdKind, IdMinter, Message, ResumeRequest, SessionId,
};
use ack::AutoAcker;
use heartbeat::Heartbeat;
use results::{ChunkLimits, Reassembly};
use sequence::{EndedJobs, Sequencer};
use std::collections::VecDeque;
use std::fmt;

/// The client side of one ARCP session, as a pure state machine.
pub struct ClientSession {
    config: ClientConfig,
    wall: WallClock,
    entropy: Box<dyn Entropy + Send>,
    ids: IdMinter,
    state: ClientState,
    session_id: Option<SessionId>,
    resume_token: Option<String>,
    /// The handshake in progress is a resume.
    resuming: bool,
    features: FeatureSet,
    transmits: VecDeque<Frame>,
    events: VecDeque<ClientEvent>,
    /// Requests awaiting an answer, oldest first: envelope id and kind.
    pending: VecDeque<(String, RequestKind)>,
    /// Our pings awaiting their pong: nonce and when sent.
    pings: VecDeque<(String, Instant)>,
    seq: Sequencer,
    results: Reassembly,
    heartbeat: Heartbeat,
    acks: AutoAcker,
    ended: EndedJobs,
    /// The latest `now` seen. Every input's and command's `now` is clamped to it
    /// (`max(now, latest)`), so time never runs backwards inside the session: a deadline is
    /// never moved earlier and a timer never fires twice because the host's clock stepped back.
    latest: Instant,
}

impl fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSession")
            .field("state", &self.state)
            .field("session_id", &self.session_id)
            .field("last_event_seq", &self.seq.last())
            .field("features", &self.features)
            .field("pending", &self.pending.len())
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl ClientSession {
    /// A session that has never connected; `handle_connected` opens it.
    pub fn new(config: ClientConfig, wall: WallClock, entropy: Box<dyn Entropy + Send>) -> Self {
        let limits = ChunkLimits {
            max_chunk_bytes: config.max_chunk_bytes,
            max_result_bytes: config.max_result_bytes,
            max_open_results: config.max_open_results,
        };
        let acks = AutoAcker::new(config.auto_ack);
        let max_ended = config.max_ended_jobs;
        ClientSession {
            config,
            wall,
            entropy,
            ids: IdMinter::new(),
            state: ClientState::Disconnected,
            session_id: None,
            resume_token: None,
            resuming: false,
            features: FeatureSet::empty(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            pending: VecDeque::new(),
            pings: VecDeque::new(),
            seq: Sequencer::new(0),
            results: Reassembly::new(limits),
            heartbeat: Heartbeat::default(),
            acks,
            ended: EndedJobs::new(max_ended),
            latest: Instant::ZERO,
        }
    }

    /// A session that resumes `resume` (persisted by an earlier process) on its first
    /// `handle_connected`.
    pub fn with_resume(
        config: ClientConfig,
        wall: WallClock,
        entropy: Box<dyn Entropy + Send>,
        resume: ResumeState,
    ) -> Self {
        let mut s = ClientSession::new(config, wall, entropy);
        s.session_id = Some(resume.session_id);
        s.resume_token = Some(resume.resume_token);
        s.seq = Sequencer::new(resume.last_event_seq);
        s.acks.reset(resume.last_event_seq);
        s
    }

    // ----- getters -----

    /// Where the session is.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// The session id, once welcomed (kept across drops).
    pub fn session_id(&self) -> Option<&SessionId> {
        self.session_id.as_ref()
    }

    /// The negotiated features: requested ∩ offered, in request order (empty before the
    /// welcome).
    pub fn features(&self) -> FeatureSet {
        self.features
    }

    /// The highest session `event_seq` delivered to the event queue.
    pub fn last_event_seq(&self) -> u64 {
        self.seq.last()
    }

    /// The latest resume token.
    pub fn resume_token(&self) -> Option<&str> {
        self.resume_token.as_deref()
    }

    /// What a host needs to resume this session later, once it has one.
    pub fn resume_state(&self) -> Option<ResumeState> {
        Some(ResumeState {
            session_id: self.session_id.clone()?,
            resume_token: self.resume_token.clone()?,
            last_event_seq: self.seq.last(),
        })
    }

    /// The negotiated heartbeat interval while open.
    pub fn heartbeat_interval(&self) -> Option<std::time::Duration> {
        self.heartbeat.interval()
    }

    /// Requests awaiting an answer.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    /// Result streams being reassembled.
    pub fn open_result_streams(&self) -> usize {
        self.results.open_streams()
    }

    /// Events not yet polled.
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// Frames queued for [`poll_transmit`](Self::poll_transmit) (bounded by
    /// `max_pending_transmits`).
    pub fn pending_transmits(&self) -> usize {
        self.transmits.len()
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Re-anchors wall time (after the host's wall clock stepped).
    pub fn set_wall_clock(&mut self, wall: WallClock) {
        self.wall = wall;
    }

    // ----- outputs -----

    /// The next frame to send.
    #[must_use = "drain every poll_* until None (the driving contract)"]
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        self.transmits.pop_front()
    }

    /// The next event for the host.
    #[must_use = "drain every poll_* until None (the driving contract)"]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        let ev = self.events.pop_front()?;
        if let ClientEvent::JobEvent {
            event_seq,
            space: SeqSpace::Session,
            ..
        }
        | ClientEvent::Terminal {
            event_seq,
            space: SeqSpace::Session,
            ..
        } = &ev
        {
            self.acks.on_polled(*event_seq);
        }
        Some(ev)
    }

    /// When `handle_timeout` must next be called.
    #[must_use = "sleep until this deadline, then call handle_timeout (the driving contract)"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state != ClientState::Open {
            return None;
        }
        let ack = if self.features.contains(Feature::Ack) {
            self.acks.due()
        } else {
            None
        };
        [self.heartbeat.ping_at(), self.heartbeat.lost_at(), ack]
            .into_iter()
            .flatten()
            .min()
    }

    // ----- inputs -----

    /// A transport is up: queues `session.hello`, with `payload.resume` when there is a
    /// session to resume ([D2]). Ignored once closed.
    ///
    /// [D2]: crate::compat#d2--resume
    pub fn handle_connected(&mut self, now: Instant) {
        let now = self.clamp(now);
        if self.state == ClientState::Closed {
            return;
        }
        if self.state != ClientState::Disconnected {
            // The host reconnected without reporting the drop.
            self.teardown_transport();
        }
        let resume = match (&self.session_id, &self.resume_token) {
            (Some(session_id), Some(token)) => Some(ResumeRequest {
                session_id: session_id.clone(),
                resume_token: token.clone(),
                last_event_seq: self.seq.last(),
            }),
            _ => None,
        };
        self.resuming = resume.is_some();
        let hello = Hello {
            client: self.config.client.clone(),
            auth: Auth::bearer(self.config.token.clone()),
            capabilities: Some(Capabilities {
                encodings: Some(vec!["json".to_owned()]),
                features: Some({
                    let mut names = self.config.features.to_names();
                    names.extend(self.config.extra_features.iter().cloned());
                    names
                }),
                agents: self.config.hello_agents.clone(),
            }),
            resume,
        };
        self.state = ClientState::Handshaking;
        self.heartbeat.start(now, None, false);
        let frame = Frame::new(self.mint(now), Message::Hello(hello));
        self.transmits.push_back(frame);
    }

    /// The transport is gone. The session keeps its state; pending requests fail (their
    /// answers are not replayed by a resume).
    pub fn handle_disconnected(&mut self, now: Instant) {
        self.clamp(now);
        if self.state == ClientState::Closed {
            self.transmits.clear();
            return;
        }
        self.teardown_transport();
    }

    /// A deadline from `poll_timeout` passed: heartbeat loss, idle ping, coalesced ack.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clamp(now);
        if self.state != ClientState::Open {
            return;
        }
        if self.heartbeat.lost_at().is_some_and(|t| t <= now) {
            // D25: surface HEARTBEAT_LOST locally and drop the transport; resume later.
            self.push_event(ClientEvent::HeartbeatLost);
            self.break_transport(CloseReason::HeartbeatLost);
            return;
        }
        if self.heartbeat.ping_at().is_some_and(|t| t <= now) {
            if self.pings.len() >= self.config.max_outstanding_pings {
                self.pings.pop_front();
            }
            if self.send_ping(now).is_err() {
                // Transmit queue full: try again one interval later.
                self.heartbeat.on_sent(now);
            }
        }
        if self.features.contains(Feature::Ack) && self.acks.due().is_some_and(|t| t <= now) {
            let seq = self.acks.polled();
            let frame = self.session_frame(
                now,
                Message::Ack(crate::wire::Ack {
                    last_processed_seq: seq,
                }),
            );
            // A dropped automatic ack is covered by the next one.
            let _ = self.send(now, frame);
            self.acks.on_acked(now, seq);
        }
    }

    // ----- internals shared by the submodules -----

    /// Clamps an input's `now` to the latest seen and returns it.
    #[inline]
    fn clamp(&mut self, now: Instant) -> Instant {
        if now > self.latest {
            self.latest = now;
        }
        self.latest
    }

    fn mint(&mut self, now: Instant) -> String {
        let ms = self.wall.unix_millis_at(now);
        self.ids.mint(IdKind::Envelope, ms, &mut *self.entropy)
    }

    /// A frame with a fresh id and, once welcomed, the session id.
    fn session_frame(&mut self, now: Instant, message: Message) -> Frame {
        let mut frame = Frame::new(self.mint(now), message);
        if self.state == ClientState::Open {
            frame.session_id = self.session_id.clone();
        }
        frame
    }

    /// Queues `frame`, or refuses it when the transmit queue is full (commands report the
    /// error; automatic frames are dropped).
    fn send(&mut self, now: Instant, frame: Frame) -> Result<(), ApiError> {
        if self.transmits.len() >= self.config.max_pending_transmits {
            return Err(ApiError::TransmitQueueFull(
                self.config.max_pending_transmits,
            ));
        }
        self.transmits.push_back(frame);
        self.heartbeat.on_sent(now);
        Ok(())
    }

    fn send_ping(&mut self, now: Instant) -> Result<String, ApiError> {
        let nonce = self.mint(now);
        let ping = crate::wire::Ping {
            nonce: nonce.clone(),
            sent_at: self.wall.timestamp_at(now),
        };
        let frame = self.session_frame(now, Message::Ping(ping));
        self.send(now, frame)?;
        self.pings.push_back((nonce.clone(), now));
        Ok(nonce)
    }

    fn push_event(&mut self, ev: ClientEvent) {
        self.events.push_back(ev);
    }

    fn fail_pending(&mut self, error: &RequestError) {
        while let Some((id, kind)) = self.pending.pop_front() {
            if let RequestKind::Subscribe(job) = &kind {
                self.seq.unsubscribe(job);
            }
            self.events.push_back(ClientEvent::RequestFailed {
                request_id: RequestId::from(id),
                kind: Some(kind),
                error: error.clone(),
            });
        }
    }

    /// Forgets the transport: state Disconnected (unless closed), queues cleared, pending
    /// requests failed.
    fn teardown_transport(&mut self) {
        if self.state != ClientState::Closed {
            self.state = ClientState::Disconnected;
        }
        self.transmits.clear();
        self.heartbeat.stop();
        self.pings.clear();
        self.resuming = false;
        self.fail_pending(&RequestError::ConnectionLost);
    }

    /// A fault that needs a new transport: tell the host to close it, keep the session.
    fn break_transport(&mut self, reason: CloseReason) {
        self.teardown_transport();
        self.push_event(ClientEvent::CloseTransport(reason));
    }

    /// Closes the session for good.
    fn close_session(&mut self, reason: CloseReason, error: RequestError) {
        self.state = ClientState::Closed;
        self.heartbeat.stop();
        self.pings.clear();
        self.fail_pending(&error);
        self.push_event(ClientEvent::CloseTransport(reason));
        self.push_event(ClientEvent::Closed(reason));
    }
}
