//! The client side: one session per [`Client`] (arcp-host's [`ClientDriver`]), over a
//! WebSocket or a child's stdio, on threads.
//!
//! ```no_run
//! use arcp_blocking::client::{Client, SubmitRequest};
//! use std::time::Duration;
//! let client = Client::builder("ws://127.0.0.1:7777/arcp").token("alice-token").connect()?;
//! let job = client.submit(SubmitRequest::new("echo", serde_json::json!({"x": 1})))?;
//! let outcome = client.done(&job, Duration::from_secs(5))?;
//! client.close()?;
//! # let _ = outcome;
//! # Ok::<(), arcp_blocking::client::ClientError>(())
//! ```
//!
//! The driver lives under one lock; every input (a command on the caller's thread, a frame
//! or a timeout on the reader thread) is fed under it and followed by the drain: frames are
//! written at once, answers are recorded for the callers, who wait on a `Condvar`, each wait
//! bounded by a deadline. The reader's wait is derived from `poll_timeout` (capped at
//! [`MAX_READ_WAIT`], so a deadline a command adds is seen promptly). One client is one
//! transport: it never reconnects; after a drop, [`Client::resume_state`] opens the next
//! one. A resume refused because the runtime still sees the session attached is retried
//! ([`ClientBuilder::resume_retry`], WIRE.md §6).

mod conn;
mod raw;

use arcp_host::client::{ClientDriver, Output, Pending, Replies};
pub use arcp_host::client::{FrameTap, ResumeRetry, TapEvent};
use arcp_proto::client::{ApiError, ClientSession, RequestError};
pub use arcp_proto::client::{
    ClientConfig, JobOutcome, ListJobsRequest, ResultValue, ResumeState, SubmitRequest,
};
use arcp_proto::wire::{ErrorCode, ErrorPayload, Jobs};
use conn::{Target, Writer};
pub use raw::RawConnection;
use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The longest the reader blocks in one read before re-checking the session's deadline.
pub const MAX_READ_WAIT: Duration = Duration::from_millis(200);
/// The bound of a call without an explicit timeout.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(8);

/// What a client call failed with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// The runtime refused (handshake, request), with a §12 code.
    #[error("refused: {code:?}: {message}")]
    Refused {
        /// The code.
        code: ErrorCode,
        /// The runtime's text.
        message: String,
    },
    /// The job ended with `job.error`.
    #[error("job failed: {code:?}: {message}")]
    JobFailed {
        /// The code.
        code: ErrorCode,
        /// The runtime's text.
        message: String,
    },
    /// The session refused the command (nothing was sent).
    #[error("{0}")]
    Api(#[from] ApiError),
    /// No answer within the bound.
    #[error("timed out")]
    Timeout,
    /// The transport is gone.
    #[error("connection closed: {0}")]
    Closed(String),
    /// A socket or WebSocket error.
    #[error("io: {0}")]
    Io(String),
}

fn refused(e: &ErrorPayload) -> ClientError {
    ClientError::Refused {
        code: e.code.clone(),
        message: e.message.clone(),
    }
}

/// Configures and opens a [`Client`].
pub struct ClientBuilder {
    target: Target,
    config: ClientConfig,
    resume: Option<ResumeState>,
    timeout: Duration,
    tap: Option<FrameTap>,
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
    pub fn token(mut self, t: impl Into<String>) -> Self {
        self.config.token = t.into();
        self
    }

    /// `client.name` / `client.version` of the hello.
    pub fn client_info(mut self, name: &str, version: &str) -> Self {
        self.config.client.name = name.to_owned();
        self.config.client.version = version.to_owned();
        self
    }

    /// Requested features (default: all).
    pub fn features(mut self, f: Vec<String>) -> Self {
        self.config.features = f;
        self
    }

    /// The whole session configuration (bounds included).
    pub fn config(mut self, c: ClientConfig) -> Self {
        self.config = c;
        self
    }

    /// Resume this session instead of opening a new one.
    pub fn resume(mut self, r: ResumeState) -> Self {
        self.resume = Some(r);
        self
    }

    /// How long the TCP connect, upgrade and handshake may take (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Sees every frame.
    pub fn frame_tap(mut self, tap: FrameTap) -> Self {
        self.tap = Some(tap);
        self
    }

