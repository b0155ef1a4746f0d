//! [`ClientDriver`]: everything above one [`ClientSession`] that an adapter would otherwise
//! write itself, Sans-IO.
//!
//! The adapter feeds one input — a transport change ([`handle_connected`],
//! [`handle_disconnected`], [`handle_connect_failed`]), a frame ([`handle_frame`]), a due
//! deadline ([`handle_timeout`]), a [`Command`], room in a full queue ([`handle_room`]) — then
//! drains [`poll_output`] until it is `None` (writing each [`Output::Transmit`], closing or
//! opening the transport when told, handing each [`Output::Answer`] to the caller of its
//! [`Ticket`]) and asks [`poll_timeout`] last (the core's driving contract). It reads the
//! transport only while [`can_read`] is `true`; when [`blocked`] names a full queue it waits
//! for room there and calls [`handle_room`].
//!
//! [`handle_connected`]: ClientDriver::handle_connected
//! [`handle_disconnected`]: ClientDriver::handle_disconnected
//! [`handle_connect_failed`]: ClientDriver::handle_connect_failed
//! [`handle_frame`]: ClientDriver::handle_frame
//! [`handle_timeout`]: ClientDriver::handle_timeout
//! [`handle_room`]: ClientDriver::handle_room
//! [`poll_output`]: ClientDriver::poll_output
//! [`poll_timeout`]: ClientDriver::poll_timeout
//! [`can_read`]: ClientDriver::can_read
//! [`blocked`]: ClientDriver::blocked

use crate::retry::reconnect_delay;
use crate::route::{Blocked, BoundedSender, Discard, JobSink, Router};
use crate::{
    Answer, ClientError, ClientOptions, Clock, FrameTap, JobEventItem, JobInfo, JobOutcome,
    ResumeRetry, StreamItem, SubmitRequest, TapEvent, Target,
};
use arcp_proto::client::{
    ClientConfig, ClientEvent, ClientSession, ClientState, ListJobsRequest, RequestId, ResumeState,
};
use arcp_proto::time::WallClock;
use arcp_proto::wire::{Entropy, FeatureSet, JobId, SeededEntropy, SessionId};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Names one command; its [`Answer`] comes back with it in [`Output::Answer`].
pub type Ticket = u64;

/// A transport loss within this time after a welcome, with no new event, counts as a stall.
const STALL_WINDOW: Duration = Duration::from_secs(5);

/// What the application asks the session to do. `J` is the adapter's [`JobSink`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Command<J> {
    /// `job.submit`; answered by [`Answer::Job`] once `job.accepted` arrives, after which the
    /// job's events and end go to `sink`.
    Submit {
        /// The submit.
        req: SubmitRequest,
        /// Where the job's events and end go.
        sink: J,
    },
    /// `job.subscribe`; answered by [`Answer::Job`] once `job.subscribed` arrives. Replayed
    /// frames that come before the answer ([D9]) already go to `sink`.
    ///
    /// [D9]: arcp_proto::compat#d9--job-subscribed
    Subscribe {
        /// The job.
        job_id: JobId,
        /// Replay the job's history first.
        history: bool,
        /// Replay only after this seq.
        from_event_seq: Option<u64>,
        /// Where the job's events and end go.
        sink: J,
    },
    /// `job.cancel` with `reason` ([D6]: the reference runtime requires one). Answered
    /// [`Answer::Done`] once written, or, when `confirmed`, once the runtime has taken it: a
    /// `session.list_jobs` sent right after it is answered (the runtime answers in order),
    /// or its refusal as [`ClientError::Refused`] (e.g. `PERMISSION_DENIED`, [D7];
    /// `JOB_NOT_FOUND`, [D37]). Without `list_jobs` negotiated a confirmed cancel is answered
    /// once written.
    ///
    /// [D6]: arcp_proto::compat#d6--cancel
    /// [D7]: arcp_proto::compat#d7--who-may-cancel
    /// [D37]: arcp_proto::compat#d37--existence-leak
    Cancel {
        /// The job.
        job_id: JobId,
        /// The `reason` sent.
        reason: String,
        /// Wait for the runtime to take it.
        confirmed: bool,
    },
    /// `session.list_jobs`; answered by [`Answer::Jobs`].
    ListJobs(ListJobsRequest),
    /// `job.unsubscribe`; the job's stream ends. Answered [`Answer::Done`] once written.
    Unsubscribe(JobId),
    /// `session.ack`; answered [`Answer::Done`] once written.
    Ack(u64),
    /// `session.ping`; answered by [`Answer::Pong`].
    Ping,
    /// `session.bye` and close; answered [`Answer::Done`] once the bye is written.
    Close,
    /// Reconnect and resume now (after a drop, without automatic resume); answered
    /// [`Answer::Welcome`] (at once [`Answer::Done`] when the session is open).
    Resume,
    /// Drop the transport without `session.bye` (the session stays resumable); answered
    /// [`Answer::Done`].
    DropTransport,
}

