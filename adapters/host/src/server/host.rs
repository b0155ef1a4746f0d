//! [`ServerHost`]: the driver's state, Sans-IO, in the core's dialect. It owns the
//! [`Runtime`], the set of live connections, the agent book, the store's pending batch and
//! the effect results waiting to be fed. It reads no clock and no RNG: every input carries
//! `now`, and the wall-clock anchor and the entropy are given at construction.
//!
//! # The driving contract
//!
//! 1. Feed exactly one input: a `handle_*` call ([`ServerHost::handle_input`] feeds one
//!    [`Input`] of the adapter's queue; [`ServerHost::handle_store_done`] a committed batch).
//! 2. Drain [`ServerHost::poll_action`] until `None`, performing each [`Action`]. Draining
//!    takes the runtime's transmits, then its effects (performed here when cheap, batched
//!    for the store when durable, handed out for agents and authentication), then its
//!    events, then hands out the store batch; then it feeds the next effect result waiting
//!    (a store completion, an authentication, a lost connection) and starts over. The
//!    answers to the adapter's own actions (`handle_effect_result` for a spawn or an
//!    authentication, `handle_store_done` for an inline batch, the `handle_writer_*`
//!    signals) may be given during the drain: they are queued, never fed mid-drain.
//! 3. Ask [`ServerHost::poll_timeout`] last (draining can change it).
//! 4. Sleep until the earliest of an input, a store batch completing, the deadline.
//! 5. On wake, re-read the clock and call [`ServerHost::handle_timeout`] (a no-op before the
//!    deadline); drain again when it returns `true`.
//!
//! The [`MetricsHandle`] snapshot is published at most every 5 ms of `now`: a change arms a
//! deadline in [`ServerHost::poll_timeout`] and [`ServerHost::handle_timeout`] publishes, so
//! an idle host publishes its last change too, and a busy one pays for a snapshot at most
//! 200 times a second (not after every drain).
//!
//! # Backpressure: held jobs
//!
//! A job whose session's buffer is full waits (`Runtime::job_held`): its agent's emits are
//! parked here, unfed and unanswered, so the agent's `emit` does not return. After every
//! drain the host feeds the parked emits of each job no longer held, in order, answering
//! each; a job that is held again keeps the rest parked. A job's parked emits are at most
//! as many as its agent has in flight at once (one for an agent that awaits each emit).
//!
//! # Writers and slow consumers
//!
//! [`Action::Transmit`] and [`Action::Close`] go to the connection's bounded writer queue.
//! When it is full the adapter says so ([`ServerHost::handle_writer_full`]); today's policy
//! is that the adapter then waits, at most `slow_consumer_timeout`, for room, and reports
//! [`ServerHost::handle_writer_ready`] (the item was queued) or
//! [`ServerHost::handle_writer_lost`] (it stayed full, or the writer is gone): the host hands
//! back [`Action::Kill`] with 1008 and reports the connection closed to the runtime; its
//! session stays resumable.

use super::action::{Action, Input};
use super::agents::{AgentCall, AgentLink, AgentMsg, Agents, SharedEntropy};
use super::metrics::{MetricsHandle, ServerMetrics};
use super::options::Built;
use arcp_agents::Provisioner;
use arcp_auth::Authenticator;
use arcp_proto::runtime::{
    AgentEvent, AgentReply, ConnId, Effect, EffectId, EffectOutcome, Runtime, RuntimeEvent,
    TransportKind,
};
use arcp_proto::time::{Instant, WallClock};
use arcp_proto::wire::{Entropy, ErrorPayload, JobId};
use arcp_sqlite::SqliteStore;
use arcp_sqlite::runtime::{Batch, Completion};
use futures_channel::oneshot;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Results produced while draining, fed back one per drain.
#[derive(Debug)]
enum Local {
    Result(EffectId, EffectOutcome),
    Lost(ConnId),
}

/// An agent emit waiting for its job to be released, and where its answer goes.
type ParkedEmit = (
    AgentEvent,
    oneshot::Sender<Result<AgentReply, ErrorPayload>>,
);

/// How long after a change the metrics snapshot is published.
const PUBLISH_AFTER: std::time::Duration = std::time::Duration::from_millis(5);

