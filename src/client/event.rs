//! What a [`ClientSession`](super::ClientSession) tells its host: [`ClientEvent`] and the
//! small types it carries.

use crate::wire::{
    Accepted, AgentInfo, ErrorCode, ErrorPayload, FeatureSet, JobEvent, JobId, Jobs, RequestId,
    RuntimeInfo, SessionId, Subscribed, Timestamp,
};
use serde_json::Value;
use std::time::Duration;

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientState {
    /// No transport. The next `handle_connected` opens (or resumes) the session.
    Disconnected,
    /// Transport up, `session.hello` sent, waiting for the welcome.
    Handshaking,
    /// Welcome received; commands may be issued.
    Open,
    /// Closed for good (sticky): `close`, a refused handshake, or the runtime's close.
    Closed,
}

/// Requests that await an answer frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestKind {
    /// `job.submit`, answered by `job.accepted`.
    Submit,
    /// `session.list_jobs`, answered by `session.jobs`.
    ListJobs,
    /// `job.subscribe` of this job, answered by `job.subscribed`.
    Subscribe(JobId),
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RequestError {
    /// The runtime answered `session.error` ([D20]: correlated by `request_id`, or, without
    /// one, failing every pending request as the reference does).
    ///
    /// [D20]: crate::compat#d20--error-correlation
    Runtime(ErrorPayload),
    /// The transport went away before the answer; answers are not replayed by a resume.
    ConnectionLost,
    /// The session was closed.
    SessionClosed,
}

/// What a host persists to resume the session later, possibly in another process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeState {
    /// The session.
    pub session_id: SessionId,
    /// The latest resume token (rotated on every welcome).
    pub resume_token: String,
    /// The highest `event_seq` delivered to the host.
    pub last_event_seq: u64,
}

/// Which numbering an `event_seq` belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqSpace {
    /// The session's single gap-free numbering ([D10]).
    ///
    /// [D10]: crate::compat#d10--subscribed-events
    Session,
    /// The own numbering of a subscribed job that restarts at 1 (the reference's [D10]
    /// behaviour); checked per subscription.
    ///
    /// [D10]: crate::compat#d10--subscribed-events
    Subscription,
}

/// Why the host must close the transport (or why the session closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// `close` sent `session.bye` ([D1]).
    ///
    /// [D1]: crate::compat#d1--close
    Bye,
    /// No inbound frame for two heartbeat intervals ([D25]).
    ///
    /// [D25]: crate::compat#d25--heartbeat-loss
    HeartbeatLost,
    /// A gap or duplicate in `event_seq`; the next connect resumes.
    SequenceBroken,
    /// An inbound frame over `max_frame_bytes` ([D35]: on WebSocket close with code 1009).
    ///
    /// [D35]: crate::compat#d35--frame-size
    FrameTooLarge,
    /// The event queue reached `max_pending_events`.
    EventQueueOverflow,
    /// The runtime refused the hello.
    HandshakeFailed,
    /// The runtime ended the session (`session.bye` / `session.closed`).
    RuntimeClosed,
}

/// Why a streamed result was refused ([D32]).
///
/// [D32]: crate::compat#d32--chunk-order
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChunkError {
    /// A chunk arrived out of `chunk_seq` order.
    OutOfOrder {
        /// The `chunk_seq` expected.
        expected: u64,
        /// The one received.
        got: u64,
    },
    /// One chunk decoded to more than `max_chunk_bytes`.
    ChunkTooLarge {
        /// Its decoded size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The stream grew past `max_result_bytes`.
    ResultTooLarge {
        /// The cap.
        limit: usize,
    },
    /// More than `max_open_results` streams at once.
    TooManyStreams {
        /// The cap.
        limit: usize,
    },
    /// `data` was not valid base64.
    BadBase64,
    /// A chunk after the one with `more: false`.
    AfterEnd,
    /// The same `result_id` used by another job.
    WrongJob,
    /// An inline `result` on a job that streamed chunks.
    InlineAfterChunks,
    /// The terminal frame came before the chunk with `more: false`.
    Incomplete,
    /// The terminal names a `result_id` that never streamed.
    Missing,
    /// `result_size` differs from the bytes received.
    SizeMismatch {
        /// `result_size` of the terminal.
        declared: u64,
        /// Bytes reassembled.
        actual: u64,
    },
}

/// The value of a successful job.
#[derive(Debug, Clone, PartialEq)]
pub enum ResultValue {
    /// No result ([D34]: `result` omitted or null).
    ///
    /// [D34]: crate::compat#d34--null-result
    None,
    /// The inline `result`.
    Inline(Value),
    /// A streamed result, reassembled in `chunk_seq` order and decoded.
    Streamed {
        /// `res_…`
        result_id: String,
        /// The decoded bytes.
        data: Vec<u8>,
        /// `summary`, when sent.
        summary: Option<String>,
    },
    /// A streamed result that was refused ([D32]).
    ///
    /// [D32]: crate::compat#d32--chunk-order
    Refused {
        /// The stream, when the terminal named one.
        result_id: Option<String>,
        /// Why.
        reason: ChunkError,
    },
}

/// How a job ended. Both terminal forms of cancel ([D6]) and timeout ([D8]) map to one variant.
///
/// [D6]: crate::compat#d6--cancel
/// [D8]: crate::compat#d8--timeout
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum JobOutcome {
    /// `job.result` success.
    Success {
        /// The value.
        result: ResultValue,
        /// When it ended.
        completed_at: Option<Timestamp>,
    },
    /// `job.result cancelled` or `job.error CANCELLED` ([D6]).
    ///
    /// [D6]: crate::compat#d6--cancel
    Cancelled {
        /// When it ended.
        completed_at: Option<Timestamp>,
    },
    /// `job.result timed_out` or `job.error TIMEOUT` ([D8]).
    ///
    /// [D8]: crate::compat#d8--timeout
    TimedOut {
        /// When it ended.
        completed_at: Option<Timestamp>,
    },
    /// `job.error` with any other code.
    Failed {
        /// The §12 code.
        code: ErrorCode,
        /// Human-readable text.
        message: String,
        /// Whether a retry may succeed.
        retryable: bool,
        /// Extra detail.
        details: Option<Value>,
        /// When it ended.
        completed_at: Option<Timestamp>,
    },
}

/// The handshake's outcome.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WelcomeInfo {
    /// The session.
    pub session_id: SessionId,
    /// `true` when this welcome resumed the existing session.
    pub resumed: bool,
    /// Who the runtime is.
    pub runtime: RuntimeInfo,
    /// The negotiated features: requested ∩ offered.
    pub features: FeatureSet,
    /// The runtime's agent inventory.
    pub agents: Vec<AgentInfo>,
    /// The heartbeat interval, when `heartbeat` was negotiated.
    pub heartbeat_interval: Option<Duration>,
    /// How long the session stays resumable after a drop.
    pub resume_window_sec: u64,
}

