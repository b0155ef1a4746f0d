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
//! A job waits (`Runtime::job_held`) while its session's buffer is full or the runtime's
//! table of effects awaiting results is: its agent's emits are parked here, unfed and
//! unanswered, so the agent's `emit` does not return. After every
//! drain the host feeds the parked emits of each job no longer held, in order, answering
//! each; a job that is held again keeps the rest parked. A job's parked emits are at most
//! as many as its agent has in flight at once: an agent posts the events of its stream
//! without waiting, at most [`EMIT_WINDOW`](super::EMIT_WINDOW) in a row, and only while
//! its job's [`EmitGate`](super::EmitGate) is open; the host shuts the gate once the job is
//! held, so the agent's next emit waits for its answer, parked until the job is released.
//!
//! # Writers and slow consumers: the driver never waits on one connection
//!
//! [`Action::Transmit`] and [`Action::Close`] go to the connection's bounded writer queue,
//! without waiting. When it is full the adapter gives the refused item back
//! ([`ServerHost::handle_writer_full`]) and asks the connection's writer to wake the driver
//! once it has taken an item ([`Input::WriterReady`]). From then on the connection is
//! *stalled*: it stops receiving from the driver (the runtime keeps its frames, in order,
//! still counted against `max_transmit_queue`; the host keeps the refused item and a close
//! due after it), and every other connection proceeds. [`ServerHost::handle_writer_ready`]
//! (the wakeup) hands the kept items out again, in order. A connection stalled for
//! `slow_consumer_timeout` without its writer taking anything is cut: a deadline in
//! [`ServerHost::poll_timeout`], not a wait; [`ServerHost::handle_timeout`] hands back
//! [`Action::Kill`] with 1008 and reports the connection closed to the runtime; its session
//! stays resumable. A writer that is gone is reported with [`ServerHost::handle_writer_lost`]
//! (the same kill, at once).

use super::action::{Action, Input, Outbound};
use super::agents::{AgentCall, AgentLink, AgentMsg, Agents, EmitGate, SharedEntropy};
use super::cluster::FeedLedger;
use super::credentials::{
    CredentialProvisioner, DemoProvisioner, MintRequest, Unrevoked, UnrevokedCredential,
};
use super::metrics::{MetricsHandle, ServerMetrics};
use super::options::Built;
use arcp_auth::Authenticator;
use arcp_proto::runtime::{
    AgentEvent, AgentReply, ConnId, Effect, EffectId, EffectOutcome, Runtime, RuntimeEvent,
    TransportKind,
};
use arcp_proto::time::{Instant, WallClock};
use arcp_proto::wire::{Entropy, ErrorPayload, JobId};
use arcp_store::Store;
use arcp_store::cluster::ClusterWatch;
use arcp_store::runtime::{Batch, Completion};
use futures_channel::oneshot;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Results produced while draining, fed back one per drain.
#[derive(Debug)]
enum Local {
    Result(EffectId, EffectOutcome),
    Lost(ConnId),
}

/// A connection whose writer queue is full.
#[derive(Debug)]
struct Stall {
    /// The item the writer refused, then a close due after it (at most two items: the
    /// runtime keeps the connection's frames meanwhile, and a connection is closed once).
    held: VecDeque<Outbound>,
    /// Cut (1008) unless the writer takes something before this.
    deadline: Instant,
}

/// Where a parked emit's answer goes: the agent waiting for it, or (a posted event, already
/// answered) the job's gate, shut when the event is refused.
#[derive(Debug)]
enum Answer {
    Reply(oneshot::Sender<Result<AgentReply, ErrorPayload>>),
    Posted(Arc<EmitGate>),
}

/// An agent emit waiting for its job to be released, and where its answer goes.
type ParkedEmit = (AgentEvent, Answer);

/// How long after a change the metrics snapshot is published.
const PUBLISH_AFTER: std::time::Duration = std::time::Duration::from_millis(5);

