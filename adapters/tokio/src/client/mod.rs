//! The client side: WebSocket and stdio clients driving [`arcp_proto::client::ClientSession`].
//!
//! The API reads like the reference Python SDK's `ARCPClient`:
//!
//! ```no_run
//! # async fn demo() -> Result<(), arcp_tokio::client::ClientError> {
//! use arcp_tokio::client::{Client, SubmitRequest};
//! use futures_util::StreamExt;
//!
//! let client = Client::connect("ws://127.0.0.1:7777/arcp", "alice-token").await?;
//! let mut handle = client
//!     .submit(SubmitRequest::new("echo", serde_json::json!({"hello": "world"})))
//!     .await?;
//! let mut events = handle.events();
//! while let Some(event) = events.next().await {
//!     println!("[{}] {}", event.kind(), event.body());
//! }
//! let outcome = handle.done().await?;
//! println!("final: {outcome:?}");
//! client.close().await?;
//! # Ok(()) }
//! ```
//!
//! | Python SDK | here |
//! |---|---|
//! | `ARCPClient(client=…, token=…, features=…, auto_ack=…)` + `connect(transport)` | [`Client::builder`]`(url).client_info(..).token(..).features(..).auto_ack(..).connect()`, or [`Client::connect`]`(url, token)` |
//! | `StdioTransport(...)` | [`Client::spawn_stdio`]`(argv, token)` / [`Client::stdio_builder`] |
//! | `client.submit(agent=…, input=…, lease_request=…, …)` | [`Client::submit`]`(`[`SubmitRequest`]`)` → [`JobHandle`] |
//! | `handle.job_id`, `.lease`, `.budget`, `.agent_ref` | [`JobHandle::job_id`], [`lease`](JobHandle::lease), [`budget`](JobHandle::budget), [`agent_ref`](JobHandle::agent_ref), [`credentials`](JobHandle::credentials) |
//! | `async for event in handle.events()`, `event["kind"]`, `event["body"]` | `while let Some(event) = handle.events().next().await`, [`JobEventItem::kind`], [`JobEventItem::body`] |
//! | `await handle.done` | [`JobHandle::done`] (`Ok` outcome, or [`ClientError::JobFailed`]) |
//! | `client.latest_event_seq` | [`Client::latest_event_seq`] |
//! | `client.resume(transport, resume=SessionResume(...))` | [`ClientBuilder::resume`]`(`[`ResumeState`]`)`; in-process: automatic, or [`Client::resume`] |
//! | `list_jobs(filter=ListJobsFilter(...))`, `subscribe`, `unsubscribe`, `cancel`, `ack` | [`Client::list_jobs`], [`Client::subscribe`] → [`Subscription`], [`Client::unsubscribe`], [`Client::cancel`], [`Client::ack`] |
//! | `ARCPError.code`, `.retryable` | [`ClientError::code`], [`ClientError::retryable`] |
//!
//! One task owns the `ClientSession` and follows the driving contract (see `driver.rs`):
//! commands from the application, frames from the transport and deadlines are its inputs.
//! Every channel is bounded: commands ([`ClientBuilder::command_capacity`]), each job's
//! events ([`ClientBuilder::event_capacity`]), and the events waiting for room
//! ([`ClientBuilder::max_buffered_events`]; while full, the transport is not read).
//!
//! After a transport drop the client reconnects and resumes by itself (WebSocket only;
//! [`ClientBuilder::auto_resume`]); the session id and the job handles survive. Note: the
//! Python reference runtime loses a running job's events emitted while the client was away
//! (COMPAT D3), so with it such a handle only sees what the runtime replays.

mod driver;
mod job;
mod shared;
mod transport;

pub use arcp_proto::client::{
    ApiError, AutoAck, ClientState, JobOutcome, ListJobsRequest, ResultValue, ResumeState,
    SeqSpace, SubmitRequest, WelcomeInfo,
};
/// Wire types a client application uses directly.
pub use arcp_proto::wire::{ErrorCode, JobFilter, JobStatus, Jobs, LeaseConstraints, Timestamp};
pub use job::{JobEventItem, JobEvents, JobHandle, JobInfo, Subscription};
pub use transport::Target;