/// What the adapter must do, in order. Deliberately exhaustive: an adapter must perform
/// every output, so a new one is a breaking change its match has to take up.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Write this frame on the transport (the tap has seen it).
    Transmit(Vec<u8>),
    /// Close the transport now; the driver already counts it as gone (do not call
    /// [`ClientDriver::handle_disconnected`] for it).
    CloseTransport,
    /// Open a new transport to the target, then call [`ClientDriver::handle_connected`] or
    /// [`ClientDriver::handle_connect_failed`].
    Connect,
    /// The answer to a command.
    Answer(Ticket, Answer),
    /// The session is closed for good (every answer and job end was delivered before).
    Closed,
}

/// A snapshot of the session for the application's getters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Where the session is.
    pub state: ClientState,
    /// The session id, once welcomed.
    pub session_id: Option<SessionId>,
    /// The latest resume token.
    pub resume_token: Option<String>,
    /// The negotiated features.
    pub features: FeatureSet,
    /// The highest session `event_seq` received.
    pub received_seq: u64,
    /// Welcomes received (the first and every resume).
    pub welcomes: u64,
}

/// The client driver: one session, its pending commands, job routing, the reconnect policy.
pub struct ClientDriver<J, U = Discard> {
    session: ClientSession,
    config: ClientConfig,
    clock: Clock,
    wall: WallClock,
    entropy: Box<dyn Entropy + Send>,
    retry: ResumeRetry,
    target: Target,
    auto_resume: bool,
    max_attempts: u32,
    first_delay: Duration,
    tap: Option<FrameTap>,
    /// What the current transport's hello resumes, kept for a retry.
    resuming: Option<ResumeState>,
    next_ticket: Ticket,
    submits: HashMap<RequestId, (Ticket, J)>,
    lists: HashMap<RequestId, Ticket>,
    /// A barrier list_jobs → the confirmed cancel it confirms.
    barriers: HashMap<RequestId, RequestId>,
    /// Confirmed cancels → their ticket.
    cancels: HashMap<RequestId, Ticket>,
    subs: HashMap<RequestId, (Ticket, JobId)>,
    pings: HashMap<String, Ticket>,
    welcome_waiters: Vec<Ticket>,
    router: Router<J, U>,
    queue: VecDeque<Output>,
    /// A transport is open (or being opened).
    transport: bool,
    connecting: bool,
    reconnect_at: Option<Instant>,
    attempts: u32,
    welcomed: Option<(Instant, u64)>,
    welcomes: u64,
    stalls: u32,
    close_error: Option<ClientError>,
    closed: bool,
    last_now: Instant,
}

