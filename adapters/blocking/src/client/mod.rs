//! The client side: one [`arcp_proto::client::ClientSession`] per [`Client`], over a
//! WebSocket on threads.
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
//! The session lives under one lock; every input (a command on the caller's thread, a frame
//! or a timeout on the reader thread) is fed under it and followed by the drain: frames are
//! written at once (through the writing half of the socket), events are recorded as answers
//! the callers wait for on a `Condvar`, each wait bounded by a deadline. The reader thread's
//! read timeout is derived from `poll_timeout` (capped at [`MAX_READ_WAIT`], so a deadline a
//! command adds is seen promptly). One client is one transport: it never reconnects; after a
//! drop, [`Client::resume_state`] opens the next one.

mod raw;

use crate::socket::Shared;
use arcp_proto::client::{ApiError, ClientEvent, ClientSession, RequestError, RequestId};
pub use arcp_proto::client::{
    ClientConfig, JobOutcome, ListJobsRequest, ResultValue, ResumeState, SubmitRequest,
};
use arcp_proto::time::{Instant, WallClock};
use arcp_proto::wire::{ErrorCode, ErrorPayload, Jobs};
pub use raw::RawConnection;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

/// The longest the reader blocks in one read before re-checking the session's deadline.
pub const MAX_READ_WAIT: Duration = Duration::from_millis(200);
/// The bound of a call without an explicit timeout.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(8);

/// The socket address of a `ws://HOST:PORT/PATH` URL.
fn resolve(url: &str) -> Result<std::net::SocketAddr, ClientError> {
    let io = |e: &dyn std::fmt::Display| ClientError::Io(e.to_string());
    let uri: tungstenite::http::Uri = url.parse().map_err(|e| io(&e))?;
    let host = uri
        .host()
        .unwrap_or("127.0.0.1")
        .trim_matches(['[', ']'])
        .to_owned();
    let port = uri.port_u16().unwrap_or(80);
    (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| io(&e))?
        .next()
        .ok_or_else(|| ClientError::Io(format!("cannot resolve {host}")))
}