use arcp_host::client::ClientDriver;
use arcp_proto::client::{ALL_FEATURES, ClientConfig};
use arcp_proto::wire::{DEFAULT_MAX_FRAME_BYTES, Entropy, ErrorPayload};
use driver::{Driver, DriverConfig};
use futures_util::Stream;
use serde_json::Value;
use shared::{Command, Shared};
use std::ffi::OsString;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

pub use arcp_proto::client::DEFAULT_CANCEL_REASON;

/// Everything a client call can fail with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// Caller misuse, refused before anything was sent (not open, feature not negotiated,
    /// bad argument, a bound reached).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The runtime refused the request (or the handshake) with a §12 error.
    #[error("{code}: {message}")]
    Refused {
        /// The §12 code.
        code: ErrorCode,
        /// The runtime's text.
        message: String,
        /// Whether a retry may succeed.
        retryable: bool,
    },
    /// The job ended with `job.error` (other than `CANCELLED` / `TIMEOUT`, which are
    /// outcomes, COMPAT D6/D8).
    #[error("job {job_id} failed: {code}: {message}")]
    JobFailed {
        /// The job.
        job_id: String,
        /// The §12 code.
        code: ErrorCode,
        /// The agent's or runtime's text.
        message: String,
        /// Whether a retry may succeed (never for `LEASE_EXPIRED` / `BUDGET_EXHAUSTED`).
        retryable: bool,
        /// Extra detail.
        details: Option<Value>,
    },
    /// The transport could not be opened or was lost.
    #[error("transport: {0}")]
    Transport(String),
    /// The session is closed.
    #[error("session closed")]
    Closed,
    /// A subscription's replay exceeded the client's buffers before `job.subscribed`.
    #[error("subscription replay exceeded the client's buffer of {limit} events")]
    Overflow {
        /// `max_buffered_events`.
        limit: usize,
    },
}

impl ClientError {
    pub(crate) fn refused(p: &ErrorPayload) -> Self {
        ClientError::Refused {
            code: p.code.clone(),
            message: p.message.clone(),
            retryable: p.retryable,
        }
    }

    /// The §12 code, for runtime refusals and failed jobs.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Refused { code, .. } | ClientError::JobFailed { code, .. } => {
                Some(code.clone())
            }
            _ => None,
        }
    }

    /// Whether retrying may succeed: the runtime's flag for refusals and failed jobs,
    /// `true` for transport failures, `false` otherwise.
    pub fn retryable(&self) -> bool {
        match self {
            ClientError::Refused { retryable, .. } | ClientError::JobFailed { retryable, .. } => {
                *retryable
            }
            ClientError::Transport(_) => true,
            _ => false,
        }
    }
}

/// An item of the unrouted stream ([`ClientBuilder::unrouted_events`]): frames of jobs this
/// client holds no handle for (jobs replayed into a resumed session, delegated children).
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// A `job.event`.
    Event(JobEventItem),
    /// A job's terminal frame.
    Terminal {
        /// The job.
        job_id: String,
        /// Its `event_seq`.
        event_seq: u64,
        /// Which numbering.
        space: SeqSpace,
        /// How it ended.
        outcome: JobOutcome,
    },
}

impl StreamItem {
    /// The job it belongs to.
    pub fn job_id(&self) -> &str {
        match self {
            StreamItem::Event(e) => &e.job_id,
            StreamItem::Terminal { job_id, .. } => job_id,
        }
    }

    /// Its `event_seq`.
    pub fn event_seq(&self) -> u64 {
        match self {
            StreamItem::Event(e) => e.event_seq,
            StreamItem::Terminal { event_seq, .. } => *event_seq,
        }
    }
}

/// The stream of [`StreamItem`]s for jobs without a handle.
#[derive(Debug)]
pub struct UnroutedEvents {
    rx: mpsc::Receiver<StreamItem>,
    shared: Arc<Shared>,
}

