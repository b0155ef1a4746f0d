//! The server side of every adapter, runtime-neutral: builder options ([`ServerOptions`],
//! [`builder_options!`](crate::builder_options)), the driver's Sans-IO state ([`ServerHost`]:
//! `handle_*` inputs in, [`Action`]s out through `poll_action`, the driving contract in its
//! docs), agent hosting ([`AgentLink`]), authentication through
//! [`arcp_auth`] ([`TokenAuth`] by default, run off the driver), tracing spans (`arcp.session`
//! with `session_id` and `principal`; `arcp.effect` with `effect`, `job_id`, `principal` where
//! known) and [`ServerMetrics`].

mod action;
mod agents;
mod host;
mod metrics;
mod options;
mod store;

pub use action::{Action, Input, Outbound};
pub use agents::{AgentCall, AgentLink, AgentMsg, AgentTask};
pub use arcp_agents::{AgentRegistry, BoxFuture};
pub use arcp_auth::{Authenticator, effect_outcome};
pub use arcp_proto::runtime::{AbuseLimits, Bounds};
pub use arcp_sqlite::runtime::{Batch, Completion, run_batch};
pub use host::ServerHost;
pub use metrics::{MetricsHandle, ServerMetrics};
pub use options::{Built, ServerOptions, TokenAuth};
pub use store::StoreThread;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding or another socket operation failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The durable store could not be opened or read.
    #[error("durable store: {0}")]
    Store(#[from] arcp_sqlite::StoreError),
    /// The TLS certificate or key could not be read or used (adapters serving `wss://`).
    #[error("tls: {0}")]
    Tls(String),
}