/// A frame passing the transport, for a [`FrameTap`].
#[derive(Debug)]
pub enum TapEvent<'a> {
    /// A frame written.
    Sent(&'a [u8]),
    /// A frame read (before the session acts on it).
    Received(&'a [u8]),
    /// The transport ended, and why.
    Closed(&'a str),
}

/// Sees every frame in both directions.
pub type FrameTap = Arc<dyn Fn(TapEvent<'_>) + Send + Sync>;

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
    url: String,
    config: ClientConfig,
    resume: Option<ResumeState>,
    timeout: Duration,
    tap: Option<FrameTap>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.url)
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

    /// Connects and completes the handshake (or the resume).
    pub fn connect(self) -> Result<Client, ClientError> {
        let io = |e: &dyn std::fmt::Display| ClientError::Io(e.to_string());
        let deadline = std::time::Instant::now() + self.timeout;
        let addr = resolve(&self.url)?;
        let tcp = TcpStream::connect_timeout(&addr, self.timeout).map_err(|e| io(&e))?;
        let _ = tcp.set_nodelay(true);
        tcp.set_read_timeout(Some(self.timeout))
            .map_err(|e| io(&e))?;
        let shared = Shared::new(&tcp).map_err(|e| io(&e))?;
        let cfg = WebSocketConfig::default()
            .max_message_size(Some(self.config.max_frame_bytes))
            .max_frame_size(Some(self.config.max_frame_bytes));
        let (reader, _) =
            tungstenite::client::client_with_config(self.url.as_str(), shared, Some(cfg))
                .map_err(|e| io(&e))?;
        let twin = reader.get_ref().twin().map_err(|e| io(&e))?;
        let writer = WebSocket::from_raw_socket(twin, Role::Client, Some(cfg));
        let origin = std::time::Instant::now();
        let clock = Clock { origin };
        let now = clock.now();
        let wall = clock.wall(now);
        let entropy = Box::new(crate::server::entropy());
        let mut session = match self.resume {
            Some(r) => ClientSession::with_resume(self.config, wall, entropy, r),
            None => ClientSession::new(self.config, wall, entropy),
        };
        session.handle_connected(now);
        let inner = Arc::new(Inner {
            core: Mutex::new(Core {
                session,
                answers: HashMap::new(),
                outcomes: HashMap::new(),
                ended_order: VecDeque::new(),
                pongs: HashSet::new(),
                welcome: None,
                gone: None,
            }),
            cv: Condvar::new(),
            writer: Mutex::new(writer),
            tcp,
            clock,
            tap: self.tap,
        });
        {
            let mut core = inner.lock();
            inner.pump(&mut core);
        }
        let r = inner.clone();
        std::thread::Builder::new()
            .name("arcp-client-read".into())
            .spawn(move || read_loop(&r, reader))
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

#[derive(Debug, Clone, Copy)]
struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    fn until(&self, at: Instant) -> Duration {
        (self.origin + Duration::from_micros(at.as_micros()))
            .saturating_duration_since(std::time::Instant::now())
    }

    fn wall(&self, now: Instant) -> WallClock {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        WallClock::new(now, micros)
    }
}

/// An answer to a request.
#[derive(Debug, Clone)]
enum Answer {
    Accepted(String),
    Jobs(Jobs),
    Subscribed,
    Failed(ClientError),
}

struct Core {
    session: ClientSession,
    answers: HashMap<RequestId, Answer>,
    outcomes: HashMap<String, JobOutcome>,
    /// Insertion order of `outcomes`, bounded by the session's `max_ended_jobs`.
    ended_order: VecDeque<String>,
    pongs: HashSet<String>,
    welcome: Option<Result<(), ClientError>>,
    /// Why the transport ended, once it has.
    gone: Option<String>,
}

struct Inner {
    core: Mutex<Core>,
    cv: Condvar,
    writer: Mutex<WebSocket<Shared>>,
    tcp: TcpStream,
    clock: Clock,
    tap: Option<FrameTap>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Core> {
        self.core
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn tap(&self, ev: TapEvent<'_>) {
        if let Some(t) = &self.tap {
            t(ev);
        }
    }

    fn write(&self, text: String) -> Result<(), String> {
        self.tap(TapEvent::Sent(text.as_bytes()));
        let mut w = self.writer.lock().map_err(|_| "poisoned".to_owned())?;
        w.send(Message::Text(text.into()))
            .map_err(|e| e.to_string())
    }

    /// The drain after every input: transmits, then events.
    fn pump(&self, core: &mut Core) {
        while let Some(frame) = core.session.poll_transmit() {
            let text = String::from_utf8_lossy(&frame.encode()).into_owned();
            if let Err(e) = self.write(text) {
                self.end(core, &format!("write failed: {e}"));
            }
        }
        while let Some(ev) = core.session.poll_event() {
            match ev {
                ClientEvent::Welcome(_) => core.welcome = Some(Ok(())),
                ClientEvent::HandshakeFailed { error, .. } => {
                    core.welcome = Some(Err(refused(&error)));
                }
                ClientEvent::Accepted {
                    request_id: Some(id),
                    job_id,
                    ..
                } => {
                    // A new handle on this job (an idempotent resubmit): its terminal is the
                    // one still to come (replayed), not an earlier one nobody collected.
                    core.outcomes.remove(&job_id);
                    core.answers.insert(id, Answer::Accepted(job_id));
                }
                ClientEvent::Jobs {
                    request_id: Some(id),
                    jobs,
                } => {
                    core.answers.insert(id, Answer::Jobs(jobs));
                }
                ClientEvent::Subscribed {
                    request_id: Some(id),
                    ..
                } => {
                    core.answers.insert(id, Answer::Subscribed);
                }
                ClientEvent::RequestFailed {
                    request_id, error, ..
                } => {
                    let e = match error {
                        RequestError::Runtime(p) => refused(&p),
                        RequestError::ConnectionLost => {
                            ClientError::Closed("connection lost".into())
                        }
                        RequestError::SessionClosed => ClientError::Closed("session closed".into()),
                    };
                    core.answers.insert(request_id, Answer::Failed(e));
                }
                ClientEvent::Terminal {
                    job_id, outcome, ..
                } => {
                    if core.outcomes.insert(job_id.clone(), outcome).is_none() {
                        core.ended_order.push_back(job_id);
                    }
                    let cap = core.session.config().max_ended_jobs.max(1);
                    while core.ended_order.len() > cap {
                        if let Some(old) = core.ended_order.pop_front() {
                            core.outcomes.remove(&old);
                        }
                    }
                }
                ClientEvent::Pong { nonce, .. } => {
                    core.pongs.insert(nonce);
                }
                ClientEvent::CloseTransport(_) | ClientEvent::Closed(_) => {
                    // The reader sees the shutdown and reports the disconnect.
                    let _ = self.tcp.shutdown(Shutdown::Both);
                }
                _ => {}
            }
        }
        self.cv.notify_all();
    }

    fn end(&self, core: &mut Core, why: &str) {
        if core.gone.is_none() {
            core.gone = Some(why.to_owned());
            let _ = self.tcp.shutdown(Shutdown::Both);
        }
    }
}

fn read_loop(inner: &Inner, mut ws: WebSocket<Shared>) {
    let why = loop {
        let wait = {
            let core = inner.lock();
            core.session
                .poll_timeout()
                .map_or(MAX_READ_WAIT, |d| inner.clock.until(d).min(MAX_READ_WAIT))
        };
        let _ = inner
            .tcp
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))));
        let msg = ws.read();
        let mut core = inner.lock();
        let now = inner.clock.now();
        match msg {
            Ok(Message::Text(t)) => {
                inner.tap(TapEvent::Received(t.as_bytes()));
                core.session.handle_frame(now, t.as_bytes());
            }
            Ok(Message::Binary(b)) => {
                inner.tap(TapEvent::Received(&b));
                core.session.handle_frame(now, &b);
            }
            Ok(Message::Close(f)) => {
                let _ = ws.flush();
                break format!("closed by the runtime: {f:?}");
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => break format!("transport ended: {e}"),
        }
        if core.session.poll_timeout().is_some_and(|d| d <= now) {
            core.session.handle_timeout(now);
        }
        inner.pump(&mut core);
    };
    let mut core = inner.lock();
    inner.tap(TapEvent::Closed(&why));
    core.session.handle_disconnected(inner.clock.now());
    inner.end(&mut core, &why);
    inner.pump(&mut core);
}

