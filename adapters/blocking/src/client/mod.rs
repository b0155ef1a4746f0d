//! The client side, on plain threads: WebSocket and stdio clients with a blocking API.
//!
//! The API is the same as arcp-tokio's and arcp-futures' (written once in arcp-client), with
//! blocking calls instead of futures and an [`Iterator`] of events instead of a `Stream`:
//!
//! ```no_run
//! use arcp_blocking::client::{Client, SubmitRequest};
//! let client = Client::builder("ws://127.0.0.1:7777/arcp").token("alice-token").connect()?;
//! let job = client.submit(SubmitRequest::new("echo", serde_json::json!({"x": 1})))?;
//! for event in job.events() {
//!     println!("{}: {}", event.event_seq, event.kind());
//! }
//! let outcome = job.done()?;
//! client.close()?;
//! # let _ = outcome;
//! # Ok::<(), arcp_blocking::client::ClientError>(())
//! ```
//!
//! The session runs on a thread of its own: arcp-client's driver task under this crate's
//! [`crate::exec::block_on`], with a reader thread per transport. Each call
//! blocks the caller's thread until its answer. After a transport loss the client
//! reconnects and resumes by itself ([`ClientBuilder::auto_resume`], WebSocket only).

mod raw;
mod transport;

pub use arcp_client::ClientOptions;
pub use arcp_client::{
    ApiError, AutoAck, ClientError, ClientState, CloseReason, DEFAULT_CANCEL_REASON, ErrorCode,
    Feature, FeatureSet, FrameTap, JobError, JobEventItem, JobFilter, JobId, JobInfo, JobOutcome,
    JobStatus, Jobs, LeaseConstraints, ListJobsRequest, RequestId, ResultValue, ResumeRetry,
    ResumeState, SeqSpace, SessionId, StreamItem, SubmitRequest, TapEvent, Target, Timestamp,
    WelcomeInfo,
};
pub use raw::RawConnection;

use crate::exec;
use arcp_client::channel::{self, ChannelAdapter, ChannelIo, ChannelLink};
use arcp_client::{ClientDriver, DriverTask, Shared};
use arcp_proto::wire::Jobs as JobsPage;
use futures_core::Stream;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use transport::BlockingIo;

/// arcp-blocking, as the channel client sees it.
#[derive(Debug)]
pub struct Blocking;

/// How a blocking [`Client`] reaches its driver thread.
pub type BlockingLink = ChannelLink<Blocking>;

impl ChannelAdapter for Blocking {
    type Builder = ClientBuilder;

    fn builder(options: ClientOptions) -> ClientBuilder {
        ClientBuilder { options }
    }

    fn options(target: Target) -> ClientOptions {
        ClientOptions::new(target, "arcp-blocking", env!("CARGO_PKG_VERSION"))
    }

    fn connect(
        options: ClientOptions,
    ) -> impl Future<Output = Result<arcp_client::Client<BlockingLink>, ClientError>> + Send {
        std::future::ready(open(options))
    }
}

/// Configures and opens a [`Client`].
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    options: ClientOptions,
}

impl ClientBuilder {
    arcp_client::client_builder_setters!();

    /// Opens the transport, starts the session's thread and completes the handshake (or the
    /// resume), within [`connect_timeout`](Self::connect_timeout).
    pub fn connect(self) -> Result<Client, ClientError> {
        open(self.options).map(|inner| Client { inner })
    }
}

