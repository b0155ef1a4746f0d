//! # arcp-tokio
//!
//! The tokio adapter for [`arcp_proto`]: a WebSocket and stdio **server** hosting agents
//! (with the optional SQLite durable store) and a WebSocket and stdio **client** (the `arcp`
//! command-line tool is the arcp-cli crate). All protocol logic lives in the Sans-IO core; this crate owns sockets,
//! timers, storage and agent tasks, and drives the core by the driving contract documented in
//! [`arcp_proto`].
//!
//! For applications on **tokio**. The [`client`] API is the same as arcp-futures' (any
//! executor: smol, async-std) and arcp-blocking's (plain threads, blocking calls): the same
//! names and types, written once in arcp-client.
//!
//! [`process_agent`] hosts a program written in any language as an agent (one process per
//! job, the agent line protocol on stdin/stdout).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
#[cfg(all(
    feature = "server",
    any(target_os = "linux", target_os = "android", target_os = "freebsd")
))]
pub mod process_agent;
#[cfg(feature = "server")]
pub mod server;
pub mod tls;

/// The rustls version this crate builds its TLS configs with.
pub use rustls;
