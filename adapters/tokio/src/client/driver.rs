//! The task that runs the shared [`ClientDriver`] (arcp-host: the session, pending replies,
//! resume retry, frame tap) by the driving contract: feed one input (a frame, a command, a
//! timeout, a transport change), drain `poll_output`, ask `poll_timeout` last, and sleep
//! until the earliest of socket input, application command, delivery capacity, or deadline.
//! Routing to job handles, the stash, confirmed cancels and reconnecting live here.

use super::job::{JobEventItem, JobHandle, JobInfo, Subscription};
use super::shared::{Command, Reply, Shared, Terminal};
use super::transport::{RecvError, Target, Transport};
use super::{ClientError, StreamItem, TapEvent};
use arcp_host::client::{ClientDriver, Output, Pending, Replies};
use arcp_proto::client::{ClientState, ListJobsRequest, RequestError, RequestId, WelcomeInfo};
use arcp_proto::time::Instant as CoreInstant;
use arcp_proto::wire::Jobs;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant as TokioInstant;

/// Knobs of the driver (from the builder).
#[derive(Clone)]
pub(crate) struct DriverConfig {
    pub target: Target,
    pub max_frame_bytes: usize,
    pub event_capacity: usize,
    pub max_buffered_events: usize,
    pub auto_resume: bool,
    pub max_reconnect_attempts: u32,
    pub reconnect_delay: Duration,
    /// The rustls config for `wss://` (built once, reused by reconnects).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// The reply senders, as the shared driver keeps them.
pub(crate) struct TokioReplies;

/// A list_jobs: the application's, or the barrier confirming a cancel (by the cancel's id).
pub(crate) enum ListReply {
    Jobs(Reply<Jobs>),
    Barrier(RequestId),
}

impl Replies for TokioReplies {
    type Submit = Reply<JobHandle>;
    type List = ListReply;
    type Subscribe = Reply<Subscription>;
    type Ping = Reply<Duration>;
}

/// A job (or subscription) the application holds a handle for.
struct Route {
    events: Option<mpsc::Sender<JobEventItem>>,
    done: Option<oneshot::Sender<Terminal>>,
    /// The receivers of a subscription not yet handed out (until `job.subscribed`).
    pending: Option<(mpsc::Receiver<JobEventItem>, oneshot::Receiver<Terminal>)>,
}

/// A loss within this time after a welcome, with no new event, counts as a stall.
const STALL_WINDOW: Duration = Duration::from_secs(5);

type Wait = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The driver task's state.
pub(crate) struct Driver {
    core: ClientDriver<TokioReplies>,
    cfg: DriverConfig,
    transport: Option<Transport>,
    commands: mpsc::Receiver<Command>,
    commands_tx: mpsc::WeakSender<Command>,
    shared: Arc<Shared>,
    welcome_waiters: Vec<Reply<()>>,
    first_welcome: Option<oneshot::Sender<Result<WelcomeInfo, ClientError>>>,
    /// Confirmed cancels waiting for their refusal or their barrier (a list_jobs whose
    /// reply is [`ListReply::Barrier`]), by the cancel's id: the runtime answers requests in
    /// order, so once the barrier is answered no refusal of the cancel can follow.
    cancels: HashMap<RequestId, Reply<()>>,
    routes: HashMap<String, Route>,
    unrouted: Option<mpsc::Sender<StreamItem>>,
    /// Events and terminals waiting for room in their channel, in arrival order. While it
    /// holds `max_buffered_events` items the transport is not read.
    stash: VecDeque<StreamItem>,
    blocked: Option<Wait>,
    reconnect_at: Option<TokioInstant>,
    attempts: u32,
    /// When the last welcome arrived and the session seq then.
    welcomed: Option<(TokioInstant, u64)>,
    /// Consecutive transport losses soon after a welcome without any new event.
    stalls: u32,
    /// Why the session ended, reported to everything still waiting.
    close_error: Option<ClientError>,
    closed: bool,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        core: ClientDriver<TokioReplies>,
        cfg: DriverConfig,
        transport: Transport,
        commands: mpsc::Receiver<Command>,
        commands_tx: mpsc::WeakSender<Command>,
        shared: Arc<Shared>,
        first_welcome: oneshot::Sender<Result<WelcomeInfo, ClientError>>,
        unrouted: Option<mpsc::Sender<StreamItem>>,
    ) -> Self {
        Driver {
            core,
            cfg,
            transport: Some(transport),
            commands,
            commands_tx,
            shared,
            welcome_waiters: Vec::new(),
            first_welcome: Some(first_welcome),
            cancels: HashMap::new(),
            routes: HashMap::new(),
            unrouted,
            stash: VecDeque::new(),
            blocked: None,
            reconnect_at: None,
            attempts: 0,
            welcomed: None,
            stalls: 0,
            close_error: None,
            closed: false,
        }
    }

