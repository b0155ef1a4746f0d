//! The small client trait each adapter implements, and the neutral types it speaks.

use crate::tap::Tap;
use arcp_proto::wire::{FeatureSet, JobId, SessionId};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Where the runtime under test is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A WebSocket URL (`ws://127.0.0.1:PORT/arcp`).
    WebSocket(String),
    /// A command line (already split) serving one session on its stdin/stdout.
    Stdio(Vec<String>),
}

/// Where to resume a session (`session.hello` with `payload.resume`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The session.
    pub session_id: SessionId,
    /// The resume token of the last welcome.
    pub resume_token: String,
    /// Replay strictly after this `event_seq`.
    pub last_event_seq: u64,
}

/// How to open one client session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    /// The runtime.
    pub target: Target,
    /// Bearer token.
    pub token: String,
    /// Requested features (the client sends only these).
    pub features: Vec<String>,
    /// `client.name` of the hello.
    pub client_name: String,
    /// `client.version` of the hello.
    pub client_version: String,
    /// Resume instead of opening a new session.
    pub resume: Option<Resume>,
    /// How long the transport open plus handshake may take.
    pub timeout: Duration,
}

/// A `job.submit`, as the reference client's `submit(...)` keywords.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubmitSpec {
    /// `name` or `name@version`.
    pub agent: String,
    /// The agent input.
    pub input: Value,
    /// The lease request, a JSON object of namespace → patterns.
    pub lease_request: Option<Value>,
    /// `lease_constraints.expires_at`.
    pub expires_at: Option<String>,
    /// The idempotency key.
    pub idempotency_key: Option<String>,
    /// `max_runtime_sec`.
    pub max_runtime_sec: Option<u32>,
    /// The envelope `trace_id` (32 lower-case hex chars).
    pub trace_id: Option<String>,
}

impl SubmitSpec {
    /// A submit of `agent` with `input`.
    pub fn new(agent: &str, input: Value) -> Self {
        SubmitSpec {
            agent: agent.to_owned(),
            input,
            ..SubmitSpec::default()
        }
    }
}

/// How a job ended, as the client surfaces it (the reference's `handle.done`).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `success`, `cancelled` or `timed_out`.
    pub final_status: String,
    /// The inline result, when any.
    pub result: Option<Value>,
    /// A streamed result reassembled by the client, when any.
    pub chunks: Option<Vec<u8>>,
}

/// What a client call fails with: the clients' own error (arcp-client's), so the scenarios
/// see the code, `retryable` and message the adapter surfaces.
pub use arcp_client::ClientError;

/// What opens clients and raw connections against the runtime under test: one per adapter.
///
/// Contract for the taps: the adapter passes every frame text it writes to the transport to
/// [`Tap::c2r`] (before or as it writes it), every frame text it reads to [`Tap::r2c`] (in
/// arrival order, before the client acts on it), and calls [`Tap::closed`] once when the
/// transport ends for any reason.
pub trait Harness: Send + Sync {
    /// Opens a transport and completes `session.hello`/`session.welcome` (or the resume)
    /// through the adapter's client API, recording frames into `tap`. The client must not
    /// reconnect by itself: one client is one transport.
    fn connect(
        &self,
        req: &ConnectRequest,
        tap: Arc<Tap>,
    ) -> Result<Box<dyn ScenarioClient>, ClientError>;

    /// Opens a bare transport to `target` (no handshake), recording into `tap`.
    fn open_raw(&self, target: &Target, tap: Arc<Tap>) -> Result<Arc<dyn RawLink>, String>;
}

/// A bare transport for frames written by hand.
pub trait RawLink: Send + Sync {
    /// Queues `text` for sending without waiting (it may be called from the adapter's own
    /// reader, for automatic pongs). Fails once the transport is closed.
    fn send_text(&self, text: &str) -> Result<(), String>;
    /// Closes gracefully (WebSocket close handshake; stdio: close the child's stdin).
    fn close(&self);
    /// Aborts without a close handshake (stdio: kill the child).
    fn abort(&self);
}

/// One session of the adapter's client, driven through its public API.
///
/// Every call is blocking and bounded: the adapter waits at most `timeout` (or its own
/// bound of a few seconds) and then fails with [`ClientError::Timeout`].
pub trait ScenarioClient: Send + Sync {
    /// The negotiated features, in the client's order.
    fn negotiated_features(&self) -> FeatureSet;
    /// `job.submit`, waiting for `job.accepted`; returns the job id.
    fn submit(&self, spec: &SubmitSpec) -> Result<JobId, ClientError>;
    /// Waits for the terminal of a submitted or subscribed job, as the client surfaces it:
    /// `Ok` for success, cancellation and timeout, [`ClientError::JobFailed`] for `job.error`.
    fn done(&self, job_id: &JobId, timeout: Duration) -> Result<Outcome, ClientError>;
    /// `job.cancel` with `reason`.
    fn cancel(&self, job_id: &JobId, reason: &str) -> Result<(), ClientError>;
    /// `session.list_jobs` with `payload` (a `session.list_jobs` payload object); returns
    /// the `session.jobs` payload.
    fn list_jobs(&self, payload: &Value) -> Result<Value, ClientError>;
    /// `job.subscribe`, waiting for `job.subscribed`.
    fn subscribe(
        &self,
        job_id: &JobId,
        history: bool,
        from_event_seq: Option<u64>,
    ) -> Result<(), ClientError>;
    /// `job.unsubscribe`.
    fn unsubscribe(&self, job_id: &JobId) -> Result<(), ClientError>;
    /// `session.ack`.
    fn ack(&self, last_processed_seq: u64) -> Result<(), ClientError>;
    /// `session.ping`, waiting for the pong.
    fn ping(&self) -> Result<Duration, ClientError>;
    /// Writes `text` as one frame on the client's transport, bypassing the client's checks
    /// (for frames the API refuses to send, e.g. a `session.bye` written by hand).
    fn send_raw(&self, text: &str) -> Result<(), ClientError>;
    /// Drops the transport without `session.bye`; the client must not reconnect.
    fn drop_transport(&self);
    /// `session.bye` and close.
    fn close(&self) -> Result<(), ClientError>;
}
