//! Agent hosting, once for every adapter: the [`JobHost`] whose calls travel to the driver as
//! [`AgentMsg`]s over the adapter's [`AgentLink`], and the book of running jobs.
//!
//! Every `JobHost` call but a posted emit is a round trip to the driver (which owns the
//! `Runtime`): the agent sends an [`AgentMsg::Call`] through the link (waiting while the
//! driver's bounded queue is full) and awaits the answer on a one-shot channel
//! (`futures-channel`, so it works on every executor, including arcp-blocking's `block_on`).
//! An event of the job's stream is posted instead, answered `Ok` at once, while its job's
//! [`EmitGate`] is open (see there): an agent's events reach the driver several per wake-up,
//! not one per round trip. Each `StartAgent` effect yields one task future for the adapter
//! to spawn; `CancelAgent` fires the job's [`CancelToken`], and `run_job` drops the agent at
//! its next suspension point (the job has already ended on the wire).

use super::credentials::CredentialProvisioner;
use arcp_agents::{
    AgentRegistry, BoxFuture, CancelToken, JobEnd, JobEnds, JobHost, ToolRegistry,
    run_job_with_tools,
};
use arcp_proto::lease::Operation;
use arcp_proto::runtime::{AgentEvent, AgentReply, AgentStart, EffectId, RuntimeEvent};
use arcp_proto::wire::{Budget, Entropy, ErrorCode, ErrorPayload, JobId};
use futures_channel::oneshot;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The host's entropy, shared by the demo provisioner's minting (on the driver) and
/// rotated secrets (on agent tasks).
pub(crate) type SharedEntropy = Arc<Mutex<Box<dyn Entropy + Send>>>;

/// Where rotated secrets come from: the provisioner, at the wall time the driver last saw
/// (Unix ms, kept current by the host on every input).
pub(crate) struct Rotations {
    pub(crate) unix_ms: Arc<AtomicU64>,
    pub(crate) provisioner: Arc<dyn CredentialProvisioner>,
}

/// A running agent's call into the runtime, answered on its one-shot sender.
#[derive(Debug)]
pub enum AgentCall {
    /// `JobHost::emit`.
    Emit(
        AgentEvent,
        oneshot::Sender<Result<AgentReply, ErrorPayload>>,
    ),
    /// `JobHost::check_operation` (and `authorize`, which goes through it).
    Check(Operation, oneshot::Sender<Result<String, ErrorPayload>>),
    /// `JobHost::budget`.
    Budget(oneshot::Sender<Option<Budget>>),
}

/// How many events an agent may post (answered before they are fed) before its next emit
/// waits for the driver's answer: the most a job's agent runs ahead of the driver, and so
/// the most emits a held job has parked at once.
pub const EMIT_WINDOW: u32 = 64;

/// One job's posted emits: the agent posts an event that can only be refused when its job
/// has ended ([`AgentEvent::refused_only_when_ended`]) without waiting for the driver, at
/// most [`EMIT_WINDOW`] in a row, while the gate is open; every other emit, and each one
/// while the gate is shut, waits for its answer (and, when `Ok`, opens the gate again). The
/// host shuts the gate when the job is held (so the agent's next emit waits, parked, until
/// the job is released: backpressure as for an agent that awaits each emit), when a posted
/// event is refused, and when the job ends (so the agent's next emit gets its refusal).
#[derive(Debug)]
pub struct EmitGate {
    /// The job: a posted event travels with its gate, not with a copy of the id.
    job_id: JobId,
    /// Events posted since the last answered emit.
    posted: AtomicU32,
    /// Shut by the host: the next emit waits for its answer.
    shut: AtomicBool,
}

impl EmitGate {
    /// The open gate of job `job_id`.
    pub fn new(job_id: JobId) -> Self {
        EmitGate {
            job_id,
            posted: AtomicU32::new(0),
            shut: AtomicBool::new(false),
        }
    }

    /// The job.
    pub fn job_id(&self) -> &JobId {
        &self.job_id
    }

    /// The host: the job's next emit waits for its answer.
    pub fn shut(&self) {
        self.shut.store(true, Ordering::Release);
    }