/// The driver's state: see the module docs.
pub struct ServerHost {
    rt: Runtime,
    /// Live connections; `true` once a close was handed out (no shutdown close then).
    conns: HashMap<ConnId, bool>,
    /// Connections whose writer queue is full.
    full: HashSet<ConnId>,
    auth: Arc<dyn Authenticator>,
    creds: Option<Provisioner>,
    entropy: SharedEntropy,
    wall: WallClock,
    /// The wall time rotated secrets are minted at (credential provisioning on).
    unix_ms: Option<Arc<AtomicU64>>,
    agents: Agents,
    /// Emits of held jobs, in arrival order, not yet fed (see the module docs).
    parked: HashMap<JobId, VecDeque<ParkedEmit>>,
    /// `StartAgent` effects handed out, by job, until their result.
    starting: HashMap<EffectId, JobId>,
    durable: bool,
    pending: Batch,
    inflight: bool,
    ready: VecDeque<Local>,
    actions: VecDeque<Action>,
    shutting_down: bool,
    now: Instant,
    bytes_out: u64,
    metrics: MetricsHandle,
    /// When the next metrics snapshot is due (a change since the last one).
    publish_at: Option<Instant>,
    sessions: HashMap<ConnId, tracing::Span>,
    /// The retained-bytes figure last logged (logged again when it changes).
    logged_retained: Option<u64>,
}

impl std::fmt::Debug for ServerHost {
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
        _ => "other",
    }
}

impl ServerHost {
    /// The host of `built`'s runtime at `now`; agent tasks reach the driver through `link`.
    /// `credentials`: the in-process provisioner answers `MintCredentials` (and rotates
    /// secrets) with ids from `entropy` at the wall time of `built.wall`. Returns the opened
    /// store for the adapter's store thread (or inline use).
    pub fn new(
        now: Instant,
        built: Built,
        link: Arc<dyn AgentLink>,
        credentials: bool,
        entropy: Box<dyn Entropy + Send>,
    ) -> (Self, Option<SqliteStore>) {
        let Built {
            runtime,
            store,
            registry,
            auth,
            wall,
            max_job_end_bytes,
        } = built;
        let max_ends = runtime.config().bounds.max_retained_jobs;
        let entropy: SharedEntropy = Arc::new(Mutex::new(entropy));
        let unix_ms = credentials.then(|| Arc::new(AtomicU64::new(wall.unix_millis_at(now))));
        let rotations = unix_ms.clone().map(|w| (w, entropy.clone()));
        let mut host = ServerHost {
            rt: runtime,
            conns: HashMap::new(),
            full: HashSet::new(),
            auth,
            creds: credentials.then(Provisioner::new),
            entropy,
            wall,
            unix_ms,
            agents: Agents::new(registry, link, max_ends, max_job_end_bytes, rotations),
            parked: HashMap::new(),
            starting: HashMap::new(),
            durable: store.is_some(),
            pending: Batch::default(),
            inflight: false,
            ready: VecDeque::new(),
            actions: VecDeque::new(),
            shutting_down: false,
            now,
            bytes_out: 0,
            metrics: MetricsHandle::default(),
            publish_at: Some(now),
            sessions: HashMap::new(),
            logged_retained: None,
        };
        host.publish_metrics();
        (host, store)
    }

    /// The runtime (read-only).
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// Live connections (a handed-out close counts until the reader reports the end).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Connections whose writer queue was reported full and not yet ready again.
    pub fn writers_full(&self) -> usize {
        self.full.len()
    }

    /// Running agent tasks.
    pub fn agents_running(&self) -> usize {
        self.agents.running()
    }

    /// Jobs whose agent waits in `emit` because the job is held (its session's buffer is
    /// full).
    pub fn jobs_waiting(&self) -> usize {
        self.parked.len()
    }

    /// The shared metrics snapshot (published at most 5 ms after a change).
    pub fn metrics(&self) -> MetricsHandle {
        self.metrics.clone()
    }

    /// A store batch is with the store (wait for its completion before shutting down).
    pub fn store_inflight(&self) -> bool {
        self.inflight
    }

    fn at(&mut self, now: Instant) {
        self.now = now;
        if self.publish_at.is_none() {
            self.publish_at = Some(now + PUBLISH_AFTER);
        }
        if let Some(w) = &self.unix_ms {
            w.store(self.wall.unix_millis_at(now), Ordering::Relaxed);
        }
    }

    /// A transport connection opened.
    pub fn handle_connection_opened(&mut self, now: Instant, conn: ConnId, kind: TransportKind) {
        self.at(now);
        self.conns.insert(conn, false);
        self.rt.handle_connection_opened(now, conn, kind);
    }

