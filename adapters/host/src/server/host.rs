//! [`ServerHost`]: the driver's state, Sans-IO. It owns the [`Runtime`], the connection
//! table, the agent book, the store's pending batch and the effect results waiting to be fed;
//! the adapter's [`HostIo`] does the IO-specific actions and its wait loop does the waiting:
//!
//! 1. feed exactly one input: [`ServerHost::feed_ready`] (a queued effect result or a lost
//!    connection) or else one [`Input`] from the adapter's queue ([`ServerHost::feed`]), a
//!    completed store batch ([`ServerHost::store_done`]), or a wake-up;
//! 2. [`ServerHost::drain`]: `poll_transmit_encoded` (frames straight into the connection's bounded
//!    writer queue), then `poll_effect` (performed here when cheap, batched for the store
//!    when durable, handed to the adapter for agents and authentication; their results become
//!    later inputs), then `poll_event`, then the store batch is handed over;
//! 3. sleep until the earliest of an input, a store batch completing, [`ServerHost::poll_timeout`];
//! 4. on wake re-read the clock: [`ServerHost::fire_timeout`], and drain again if it fired.
//!
//! A writer queue that is full stops the drain ([`Drain::Blocked`]): the adapter waits
//! (bounded by `slow_consumer_timeout`) for room, reports with [`ServerHost::unblocked`] and
//! drains again. A queue that stays full marks a slow consumer: the connection is killed
//! (1008) and reported lost; its session stays resumable.

use super::agents::{AgentCall, AgentLink, AgentMsg, AgentTask, Agents};
use super::metrics::{MetricsHandle, ServerMetrics};
use super::options::Built;
use arcp_agents::{OsEntropy, Provisioner, wall_ms};
use arcp_auth::Authenticator;
use arcp_proto::runtime::{
    ConnId, Effect, EffectId, EffectOutcome, Runtime, RuntimeEvent, TransportKind,
};
use arcp_proto::time::Instant;
use arcp_sqlite::SqliteStore;
use arcp_sqlite::runtime::{Batch, Completion};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// An input from the adapter's queue (connection tasks, agent tasks, off-driver work).
#[derive(Debug)]
pub enum Input<P> {
    /// A transport connection opened; `ports` is how the adapter writes to it.
    Opened {
        /// The connection.
        conn: ConnId,
        /// WebSocket or stdio.
        kind: TransportKind,
        /// The adapter's writer handle.
        ports: P,
    },
    /// One complete inbound frame.
    Frame {
        /// The connection.
        conn: ConnId,
        /// The frame's bytes.
        bytes: Vec<u8>,
    },
    /// An inbound frame over the cap that the transport did not buffer (D35).
    Oversized {
        /// The connection.
        conn: ConnId,
        /// Its length (at least the cap plus one).
        len: usize,
    },
    /// The connection ended.
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// An agent task's call or exit.
    Agent(AgentMsg),
    /// Nothing to feed: the adapter wakes its driver to look at its own state (e.g. a
    /// shutdown request).
    Wake,
    /// The result of an effect performed off the driver (an authentication).
    EffectResult {
        /// The effect.
        id: EffectId,
        /// Its outcome.
        outcome: EffectOutcome,
    },
}

/// What a connection's writer is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// One encoded frame.
    Frame(Vec<u8>),
    /// Close with this WebSocket code (stdio: end the session) after the frames before it.
    Close(u16),
}

/// The answer of [`HostIo::send`].
#[derive(Debug)]
pub enum Delivery<W> {
    /// Queued.
    Queued,
    /// The queue is full: `W` is what the adapter waits on (e.g. its sender and the item).
    Full(W),
    /// The writer is gone.
    Closed,
}

/// The answer of [`HostIo::store`].
#[derive(Debug)]
pub enum Stored {
    /// Handed to the store thread; its [`Completion`] comes back through
    /// [`ServerHost::store_done`].
    Sent,
    /// Not taken (the thread is busy or gone): kept pending.
    Busy(Batch),
    /// Committed inline.
    Done(Completion),
}