/// The driver's state: see the module docs.
pub struct ServerHost {
    pub(super) rt: Runtime,
    /// Live connections; `true` once a close was handed out (no shutdown close then).
    conns: HashMap<ConnId, bool>,
    /// Stalled connections (their writer queue is full): see the module docs.
    stalls: HashMap<ConnId, Stall>,
    /// How long a connection may stay stalled before it is cut (1008).
    slow_consumer_timeout: std::time::Duration,
    /// Closes of connections that were stalled, due once their kept frames are handed out.
    closes_after: VecDeque<(ConnId, u16)>,
    auth: Arc<dyn Authenticator>,
    creds: Option<Arc<dyn CredentialProvisioner>>,
    /// Credentials whose revocation failed for good (bounded), published with the metrics.
    unrevoked: Unrevoked,
    wall: WallClock,
    /// The wall time rotated secrets are minted at (credential provisioning on).
    unix_ms: Option<Arc<AtomicU64>>,
    agents: Agents,
    /// Emits of held jobs, in arrival order, not yet fed (see the module docs).
    parked: HashMap<JobId, VecDeque<ParkedEmit>>,
    /// `StartAgent` effects handed out, by job, until their result.
    starting: HashMap<EffectId, JobId>,
    durable: bool,
    pub(super) pending: Batch,
    inflight: bool,
    ready: VecDeque<Local>,
    actions: VecDeque<Action>,
    shutting_down: bool,
    now: Instant,
    bytes_out: u64,
    /// The transport-side counters published in [`ServerMetrics`].
    io: IoCounters,
    metrics: MetricsHandle,
    /// When the next metrics snapshot is due (a change since the last one).
    publish_at: Option<Instant>,
    sessions: HashMap<ConnId, tracing::Span>,
    /// The retained-bytes figure last logged (logged again when it changes).
    logged_retained: Option<u64>,
    /// The cluster's watch, until the adapter takes it ([`Self::take_cluster_watch`]).
    cluster: Option<Box<dyn ClusterWatch>>,
    /// Feed rows stamped here (see [`FeedLedger`]).
    pub(super) feed: FeedLedger,
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
        Effect::ClaimSession { .. } => "claim_session",
        Effect::ForwardJobMessage { .. } => "forward_job_message",
        Effect::ForwardCancel { .. } => "forward_cancel",
        _ => "other",
    }
}

impl ServerHost {
    /// The host of `built`'s runtime at `now`; agent tasks reach the driver through `link`.
    /// `credentials`: provisioning is on; the configured provisioner (or, in demo mode, the
    /// [`DemoProvisioner`] drawing from `entropy`) answers `MintCredentials` and
    /// `RevokeCredential` and rotates secrets, at the wall time of `built.wall`. Returns the opened
    /// store for the adapter's store thread (or inline use).
    pub fn new(
        now: Instant,
        built: Built,
        link: Arc<dyn AgentLink>,
        credentials: bool,
        entropy: Box<dyn Entropy + Send>,
    ) -> (Self, Option<Box<dyn Store>>) {
        let Built {
            runtime,
            store,
            registry,
            tools,
            auth,
            wall,
            provisioner,
            demo_credentials,
            slow_consumer_timeout,
            max_job_end_bytes,
            cluster,
        } = built;
        let max_ends = runtime.config().bounds.max_retained_jobs;
        let entropy: SharedEntropy = Arc::new(Mutex::new(entropy));
        let creds: Option<Arc<dyn CredentialProvisioner>> = match provisioner {
            Some(p) => Some(p),
            None if demo_credentials => {
                let demo: Arc<dyn CredentialProvisioner> =
                    Arc::new(DemoProvisioner::new(entropy.clone()));
                Some(demo)
            }
            None => None,
        }
        .filter(|_| credentials);
        let unix_ms = creds
            .is_some()
            .then(|| Arc::new(AtomicU64::new(wall.unix_millis_at(now))));
        let rotations = unix_ms.clone().zip(creds.clone());
        let mut host = ServerHost {
            rt: runtime,
            conns: HashMap::new(),
            stalls: HashMap::new(),
            slow_consumer_timeout,
            closes_after: VecDeque::new(),
            auth,
            creds,
            unrevoked: Unrevoked::default(),
            wall,
            unix_ms,
            agents: Agents::new(
                registry,
                tools,
                link,
                max_ends,
                max_job_end_bytes,
                rotations,
            ),
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
            io: IoCounters::default(),
            metrics: MetricsHandle::default(),
            publish_at: Some(now),
            sessions: HashMap::new(),
            logged_retained: None,
            cluster,
            feed: FeedLedger::default(),
        };
        host.publish_metrics();
        (host, store)
    }