    /// The core's clock (the shared driver's origin).
    fn now(&self) -> CoreInstant {
        self.core.clock().core(std::time::Instant::now())
    }

    /// Runs until the session is closed (by `close`, a refused handshake, the runtime, or
    /// giving up on reconnecting) or every `Client` is dropped.
    pub(crate) async fn run(mut self) {
        self.core.connected(std::time::Instant::now());
        self.pump().await;
        while !self.closed {
            // Contract step 3: the deadline is asked last, after draining.
            let core_deadline = self.core.poll_timeout().map(TokioInstant::from_std);
            let deadline = match (core_deadline, self.reconnect_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let can_read =
                self.transport.is_some() && self.stash.len() < self.cfg.max_buffered_events;
            let waiting = self.blocked.is_some();
            let wake = tokio::select! {
                biased;
                cmd = self.commands.recv() => Wake::Command(cmd),
                () = wait_blocked(&mut self.blocked), if waiting => Wake::Capacity,
                r = recv(&mut self.transport), if can_read => Wake::Frame(r),
                () = sleep_until(deadline), if deadline.is_some() => Wake::Timer,
            };
            match wake {
                Wake::Command(Some(cmd)) => self.command(cmd).await,
                Wake::Command(None) => {
                    // Every Client is gone: end the session politely.
                    let now = self.now();
                    let _ = self.core.session_mut().close(now, "client.close");
                }
                Wake::Capacity => self.blocked = None,
                Wake::Frame(Ok(bytes)) => self.core.feed_frame(std::time::Instant::now(), &bytes),
                Wake::Frame(Err(RecvError::TooLarge)) => {
                    // D35: the transport refused an oversized frame; the session stays
                    // resumable.
                    self.lost("inbound frame over the size cap").await;
                }
                Wake::Frame(Err(RecvError::Closed(why))) => self.lost(&why).await,
                Wake::Timer => {
                    if self.reconnect_at.is_some_and(|t| t <= TokioInstant::now()) {
                        self.reconnect_at = None;
                        self.reconnect().await;
                    }
                    // Contract step 5: re-read the clock, then call handle_timeout if due.
                    self.core.handle_timeout(std::time::Instant::now());
                }
            }
            self.pump().await;
        }
        if let Some(t) = self.transport.take() {
            t.close().await;
            self.tap(TapEvent::Closed("session ended"));
        }
    }

    /// Reports a frame or the transport's end to the frame tap, when one is set.
    fn tap(&self, ev: TapEvent<'_>) {
        self.core.tap(ev);
    }

    /// Sends one encoded frame (the tap has seen it).
    async fn send_bytes(&mut self, frame: Vec<u8>) -> Result<(), String> {
        match self.transport.as_mut() {
            Some(t) => t.send(frame).await,
            None => Err("no transport".to_owned()),
        }
    }

    /// Contract step 2: drain the shared driver's outputs until it is empty.
    async fn pump(&mut self) {
        while let Some(out) = self.core.poll_output() {
            self.on_output(out).await;
        }
        self.deliver();
        self.publish();
    }

    /// Copies the session's state into the snapshot the application's getters read.
    fn publish(&self) {
        let s = self.core.session();
        let (state, sid, token, features, seq) = (
            s.state(),
            s.session_id().map(str::to_owned),
            s.resume_token().map(str::to_owned),
            s.features().to_vec(),
            s.last_event_seq(),
        );
        self.shared.with(|snap| {
            snap.state = state;
            snap.session_id = sid;
            snap.resume_token = token;
            snap.features = features;
            snap.received_seq = seq;
        });
    }

    /// The transport broke (read error, peer close, oversized frame).
    async fn lost(&mut self, why: &str) {
        if let Some(t) = self.transport.take() {
            t.close().await;
        }
        self.core.disconnected(std::time::Instant::now(), why);
        self.schedule_reconnect(why.to_owned());
    }

    /// After a transport loss: reconnect later (automatic resume), wait for `resume()`, or
    /// give up (stdio: a new child is a new runtime).
    fn schedule_reconnect(&mut self, why: String) {
        if self.core.is_closed() {
            return;
        }
        // A transport that keeps failing right after each resume without delivering
        // anything (e.g. an oversized frame the runtime replays every time, D35) is given
        // up instead of looping forever.
        let seq = self.core.session().last_event_seq();
        match self.welcomed {
            Some((at, s)) if s == seq && at.elapsed() < STALL_WINDOW => self.stalls += 1,
            _ => self.stalls = 0,
        }
        if !self.cfg.target.can_resume() {
            self.give_up(why);
        } else if self.stalls >= self.cfg.max_reconnect_attempts {
            self.give_up(format!(
                "transport lost {} times right after resuming, without progress: {why}",
                self.stalls
            ));
        } else if self.cfg.auto_resume {
            let backoff = self
                .cfg
                .reconnect_delay
                .saturating_mul(1u32 << self.attempts.min(6));
            self.reconnect_at = Some(TokioInstant::now() + backoff);
        } else {
            for w in self.welcome_waiters.drain(..) {
                let _ = w.send(Err(ClientError::Transport(why.clone())));
            }
        }
    }

    async fn reconnect(&mut self) {
        if self.core.session().state() != ClientState::Disconnected {
            return;
        }
        match Transport::open(
            &self.cfg.target,
            self.cfg.max_frame_bytes,
            self.cfg.tls.as_ref(),
        )
        .await
        {
            Ok(t) => {
                self.transport = Some(t);
                // Resume is internal: the core sends hello with payload.resume (D2).
                self.core.connected(std::time::Instant::now());
            }
            Err(e) => {
                self.attempts += 1;
                if self.attempts >= self.cfg.max_reconnect_attempts {
                    self.give_up(e);
                } else {
                    self.schedule_reconnect(e);
                }
            }
        }
    }

    fn give_up(&mut self, why: String) {
        self.close_error = Some(ClientError::Transport(why));
        let now = self.now();
        let _ = self.core.session_mut().close(now, "client.close");
    }

    fn fail_error(&self) -> ClientError {
        self.close_error.clone().unwrap_or(ClientError::Closed)
    }

    async fn on_output(&mut self, out: Output<TokioReplies>) {
        match out {
            Output::Transmit(frame) => {
                if self.transport.is_none() {
                    return;
                }
                if let Err(e) = self.send_bytes(frame).await {
                    self.transport = None;
                    self.core.disconnected(std::time::Instant::now(), &e);
                    self.schedule_reconnect(format!("send failed: {e}"));
                }
            }
            Output::Welcome(info) => {
                self.attempts = 0;
                self.welcomed = Some((TokioInstant::now(), self.core.session().last_event_seq()));
                self.reconnect_at = None;
                self.shared.with(|s| s.welcomes += 1);
                // The getters (features, resume token) must be current once connect returns.
                self.publish();
                if let Some(first) = self.first_welcome.take() {
                    let _ = first.send(Ok(*info));
                }
                for w in self.welcome_waiters.drain(..) {
                    let _ = w.send(Ok(()));
                }
            }
            Output::Refused(error) => {
                let err = ClientError::refused(&error);
                if let Some(first) = self.first_welcome.take() {
                    let _ = first.send(Err(err.clone()));
                }
                for w in self.welcome_waiters.drain(..) {
                    let _ = w.send(Err(err.clone()));
                }
                self.close_error = Some(err);
            }
            Output::RetryResume(delay) => {
                // WIRE.md §6: the session was still attached; a new transport after `delay`.
                if let Some(t) = self.transport.take() {
                    t.close().await;
                    self.tap(TapEvent::Closed("resume refused, retrying"));
                }
                self.reconnect_at = Some(TokioInstant::now() + delay);
            }
            Output::Accepted {
                reply,
                job_id,
                accepted,
            } => {
                let (tx, rx) = mpsc::channel(self.cfg.event_capacity);
                let (done_tx, done_rx) = oneshot::channel();
                let handle = self.handle(
                    job_id.clone(),
                    JobInfo::from_accepted(accepted),
                    rx,
                    done_rx,
                );
                if reply.send(Ok(handle)).is_ok() {
                    self.routes.insert(
                        job_id,
                        Route {
                            events: Some(tx),
                            done: Some(done_tx),
                            pending: None,
                        },
                    );
                }
            }
            Output::Event(ev) => self.stash.push_back(StreamItem::Event(JobEventItem {
                job_id: ev.job_id,
                event_seq: ev.event_seq,
                space: ev.space,
                event: ev.event,
            })),
            Output::Terminal {
                job_id,
                event_seq,
                space,
                outcome,
            } => self.stash.push_back(StreamItem::Terminal {
                job_id,
                event_seq,
                space,
                outcome,
            }),
            Output::Failed { reply, error } => {
                let err = self.request_error(error);
                match reply {
                    Pending::Submit(r) => drop(r.send(Err(err))),
                    Pending::List(ListReply::Jobs(r)) => drop(r.send(Err(err))),
                    // The barrier itself failed: the cancel was sent and not refused so far.
                    Pending::List(ListReply::Barrier(cancel)) => {
                        if let Some(r) = self.cancels.remove(&cancel) {
                            let _ = r.send(Ok(()));
                        }
                    }
                    Pending::Subscribe(job, r) => {
                        self.routes.remove(&job);
                        let _ = r.send(Err(err));
                    }
                    Pending::Ping(r) => drop(r.send(Err(err))),
                }
            }
            Output::Unmatched { request_id, error } => {
                if let Some(r) = self.cancels.remove(&request_id) {
                    let _ = r.send(Err(self.request_error(error)));
                }
            }
            Output::Jobs { reply, jobs } => match reply {
                ListReply::Jobs(r) => drop(r.send(Ok(jobs))),
                ListReply::Barrier(cancel) => {
                    if let Some(r) = self.cancels.remove(&cancel) {
                        let _ = r.send(Ok(()));
                    }
                }
            },
            Output::Subscribed {
                reply,
                job_id,
                subscribed,
            } => self.on_subscribed(reply, job_id, subscribed),
            Output::Pong { reply, rtt } => drop(reply.send(Ok(rtt))),
            Output::CloseTransport(_) => {
                if let Some(t) = self.transport.take() {
                    t.close().await;
                }
                self.core
                    .disconnected(std::time::Instant::now(), "closed by the client session");
                self.schedule_reconnect("the session dropped the transport".into());
            }
            Output::Closed(_) => self.on_closed(),
        }
    }

    fn request_error(&self, error: RequestError) -> ClientError {
        match error {
            RequestError::Runtime(p) => ClientError::refused(&p),
            RequestError::ConnectionLost => {
                ClientError::Transport("connection lost before the answer".into())
            }
            RequestError::SessionClosed => self.fail_error(),
        }
    }

    fn handle(
        &self,
        job_id: String,
        info: JobInfo,
        rx: mpsc::Receiver<JobEventItem>,
        done: oneshot::Receiver<Terminal>,
    ) -> JobHandle {
        // The handle keeps a weak-turned-strong sender so `cancel` works while the client
        // lives; when every Client is gone the upgrade fails and a closed channel remains.
        let commands = self
            .commands_tx
            .upgrade()
            .unwrap_or_else(|| mpsc::channel(1).0);
        JobHandle::new(job_id, info, rx, done, Arc::clone(&self.shared), commands)
    }

    fn on_subscribed(
        &mut self,
        reply: Reply<Subscription>,
        job: String,
        subscribed: Box<arcp_proto::wire::Subscribed>,
    ) {
        let Some((rx, done_rx)) = self.routes.get_mut(&job).and_then(|r| r.pending.take()) else {
            return;
        };
        let handle = self.handle(
            job.clone(),
            JobInfo::from_subscribed(&subscribed),
            rx,
            done_rx,
        );
        let sub = Subscription {
            job_id: job.clone(),
            subscribed,
            handle,
        };
        let ended = self.routes.get(&job).is_some_and(|r| r.done.is_none());
        if reply.send(Ok(sub)).is_err() || ended {
            self.routes.remove(&job);
        }
    }

    fn on_closed(&mut self) {
        self.closed = true;
        let err = self.fail_error();
        if let Some(first) = self.first_welcome.take() {
            let _ = first.send(Err(err.clone()));
        }
        for w in self.welcome_waiters.drain(..) {
            let _ = w.send(Err(err.clone()));
        }
        for (_, r) in self.cancels.drain() {
            let _ = r.send(Err(err.clone()));
        }
        // What already arrived is still delivered where there is room; nothing waits.
        self.deliver();
        self.stash.clear();
        self.blocked = None;
        for (_, route) in self.routes.drain() {
            if let Some(done) = route.done {
                let _ = done.send(Err(err.clone()));
            }
        }
    }

    /// Moves stashed items into their channels until one is full; then arms `blocked` to
    /// wake when it has room.
    fn deliver(&mut self) {
        self.blocked = None;
        while let Some(item) = self.stash.pop_front() {
            let job = item.job_id().to_owned();
            let Some(route) = self.routes.get_mut(&job) else {
                // No handle: the unrouted stream (when configured) or nowhere.
                let Some(tx) = &self.unrouted else { continue };
                match tx.try_send(item) {
                    Ok(()) => continue,
                    Err(mpsc::error::TrySendError::Full(item)) => {
                        let tx = tx.clone();
                        self.stash.push_front(item);
                        self.blocked = Some(Box::pin(async move {
                            let _ = tx.reserve_owned().await;
                        }));
                        break;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        self.unrouted = None;
                        continue;
                    }
                }
            };
            match item {
                StreamItem::Event(ev) => {
                    let Some(tx) = &route.events else { continue };
                    match tx.try_send(ev) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(ev)) => {
                            let tx = tx.clone();
                            self.stash.push_front(StreamItem::Event(ev));
                            self.blocked = Some(Box::pin(async move {
                                let _ = tx.reserve_owned().await;
                            }));
                            break;
                        }
                        // The stream was dropped (or `done` called): discard its events.
                        Err(mpsc::error::TrySendError::Closed(_)) => route.events = None,
                    }
                }
                StreamItem::Terminal {
                    event_seq,
                    space,
                    outcome,
                    ..
                } => {
                    // The stream ends after what it holds; `done` gets the outcome.
                    route.events = None;
                    if let Some(done) = route.done.take() {
                        let _ = done.send(Ok((event_seq, space, outcome)));
                    }
                    // A subscription whose replay ended before `job.subscribed` (the
                    // reference's order, D9) keeps its receivers until it is handed out.
                    if route.pending.is_none() {
                        self.routes.remove(&job);
                    }
                }
            }
        }
        self.check_subscribe_overflow();
    }

    /// A subscription whose replay fills its channel and the whole stash before
    /// `job.subscribed` arrives (the reference sends it after the replay, D9) could never
    /// be handed out: it fails with `Overflow` and is unsubscribed, instead of stalling.
    fn check_subscribe_overflow(&mut self) {
        if self.blocked.is_none() || self.stash.len() < self.cfg.max_buffered_events {
            return;
        }
        let Some(job) = self.stash.front().map(|i| i.job_id().to_owned()) else {
            return;
        };
        if self.routes.get(&job).is_none_or(|r| r.pending.is_none()) {
            return;
        }
        self.routes.remove(&job);
        self.stash.retain(|i| i.job_id() != job);
        self.blocked = None;
        let limit = self.cfg.max_buffered_events;
        if let Some(reply) = self.core.abandon_subscribe(std::time::Instant::now(), &job) {
            let _ = reply.send(Err(ClientError::Overflow { limit }));
        }
        self.deliver();
    }

    async fn command(&mut self, cmd: Command) {
        let at = std::time::Instant::now();
        let now = self.now();
        match cmd {
            Command::Submit { req, reply } => {
                if let Err((e, reply)) = self.core.submit(at, *req, reply) {
                    let _ = reply.send(Err(e.into()));
                }
            }
            Command::Cancel {
                job_id,
                reason,
                reply,
            } => {
                // D6: the reference runtime requires payload `reason` (it refuses `{}`).
                let r = self.core.session_mut().cancel(now, &job_id, Some(&reason));
                // Answer once the frame is written (as the reference's `await cancel_job`).
                self.pump().await;
                let _ = reply.send(r.map(|_| ()).map_err(Into::into));
            }
            Command::CancelConfirmed {
                job_id,
                reason,
                reply,
            } => match self.core.session_mut().cancel(now, &job_id, Some(&reason)) {
                Ok(cancel) => {
                    let barrier = ListJobsRequest {
                        limit: Some(1),
                        ..ListJobsRequest::default()
                    };
                    let token = ListReply::Barrier(cancel.clone());
                    match self.core.list_jobs(at, barrier, token) {
                        Ok(()) => {
                            self.cancels.insert(cancel, reply);
                        }
                        // No barrier possible (list_jobs not negotiated, a bound): sent only.
                        Err(_) => {
                            let _ = reply.send(Ok(()));
                        }
                    }
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Command::ListJobs { req, reply } => {
                if let Err((e, ListReply::Jobs(reply))) =
                    self.core.list_jobs(at, req, ListReply::Jobs(reply))
                {
                    let _ = reply.send(Err(e.into()));
                }
            }
            Command::Subscribe {
                job_id,
                history,
                from_event_seq,
                reply,
            } => {
                if self.routes.contains_key(&job_id) {
                    let e = arcp_proto::client::ApiError::AlreadySubscribed(job_id);
                    let _ = reply.send(Err(e.into()));
                    return;
                }
                match self
                    .core
                    .subscribe(at, &job_id, history, from_event_seq, reply)
                {
                    Ok(()) => {
                        let (tx, rx) = mpsc::channel(self.cfg.event_capacity);
                        let (done_tx, done_rx) = oneshot::channel();
                        self.routes.insert(
                            job_id,
                            Route {
                                events: Some(tx),
                                done: Some(done_tx),
                                pending: Some((rx, done_rx)),
                            },
                        );
                    }
                    Err((e, reply)) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Unsubscribe { job_id, reply } => {
                let r = self
                    .core
                    .session_mut()
                    .unsubscribe(now, &job_id)
                    .map(|_| ());
                if r.is_ok() {
                    // Nothing of the job is delivered after this; its stream ends.
                    self.routes.remove(&job_id);
                    self.stash.retain(|i| i.job_id() != job_id);
                }
                self.pump().await;
                let _ = reply.send(r.map_err(Into::into));
            }
            Command::Ack { seq, reply } => {
                let r = self.core.session_mut().ack(now, seq);
                self.pump().await;
                let _ = reply.send(r.map_err(Into::into));
            }
            Command::Ping { reply } => {
                if let Err((e, reply)) = self.core.ping(at, reply) {
                    let _ = reply.send(Err(e.into()));
                }
            }
            Command::Close { reply } => {
                let r = self.core.session_mut().close(now, "client.close");
                // Answer once the bye is out and the snapshot shows the close.
                self.pump().await;
                let _ = reply.send(r.map_err(Into::into));
            }
            Command::DropTransport { reply } => {
                if let Some(t) = self.transport.take() {
                    t.close().await;
                    self.core.disconnected(
                        std::time::Instant::now(),
                        "transport dropped by the application",
                    );
                    self.schedule_reconnect("transport dropped by the application".into());
                    self.pump().await;
                }
                let _ = reply.send(Ok(()));
            }
            Command::SendRaw { frame, reply } => {
                let r = if self.transport.is_some() {
                    self.tap(TapEvent::Sent(&frame));
                    self.send_bytes(frame).await.map_err(ClientError::Transport)
                } else {
                    Err(ClientError::Transport("no transport".into()))
                };
                let _ = reply.send(r);
            }
            Command::Resume { reply } => match self.core.session().state() {
                ClientState::Open => {
                    let _ = reply.send(Ok(()));
                }
                ClientState::Closed => {
                    let _ = reply.send(Err(self.fail_error()));
                }
                ClientState::Handshaking => self.welcome_waiters.push(reply),
                ClientState::Disconnected => {
                    self.welcome_waiters.push(reply);
                    self.reconnect_at = None;
                    self.reconnect().await;
                }
            },
        }
    }
}

enum Wake {
    Command(Option<Command>),
    Capacity,
    Frame(Result<Vec<u8>, RecvError>),
    Timer,
}

async fn wait_blocked(blocked: &mut Option<Wait>) {
    if let Some(w) = blocked.as_mut() {
        w.await;
    }
}

async fn recv(transport: &mut Option<Transport>) -> Result<Vec<u8>, RecvError> {
    match transport.as_mut() {
        Some(t) => t.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<TokioInstant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
