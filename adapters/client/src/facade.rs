//! The async client API, written once: [`Client`], [`JobHandle`], [`JobEvents`],
//! [`Subscription`], [`UnroutedEvents`], generic over the adapter's [`AsyncLink`] (its
//! channels and its driver task). arcp-tokio and arcp-futures re-export them instantiated
//! with their link (`arcp_tokio::client::Client` is `Client<TokioLink>`), so both expose the
//! same methods with the same types.

use crate::{
    Answer, ClientError, ClientOptions, Command, DEFAULT_CANCEL_REASON, JobEventItem, JobInfo,
    JobOutcome, JobSink, ListJobsRequest, Shared, StreamItem, SubmitRequest, Target,
};
use arcp_proto::client::{ClientState, ResumeState, WelcomeInfo};
use arcp_proto::wire::{
    AgentRef, Budget, Credential, FeatureSet, JobId, Jobs, LeaseMap, SessionId, Subscribed,
};
use futures_core::Stream;
use std::ffi::OsString;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// What the application asks the adapter's driver task.
#[derive(Debug)]
pub enum Request<S> {
    /// A command for the [`ClientDriver`](crate::ClientDriver).
    Command(Box<Command<S>>),
    /// Write these bytes on the transport as is, bypassing the session (tap included).
    SendRaw(Vec<u8>),
}

/// An adapter's side of the async API: its channels and the way to reach its driver task.
pub trait AsyncLink: Clone + Send + Sync + 'static {
    /// The sending half of a job's queues, given to the driver.
    type Sink: JobSink + Send + 'static;
    /// The receiving half of a job's events.
    type Events: Stream<Item = JobEventItem> + Send + Unpin + 'static;
    /// The receiving half of a job's end.
    type End: Send + Sync + 'static;
    /// The unrouted stream.
    type Unrouted: Stream<Item = StreamItem> + Send + Unpin + 'static;
    /// The adapter's `ClientBuilder`.
    type Builder;

    /// A builder for `target` with the adapter's defaults.
    fn builder(target: Target) -> Self::Builder;
    /// The adapter's default options for `target`.
    fn options(target: Target) -> ClientOptions;
    /// Opens the transport and completes the handshake with `options` (no TLS settings
    /// beyond the adapter's defaults).
    fn connect(
        options: ClientOptions,
    ) -> impl Future<Output = Result<Client<Self>, ClientError>> + Send;
    /// A job's bounded queues.
    fn job_channel(&self) -> (Self::Sink, Self::Events, Self::End);
    /// Sends a request to the driver task and waits for its answer
    /// ([`ClientError::Closed`] when the task is gone).
    fn request(&self, req: Request<Self::Sink>) -> impl Future<Output = Answer> + Send;
    /// Waits for a job's end ([`ClientError::Closed`] when the driver dropped it).
    fn end(end: Self::End) -> impl Future<Output = Result<JobOutcome, ClientError>> + Send;
}

/// An ARCP client session (the Python SDK's `ARCPClient`), the same API on every async
/// adapter. Dropping the last `Client` and every [`JobHandle`] ends the session with
/// `session.bye`.
pub struct Client<L: AsyncLink> {
    link: L,
    shared: Arc<Shared>,
    welcome: WelcomeInfo,
    unrouted: Mutex<Option<L::Unrouted>>,
}

impl<L: AsyncLink> std::fmt::Debug for Client<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("session_id", &self.welcome.session_id)
            .finish_non_exhaustive()
    }
}

impl<L: AsyncLink> Client<L> {
    /// A builder for a WebSocket runtime at `url` (`ws://…`, `wss://…` where the adapter
    /// has TLS).
    pub fn builder(url: impl Into<String>) -> L::Builder {
        L::builder(Target::WebSocket(url.into()))
    }

