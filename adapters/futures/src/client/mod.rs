//! The client side: a WebSocket client driving [`arcp_proto::client::ClientSession`], on any
//! executor (the driver task is started with the application's [`Spawner`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), arcp_futures::client::ClientError> {
//! use arcp_futures::client::{Client, SubmitRequest};
//! use futures_util::StreamExt;
//!
//! let client = Client::builder("ws://127.0.0.1:7777/arcp")
//!     .token("alice-token")
//!     .connect(|f| smol::spawn(f).detach())
//!     .await?;
//! let mut handle = client
//!     .submit(SubmitRequest::new("echo", serde_json::json!({"hello": "world"})))
//!     .await?;
//! while let Some(event) = handle.events().next().await {
//!     println!("{}: {:?}", event.event_seq, event.event.body.kind());
//! }
//! println!("final: {:?}", handle.done().await?);
//! client.close().await?;
//! # Ok(()) }
//! ```
//!
//! The same shape as arcp-tokio's client, thinner: the session state, pending replies and
//! the resume retry are arcp-host's [`ClientDriver`]; this module keeps the channels and the
//! IO. Transports: WebSocket ([`Client::builder`]) or a child on stdio
//! ([`Client::stdio_builder`]). After a transport loss the client reconnects and resumes by
//! itself when [`ClientBuilder::auto_resume`] is on (WebSocket only); otherwise resume a
//! session by connecting with [`ClientBuilder::resume`]. A resume refused because the runtime
//! still sees the session attached is retried ([`ClientBuilder::resume_retry`]). Every queue is
//! bounded: commands ([`ClientBuilder::command_capacity`]) and each job's events
//! ([`ClientBuilder::event_capacity`]), and the events waiting for room in a full handle
//! queue ([`ClientBuilder::max_buffered_events`]; while that many wait the transport is not
//! read: back-pressure; commands are still served; `done` or dropping the handle discards
//! unread events instead).

mod driver;
mod link;

pub use arcp_host::client::{FrameTap, JobEventItem, ResumeRetry, TapEvent};
pub use link::{Ws, open_ws};

pub use arcp_proto::client::{
    ApiError, ClientState, JobOutcome, ListJobsRequest, ResultValue, ResumeState, SeqSpace,
    SubmitRequest,
};
pub use arcp_proto::wire::{ErrorCode, Jobs, LeaseConstraints, Timestamp};

use crate::server::Spawner;
use arcp_agents::{BoxFuture, OsEntropy};
use arcp_host::client::ClientDriver;
use arcp_proto::client::ClientConfig;
use arcp_proto::wire::{Accepted, ErrorPayload, Subscribed};
use async_channel::{Receiver, Sender};
use driver::{Command, Driver, Reconnect, Snapshot};
use futures_util::Stream;
use link::{Link, Target};
use std::ffi::OsString;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// Everything a client call can fail with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// Caller misuse, refused before anything was sent.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The runtime refused the request (or the handshake) with a §12 error.
    #[error("{code}: {message}")]
    Refused {
        /// The §12 code.
        code: ErrorCode,
        /// The runtime's text.
        message: String,
    },
    /// The job ended with `job.error` (other than `CANCELLED` / `TIMEOUT`, COMPAT D6/D8).
    #[error("job failed: {code}: {message}")]
    JobFailed {
        /// The §12 code.
        code: ErrorCode,
        /// The agent's or runtime's text.
        message: String,
    },
    /// The transport could not be opened or was lost.
    #[error("transport: {0}")]
    Transport(String),
    /// The session is closed.
    #[error("session closed")]
    Closed,
}

impl ClientError {
    pub(crate) fn refused(p: &ErrorPayload) -> Self {
        ClientError::Refused {
            code: p.code.clone(),
            message: p.message.clone(),
        }
    }
}

pub(crate) type Terminal = Result<JobOutcome, ClientError>;

/// Configures and opens a client.
pub struct ClientBuilder {
    target: Target,
    token: String,
    name: String,
    version: String,
    features: Option<Vec<String>>,
    resume: Option<ResumeState>,
    max_frame_bytes: usize,
    command_capacity: usize,
    event_capacity: usize,
    max_buffered_events: usize,
    tap: Option<FrameTap>,
    reconnect: Reconnect,
    retry: ResumeRetry,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Bearer token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// `client.name` / `client.version` of the hello.
    pub fn client_info(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.name = name.into();
        self.version = version.into();
        self
    }

    /// The features to request (default: every feature the core supports).
    pub fn features<I: IntoIterator<Item = S>, S: Into<String>>(mut self, f: I) -> Self {
        self.features = Some(f.into_iter().map(Into::into).collect());
        self
    }

    /// Resume this session instead of opening a new one.
    pub fn resume(mut self, state: ResumeState) -> Self {
        self.resume = Some(state);
        self
    }

    /// The inbound frame cap (D35).
    pub fn max_frame_bytes(mut self, n: usize) -> Self {
        self.max_frame_bytes = n;
        self
    }

    /// Capacity of the command queue (calls wait when it is full). Default 64.
    pub fn command_capacity(mut self, n: usize) -> Self {
        self.command_capacity = n.max(1);
        self
    }

