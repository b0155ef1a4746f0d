//! # arcp-sdk: one crate for ARCP v1.1
//!
//! The client, the runtime (hosting your own agents) and the agent API of the Agent Runtime
//! Control Protocol, behind features that mirror the Python SDK's extras:
//!
//! | feature    | brings                                                                       |
//! |------------|------------------------------------------------------------------------------|
//! | *(default)* `tokio` | [`client`]: the tokio client (`ws://`, `wss://` through rustls, stdio child runtimes) |
//! | `futures`  | [`futures`]: the executor-neutral client (async-std, smol)                   |
//! | `blocking` | [`blocking`]: the client on std threads, no async runtime                    |
//! | `runtime`  | [`server`] (and each chosen adapter's server), [`agent`] (the agent API, typed agents), [`memory`] (an in-memory client/server pair for tests) |
//! | `sqlite`   | [`sqlite`]: the durable store's own API (the runtime's `db(path)` needs only `runtime`) |
//! | `postgres` | [`postgres`]: the durable store on PostgreSQL, for a server's `.store(..)` |
//! | `jwt`      | [`auth`]: JWT authenticators (HS/RS/ES/EdDSA)                                |
//! | `jwks`     | remote JWKS key sets over `https://`                                         |
//! | `tls`      | [`tls`]: serving `wss://` (PEM loading, the rustls re-export)                 |
//! | `axum`     | `server::axum::route`: mounting a runtime on an axum app                     |
//! | `otel`     | [`otel`]: the OpenTelemetry crates to export our tracing spans               |
//! | `full`     | all of the above                                                             |
//!
//! A PostgreSQL store (the Python SDK's cluster backend) is not part of this workspace yet; a
//! `postgres` feature comes with it.
//!
//! A client-only build (the default features) compiles no SQLite, no JWT stack, no HTTP client
//! and no command-line parser: CI checks it with `cargo tree` (`.ci/client-deps.sh`).
//!
//! ## Host your own agent
//!
//! A complete runtime hosting one agent with typed input and output (features `runtime`,
//! `tokio`), then a client submitting a job to it:
//!
//! ```no_run
//! # #[cfg(all(feature = "runtime", feature = "tokio"))]
//! # async fn main_() -> Result<(), Box<dyn std::error::Error>> {
//! use arcp_sdk::agent::{AgentError, AgentRegistry, JobContext, typed};
//! use arcp_sdk::server::Server;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Order { item: String, quantity: u32 }
//! #[derive(Serialize)]
//! struct Receipt { line: String }
//!
//! async fn shop(order: Order, ctx: JobContext) -> Result<Receipt, AgentError> {
//!     ctx.log("info", &format!("ordering {}", order.item)).await?;
//!     Ok(Receipt { line: format!("{} x {}", order.quantity, order.item) })
//! }
//!
//! let mut agents = AgentRegistry::new();
//! agents.register("shop", None, typed(shop));
//! let (url, server) = Server::builder()
//!     .agents(agents)
//!     .tokens([("s3cret-token", "alice")])
//!     .bind_ws("127.0.0.1:7777", "/arcp")
//!     .await?;
//! println!("serving {url}");
//! # server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Secure by default: `Server::builder()` hosts no agent and accepts no token; a server with
//! no authentication configured refuses to start ([`server::ServerError::NoAuthentication`])
//! unless `.demo()` asks for the demo agents and tokens. Plain `ws://` on a non-loopback
//! address logs a warning; serve `wss://` with `.tls(cert, key)`.
//!
//! ## A client
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn main_() -> Result<(), arcp_sdk::client::ClientError> {
//! use arcp_sdk::client::{Client, SubmitRequest};
//! let client = Client::connect("ws://127.0.0.1:7777/arcp", "s3cret-token").await?;
//! let job = client
//!     .submit(SubmitRequest::new("shop", serde_json::json!({"item": "tea", "quantity": 2})))
//!     .await?;
//! let outcome = job.done().await?;
//! println!("{outcome:?}");
//! # Ok(()) }
//! ```
//!
//! Examples (`cargo run -p arcp-sdk --example NAME --features …`): `host_agent` (the agent
//! above, served and called), `memory` (the in-memory pair); arcp-tokio's examples cover
//! axum mounting, JWT + TLS and a stdio child runtime.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The Sans-IO protocol core: wire types, leases, the client and runtime state machines.
pub use arcp_proto as proto;

/// The tokio client (feature `tokio`, the default): [`client::Client`], its builder, job
/// handles and event streams.
#[cfg(feature = "tokio")]
pub mod client {
    pub use arcp_tokio::client::*;
}

/// The tokio runtime server (features `tokio` + `runtime`): [`server::Server::builder`].
#[cfg(all(feature = "tokio", feature = "runtime"))]
pub mod server {
    pub use arcp_tokio::server::*;
}

/// Programs in any language hosted as agents, one process per job (arcp-tokio's
/// `process_agent`; Linux, Android, FreeBSD).
#[cfg(all(
    feature = "tokio",
    feature = "runtime",
    any(target_os = "linux", target_os = "android", target_os = "freebsd")
))]
pub use arcp_tokio::process_agent;