impl Stream for UnroutedEvents {
    type Item = StreamItem;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StreamItem>> {
        let this = self.get_mut();
        let polled = this.rx.poll_recv(cx);
        if let Poll::Ready(Some(StreamItem::Event(JobEventItem {
            event_seq,
            space: SeqSpace::Session,
            ..
        })))
        | Poll::Ready(Some(StreamItem::Terminal {
            event_seq,
            space: SeqSpace::Session,
            ..
        })) = &polled
        {
            this.shared.consumed(*event_seq);
        }
        polled
    }
}

pub use arcp_host::client::{FrameTap, ResumeRetry, TapEvent};

/// Ids minted by the client (envelope ids) draw on the process's randomly keyed hasher, so
/// the crate needs no RNG dependency.
struct HashEntropy {
    counter: u64,
}

impl Entropy for HashEntropy {
    fn next_u128(&mut self) -> u128 {
        use std::hash::{BuildHasher, Hasher};
        let mut half = || {
            self.counter = self.counter.wrapping_add(1);
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(self.counter);
            h.write_u128(unix_micros().unsigned_abs().into());
            h.finish()
        };
        (u128::from(half()) << 64) | u128::from(half())
    }
}

fn unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Configures and opens a [`Client`] (the Python SDK's `ARCPClient(...)` arguments).
#[derive(Clone)]
pub struct ClientBuilder {
    target: Target,
    token: String,
    name: String,
    version: String,
    features: Vec<String>,
    auto_ack: Option<AutoAck>,
    auto_ping: bool,
    auto_resume: bool,
    resume: Option<ResumeState>,
    resume_retry: ResumeRetry,
    max_frame_bytes: usize,
    command_capacity: usize,
    event_capacity: usize,
    max_buffered_events: usize,
    unrouted_capacity: Option<usize>,
    max_reconnect_attempts: u32,
    reconnect_delay: Duration,
    tap: Option<FrameTap>,
    tls: crate::tls::ClientTrust,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("target", &self.target)
            .field("features", &self.features)
            .field("auto_resume", &self.auto_resume)
            .field("tap", &self.tap.is_some())
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// A builder for `target` with the defaults: all eleven features, no auto-ack,
    /// automatic resume, 1 MiB frame cap.
    pub fn new(target: Target) -> Self {
        ClientBuilder {
            target,
            token: String::new(),
            name: "arcp-tokio".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            features: ALL_FEATURES.iter().map(|f| (*f).to_owned()).collect(),
            auto_ack: None,
            auto_ping: false,
            auto_resume: true,
            resume: None,
            resume_retry: ResumeRetry::default(),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            command_capacity: 64,
            event_capacity: 256,
            max_buffered_events: 1024,
            unrouted_capacity: None,
            max_reconnect_attempts: 5,
            reconnect_delay: Duration::from_millis(100),
            tap: None,
            tls: crate::tls::ClientTrust::default(),
        }
    }

    /// The bearer token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// `client.name` and `client.version` of the hello.
    pub fn client_info(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.name = name.into();
        self.version = version.into();
        self
    }

    /// The requested features (the negotiated set is their intersection with the
    /// runtime's, and nothing outside it is ever sent, D26).
    pub fn features<I, S>(mut self, features: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.features = features.into_iter().map(Into::into).collect();
        self
    }

    /// Coalesced automatic `session.ack`: once `every_n` events are unacknowledged, at most
    /// once per `interval` (the Python SDK's `AutoAckOptions`). Acks cover the events the
    /// client received, whether or not the application has read them yet.
    pub fn auto_ack(mut self, every_n: u64, interval: Duration) -> Self {
        self.auto_ack = Some(AutoAck {
            every_n: every_n.max(1),
            interval,
        });
        self
    }

    /// Send a `session.ping` whenever nothing was sent for one heartbeat interval (only
    /// when `heartbeat` was negotiated; default off, like the reference client).
    pub fn auto_ping(mut self, on: bool) -> Self {
        self.auto_ping = on;
        self
    }

    /// Reconnect and resume by itself after a transport drop (default `true`; stdio never
    /// resumes, a new child being a new runtime). Without it, call [`Client::resume`].
    pub fn auto_resume(mut self, on: bool) -> Self {
        self.auto_resume = on;
        self
    }

    /// How a resume refused while the runtime still sees the session attached is retried
    /// (WIRE.md §6; default [`ResumeRetry::default`], [`ResumeRetry::never`] to surface the
    /// first refusal). Applies to the first connect and to automatic resumes.
    pub fn resume_retry(mut self, retry: ResumeRetry) -> Self {
        self.resume_retry = retry;
        self
    }

    /// Resume a session an earlier client (or process) opened, instead of opening one.
    pub fn resume(mut self, state: ResumeState) -> Self {
        self.resume = Some(state);
        self
    }

    /// Largest inbound frame (default 1 MiB, D35); mirrored into the WebSocket config and
    /// the stdio line cap.
    pub fn max_frame_bytes(mut self, n: usize) -> Self {
        self.max_frame_bytes = n.max(1);
        self
    }

    /// Commands queued for the driver task (default 64); callers wait for room.
    pub fn command_capacity(mut self, n: usize) -> Self {
        self.command_capacity = n.max(1);
        self
    }

    /// Unread events per job handle (default 256).
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.event_capacity = n.max(1);
        self
    }

    /// Events waiting for room in a full handle (default 1024). While this many wait the
    /// client stops reading from the transport; a subscription whose replay reaches it
    /// before `job.subscribed` fails with [`ClientError::Overflow`].
    pub fn max_buffered_events(mut self, n: usize) -> Self {
        self.max_buffered_events = n.max(1);
        self
    }

    /// Keep frames of jobs without a handle in a stream of `capacity` items, taken with
    /// [`Client::unrouted_events`]; without it they are discarded.
    pub fn unrouted_events(mut self, capacity: usize) -> Self {
        self.unrouted_capacity = Some(capacity.max(1));
        self
    }

    /// Reconnect attempts before the session is given up (default 5), and the first delay
    /// (default 100 ms, doubling).
    pub fn reconnect(mut self, attempts: u32, first_delay: Duration) -> Self {
        self.max_reconnect_attempts = attempts.max(1);
        self.reconnect_delay = first_delay;
        self
    }

    /// Observe every raw frame in both directions and each transport's end (interop
    /// harnesses, debugging). Frames written with [`Client::send_raw`] are observed too.
    pub fn frame_tap(mut self, tap: FrameTap) -> Self {
        self.tap = Some(tap);
        self
    }

    /// `wss://`: also trust the CA certificate(s) in the PEM file at `path` (besides the
    /// webpki roots). The file is read when connecting; an unreadable one fails `connect`.
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.ca_files.push(path.into());
        self
    }

    /// `wss://`: also trust this root certificate (DER bytes).
    pub fn root_certificate_der(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.tls.roots.push(der.into());
        self
    }

    /// `wss://`: use this rustls config as is (its roots replace the webpki roots,
    /// [`Self::ca_file`] and [`Self::root_certificate_der`]).
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls.config = Some(config);
        self
    }

    /// Opens the transport and completes the handshake (or the resume).
    pub async fn connect(self) -> Result<Client, ClientError> {
        let tls = match &self.target {
            Target::WebSocket(url) if url.starts_with("wss://") => Some(
                self.tls
                    .client_config()
                    .map_err(|e| ClientError::Transport(format!("cannot connect to {url}: {e}")))?,
            ),
            _ => None,
        };
        let transport =
            transport::Transport::open(&self.target, self.max_frame_bytes, tls.as_ref())
                .await
                .map_err(ClientError::Transport)?;
        let mut config = ClientConfig::named(&self.name, &self.version, self.token);
        config.features = self.features;
        config.auto_ack = self.auto_ack;
        config.auto_ping = self.auto_ping;
        config.max_frame_bytes = self.max_frame_bytes;
        let consumed = self.resume.as_ref().map_or(0, |r| r.last_event_seq);
        let core = ClientDriver::new(
            config,
            self.resume,
            std::time::Instant::now(),
            Box::new(|| Box::new(HashEntropy { counter: 0 })),
        )
        // A new stdio child is a new runtime: a refused resume there is final.
        .with_retry(if self.target.can_resume() {
            self.resume_retry
        } else {
            ResumeRetry::never()
        })
        .with_tap(self.tap);
        let (cmd_tx, cmd_rx) = mpsc::channel(self.command_capacity);
        let (welcome_tx, welcome_rx) = oneshot::channel();
        let shared = Arc::new(Shared::new(consumed));
        let (unrouted_tx, unrouted) = match self.unrouted_capacity {
            Some(cap) => {
                let (tx, rx) = mpsc::channel(cap);
                let stream = UnroutedEvents {
                    rx,
                    shared: Arc::clone(&shared),
                };
                (Some(tx), Some(stream))
            }
            None => (None, None),
        };
        let cfg = DriverConfig {
            target: self.target,
            max_frame_bytes: self.max_frame_bytes,
            event_capacity: self.event_capacity,
            max_buffered_events: self.max_buffered_events,
            auto_resume: self.auto_resume,
            max_reconnect_attempts: self.max_reconnect_attempts,
            reconnect_delay: self.reconnect_delay,
            tls,
        };
        let driver = Driver::new(
            core,
            cfg,
            transport,
            cmd_rx,
            cmd_tx.downgrade(),
            Arc::clone(&shared),
            welcome_tx,
            unrouted_tx,
        );
        tokio::spawn(driver.run());
        let welcome = welcome_rx.await.map_err(|_| ClientError::Closed)??;
        Ok(Client {
            commands: cmd_tx,
            shared,
            welcome,
            unrouted: Mutex::new(unrouted),
        })
    }
}

