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
#[cfg(feature = "server")]
pub mod server;

/// How the library starts its tasks: the application's executor.
pub type Spawner = std::sync::Arc<dyn Fn(arcp_agents::BoxFuture<'static, ()>) + Send + Sync>;

/// The WebSocket config for a frame cap of `max` bytes (client and server).
pub(crate) fn ws_config(max: usize) -> async_tungstenite::tungstenite::protocol::WebSocketConfig {
    async_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}
