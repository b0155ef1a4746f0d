//! The runtime side: a WebSocket server driving [`arcp_proto::runtime::Runtime`] on threads.
//!
//! ```no_run
//! use arcp_blocking::server::Server;
//! let (url, handle) = Server::builder().bind_ws("127.0.0.1:0", "/arcp")?;
//! println!("LISTENING {url}");
//! handle.shutdown();
//! # Ok::<(), arcp_blocking::server::ServerError>(())
//! ```
//!
//! One thread (the driver) owns the `Runtime` and follows the driving contract, blocking on
//! its input queue with a timeout derived from `poll_timeout`; connection threads and agent
//! threads talk to it over bounded `std::sync::mpsc` queues only. With `--db`, the SQLite
//! transaction of each drain pass commits on the driver thread before its effects complete.
//!
//! Bounds (each has a defined outcome): the driver's input queue (`input_capacity`: senders
//! block), each connection's writer queue (`outbound_capacity`: the driver never waits on
//! it; a full one stops that connection receiving until its writer has room, and when its
//! writer takes nothing for `slow_consumer_timeout` the socket is shut down and the session
//! stays resumable), the frame cap (`max_frame_bytes`, [D35]), the handshake time
//! (`handshake_timeout`), the hello time (`hello_timeout`: closed 1008), plus every bound of
//! the core's `RuntimeConfig`.
//!
//! The token table and the credential provisioner come from `arcp-agents`, the effect-record
//! ↔ store mapping from `arcp_store::runtime`: written once for every adapter.
//!
//! [D35]: arcp_proto::compat#d35--frame-size

mod driver;
mod stdio;
mod ws;

pub use arcp_agents::{CREDENTIAL_ENDPOINT, DEFAULT_OBSERVER, DEFAULT_TOKENS, TokenTable};
pub use arcp_host::server::{ServerError, ServerMetrics, Store, StoreError};