/// `wss://` serving on tokio (feature `tls`): PEM loading and the rustls re-export.
#[cfg(feature = "tls")]
pub mod tls {
    pub use arcp_tokio::rustls;
    pub use arcp_tokio::tls::*;
}

/// The executor-neutral adapter (feature `futures`): its client, and its server with
/// `runtime`.
#[cfg(feature = "futures")]
pub mod futures {
    pub use arcp_futures::client;
    #[cfg(feature = "runtime")]
    pub use arcp_futures::server;
}

/// The std-threads adapter (feature `blocking`): its client, and its server with `runtime`.
#[cfg(feature = "blocking")]
pub mod blocking {
    pub use arcp_blocking::client;
    #[cfg(feature = "runtime")]
    pub use arcp_blocking::server;
}

/// The agent API (feature `runtime`): what an agent is ([`agent::Agent`], an `async fn(Value,
/// JobContext)`, or a typed one through [`agent::typed`]), its [`agent::JobContext`] (events,
/// progress, leases, budgets, delegation) and the [`agent::AgentRegistry`] a server hosts.
#[cfg(feature = "runtime")]
pub mod agent {
    pub use arcp_agents::{
        Agent, AgentError, AgentRegistry, BoxFuture, CancelToken, Cancelled, JobContext, Typed,
        agents, contract_agents, typed,
    };
    pub use arcp_proto::wire::ErrorCode;
}

/// Authenticators (feature `jwt`; remote key sets with `jwks`): static tokens, JWTs signed
/// HS/RS/ES/EdDSA, JWKS URLs; hand one to a server builder's `.authenticator(..)`.
#[cfg(feature = "jwt")]
pub mod auth {
    pub use arcp_auth::*;
}

/// The durable SQLite store's API (feature `sqlite`).
#[cfg(feature = "sqlite")]
pub mod sqlite {
    pub use arcp_sqlite::*;
}

/// The durable store on PostgreSQL (feature `postgres`): `PostgresStore::connect(url)?`, handed
/// to a server builder's `.store(..)`.
#[cfg(feature = "postgres")]
pub mod postgres {
    pub use arcp_postgres::*;
}

/// The OpenTelemetry crates (feature `otel`) to export the runtime's `tracing` spans
/// (`arcp.session`, `arcp.effect`, and `arcp.job` with `job_id`, `session_id`, `principal`,
/// `trace_id`): install `tracing_opentelemetry::layer()` with your tracer in your
/// `tracing-subscriber` registry.
#[cfg(feature = "otel")]
pub mod otel {
    pub use opentelemetry;
    pub use opentelemetry_sdk;
    pub use tracing_opentelemetry;
}

#[cfg(all(feature = "tokio", feature = "runtime"))]
pub mod memory;
