//! Agents in any language: a [`ProcessAgent`] hosts a program as an agent, one child process
//! per job, speaking the agent line protocol `arcp-agent/1` (one JSON object per line on
//! stdin/stdout; `docs/agent-protocol.md` in the repository specifies it, and
//! `agents/python/arcp_agent.py` and `agents/node/arcp_agent.js` implement the agent's side).
//!
//! A process agent gets what a Rust agent gets through [`arcp_agents::JobContext`]: every
//! kind of event, streamed results, cost and budget, the lease gate with the normalised
//! target, delegation, credential rotation, cancellation and `max_runtime_sec`. Per job the
//! runtime:
//!
//! - starts the command without a shell, as the leader of a new process group, in the
//!   configured working directory, with a cleared environment plus
//!   [`DEFAULT_ENV_ALLOWLIST`], the configured variables and `ARCP_JOB_ID`, `ARCP_AGENT`,
//!   `ARCP_AGENT_PROTOCOL`, `ARCP_TRACE_ID`;
//! - writes the `start` line, then reads the agent's stdout one line at a time, awaiting
//!   each event's acceptance: when the session's outbound buffer is full the job is held, the
//!   runtime stops reading, the pipe fills and the agent blocks (nothing is buffered without
//!   bound; a line is at most [`ProcessAgent::max_line_bytes`]);
//! - answers requests with `reply` lines from a queue bounded by the
//!   [`MAX_UNANSWERED`] requests an agent may have open;
//! - turns stderr lines into `log` events at `warn`, within [`StderrLimits`];
//! - ends the job with the agent's `result` or `error`, or `INTERNAL_ERROR` with a message
//!   saying what the agent did wrong (exited early, closed stdout, a malformed, oversized or
//!   unknown line, a reused request id, too many open requests, a reserved event kind);
//! - when the job ends otherwise (cancel, `max_runtime_sec`, lease expiry, a runtime check,
//!   shutdown) writes `cancel`, closes stdin, and after the grace period sends SIGTERM to the
//!   process group, then SIGKILL; once the process has exited its group gets SIGKILL
//!   before the process is reaped, so grandchildren do not outlive the job.
//!
//! Linux, Android and FreeBSD (the exit is observed with `waitid(WNOWAIT)`).

mod codec;
mod lines;
mod process;
mod registry;
mod spec;
mod stderr;
mod supervise;

pub use process::DEFAULT_ENV_ALLOWLIST;
pub use registry::register_process_agents;
pub use spec::{
    CommandLineError, DEFAULT_GRACE, DEFAULT_KILL_AFTER, DEFAULT_MAX_LINE_BYTES, MAX_UNANSWERED,
    ProcessAgent, StderrLimits,
};

/// The protocol version written in every `start` line.
pub const PROTOCOL: &str = codec::PROTOCOL;

use arcp_agents::{Agent, AgentError, BoxFuture, JobContext};
use serde_json::Value;

impl Agent for ProcessAgent {
    fn run(&self, _input: Value, ctx: JobContext) -> BoxFuture<'static, Result<Value, AgentError>> {
        let spec = self.spec.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Its own task: it outlives this future, which `run_job` drops on cancellation, to
        // write `cancel` and run the kill schedule.
        let spawned = tokio::runtime::Handle::try_current()
            .map(|h| drop(h.spawn(supervise::run(spec, ctx, tx))));
        Box::pin(async move {
            spawned.map_err(|_| AgentError::internal("process agents need a tokio runtime"))?;
            rx.await
                .unwrap_or_else(|_| Err(AgentError::internal("process agent supervisor ended")))
        })
    }
}
