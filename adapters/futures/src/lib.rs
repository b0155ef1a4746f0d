//! # arcp-futures
//!
//! The runtime-neutral async adapter of arcp-proto: a WebSocket [`server`] hosting the
//! arcp-agents contract agents (optionally durable on arcp-sqlite) and a WebSocket
//! [`client`], over `futures-io` sockets (`async_io::Async`) with async-tungstenite,
//! `async-io` timers and bounded `async-channel` queues. It depends on no executor: the
//! application passes a spawner (async-std, smol, or any other). All protocol logic is in the
//! core (`arcp_proto::runtime::Runtime`, `arcp_proto::client::ClientSession`); this crate
//! only moves bytes, time and effects.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod server;

pub use server::Spawner;
