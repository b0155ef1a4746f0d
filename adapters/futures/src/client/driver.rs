//! The task that owns the [`ClientSession`], following the driving contract: feed one input
//! (a frame, a command, a timeout), drain `poll_transmit` then `poll_event`, ask
//! `poll_timeout` last, and sleep (an `async_io::Timer`) until the earliest of socket input,
//! command, or deadline.

use super::{ClientError, FrameTap, JobEventItem, JobHandle, TapEvent, Terminal};
use crate::server::ws_config;
use arcp_proto::client::{
    ApiError, ClientEvent, ClientSession, ClientState, JobOutcome, ListJobsRequest, RequestError,
    RequestId, ResumeState, SubmitRequest,
};
use arcp_proto::time::Instant as CoreInstant;
use arcp_proto::wire::Jobs;
use async_channel::{Receiver, Sender, TrySendError};
use async_io::{Async, Timer};
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt, select_biased};
use std::collections::{HashMap, VecDeque};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The WebSocket this client speaks over.
pub type Ws = WebSocketStream<Async<TcpStream>>;
type Reply<T> = Sender<Result<T, ClientError>>;

/// Opens the TCP connection to a `ws://` URL and completes the WebSocket upgrade (the
/// frame cap mirrored into the WebSocket config).
pub async fn open_ws(url: &str, max_frame_bytes: usize) -> Result<Ws, ClientError> {
    let bad = |m: String| ClientError::Transport(m);
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| bad(format!("not a ws:// URL: {url}")))?;
    let host = rest.split('/').next().unwrap_or(rest);
    let addr = host
        .to_socket_addrs()
        .map_err(|e| bad(format!("{host}: {e}")))?
        .next()
        .ok_or_else(|| bad(format!("{host}: no address")))?;
    let tcp = Async::<TcpStream>::connect(addr)
        .await
        .map_err(|e| bad(e.to_string()))?;
    let _ = tcp.get_ref().set_nodelay(true);
    let (ws, _) =
        async_tungstenite::client_async_with_config(url, tcp, Some(ws_config(max_frame_bytes)))
            .await
            .map_err(|e| bad(e.to_string()))?;
    Ok(ws)
}

/// What the application asks the driver.
pub(crate) enum Command {
    Submit {
        req: Box<SubmitRequest>,
        reply: Reply<JobHandle>,
    },
    Cancel {
        job_id: String,
        reason: String,
        reply: Reply<()>,
    },
    ListJobs {
        req: ListJobsRequest,
        reply: Reply<Jobs>,
    },
    Subscribe {
        job_id: String,
        history: bool,
        from_event_seq: Option<u64>,
        reply: Reply<JobHandle>,
    },
    Unsubscribe {
        job_id: String,
        reply: Reply<()>,
    },
    Ack {
        seq: u64,
        reply: Reply<()>,
    },
    Ping {
        reply: Reply<Duration>,
    },
    SendRaw {
        frame: Vec<u8>,
        reply: Reply<()>,
    },
    DropTransport {
        reply: Reply<()>,
    },
    Close {
        reply: Reply<()>,
    },
}

/// What the driver publishes for the getters.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) state: ClientState,
    pub(crate) session_id: Option<String>,
    pub(crate) features: Vec<String>,
    pub(crate) resume: Option<ResumeState>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            state: ClientState::Disconnected,
            session_id: None,
            features: Vec::new(),
            resume: None,
        }
    }
}

/// A job the application holds a handle for.
struct Route {
    events: Option<Sender<JobEventItem>>,
    done: Sender<Terminal>,
    /// A subscription's handle, until `job.subscribed` hands it out.
    pending: Option<JobHandle>,
}

enum Wake {
    Command(Option<Command>),
    Frame(Option<Result<Message, async_tungstenite::tungstenite::Error>>),
    Timer,
    Room,
}