/// The IO-specific actions of an adapter; `P` is its per-connection writer handle.
pub trait HostIo<P> {
    /// What a full writer queue hands back for the adapter's bounded wait.
    type Wait;
    /// Queues `out` on the connection's writer without waiting.
    fn send(&mut self, port: &P, out: Outbound) -> Delivery<Self::Wait>;
    /// Closes the connection at once with `code`, ahead of anything queued (slow consumer).
    fn kill(&mut self, port: P, code: u16);
    /// Queues a close with `code` if there is room, without waiting (shutdown).
    fn close(&mut self, port: P, code: u16);
    /// Spawns an agent job's task; `Err(message)` ends the job `INTERNAL_ERROR`.
    fn spawn_agent(&mut self, task: AgentTask) -> Result<(), String>;
    /// Runs `auth` on `token` off the driver (it may block) and feeds the answer back as
    /// [`Input::EffectResult`] (`arcp_auth::effect_outcome` shapes it); or answers inline
    /// with `Some(outcome)`.
    fn authenticate(
        &mut self,
        id: EffectId,
        auth: Arc<dyn Authenticator>,
        token: String,
    ) -> Option<EffectOutcome>;
    /// Hands a storage batch to the store.
    fn store(&mut self, batch: Batch) -> Stored;
}

/// How a [`ServerHost::drain`] ended.
#[derive(Debug)]
pub enum Drain<W> {
    /// Everything was drained.
    Done,
    /// A writer queue is full: wait (bounded) on `wait`, call [`ServerHost::unblocked`], then
    /// drain again.
    Blocked {
        /// The connection.
        conn: ConnId,
        /// What to wait on.
        wait: W,
    },
}

/// Results produced while draining, fed back one per loop turn.
#[derive(Debug)]
enum Local {
    Result(EffectId, EffectOutcome),
    Lost(ConnId),
}

/// The driver's state: see the module docs.
pub struct ServerHost<P> {
    rt: Runtime,
    conns: HashMap<ConnId, P>,
    auth: Arc<dyn Authenticator>,
    creds: Option<Provisioner>,
    agents: Agents,
    durable: bool,
    pending: Batch,
    inflight: bool,
    ready: VecDeque<Local>,
    /// The connection a drain stopped on, and whether the blocked item is its close.
    blocked: Option<(ConnId, bool)>,
    bytes_out: u64,
    metrics: MetricsHandle,
    sessions: HashMap<ConnId, tracing::Span>,
}

impl<P> std::fmt::Debug for ServerHost<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHost")
            .field("connections", &self.conns.len())
            .field("durable", &self.durable)
            .finish_non_exhaustive()
    }
}

/// The effect's kind, for spans.
fn effect_kind(e: &Effect) -> &'static str {
    match e {
        Effect::Authenticate { .. } => "authenticate",
        Effect::StartAgent(_) => "start_agent",
        Effect::CancelAgent { .. } => "cancel_agent",
        Effect::MintCredentials { .. } => "mint_credentials",
        Effect::RevokeCredential { .. } => "revoke_credential",
        Effect::CloseConnection { .. } => "close_connection",
        Effect::ReadEvents { .. } => "read_events",
        Effect::AppendEvents(_) => "append_events",
        Effect::PersistSession(_) => "persist_session",
        Effect::PersistJob(_) => "persist_job",
        Effect::PersistIdempotency(_) => "persist_idempotency",
        Effect::PersistCredential(_) => "persist_credential",
    }
}

impl<P> ServerHost<P> {
    /// The host of `built`'s runtime; agent tasks reach the driver through `link`.
    /// `credentials`: the in-process provisioner answers `MintCredentials`. Returns the
    /// opened store for the adapter's store thread (or inline use).
    pub fn new(
        built: Built,
        link: Arc<dyn AgentLink>,
        credentials: bool,
    ) -> (Self, Option<SqliteStore>) {
        let Built {
            runtime,
            store,
            registry,
            auth,
        } = built;
        let max_ends = runtime.config().bounds.max_retained_jobs;
        let metrics = MetricsHandle::default();
        metrics.publish(ServerMetrics {
            runtime: runtime.metrics(),
            bytes_out: 0,
        });
        let host = ServerHost {
            rt: runtime,
            conns: HashMap::new(),
            auth,
            creds: credentials.then(Provisioner::new),
            agents: Agents::new(registry, link, max_ends, credentials),
            durable: store.is_some(),
            pending: Batch::default(),
            inflight: false,
            ready: VecDeque::new(),
            blocked: None,
            bytes_out: 0,
            metrics,
            sessions: HashMap::new(),
        };
        (host, store)
    }

    /// The runtime (read-only).
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// Live connections in the table.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Running agent tasks.
    pub fn agents_running(&self) -> usize {
        self.agents.running()
    }

    /// The shared metrics snapshot (updated after every drain).
    pub fn metrics(&self) -> MetricsHandle {
        self.metrics.clone()
    }