    /// `true` once shut (until an answered emit opens it again).
    pub fn is_shut(&self) -> bool {
        self.shut.load(Ordering::Acquire)
    }

    /// The agent may post its next event without waiting.
    fn may_post(&self) -> bool {
        !self.is_shut() && self.posted.load(Ordering::Relaxed) < EMIT_WINDOW
    }

    /// An emit was answered: every event posted before it was fed.
    fn answered(&self, ok: bool) {
        self.posted.store(0, Ordering::Relaxed);
        if ok {
            self.shut.store(false, Ordering::Release);
        } else {
            self.shut();
        }
    }
}

/// What an agent task sends to the driver.
// A call travels by value: boxing it would cost an allocation per streamed event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum AgentMsg {
    /// A call for job `job_id`.
    Call {
        /// The job.
        job_id: JobId,
        /// The call.
        call: AgentCall,
    },
    /// `JobHost::emit` of an event of the gate's job that the agent was already answered
    /// `Ok` for (see [`AgentEvent::refused_only_when_ended`] and [`EmitGate`]): fed in
    /// order, parked while the job is held; when it is held or the event is refused the host
    /// shuts the gate.
    Posted {
        /// The job's gate (and id).
        gate: Arc<EmitGate>,
        /// The event.
        event: AgentEvent,
    },
    /// The agent task of `job_id` returned.
    Exited {
        /// The job.
        job_id: JobId,
    },
}

/// How agent tasks reach the driver, and their timer: the adapter's part of agent hosting.
pub trait AgentLink: Send + Sync + 'static {
    /// Delivers `msg` to the driver's input queue, waiting while it is full; `false` once the
    /// driver is gone.
    fn send(&self, msg: AgentMsg) -> BoxFuture<'_, bool>;
    /// Delivers `msg` at once when the queue has room (`Ok`); otherwise hands it back for
    /// [`AgentLink::send`] (the default: always). A posted emit delivered here costs no
    /// future.
    // The message comes back by value: boxing it would cost an allocation per event.
    #[allow(clippy::result_large_err)]
    fn try_send(&self, msg: AgentMsg) -> Result<(), AgentMsg> {
        Err(msg)
    }
    /// The adapter's timer (`JobHost::sleep`).
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()>;
}

struct LinkedJobHost {
    link: Arc<dyn AgentLink>,
    ends: JobEnds,
    /// Mints rotated secrets (`virt-…`) when credential provisioning is on.
    rotations: Option<Rotations>,
}

impl std::fmt::Debug for LinkedJobHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkedJobHost").finish_non_exhaustive()
    }
}

fn gone() -> ErrorPayload {
    ErrorPayload::new(ErrorCode::InternalError, "the runtime is shutting down")
}

impl LinkedJobHost {
    async fn call<T>(
        &self,
        job_id: &JobId,
        make: impl FnOnce(oneshot::Sender<T>) -> AgentCall,
    ) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        let msg = AgentMsg::Call {
            job_id: job_id.clone(),
            call: make(tx),
        };
        if !self.link.send(msg).await {
            return None;
        }
        rx.await.ok()
    }
}

impl JobHost for LinkedJobHost {
    fn emit(
        &self,
        job_id: &JobId,
        event: AgentEvent,
    ) -> BoxFuture<'_, Result<AgentReply, ErrorPayload>> {
        let job_id = job_id.clone();
        Box::pin(async move {
            self.call(&job_id, |tx| AgentCall::Emit(event, tx))
                .await
                .unwrap_or_else(|| Err(gone()))
        })
    }

    fn check_operation(
        &self,
        job_id: &JobId,
        op: Operation,
    ) -> BoxFuture<'_, Result<String, ErrorPayload>> {
        let job_id = job_id.clone();
        Box::pin(async move {
            self.call(&job_id, |tx| AgentCall::Check(op, tx))
                .await
                .unwrap_or_else(|| Err(gone()))
        })
    }

    fn budget(&self, job_id: &JobId) -> BoxFuture<'_, Option<Budget>> {
        let job_id = job_id.clone();
        Box::pin(async move { self.call(&job_id, AgentCall::Budget).await.flatten() })
    }

    fn wait_job(&self, job_id: &JobId) -> BoxFuture<'_, JobEnd> {
        self.ends.wait(job_id)
    }

    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        self.link.sleep(d)
    }

    fn rotated_secret(&self, job_id: &JobId, credential_id: &str) -> Option<String> {
        let r = self.rotations.as_ref()?;
        let unix_ms = r.unix_ms.load(Ordering::Relaxed);
        r.provisioner.rotate(job_id, credential_id, unix_ms).ok()
    }
}