    /// How a resume refused while the runtime still sees the session attached is retried
    /// (default [`ResumeRetry::default`]; [`ResumeRetry::never`] surfaces the refusal).
    pub fn resume_retry(mut self, retry: ResumeRetry) -> Self {
        self.retry = retry;
        self
    }

    /// Connects and completes the handshake (or the resume), retrying a resume refused
    /// while attached on a new transport after the policy's delay.
    pub fn connect(mut self) -> Result<Client, ClientError> {
        let mut retry = std::mem::replace(&mut self.retry, ResumeRetry::never());
        if matches!(self.target, Target::Stdio(_)) {
            // A new stdio child is a new runtime: a refused resume there is final.
            retry = ResumeRetry::never();
        }
        loop {
            match self.connect_once() {
                Err(ClientError::Refused { code, message }) => {
                    let p = ErrorPayload::new(code.clone(), message.clone());
                    match retry.next_delay(&p, self.resume.is_some()) {
                        Some(delay) => std::thread::sleep(delay),
                        None => return Err(ClientError::Refused { code, message }),
                    }
                }
                r => return r,
            }
        }
    }

    fn connect_once(&self) -> Result<Client, ClientError> {
        let io = |e: &dyn std::fmt::Display| ClientError::Io(e.to_string());
        let deadline = Instant::now() + self.timeout;
        let (writer, reader) = conn::open(&self.target, self.config.max_frame_bytes, self.timeout)?;
        let mut driver = ClientDriver::new(
            self.config.clone(),
            self.resume.clone(),
            Instant::now(),
            Box::new(|| Box::new(crate::server::entropy())),
        )
        .with_retry(ResumeRetry::never())
        .with_tap(self.tap.clone());
        driver.connected(Instant::now());
        let inner = Arc::new(Inner {
            core: Mutex::new(Core {
                driver,
                tickets: 0,
                answers: HashMap::new(),
                outcomes: HashMap::new(),
                ended_order: VecDeque::new(),
                welcome: None,
                gone: None,
            }),
            cv: Condvar::new(),
            writer,
        });
        {
            let mut core = inner.lock();
            inner.pump(&mut core);
        }
        let r = inner.clone();
        std::thread::Builder::new()
            .name("arcp-client-read".into())
            .spawn(move || conn::read_loop(&r, reader))
            .map_err(|e| io(&e))?;
        let client = Client { inner };
        let welcome = client.wait(deadline, |c| {
            c.welcome
                .clone()
                .or_else(|| c.gone.clone().map(|g| Err(ClientError::Closed(g))))
        })?;
        welcome?;
        Ok(client)
    }
}

/// An answer to a request.
#[derive(Debug, Clone)]
enum Answer {
    Accepted(String),
    Jobs(Jobs),
    Subscribed,
    Pong,
    Failed(ClientError),
}

/// Replies are tickets: the caller waits for the answer filed under its ticket.
struct Tickets;

impl Replies for Tickets {
    type Submit = u64;
    type List = u64;
    type Subscribe = u64;
    type Ping = u64;
}

struct Core {
    driver: ClientDriver<Tickets>,
    tickets: u64,
    answers: HashMap<u64, Answer>,
    outcomes: HashMap<String, JobOutcome>,
    /// Insertion order of `outcomes`, bounded by the session's `max_ended_jobs`.
    ended_order: VecDeque<String>,
    welcome: Option<Result<(), ClientError>>,
    /// Why the transport ended, once it has.
    gone: Option<String>,
}

impl Core {
    fn ticket(&mut self) -> u64 {
        self.tickets += 1;
        self.tickets
    }
}

