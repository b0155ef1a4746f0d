//! The ONE thread that owns the [`Runtime`], following the driving contract:
//!
//! 1. feed exactly one input (a frame, a connection event, an agent call, an effect result, a
//!    timeout);
//! 2. drain `poll_transmit` (frames go straight into the connection's bounded writer queue),
//!    then `poll_effect` (storage effects are collected into one batch, committed on this
//!    thread once the pass is drained; agents start on their own threads), then `poll_event`;
//! 3. ask `poll_timeout` last;
//! 4. block on the input queue with `recv_timeout` until the deadline;
//! 5. on wake re-read the clock and call `handle_timeout` once the deadline has passed.

use super::host::AgentThreads;
use arcp_agents::Provisioner;
pub(crate) use arcp_agents::wall_ms;
use arcp_agents::{OsEntropy, TokenTable};
use arcp_proto::lease::Operation;
use arcp_proto::runtime::{
    AgentEvent, AgentReply, ConnId, Effect, EffectId, EffectOutcome, Runtime, RuntimeEvent,
    TransportKind,
};
use arcp_proto::time::{Instant, WallClock};
use arcp_proto::wire::{Budget, ErrorPayload};
use arcp_sqlite::SqliteStore;
use arcp_sqlite::runtime::{Batch, run_batch};
use std::collections::{HashMap, VecDeque};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a connection's writer is asked to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// One encoded frame.
    Frame(Vec<u8>),
    /// Close with this WebSocket code after the frames before it.
    Close(u16),
}

/// The driver's view of a live connection.
#[derive(Debug)]
pub(crate) struct ConnPorts {
    /// In-order frames and the final close (bounded).
    pub(crate) out: SyncSender<Outbound>,
    /// The socket, shut down at once for a slow consumer (`None` for stdio).
    pub(crate) tcp: Option<TcpStream>,
}

/// A one-shot answer channel.
pub(crate) type Reply<T> = SyncSender<T>;

/// An input to the driver, from connection threads, agent threads and the server handle.
#[derive(Debug)]
pub(crate) enum Input {
    /// A transport connection opened.
    Opened {
        conn: ConnId,
        kind: TransportKind,
        ports: ConnPorts,
    },
    /// One complete inbound frame.
    Frame { conn: ConnId, bytes: Vec<u8> },
    /// An inbound frame over the cap that the transport did not buffer (D35).
    Oversized { conn: ConnId, len: usize },
    /// The connection ended.
    Closed { conn: ConnId },
    /// A running agent calls into the runtime.
    Agent { job_id: String, call: AgentCall },
    /// An agent thread returned.
    AgentExited { job_id: String },
    /// Stop: cancel agents, close connections, then answer.
    Shutdown { done: Reply<()> },
}

/// An agent's call, answered on its reply channel.
#[derive(Debug)]
pub(crate) enum AgentCall {
    Emit(AgentEvent, Reply<Result<AgentReply, ErrorPayload>>),
    Authorize(Operation, Reply<Result<(), ErrorPayload>>),
    Budget(Reply<Option<Budget>>),
}

/// The host's monotonic clock as the core's [`Instant`], and the wall-clock anchor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// How long from `now` until the core's deadline `at` (zero when passed).
    fn until(&self, at: Instant) -> Duration {
        (self.origin + Duration::from_micros(at.as_micros()))
            .saturating_duration_since(std::time::Instant::now())
    }

    pub(crate) fn wall(&self, now: Instant) -> WallClock {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        WallClock::new(now, micros)
    }
}

/// Effect results produced while draining, fed back one per loop turn.
enum Local {
    Result(EffectId, EffectOutcome),
    Lost(ConnId),
}

/// The durable store, used on the driver thread: one transaction per drain pass.
pub(crate) struct Store {
    pub(crate) db: SqliteStore,
    pub(crate) read_limit: usize,
    pending: Batch,
}