    /// One complete inbound frame.
    pub fn handle_frame(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        self.at(now);
        self.rt.handle_frame(now, conn, bytes);
    }

    /// An inbound frame of `len` bytes over the cap that the transport did not buffer (D35).
    pub fn handle_oversized(&mut self, now: Instant, conn: ConnId, len: usize) {
        self.at(now);
        self.rt.handle_oversized_frame(now, conn, len);
    }

    /// The connection ended (its reader saw the end).
    pub fn handle_connection_closed(&mut self, now: Instant, conn: ConnId) {
        self.at(now);
        self.conns.remove(&conn);
        self.full.remove(&conn);
        if let Some(span) = self.sessions.remove(&conn) {
            tracing::debug!(parent: &span, "connection closed");
        }
        self.rt.handle_connection_closed(now, conn);
    }

    /// An agent task's call (answered at once on its reply channel) or exit.
    pub fn handle_agent(&mut self, now: Instant, msg: AgentMsg) {
        self.at(now);
        match msg {
            AgentMsg::Call { job_id, call } => match call {
                AgentCall::Emit(ev, reply) => {
                    // A held job's emit waits, unfed, until the job is released.
                    if let Some(q) = self.parked.get_mut(&job_id) {
                        q.push_back((ev, reply));
                    } else if self.rt.job_held(&job_id) {
                        self.parked
                            .entry(job_id)
                            .or_default()
                            .push_back((ev, reply));
                    } else {
                        let _ = reply.send(self.rt.handle_agent_event(now, &job_id, ev));
                    }
                }
                AgentCall::Authorize(op, reply) => {
                    let _ = reply.send(self.rt.authorize(now, &job_id, &op));
                }
                AgentCall::Budget(reply) => {
                    let _ = reply.send(self.rt.job_budget(&job_id));
                }
            },
            AgentMsg::Exited { job_id } => self.agents.exited(&job_id),
        }
    }

    /// The result of an effect handed out ([`Action::Authenticate`], [`Action::SpawnAgent`]):
    /// queued, fed by the next drain.
    pub fn handle_effect_result(&mut self, now: Instant, id: EffectId, outcome: EffectOutcome) {
        self.at(now);
        self.ready.push_back(Local::Result(id, outcome));
    }

    /// The [`Action::Store`] batch committed: its results are queued, fed by the next drains.
    pub fn handle_store_done(&mut self, now: Instant, done: Completion) {
        self.at(now);
        self.inflight = false;
        self.ready
            .extend(done.into_iter().map(|(id, o)| Local::Result(id, o)));
    }