    /// A builder for a child runtime: `argv[0]` is spawned with the rest as arguments and
    /// serves one session as NDJSON on its stdin/stdout (e.g. `arcp serve --stdio`).
    pub fn stdio_builder<I, S>(argv: I) -> L::Builder
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        L::builder(Target::Stdio(argv.into_iter().map(Into::into).collect()))
    }

    /// Connects to a WebSocket runtime at `url` with bearer `token` and the defaults.
    pub async fn connect(
        url: impl Into<String>,
        token: impl Into<String>,
    ) -> Result<Self, ClientError> {
        let mut o = L::options(Target::WebSocket(url.into()));
        o.token = token.into();
        L::connect(o).await
    }

    /// Spawns a child runtime (`argv`) and opens a session on its stdin/stdout with bearer
    /// `token` and the defaults.
    pub async fn spawn_stdio<I, S>(argv: I, token: impl Into<String>) -> Result<Self, ClientError>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut o = L::options(Target::Stdio(argv.into_iter().map(Into::into).collect()));
        o.token = token.into();
        L::connect(o).await
    }

    /// Connects with every option given at once (what the builders do).
    pub async fn connect_with(options: ClientOptions) -> Result<Self, ClientError> {
        L::connect(options).await
    }

    /// The client of a connected session (the adapter's `connect`).
    pub fn from_parts(
        link: L,
        shared: Arc<Shared>,
        welcome: WelcomeInfo,
        unrouted: Option<L::Unrouted>,
    ) -> Self {
        Client {
            link,
            shared,
            welcome,
            unrouted: Mutex::new(unrouted),
        }
    }

    async fn ask(&self, cmd: Command<L::Sink>) -> Answer {
        self.link.request(Request::Command(Box::new(cmd))).await
    }

    /// The welcome of the session's opening handshake.
    pub fn welcome(&self) -> &WelcomeInfo {
        &self.welcome
    }

    /// The session id.
    pub fn session_id(&self) -> &SessionId {
        &self.welcome.session_id
    }

    /// The negotiated features.
    pub fn features(&self) -> FeatureSet {
        self.shared.view().snapshot.features
    }

    /// Where the session is now.
    pub fn state(&self) -> ClientState {
        self.shared.view().snapshot.state
    }

    /// The latest resume token (rotated on every welcome).
    pub fn resume_token(&self) -> Option<String> {
        self.shared.view().snapshot.resume_token
    }

    /// The highest session `event_seq` the application has consumed (from an events
    /// stream, `done`, or the unrouted stream), the Python SDK's `latest_event_seq`.
    pub fn latest_event_seq(&self) -> u64 {
        self.shared.view().consumed_seq
    }

    /// The highest session `event_seq` the client has received.
    pub fn received_event_seq(&self) -> u64 {
        self.shared.view().snapshot.received_seq
    }

    /// How many welcomes this client received (1 + successful resumes).
    pub fn welcomes(&self) -> u64 {
        self.shared.view().snapshot.welcomes
    }

    /// What another client needs to resume this session (`ClientBuilder::resume`),
    /// positioned after the last event the application consumed.
    pub fn resume_state(&self) -> Option<ResumeState> {
        self.shared.resume_state()
    }

    /// Frames of jobs without a handle, when enabled with `ClientBuilder::unrouted_events`
    /// (taken once).
    pub fn unrouted_events(&self) -> Option<UnroutedEvents<L>> {
        let mut g = self
            .unrouted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.take().map(|rx| UnroutedEvents {
            rx,
            shared: Arc::clone(&self.shared),
        })
    }

    fn handle(&self, info: JobInfo, events: L::Events, end: L::End) -> JobHandle<L> {
        JobHandle {
            info,
            events: Arc::new(Mutex::new(Some(events))),
            end,
            shared: Arc::clone(&self.shared),
            link: self.link.clone(),
        }
    }

    /// Submits a job and waits for `job.accepted`. A refusal is [`ClientError::Refused`]
    /// with the §12 code and `retryable`.
    pub async fn submit(&self, req: SubmitRequest) -> Result<JobHandle<L>, ClientError> {
        let (sink, events, end) = self.link.job_channel();
        let info = self.ask(Command::Submit { req, sink }).await.into_job()?;
        Ok(self.handle(info, events, end))
    }

    /// Sends `job.cancel` for `job_id` with reason [`DEFAULT_CANCEL_REASON`] ([D6]); returns
    /// once it is written. The job's handle then ends `Cancelled`.
    ///
    /// [D6]: arcp_proto::compat#d6--cancel
    pub async fn cancel(&self, job_id: &JobId) -> Result<(), ClientError> {
        self.cancel_with_reason(job_id, DEFAULT_CANCEL_REASON).await
    }

    /// Sends `job.cancel` for `job_id` with `reason`; returns once it is written.
    pub async fn cancel_with_reason(
        &self,
        job_id: &JobId,
        reason: &str,
    ) -> Result<(), ClientError> {
        cancel(&self.link, job_id, reason, false).await
    }

    /// Sends `job.cancel` with `reason` and waits until the runtime has taken it: `Ok` once
    /// a `session.list_jobs` sent right after it is answered (the runtime answers in
    /// order), or the refusal as [`ClientError::Refused`] — e.g. `PERMISSION_DENIED` from a
    /// session that did not submit the job ([D7]) or `JOB_NOT_FOUND` ([D37]). Without
    /// `list_jobs` negotiated it returns once sent.
    ///
    /// [D7]: arcp_proto::compat#d7--who-may-cancel
    /// [D37]: arcp_proto::compat#d37--existence-leak
    pub async fn cancel_confirmed(&self, job_id: &JobId, reason: &str) -> Result<(), ClientError> {
        cancel(&self.link, job_id, reason, true).await
    }

    /// `session.list_jobs` (one page; follow `next_cursor` for more).
    pub async fn list_jobs(&self, req: ListJobsRequest) -> Result<Jobs, ClientError> {
        self.ask(Command::ListJobs(req)).await.into_jobs()
    }

    /// Attaches read-only to `job_id` (`job.subscribe`), replaying its history first when
    /// `history`; waits for `job.subscribed`.
    pub async fn subscribe(
        &self,
        job_id: &JobId,
        history: bool,
    ) -> Result<Subscription<L>, ClientError> {
        self.subscribe_from(job_id, history, None).await
    }

    /// [`subscribe`](Self::subscribe), replaying only after `from_event_seq` when given.
    pub async fn subscribe_from(
        &self,
        job_id: &JobId,
        history: bool,
        from_event_seq: Option<u64>,
    ) -> Result<Subscription<L>, ClientError> {
        let (sink, events, end) = self.link.job_channel();
        let cmd = Command::Subscribe {
            job_id: job_id.clone(),
            history,
            from_event_seq,
            sink,
        };
        let info = self.ask(cmd).await.into_job()?;
        Ok(Subscription {
            handle: self.handle(info, events, end),
        })
    }

    /// Ends a subscription (returns once `job.unsubscribe` is written); its stream ends and
    /// its `done` reports [`ClientError::Closed`].
    pub async fn unsubscribe(&self, job_id: &JobId) -> Result<(), ClientError> {
        self.ask(Command::Unsubscribe(job_id.clone()))
            .await
            .into_done()
    }

    /// `session.ack` of everything up to `last_processed_seq`; returns once it is written.
    pub async fn ack(&self, last_processed_seq: u64) -> Result<(), ClientError> {
        self.ask(Command::Ack(last_processed_seq)).await.into_done()
    }

    /// `session.ping`; returns the round trip once the pong arrives.
    pub async fn ping(&self) -> Result<Duration, ClientError> {
        self.ask(Command::Ping).await.into_pong()
    }

    /// Reconnects and resumes now (after a drop, when automatic resume is off), waiting
    /// for the welcome. `Ok` at once when the session is open.
    pub async fn resume(&self) -> Result<(), ClientError> {
        self.ask(Command::Resume).await.into_done()
    }

    /// Drops the transport without `session.bye` (tests, demos); jobs keep running on the
    /// runtime and the session resumes (automatically, or with [`Client::resume`]).
    pub async fn drop_transport(&self) -> Result<(), ClientError> {
        self.ask(Command::DropTransport).await.into_done()
    }

    /// Writes `frame` (one encoded envelope) on the current transport as is, bypassing the
    /// session: for tests and interop harnesses that need a frame the API refuses to send.
    pub async fn send_raw(&self, frame: Vec<u8>) -> Result<(), ClientError> {
        self.link.request(Request::SendRaw(frame)).await.into_done()
    }

    /// Ends the session with `session.bye` and closes the transport. Handles still waiting
    /// get [`ClientError::Closed`].
    pub async fn close(&self) -> Result<(), ClientError> {
        self.ask(Command::Close).await.into_done()
    }
}

