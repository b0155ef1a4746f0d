//! Agent hosting: this adapter's [`JobHost`] and the agent threads.
//!
//! Each `StartAgent` effect starts one thread running [`arcp_agents::run_job`] under
//! [`crate::exec::block_on`]. Every `JobHost` call is a round trip to the driver thread over
//! its bounded input queue, answered on a one-slot channel: the agent's thread blocks for it
//! (the driver answers each call as it is fed, never waiting on an agent). The timer is
//! [`crate::exec::sleep`]; cancellation is the job's [`CancelToken`], whose waker unparks the
//! agent's thread, so `run_job` drops the agent at its next suspension point.

use super::driver::{AgentCall, Input, wall_ms};
use arcp_agents::OsEntropy;
use arcp_agents::{AgentRegistry, BoxFuture, CancelToken, JobEnd, JobEnds, JobHost, run_job};
use arcp_proto::lease::Operation;
use arcp_proto::runtime::{AgentEvent, AgentReply, AgentStart, EffectOutcome, RuntimeEvent};
use arcp_proto::wire::{Budget, ErrorCode, ErrorPayload, IdMinter};
use std::collections::HashMap;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The blocking [`JobHost`].
#[derive(Debug)]
pub(crate) struct ThreadJobHost {
    tx: SyncSender<Input>,
    ends: JobEnds,
    /// Mints rotated secrets (`virt-…`) when credential provisioning is on.
    rotations: Option<Mutex<IdMinter>>,
}

fn gone() -> ErrorPayload {
    ErrorPayload::new(ErrorCode::InternalError, "the runtime is shutting down")
}

impl ThreadJobHost {
    /// One blocking round trip to the driver; `None` once the driver is gone.
    fn call<T>(&self, job_id: &str, make: impl FnOnce(SyncSender<T>) -> AgentCall) -> Option<T> {
        let (tx, rx) = sync_channel(1);
        self.tx
            .send(Input::Agent {
                job_id: job_id.to_owned(),
                call: make(tx),
            })
            .ok()?;
        rx.recv().ok()
    }
}

impl JobHost for ThreadJobHost {
    fn emit(
        &self,
        job_id: &str,
        event: AgentEvent,
    ) -> BoxFuture<'_, Result<AgentReply, ErrorPayload>> {
        let job_id = job_id.to_owned();
        // The round trip happens when the future is first polled, as with an async host.
        Box::pin(async move {
            self.call(&job_id, |tx| AgentCall::Emit(event, tx))
                .unwrap_or_else(|| Err(gone()))
        })
    }

    fn authorize(&self, job_id: &str, op: Operation) -> BoxFuture<'_, Result<(), ErrorPayload>> {
        let job_id = job_id.to_owned();
        Box::pin(async move {
            self.call(&job_id, |tx| AgentCall::Authorize(op, tx))
                .unwrap_or_else(|| Err(gone()))
        })
    }

    fn budget(&self, job_id: &str) -> BoxFuture<'_, Option<Budget>> {
        let job_id = job_id.to_owned();
        Box::pin(async move { self.call(&job_id, AgentCall::Budget).flatten() })
    }

    fn wait_job(&self, job_id: &str) -> BoxFuture<'_, JobEnd> {
        self.ends.wait(job_id)
    }

    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(crate::exec::sleep(d))
    }

    fn rotated_secret(&self, _job_id: &str, _credential_id: &str) -> Option<String> {
        let mut ids = self.rotations.as_ref()?.lock().ok()?;
        Some(format!("virt-{}", ids.next_ulid(wall_ms(), &mut OsEntropy)))
    }
}

/// The running agent threads, owned by the driver.
pub(crate) struct AgentThreads {
    registry: Arc<AgentRegistry>,
    host: Arc<ThreadJobHost>,
    tx: SyncSender<Input>,
    running: HashMap<String, CancelToken>,
}

impl AgentThreads {
    /// `tx` is the driver's input queue; `max_ends` bounds the remembered job ends;
    /// `credentials`: rotated secrets come from this host (else the agent API derives them).
    pub(crate) fn new(
        registry: Arc<AgentRegistry>,
        tx: SyncSender<Input>,
        max_ends: usize,
        credentials: bool,
    ) -> Self {
        AgentThreads {
            registry,
            host: Arc::new(ThreadJobHost {
                tx: tx.clone(),
                ends: JobEnds::new(max_ends),
                rotations: credentials.then(Default::default),
            }),
            tx,
            running: HashMap::new(),
        }
    }

    /// `StartAgent`: starts the agent thread; `Failed` when no agent is registered under the
    /// resolved reference or no thread can be started.
    pub(crate) fn start(&mut self, start: AgentStart) -> EffectOutcome {
        if self.registry.resolve(&start.agent).is_none() {
            return EffectOutcome::Failed {
                message: format!("agent {} is not registered", start.agent),
            };
        }
        let job_id = start.job_id.clone();
        let cancel = CancelToken::new();
        let fut = run_job(
            self.registry.clone(),
            start,
            self.host.clone() as Arc<dyn JobHost>,
            cancel.clone(),
        );
        let tx = self.tx.clone();
        let id = job_id.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("arcp-agent-{job_id}"))
            .spawn(move || {
                crate::exec::block_on(fut);
                let _ = tx.send(Input::AgentExited { job_id: id });
            });
        match spawned {
            Ok(_) => {
                self.running.insert(job_id, cancel);
                EffectOutcome::Done
            }
            Err(e) => EffectOutcome::Failed {
                message: format!("cannot start the agent thread: {e}"),
            },
        }
    }

    /// `CancelAgent`: fires the token; the thread returns at the agent's next suspension point.
    pub(crate) fn cancel(&mut self, job_id: &str) {
        if let Some(cancel) = self.running.remove(job_id) {
            cancel.cancel();
        }
    }

    /// An agent thread returned.
    pub(crate) fn exited(&mut self, job_id: &str) {
        self.running.remove(job_id);
    }

    /// Feeds `wait_job` (a delegating parent waits on its child).
    pub(crate) fn job_ended(&self, ev: &RuntimeEvent) {
        if let Some((job_id, end)) = JobEnd::from_runtime_event(ev) {
            self.host.ends.record(&job_id, end);
        }
    }

    /// Cancels every agent (server shutdown).
    pub(crate) fn shutdown(&mut self) {
        for (_, cancel) in self.running.drain() {
            cancel.cancel();
        }
    }
}
