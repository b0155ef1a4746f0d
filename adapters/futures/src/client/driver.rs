//! The task that runs the shared [`ClientDriver`] (arcp-host) by the driving contract: feed
//! one input (a frame, a command, a timeout, a transport change), drain `poll_output`, ask
//! `poll_timeout` last, and sleep (an `async_io::Timer`) until the earliest of transport
//! input, command, room in a full job queue, or deadline. Only the IO, the channels and the
//! reconnect timing live here.

use super::link::{Inbound, Link, Target};
use super::{ClientError, JobEventItem, JobHandle, Terminal};
use arcp_host::client::{
    BoundedSender, ClientDriver, EventStash, Output, Pending, Replies, TapEvent, TrySend,
};
use arcp_proto::client::{
    ApiError, ClientState, JobOutcome, ListJobsRequest, RequestError, ResumeState, SubmitRequest,
};
use arcp_proto::wire::Jobs;
use async_channel::{Receiver, Sender, TrySendError};
use async_io::Timer;
use futures_util::{FutureExt, select_biased};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) type Reply<T> = Sender<Result<T, ClientError>>;

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

/// The reply senders, as the shared driver keeps them.
pub(crate) struct FutReplies;

impl Replies for FutReplies {
    type Submit = Reply<JobHandle>;
    type List = Reply<Jobs>;
    type Subscribe = Reply<JobHandle>;
    type Ping = Reply<Duration>;
}

/// A job handle's event queue, for the shared stash.
#[derive(Clone)]
pub(crate) struct Queue(Sender<JobEventItem>);

impl BoundedSender<JobEventItem> for Queue {
    fn try_send(&self, item: JobEventItem) -> Result<(), TrySend<JobEventItem>> {
        self.0.try_send(item).map_err(|e| match e {
            TrySendError::Full(i) => TrySend::Full(i),
            TrySendError::Closed(i) => TrySend::Closed(i),
        })
    }
}

/// A job the application holds a handle for.
struct Route {
    events: Option<Sender<JobEventItem>>,
    done: Sender<Terminal>,
    /// A subscription's handle, until `job.subscribed` hands it out.
    pending: Option<JobHandle>,
}

/// Reconnect knobs (automatic resume).
#[derive(Debug, Clone)]
pub(crate) struct Reconnect {
    pub(crate) auto_resume: bool,
    pub(crate) max_attempts: u32,
    pub(crate) first_delay: Duration,
}

enum Wake {
    Command(Option<Command>),
    Frame(Inbound),
    Timer,
    Room,
}