    /// The cluster's watch, once: the adapter waits on it on a thread of its own and feeds
    /// each report as [`Input::Cluster`]. `None` outside a cluster (or once taken).
    pub fn take_cluster_watch(&mut self) -> Option<Box<dyn ClusterWatch>> {
        self.cluster.take()
    }

    /// The runtime (read-only).
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// Live connections (a handed-out close counts until the reader reports the end).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Stalled connections: their writer queue was reported full and has not taken an
    /// item since.
    pub fn writers_full(&self) -> usize {
        self.stalls.len()
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

    pub(super) fn at(&mut self, now: Instant) {
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
        inc(&mut self.io.connections_opened);
        self.rt.handle_connection_opened(now, conn, kind);
    }

    /// One complete inbound frame.
    pub fn handle_frame(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        self.at(now);
        inc(&mut self.io.frames_in);
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.io.bytes_in = self.io.bytes_in.saturating_add(len);
        self.rt.handle_frame(now, conn, bytes);
    }

    /// An inbound frame of `len` bytes over the cap that the transport did not buffer ([D35]).
    ///
    /// [D35]: arcp_proto::compat#d35--frame-size
    pub fn handle_oversized(&mut self, now: Instant, conn: ConnId, len: usize) {
        self.at(now);
        self.rt.handle_oversized_frame(now, conn, len);
    }

    /// The connection ended (its reader saw the end).
    pub fn handle_connection_closed(&mut self, now: Instant, conn: ConnId) {
        self.at(now);
        inc(&mut self.io.connections_closed);
        self.conns.remove(&conn);
        self.stalls.remove(&conn);
        if let Some(span) = self.sessions.remove(&conn) {
            tracing::debug!(parent: &span, "connection closed");
        }
        self.rt.handle_connection_closed(now, conn);
    }

    /// An agent task's call (answered at once on its reply channel) or exit.
    pub fn handle_agent(&mut self, now: Instant, msg: AgentMsg) {
        self.at(now);
        match msg {
            AgentMsg::Posted { gate, event } => {
                let answer = Answer::Posted(gate.clone());
                self.agent_emit(gate.job_id(), event, answer);
            }
            AgentMsg::Call { job_id, call } => match call {
                AgentCall::Emit(ev, reply) => self.agent_emit(&job_id, ev, Answer::Reply(reply)),
                AgentCall::Check(op, reply) => {
                    let _ = reply.send(self.rt.check_operation(now, &job_id, &op));
                }
                AgentCall::Budget(reply) => {
                    let _ = reply.send(self.rt.job_budget(&job_id));
                }
            },
            AgentMsg::Exited { job_id } => self.agents.exited(&job_id),
        }
    }

    /// An agent's emit: fed and answered, or (a held job's) parked, unfed, until the job is
    /// released. A posted event's gate is shut when it finds the job held (its agent's next
    /// emit waits) or it is refused.
    fn agent_emit(&mut self, job_id: &JobId, ev: AgentEvent, answer: Answer) {
        if let Some(q) = self.parked.get_mut(job_id) {
            q.push_back((ev, answer));
        } else if self.rt.job_held(job_id) {
            if let Answer::Posted(gate) = &answer {
                gate.shut();
            }
            self.parked
                .entry(job_id.clone())
                .or_default()
                .push_back((ev, answer));
        } else {
            let r = self.rt.handle_agent_event(self.now, job_id, ev);
            Self::answer(answer, r);
        }
    }

    /// Answers a fed emit.
    fn answer(answer: Answer, r: Result<AgentReply, ErrorPayload>) {
        match answer {
            Answer::Reply(reply) => {
                let _ = reply.send(r);
            }
            // Refused: the agent's next emit waits for its answer. (A job held by this
            // event shuts the gate when its next posted event arrives, parked.)
            Answer::Posted(gate) => {
                if r.is_err() {
                    gate.shut();
                }
            }
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
        let mut fired = self.rt.poll_timeout().is_some_and(|d| d <= now);
        if fired {
            self.at(now);
            self.rt.handle_timeout(now);
        }
        let mut cut: Vec<ConnId> = self
            .stalls
            .iter()
            .filter(|(_, s)| s.deadline <= now)
            .map(|(c, _)| *c)
            .collect();
        if !cut.is_empty() {
            cut.sort_unstable();
            for conn in cut {
                if self.conns.contains_key(&conn) {
                    inc(&mut self.io.slow_consumer_cuts);
                }
                self.handle_writer_lost(now, conn);
            }
            fired = true;
        }
        if self.publish_at.is_some_and(|d| d <= now) {
            self.publish_metrics();
        }
        fired
    }

    /// `conn`'s writer queue is full and refused `held`, the transmit or close just handed
    /// out: the connection is stalled (see the module docs) until
    /// [`Self::handle_writer_ready`], or cut at `now + slow_consumer_timeout`. A further
    /// report while stalled keeps the item after the held ones and leaves the deadline.
    pub fn handle_writer_full(&mut self, now: Instant, conn: ConnId, held: Outbound) {
        self.at(now);
        if !self.conns.contains_key(&conn) {
            return;
        }
        let deadline = now + self.slow_consumer_timeout;
        let stall = self.stalls.entry(conn).or_insert_with(|| Stall {
            held: VecDeque::new(),
            deadline,
        });
        stall.held.push_back(held);
        self.rt.pause_transmits(conn);
    }

    /// `conn`'s writer took an item since it was reported full (the wakeup): the items the
    /// host kept go out again, in order, then the frames the runtime kept, then a close due
    /// after them. A no-op when `conn` is not stalled.
    pub fn handle_writer_ready(&mut self, now: Instant, conn: ConnId) {
        self.at(now);
        let Some(stall) = self.stalls.remove(&conn) else {
            return;
        };
        self.rt.resume_transmits(conn);
        let mut frames = Vec::new();
        for out in stall.held {
            match out {
                Outbound::Frame(bytes) => frames.push(Action::Transmit { conn, bytes }),
                Outbound::Close(code) => self.closes_after.push_back((conn, code)),
            }
        }
        for a in frames.into_iter().rev() {
            self.actions.push_front(a);
        }
    }

    /// `conn`'s writer is gone (or it stayed stalled too long, from
    /// [`Self::handle_timeout`]): the host hands back [`Action::Kill`] (1008) and reports the
    /// connection closed to the runtime (its session stays resumable).
    pub fn handle_writer_lost(&mut self, now: Instant, conn: ConnId) {
        self.at(now);
        self.stalls.remove(&conn);
        if self.conns.remove(&conn).is_some() {
            tracing::debug!(conn = conn.0, "connection dropped: slow consumer");
            self.actions.push_back(Action::Kill { conn, code: 1008 });
            self.ready.push_back(Local::Lost(conn));
        }
    }

    /// A WebSocket text message on `conn` that is not UTF-8: closed 1007 without an error
    /// frame, the session stays resumable (stdio lines are bytes and go to
    /// [`Self::handle_frame`]).
    pub fn handle_invalid_text(&mut self, now: Instant, conn: ConnId) {
        self.at(now);
        self.rt.handle_invalid_text(now, conn);
    }

    /// Keeps a transmit or close for a stalled connection with its held items (`None`), or
    /// hands it out.
    fn divert(&mut self, action: Action) -> Option<Action> {
        let (conn, out) = match action {
            Action::Transmit { conn, bytes } => (conn, Outbound::Frame(bytes)),
            Action::Close { conn, code } => (conn, Outbound::Close(code)),
            other => return Some(other),
        };
        match self.stalls.get_mut(&conn) {
            Some(stall) => {
                stall.held.push_back(out);
                None
            }
            None => Some(match out {
                Outbound::Frame(bytes) => Action::Transmit { conn, bytes },
                Outbound::Close(code) => Action::Close { conn, code },
            }),
        }
    }

    /// Feeds one item of the adapter's input queue; returns the writer handle of an opened
    /// connection for the adapter's table. On [`Input::Closed`] the adapter drops that
    /// connection's writer handle (its writer then ends).
    pub fn handle_input<P>(&mut self, now: Instant, input: Input<P>) -> Option<(ConnId, P)> {
        match input {
            Input::Opened {
                conn,
                kind,
                carries_credentials,
                ports,
            } => {
                self.handle_connection_opened(now, conn, kind);
                if !carries_credentials {
                    self.rt.withhold_credentials(conn);
                }
                return Some((conn, ports));
            }
            Input::Frame { conn, bytes } => self.handle_frame(now, conn, &bytes),
            Input::Oversized { conn, len } => self.handle_oversized(now, conn, len),
            Input::Closed { conn } => self.handle_connection_closed(now, conn),
            Input::Agent(msg) => self.handle_agent(now, msg),
            Input::EffectResult { id, outcome } => self.handle_effect_result(now, id, outcome),
            Input::WriterReady { conn } => self.handle_writer_ready(now, conn),
            Input::InvalidText { conn } => self.handle_invalid_text(now, conn),
            Input::Wake => {}
            Input::Cluster(events) => self.handle_cluster(now, events),
        }
        None
    }

    /// Shutdown: cancels every agent, hands back a close (1000) for every connection and the
    /// pending store batch; nothing more is fed to the runtime. The adapter performs the
    /// closes only where there is room, then waits while [`Self::store_inflight`], feeding
    /// [`Self::handle_store_done`] and draining (the next batch).
    pub fn handle_shutdown(&mut self, now: Instant) {
        self.close_everything(now, 1000);
    }

    /// A drain's grace is over while jobs still run: each ends `INTERNAL_ERROR` (retryable)
    /// "runtime stopped" (`Runtime::handle_stopping`). Drain, wait for the store to commit
    /// (while [`Self::store_inflight`]), then [`Self::handle_going_away`].
    pub fn handle_stopping(&mut self, now: Instant) {
        self.at(now);
        self.rt.handle_stopping(now);
    }

    /// The end of a drain (the server stopped taking connections and waited for its jobs):
    /// as [`Self::handle_shutdown`], but every connection is closed 1001 (going away), which
    /// tells clients to reconnect elsewhere (another node behind the same balancer).
    pub fn handle_going_away(&mut self, now: Instant) {
        self.close_everything(now, 1001);
    }

    /// Cancels every agent and closes every open connection with `code`.
    fn close_everything(&mut self, now: Instant, code: u16) {
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
        self.stalls.clear();
        self.closes_after.clear();
        self.actions
            .extend(open.into_iter().map(|conn| Action::Close { conn, code }));
        self.sessions.clear();
    }

    /// The next deadline (the core's, or a metrics snapshot due); ask it last, after
    /// draining.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let stall = self.stalls.values().map(|s| s.deadline).min();
        [self.rt.poll_timeout(), self.publish_at, stall]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next thing to do, `None` once drained (see the module docs for the order).
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        loop {
            if let Some(a) = self.actions.pop_front() {
                match self.divert(a) {
                    Some(a) => return Some(a),
                    None => continue,
                }
            }
            if self.shutting_down {
                return self.flush().map(Action::Store);
            }
            // The ring's bytes: each seq-bearing frame is encoded once, by the core.
            if let Some((conn, bytes)) = self.rt.poll_transmit_encoded() {
                self.bytes_out = self
                    .bytes_out
                    .saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
                match self.divert(Action::Transmit { conn, bytes }) {
                    Some(a) => return Some(a),
                    None => continue,
                }
            }
            // Every frame of a connection no longer stalled is out: its close is due.
            if let Some((conn, code)) = self.closes_after.pop_front() {
                if let Some(a) = self.divert(Action::Close { conn, code }) {
                    return Some(a);
                }
                continue;
            }
            if let Some((id, effect)) = self.rt.poll_effect() {
                if let Some(a) = self.perform(id, effect).and_then(|a| self.divert(a)) {
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
                let Some((ev, answer)) = self.parked.get_mut(&job_id).and_then(VecDeque::pop_front)
                else {
                    break;
                };
                let r = self.rt.handle_agent_event(self.now, &job_id, ev);
                Self::answer(answer, r);
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
            unrevoked: self.unrevoked.snapshot(),
            unrevoked_dropped: self.unrevoked.dropped,
            job_end_bytes: u64::try_from(self.agents.job_end_bytes()).unwrap_or(u64::MAX),
            connections_opened: self.io.connections_opened,
            connections_open: self
                .io
                .connections_opened
                .saturating_sub(self.io.connections_closed),
            frames_in: self.io.frames_in,
            bytes_in: self.io.bytes_in,
            slow_consumer_cuts: self.io.slow_consumer_cuts,
            sessions_live: count(self.sessions.len()),
            sessions_resumable: count(self.rt.resumable_session_count()),
            jobs_running: count(self.agents.running()),
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
            RuntimeEvent::CredentialRevocationFailed {
                job_id,
                credential_id,
                message,
            } => {
                // Listed for operators, and signalled (a warning; counted by the core).
                self.unrevoked.push(UnrevokedCredential {
                    job_id: job_id.clone(),
                    credential_id: credential_id.clone(),
                    message: message.clone(),
                });
                self.signal(ev);
            }
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
            other => self.signal(other),
        }
    }

    /// The spec §14 operator signals as structured `tracing` events (target `arcp::audit`)
    /// with the principal, session and job ids the event carries; connection-scoped ones
    /// are emitted inside the connection's `arcp.session` span. Their counters are in
    /// [`ServerMetrics::runtime`].
    fn signal(&self, ev: &RuntimeEvent) {
        match ev {
            RuntimeEvent::SubscribeAudit {
                session_id,
                subscriber_principal,
                job_id,
                target_principal,
                decision,
            } => tracing::info!(
                target: "arcp::audit",
                session_id = %session_id,
                principal = %subscriber_principal,
                job_id = %job_id,
                target_principal = target_principal.as_deref().unwrap_or(""),
                decision = ?decision,
                "subscribe decided"
            ),
            RuntimeEvent::OperationRefused {
                job_id,
                principal,
                session_id,
                namespace,
                target,
                code,
            } => tracing::warn!(
                target: "arcp::audit",
                session_id = %session_id,
                principal = %principal,
                job_id = %job_id,
                namespace = %namespace,
                target = %target,
                code = %code,
                "operation refused by the lease"
            ),
            RuntimeEvent::LeaseExpired {
                job_id,
                principal,
                session_id,
            } => tracing::warn!(
                target: "arcp::audit",
                session_id = %session_id,
                principal = %principal,
                job_id = %job_id,
                "lease expired while the job was running"
            ),
            RuntimeEvent::LimitExceeded {
                conn,
                principal,
                limit,
            } => {
                let parent = self.sessions.get(conn).and_then(tracing::Span::id);
                tracing::warn!(
                    target: "arcp::audit",
                    parent: parent,
                    conn = conn.0,
                    principal = principal.as_deref().unwrap_or(""),
                    limit = limit.as_str(),
                    "limit hit"
                );
            }
            RuntimeEvent::HeartbeatLost { conn } => {
                let parent = self.sessions.get(conn).and_then(tracing::Span::id);
                tracing::warn!(target: "arcp::audit", parent: parent, conn = conn.0, "heartbeat lost");
            }
            RuntimeEvent::CredentialRevocationFailed {
                job_id,
                credential_id,
                message,
            } => tracing::warn!(
                target: "arcp::audit",
                job_id = %job_id,
                credential_id = %credential_id,
                error = %message,
                "credential revocation failed"
            ),
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
                Ok((running, task)) => {
                    self.agents.started(task.job_id.clone(), running);
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
                job_id,
                principal,
                lease,
                lease_constraints,
                budget,
                expires_at,
                trace_id,
                ..
            } => match &self.creds {
                Some(p) => {
                    let req = MintRequest {
                        job_id: &job_id,
                        principal: &principal,
                        lease: &lease,
                        lease_constraints: lease_constraints.as_ref(),
                        budget: budget.as_ref(),
                        expires_at: expires_at.as_ref(),
                        trace_id,
                        unix_ms: self.wall.unix_millis_at(self.now),
                    };
                    match p.mint(&req) {
                        Ok(credentials) => EffectOutcome::Minted { credentials },
                        Err(message) => EffectOutcome::Failed { message },
                    }
                }
                None => EffectOutcome::Minted {
                    credentials: Vec::new(),
                },
            },
            // The provisioner's answer; a failure is retried by the core, then reported.
            Effect::RevokeCredential {
                job_id,
                credential_id,
                value,
                ..
            } => match &self.creds {
                Some(p) => match p.revoke(&job_id, &credential_id, value.as_deref()) {
                    Ok(()) => EffectOutcome::Done,
                    Err(message) => EffectOutcome::Failed { message },
                },
                None => EffectOutcome::Failed {
                    message: "no credential provisioner is configured".to_owned(),
                },
            },
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

/// What the host counts of the transports (published in [`ServerMetrics`]).
#[derive(Debug, Default)]
struct IoCounters {
    connections_opened: u64,
    connections_closed: u64,
    frames_in: u64,
    bytes_in: u64,
    slow_consumer_cuts: u64,
}

fn inc(c: &mut u64) {
    *c = c.saturating_add(1);
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