/// An ARCP client session over WebSocket or stdio (the Python SDK's `ARCPClient`).
///
/// Dropping the last `Client` and every [`JobHandle`] ends the session with
/// `session.bye`.
#[derive(Debug)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    welcome: WelcomeInfo,
    unrouted: Mutex<Option<UnroutedEvents>>,
}

/// Sends a command and waits for its reply.
pub(crate) async fn request<T>(
    commands: &mpsc::Sender<Command>,
    make: impl FnOnce(oneshot::Sender<Result<T, ClientError>>) -> Command,
) -> Result<T, ClientError> {
    let (tx, rx) = oneshot::channel();
    commands
        .send(make(tx))
        .await
        .map_err(|_| ClientError::Closed)?;
    rx.await.map_err(|_| ClientError::Closed)?
}

impl Client {
    /// Connects to a WebSocket runtime with bearer `token` and the defaults.
    pub async fn connect(
        url: impl Into<String>,
        token: impl Into<String>,
    ) -> Result<Self, ClientError> {
        Client::builder(url).token(token).connect().await
    }

    /// A builder for a WebSocket runtime at `url` (`ws://…`).
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(Target::WebSocket(url.into()))
    }

    /// A builder for a child runtime: `argv[0]` is spawned with the rest as arguments and
    /// serves one session as NDJSON on its stdin/stdout.
    pub fn stdio_builder<I, S>(argv: I) -> ClientBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        ClientBuilder::new(Target::Stdio(argv.into_iter().map(Into::into).collect()))
    }

    /// Spawns a child runtime (`argv`) and opens a session on its stdin/stdout.
    pub async fn spawn_stdio<I, S>(argv: I, token: impl Into<String>) -> Result<Self, ClientError>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Client::stdio_builder(argv).token(token).connect().await
    }

    /// The welcome of the session's opening handshake.
    pub fn welcome(&self) -> &WelcomeInfo {
        &self.welcome
    }

    /// The session id.
    pub fn session_id(&self) -> &str {
        &self.welcome.session_id
    }

    /// The negotiated features.
    pub fn features(&self) -> Vec<String> {
        self.shared.snapshot().features
    }

    /// Where the session is now.
    pub fn state(&self) -> ClientState {
        self.shared.snapshot().state
    }

    /// The latest resume token (rotated on every welcome).
    pub fn resume_token(&self) -> Option<String> {
        self.shared.snapshot().resume_token
    }

    /// The highest session `event_seq` the application has consumed (from an events
    /// stream, `done`, or the unrouted stream) — the Python SDK's `latest_event_seq`.
    pub fn latest_event_seq(&self) -> u64 {
        self.shared.snapshot().consumed_seq
    }

    /// The highest session `event_seq` the client has received.
    pub fn received_event_seq(&self) -> u64 {
        self.shared.snapshot().received_seq
    }

    /// How many welcomes this client received (1 + successful resumes).
    pub fn welcomes(&self) -> u64 {
        self.shared.snapshot().welcomes
    }

    /// What another client needs to resume this session ([`ClientBuilder::resume`]),
    /// positioned after the last event the application consumed.
    pub fn resume_state(&self) -> Option<ResumeState> {
        let s = self.shared.snapshot();
        Some(ResumeState {
            session_id: s.session_id?,
            resume_token: s.resume_token?,
            last_event_seq: s.consumed_seq,
        })
    }

    /// Frames of jobs without a handle, when enabled with [`ClientBuilder::unrouted_events`]
    /// (taken once).
    pub fn unrouted_events(&self) -> Option<UnroutedEvents> {
        match self.unrouted.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        }
    }

    /// Submits a job and waits for `job.accepted`. A refusal is
    /// [`ClientError::Refused`] with the §12 code and `retryable`.
    pub async fn submit(&self, req: SubmitRequest) -> Result<JobHandle, ClientError> {
        request(&self.commands, |reply| Command::Submit {
            req: Box::new(req),
            reply,
        })
        .await
    }

    /// Sends `job.cancel` for `job_id` with reason [`DEFAULT_CANCEL_REASON`]; the job's
    /// handle then ends `Cancelled`.
    pub async fn cancel(&self, job_id: &str) -> Result<(), ClientError> {
        self.cancel_with_reason(job_id, DEFAULT_CANCEL_REASON).await
    }

    /// Sends `job.cancel` for `job_id` with `reason`; returns once the frame is written.
    pub async fn cancel_with_reason(&self, job_id: &str, reason: &str) -> Result<(), ClientError> {
        request(&self.commands, |reply| Command::Cancel {
            job_id: job_id.to_owned(),
            reason: reason.to_owned(),
            reply,
        })
        .await
    }

    /// Sends `job.cancel` for `job_id` with `reason` and waits until the runtime has taken
    /// it: `Ok` once a `session.list_jobs` sent right after it is answered (the runtime
    /// answers in order), or the runtime's refusal as [`ClientError::Refused`] — e.g.
    /// `PERMISSION_DENIED` from a session that did not submit the job (COMPAT D7) or
    /// `JOB_NOT_FOUND` (D37). Without `list_jobs` negotiated it returns once sent.
    pub async fn cancel_confirmed(&self, job_id: &str, reason: &str) -> Result<(), ClientError> {
        request(&self.commands, |reply| Command::CancelConfirmed {
            job_id: job_id.to_owned(),
            reason: reason.to_owned(),
            reply,
        })
        .await
    }

    /// `session.list_jobs` (one page; follow `next_cursor` for more).
    pub async fn list_jobs(&self, req: ListJobsRequest) -> Result<Jobs, ClientError> {
        request(&self.commands, |reply| Command::ListJobs { req, reply }).await
    }

    /// Attaches read-only to `job_id`, replaying its history first when `history`
    /// (optionally only after `from_event_seq`).
    pub async fn subscribe(
        &self,
        job_id: &str,
        history: bool,
        from_event_seq: Option<u64>,
    ) -> Result<Subscription, ClientError> {
        request(&self.commands, |reply| Command::Subscribe {
            job_id: job_id.to_owned(),
            history,
            from_event_seq,
            reply,
        })
        .await
    }

    /// Ends a subscription (returns once `job.unsubscribe` is written); its stream ends and
    /// its `done` reports `Closed`.
    pub async fn unsubscribe(&self, job_id: &str) -> Result<(), ClientError> {
        request(&self.commands, |reply| Command::Unsubscribe {
            job_id: job_id.to_owned(),
            reply,
        })
        .await
    }

    /// `session.ack` of everything up to `last_processed_seq`; returns once it is written.
    pub async fn ack(&self, last_processed_seq: u64) -> Result<(), ClientError> {
        request(&self.commands, |reply| Command::Ack {
            seq: last_processed_seq,
            reply,
        })
        .await
    }

    /// `session.ping`; returns the round trip once the pong arrives.
    pub async fn ping(&self) -> Result<Duration, ClientError> {
        request(&self.commands, |reply| Command::Ping { reply }).await
    }

    /// Reconnects and resumes now (after a drop, when automatic resume is off), waiting
    /// for the welcome. `Ok` at once when the session is open.
    pub async fn resume(&self) -> Result<(), ClientError> {
        request(&self.commands, |reply| Command::Resume { reply }).await
    }

    /// Drops the transport without `session.bye` (tests, demos); jobs keep running on the
    /// runtime and the session resumes (automatically, or with [`Client::resume`]).
    pub async fn drop_transport(&self) -> Result<(), ClientError> {
        request(&self.commands, |reply| Command::DropTransport { reply }).await
    }

    /// Writes `frame` (one encoded envelope) on the current transport as is, bypassing the
    /// session: for tests and interop harnesses that need a frame the API refuses to send.
    /// The session does not know about it (a hand-written `session.bye` is not a close).
    pub async fn send_raw(&self, frame: Vec<u8>) -> Result<(), ClientError> {
        request(&self.commands, |reply| Command::SendRaw { frame, reply }).await
    }

    /// Ends the session with `session.bye` and closes the transport. Handles still waiting
    /// get [`ClientError::Closed`].
    pub async fn close(&self) -> Result<(), ClientError> {
        request(&self.commands, |reply| Command::Close { reply }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arcp_proto::wire::{EventBody, JobEvent, LogBody};

    #[test]
    fn error_code_and_retryable() {
        let refused = ClientError::refused(&ErrorPayload::new(ErrorCode::DuplicateKey, "dup"));
        assert_eq!(refused.code(), Some(ErrorCode::DuplicateKey));
        assert!(!refused.retryable());
        assert_eq!(refused.to_string(), "DUPLICATE_KEY: dup");
        let failed = ClientError::JobFailed {
            job_id: "job_1".into(),
            code: ErrorCode::InternalError,
            message: "boom".into(),
            retryable: true,
            details: None,
        };
        assert_eq!(failed.code(), Some(ErrorCode::InternalError));
        assert!(failed.retryable());
        assert_eq!(failed.to_string(), "job job_1 failed: INTERNAL_ERROR: boom");
        assert!(ClientError::Transport("x".into()).retryable());
        assert_eq!(ClientError::Closed.code(), None);
        assert!(!ClientError::Closed.retryable());
        assert!(!ClientError::Overflow { limit: 2 }.retryable());
    }

    #[test]
    fn event_item_kind_body_and_stream_item_accessors() {
        let event = JobEvent {
            ts: arcp_proto::wire::Timestamp::parse("2026-11-24T01:30:25.165442Z").unwrap(),
            body: EventBody::Log(LogBody {
                level: "info".into(),
                message: "round 0".into(),
                attributes: None,
                extra: serde_json::Map::new(),
            }),
        };
        let item = JobEventItem {
            job_id: "job_1".into(),
            event_seq: 7,
            space: SeqSpace::Session,
            event,
        };
        assert_eq!(item.kind(), "log");
        assert_eq!(
            item.body(),
            serde_json::json!({"level": "info", "message": "round 0"})
        );
        let s = StreamItem::Event(item);
        assert_eq!((s.job_id(), s.event_seq()), ("job_1", 7));
        let t = StreamItem::Terminal {
            job_id: "job_2".into(),
            event_seq: 9,
            space: SeqSpace::Session,
            outcome: JobOutcome::Cancelled { completed_at: None },
        };
        assert_eq!((t.job_id(), t.event_seq()), ("job_2", 9));
    }

    #[test]
    fn public_types_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Client>();
        send_sync::<ClientError>();
        send::<JobHandle>();
        send::<Subscription>();
        send::<UnroutedEvents>();
        send::<JobEvents<'static>>();
    }

    #[test]
    fn entropy_never_repeats_in_a_run() {
        let mut e = HashEntropy { counter: 0 };
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            assert!(seen.insert(e.next_u128()));
        }
    }
}
