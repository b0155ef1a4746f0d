//! Agent hosting: this adapter's [`JobHost`] and the agent tasks.
//!
//! Every `JobHost` call is a round trip to the driver over its bounded input channel (the
//! driver owns the `Runtime`). Each `StartAgent` effect spawns (on the application's
//! [`Spawner`]) one task running [`arcp_agents::run_job`]; `CancelAgent` fires the job's
//! [`CancelToken`], and `run_job` drops the agent at its next suspension point (the job has
//! already ended on the wire). Timers are `async_io::Timer`s.

use super::Spawner;
use super::driver::{AgentCall, Input, Reply};
use arcp_agents::{
    AgentRegistry, BoxFuture, CancelToken, JobEnd, JobEnds, JobHost, OsEntropy, run_job, wall_ms,
};
use arcp_proto::lease::Operation;
use arcp_proto::runtime::{AgentEvent, AgentReply, AgentStart, EffectOutcome, RuntimeEvent};
use arcp_proto::wire::{Budget, ErrorCode, ErrorPayload, IdMinter};
use async_channel::Sender;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The futures [`JobHost`].
#[derive(Debug)]
pub(crate) struct FuturesJobHost {
    tx: Sender<Input>,
    ends: JobEnds,
    /// Mints rotated secrets (`virt-…`) when credential provisioning is on.
    rotations: Option<Mutex<IdMinter>>,
}

fn gone() -> ErrorPayload {
    ErrorPayload::new(ErrorCode::InternalError, "the runtime is shutting down")
}

impl FuturesJobHost {
    async fn call<T>(&self, job_id: &str, make: impl FnOnce(Reply<T>) -> AgentCall) -> Option<T> {
        let (tx, rx) = async_channel::bounded(1);
        let input = Input::Agent {
            job_id: job_id.to_owned(),
            call: make(tx),
        };
        self.tx.send(input).await.ok()?;
        rx.recv().await.ok()
    }
}

impl JobHost for FuturesJobHost {
    fn emit(
        &self,
        job_id: &str,
        event: AgentEvent,
    ) -> BoxFuture<'_, Result<AgentReply, ErrorPayload>> {
        let job_id = job_id.to_owned();
        Box::pin(async move {
            self.call(&job_id, |tx| AgentCall::Emit(event, tx))
                .await
                .unwrap_or_else(|| Err(gone()))
        })
    }

    fn authorize(&self, job_id: &str, op: Operation) -> BoxFuture<'_, Result<(), ErrorPayload>> {
        let job_id = job_id.to_owned();
        Box::pin(async move {
            self.call(&job_id, |tx| AgentCall::Authorize(op, tx))
                .await
                .unwrap_or_else(|| Err(gone()))
        })
    }

    fn budget(&self, job_id: &str) -> BoxFuture<'_, Option<Budget>> {
        let job_id = job_id.to_owned();
        Box::pin(async move { self.call(&job_id, AgentCall::Budget).await.flatten() })
    }

    fn wait_job(&self, job_id: &str) -> BoxFuture<'_, JobEnd> {
        self.ends.wait(job_id)
    }

    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            async_io::Timer::after(d).await;
        })
    }

    fn rotated_secret(&self, _job_id: &str, _credential_id: &str) -> Option<String> {
        let mut ids = self.rotations.as_ref()?.lock().ok()?;
        Some(format!("virt-{}", ids.next_ulid(wall_ms(), &mut OsEntropy)))
    }
}

/// The running agent tasks, owned by the driver.
pub(crate) struct AgentTasks {
    registry: Arc<AgentRegistry>,
    host: Arc<FuturesJobHost>,
    tx: Sender<Input>,
    spawn: Spawner,
    running: HashMap<String, CancelToken>,
}

impl AgentTasks {
    pub(crate) fn new(
        registry: Arc<AgentRegistry>,
        tx: Sender<Input>,
        spawn: Spawner,
        max_ends: usize,
        credentials: bool,
    ) -> Self {
        AgentTasks {
            registry,
            host: Arc::new(FuturesJobHost {
                tx: tx.clone(),
                ends: JobEnds::new(max_ends),
                rotations: credentials.then(Default::default),
            }),
            tx,
            spawn,
            running: HashMap::new(),
        }
    }

    /// `StartAgent`: spawns the agent task; `Failed` when no agent is registered.
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
        (self.spawn)(Box::pin(async move {
            fut.await;
            let _ = tx.send(Input::AgentExited { job_id: id }).await;
        }));
        self.running.insert(job_id, cancel);
        EffectOutcome::Done
    }

    /// `CancelAgent`.
    pub(crate) fn cancel(&mut self, job_id: &str) {
        if let Some(cancel) = self.running.remove(job_id) {
            cancel.cancel();
        }
    }

    /// An agent task returned.
    pub(crate) fn exited(&mut self, job_id: &str) {
        self.running.remove(job_id);
    }

    /// Feeds `wait_job`.
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