/// One client session over one WebSocket transport.
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// A builder for `url` (`ws://HOST:PORT/PATH`) with the reference client's defaults.
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            config: ClientConfig::named("arcp-blocking", env!("CARGO_PKG_VERSION"), ""),
            resume: None,
            timeout: Duration::from_secs(10),
            tap: None,
        }
    }

    /// Waits until `f` answers, the deadline passes ([`ClientError::Timeout`]).
    fn wait<T>(
        &self,
        deadline: std::time::Instant,
        mut f: impl FnMut(&mut Core) -> Option<T>,
    ) -> Result<T, ClientError> {
        let mut core = self.inner.lock();
        loop {
            if let Some(v) = f(&mut core) {
                return Ok(v);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
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

    /// Feeds a command and drains.
    fn command<T>(
        &self,
        f: impl FnOnce(&mut ClientSession, Instant) -> Result<T, ApiError>,
    ) -> Result<T, ClientError> {
        let mut core = self.inner.lock();
        let r = f(&mut core.session, self.inner.clock.now())?;
        self.inner.pump(&mut core);
        Ok(r)
    }

    /// Waits for the answer to `id` (or the transport's end).
    fn answer(&self, id: &RequestId) -> Result<Answer, ClientError> {
        let r = self.wait(std::time::Instant::now() + CALL_TIMEOUT, |c| {
            c.answers.remove(id).or_else(|| {
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
        self.inner.lock().session.features().to_vec()
    }

    /// What the next client needs to resume this session.
    pub fn resume_state(&self) -> Option<ResumeState> {
        self.inner.lock().session.resume_state()
    }

    /// `job.submit`, waiting for `job.accepted`; returns the job id.
    pub fn submit(&self, req: SubmitRequest) -> Result<String, ClientError> {
        let id = self.command(|s, now| s.submit(now, req))?;
        match self.answer(&id)? {
            Answer::Accepted(job) => Ok(job),
            _ => Err(ClientError::Io("unexpected answer to submit".into())),
        }
    }

    /// Waits for the terminal of a submitted or subscribed job: `Ok` for success,
    /// cancellation and timeout, [`ClientError::JobFailed`] for `job.error`.
    pub fn done(&self, job_id: &str, timeout: Duration) -> Result<JobOutcome, ClientError> {
        let r = self.wait(std::time::Instant::now() + timeout, |c| {
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
        self.command(|s, now| s.cancel(now, job_id, Some(reason)).map(|_| ()))
    }

    /// `session.list_jobs`, waiting for `session.jobs`.
    pub fn list_jobs(&self, req: ListJobsRequest) -> Result<Jobs, ClientError> {
        let id = self.command(|s, now| s.list_jobs(now, req))?;
        match self.answer(&id)? {
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
        let id = self.command(|s, now| s.subscribe(now, job_id, history, from_event_seq))?;
        self.answer(&id).map(|_| ())
    }

    /// `job.unsubscribe`.
    pub fn unsubscribe(&self, job_id: &str) -> Result<(), ClientError> {
        self.command(|s, now| s.unsubscribe(now, job_id).map(|_| ()))
    }

    /// `session.ack`.
    pub fn ack(&self, last_processed_seq: u64) -> Result<(), ClientError> {
        self.command(|s, now| s.ack(now, last_processed_seq))
    }

    /// `session.ping`, waiting for the pong; returns the round trip.
    pub fn ping(&self) -> Result<Duration, ClientError> {
        let t0 = std::time::Instant::now();
        let nonce = self.command(|s, now| s.ping(now))?;
        self.wait(t0 + CALL_TIMEOUT, |c| {
            if c.pongs.remove(&nonce) {
                Some(Ok(()))
            } else {
                c.gone.clone().map(|g| Err(ClientError::Closed(g)))
            }
        })??;
        Ok(t0.elapsed())
    }

    /// Writes `text` as one frame, bypassing the session (frames its API refuses to send).
    pub fn send_raw(&self, text: &str) -> Result<(), ClientError> {
        self.inner.write(text.to_owned()).map_err(ClientError::Io)
    }

    /// Drops the transport without `session.bye` (the client does not reconnect).
    pub fn drop_transport(&self) {
        let _ = self.inner.tcp.shutdown(Shutdown::Both);
        let _ = self.wait(std::time::Instant::now() + CALL_TIMEOUT, |c| c.gone.clone());
    }

    /// `session.bye`, then the WebSocket close handshake (bounded).
    pub fn close(&self) -> Result<(), ClientError> {
        let r = self.command(|s, now| s.close(now, "client.close"));
        if let Ok(mut w) = self.inner.writer.lock() {
            let _ = w.close(None);
            let _ = w.flush();
        }
        let _ = self.wait(std::time::Instant::now() + Duration::from_secs(3), |c| {
            c.gone.clone()
        });
        let _ = self.inner.tcp.shutdown(Shutdown::Both);
        r
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.inner.tcp.shutdown(Shutdown::Both);
    }
}