async fn cancel<L: AsyncLink>(
    link: &L,
    job_id: &JobId,
    reason: &str,
    confirmed: bool,
) -> Result<(), ClientError> {
    let cmd = Command::Cancel {
        job_id: job_id.clone(),
        reason: reason.to_owned(),
        confirmed,
    };
    link.request(Request::Command(Box::new(cmd)))
        .await
        .into_done()
}

/// A submitted (or subscribed) job: what the runtime granted, an ordered event stream, its
/// end.
///
/// [`events`](JobHandle::events) is an owned stream (the loop that reads it may call
/// [`cancel`](JobHandle::cancel)); it holds the job's queue while it lives and gives it
/// back when dropped, so a later `events()` goes on where it stopped. Read it to the end,
/// then await [`done`](JobHandle::done). The event queue is bounded: while it is full the client stops
/// reading from the transport (back-pressure), so a stream kept but never read stalls the
/// session; `done` (or dropping the handle) discards the unread events instead.
pub struct JobHandle<L: AsyncLink> {
    info: JobInfo,
    events: Slot<L::Events>,
    end: L::End,
    shared: Arc<Shared>,
    link: L,
}

impl<L: AsyncLink> std::fmt::Debug for JobHandle<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobHandle")
            .field("job_id", &self.info.job_id)
            .field("agent", &self.info.agent)
            .finish_non_exhaustive()
    }
}

