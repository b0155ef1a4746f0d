//! # arcp-host: what the adapters' hosts share
//!
//! The runtime-neutral halves of the tokio, futures and blocking adapters: synchronous,
//! Sans-IO drivers around the core state machines. An adapter keeps only its wait loop, its
//! socket or stdio IO, its spawning, its channels and its public async or blocking front-end.
//!
//! - [`server`]: hosting of [`arcp_proto::runtime::Runtime`]: builder options
//!   ([`server::ServerOptions`]), the Sans-IO [`server::ServerHost`] in the core's dialect
//!   (`handle_*` inputs, [`server::Action`]s out through `poll_action`, `poll_timeout` last;
//!   no clock or RNG of its own: time comes with every input, the wall-clock anchor and the
//!   entropy at construction), agent hosting, authentication through arcp-auth, tracing
//!   spans and [`server::ServerMetrics`].
//!
//! The client side lives in its own crate, `arcp-client`, which depends on none of the
//! server's crates.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod server;
