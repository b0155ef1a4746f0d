//! Agent hosting: the [`arcp_agents::JobHost`] of this adapter and the agent tasks.
//!
//! Every `JobHost` call is a round trip to the driver over its bounded input channel (the
//! driver owns the `Runtime`), answered on a oneshot. Each `StartAgent` effect spawns one
//! tokio task running [`arcp_agents::run_job`]; `CancelAgent` fires the job's
//! [`CancelToken`] and aborts the task (the job has already ended on the wire).

use super::driver::{AgentCall, Input};
use arcp_agents::{AgentRegistry, BoxFuture, CancelToken, JobEnd, JobEnds, JobHost, run_job};
use arcp_proto::lease::Operation;
use arcp_proto::runtime::{AgentEvent, AgentReply, AgentStart, EffectOutcome, RuntimeEvent};
use arcp_proto::wire::{Budget, ErrorCode, ErrorPayload};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

/// The tokio [`JobHost`].
#[derive(Debug)]
pub(crate) struct TokioJobHost {
    tx: mpsc::Sender<Input>,
    ends: JobEnds,
    /// Mints rotated secrets (`virt-…`) when credential provisioning is on.
    rotations: Option<std::sync::Mutex<arcp_proto::wire::IdMinter>>,
}

fn gone() -> ErrorPayload {
    ErrorPayload::new(ErrorCode::InternalError, "the runtime is shutting down")
}

impl TokioJobHost {
    async fn call<T>(
        &self,
        job_id: &str,
        make: impl FnOnce(oneshot::Sender<T>) -> AgentCall,
    ) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Input::Agent {
                job_id: job_id.to_owned(),
                call: make(tx),
            })
            .await
            .ok()?;
        rx.await.ok()
    }
}

impl JobHost for TokioJobHost {
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
        Box::pin(tokio::time::sleep(d))
    }

    fn rotated_secret(&self, _job_id: &str, _credential_id: &str) -> Option<String> {
        let mut ids = self.rotations.as_ref()?.lock().ok()?;
        let ulid = ids.next_ulid(arcp_agents::wall_ms(), &mut arcp_agents::OsEntropy);
        Some(format!("virt-{ulid}"))
    }
}

/// The running agent tasks, owned by the driver.
pub(crate) struct AgentTasks {
    registry: Arc<AgentRegistry>,
    host: Arc<TokioJobHost>,
    tx: mpsc::Sender<Input>,
    running: HashMap<String, (CancelToken, AbortHandle)>,
}

impl AgentTasks {
    /// `tx` is the driver's input channel; `max_ends` bounds the remembered job ends;
    /// `credentials`: rotated secrets come from this host (else the agent API derives them).
    pub(crate) fn new(
        registry: Arc<AgentRegistry>,
        tx: mpsc::Sender<Input>,
        max_ends: usize,
        credentials: bool,
    ) -> Self {
        AgentTasks {
            registry,
            host: Arc::new(TokioJobHost {
                tx: tx.clone(),
                ends: JobEnds::new(max_ends),
                rotations: credentials.then(Default::default),
            }),
            tx,
            running: HashMap::new(),
        }
    }

    /// `StartAgent`: spawns the agent task; `Failed` when no agent is registered under the
    /// resolved reference.
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
        let task = tokio::spawn(async move {
            fut.await;
            let _ = tx.send(Input::AgentExited { job_id: id }).await;
        });
        self.running.insert(job_id, (cancel, task.abort_handle()));
        EffectOutcome::Done
    }

    /// `CancelAgent`.
    pub(crate) fn cancel(&mut self, job_id: &str) {
        if let Some((cancel, task)) = self.running.remove(job_id) {
            cancel.cancel();
            task.abort();
        }
    }

    /// An agent task returned.
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
        for (_, (cancel, task)) in self.running.drain() {
            cancel.cancel();
            task.abort();
        }
    }
}
