//! # arcp-futures
//!
//! The runtime-neutral async adapter of arcp-proto: a WebSocket [`server`] hosting the
//! arcp-agents contract agents (optionally durable on arcp-sqlite) and a WebSocket
//! [`client`], over `futures-io` sockets (`async_io::Async`) with async-tungstenite,
//! `async-io` timers and bounded `async-channel` queues. It depends on no executor: the
//! application passes a spawner (async-std, smol, or any other). All protocol logic is in the
//! core (`arcp_proto::runtime::Runtime`, `arcp_proto::client::ClientSession`); this crate
//! only moves bytes, time and effects.
//!
//! For applications on **smol, async-std or any other executor** (not tokio). The [`client`]
//! API is the same as arcp-tokio's and arcp-blocking's: the same names and types, written once
//! in arcp-client.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod server;

pub use server::Spawner;