    /// Step 1: feeds one queued result (an effect result or a lost connection); `false` when
    /// none is queued (then wait for an input).
    pub fn feed_ready(&mut self, now: Instant) -> bool {
        match self.ready.pop_front() {
            Some(Local::Result(id, outcome)) => self.rt.handle_effect_result(now, id, outcome),
            Some(Local::Lost(conn)) => {
                self.sessions.remove(&conn);
                self.rt.handle_connection_closed(now, conn);
            }
            None => return false,
        }
        true
    }

    /// Step 1: feeds one input.
    pub fn feed(&mut self, now: Instant, input: Input<P>) {
        match input {
            Input::Opened { conn, kind, ports } => {
                self.conns.insert(conn, ports);
                self.rt.handle_connection_opened(now, conn, kind);
            }
            Input::Frame { conn, bytes } => self.rt.handle_frame(now, conn, &bytes),
            Input::Oversized { conn, len } => self.rt.handle_oversized_frame(now, conn, len),
            Input::Closed { conn } => {
                self.conns.remove(&conn);
                if let Some(span) = self.sessions.remove(&conn) {
                    tracing::debug!(parent: &span, "connection closed");
                }
                self.rt.handle_connection_closed(now, conn);
            }
            Input::Agent(AgentMsg::Call { job_id, call }) => match call {
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
            Input::Agent(AgentMsg::Exited { job_id }) => self.agents.exited(&job_id),
            Input::EffectResult { id, outcome } => self.rt.handle_effect_result(now, id, outcome),
            Input::Wake => {}
        }
    }

    /// A store batch committed: its results are queued as inputs.
    pub fn store_done(&mut self, done: Completion) {
        self.inflight = false;
        self.ready
            .extend(done.into_iter().map(|(id, o)| Local::Result(id, o)));
    }

    /// A batch is with the store thread (wait for its completion).
    pub fn store_inflight(&self) -> bool {
        self.inflight
    }

    /// The core's next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.rt.poll_timeout()
    }

    /// Step 4: calls `handle_timeout` when the deadline has passed at `now`; `true` if it
    /// did (drain again).
    pub fn fire_timeout(&mut self, now: Instant) -> bool {
        if self.rt.poll_timeout().is_some_and(|d| d <= now) {
            self.rt.handle_timeout(now);
            return true;
        }
        false
    }

    /// Step 2: transmits, then effects, then events, each until `None`; then the store batch
    /// is handed over and the metrics published. Stops at a full writer queue.
    pub fn drain<I: HostIo<P>>(&mut self, io: &mut I) -> Drain<I::Wait> {
        let out = self.drain_inner(io);
        self.publish();
        out
    }

    fn drain_inner<I: HostIo<P>>(&mut self, io: &mut I) -> Drain<I::Wait> {
        // The ring's bytes: each seq-bearing frame is encoded once, by the core.
        while let Some((conn, bytes)) = self.rt.poll_transmit_encoded() {
            let bytes = bytes.to_vec();
            self.bytes_out = self
                .bytes_out
                .saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
            if let Some(wait) = self.send(io, conn, Outbound::Frame(bytes), false) {
                return Drain::Blocked { conn, wait };
            }
        }
        while let Some((id, effect)) = self.rt.poll_effect() {
            if let Some(blocked) = self.perform(io, id, effect) {
                return blocked;
            }
        }
        while let Some(ev) = self.rt.poll_event() {
            match &ev {
                RuntimeEvent::JobEnded { .. } => self.agents.job_ended(&ev),
                RuntimeEvent::SessionExpired { session_id } => {
                    tracing::debug!(session_id = %session_id, "session expired");
                    if self.durable {
                        self.pending.delete_session(session_id.clone());
                    }
                }
                RuntimeEvent::SessionOpened {
                    conn,
                    session_id,
                    principal,
                    resumed,
                } => {
                    let span = tracing::info_span!(
                        "arcp.session",
                        session_id = %session_id,
                        principal = %principal,
                    );
                    tracing::info!(parent: &span, resumed = *resumed, "session opened");
                    self.sessions.insert(*conn, span);
                }
                _ => {}
            }
        }
        self.flush(io);
        Drain::Done
    }

    /// The blocked item of the last [`Drain::Blocked`] was queued (`delivered`) or its wait
    /// timed out (the connection is killed 1008 and reported lost).
    pub fn unblocked<I: HostIo<P>>(&mut self, io: &mut I, delivered: bool) {
        if let Some((conn, close)) = self.blocked.take() {
            if !delivered {
                self.lose(io, conn);
            } else if close {
                self.conns.remove(&conn);
            }
        }
    }