use arcp_agents::OsEntropy;
use arcp_agents::SystemClock;
use arcp_host::server::{MetricsHandle, ServerOptions};
use driver::{Driver, Input};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Entry point: [`Server::builder`].
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A builder, secure by default: no agents, no accepted token (configure `tokens`/
    /// `authenticator`, or it refuses to start with [`ServerError::NoAuthentication`]), no
    /// credential provisioning; heartbeat 2 s, resume window 600 s, 1 MiB frames, no durable
    /// store. `.demo()` brings the contract agents and tokens.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

/// Configures and starts a server (the options are arcp-host's [`ServerOptions`]).
#[derive(Debug, Default)]
pub struct ServerBuilder {
    opts: ServerOptions,
}

arcp_host::builder_options!(ServerBuilder);

/// What a started driver gives the transports.
struct Started {
    tx: SyncSender<Input>,
    shutdown: SyncSender<SyncSender<()>>,
    metrics: MetricsHandle,
    driver: JoinHandle<()>,
}

impl ServerBuilder {
    /// Replaces the token table (default: none; the contract tokens, `auditor` the observer,
    /// in demo mode).
    pub fn tokens(mut self, table: TokenTable) -> Self {
        self.opts.tokens = Some(table);
        self
    }

    /// Builds the runtime (restoring from the store) and starts the driver thread.
    fn start(mut self) -> Result<(Self, Started), ServerError> {
        let clock = SystemClock::new();
        let (now, version) = (clock.now(), env!("CARGO_PKG_VERSION"));
        let built = (self.opts).build(
            "arcp-blocking",
            version,
            now,
            clock.wall(now),
            Box::new(OsEntropy),
        )?;
        let (tx, rx) = sync_channel(self.opts.input_capacity);
        let (shutdown, shutdown_rx) = sync_channel(1);
        let (driver, metrics) = Driver::new(
            built,
            clock,
            (tx.clone(), rx, shutdown_rx),
            self.opts.provisions_credentials(),
        )?;
        let driver = std::thread::Builder::new()
            .name("arcp-driver".into())
            .spawn(move || driver.run())?;
        let started = Started {
            tx,
            shutdown,
            metrics,
            driver,
        };
        Ok((self, started))
    }

    /// Serves WebSocket connections on `addr` at `path` (e.g. `"/arcp"`); returns the URL
    /// (`ws://HOST:PORT/PATH`) and a handle for shutdown.
    pub fn bind_ws(
        self,
        addr: impl ToSocketAddrs,
        path: &str,
    ) -> Result<(String, ServerHandle), ServerError> {
        self.opts.check()?;
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        arcp_host::server::warn_if_exposed(local, false);
        let (this, started) = self.start()?;
        let tx = started.tx.clone();
        let opts = Arc::new(ws::WsOptions {
            path: path.to_owned(),
            max_frame_bytes: this.opts.max_frame_bytes,
            handshake_timeout: this.opts.handshake_timeout,
            outbound_capacity: this.opts.outbound_capacity,
            conn_ids: AtomicU64::new(1),
            // §9.8: credentials only over loopback or behind a vouched-for TLS proxy.
            carries_credentials: local.ip().is_loopback() || this.opts.behind_tls_proxy,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (a_tx, a_stop) = (tx.clone(), stop.clone());
        let accept = std::thread::Builder::new()
            .name("arcp-accept".into())
            .spawn(move || ws::accept_loop(listener, opts, a_tx, a_stop))?;
        Ok((
            format!("ws://{local}{path}"),
            ServerHandle {
                local_addr: Some(local),
                started,
                stop,
                accept: Some(accept),
            },
        ))
    }

    /// Serves one session on this process's stdin/stdout (one envelope per line) until EOF
    /// or the session closes, then shuts the server down. A read of stdin cannot be
    /// interrupted: a program that serves stdio should exit once this returns (as
    /// `examples/serve.rs` does).
    pub fn serve_stdio(self) -> Result<(), ServerError> {
        self.serve_io(std::io::stdin(), std::io::stdout())
    }

    /// Serves one session on a byte stream pair (one envelope per line); see
    /// [`Self::serve_stdio`].
    pub fn serve_io<R, W>(self, reader: R, writer: W) -> Result<(), ServerError>
    where
        R: std::io::Read + Send + 'static,
        W: std::io::Write + Send + 'static,
    {
        let (this, started) = self.start()?;
        stdio::session(
            reader,
            writer,
            &started.tx,
            this.opts.max_frame_bytes,
            this.opts.outbound_capacity,
        );
        ServerHandle {
            local_addr: None,
            started,
            stop: Arc::new(AtomicBool::new(true)),
            accept: None,
        }
        .shutdown();
        Ok(())
    }
}

/// A running server. Dropping it leaves the server running; call [`ServerHandle::shutdown`].
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: Option<SocketAddr>,
    started: Started,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started").finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The listener's address (`None` for stdio).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The server's counters (published by the driver at most 5 ms after a change).
    pub fn metrics(&self) -> ServerMetrics {
        self.started.metrics.get()
    }

    /// Graceful shutdown: stop accepting, cancel every agent, close every connection (1000),
    /// commit what the store has pending, and wait for the driver to end.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        if let Some(a) = self.local_addr {
            let _ = TcpStream::connect(a);
        }
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
        let (done, rx) = sync_channel(1);
        if self.started.shutdown.send(done).is_ok() && self.started.tx.send(Input::Wake).is_ok() {
            let _ = rx.recv();
        }
        let _ = self.started.driver.join();
    }
}

/// An in-process demo WebSocket server for examples and tests: 127.0.0.1, any free port,
/// path `/arcp`, [`ServerBuilder::demo`] (the contract agents and tokens).
pub fn spawn_local_ws() -> Result<(String, ServerHandle), ServerError> {
    Server::builder().demo().bind_ws("127.0.0.1:0", "/arcp")
}
