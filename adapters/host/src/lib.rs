//! Runtime-neutral hosting of [`arcp_proto::runtime::Runtime`], shared by arcp-tokio,
//! arcp-futures and arcp-blocking: every adapter keeps only its wait loop, sockets, spawning
//! and channels.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod server;