/// Everything the session reports to its host, in order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The session opened or resumed.
    Welcome(Box<WelcomeInfo>),
    /// Session id or resume token changed: persist them (with the `event_seq` of each job
    /// event delivered) to resume after a restart.
    ResumeStateChanged(ResumeState),
    /// `job.accepted`: lease, budget, credentials. `request_id` links it to `submit`.
    Accepted {
        /// The submit, when the runtime named it (or by FIFO order when it did not).
        request_id: Option<RequestId>,
        /// The job.
        job_id: JobId,
        /// The whole payload.
        accepted: Box<Accepted>,
    },
    /// One `job.event`.
    JobEvent {
        /// The job.
        job_id: JobId,
        /// Its sequence number.
        event_seq: u64,
        /// Which numbering `event_seq` is in.
        space: SeqSpace,
        /// Kind and body.
        event: JobEvent,
    },
    /// A job's terminal frame.
    Terminal {
        /// The job.
        job_id: JobId,
        /// Its sequence number.
        event_seq: u64,
        /// Which numbering `event_seq` is in.
        space: SeqSpace,
        /// How it ended.
        outcome: JobOutcome,
    },
    /// A streamed result was refused ([D32]); the job's terminal reports it again.
    ///
    /// [D32]: crate::compat#d32--chunk-order
    ResultRefused {
        /// The job.
        job_id: JobId,
        /// The stream.
        result_id: String,
        /// Why.
        reason: ChunkError,
    },
    /// A request failed.
    RequestFailed {
        /// The request.
        request_id: RequestId,
        /// What it was, when it was still pending.
        kind: Option<RequestKind>,
        /// Why.
        error: RequestError,
    },
    /// A `session.error` that concerned no pending request.
    SessionError(ErrorPayload),
    /// The runtime refused the hello (bad token, failed resume); the session is closed.
    HandshakeFailed {
        /// The runtime's error.
        error: ErrorPayload,
        /// `true` when the hello was a resume.
        resuming: bool,
    },
    /// A `session.jobs` page.
    Jobs {
        /// The list_jobs request.
        request_id: Option<RequestId>,
        /// The page.
        jobs: Jobs,
    },
    /// `job.subscribed`.
    Subscribed {
        /// The subscribe request.
        request_id: Option<RequestId>,
        /// The payload.
        subscribed: Box<Subscribed>,
    },
    /// The answer to one of our pings.
    Pong {
        /// The ping's nonce.
        nonce: String,
        /// Round trip, when the ping is still known.
        rtt: Option<Duration>,
    },
    /// No inbound frame for two heartbeat intervals ([D25]); a `CloseTransport` follows.
    ///
    /// [D25]: crate::compat#d25--heartbeat-loss
    HeartbeatLost,
    /// A gap or duplicate broke the session; a `CloseTransport` follows and the next
    /// connect resumes (spec §8.3).
    SequenceBroken {
        /// The `event_seq` expected.
        expected: u64,
        /// The one received.
        got: u64,
    },
    /// A gap still present after a resume: surfaced, and the session continues.
    SequenceGap {
        /// The `event_seq` expected.
        expected: u64,
        /// The one received (delivered after this event).
        got: u64,
    },
    /// A frame whose `event_seq` was already delivered, after a resume: dropped.
    DuplicateDropped {
        /// Its `event_seq`.
        event_seq: u64,
    },
    /// The event queue was full; the frame was refused and a `CloseTransport` follows.
    EventQueueOverflow {
        /// The cap.
        limit: usize,
    },
    /// A peer fault (malformed or unexpected frame); the session continues unless a
    /// `CloseTransport` follows.
    ProtocolError(ErrorPayload),
    /// The host must close the transport now, then call `handle_disconnected`. Unless the
    /// session is `Closed`, the next `handle_connected` resumes it.
    CloseTransport(CloseReason),
    /// The session is closed for good.
    Closed(CloseReason),
}