impl Store {
    pub(crate) fn new(db: SqliteStore, read_limit: usize) -> Self {
        Store {
            db,
            read_limit,
            pending: Batch::default(),
        }
    }
}

/// Everything the driver thread owns.
pub(crate) struct Driver {
    pub(crate) rt: Runtime,
    pub(crate) clock: Clock,
    pub(crate) rx: Receiver<Input>,
    pub(crate) conns: HashMap<ConnId, ConnPorts>,
    pub(crate) auth: TokenTable,
    pub(crate) creds: Option<Provisioner>,
    pub(crate) store: Option<Store>,
    pub(crate) agents: AgentThreads,
    /// How long a full writer queue may hold the driver before the connection is dropped.
    pub(crate) send_timeout: Duration,
    ready: VecDeque<Local>,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        rt: Runtime,
        clock: Clock,
        rx: Receiver<Input>,
        auth: TokenTable,
        creds: Option<Provisioner>,
        store: Option<Store>,
        agents: AgentThreads,
        send_timeout: Duration,
    ) -> Self {
        Driver {
            rt,
            clock,
            rx,
            conns: HashMap::new(),
            auth,
            creds,
            store,
            agents,
            send_timeout,
            ready: VecDeque::new(),
        }
    }

    /// Runs until [`Input::Shutdown`] (or every sender is gone).
    pub(crate) fn run(mut self) {
        self.drain();
        loop {
            let local = self.ready.pop_front();
            let input = match local {
                Some(l) => Ok(Err(l)),
                None => {
                    // Step 4: the read timeout is derived from `poll_timeout`.
                    match self.rt.poll_timeout() {
                        Some(d) => self.rx.recv_timeout(self.clock.until(d)).map(Ok),
                        None => self
                            .rx
                            .recv()
                            .map(Ok)
                            .map_err(|_| RecvTimeoutError::Disconnected),
                    }
                }
            };
            let now = self.clock.now();
            match input {
                Ok(Err(Local::Result(id, outcome))) => {
                    self.rt.handle_effect_result(now, id, outcome)
                }
                Ok(Err(Local::Lost(conn))) => self.rt.handle_connection_closed(now, conn),
                Ok(Ok(Input::Shutdown { done })) => {
                    self.shutdown();
                    let _ = done.send(());
                    return;
                }
                Ok(Ok(i)) => self.feed(now, i),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.drain();
            // Step 5: on wake, re-read the clock; an expired deadline is its own input.
            let now = self.clock.now();
            if self.rt.poll_timeout().is_some_and(|d| d <= now) {
                self.rt.handle_timeout(now);
                self.drain();
            }
        }
    }

    fn feed(&mut self, now: Instant, input: Input) {
        match input {
            Input::Opened { conn, kind, ports } => {
                self.conns.insert(conn, ports);
                self.rt.handle_connection_opened(now, conn, kind);
            }
            Input::Frame { conn, bytes } => self.rt.handle_frame(now, conn, &bytes),
            Input::Oversized { conn, len } => self.rt.handle_oversized_frame(now, conn, len),
            Input::Closed { conn } => {
                self.conns.remove(&conn);
                self.rt.handle_connection_closed(now, conn);
            }
            Input::Agent { job_id, call } => match call {
                AgentCall::Emit(ev, reply) => {
                    let _ = reply.send(self.rt.handle_agent_event(now, &job_id, ev));
                }
                AgentCall::Authorize(op, reply) => {
                    let _ = reply.send(self.rt.authorize(now, &job_id, &op));
                }
                AgentCall::Budget(reply) => {
                    let _ = reply.send(self.rt.job_budget(&job_id));
                }
            },
            Input::AgentExited { job_id } => self.agents.exited(&job_id),
            Input::Shutdown { .. } => {}
        }
    }

    /// Step 2: transmits, then effects, then events, each until `None`; then the pass's
    /// storage batch commits (its results are later inputs).
    fn drain(&mut self) {
        while let Some((conn, frame)) = self.rt.poll_transmit() {
            self.send(conn, Outbound::Frame(frame.encode()));
        }
        while let Some((id, effect)) = self.rt.poll_effect() {
            self.perform(id, effect);
        }
        while let Some(ev) = self.rt.poll_event() {
            match &ev {
                RuntimeEvent::JobEnded { .. } => self.agents.job_ended(&ev),
                RuntimeEvent::SessionExpired { session_id } => {
                    if let Some(s) = &mut self.store {
                        s.pending.delete_session(session_id.clone());
                    }
                }
                _ => {}
            }
        }
        if let Some(s) = &mut self.store
            && !s.pending.is_empty()
        {
            let batch = std::mem::take(&mut s.pending);
            let done = run_batch(&mut s.db, batch, s.read_limit);
            self.ready
                .extend(done.into_iter().map(|(id, o)| Local::Result(id, o)));
        }
    }

    /// Queues `out` on the connection's writer. A queue that stays full for `send_timeout`
    /// marks a slow consumer: the socket is shut down at once and the connection reported lost.
    fn send(&mut self, conn: ConnId, out: Outbound) {
        let Some(ports) = self.conns.get(&conn) else {
            return;
        };
        let deadline = std::time::Instant::now() + self.send_timeout;
        let mut out = out;
        let sent = loop {
            match ports.out.try_send(out) {
                Ok(()) => break true,
                Err(TrySendError::Disconnected(_)) => break false,
                Err(TrySendError::Full(o)) => {
                    if std::time::Instant::now() >= deadline {
                        break false;
                    }
                    out = o;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        };
        if !sent && let Some(ports) = self.conns.remove(&conn) {
            if let Some(tcp) = &ports.tcp {
                let _ = tcp.shutdown(Shutdown::Both);
            }
            self.ready.push_back(Local::Lost(conn));
        }
    }

    fn perform(&mut self, id: EffectId, effect: Effect) {
        if let Some(store) = &mut self.store
            && store.pending.push(Some(id), &effect)
        {
            return;
        }
        let outcome = match effect {
            Effect::Authenticate { token, .. } => self.auth.authenticate(&token),
            Effect::StartAgent(start) => self.agents.start(*start),
            Effect::CancelAgent { job_id } => {
                self.agents.cancel(&job_id);
                EffectOutcome::Done
            }
            Effect::MintCredentials {
                lease,
                lease_constraints,
                ..
            } => match &mut self.creds {
                Some(p) => p.mint(
                    wall_ms(),
                    &mut OsEntropy,
                    &lease,
                    lease_constraints.as_ref(),
                ),
                None => EffectOutcome::Minted {
                    credentials: Vec::new(),
                },
            },
            // The in-process provisioner's credentials are honoured nowhere else.
            Effect::RevokeCredential { .. } => EffectOutcome::Done,
            Effect::CloseConnection { conn, reason } => {
                self.send(conn, Outbound::Close(reason.websocket_code()));
                // The writer closes after the queued frames; the reader reports `Closed`.
                self.conns.remove(&conn);
                EffectOutcome::Done
            }
            // Without a durable store the runtime emits none of these; answer them anyway.
            Effect::ReadEvents { .. } => EffectOutcome::EventsRead { frames: Vec::new() },
            Effect::AppendEvents(_)
            | Effect::PersistSession(_)
            | Effect::PersistJob(_)
            | Effect::PersistIdempotency(_)
            | Effect::PersistCredential(_) => EffectOutcome::Done,
        };
        self.ready.push_back(Local::Result(id, outcome));
    }

    /// Cancels every agent, closes every connection (1000) and commits what is pending.
    fn shutdown(&mut self) {
        self.agents.shutdown();
        for (_, ports) in self.conns.drain() {
            let _ = ports.out.try_send(Outbound::Close(1000));
        }
        if let Some(s) = &mut self.store
            && !s.pending.is_empty()
        {
            let batch = std::mem::take(&mut s.pending);
            let _ = run_batch(&mut s.db, batch, s.read_limit);
        }
    }
}