struct Inner {
    core: Mutex<Core>,
    cv: Condvar,
    writer: Writer,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Core> {
        self.core
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The drain after every input.
    fn pump(&self, core: &mut Core) {
        while let Some(out) = core.driver.poll_output() {
            match out {
                Output::Transmit(bytes) => {
                    if let Err(e) = self.writer.send(&bytes) {
                        self.end(core, &format!("write failed: {e}"));
                    }
                }
                Output::Welcome(_) => core.welcome = Some(Ok(())),
                Output::Refused(error) => core.welcome = Some(Err(refused(&error))),
                // Retries are made by `connect` on a new transport (the driver has none).
                Output::RetryResume(_) => {}
                Output::Accepted { reply, job_id, .. } => {
                    // A new handle on this job (an idempotent resubmit): its terminal is the
                    // one still to come (replayed), not an earlier one nobody collected.
                    core.outcomes.remove(&job_id);
                    core.answers.insert(reply, Answer::Accepted(job_id));
                }
                Output::Jobs { reply, jobs } => {
                    core.answers.insert(reply, Answer::Jobs(jobs));
                }
                Output::Subscribed { reply, .. } => {
                    core.answers.insert(reply, Answer::Subscribed);
                }
                Output::Pong { reply, .. } => {
                    core.answers.insert(reply, Answer::Pong);
                }
                Output::Failed { reply, error } => {
                    let e = match error {
                        RequestError::Runtime(p) => refused(&p),
                        RequestError::ConnectionLost => {
                            ClientError::Closed("connection lost".into())
                        }
                        RequestError::SessionClosed => ClientError::Closed("session closed".into()),
                    };
                    let t = match reply {
                        Pending::Submit(t) | Pending::List(t) | Pending::Ping(t) => t,
                        Pending::Subscribe(_, t) => t,
                    };
                    core.answers.insert(t, Answer::Failed(e));
                }
                Output::Terminal {
                    job_id, outcome, ..
                } => {
                    if core.outcomes.insert(job_id.clone(), outcome).is_none() {
                        core.ended_order.push_back(job_id);
                    }
                    let cap = core.driver.session().config().max_ended_jobs.max(1);
                    while core.ended_order.len() > cap {
                        if let Some(old) = core.ended_order.pop_front() {
                            core.outcomes.remove(&old);
                        }
                    }
                }
                // The reader sees the shutdown and reports the disconnect.
                Output::CloseTransport(_) | Output::Closed(_) => self.writer.shutdown(),
                Output::Event(_) | Output::Unmatched { .. } => {}
            }
        }
        self.cv.notify_all();
    }

    fn end(&self, core: &mut Core, why: &str) {
        if core.gone.is_none() {
            core.gone = Some(why.to_owned());
            self.writer.shutdown();
        }
    }
}

/// One client session over one transport.
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

type Command<'a, T> = Box<dyn FnOnce(&mut ClientDriver<Tickets>, u64) -> Result<T, ApiError> + 'a>;

impl Client {
    /// A builder for `url` (`ws://HOST:PORT/PATH`) with the reference client's defaults.
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
            config: ClientConfig::named("arcp-blocking", env!("CARGO_PKG_VERSION"), ""),
            resume: None,
            timeout: Duration::from_secs(10),
            tap: None,
            retry: ResumeRetry::default(),
        }
    }

    /// Waits until `f` answers, the deadline passes ([`ClientError::Timeout`]).
    fn wait<T>(
        &self,
        deadline: Instant,
        mut f: impl FnMut(&mut Core) -> Option<T>,
    ) -> Result<T, ClientError> {
        let mut core = self.inner.lock();
        loop {
            if let Some(v) = f(&mut core) {
                return Ok(v);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout);
            }
            core = self
                .inner
                .cv
                .wait_timeout(core, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Feeds a command (with a fresh ticket for its answer) and drains.
    fn command<T>(&self, f: Command<'_, T>) -> Result<(T, u64), ClientError> {
        let mut core = self.inner.lock();
        let ticket = core.ticket();
        let r = f(&mut core.driver, ticket)?;
        self.inner.pump(&mut core);
        Ok((r, ticket))
    }

    /// A command with no answer to wait for.
    fn send(
        &self,
        f: impl FnOnce(&mut ClientSession, arcp_proto::time::Instant) -> Result<(), ApiError>,
    ) -> Result<(), ClientError> {
        self.command(Box::new(|d, _| {
            let now = d.clock().core(Instant::now());
            f(d.session_mut(), now)
        }))
        .map(|_| ())
    }

    /// Waits for the answer filed under `ticket` (or the transport's end).
    fn answer(&self, ticket: u64) -> Result<Answer, ClientError> {
        let r = self.wait(Instant::now() + CALL_TIMEOUT, |c| {
            c.answers.remove(&ticket).or_else(|| {
                c.gone
                    .clone()
                    .map(|g| Answer::Failed(ClientError::Closed(g)))
            })
        })?;
        match r {
            Answer::Failed(e) => Err(e),
            a => Ok(a),
        }
    }

    /// The negotiated features.
    pub fn features(&self) -> Vec<String> {
        self.inner.lock().driver.session().features().to_vec()
    }

    /// What the next client needs to resume this session.
    pub fn resume_state(&self) -> Option<ResumeState> {
        self.inner.lock().driver.session().resume_state()
    }

    /// `job.submit`, waiting for `job.accepted`; returns the job id.
    pub fn submit(&self, req: SubmitRequest) -> Result<String, ClientError> {
        let ((), t) = self.command(Box::new(|d, t| {
            d.submit(Instant::now(), req, t).map_err(|(e, _)| e)
        }))?;
        match self.answer(t)? {
            Answer::Accepted(job) => Ok(job),
            _ => Err(ClientError::Io("unexpected answer to submit".into())),
        }
    }

    /// Waits for the terminal of a submitted or subscribed job: `Ok` for success,
    /// cancellation and timeout, [`ClientError::JobFailed`] for `job.error`.
    pub fn done(&self, job_id: &str, timeout: Duration) -> Result<JobOutcome, ClientError> {
        let r = self.wait(Instant::now() + timeout, |c| {
            c.outcomes
                .remove(job_id)
                .map(Ok)
                .or_else(|| c.gone.clone().map(|g| Err(ClientError::Closed(g))))
        })??;
        match r {
            JobOutcome::Failed { code, message, .. } => {
                Err(ClientError::JobFailed { code, message })
            }
            o => Ok(o),
        }
    }

    /// `job.cancel` with `reason` (the job's terminal answers it).
    pub fn cancel(&self, job_id: &str, reason: &str) -> Result<(), ClientError> {
        self.send(|s, now| s.cancel(now, job_id, Some(reason)).map(|_| ()))
    }

    /// `session.list_jobs`, waiting for `session.jobs`.
    pub fn list_jobs(&self, req: ListJobsRequest) -> Result<Jobs, ClientError> {
        let ((), t) = self.command(Box::new(|d, t| {
            d.list_jobs(Instant::now(), req, t).map_err(|(e, _)| e)
        }))?;
        match self.answer(t)? {
            Answer::Jobs(j) => Ok(j),
            _ => Err(ClientError::Io("unexpected answer to list_jobs".into())),
        }
    }

    /// `job.subscribe`, waiting for `job.subscribed`; the job's terminal is then
    /// available to [`Client::done`].
    pub fn subscribe(
        &self,
        job_id: &str,
        history: bool,
        from_event_seq: Option<u64>,
    ) -> Result<(), ClientError> {
        let ((), t) = self.command(Box::new(|d, t| {
            d.subscribe(Instant::now(), job_id, history, from_event_seq, t)
                .map_err(|(e, _)| e)
        }))?;
        self.answer(t).map(|_| ())
    }

    /// `job.unsubscribe`.
    pub fn unsubscribe(&self, job_id: &str) -> Result<(), ClientError> {
        self.send(|s, now| s.unsubscribe(now, job_id).map(|_| ()))
    }

    /// `session.ack`.
    pub fn ack(&self, last_processed_seq: u64) -> Result<(), ClientError> {
        self.send(|s, now| s.ack(now, last_processed_seq))
    }

    /// `session.ping`, waiting for the pong; returns the round trip.
    pub fn ping(&self) -> Result<Duration, ClientError> {
        let t0 = Instant::now();
        let ((), t) = self.command(Box::new(|d, t| {
            d.ping(Instant::now(), t).map_err(|(e, _)| e)
        }))?;
        self.answer(t)?;
        Ok(t0.elapsed())
    }

    /// Writes `text` as one frame, bypassing the session (frames its API refuses to send).
    pub fn send_raw(&self, text: &str) -> Result<(), ClientError> {
        self.inner
            .lock()
            .driver
            .tap(TapEvent::Sent(text.as_bytes()));
        self.inner
            .writer
            .send(text.as_bytes())
            .map_err(ClientError::Io)
    }

    /// Drops the transport without `session.bye` (the client does not reconnect).
    pub fn drop_transport(&self) {
        self.inner.writer.shutdown();
        let _ = self.wait(Instant::now() + CALL_TIMEOUT, |c| c.gone.clone());
    }

    /// `session.bye`, then the transport's close (bounded).
    pub fn close(&self) -> Result<(), ClientError> {
        let r = self.send(|s, now| s.close(now, "client.close"));
        self.inner.writer.close();
        let _ = self.wait(Instant::now() + Duration::from_secs(3), |c| c.gone.clone());
        self.inner.writer.shutdown();
        r
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.inner.writer.shutdown();
    }
}