/// One job's [`JobHost`]: the shared one, with the job's [`EmitGate`] for its own emits.
struct JobLink {
    shared: Arc<LinkedJobHost>,
    job_id: JobId,
    gate: Arc<EmitGate>,
}

impl std::fmt::Debug for JobLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobLink")
            .field("job_id", &self.job_id)
            .finish_non_exhaustive()
    }
}

impl JobHost for JobLink {
    fn emit(
        &self,
        job_id: &JobId,
        event: AgentEvent,
    ) -> BoxFuture<'_, Result<AgentReply, ErrorPayload>> {
        if *job_id != self.job_id {
            return self.shared.emit(job_id, event);
        }
        if event.refused_only_when_ended() && self.gate.may_post() {
            self.gate.posted.fetch_add(1, Ordering::Relaxed);
            let msg = AgentMsg::Posted {
                gate: self.gate.clone(),
                event,
            };
            let msg = match self.shared.link.try_send(msg) {
                // Boxing a zero-sized future allocates nothing.
                Ok(()) => return Box::pin(PostedOk),
                Err(msg) => msg,
            };
            return Box::pin(async move {
                if self.shared.link.send(msg).await {
                    Ok(AgentReply::Ok)
                } else {
                    Err(gone())
                }
            });
        }
        Box::pin(async move {
            let r = self
                .shared
                .call(&self.job_id, |tx| AgentCall::Emit(event, tx))
                .await
                .unwrap_or_else(|| Err(gone()));
            self.gate.answered(r.is_ok());
            r
        })
    }

    fn check_operation(
        &self,
        job_id: &JobId,
        op: Operation,
    ) -> BoxFuture<'_, Result<String, ErrorPayload>> {
        self.shared.check_operation(job_id, op)
    }

    fn authorize(&self, job_id: &JobId, op: Operation) -> BoxFuture<'_, Result<(), ErrorPayload>> {
        self.shared.authorize(job_id, op)
    }

    fn budget(&self, job_id: &JobId) -> BoxFuture<'_, Option<Budget>> {
        self.shared.budget(job_id)
    }

    fn wait_job(&self, job_id: &JobId) -> BoxFuture<'_, JobEnd> {
        self.shared.wait_job(job_id)
    }

    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        self.shared.sleep(d)
    }

    fn rotated_secret(&self, job_id: &JobId, credential_id: &str) -> Option<String> {
        self.shared.rotated_secret(job_id, credential_id)
    }
}

/// The answer to an emit posted at once: `Ok`, without a state to allocate.
struct PostedOk;

impl std::future::Future for PostedOk {
    type Output = Result<AgentReply, ErrorPayload>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Ok(AgentReply::Ok))
    }
}

/// A running agent: how to cancel it, and its emit gate.
pub(crate) struct Running {
    cancel: CancelToken,
    gate: Arc<EmitGate>,
}

/// The running agents, owned by the driver's [`ServerHost`](super::ServerHost).
pub(crate) struct Agents {
    registry: Arc<AgentRegistry>,
    tools: Arc<ToolRegistry>,
    host: Arc<LinkedJobHost>,
    running: HashMap<JobId, Running>,
}

