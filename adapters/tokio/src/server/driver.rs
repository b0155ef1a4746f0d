//! The ONE task that owns the [`Runtime`], following the driving contract:
//!
//! 1. feed exactly one input (a frame, a connection event, an agent call, an effect result, a
//!    timeout);
//! 2. drain `poll_transmit` (frames go straight into the connection's bounded writer queue),
//!    then `poll_effect` (performed here when cheap, on the store thread when durable, on agent
//!    tasks for `StartAgent`; their results become later inputs), then `poll_event`;
//! 3. ask `poll_timeout` last;
//! 4. sleep until the earliest of: an input, a store batch completing, the deadline;
//! 5. on wake re-read the clock and call `handle_timeout` once the deadline has passed.

use super::host::AgentTasks;
use super::store::StoreWorker;
use arcp_agents::{OsEntropy, Provisioner, TokenTable, wall_ms};
use arcp_proto::lease::Operation;
use arcp_proto::runtime::{
    AgentEvent, AgentReply, ConnId, Effect, EffectId, EffectOutcome, Runtime, RuntimeEvent,
    TransportKind,
};
use arcp_proto::time::{Instant, WallClock};
use arcp_proto::wire::{Budget, ErrorPayload};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// What a connection's writer is asked to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// One encoded frame.
    Frame(Vec<u8>),
    /// Close with this WebSocket code (stdio: end the session) after the frames before it.
    Close(u16),
}

/// The driver's view of a live connection.
#[derive(Debug)]
pub(crate) struct ConnPorts {
    /// In-order frames and the final close (bounded).
    pub(crate) out: mpsc::Sender<Outbound>,
    /// Immediate close (slow consumer, shutdown), ahead of anything queued.
    pub(crate) kill: oneshot::Sender<u16>,
}

/// An input to the driver, from connection tasks, agent tasks and the server handle.
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
    /// An agent task returned.
    AgentExited { job_id: String },
    /// An `Authenticate` effect answered off the driver (by `ServerBuilder::authenticator`).
    Authenticated {
        id: EffectId,
        outcome: EffectOutcome,
    },
    /// Stop: cancel agents, close connections, flush the store, then answer.
    Shutdown { done: oneshot::Sender<()> },
}

/// An agent's call, answered on its oneshot.
#[derive(Debug)]
pub(crate) enum AgentCall {
    Emit(
        AgentEvent,
        oneshot::Sender<Result<AgentReply, ErrorPayload>>,
    ),
    Authorize(Operation, oneshot::Sender<Result<(), ErrorPayload>>),
    Budget(oneshot::Sender<Option<Budget>>),
}

/// The host's monotonic clock as the core's [`Instant`], and the wall-clock anchor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: tokio::time::Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock {
            origin: tokio::time::Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    pub(crate) fn deadline(&self, at: Instant) -> tokio::time::Instant {
        self.origin + Duration::from_micros(at.as_micros())
    }

    /// Anchors `now` to the system's wall clock.
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

