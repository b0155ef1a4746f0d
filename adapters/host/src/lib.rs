//! # arcp-host: what the adapters' hosts share
//!
//! The runtime-neutral halves of the tokio, futures and blocking adapters: synchronous,
//! Sans-IO drivers around the core state machines. An adapter keeps only its wait loop, its
//! socket or stdio IO, its spawning, its channels and its public async or blocking front-end.
//!
//! - [`server`]: hosting of [`arcp_proto::runtime::Runtime`]: builder options
//!   ([`server::ServerOptions`]), the Sans-IO [`server::ServerHost`] (drain order, effect
//!   dispatch, connection table, slow consumers, shutdown) driven through [`server::HostIo`],
//!   agent hosting, authentication through arcp-auth, tracing spans and
//!   [`server::ServerMetrics`].
//!
//! The client side lives in its own crate, `arcp-client`, which depends on none of the
//! server's crates.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod server;