fn open(o: ClientOptions) -> Result<arcp_client::Client<BlockingLink>, ClientError> {
    let io = BlockingIo {
        target: o.target.clone(),
        max_frame_bytes: o.max_frame_bytes,
        timeout: o.connect_timeout,
    };
    let transport = io.open_now()?;
    let (unrouted_tx, unrouted) = match o.unrouted_capacity {
        Some(cap) => {
            let (tx, rx) = channel::unrouted(cap);
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let unix_micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let driver = ClientDriver::new(
        &o,
        Instant::now(),
        unix_micros,
        Box::new(arcp_agents::OsEntropy),
        unrouted_tx,
    );
    let shared = Arc::new(Shared::new(
        o.resume.as_ref().map_or(0, |r| r.last_event_seq),
    ));
    let (commands, rx) = channel::commands(o.command_capacity);
    let (welcome_tx, welcome_rx) = async_channel::bounded(1);
    let task = DriverTask::new(
        ChannelIo(io),
        driver,
        transport,
        rx,
        Arc::clone(&shared),
        welcome_tx,
    );
    std::thread::Builder::new()
        .name("arcp-client".into())
        .spawn(move || exec::block_on(task.run()))
        .map_err(|e| ClientError::transport_from("cannot start the client thread", e))?;
    let answer = wait_for(o.connect_timeout, async move {
        welcome_rx.recv().await.map_err(|_| ClientError::Closed)
    })?;
    let welcome = answer.into_welcome()?;
    let link = BlockingLink::new(commands, o.event_capacity);
    Ok(arcp_client::Client::from_parts(
        link, shared, welcome, unrouted,
    ))
}

/// Runs `f` to its end on the caller's thread.
fn wait<F: Future>(f: F) -> F::Output {
    exec::block_on(f)
}

/// Runs `f` for at most `limit` ([`ClientError::Timeout`] then).
fn wait_for<T>(
    limit: Duration,
    f: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    let mut f = std::pin::pin!(f);
    let mut sleep = std::pin::pin!(exec::sleep(limit));
    exec::block_on(poll_fn(|cx| {
        if let std::task::Poll::Ready(r) = f.as_mut().poll(cx) {
            return std::task::Poll::Ready(r);
        }
        sleep.as_mut().poll(cx).map(|()| Err(ClientError::Timeout))
    }))
}

/// An ARCP client session over WebSocket or stdio, with blocking calls. Dropping it (and
/// every [`JobHandle`]) ends the session with `session.bye`.
#[derive(Debug)]
pub struct Client {
    inner: arcp_client::Client<BlockingLink>,
}

impl Client {
    /// A builder for a WebSocket runtime at `url` (`ws://…`).
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        arcp_client::Client::<BlockingLink>::builder(url)
    }

    /// A builder for a child runtime (`argv`) serving one session on its stdin/stdout.
    pub fn stdio_builder<I, S>(argv: I) -> ClientBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString>,
    {
        arcp_client::Client::<BlockingLink>::stdio_builder(argv)
    }

    /// Connects with every option given at once.
    pub fn connect_with(options: ClientOptions) -> Result<Self, ClientError> {
        ClientBuilder { options }.connect()
    }

    /// Connects to a WebSocket runtime with bearer `token` and the defaults.
    pub fn connect(url: impl Into<String>, token: impl Into<String>) -> Result<Self, ClientError> {
        Client::builder(url).token(token).connect()
    }

    /// The async client this one drives (its getters: `session_id`, `features`, `state`,
    /// `resume_state`, `latest_event_seq`, …).
    pub fn session(&self) -> &arcp_client::Client<BlockingLink> {
        &self.inner
    }

    /// Spawns a child runtime (`argv`) and opens a session on its stdin/stdout.
    pub fn spawn_stdio<I, S>(argv: I, token: impl Into<String>) -> Result<Self, ClientError>
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString>,
    {
        Client::stdio_builder(argv).token(token).connect()
    }

    /// The welcome of the session's opening handshake.
    pub fn welcome(&self) -> &WelcomeInfo {
        self.inner.welcome()
    }

    /// The session id.
    pub fn session_id(&self) -> &SessionId {
        self.inner.session_id()
    }

    /// The latest resume token (rotated on every welcome).
    pub fn resume_token(&self) -> Option<String> {
        self.inner.resume_token()
    }

    /// How many welcomes this client received (1 + successful resumes).
    pub fn welcomes(&self) -> u64 {
        self.inner.welcomes()
    }

    /// The highest session `event_seq` the client has received.
    pub fn received_event_seq(&self) -> u64 {
        self.inner.received_event_seq()
    }

    /// The negotiated features.
    pub fn features(&self) -> FeatureSet {
        self.inner.features()
    }

    /// Where the session is now.
    pub fn state(&self) -> ClientState {
        self.inner.state()
    }

    /// What another client needs to resume this session.
    pub fn resume_state(&self) -> Option<ResumeState> {
        self.inner.resume_state()
    }

    /// The highest session `event_seq` the application has consumed.
    pub fn latest_event_seq(&self) -> u64 {
        self.inner.latest_event_seq()
    }

    /// Frames of jobs without a handle, when enabled (taken once).
    pub fn unrouted_events(&self) -> Option<Events<arcp_client::UnroutedEvents<BlockingLink>>> {
        self.inner.unrouted_events().map(Events)
    }

    /// Submits a job and waits for `job.accepted`.
    pub fn submit(&self, req: SubmitRequest) -> Result<JobHandle, ClientError> {
        wait(self.inner.submit(req)).map(JobHandle)
    }

    /// `job.cancel` with [`DEFAULT_CANCEL_REASON`]; returns once written.
    pub fn cancel(&self, job_id: &JobId) -> Result<(), ClientError> {
        wait(self.inner.cancel(job_id))
    }

    /// `job.cancel` with `reason`; returns once written.
    pub fn cancel_with_reason(&self, job_id: &JobId, reason: &str) -> Result<(), ClientError> {
        wait(self.inner.cancel_with_reason(job_id, reason))
    }

    /// `job.cancel` with `reason`, waiting until the runtime took it or refused it.
    pub fn cancel_confirmed(&self, job_id: &JobId, reason: &str) -> Result<(), ClientError> {
        wait(self.inner.cancel_confirmed(job_id, reason))
    }

    /// `session.list_jobs` (one page).
    pub fn list_jobs(&self, req: ListJobsRequest) -> Result<JobsPage, ClientError> {
        wait(self.inner.list_jobs(req))
    }

    /// `job.subscribe`, replaying history first when `history`; waits for `job.subscribed`.
    pub fn subscribe(&self, job_id: &JobId, history: bool) -> Result<Subscription, ClientError> {
        self.subscribe_from(job_id, history, None)
    }

    /// [`subscribe`](Self::subscribe), replaying only after `from_event_seq` when given.
    pub fn subscribe_from(
        &self,
        job_id: &JobId,
        history: bool,
        from_event_seq: Option<u64>,
    ) -> Result<Subscription, ClientError> {
        let sub = wait(self.inner.subscribe_from(job_id, history, from_event_seq))?;
        Ok(Subscription {
            handle: JobHandle(sub.handle),
        })
    }

    /// `job.unsubscribe`; the job's stream ends.
    pub fn unsubscribe(&self, job_id: &JobId) -> Result<(), ClientError> {
        wait(self.inner.unsubscribe(job_id))
    }

    /// `session.ack`; returns once written.
    pub fn ack(&self, last_processed_seq: u64) -> Result<(), ClientError> {
        wait(self.inner.ack(last_processed_seq))
    }

    /// `session.ping`, waiting for the pong; returns the round trip.
    pub fn ping(&self) -> Result<Duration, ClientError> {
        wait(self.inner.ping())
    }

    /// Reconnects and resumes now (after a drop without automatic resume).
    pub fn resume(&self) -> Result<(), ClientError> {
        wait(self.inner.resume())
    }

    /// Drops the transport without `session.bye` (the session stays resumable).
    pub fn drop_transport(&self) -> Result<(), ClientError> {
        wait(self.inner.drop_transport())
    }

    /// Writes `frame` on the transport as is, bypassing the session.
    pub fn send_raw(&self, frame: &[u8]) -> Result<(), ClientError> {
        wait(self.inner.send_raw(frame.to_vec()))
    }

    /// `session.bye` and close.
    pub fn close(&self) -> Result<(), ClientError> {
        wait(self.inner.close())
    }
}

/// A submitted (or subscribed) job.
#[derive(Debug)]
pub struct JobHandle(arcp_client::JobHandle<BlockingLink>);

impl JobHandle {
    /// The job id.
    pub fn job_id(&self) -> &JobId {
        self.0.job_id()
    }

    /// Everything the runtime granted.
    pub fn info(&self) -> &JobInfo {
        self.0.info()
    }

    /// The resolved agent.
    pub fn agent_ref(&self) -> &arcp_proto::wire::AgentRef {
        self.0.agent_ref()
    }

    /// The effective lease.
    pub fn lease(&self) -> &arcp_proto::wire::LeaseMap {
        self.0.lease()
    }

    /// The budget counters.
    pub fn budget(&self) -> Option<&arcp_proto::wire::Budget> {
        self.0.budget()
    }

    /// Provisioned credentials.
    pub fn credentials(&self) -> &[arcp_proto::wire::Credential] {
        self.0.credentials()
    }

    /// The job's events, an [`Iterator`] that blocks for the next one and ends after the
    /// terminal frame (owned: the loop reading it may call [`cancel`](Self::cancel)).
    pub fn events(&self) -> Events<arcp_client::JobEvents<BlockingLink>> {
        Events(self.0.events())
    }

    /// Cancels the job; returns once written.
    pub fn cancel(&self) -> Result<(), ClientError> {
        wait(self.0.cancel())
    }

    /// Waits for the terminal frame (unread events are discarded).
    pub fn done(self) -> Result<JobOutcome, ClientError> {
        wait(self.0.done())
    }

    /// [`done`](Self::done), for at most `limit`.
    pub fn done_within(self, limit: Duration) -> Result<JobOutcome, ClientError> {
        wait_for(limit, self.0.done())
    }
}

/// A read-only attachment to a job submitted elsewhere.
#[derive(Debug)]
pub struct Subscription {
    /// Its events and end.
    pub handle: JobHandle,
}

impl Subscription {
    /// The observed job.
    pub fn job_id(&self) -> &JobId {
        self.handle.job_id()
    }

    /// The seq of the last replayed frame.
    pub fn subscribed_from(&self) -> u64 {
        self.handle.info().subscribed_from()
    }

    /// How many frames were replayed.
    pub fn replayed(&self) -> u64 {
        self.handle.info().replayed()
    }

    /// The `job.subscribed` payload.
    pub fn subscribed(&self) -> Option<&arcp_proto::wire::Subscribed> {
        self.handle.info().subscribed.as_deref()
    }

    /// The job's events ([`JobHandle::events`]).
    pub fn events(&self) -> Events<arcp_client::JobEvents<BlockingLink>> {
        self.handle.events()
    }

    /// The job's end ([`JobHandle::done`]).
    pub fn done(self) -> Result<JobOutcome, ClientError> {
        self.handle.done()
    }
}

/// A blocking iterator over one of the client's streams.
#[derive(Debug)]
pub struct Events<S>(S);

impl<S: Stream + Unpin> Iterator for Events<S> {
    type Item = S::Item;

    fn next(&mut self) -> Option<S::Item> {
        wait(poll_fn(|cx| Pin::new(&mut self.0).poll_next(cx)))
    }
}