pub(crate) struct Driver {
    session: ClientSession,
    origin: std::time::Instant,
    sink: Option<SplitSink<Ws, Message>>,
    stream: Option<SplitStream<Ws>>,
    commands: Receiver<Command>,
    shared: Arc<Mutex<Snapshot>>,
    welcome: Option<Sender<Result<(), ClientError>>>,
    event_capacity: usize,
    max_buffered: usize,
    /// Events waiting for room in their handle's queue, in arrival order.
    stash: VecDeque<(Sender<JobEventItem>, JobEventItem)>,
    tap: Option<FrameTap>,
    submits: HashMap<RequestId, Reply<JobHandle>>,
    lists: HashMap<RequestId, Reply<Jobs>>,
    subs: HashMap<RequestId, (String, Reply<JobHandle>)>,
    pings: HashMap<String, Reply<Duration>>,
    routes: HashMap<String, Route>,
    close_error: Option<ClientError>,
    closed: bool,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        session: ClientSession,
        ws: Ws,
        commands: Receiver<Command>,
        shared: Arc<Mutex<Snapshot>>,
        welcome: Sender<Result<(), ClientError>>,
        event_capacity: usize,
        max_buffered: usize,
        tap: Option<FrameTap>,
    ) -> Self {
        let (sink, stream) = StreamExt::split(ws);
        Driver {
            session,
            origin: std::time::Instant::now(),
            sink: Some(sink),
            stream: Some(stream),
            commands,
            shared,
            welcome: Some(welcome),
            event_capacity,
            max_buffered: max_buffered.max(1),
            stash: VecDeque::new(),
            tap,
            submits: HashMap::new(),
            lists: HashMap::new(),
            subs: HashMap::new(),
            pings: HashMap::new(),
            routes: HashMap::new(),
            close_error: None,
            closed: false,
        }
    }

    fn now(&self) -> CoreInstant {
        CoreInstant::from_micros(
            u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX),
        )
    }

    fn tap(&self, ev: TapEvent<'_>) {
        if let Some(t) = &self.tap {
            t(ev);
        }
    }

    pub(crate) async fn run(mut self) {
        let now = self.now();
        self.session.handle_connected(now);
        self.pump().await;
        while !self.closed {
            let deadline = self
                .session
                .poll_timeout()
                .map(|t| self.origin + Duration::from_micros(t.as_micros()));
            let wake = {
                // While `max_buffered_events` wait for room, the transport is not read.
                let can_read = self.stash.len() < self.max_buffered;
                let frame = async {
                    match self.stream.as_mut() {
                        Some(s) if can_read => s.next().await,
                        _ => std::future::pending().await,
                    }
                };
                let room = async {
                    match self.stash.front() {
                        Some((tx, item)) => tx.send(item.clone()).await.is_ok(),
                        None => std::future::pending().await,
                    }
                };
                let timer = async {
                    match deadline {
                        Some(d) => {
                            Timer::at(d).await;
                        }
                        None => std::future::pending().await,
                    }
                };
                select_biased! {
                    c = self.commands.recv().fuse() => Wake::Command(c.ok()),
                    _ = room.fuse() => Wake::Room,
                    f = frame.fuse() => Wake::Frame(f),
                    () = timer.fuse() => Wake::Timer,
                }
            };
            match wake {
                Wake::Room => {
                    // The front item went out (or its stream is gone): deliver what fits.
                    self.stash.pop_front();
                    self.deliver();
                }
                Wake::Command(Some(cmd)) => self.command(cmd).await,
                Wake::Command(None) => {
                    // Every Client is gone: end the session politely.
                    let now = self.now();
                    let _ = self.session.close(now, "client.close");
                }
                Wake::Frame(Some(Ok(Message::Text(t)))) => self.frame(t.as_bytes()),
                Wake::Frame(Some(Ok(Message::Binary(b)))) => self.frame(&b),
                Wake::Frame(Some(Ok(Message::Close(_))) | None) => {
                    self.lost("closed by the runtime").await
                }
                Wake::Frame(Some(Ok(_))) => {}
                Wake::Frame(Some(Err(e))) => self.lost(&format!("reader error: {e}")).await,
                Wake::Timer => {
                    let now = self.now();
                    if self.session.poll_timeout().is_some_and(|t| t <= now) {
                        self.session.handle_timeout(now);
                    }
                }
            }
            self.pump().await;
        }
        self.drop_ws("session ended").await;
    }

    fn frame(&mut self, bytes: &[u8]) {
        self.tap(TapEvent::Received(bytes));
        let now = self.now();
        self.session.handle_frame(now, bytes);
    }

    async fn drop_ws(&mut self, why: &str) {
        self.stream = None;
        if let Some(mut s) = self.sink.take() {
            select_biased! {
                _ = s.close().fuse() => (),
                _ = FutureExt::fuse(Timer::after(Duration::from_secs(2))) => (),
            }
            self.tap(TapEvent::Closed(why));
        }
    }

    /// The transport ended: this client does not reconnect.
    async fn lost(&mut self, why: &str) {
        self.drop_ws(why).await;
        let now = self.now();
        self.session.handle_disconnected(now);
        if let Some(w) = self.welcome.take() {
            let _ = w.try_send(Err(ClientError::Transport(why.to_owned())));
        }
    }

    async fn send_bytes(&mut self, frame: Vec<u8>) -> Result<(), ClientError> {
        self.tap(TapEvent::Sent(&frame));
        let Some(sink) = self.sink.as_mut() else {
            return Err(ClientError::Transport("no transport".into()));
        };
        let text = String::from_utf8_lossy(&frame).into_owned();
        sink.send(Message::Text(text.into()))
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))
    }

    /// Contract step 2: drain transmits, then events, until both are empty.
    async fn pump(&mut self) {
        loop {
            while let Some(frame) = self.session.poll_transmit() {
                if self.sink.is_some() && self.send_bytes(frame.encode()).await.is_err() {
                    self.lost("send failed").await;
                }
            }
            match self.session.poll_event() {
                Some(ev) => self.on_event(ev).await,
                None => break,
            }
        }
        self.publish();
    }

    /// Copies the session's state into the snapshot the getters read.
    fn publish(&self) {
        let s = &self.session;
        let snap = Snapshot {
            state: s.state(),
            session_id: s.session_id().map(str::to_owned),
            features: s.features().to_vec(),
            resume: s.resume_state(),
        };
        if let Ok(mut g) = self.shared.lock() {
            *g = snap;
        }
    }

    /// Moves stashed events into their handles' queues until one is full (the run loop then
    /// waits for room); events of a dropped stream are discarded.
    fn deliver(&mut self) {
        while let Some((tx, item)) = self.stash.pop_front() {
            match tx.try_send(item) {
                Ok(()) | Err(TrySendError::Closed(_)) => {}
                Err(TrySendError::Full(item)) => {
                    self.stash.push_front((tx, item));
                    return;
                }
            }
        }
    }

    fn fail_error(&self) -> ClientError {
        self.close_error.clone().unwrap_or(ClientError::Closed)
    }

    fn new_route(&mut self, job_id: &str) -> JobHandle {
        let (tx, rx) = async_channel::bounded(self.event_capacity);
        let (done_tx, done_rx) = async_channel::bounded(1);
        self.routes.insert(
            job_id.to_owned(),
            Route {
                events: Some(tx),
                done: done_tx,
                pending: None,
            },
        );
        JobHandle {
            job_id: job_id.to_owned(),
            accepted: None,
            subscribed: None,
            events: Some(Box::pin(rx)),
            done: done_rx,
        }
    }

    async fn on_event(&mut self, ev: ClientEvent) {
        match ev {
            ClientEvent::Welcome(_) => {
                // The getters (features, resume state) must be current once connect returns.
                self.publish();
                if let Some(w) = self.welcome.take() {
                    let _ = w.try_send(Ok(()));
                }
            }
            ClientEvent::HandshakeFailed { error, .. } => {
                let err = ClientError::refused(&error);
                if let Some(w) = self.welcome.take() {
                    let _ = w.try_send(Err(err.clone()));
                }
                self.close_error = Some(err);
            }
            ClientEvent::Accepted {
                request_id,
                job_id,
                accepted,
            } => {
                if let Some(reply) = request_id.and_then(|r| self.submits.remove(&r)) {
                    let mut handle = self.new_route(&job_id);
                    handle.accepted = Some(accepted);
                    if reply.try_send(Ok(handle)).is_err() {
                        self.routes.remove(&job_id);
                    }
                }
            }
            ClientEvent::JobEvent {
                job_id,
                event_seq,
                space,
                event,
            } => {
                let Some(tx) = self.routes.get(&job_id).and_then(|r| r.events.clone()) else {
                    return;
                };
                let item = JobEventItem {
                    job_id: job_id.clone(),
                    event_seq,
                    space,
                    event,
                };
                // In order behind whatever already waits for room.
                self.stash.push_back((tx, item));
                self.deliver();
            }
            ClientEvent::Terminal {
                job_id, outcome, ..
            } => {
                // `done` returning means the getters (resume state) include the terminal.
                self.publish();
                let Some(route) = self.routes.get_mut(&job_id) else {
                    return;
                };
                route.events = None;
                let t = match outcome {
                    JobOutcome::Failed { code, message, .. } => {
                        Err(ClientError::JobFailed { code, message })
                    }
                    other => Ok(other),
                };
                let _ = route.done.try_send(t);
                // A subscription whose replay ended before `job.subscribed` (D9) keeps its
                // handle until it is handed out.
                if route.pending.is_none() {
                    self.routes.remove(&job_id);
                }
            }
            ClientEvent::RequestFailed {
                request_id, error, ..
            } => {
                let err = match error {
                    RequestError::Runtime(p) => ClientError::refused(&p),
                    RequestError::ConnectionLost => {
                        ClientError::Transport("connection lost before the answer".into())
                    }
                    RequestError::SessionClosed => self.fail_error(),
                };
                if let Some(r) = self.submits.remove(&request_id) {
                    let _ = r.try_send(Err(err));
                } else if let Some(r) = self.lists.remove(&request_id) {
                    let _ = r.try_send(Err(err));
                } else if let Some((job, r)) = self.subs.remove(&request_id) {
                    self.routes.remove(&job);
                    let _ = r.try_send(Err(err));
                }
            }
            ClientEvent::Jobs { request_id, jobs } => {
                if let Some(r) = request_id.and_then(|r| self.lists.remove(&r)) {
                    let _ = r.try_send(Ok(jobs));
                }
            }
            ClientEvent::Subscribed {
                request_id,
                subscribed,
            } => {
                let Some((job, reply)) = request_id.and_then(|r| self.subs.remove(&r)) else {
                    return;
                };
                let Some(route) = self.routes.get_mut(&job) else {
                    return;
                };
                if let Some(mut handle) = route.pending.take() {
                    handle.subscribed = Some(subscribed);
                    let ended = route.events.is_none();
                    if reply.try_send(Ok(handle)).is_err() || ended {
                        self.routes.remove(&job);
                    }
                }
            }
            ClientEvent::Pong { nonce, rtt } => {
                if let Some(r) = self.pings.remove(&nonce) {
                    let _ = r.try_send(Ok(rtt.unwrap_or_default()));
                }
            }
            ClientEvent::CloseTransport(_) => {
                self.lost("closed by the client session").await;
            }
            ClientEvent::Closed(_) => self.on_closed(),
            _ => {}
        }
    }

    fn on_closed(&mut self) {
        self.closed = true;
        let err = self.fail_error();
        if let Some(w) = self.welcome.take() {
            let _ = w.try_send(Err(err.clone()));
        }
        for (_, r) in self.submits.drain() {
            let _ = r.try_send(Err(err.clone()));
        }
        for (_, r) in self.lists.drain() {
            let _ = r.try_send(Err(err.clone()));
        }
        for (_, (_, r)) in self.subs.drain() {
            let _ = r.try_send(Err(err.clone()));
        }
        for (_, r) in self.pings.drain() {
            let _ = r.try_send(Err(err.clone()));
        }
        for (_, route) in self.routes.drain() {
            let _ = route.done.try_send(Err(err.clone()));
        }
    }

    async fn command(&mut self, cmd: Command) {
        let now = self.now();
        match cmd {
            Command::Submit { req, reply } => match self.session.submit(now, *req) {
                Ok(id) => {
                    self.submits.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.try_send(Err(e.into()));
                }
            },
            Command::Cancel {
                job_id,
                reason,
                reply,
            } => {
                // D6: the reference runtime requires payload `reason`.
                let r = self.session.cancel(now, &job_id, Some(&reason)).map(|_| ());
                self.pump().await;
                let _ = reply.try_send(r.map_err(Into::into));
            }
            Command::ListJobs { req, reply } => match self.session.list_jobs(now, req) {
                Ok(id) => {
                    self.lists.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.try_send(Err(e.into()));
                }
            },
            Command::Subscribe {
                job_id,
                history,
                from_event_seq,
                reply,
            } => {
                if self.routes.contains_key(&job_id) {
                    let _ = reply.try_send(Err(ApiError::AlreadySubscribed(job_id).into()));
                    return;
                }
                match self
                    .session
                    .subscribe(now, &job_id, history, from_event_seq)
                {
                    Ok(id) => {
                        let handle = self.new_route(&job_id);
                        if let Some(r) = self.routes.get_mut(&job_id) {
                            r.pending = Some(handle);
                        }
                        self.subs.insert(id, (job_id, reply));
                    }
                    Err(e) => {
                        let _ = reply.try_send(Err(e.into()));
                    }
                }
            }
            Command::Unsubscribe { job_id, reply } => {
                let r = self.session.unsubscribe(now, &job_id).map(|_| ());
                if r.is_ok() {
                    // Nothing of the job is delivered after this; its stream ends.
                    self.routes.remove(&job_id);
                    self.stash.retain(|(_, i)| i.job_id != job_id);
                }
                self.pump().await;
                let _ = reply.try_send(r.map_err(Into::into));
            }
            Command::Ack { seq, reply } => {
                let r = self.session.ack(now, seq);
                self.pump().await;
                let _ = reply.try_send(r.map_err(Into::into));
            }
            Command::Ping { reply } => match self.session.ping(now) {
                Ok(nonce) => {
                    self.pings.insert(nonce, reply);
                }
                Err(e) => {
                    let _ = reply.try_send(Err(e.into()));
                }
            },
            Command::SendRaw { frame, reply } => {
                let r = self.send_bytes(frame).await;
                let _ = reply.try_send(r);
            }
            Command::DropTransport { reply } => {
                if self.sink.is_some() {
                    self.lost("transport dropped by the application").await;
                }
                let _ = reply.try_send(Ok(()));
            }
            Command::Close { reply } => {
                let r = self.session.close(now, "client.close");
                self.pump().await;
                let _ = reply.try_send(r.map_err(Into::into));
            }
        }
    }
}
