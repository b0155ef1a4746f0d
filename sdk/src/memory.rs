//! A connected client/server pair without sockets, for tests (the Python SDK's
//! `pair_memory_transports()`; features `tokio` + `runtime`).
//!
//! The runtime serves one session over an in-memory byte pipe (`tokio::io::duplex`, one
//! envelope per line, exactly as over stdio) and the client speaks to it through the same
//! pipe: everything but the socket is the real thing (the core, the host, the agents, the
//! client driver).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use arcp_sdk::client::{ResultValue, SubmitRequest};
//! use arcp_sdk::server::Server;
//! use serde_json::json;
//!
//! let (client, server) = arcp_sdk::memory::pair(Server::builder().demo(), "alice-token").await?;
//! let job = client.submit(SubmitRequest::new("echo", json!({"hi": 1}))).await?;
//! let outcome = job.done().await?;
//! assert_eq!(outcome.result(), Some(&ResultValue::Inline(json!({"hi": 1}))));
//! drop(client);
//! server.closed().await?;
//! # Ok(()) }
//! ```

use crate::client::{Client, ClientBuilder, ClientError};
use crate::server::{ServerBuilder, ServerError};
use tokio::task::JoinHandle;

/// The pipe's capacity in bytes in each direction (a writer waits when it is full): 1 MiB,
/// the default frame cap, so any accepted frame fits.
pub const PIPE_BYTES: usize = 1 << 20;

/// Why [`pair`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// The runtime's options cannot start a server (e.g.
    /// [`ServerError::NoAuthentication`]).
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The client's handshake failed (e.g. the token was refused).
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// The runtime side of a [`pair`]: it serves its one session until the client closes it (or
/// drops every handle), then shuts down.
#[derive(Debug)]
pub struct MemoryServer {
    task: JoinHandle<Result<(), ServerError>>,
}

impl MemoryServer {
    /// Waits until the runtime has shut down (after the client's session ended).
    pub async fn closed(self) -> Result<(), ServerError> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(ServerError::Io(std::io::Error::other(e.to_string()))),
        }
    }

    /// Stops the runtime at once (its session ends; the client sees the transport close).
    pub fn abort(&self) {
        self.task.abort();
    }
}

/// Starts the runtime `server` describes on an in-memory pipe and connects a client to it
/// with bearer `token` (the client's other options at their defaults). Must be called inside
/// a tokio runtime.
pub async fn pair(
    server: ServerBuilder,
    token: impl Into<String>,
) -> Result<(Client, MemoryServer), MemoryError> {
    let token = token.into();
    pair_with(server, |b| b.token(token)).await
}

/// [`pair`] with the client configured by `configure` (token, capacities, timeouts, …).
pub async fn pair_with(
    server: ServerBuilder,
    configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> Result<(Client, MemoryServer), MemoryError> {
    // A misconfigured runtime is reported as such, before anything runs.
    server.check()?;
    let (client_end, server_end) = tokio::io::duplex(PIPE_BYTES);
    let (reader, writer) = tokio::io::split(server_end);
    let task = tokio::spawn(server.serve_io(reader, writer));
    match configure(ClientBuilder::memory(client_end)).connect().await {
        Ok(client) => Ok((client, MemoryServer { task })),
        Err(e) => {
            task.abort();
            Err(MemoryError::Client(e))
        }
    }
}
