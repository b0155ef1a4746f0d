//! # arcp-host: what the adapters' hosts share
//!
//! The runtime-neutral halves of the tokio, futures and blocking adapters: synchronous,
//! Sans-IO drivers around the core state machines. An adapter keeps only its wait loop, its
//! socket or stdio IO, its channels and its public async or blocking front-end.
//!
//! - [`client`]: the client driver state ([`client::ClientDriver`]), event delivery
//!   ([`client::EventStash`]), the resume retry policy ([`client::ResumeRetry`]), the frame
//!   tap and the stdio child transport.

#![deny(missing_docs)]

pub mod client;