impl<J, U> std::fmt::Debug for ClientDriver<J, U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientDriver")
            .field("session", &self.session)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl<J: JobSink, U: BoundedSender<StreamItem>> ClientDriver<J, U> {
    /// A driver of a new session (or one resuming `options.resume`), with core time 0 at
    /// `origin`, the wall time `unix_micros` at `origin`, `entropy` for ids and jitter, and
    /// `unrouted` for events of jobs without a handle. The first transport is the adapter's:
    /// open it, then call [`handle_connected`](Self::handle_connected).
    pub fn new(
        options: &ClientOptions,
        origin: Instant,
        unix_micros: i64,
        mut entropy: Box<dyn Entropy + Send>,
        unrouted: Option<U>,
    ) -> Self {
        let clock = Clock::new(origin);
        let wall = clock.wall(origin, unix_micros);
        let config = options.session_config();
        let seed = seed(&mut *entropy);
        let session = match options.resume.clone() {
            Some(r) => ClientSession::with_resume(config.clone(), wall, seed, r),
            None => ClientSession::new(config.clone(), wall, seed),
        };
        ClientDriver {
            session,
            config,
            clock,
            wall,
            entropy,
            // A new stdio child is a new runtime: a refused resume there is final.
            retry: if options.target.can_resume() {
                options.resume_retry.clone()
            } else {
                ResumeRetry::never()
            },
            target: options.target.clone(),
            auto_resume: options.auto_resume,
            max_attempts: options.max_reconnect_attempts.max(1),
            first_delay: options.reconnect_delay,
            tap: options.tap.clone(),
            resuming: None,
            next_ticket: 0,
            submits: HashMap::new(),
            lists: HashMap::new(),
            barriers: HashMap::new(),
            cancels: HashMap::new(),
            subs: HashMap::new(),
            pings: HashMap::new(),
            welcome_waiters: Vec::new(),
            router: Router::new(options.max_buffered_events, unrouted),
            queue: VecDeque::new(),
            transport: false,
            connecting: true,
            reconnect_at: None,
            attempts: 0,
            welcomed: None,
            welcomes: 0,
            stalls: 0,
            close_error: None,
            closed: false,
            last_now: origin,
        }
    }

    /// The session (getters only: every command goes through [`handle_command`](Self::handle_command)).
    pub fn session(&self) -> &ClientSession {
        &self.session
    }

    /// The clock mapping host instants to the core's.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// What the getters show.
    pub fn snapshot(&self) -> Snapshot {
        let s = &self.session;
        Snapshot {
            state: s.state(),
            session_id: s.session_id().cloned(),
            resume_token: s.resume_token().map(str::to_owned),
            features: s.features(),
            received_seq: s.last_event_seq(),
            welcomes: self.welcomes,
        }
    }

    /// A ticket whose [`Answer::Welcome`] (or failure) comes with the next welcome: the
    /// first connect waits on it.
    pub fn wait_welcome(&mut self) -> Ticket {
        let t = self.ticket();
        self.welcome_waiters.push(t);
        t
    }

    /// Reports a frame the adapter writes itself, bypassing the session (`send_raw`), to the
    /// frame tap.
    pub fn tap_sent(&self, frame: &[u8]) {
        self.tap(TapEvent::Sent(frame));
    }

    /// `true` while the transport may be read (fewer than `max_buffered_events` items wait
    /// for room: back-pressure).
    pub fn can_read(&self) -> bool {
        self.router.can_read()
    }

    /// The item the adapter must wait room for: deliver it itself (then call
    /// [`handle_room`](Self::handle_room)), or wait until its queue has room.
    pub fn blocked(&self) -> Option<Blocked<'_, J, U>> {
        self.router.blocked()
    }

    /// Items waiting for room.
    pub fn buffered(&self) -> usize {
        self.router.buffered()
    }

    /// `true` once the session is closed for good.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn ticket(&mut self) -> Ticket {
        self.next_ticket += 1;
        self.next_ticket
    }

    fn tap(&self, ev: TapEvent<'_>) {
        if let Some(t) = &self.tap {
            t(ev);
        }
    }

    fn answer(&mut self, t: Ticket, a: Answer) {
        self.queue.push_back(Output::Answer(t, a));
    }

    fn fail_error(&self) -> ClientError {
        self.close_error.clone().unwrap_or(ClientError::Closed)
    }

    fn at(&mut self, now: Instant) -> arcp_proto::time::Instant {
        self.last_now = self.last_now.max(now);
        self.clock.core(self.last_now)
    }

    // ----- transport inputs -----

    /// A transport is up: the hello (a resume when there is a session) is queued.
    pub fn handle_connected(&mut self, now: Instant) {
        let at = self.at(now);
        self.transport = true;
        self.connecting = false;
        self.resuming = self.session.resume_state();
        self.session.handle_connected(at);
    }

    /// Opening a transport (after [`Output::Connect`]) failed: retried by the policy,
    /// given up after the bounded attempts.
    pub fn handle_connect_failed(&mut self, now: Instant, why: &str) {
        self.at(now);
        self.connecting = false;
        if self.closed {
            return;
        }
        self.attempts += 1;
        if self.attempts >= self.max_attempts {
            self.give_up(why.to_owned());
        } else if self.auto_resume {
            self.schedule();
        } else {
            for t in std::mem::take(&mut self.welcome_waiters) {
                self.answer(t, Answer::Failed(ClientError::transport(why)));
            }
        }
    }

    /// The transport broke (read or write error, peer close, an inbound frame over the cap
    /// ([D35]: the session stays resumable)). Pending requests fail; the session reconnects
    /// by the policy.
    ///
    /// [D35]: arcp_proto::compat#d35--frame-size
    pub fn handle_disconnected(&mut self, now: Instant, why: &str) {
        self.at(now);
        if !self.transport {
            return;
        }
        self.lost(why);
    }

    fn lost(&mut self, why: &str) {
        self.transport = false;
        self.tap(TapEvent::Closed(why));
        let at = self.clock.core(self.last_now);
        self.session.handle_disconnected(at);
        for (_, t) in std::mem::take(&mut self.pings) {
            self.answer(
                t,
                Answer::Failed(ClientError::transport("connection lost before the answer")),
            );
        }
        self.schedule_after_loss(why);
    }

    /// After a loss: reconnect later (automatic resume), wait for `Resume`, or give up (a
    /// stdio child is a new runtime; a transport that keeps failing right after resuming).
    fn schedule_after_loss(&mut self, why: &str) {
        if self.closed || self.session.state() == ClientState::Closed {
            return;
        }
        // A transport that keeps failing right after each resume without delivering
        // anything (e.g. an oversized frame the runtime replays every time, D35) is given
        // up instead of looping forever.
        let seq = self.session.last_event_seq();
        match self.welcomed {
            Some((at, s))
                if s == seq && self.last_now.saturating_duration_since(at) < STALL_WINDOW =>
            {
                self.stalls += 1;
            }
            _ => self.stalls = 0,
        }
        if !self.target.can_resume() {
            self.give_up(why.to_owned());
        } else if self.stalls >= self.max_attempts {
            self.give_up(format!(
                "transport lost {} times right after resuming, without progress: {why}",
                self.stalls
            ));
        } else if self.auto_resume {
            self.schedule();
        } else {
            for t in std::mem::take(&mut self.welcome_waiters) {
                self.answer(t, Answer::Failed(ClientError::transport(why)));
            }
        }
    }

    fn schedule(&mut self) {
        let delay = reconnect_delay(self.first_delay, self.attempts, &mut *self.entropy);
        self.reconnect_at = Some(self.last_now + delay);
    }

    fn give_up(&mut self, why: String) {
        self.close_error = Some(ClientError::transport(why));
        let at = self.clock.core(self.last_now);
        let _ = self.session.close(at, "client.close");
    }

    /// One inbound frame (reported to the tap first).
    pub fn handle_frame(&mut self, now: Instant, bytes: &[u8]) {
        let at = self.at(now);
        self.tap(TapEvent::Received(bytes));
        self.session.handle_frame(at, bytes);
    }

    /// The host's timer fired: reconnects when one is due, runs the core's timeout when it
    /// is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let at = self.at(now);
        if self.reconnect_at.is_some_and(|t| t <= self.last_now) {
            self.reconnect_at = None;
            if !self.closed && !self.transport && self.session.state() == ClientState::Disconnected
            {
                self.connecting = true;
                self.queue.push_back(Output::Connect);
            }
        }
        if self.session.poll_timeout().is_some_and(|t| t <= at) {
            self.session.handle_timeout(at);
        }
    }

    /// The next deadline (the core's or a reconnect), as a host instant; ask it last.
    #[must_use = "sleep until this deadline, then call handle_timeout (the driving contract)"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let core = self.session.poll_timeout().map(|t| self.clock.host(t));
        match (core, self.reconnect_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The item [`blocked`](Self::blocked) named was delivered by the adapter (or its
    /// receiver is gone): delivery goes on.
    pub fn handle_room(&mut self, now: Instant) {
        self.at(now);
        self.router.front_sent();
        self.check_overflow();
    }

    fn check_overflow(&mut self) {
        while let Some(job) = self.router.overflowed_subscription() {
            self.router.remove(&job);
            let limit = self.router.max();
            let key = self
                .subs
                .iter()
                .find(|(_, (_, j))| *j == job)
                .map(|(k, _)| k.clone());
            if let Some((t, _)) = key.and_then(|k| self.subs.remove(&k)) {
                self.answer(t, Answer::Failed(ClientError::Overflow { limit }));
            }
            let at = self.clock.core(self.last_now);
            let _ = self.session.unsubscribe(at, &job);
            self.router.deliver();
        }
    }

    // ----- commands -----

    /// Feeds one command; its answer comes back with the returned ticket.
    pub fn handle_command(&mut self, now: Instant, cmd: Command<J>) -> Ticket {
        let at = self.at(now);
        let t = self.ticket();
        if self.closed && !matches!(cmd, Command::Close) {
            let e = self.fail_error();
            self.answer(t, Answer::Failed(e));
            return t;
        }
        match cmd {
            Command::Submit { req, sink } => match self.session.submit(at, req.into_core()) {
                Ok(id) => {
                    self.submits.insert(id, (t, sink));
                }
                Err(e) => self.answer(t, Answer::Failed(e.into())),
            },
            Command::Subscribe {
                job_id,
                history,
                from_event_seq,
                sink,
            } => {
                if self.router.has_route(&job_id) {
                    let e = arcp_proto::client::ApiError::AlreadySubscribed(job_id);
                    self.answer(t, Answer::Failed(e.into()));
                    return t;
                }
                match self.session.subscribe(at, &job_id, history, from_event_seq) {
                    Ok(id) => {
                        self.router.add(&job_id, sink, true);
                        self.subs.insert(id, (t, job_id));
                    }
                    Err(e) => self.answer(t, Answer::Failed(e.into())),
                }
            }
            Command::Cancel {
                job_id,
                reason,
                confirmed,
            } => match self.session.cancel(at, &job_id, Some(&reason)) {
                Ok(cancel) if confirmed => {
                    let barrier = ListJobsRequest {
                        limit: Some(1),
                        ..ListJobsRequest::default()
                    };
                    match self.session.list_jobs(at, barrier) {
                        Ok(list) => {
                            self.barriers.insert(list, cancel.clone());
                            self.cancels.insert(cancel, t);
                        }
                        // No barrier possible (list_jobs not negotiated, a bound): sent only.
                        Err(_) => self.answer(t, Answer::Done),
                    }
                }
                Ok(_) => self.answer(t, Answer::Done),
                Err(e) => self.answer(t, Answer::Failed(e.into())),
            },
            Command::ListJobs(req) => match self.session.list_jobs(at, req) {
                Ok(id) => {
                    self.lists.insert(id, t);
                }
                Err(e) => self.answer(t, Answer::Failed(e.into())),
            },
            Command::Unsubscribe(job_id) => match self.session.unsubscribe(at, &job_id) {
                Ok(_) => {
                    // Nothing of the job is delivered after this; its stream ends.
                    drop(self.router.remove(&job_id));
                    self.answer(t, Answer::Done);
                }
                Err(e) => self.answer(t, Answer::Failed(e.into())),
            },
            Command::Ack(seq) => {
                let a = match self.session.ack(at, seq) {
                    Ok(()) => Answer::Done,
                    Err(e) => Answer::Failed(e.into()),
                };
                self.answer(t, a);
            }
            Command::Ping => match self.session.ping(at) {
                Ok(nonce) => {
                    self.pings.insert(nonce, t);
                }
                Err(e) => self.answer(t, Answer::Failed(e.into())),
            },
            Command::Close => {
                let a = match self.session.close(at, "client.close") {
                    Ok(()) => Answer::Done,
                    Err(e) => Answer::Failed(e.into()),
                };
                self.answer(t, a);
            }
            Command::Resume => match self.session.state() {
                ClientState::Open => self.answer(t, Answer::Done),
                ClientState::Closed => {
                    let e = self.fail_error();
                    self.answer(t, Answer::Failed(e));
                }
                ClientState::Handshaking => self.welcome_waiters.push(t),
                ClientState::Disconnected => {
                    self.welcome_waiters.push(t);
                    self.reconnect_at = None;
                    if !self.connecting {
                        self.connecting = true;
                        self.queue.push_back(Output::Connect);
                    }
                }
            },
            Command::DropTransport => {
                if self.transport {
                    self.queue.push_back(Output::CloseTransport);
                    self.lost("transport dropped by the application");
                }
                self.answer(t, Answer::Done);
            }
        }
        t
    }

    // ----- outputs -----

    /// The next thing to do: transmits first, then answers and transport changes, then
    /// what the session's events bring.
    #[must_use = "drain poll_output until None (the driving contract)"]
    pub fn poll_output(&mut self) -> Option<Output> {
        loop {
            if let Some(frame) = self.session.poll_transmit() {
                let bytes = frame.encode();
                self.tap(TapEvent::Sent(&bytes));
                return Some(Output::Transmit(bytes));
            }
            if let Some(out) = self.queue.pop_front() {
                return Some(out);
            }
            if self.closed {
                return None;
            }
            let ev = self.session.poll_event()?;
            self.on_event(ev);
        }
    }

    fn on_event(&mut self, ev: ClientEvent) {
        match ev {
            ClientEvent::Welcome(info) => {
                self.retry.reset();
                self.attempts = 0;
                self.reconnect_at = None;
                self.welcomes += 1;
                self.welcomed = Some((self.last_now, self.session.last_event_seq()));
                for t in std::mem::take(&mut self.welcome_waiters) {
                    self.answer(t, Answer::Welcome(info.clone()));
                }
            }
            ClientEvent::HandshakeFailed { error, resuming } => {
                let state = self.resuming.clone().filter(|_| resuming);
                match (state, self.retry.next_delay(&error, resuming)) {
                    (Some(state), Some(delay)) => {
                        // Whatever was asked during the handshake is not answered.
                        self.fail_requests(|| {
                            ClientError::transport("connection lost before the answer")
                        });
                        // The refused session is closed: a fresh one resumes the same state
                        // (its own events, a Closed, are dropped with it). WIRE.md §6: a new
                        // transport after `delay`.
                        let seed = seed(&mut *self.entropy);
                        self.session =
                            ClientSession::with_resume(self.config.clone(), self.wall, seed, state);
                        if self.transport {
                            self.transport = false;
                            self.queue.push_back(Output::CloseTransport);
                            self.tap(TapEvent::Closed("resume refused, retrying"));
                        }
                        self.reconnect_at = Some(self.last_now + delay);
                    }
                    _ => {
                        let err = ClientError::refused(&error);
                        for t in std::mem::take(&mut self.welcome_waiters) {
                            self.answer(t, Answer::Failed(err.clone()));
                        }
                        self.close_error = Some(err);
                    }
                }
            }
            ClientEvent::Accepted {
                request_id,
                job_id,
                accepted,
            } => {
                let Some((t, sink)) = request_id.and_then(|r| self.submits.remove(&r)) else {
                    return;
                };
                self.router.add(&job_id, sink, false);
                let info = JobInfo::from_accepted(job_id, accepted);
                self.answer(t, Answer::Job(Box::new(info)));
            }
            ClientEvent::Jobs { request_id, jobs } => {
                let Some(id) = request_id else { return };
                if let Some(t) = self.lists.remove(&id) {
                    self.answer(t, Answer::Jobs(jobs));
                } else if let Some(cancel) = self.barriers.remove(&id)
                    && let Some(t) = self.cancels.remove(&cancel)
                {
                    self.answer(t, Answer::Done);
                }
            }
            ClientEvent::Subscribed {
                request_id,
                subscribed,
            } => {
                let Some((t, job_id)) = request_id.and_then(|r| self.subs.remove(&r)) else {
                    return;
                };
                self.router.subscribed(&job_id);
                let info = JobInfo::from_subscribed(job_id, subscribed);
                self.answer(t, Answer::Job(Box::new(info)));
            }
            ClientEvent::Pong { nonce, rtt } => {
                if let Some(t) = self.pings.remove(&nonce) {
                    self.answer(t, Answer::Pong(rtt.unwrap_or_default()));
                }
            }
            ClientEvent::RequestFailed {
                request_id, error, ..
            } => {
                let err = ClientError::from_request(error, &self.fail_error());
                if let Some((t, _sink)) = self.submits.remove(&request_id) {
                    self.answer(t, Answer::Failed(err));
                } else if let Some(t) = self.lists.remove(&request_id) {
                    self.answer(t, Answer::Failed(err));
                } else if let Some((t, job)) = self.subs.remove(&request_id) {
                    drop(self.router.remove(&job));
                    self.answer(t, Answer::Failed(err));
                } else if let Some(cancel) = self.barriers.remove(&request_id) {
                    // The barrier itself failed: the cancel was sent and not refused so far.
                    if let Some(t) = self.cancels.remove(&cancel) {
                        self.answer(t, Answer::Done);
                    }
                } else if let Some(t) = self.cancels.remove(&request_id) {
                    self.barriers.retain(|_, c| *c != request_id);
                    self.answer(t, Answer::Failed(err));
                }
            }
            ClientEvent::JobEvent {
                job_id,
                event_seq,
                space,
                event,
            } => {
                self.router.push(StreamItem::Event(JobEventItem {
                    job_id,
                    event_seq,
                    space,
                    event,
                }));
                self.check_overflow();
            }
            ClientEvent::Terminal {
                job_id,
                event_seq,
                space,
                outcome,
            } => {
                let o = JobOutcome::new(job_id, event_seq, space, outcome);
                self.router.push(StreamItem::Terminal(o));
                self.check_overflow();
            }
            ClientEvent::CloseTransport(_) => {
                if !self.transport {
                    return;
                }
                self.queue.push_back(Output::CloseTransport);
                if self.session.state() == ClientState::Closed {
                    // The session ended (bye, refused hello): no reconnect.
                    self.transport = false;
                    self.tap(TapEvent::Closed("session ended"));
                } else {
                    self.lost("closed by the client session");
                }
            }
            ClientEvent::Closed(_) => self.on_closed(),
            // Surfaced by the core for hosts that log; the answers and streams see their
            // effect.
            _ => {}
        }
    }

    /// Fails every pending request (not the welcome waiters).
    fn fail_requests(&mut self, err: impl Fn() -> ClientError) {
        let mut tickets: Vec<Ticket> = Vec::new();
        tickets.extend(self.submits.drain().map(|(_, (t, _))| t));
        tickets.extend(self.lists.drain().map(|(_, t)| t));
        tickets.extend(self.cancels.drain().map(|(_, t)| t));
        self.barriers.clear();
        for (_, (t, job)) in std::mem::take(&mut self.subs) {
            drop(self.router.remove(&job));
            tickets.push(t);
        }
        tickets.extend(self.pings.drain().map(|(_, t)| t));
        tickets.sort_unstable();
        for t in tickets {
            self.answer(t, Answer::Failed(err()));
        }
    }

    fn on_closed(&mut self) {
        self.closed = true;
        let err = self.fail_error();
        self.fail_requests(|| err.clone());
        for t in std::mem::take(&mut self.welcome_waiters) {
            self.answer(t, Answer::Failed(err.clone()));
        }
        self.router.close(&err);
        if self.transport {
            self.transport = false;
            self.queue.push_back(Output::CloseTransport);
            self.tap(TapEvent::Closed("session ended"));
        }
        self.reconnect_at = None;
        self.queue.push_back(Output::Closed);
    }
}

/// The entropy of a (re)built session, seeded from the driver's.
fn seed(entropy: &mut dyn Entropy) -> Box<dyn Entropy + Send> {
    // The low 64 bits: SeededEntropy is a splitmix64 stream.
    Box::new(SeededEntropy::new(entropy.next_u128() as u64))
}