impl Agents {
    /// `max_ends` and `max_end_bytes` bound the remembered job ends; `rotations`: rotated
    /// secrets come from this host (credential provisioning on; else the agent API derives
    /// them).
    pub(crate) fn new(
        registry: AgentRegistry,
        tools: ToolRegistry,
        link: Arc<dyn AgentLink>,
        max_ends: usize,
        max_end_bytes: usize,
        rotations: Option<(Arc<AtomicU64>, Arc<dyn CredentialProvisioner>)>,
    ) -> Self {
        Agents {
            registry: Arc::new(registry),
            tools: Arc::new(tools),
            host: Arc::new(LinkedJobHost {
                link,
                ends: JobEnds::with_max_bytes(max_ends, max_end_bytes),
                rotations: rotations.map(|(unix_ms, provisioner)| Rotations {
                    unix_ms,
                    provisioner,
                }),
            }),
            running: HashMap::new(),
        }
    }

    /// `StartAgent`: the task to spawn (it runs the job, then reports [`AgentMsg::Exited`]),
    /// or why it cannot start (no agent registered under the resolved reference).
    pub(crate) fn task(
        &self,
        effect: EffectId,
        start: AgentStart,
    ) -> Result<(Running, AgentTask), String> {
        if self.registry.resolve(&start.agent).is_none() {
            return Err(format!("agent {} is not registered", start.agent));
        }
        let job_id = start.job_id.clone();
        let cancel = CancelToken::new();
        let gate = Arc::new(EmitGate::new(job_id.clone()));
        let host = Arc::new(JobLink {
            shared: self.host.clone(),
            job_id: job_id.clone(),
            gate: gate.clone(),
        });
        let fut = run_job_with_tools(
            self.registry.clone(),
            self.tools.clone(),
            start,
            host as Arc<dyn JobHost>,
            cancel.clone(),
        );
        let link = self.host.link.clone();
        let id = job_id.clone();
        let future = Box::pin(async move {
            fut.await;
            let _ = link.send(AgentMsg::Exited { job_id: id }).await;
        });
        Ok((
            Running { cancel, gate },
            AgentTask {
                job_id,
                effect,
                future,
            },
        ))
    }

    /// The task was spawned.
    pub(crate) fn started(&mut self, job_id: JobId, running: Running) {
        self.running.insert(job_id, running);
    }

    /// `CancelAgent`.
    pub(crate) fn cancel(&mut self, job_id: &JobId) {
        if let Some(r) = self.running.remove(job_id) {
            r.gate.shut();
            r.cancel.cancel();
        }
    }

    /// An agent task returned.
    pub(crate) fn exited(&mut self, job_id: &JobId) {
        self.running.remove(job_id);
    }

    /// How many agent tasks are running.
    pub(crate) fn running(&self) -> usize {
        self.running.len()
    }

    /// Feeds `wait_job` (a delegating parent waits on its child): only delegated children's
    /// ends are kept, until their parent ends (see [`JobEnds::record_ended`]).
    pub(crate) fn job_ended(&self, ev: &RuntimeEvent) {
        if let Some((job_id, end)) = JobEnd::from_runtime_event(ev) {
            // Its agent's next emit waits for its refusal.
            if let Some(r) = self.running.get(&job_id) {
                r.gate.shut();
            }
            let parent = match ev {
                RuntimeEvent::JobEnded { parent_job_id, .. } => parent_job_id.as_ref(),
                _ => None,
            };
            self.host.ends.record_ended(&job_id, parent, end);
        }
    }

    /// Bytes of the kept job ends.
    pub(crate) fn job_end_bytes(&self) -> usize {
        self.host.ends.bytes()
    }

    /// Cancels every agent (server shutdown).
    pub(crate) fn shutdown(&mut self) {
        for (_, r) in self.running.drain() {
            r.gate.shut();
            r.cancel.cancel();
        }
    }
}

/// One agent job for the adapter to spawn (a task, a thread). The adapter answers with
/// `handle_effect_result(now, task.effect, outcome)`: `Done` once spawned, `Failed` (the job
/// ends `INTERNAL_ERROR` with that message) when it could not be.
pub struct AgentTask {
    /// The job.
    pub job_id: JobId,
    /// The `StartAgent` effect this task answers.
    pub effect: EffectId,
    /// Runs the job, then sends [`AgentMsg::Exited`].
    pub future: BoxFuture<'static, ()>,
}

impl std::fmt::Debug for AgentTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentTask")
            .field("job_id", &self.job_id)
            .field("effect", &self.effect)
            .finish_non_exhaustive()
    }
}