    /// Calls the runtime's `handle_timeout` when its deadline has passed at `now`, and
    /// publishes the metrics when due (a no-op before either). `true` when the runtime's
    /// deadline fired (drain then; otherwise there is nothing new to drain).
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        let fired = self.rt.poll_timeout().is_some_and(|d| d <= now);
        if fired {
            self.at(now);
            self.rt.handle_timeout(now);
        }
        if self.publish_at.is_some_and(|d| d <= now) {
            self.publish_metrics();
        }
        fired
    }

    /// `conn`'s writer queue is full: the transmit or close just handed out is held by the
    /// adapter.
    pub fn handle_writer_full(&mut self, conn: ConnId) {
        if self.conns.contains_key(&conn) {
            self.full.insert(conn);
        }
    }

    /// `conn`'s writer took the held item.
    pub fn handle_writer_ready(&mut self, conn: ConnId) {
        self.full.remove(&conn);
    }

    /// `conn`'s writer is gone or stayed full too long (a slow consumer): the host hands back
    /// [`Action::Kill`] (1008) and reports the connection closed to the runtime (its session
    /// stays resumable).
    pub fn handle_writer_lost(&mut self, now: Instant, conn: ConnId) {
        self.at(now);
        self.full.remove(&conn);
        if self.conns.remove(&conn).is_some() {
            tracing::debug!(conn = conn.0, "connection dropped: slow consumer");
            self.actions.push_back(Action::Kill { conn, code: 1008 });
            self.ready.push_back(Local::Lost(conn));
        }
    }

    /// Feeds one item of the adapter's input queue; returns the writer handle of an opened
    /// connection for the adapter's table. On [`Input::Closed`] the adapter drops that
    /// connection's writer handle (its writer then ends).
    pub fn handle_input<P>(&mut self, now: Instant, input: Input<P>) -> Option<(ConnId, P)> {
        match input {
            Input::Opened { conn, kind, ports } => {
                self.handle_connection_opened(now, conn, kind);
                return Some((conn, ports));
            }
            Input::Frame { conn, bytes } => self.handle_frame(now, conn, &bytes),
            Input::Oversized { conn, len } => self.handle_oversized(now, conn, len),
            Input::Closed { conn } => self.handle_connection_closed(now, conn),
            Input::Agent(msg) => self.handle_agent(now, msg),
            Input::EffectResult { id, outcome } => self.handle_effect_result(now, id, outcome),
            Input::Wake => {}
        }
        None
    }

    /// Shutdown: cancels every agent, hands back a close (1000) for every connection and the
    /// pending store batch; nothing more is fed to the runtime. The adapter performs the
    /// closes only where there is room, then waits while [`Self::store_inflight`], feeding
    /// [`Self::handle_store_done`] and draining (the next batch).
    pub fn handle_shutdown(&mut self, now: Instant) {
        self.at(now);
        self.shutting_down = true;
        self.agents.shutdown();
        // Their agents are cancelled: the parked emits are answered by dropping them.
        self.parked.clear();
        let mut open: Vec<ConnId> = self
            .conns
            .drain()
            .filter(|(_, closing)| !closing)
            .map(|(c, _)| c)
            .collect();
        open.sort_unstable();
        self.actions.extend(
            open.into_iter()
                .map(|conn| Action::Close { conn, code: 1000 }),
        );
        self.sessions.clear();
    }

    /// The next deadline (the core's, or a metrics snapshot due); ask it last, after
    /// draining.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.rt.poll_timeout(), self.publish_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next thing to do, `None` once drained (see the module docs for the order).
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        loop {
            if let Some(a) = self.actions.pop_front() {
                return Some(a);
            }
            if self.shutting_down {
                return self.flush().map(Action::Store);
            }
            // The ring's bytes: each seq-bearing frame is encoded once, by the core.
            if let Some((conn, bytes)) = self.rt.poll_transmit_encoded() {
                self.bytes_out = self
                    .bytes_out
                    .saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
                return Some(Action::Transmit { conn, bytes });
            }
            if let Some((id, effect)) = self.rt.poll_effect() {
                if let Some(a) = self.perform(id, effect) {
                    return Some(a);
                }
                continue;
            }
            if let Some(ev) = self.rt.poll_event() {
                self.on_event(&ev);
                continue;
            }
            if let Some(batch) = self.flush() {
                return Some(Action::Store(batch));
            }
            // Drained: release held jobs, else feed the next queued result, then drain what
            // it produced.
            if self.release_parked() {
                continue;
            }
            match self.ready.pop_front() {
                Some(Local::Result(id, outcome)) => {
                    if let Some(job_id) = self.starting.remove(&id)
                        && matches!(outcome, EffectOutcome::Failed { .. })
                    {
                        self.agents.exited(&job_id);
                    }
                    self.rt.handle_effect_result(self.now, id, outcome);
                }
                Some(Local::Lost(conn)) => {
                    self.sessions.remove(&conn);
                    self.rt.handle_connection_closed(self.now, conn);
                }
                None => return None,
            }
        }
    }

    /// Feeds the parked emits of every job no longer held, in order, until it is held again;
    /// `true` when any was fed.
    fn release_parked(&mut self) -> bool {
        if self.parked.is_empty() {
            return false;
        }
        let mut fed = false;
        let jobs: Vec<JobId> = self.parked.keys().cloned().collect();
        for job_id in jobs {
            while !self.rt.job_held(&job_id) {
                let Some((ev, reply)) = self.parked.get_mut(&job_id).and_then(VecDeque::pop_front)
                else {
                    break;
                };
                let _ = reply.send(self.rt.handle_agent_event(self.now, &job_id, ev));
                fed = true;
            }
            if self.parked.get(&job_id).is_some_and(VecDeque::is_empty) {
                self.parked.remove(&job_id);
            }
        }
        fed
    }

    /// Publishes the metrics snapshot now (`handle_timeout` does when it is due).
    pub fn publish_metrics(&mut self) {
        self.publish_at = None;
        let m = ServerMetrics {
            runtime: self.rt.metrics(),
            bytes_out: self.bytes_out,
            job_end_bytes: u64::try_from(self.agents.job_end_bytes()).unwrap_or(u64::MAX),
        };
        let retained = m.retained_bytes();
        if self.logged_retained != Some(retained) {
            self.logged_retained = Some(retained);
            // The figure a test (or an operator) follows: `RUST_LOG=arcp_host::retained=info`.
            tracing::info!(
                target: "arcp_host::retained",
                retained_bytes = retained,
                resumable_ring_bytes = m.runtime.resumable_ring_bytes,
                job_end_bytes = m.job_end_bytes,
                "retained bytes"
            );
        }
        self.metrics.publish(m);
    }

    fn on_event(&mut self, ev: &RuntimeEvent) {
        match ev {
            RuntimeEvent::JobEnded { .. } => self.agents.job_ended(ev),
            RuntimeEvent::SessionExpired { session_id } => {
                tracing::debug!(session_id = %session_id, "session expired");
                if self.durable {
                    self.pending.delete_session(session_id);
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

    /// The pending storage batch, when one is due and none is in flight.
    fn flush(&mut self) -> Option<Batch> {
        if !self.durable || self.inflight || self.pending.is_empty() {
            return None;
        }
        self.inflight = true;
        Some(std::mem::take(&mut self.pending))
    }

    fn span(&self, effect: &Effect) -> tracing::Span {
        match effect {
            Effect::StartAgent(s) => tracing::debug_span!(
                "arcp.effect",
                effect = effect_kind(effect),
                job_id = %s.job_id,
                principal = %s.principal,
            ),
            Effect::CancelAgent { job_id }
            | Effect::MintCredentials { job_id, .. }
            | Effect::RevokeCredential { job_id, .. } => {
                tracing::debug_span!("arcp.effect", effect = effect_kind(effect), job_id = %job_id)
            }
            Effect::Authenticate { conn, .. } | Effect::CloseConnection { conn, .. } => {
                let parent = self.sessions.get(conn).and_then(tracing::Span::id);
                tracing::debug_span!(parent: parent, "arcp.effect", effect = effect_kind(effect), conn = conn.0)
            }
            _ => tracing::trace_span!("arcp.effect", effect = effect_kind(effect)),
        }
    }

    /// Performs `effect` here, or hands it out as an action; its result is queued.
    fn perform(&mut self, id: EffectId, effect: Effect) -> Option<Action> {
        let span = self.span(&effect);
        let _entered = span.enter();
        if self.durable && self.pending.push(Some(id), &effect) {
            return None;
        }
        let outcome = match effect {
            // Off the driver: answered later with `handle_effect_result`.
            Effect::Authenticate { token, .. } => {
                let auth = self.auth.clone();
                return Some(Action::Authenticate { id, auth, token });
            }
            Effect::StartAgent(start) => match self.agents.task(id, *start) {
                Ok((cancel, task)) => {
                    self.agents.started(task.job_id.clone(), cancel);
                    self.starting.insert(id, task.job_id.clone());
                    return Some(Action::SpawnAgent(task));
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
                Some(p) => {
                    let unix_ms = self.wall.unix_millis_at(self.now);
                    match self.entropy.lock() {
                        Ok(mut e) => p.mint(unix_ms, &mut **e, &lease, lease_constraints.as_ref()),
                        Err(poisoned) => p.mint(
                            unix_ms,
                            &mut **poisoned.into_inner(),
                            &lease,
                            lease_constraints.as_ref(),
                        ),
                    }
                }
                None => EffectOutcome::Minted {
                    credentials: Vec::new(),
                },
            },
            // The in-process provisioner's credentials are honoured nowhere else.
            Effect::RevokeCredential { .. } => EffectOutcome::Done,
            Effect::CloseConnection { conn, reason } => {
                self.ready.push_back(Local::Result(id, EffectOutcome::Done));
                return match self.conns.get_mut(&conn) {
                    Some(closing) if !*closing => {
                        *closing = true;
                        Some(Action::Close {
                            conn,
                            code: reason.websocket_code(),
                        })
                    }
                    _ => None,
                };
            }
            // Without a durable store the runtime emits none of these; answer them anyway.
            Effect::ReadEvents { .. } => EffectOutcome::EventsRead { frames: Vec::new() },
            Effect::AppendEvents(_)
            | Effect::PersistSession(_)
            | Effect::PersistJob(_)
            | Effect::PersistIdempotency(_)
            | Effect::PersistCredential(_) => EffectOutcome::Done,
            // An effect a later core adds that this host does not perform.
            _ => EffectOutcome::Failed {
                message: "effect not supported by this host".to_owned(),
            },
        };
        self.ready.push_back(Local::Result(id, outcome));
        None
    }
}