impl<L: AsyncLink> JobHandle<L> {
    /// The job id the runtime minted.
    pub fn job_id(&self) -> &JobId {
        &self.info.job_id
    }

    /// Everything the runtime granted.
    pub fn info(&self) -> &JobInfo {
        &self.info
    }

    /// The resolved agent (`name@version`).
    pub fn agent_ref(&self) -> &AgentRef {
        &self.info.agent
    }

    /// The effective lease.
    pub fn lease(&self) -> &LeaseMap {
        &self.info.lease
    }

    /// The budget counters, when the lease has a `cost.budget`.
    pub fn budget(&self) -> Option<&Budget> {
        self.info.budget.as_ref()
    }

    /// Provisioned credentials.
    pub fn credentials(&self) -> &[Credential] {
        &self.info.credentials
    }

    /// The ordered event stream; it ends after the job's terminal frame. It holds the
    /// job's queue while it lives (another `events()` meanwhile gets an empty stream) and
    /// gives it back when dropped.
    pub fn events(&self) -> JobEvents<L> {
        JobEvents {
            rx: lock(&self.events).take(),
            slot: Arc::clone(&self.events),
            shared: Arc::clone(&self.shared),
        }
    }

    /// Cancels the job (`job.cancel` with [`DEFAULT_CANCEL_REASON`]); returns once written.
    /// Its end then reports `Cancelled`.
    pub async fn cancel(&self) -> Result<(), ClientError> {
        cancel(&self.link, &self.info.job_id, DEFAULT_CANCEL_REASON, false).await
    }

