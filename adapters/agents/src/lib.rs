//! `arcp-agents`: the agent API of arcp-proto, written once so the same agent code runs on
//! every adapter (tokio, futures, blocking), plus the ARCP interop contract agents.
//!
//! - An agent is an `async fn(input: Value, ctx: JobContext) -> Result<Value, AgentError>`
//!   ([`Agent`] is implemented for every such function).
//! - [`JobContext`] emits events (log, thought, status, metric and cost, tool calls and
//!   results, progress, artifact refs), streams results in `utf8`/`base64` chunks, checks
//!   the lease ([`JobContext::authorize`]; checked operations such as
//!   [`JobContext::check_fs_read`] that return the normalised target), calls runtime-hosted
//!   tools ([`JobContext::call_tool`], from a [`ToolRegistry`]), rotates credentials,
//!   delegates to child jobs, sleeps on the adapter's timer and observes cancellation.
//! - An adapter implements [`JobHost`] (each call round-trips through the task that owns the
//!   `arcp_proto::runtime::Runtime`), feeds [`AgentRegistry::specs`] into
//!   `RuntimeConfig.agents`, spawns [`run_job`] for every `Effect::StartAgent`, fires the
//!   job's [`CancelToken`] on `Effect::CancelAgent`, and records `RuntimeEvent::JobEnded`
//!   in a [`JobEnds`] to answer [`JobHost::wait_job`].
//! - [`contract_agents`] hosts the contract agents of `interop/README.md` ("Agent
//!   contract", as adjusted by [D9], [D13], [D29], [D31], [D32]); [`demo_agents`] adds
//!   `tool-user`, which calls the [`demo_tools`] (`lookup`, with a declared cost), for demo
//!   mode.
//!
//! Also the runtime-neutral hosting pieces every adapter shares: the bearer [`TokenTable`],
//! the in-process credential [`Provisioner`] and [`OsEntropy`].
//!
//! Dependencies: `arcp-proto`, `base64`, `futures-core`, `getrandom`, `serde`, `serde_json` and `tracing` only;
//! no executor. [`run_job`] runs each agent inside an `arcp.job` span ([`JOB_SPAN`]) carrying
//! `job_id`, `session_id`, `principal`, the W3C `trace_id`, `arcp.lease.expires_at` and
//! `arcp.budget.remaining`; install any `tracing` subscriber to see it.
//!
//! ```
//! use arcp_agents::{AgentError, JobContext, contract_agents};
//! use serde_json::{Value, json};
//!
//! async fn greet(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
//!     ctx.log("info", "greeting").await?;
//!     ctx.authorize("tool.call", "greeter").await?; // PERMISSION_DENIED unless leased
//!     ctx.cost("cost.inference", "0.01", "USD").await?;
//!     Ok(json!({ "hello": input }))
//! }
//!
//! let mut registry = contract_agents();
//! registry.register("greet", Some("1.0.0"), greet);
//! let config = arcp_proto::runtime::RuntimeConfig {
//!     agents: registry.specs(),
//!     ..Default::default()
//! };
//! assert_eq!(config.agents.len(), 11);
//! ```
//!
//! The adapter side, for each runtime output (see the test host in `tests/support`):
//! `Effect::StartAgent(start)` → answer `EffectOutcome::Done`, create a [`CancelToken`] for
//! `start.job_id` and spawn `run_job(registry, *start, host, token)`;
//! `Effect::CancelAgent { job_id }` → fire that token; `RuntimeEvent::JobEnded` →
//! [`JobEnd::from_runtime_event`] into [`JobEnds::record_ended`].
//!
//! [D9]: arcp_proto::compat#d9--job-subscribed
//! [D13]: arcp_proto::compat#d13--credential-constraints
//! [D29]: arcp_proto::compat#d29--globs
//! [D31]: arcp_proto::compat#d31--negative-cost
//! [D32]: arcp_proto::compat#d32--chunk-order
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod agent;
pub mod agents;
mod auth;
mod base64;
mod cancel;
mod clock;
mod context;
mod credentials;
mod demo;
mod host;
mod job_ends;
mod registry;
mod run;
mod span;
mod tools;
mod typed;

pub use agent::{Agent, AgentError};
pub use agents::contract_agents;
pub use auth::{DEFAULT_OBSERVER, DEFAULT_TOKENS, TokenTable};
pub use base64::encode_base64;
pub use cancel::{CancelToken, Cancelled};
pub use clock::SystemClock;
pub use context::JobContext;
pub use credentials::{ENDPOINT as CREDENTIAL_ENDPOINT, OsEntropy, Provisioner, wall_ms};
pub use demo::{DEMO_LOOKUP_COST, demo_agents, demo_tools};
pub use host::{BoxFuture, JobEnd, JobHost, final_status};
pub use job_ends::{DEFAULT_MAX_JOB_END_BYTES, JobEnds};
pub use registry::AgentRegistry;
pub use run::{run_job, run_job_with_tools};
pub use span::{JOB_SPAN, format_budget};
pub use tools::{Tool, ToolRegistry};
pub use typed::{Typed, typed};
