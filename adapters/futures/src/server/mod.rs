//! The runtime side: a WebSocket server driving [`arcp_proto::runtime::Runtime`], on any
//! executor.
//!
//! ```no_run
//! # async fn demo() -> Result<(), arcp_futures::server::ServerError> {
//! use arcp_futures::server::Server;
//! // async-std: `|f| { async_std::task::spawn(f); }`; smol: `|f| smol::spawn(f).detach()`.
//! let (url, handle) = Server::builder(|f| smol::spawn(f).detach())
//!     .bind_ws("127.0.0.1:0", "/arcp")
//!     .await?;
//! println!("LISTENING {url}");
//! handle.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The library spawns its tasks (the driver, one reader and one writer per connection, one
//! per agent job) through the [`Spawner`] it is given, and sleeps on `async_io` timers: it
//! depends on no runtime. One task (the driver) owns the `Runtime`; connection tasks, agent
//! tasks and the SQLite thread talk to it over bounded `async-channel` queues only.
//!
//! Bounds (each has a defined outcome, as in arcp-tokio): the driver's input queue
//! (`input_capacity`: senders wait), each connection's writer queue (`outbound_capacity`:
//! the driver never waits on it; a full one stops that connection receiving until its writer
//! has room, and when its writer takes nothing for `slow_consumer_timeout` the connection is
//! closed 1008 and its session stays resumable), the hello time (`hello_timeout`: closed
//! 1008), the frame cap (`max_frame_bytes`, [D35]), the handshake time
//! (`handshake_timeout`: the TCP connection is dropped), plus every bound of the core's
//! `RuntimeConfig`.
//!
//! [D35]: arcp_proto::compat#d35--frame-size

mod driver;
pub(crate) mod ws;

pub use arcp_agents::BoxFuture;
pub use arcp_agents::{CREDENTIAL_ENDPOINT, DEFAULT_OBSERVER, DEFAULT_TOKENS, TokenTable};
pub use arcp_host::server::{ServerError, ServerMetrics, Store, StoreError};

use arcp_agents::{OsEntropy, SystemClock};
use arcp_host::server::{MetricsHandle, ServerOptions};
use async_channel::Sender;
use driver::Driver;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

pub use crate::Spawner;

/// Entry point: [`Server::builder`].
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A builder spawning its tasks with `spawn`, secure by default: no agents, no accepted
    /// token (configure `tokens`/`authenticator`, or it refuses to start with
    /// [`ServerError::NoAuthentication`]), no credential provisioning; heartbeat 2 s, resume
    /// window 600 s, 1 MiB frames, no durable store. `.demo()` brings the contract agents and
    /// tokens.
    pub fn builder(
        spawn: impl Fn(BoxFuture<'static, ()>) + Send + Sync + 'static,
    ) -> ServerBuilder {
        ServerBuilder {
            spawn: Arc::new(spawn),
            opts: ServerOptions::default(),
        }
    }
}

/// Configures and starts a server (the options are arcp-host's [`ServerOptions`], as in
/// arcp-tokio's `ServerBuilder`).
pub struct ServerBuilder {
    spawn: Spawner,
    opts: ServerOptions,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

arcp_host::builder_options!(ServerBuilder);

impl ServerBuilder {
    /// Adds bearer tokens `(token, principal)`; once any is given the contract tokens are
    /// not accepted, even in demo mode.
    pub fn tokens<T: Into<String>, P: Into<String>>(
        mut self,
        tokens: impl IntoIterator<Item = (T, P)>,
    ) -> Self {
        self.opts.add_tokens(tokens);
        self
    }

    /// Serves WebSocket connections on `addr` at `path` (e.g. `"/arcp"`); returns the URL
    /// (`ws://HOST:PORT/PATH`) and a handle for shutdown. Opening an existing `db` (a
    /// blocking SQLite read) happens on the calling task.
    pub async fn bind_ws(
        mut self,
        addr: impl ToSocketAddrs,
        path: &str,
    ) -> Result<(String, ServerHandle), ServerError> {
        self.opts.check()?;
        let std_listener = TcpListener::bind(addr)?;
        let local = std_listener.local_addr()?;
        arcp_host::server::warn_if_exposed(local, false);
        let listener = async_io::Async::new(std_listener)?;
        let clock = SystemClock::new();
        let (now, version) = (clock.now(), env!("CARGO_PKG_VERSION"));
        let built = (self.opts).build(
            "arcp-futures",
            version,
            now,
            clock.wall(now),
            Box::new(OsEntropy),
        )?;
        let (tx, rx) = async_channel::bounded(self.opts.input_capacity);
        let (shutdown, shutdown_rx) = async_channel::bounded(1);
        let (driver, metrics) = Driver::new(
            built,
            clock,
            (tx.clone(), rx, shutdown_rx),
            self.spawn.clone(),
            self.opts.provisions_credentials(),
        )?;
        let (driver_done_tx, driver_done) = async_channel::bounded(1);
        (self.spawn)(Box::pin(async move {
            driver.run().await;
            let _ = driver_done_tx.try_send(());
        }));
        let opts = Arc::new(ws::WsOptions {
            path: path.to_owned(),
            max_frame_bytes: self.opts.max_frame_bytes,
            handshake_timeout: self.opts.handshake_timeout,
            outbound_capacity: self.opts.outbound_capacity,
            conn_ids: AtomicU64::new(1),
            spawn: self.spawn.clone(),
            // §9.8: credentials only over loopback or behind a vouched-for TLS proxy.
            carries_credentials: local.ip().is_loopback() || self.opts.behind_tls_proxy,
        });
        let (stop, stop_rx) = async_channel::bounded(1);
        let (accept_done_tx, accept_done) = async_channel::bounded(1);
        (self.spawn)(Box::pin(async move {
            ws::accept_loop(listener, opts, tx, stop_rx).await;
            let _ = accept_done_tx.try_send(());
        }));
        Ok((
            format!("ws://{local}{path}"),
            ServerHandle {
                local_addr: local,
                shutdown,
                metrics,
                stop,
                accept_done,
                driver_done,
            },
        ))
    }
}

/// A running server. Dropping it leaves the server running; call [`ServerHandle::shutdown`].
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    shutdown: Sender<Sender<()>>,
    metrics: MetricsHandle,
    stop: Sender<()>,
    accept_done: async_channel::Receiver<()>,
    driver_done: async_channel::Receiver<()>,
}

impl ServerHandle {
    /// The listener's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's counters (published by the driver at most 5 ms after a change).
    pub fn metrics(&self) -> ServerMetrics {
        self.metrics.get()
    }

    /// Graceful shutdown: stop accepting, cancel every agent, close every connection (1000),
    /// commit what the store has pending, and wait for the driver to end.
    pub async fn shutdown(self) {
        let _ = self.stop.try_send(());
        let _ = self.accept_done.recv().await;
        let (done, rx) = async_channel::bounded(1);
        if self.shutdown.send(done).await.is_ok() {
            let _ = rx.recv().await;
        }
        let _ = self.driver_done.recv().await;
    }
}
