//! # arcp-blocking
//!
//! The blocking-threads adapter for [`arcp_proto`]: a WebSocket **server** hosting agents
//! (with the optional SQLite durable store) and a WebSocket **client**, on `std` threads and
//! tungstenite's synchronous API. There is no async runtime anywhere: the agent code of
//! [`arcp_agents`] (written once, `async`) runs on one thread per job under
//! [`exec::block_on`], a thread-parking executor whose timer is this adapter's
//! [`exec::sleep`]. All protocol logic lives in the Sans-IO core; this crate owns sockets,
//! threads, deadlines and storage, and drives the core by the driving contract.
//!
//! For applications **without an async runtime**. The [`client`] API is the same as
//! arcp-tokio's and arcp-futures' (written once in arcp-client), with blocking calls and an
//! [`Iterator`] of events instead of futures and a `Stream`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod exec;
#[cfg(feature = "server")]
pub mod server;
mod socket;