    /// Waits for the terminal frame; unread events are discarded. `Ok` for success,
    /// cancellation and timeout; a `job.error` with any other code is
    /// [`ClientError::JobFailed`] (with the §12 code and `retryable`). If the session closes
    /// first: [`ClientError::Closed`] (or the transport error that closed it).
    pub async fn done(self) -> Result<JobOutcome, ClientError> {
        drop(lock(&self.events).take());
        let outcome = L::end(self.end).await?;
        self.shared.consumed(outcome.event_seq(), outcome.space());
        outcome.into_result()
    }
}

/// The ordered event stream of one job (bounded by `ClientBuilder::event_capacity`). It
/// ends after the job's terminal frame.
pub struct JobEvents<L: AsyncLink> {
    rx: Option<L::Events>,
    slot: Slot<L::Events>,
    shared: Arc<Shared>,
}

/// Where a handle keeps its event queue while no stream holds it.
type Slot<T> = Arc<Mutex<Option<T>>>;

fn lock<T>(slot: &Mutex<Option<T>>) -> std::sync::MutexGuard<'_, Option<T>> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<L: AsyncLink> Drop for JobEvents<L> {
    fn drop(&mut self) {
        if let Some(rx) = self.rx.take() {
            *lock(&self.slot) = Some(rx);
        }
    }
}

impl<L: AsyncLink> std::fmt::Debug for JobEvents<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobEvents").finish_non_exhaustive()
    }
}

impl<L: AsyncLink> Stream for JobEvents<L> {
    type Item = JobEventItem;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<JobEventItem>> {
        let this = self.get_mut();
        let Some(rx) = this.rx.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(rx).poll_next(cx) {
            Poll::Ready(Some(item)) => {
                this.shared.consumed(item.event_seq, item.space);
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                this.rx = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A read-only attachment to a job submitted elsewhere (`job.subscribe`).
#[derive(Debug)]
pub struct Subscription<L: AsyncLink> {
    /// Its events and end; [`JobHandle::cancel`] is refused by the runtime unless this
    /// session submitted the job ([D7]).
    ///
    /// [D7]: arcp_proto::compat#d7--who-may-cancel
    pub handle: JobHandle<L>,
}

impl<L: AsyncLink> Subscription<L> {
    /// The observed job.
    pub fn job_id(&self) -> &JobId {
        self.handle.job_id()
    }

    /// The `job.subscribed` payload.
    pub fn subscribed(&self) -> Option<&Subscribed> {
        self.handle.info.subscribed.as_deref()
    }

    /// The seq of the last replayed frame (`subscribed_from`), 0 when absent.
    pub fn subscribed_from(&self) -> u64 {
        self.handle.info.subscribed_from()
    }

    /// How many frames were replayed.
    pub fn replayed(&self) -> u64 {
        self.handle.info.replayed()
    }

    /// The job's event stream ([`JobHandle::events`]).
    pub fn events(&self) -> JobEvents<L> {
        self.handle.events()
    }

    /// The job's end ([`JobHandle::done`]).
    pub async fn done(self) -> Result<JobOutcome, ClientError> {
        self.handle.done().await
    }
}

/// The stream of [`StreamItem`]s for jobs without a handle.
pub struct UnroutedEvents<L: AsyncLink> {
    rx: L::Unrouted,
    shared: Arc<Shared>,
}

impl<L: AsyncLink> std::fmt::Debug for UnroutedEvents<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnroutedEvents").finish_non_exhaustive()
    }
}

impl<L: AsyncLink> Stream for UnroutedEvents<L> {
    type Item = StreamItem;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StreamItem>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.rx).poll_next(cx);
        if let Poll::Ready(Some(item)) = &polled {
            this.shared.consumed(item.event_seq(), item.space());
        }
        polled
    }
}