pub(crate) struct Driver {
    core: ClientDriver<FutReplies>,
    target: Target,
    max_frame_bytes: usize,
    link: Option<Link>,
    commands: Receiver<Command>,
    shared: Arc<Mutex<Snapshot>>,
    welcome: Option<Sender<Result<(), ClientError>>>,
    event_capacity: usize,
    /// Events waiting for room in their handle's queue, in arrival order.
    stash: EventStash<Queue, JobEventItem>,
    routes: HashMap<String, Route>,
    reconnect: Reconnect,
    reconnect_at: Option<Instant>,
    attempts: u32,
    close_error: Option<ClientError>,
    closed: bool,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        core: ClientDriver<FutReplies>,
        target: Target,
        max_frame_bytes: usize,
        link: Link,
        commands: Receiver<Command>,
        shared: Arc<Mutex<Snapshot>>,
        welcome: Sender<Result<(), ClientError>>,
        event_capacity: usize,
        max_buffered: usize,
        reconnect: Reconnect,
    ) -> Self {
        Driver {
            core,
            target,
            max_frame_bytes,
            link: Some(link),
            commands,
            shared,
            welcome: Some(welcome),
            event_capacity,
            stash: EventStash::new(max_buffered),
            routes: HashMap::new(),
            reconnect,
            reconnect_at: None,
            attempts: 0,
            close_error: None,
            closed: false,
        }
    }

    pub(crate) async fn run(mut self) {
        self.core.connected(Instant::now());
        self.pump().await;
        while !self.closed {
            // Contract step 3: the deadline is asked last, after draining.
            let deadline = match (self.core.poll_timeout(), self.reconnect_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let wake = {
                // While `max_buffered_events` wait for room, the transport is not read.
                let can_read = self.stash.can_read();
                let link = &mut self.link;
                let frame = async {
                    match link.as_mut() {
                        Some(l) if can_read => l.recv().await,
                        _ => std::future::pending().await,
                    }
                };
                let front = self.stash.front().map(|(q, i)| (q.0.clone(), i.clone()));
                let room = async {
                    match front {
                        Some((tx, item)) => tx.send(item).await.is_ok(),
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
            let now = Instant::now();
            match wake {
                Wake::Room => {
                    // The front item went out (or its stream is gone): deliver what fits.
                    self.stash.pop_front();
                    self.stash.deliver();
                }
                Wake::Command(Some(cmd)) => self.command(cmd).await,
                Wake::Command(None) => {
                    // Every Client is gone: end the session politely.
                    let _ = self.close_session(now);
                }
                Wake::Frame(Inbound::Frame(bytes)) => self.core.feed_frame(now, &bytes),
                Wake::Frame(Inbound::Nothing) => {}
                // D35: an oversized frame drops the transport; the session stays resumable.
                Wake::Frame(Inbound::TooLarge) => {
                    self.lost("inbound frame over the size cap").await
                }
                Wake::Frame(Inbound::Closed(why)) => self.lost(&why).await,
                Wake::Timer => {
                    if self.reconnect_at.is_some_and(|t| t <= now) {
                        self.reconnect_at = None;
                        self.reopen().await;
                    }
                    self.core.handle_timeout(Instant::now());
                }
            }
            self.pump().await;
        }
        if let Some(l) = self.link.take() {
            l.close().await;
            self.core.tap(TapEvent::Closed("session ended"));
        }
        // Commands queued after the close would keep their callers waiting (the channel
        // lives on in the clients' senders): refuse new ones, drop the queued ones.
        self.commands.close();
        while self.commands.try_recv().is_ok() {}
    }

    fn close_session(&mut self, now: Instant) -> Result<(), ApiError> {
        let now = self.core.clock().core(now);
        self.core.session_mut().close(now, "client.close")
    }

    /// The transport ended (read error, peer close, oversized frame, or on purpose).
    async fn lost(&mut self, why: &str) {
        if let Some(l) = self.link.take() {
            l.close().await;
        }
        self.core.disconnected(Instant::now(), why);
        self.after_loss(why);
    }

    /// After a loss: reconnect later (automatic resume) or stay down; a stdio child is a
    /// new runtime, so a stdio session ends.
    fn after_loss(&mut self, why: &str) {
        if self.core.is_closed() {
            return;
        }
        if !self.target.can_resume() {
            self.give_up(why.to_owned());
        } else if self.reconnect.auto_resume {
            let backoff = self
                .reconnect
                .first_delay
                .saturating_mul(1u32 << self.attempts.min(6));
            self.reconnect_at = Some(Instant::now() + backoff);
        } else if let Some(w) = self.welcome.take() {
            let _ = w.try_send(Err(ClientError::Transport(why.to_owned())));
        }
    }

    /// Opens a new transport; the session's hello resumes.
    async fn reopen(&mut self) {
        if self.core.session().state() != ClientState::Disconnected {
            return;
        }
        match Link::open(&self.target, self.max_frame_bytes).await {
            Ok(l) => {
                self.link = Some(l);
                self.core.connected(Instant::now());
            }
            Err(e) => {
                self.attempts += 1;
                if self.attempts >= self.reconnect.max_attempts {
                    self.give_up(e.to_string());
                } else {
                    self.after_loss(&e.to_string());
                }
            }
        }
    }

    fn give_up(&mut self, why: String) {
        self.close_error = Some(ClientError::Transport(why));
        let _ = self.close_session(Instant::now());
    }

    async fn send_bytes(&mut self, frame: Vec<u8>) -> Result<(), ClientError> {
        let Some(link) = self.link.as_mut() else {
            return Err(ClientError::Transport("no transport".into()));
        };
        link.send(frame).await.map_err(ClientError::Transport)
    }

    /// Contract step 2: drain the shared driver's outputs until it is empty.
    async fn pump(&mut self) {
        while let Some(out) = self.core.poll_output() {
            self.output(out).await;
        }
        self.publish();
    }

    /// Copies the session's state into the snapshot the getters read.
    fn publish(&self) {
        let s = self.core.session();
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

    async fn output(&mut self, out: Output<FutReplies>) {
        match out {
            Output::Transmit(bytes) => {
                if self.link.is_some()
                    && let Err(e) = self.send_bytes(bytes).await
                {
                    self.lost(&format!("send failed: {e}")).await;
                }
            }
            Output::Welcome(_) => {
                self.attempts = 0;
                self.reconnect_at = None;
                // The getters (features, resume state) must be current once connect returns.
                self.publish();
                if let Some(w) = self.welcome.take() {
                    let _ = w.try_send(Ok(()));
                }
            }
            Output::Refused(error) => {
                let err = ClientError::refused(&error);
                if let Some(w) = self.welcome.take() {
                    let _ = w.try_send(Err(err.clone()));
                }
                self.close_error = Some(err);
            }
            Output::RetryResume(delay) => {
                // WIRE.md §6: the session was still attached; a new transport after `delay`.
                if let Some(l) = self.link.take() {
                    l.close().await;
                    self.core.tap(TapEvent::Closed("resume refused, retrying"));
                }
                self.reconnect_at = Some(Instant::now() + delay);
            }
            Output::Accepted {
                reply,
                job_id,
                accepted,
            } => {
                let mut handle = self.new_route(&job_id);
                handle.accepted = Some(accepted);
                if reply.try_send(Ok(handle)).is_err() {
                    self.routes.remove(&job_id);
                }
            }
            Output::Jobs { reply, jobs } => {
                let _ = reply.try_send(Ok(jobs));
            }
            Output::Subscribed {
                reply,
                job_id,
                subscribed,
            } => {
                let Some(route) = self.routes.get_mut(&job_id) else {
                    return;
                };
                if let Some(mut handle) = route.pending.take() {
                    handle.subscribed = Some(subscribed);
                    let ended = route.events.is_none();
                    if reply.try_send(Ok(handle)).is_err() || ended {
                        self.routes.remove(&job_id);
                    }
                }
            }
            Output::Pong { reply, rtt } => {
                let _ = reply.try_send(Ok(rtt));
            }
            Output::Failed { reply, error } => {
                let err = match error {
                    RequestError::Runtime(p) => ClientError::refused(&p),
                    RequestError::ConnectionLost => {
                        ClientError::Transport("connection lost before the answer".into())
                    }
                    RequestError::SessionClosed => self.fail_error(),
                };
                match reply {
                    Pending::Submit(r) => drop(r.try_send(Err(err))),
                    Pending::List(r) => drop(r.try_send(Err(err))),
                    Pending::Subscribe(job, r) => {
                        self.routes.remove(&job);
                        let _ = r.try_send(Err(err));
                    }
                    Pending::Ping(r) => drop(r.try_send(Err(err))),
                }
            }
            // Cancels are answered once written; nothing else goes untracked.
            Output::Unmatched { .. } => {}
            Output::Event(item) => {
                let Some(tx) = self.routes.get(&item.job_id).and_then(|r| r.events.clone()) else {
                    return;
                };
                // In order behind whatever already waits for room.
                self.stash.push(Queue(tx), item);
            }
            Output::Terminal {
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
            Output::CloseTransport(_) => self.lost("closed by the client session").await,
            Output::Closed(_) => self.on_closed(),
        }
    }

    fn on_closed(&mut self) {
        self.closed = true;
        let err = self.fail_error();
        if let Some(w) = self.welcome.take() {
            let _ = w.try_send(Err(err.clone()));
        }
        for (_, route) in self.routes.drain() {
            let _ = route.done.try_send(Err(err.clone()));
        }
    }

    async fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        let core_now = self.core.clock().core(now);
        match cmd {
            Command::Submit { req, reply } => {
                if let Err((e, reply)) = self.core.submit(now, *req, reply) {
                    let _ = reply.try_send(Err(e.into()));
                }
            }
            Command::Cancel {
                job_id,
                reason,
                reply,
            } => {
                // D6: the reference runtime requires payload `reason`.
                let r = self
                    .core
                    .session_mut()
                    .cancel(core_now, &job_id, Some(&reason));
                self.pump().await;
                let _ = reply.try_send(r.map(|_| ()).map_err(Into::into));
            }
            Command::ListJobs { req, reply } => {
                if let Err((e, reply)) = self.core.list_jobs(now, req, reply) {
                    let _ = reply.try_send(Err(e.into()));
                }
            }
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
                    .core
                    .subscribe(now, &job_id, history, from_event_seq, reply)
                {
                    Ok(()) => {
                        let handle = self.new_route(&job_id);
                        if let Some(r) = self.routes.get_mut(&job_id) {
                            r.pending = Some(handle);
                        }
                    }
                    Err((e, reply)) => {
                        let _ = reply.try_send(Err(e.into()));
                    }
                }
            }
            Command::Unsubscribe { job_id, reply } => {
                let r = self.core.session_mut().unsubscribe(core_now, &job_id);
                if r.is_ok() {
                    // Nothing of the job is delivered after this; its stream ends.
                    self.routes.remove(&job_id);
                    self.stash.retain(|i| i.job_id != job_id);
                }
                self.pump().await;
                let _ = reply.try_send(r.map(|_| ()).map_err(Into::into));
            }
            Command::Ack { seq, reply } => {
                let r = self.core.session_mut().ack(core_now, seq);
                self.pump().await;
                let _ = reply.try_send(r.map_err(Into::into));
            }
            Command::Ping { reply } => {
                if let Err((e, reply)) = self.core.ping(now, reply) {
                    let _ = reply.try_send(Err(e.into()));
                }
            }
            Command::SendRaw { frame, reply } => {
                self.core.tap(TapEvent::Sent(&frame));
                let r = self.send_bytes(frame).await;
                let _ = reply.try_send(r);
            }
            Command::DropTransport { reply } => {
                if self.link.is_some() {
                    self.lost("transport dropped by the application").await;
                }
                let _ = reply.try_send(Ok(()));
            }
            Command::Close { reply } => {
                let r = self.close_session(now);
                self.pump().await;
                let _ = reply.try_send(r.map_err(Into::into));
            }
        }
    }
}