    /// Hands the pending storage batch to the store when none is in flight.
    pub fn flush<I: HostIo<P>>(&mut self, io: &mut I) {
        if !self.durable || self.inflight || self.pending.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        match io.store(batch) {
            Stored::Sent => self.inflight = true,
            Stored::Busy(b) => self.pending = b,
            Stored::Done(done) => self
                .ready
                .extend(done.into_iter().map(|(id, o)| Local::Result(id, o))),
        }
    }

    /// Shutdown: cancels every agent, queues a close (1000) on every connection and hands
    /// the pending batch to the store. The adapter then waits while
    /// [`Self::store_inflight`], calling [`Self::store_done`] and [`Self::flush`].
    pub fn shutdown<I: HostIo<P>>(&mut self, io: &mut I) {
        self.agents.shutdown();
        for (_, port) in self.conns.drain() {
            io.close(port, 1000);
        }
        self.sessions.clear();
        self.flush(io);
    }

    fn publish(&self) {
        self.metrics.publish(ServerMetrics {
            runtime: self.rt.metrics(),
            bytes_out: self.bytes_out,
        });
    }

    /// Queues `out`; `Some(wait)` when the queue is full (the drain stops).
    fn send<I: HostIo<P>>(
        &mut self,
        io: &mut I,
        conn: ConnId,
        out: Outbound,
        close: bool,
    ) -> Option<I::Wait> {
        let port = self.conns.get(&conn)?;
        match io.send(port, out) {
            Delivery::Queued => {
                if close {
                    // The writer closes after the queued frames; the reader reports `Closed`.
                    self.conns.remove(&conn);
                }
                None
            }
            Delivery::Closed => {
                self.lose(io, conn);
                None
            }
            Delivery::Full(wait) => {
                self.blocked = Some((conn, close));
                Some(wait)
            }
        }
    }

    /// A slow or gone consumer: kill it now (1008) and report it lost.
    fn lose<I: HostIo<P>>(&mut self, io: &mut I, conn: ConnId) {
        if let Some(port) = self.conns.remove(&conn) {
            tracing::debug!(conn = conn.0, "connection dropped: slow consumer");
            io.kill(port, 1008);
            self.ready.push_back(Local::Lost(conn));
        }
    }

    fn perform<I: HostIo<P>>(
        &mut self,
        io: &mut I,
        id: EffectId,
        effect: Effect,
    ) -> Option<Drain<I::Wait>> {
        let span = match &effect {
            Effect::StartAgent(s) => tracing::debug_span!(
                "arcp.effect",
                effect = effect_kind(&effect),
                job_id = %s.job_id,
                principal = %s.principal,
            ),
            Effect::CancelAgent { job_id }
            | Effect::MintCredentials { job_id, .. }
            | Effect::RevokeCredential { job_id, .. } => {
                tracing::debug_span!("arcp.effect", effect = effect_kind(&effect), job_id = %job_id)
            }
            Effect::Authenticate { conn, .. } | Effect::CloseConnection { conn, .. } => {
                let parent = self.sessions.get(conn).and_then(tracing::Span::id);
                tracing::debug_span!(parent: parent, "arcp.effect", effect = effect_kind(&effect), conn = conn.0)
            }
            _ => tracing::trace_span!("arcp.effect", effect = effect_kind(&effect)),
        };
        let _entered = span.enter();
        if self.durable && self.pending.push(Some(id), &effect) {
            return None;
        }
        let outcome = match effect {
            // Off the driver (answered later as an input) unless the adapter answers inline.
            Effect::Authenticate { token, .. } => io.authenticate(id, self.auth.clone(), token)?,
            Effect::StartAgent(start) => match self.agents.task(*start) {
                Ok((cancel, task)) => {
                    let job_id = task.job_id.clone();
                    match io.spawn_agent(task) {
                        Ok(()) => {
                            self.agents.started(job_id, cancel);
                            EffectOutcome::Done
                        }
                        Err(message) => EffectOutcome::Failed { message },
                    }
                }
                Err(message) => EffectOutcome::Failed { message },
            },
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
                let close = Outbound::Close(reason.websocket_code());
                if let Some(wait) = self.send(io, conn, close, true) {
                    self.ready.push_back(Local::Result(id, EffectOutcome::Done));
                    return Some(Drain::Blocked { conn, wait });
                }
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
        None
    }
}