/// Everything the driver task owns.
pub(crate) struct Driver {
    pub(crate) rt: Runtime,
    pub(crate) clock: Clock,
    pub(crate) rx: mpsc::Receiver<Input>,
    pub(crate) conns: HashMap<ConnId, ConnPorts>,
    pub(crate) auth: TokenTable,
    pub(crate) creds: Option<Provisioner>,
    pub(crate) entropy: OsEntropy,
    pub(crate) store: Option<StoreWorker>,
    pub(crate) agents: AgentTasks,
    /// How long a full writer queue may hold the driver before the connection is dropped
    /// as a slow consumer.
    pub(crate) send_timeout: Duration,
    /// A custom authenticator, run on the blocking pool; its answer comes back as an input.
    pub(crate) external_auth: Option<(
        std::sync::Arc<dyn arcp_auth::Authenticator>,
        mpsc::WeakSender<Input>,
    )>,
    ready: VecDeque<Local>,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        rt: Runtime,
        clock: Clock,
        rx: mpsc::Receiver<Input>,
        auth: TokenTable,
        creds: Option<Provisioner>,
        store: Option<StoreWorker>,
        agents: AgentTasks,
        send_timeout: Duration,
    ) -> Self {
        Driver {
            rt,
            clock,
            rx,
            conns: HashMap::new(),
            auth,
            creds,
            entropy: OsEntropy,
            store,
            agents,
            send_timeout,
            external_auth: None,
            ready: VecDeque::new(),
        }
    }

    /// Runs until [`Input::Shutdown`] (or every sender is gone).
    pub(crate) async fn run(mut self) {
        // Whatever `restore` queued (the "runtime restarted" terminals, revocations).
        self.drain().await;
        loop {
            let input = match self.ready.pop_front() {
                Some(l) => Step::Local(l),
                None => self.wait().await,
            };
            let now = self.clock.now();
            match input {
                Step::Local(Local::Result(id, outcome)) => {
                    self.rt.handle_effect_result(now, id, outcome)
                }
                Step::Local(Local::Lost(conn)) => self.rt.handle_connection_closed(now, conn),
                Step::Store(done) => {
                    if let Some(s) = &mut self.store {
                        s.inflight = false;
                    }
                    // One result per loop turn: each is one input.
                    self.ready
                        .extend(done.into_iter().map(|(id, o)| Local::Result(id, o)));
                }
                Step::Timeout => {}
                Step::Input(None) => return,
                Step::Input(Some(Input::Shutdown { done })) => {
                    self.shutdown().await;
                    let _ = done.send(());
                    return;
                }
                Step::Input(Some(i)) => self.feed(now, i),
            }
            self.drain().await;
            // Step 5: on wake, re-read the clock; an expired deadline is its own input.
            let now = self.clock.now();
            if self.rt.poll_timeout().is_some_and(|d| d <= now) {
                self.rt.handle_timeout(now);
                self.drain().await;
            }
        }
    }

    /// Step 4: sleep until the earliest of an input, a store completion, the deadline.
    async fn wait(&mut self) -> Step {
        let deadline = self.rt.poll_timeout().map(|d| self.clock.deadline(d));
        let Driver { rx, store, .. } = self;
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let store_done = async {
            match store.as_mut() {
                Some(s) if s.inflight => s.done.recv().await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            Some(done) = store_done => Step::Store(done),
            i = rx.recv() => Step::Input(i),
            () = sleep => Step::Timeout,
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
                    let r = self.rt.handle_agent_event(now, &job_id, ev);
                    let _ = reply.send(r);
                }
                AgentCall::Authorize(op, reply) => {
                    let _ = reply.send(self.rt.authorize(now, &job_id, &op));
                }
                AgentCall::Budget(reply) => {
                    let _ = reply.send(self.rt.job_budget(&job_id));
                }
            },
            Input::AgentExited { job_id } => self.agents.exited(&job_id),
            Input::Authenticated { id, outcome } => self.rt.handle_effect_result(now, id, outcome),
            Input::Shutdown { .. } => {}
        }
    }

    /// Step 2: transmits, then effects, then events, each until `None`.
    async fn drain(&mut self) {
        while let Some((conn, frame)) = self.rt.poll_transmit() {
            self.send(conn, Outbound::Frame(frame.encode())).await;
        }
        while let Some((id, effect)) = self.rt.poll_effect() {
            self.perform(id, effect).await;
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
        if let Some(s) = &mut self.store {
            s.flush();
        }
    }

    /// Queues `out` on the connection's writer. A queue that stays full for `send_timeout`
    /// marks a slow consumer: the connection is closed at once (1008) and reported lost.
    async fn send(&mut self, conn: ConnId, out: Outbound) {
        let Some(ports) = self.conns.get(&conn) else {
            return;
        };
        let sent = match ports.out.try_send(out) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            Err(mpsc::error::TrySendError::Full(out)) => {
                let tx = ports.out.clone();
                matches!(
                    tokio::time::timeout(self.send_timeout, tx.send(out)).await,
                    Ok(Ok(()))
                )
            }
        };
        if !sent && let Some(ports) = self.conns.remove(&conn) {
            let _ = ports.kill.send(1008);
            self.ready.push_back(Local::Lost(conn));
        }
    }

    async fn perform(&mut self, id: EffectId, effect: Effect) {
        if let Some(store) = &mut self.store
            && store.pending.push(Some(id), &effect)
        {
            return;
        }
        let outcome = match effect {
            Effect::Authenticate { token, .. } => match &self.external_auth {
                Some((auth, tx)) => {
                    let (auth, tx) = (auth.clone(), tx.clone());
                    tokio::spawn(async move {
                        let outcome = tokio::task::spawn_blocking(move || {
                            arcp_auth::effect_outcome(&auth, &token)
                        });
                        let outcome = outcome.await.unwrap_or(EffectOutcome::AuthFailed {
                            reason: "internal".into(),
                            message: "authentication failed".into(),
                        });
                        if let Some(tx) = tx.upgrade() {
                            let _ = tx.send(Input::Authenticated { id, outcome }).await;
                        }
                    });
                    return;
                }
                None => self.auth.authenticate(&token),
            },
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
                Some(p) => {
                    let ms = wall_ms();
                    p.mint(ms, &mut self.entropy, &lease, lease_constraints.as_ref())
                }
                None => EffectOutcome::Minted {
                    credentials: Vec::new(),
                },
            },
            // The in-process provisioner's credentials are honoured nowhere else.
            Effect::RevokeCredential { .. } => EffectOutcome::Done,
            Effect::CloseConnection { conn, reason } => {
                self.send(conn, Outbound::Close(reason.websocket_code()))
                    .await;
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

    /// Cancels every agent, closes every connection (1000) and waits for the store to
    /// commit what is pending.
    async fn shutdown(&mut self) {
        self.agents.shutdown();
        for (_, ports) in self.conns.drain() {
            let _ = ports.out.try_send(Outbound::Close(1000));
        }
        if let Some(s) = &mut self.store {
            loop {
                if s.inflight {
                    match s.done.recv().await {
                        Some(_) => s.inflight = false,
                        None => break,
                    }
                }
                if s.pending.is_empty() {
                    break;
                }
                s.flush();
                if !s.inflight {
                    break;
                }
            }
        }
    }
}

enum Step {
    Local(Local),
    Input(Option<Input>),
    Store(super::store::Completion),
    Timeout,
}
