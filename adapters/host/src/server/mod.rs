//! The server side of every adapter, runtime-neutral: builder options ([`ServerOptions`],
//! [`builder_options!`](crate::builder_options)), the driver's Sans-IO state ([`ServerHost`]:
//! `handle_*` inputs in, [`Action`]s out through `poll_action`, the driving contract in its
//! docs), agent hosting ([`AgentLink`]), authentication through
//! [`arcp_auth`] ([`TokenAuth`] by default, run off the driver), tracing spans (`arcp.session`
//! with `session_id` and `principal`; `arcp.effect` with `effect`, `job_id`, `principal` where
//! known) and [`ServerMetrics`]; provisioned credentials through a [`CredentialProvisioner`]
//! ([`DemoProvisioner`] in demo mode), with the unrevoked ones listed for operators.

mod action;
mod agents;
mod cluster;
mod credentials;
mod host;
mod metrics;
mod options;
mod store;

pub use action::{Action, Input, Outbound};
pub use agents::{AgentCall, AgentLink, AgentMsg, AgentTask, EMIT_WINDOW, EmitGate};
pub use arcp_agents::{AgentRegistry, BoxFuture, Tool, ToolRegistry};
pub use arcp_auth::{Authenticator, effect_outcome};
pub use arcp_proto::runtime::{AbuseLimits, Bounds};
pub use arcp_store::cluster::{ClusterEvent, ClusterWatch};
pub use arcp_store::runtime::{Batch, Completion, run_batch};
pub use arcp_store::{Store, StoreError};
pub use credentials::{
    CredentialProvisioner, DemoProvisioner, MAX_UNREVOKED, MintRequest, UnrevokedCredential,
};
pub use host::ServerHost;
pub use metrics::{MetricsHandle, ServerMetrics};
pub use options::{Built, ServerOptions, TokenAuth};
pub use store::{ClusterThread, StoreThread};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding or another socket operation failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The durable store could not be opened or read (any backend; SQLite's own errors are
    /// wrapped as [`StoreError::Backend`]).
    #[error("durable store: {0}")]
    Store(#[from] StoreError),
    /// The TLS certificate or key could not be read or used (adapters serving `wss://`).
    #[error("tls: {0}")]
    Tls(String),
    /// Neither authentication nor demo mode is configured: the server would refuse every
    /// client. Add bearer tokens (`.tokens([(token, principal)])`), an authenticator
    /// (`.authenticator(..)`, e.g. arcp-auth's JWT or JWKS validators) or, to try the runtime
    /// out with the contract agents and tokens, `.demo()`.
    #[error(
        "no authentication configured: add .tokens([(token, principal)]) or .authenticator(..), \
         or .demo() for the demo agents and tokens (arcp serve: --token TOKEN=PRINCIPAL or --demo)"
    )]
    NoAuthentication,
}

/// The warning for a server about to serve plain `ws://` (no TLS) on `addr`: `Some` when
/// `addr` is not a loopback address (tokens and job data would cross the network in clear),
/// `None` on loopback or with TLS.
pub fn exposure_warning(addr: std::net::SocketAddr, tls: bool) -> Option<String> {
    if tls || addr.ip().is_loopback() {
        return None;
    }
    Some(format!(
        "serving plain ws:// on non-loopback address {addr} without TLS: bearer tokens and job \
         data cross the network unencrypted; configure TLS (.tls(cert, key) / --tls-cert and \
         --tls-key) or bind 127.0.0.1"
    ))
}

/// Logs [`exposure_warning`] for `addr` at `WARN` (target `arcp_host::server`), returning
/// whether it did.
pub fn warn_if_exposed(addr: std::net::SocketAddr, tls: bool) -> bool {
    match exposure_warning(addr, tls) {
        Some(msg) => {
            tracing::warn!("{msg}");
            true
        }
        None => false,
    }
}