    /// Capacity of each job handle's event queue. Default 256.
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.event_capacity = n.max(1);
        self
    }

    /// How many events may wait for room in a full handle queue; while that many wait the
    /// transport is not read (commands are still served). Default 1024.
    pub fn max_buffered_events(mut self, n: usize) -> Self {
        self.max_buffered_events = n.max(1);
        self
    }

    /// Every frame written and read, and the transport's end, are reported to `tap`.
    pub fn frame_tap(mut self, tap: FrameTap) -> Self {
        self.tap = Some(tap);
        self
    }

    /// After a transport loss, reconnect and resume by itself (WebSocket only: a new stdio
    /// child is a new runtime). Default `false`: [`Client::drop_transport`] leaves the
    /// session for another client to resume.
    pub fn auto_resume(mut self, on: bool) -> Self {
        self.reconnect.auto_resume = on;
        self
    }

    /// Reconnect attempts before the session is given up (default 5), and the first delay
    /// (default 100 ms, doubling).
    pub fn reconnect(mut self, attempts: u32, first_delay: Duration) -> Self {
        self.reconnect.max_attempts = attempts.max(1);
        self.reconnect.first_delay = first_delay;
        self
    }

    /// How a resume refused while the runtime still sees the session attached is retried
    /// (WIRE.md §6; default [`ResumeRetry::default`], [`ResumeRetry::never`] to surface the
    /// first refusal).
    pub fn resume_retry(mut self, retry: ResumeRetry) -> Self {
        self.retry = retry;
        self
    }

    /// Opens the transport, spawns the driver with `spawn` and completes the handshake (or
    /// the resume).
    pub async fn connect(
        self,
        spawn: impl Fn(BoxFuture<'static, ()>) + Send + Sync + 'static,
    ) -> Result<Client, ClientError> {
        let spawn: Spawner = Arc::new(spawn);
        let link = Link::open(&self.target, self.max_frame_bytes).await?;
        let mut config = ClientConfig::named(&self.name, &self.version, self.token);
        if let Some(f) = self.features {
            config.features = f;
        }
        config.max_frame_bytes = self.max_frame_bytes;
        let core = ClientDriver::new(
            config,
            self.resume,
            std::time::Instant::now(),
            Box::new(|| Box::new(OsEntropy)),
        )
        // A new stdio child is a new runtime: a refused resume there is final.
        .with_retry(if self.target.can_resume() {
            self.retry
        } else {
            ResumeRetry::never()
        })
        .with_tap(self.tap);
        let (cmd_tx, cmd_rx) = async_channel::bounded(self.command_capacity);
        let (welcome_tx, welcome_rx) = async_channel::bounded(1);
        let shared = Arc::new(Mutex::new(Snapshot::default()));
        let driver = Driver::new(
            core,
            self.target,
            self.max_frame_bytes,
            link,
            cmd_rx,
            Arc::clone(&shared),
            welcome_tx,
            self.event_capacity,
            self.max_buffered_events,
            self.reconnect,
        );
        spawn(Box::pin(driver.run()));
        welcome_rx.recv().await.map_err(|_| ClientError::Closed)??;
        Ok(Client {
            commands: cmd_tx,
            shared,
        })
    }
}

/// An ARCP client session over WebSocket. Dropping every `Client` ends the session with
/// `session.bye`.
#[derive(Debug, Clone)]
pub struct Client {
    commands: Sender<Command>,
    shared: Arc<Mutex<Snapshot>>,
}

async fn request<T>(
    commands: &Sender<Command>,
    make: impl FnOnce(Sender<Result<T, ClientError>>) -> Command,
) -> Result<T, ClientError> {
    let (tx, rx) = async_channel::bounded(1);
    commands
        .send(make(tx))
        .await
        .map_err(|_| ClientError::Closed)?;
    rx.recv().await.map_err(|_| ClientError::Closed)?
}

impl Client {
    /// A builder for `url` (`ws://HOST:PORT/PATH`) with no token and every feature.
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        Self::with_target(Target::WebSocket(url.into()))
    }

    /// A builder for a child runtime: `argv[0]` is spawned with the rest as arguments and
    /// serves one session as NDJSON on its stdin/stdout (e.g. `arcp serve --stdio`).
    pub fn stdio_builder<I, S>(argv: I) -> ClientBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Self::with_target(Target::Stdio(argv.into_iter().map(Into::into).collect()))
    }

    fn with_target(target: Target) -> ClientBuilder {
        ClientBuilder {
            target,
            token: String::new(),
            name: "arcp-futures".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            features: None,
            resume: None,
            max_frame_bytes: arcp_proto::wire::DEFAULT_MAX_FRAME_BYTES,
            command_capacity: 64,
            event_capacity: 256,
            max_buffered_events: 1024,
            tap: None,
            reconnect: Reconnect {
                auto_resume: false,
                max_attempts: 5,
                first_delay: Duration::from_millis(100),
            },
            retry: ResumeRetry::default(),
        }
    }

    fn snap<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> R {
        match self.shared.lock() {
            Ok(g) => f(&g),
            Err(p) => f(&p.into_inner()),
        }
    }

    /// The negotiated features.
    pub fn features(&self) -> Vec<String> {
        self.snap(|s| s.features.clone())
    }

    /// The session id (once welcomed).
    pub fn session_id(&self) -> Option<String> {
        self.snap(|s| s.session_id.clone())
    }

    /// The session's state.
    pub fn state(&self) -> ClientState {
        self.snap(|s| s.state)
    }

    /// Where to resume this session from (session id, resume token, last received seq).
    pub fn resume_state(&self) -> Option<ResumeState> {
        self.snap(|s| s.resume.clone())
    }

    /// `job.submit`, waiting for `job.accepted`.
    pub async fn submit(&self, req: SubmitRequest) -> Result<JobHandle, ClientError> {
        request(&self.commands, |reply| Command::Submit {
            req: Box::new(req),
            reply,
        })
        .await
    }

    /// `job.cancel` with `reason` (D6: the reference requires one), once written.
    pub async fn cancel(&self, job_id: &str, reason: &str) -> Result<(), ClientError> {
        request(&self.commands, |reply| Command::Cancel {
            job_id: job_id.to_owned(),
            reason: reason.to_owned(),
            reply,
        })
        .await
    }

    /// `session.list_jobs`.
    pub async fn list_jobs(&self, req: ListJobsRequest) -> Result<Jobs, ClientError> {
        request(&self.commands, |reply| Command::ListJobs { req, reply }).await
    }

    /// `job.subscribe`, waiting for `job.subscribed`.
    pub async fn subscribe(
        &self,
        job_id: &str,
        history: bool,
        from_event_seq: Option<u64>,
    ) -> Result<JobHandle, ClientError> {
        request(&self.commands, |reply| Command::Subscribe {
            job_id: job_id.to_owned(),
            history,
            from_event_seq,
            reply,
        })
        .await
    }

    /// `job.unsubscribe`; the handle's stream ends.
    pub async fn unsubscribe(&self, job_id: &str) -> Result<(), ClientError> {
        request(&self.commands, |reply| Command::Unsubscribe {
            job_id: job_id.to_owned(),
            reply,
        })
        .await
    }

    /// `session.ack`.
    pub async fn ack(&self, last_processed_seq: u64) -> Result<(), ClientError> {
        request(&self.commands, |reply| Command::Ack {
            seq: last_processed_seq,
            reply,
        })
        .await
    }

    /// `session.ping`, waiting for the pong; returns the round trip.
    pub async fn ping(&self) -> Result<Duration, ClientError> {
        request(&self.commands, |reply| Command::Ping { reply }).await
    }

    /// Writes `frame` on the transport as is, bypassing the session.
    pub async fn send_raw(&self, frame: Vec<u8>) -> Result<(), ClientError> {
        request(&self.commands, |reply| Command::SendRaw { frame, reply }).await
    }

    /// Drops the transport without `session.bye` (the session stays resumable on the
    /// runtime; this client does not reconnect).
    pub async fn drop_transport(&self) -> Result<(), ClientError> {
        request(&self.commands, |reply| Command::DropTransport { reply }).await
    }

    /// `session.bye` and close.
    pub async fn close(&self) -> Result<(), ClientError> {
        request(&self.commands, |reply| Command::Close { reply }).await
    }
}

/// A submitted (or subscribed) job: what was granted, an ordered event stream, `done`.
#[derive(Debug)]
pub struct JobHandle {
    job_id: String,
    accepted: Option<Box<Accepted>>,
    subscribed: Option<Box<Subscribed>>,
    events: Option<Pin<Box<Receiver<JobEventItem>>>>,
    done: Receiver<Terminal>,
}

impl JobHandle {
    /// The job id.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// The `job.accepted` payload (submitted jobs).
    pub fn accepted(&self) -> Option<&Accepted> {
        self.accepted.as_deref()
    }

    /// The `job.subscribed` payload (subscriptions).
    pub fn subscribed(&self) -> Option<&Subscribed> {
        self.subscribed.as_deref()
    }

    /// The ordered event stream; it ends after the job's terminal frame.
    pub fn events(&mut self) -> JobEvents<'_> {
        JobEvents {
            rx: &mut self.events,
        }
    }

    /// Waits for the terminal frame; unread events are discarded. `Ok` for success,
    /// cancellation and timeout, [`ClientError::JobFailed`] for any other `job.error`.
    pub async fn done(mut self) -> Result<JobOutcome, ClientError> {
        self.events = None;
        self.done.recv().await.map_err(|_| ClientError::Closed)?
    }
}

/// The ordered event stream of one job (bounded by [`ClientBuilder::event_capacity`]).
#[derive(Debug)]
pub struct JobEvents<'a> {
    rx: &'a mut Option<Pin<Box<Receiver<JobEventItem>>>>,
}

impl Stream for JobEvents<'_> {
    type Item = JobEventItem;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<JobEventItem>> {
        let this = self.get_mut();
        match this.rx.as_mut() {
            Some(rx) => rx.as_mut().poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}
