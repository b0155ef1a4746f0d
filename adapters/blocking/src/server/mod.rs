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
//! block), each connection's writer queue (`outbound_capacity`: when it stays full for
//! `slow_consumer_timeout` the socket is shut down and the session stays resumable), the
//! frame cap (`max_frame_bytes`, D35), the handshake time (`handshake_timeout`), plus every
//! bound of the core's `RuntimeConfig`.
//!
//! The token table and the credential provisioner come from `arcp-agents`, the effect-record
//! ↔ SQLite mapping from `arcp_sqlite::runtime`: written once for every adapter.

mod driver;
mod host;
mod stdio;
mod ws;

pub use arcp_agents::{CREDENTIAL_ENDPOINT, DEFAULT_OBSERVER, DEFAULT_TOKENS, TokenTable};

use arcp_agents::AgentRegistry;
use arcp_agents::OsEntropy;
use arcp_proto::runtime::{ALL_FEATURES, Bounds, ObserverPolicy, Runtime, RuntimeConfig};
use driver::{Clock, Driver, Input, Store};
use host::AgentThreads;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding or another socket operation failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The durable store could not be opened or read.
    #[error("durable store: {0}")]
    Store(#[from] arcp_sqlite::StoreError),
}

/// Entry point: [`Server::builder`].
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A builder with the defaults of `arcp serve`: the contract tokens with `auditor` as
    /// observer, heartbeat 2 s, resume window 600 s, 1 MiB frames, credentials on, no durable
    /// store, the contract agents.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

/// Configures and starts a server.
pub struct ServerBuilder {
    tokens: Option<TokenTable>,
    heartbeat_interval: Duration,
    resume_window: Duration,
    max_frame_bytes: usize,
    credentials: bool,
    db: Option<PathBuf>,
    agents: Option<AgentRegistry>,
    bounds: Bounds,
    input_capacity: usize,
    outbound_capacity: usize,
    slow_consumer_timeout: Duration,
    handshake_timeout: Duration,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            tokens: None,
            heartbeat_interval: Duration::from_secs(2),
            resume_window: Duration::from_secs(600),
            max_frame_bytes: arcp_proto::wire::DEFAULT_MAX_FRAME_BYTES,
            credentials: true,
            db: None,
            agents: None,
            bounds: Bounds::default(),
            input_capacity: 1024,
            outbound_capacity: 4096,
            slow_consumer_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl ServerBuilder {
    /// Replaces the token table (default: the contract tokens, `auditor` the observer).
    pub fn tokens(mut self, table: TokenTable) -> Self {
        self.tokens = Some(table);
        self
    }

    /// `heartbeat_interval_sec`; zero disables heartbeats (the feature is not advertised).
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.heartbeat_interval = d;
        self
    }

    /// How long a detached session stays resumable.
    pub fn resume_window(mut self, d: Duration) -> Self {
        self.resume_window = d;
        self
    }

    /// The inbound frame cap (D35), mirrored into the WebSocket config.
    pub fn max_frame_bytes(mut self, n: usize) -> Self {
        self.max_frame_bytes = n;
        self
    }

    /// Credential provisioning (`provisioned_credentials`); on by default.
    pub fn credentials(mut self, on: bool) -> Self {
        self.credentials = on;
        self
    }

    /// The SQLite durable store (`None`, the default: only the core's in-memory ring). An
    /// existing file is restored from.
    pub fn db(mut self, path: Option<PathBuf>) -> Self {
        self.db = path;
        self
    }

    /// The agents to host (default: [`arcp_agents::contract_agents`]).
    pub fn agents(mut self, registry: AgentRegistry) -> Self {
        self.agents = Some(registry);
        self
    }

    /// The core's bounds (its `max_frame_bytes` is replaced by [`Self::max_frame_bytes`]).
    pub fn bounds(mut self, bounds: Bounds) -> Self {
        self.bounds = bounds;
        self
    }

    /// Capacity of the driver's input queue (connections and agents block when it is full).
    pub fn input_capacity(mut self, n: usize) -> Self {
        self.input_capacity = n.max(1);
        self
    }

    /// Capacity of each connection's writer queue.
    pub fn outbound_capacity(mut self, n: usize) -> Self {
        self.outbound_capacity = n.max(1);
        self
    }

    /// How long a full writer queue may stall before its connection is dropped.
    pub fn slow_consumer_timeout(mut self, d: Duration) -> Self {
        self.slow_consumer_timeout = d;
        self
    }

    /// How long a TCP connection may take to complete the WebSocket upgrade.
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }

    fn runtime_config(&self, registry: &AgentRegistry) -> RuntimeConfig {
        let mut cfg = RuntimeConfig {
            runtime: arcp_proto::wire::RuntimeInfo {
                name: "arcp-blocking".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            ..RuntimeConfig::default()
        };
        cfg.features = ALL_FEATURES
            .iter()
            .filter(|f| **f != "heartbeat" || !self.heartbeat_interval.is_zero())
            .filter(|f| **f != "provisioned_credentials" || self.credentials)
            .map(|f| (*f).to_owned())
            .collect();
        cfg.agents = registry.specs();
        if self.tokens.is_none() {
            cfg.observer_policy = ObserverPolicy {
                observers: vec![DEFAULT_OBSERVER.to_owned()],
            };
        }
        cfg.resume_window = self.resume_window;
        if !self.heartbeat_interval.is_zero() {
            cfg.heartbeat_interval = self.heartbeat_interval;
        }
        cfg.durable = self.db.is_some();
        cfg.bounds = Bounds {
            max_frame_bytes: self.max_frame_bytes,
            ..self.bounds.clone()
        };
        cfg
    }

    /// Builds the runtime (restoring from the store) and starts the driver thread.
    fn start(mut self) -> Result<(Self, SyncSender<Input>, JoinHandle<()>), ServerError> {
        let registry = self
            .agents
            .take()
            .unwrap_or_else(arcp_agents::contract_agents);
        let cfg = self.runtime_config(&registry);
        let clock = Clock::new();
        let mut rt = Runtime::new(cfg.clone(), clock.wall(clock.now()), Box::new(OsEntropy));
        let store = match self.db.clone() {
            Some(p) => {
                let (db, snapshot) = arcp_sqlite::runtime::open(p)?;
                rt.restore(clock.now(), snapshot);
                Some(Store::new(db, cfg.bounds.max_ring_events))
            }
            None => None,
        };
        let (tx, rx) = sync_channel(self.input_capacity);
        let agents = AgentThreads::new(
            Arc::new(registry),
            tx.clone(),
            cfg.bounds.max_retained_jobs,
            self.credentials,
        );
        let driver = Driver::new(
            rt,
            clock,
            rx,
            self.tokens.clone().unwrap_or_else(TokenTable::contract),
            self.credentials.then(arcp_agents::Provisioner::new),
            store,
            agents,
            self.slow_consumer_timeout,
        );
        let driver = std::thread::Builder::new()
            .name("arcp-driver".into())
            .spawn(move || driver.run())?;
        Ok((self, tx, driver))
    }

    /// Serves WebSocket connections on `addr` at `path` (e.g. `"/arcp"`); returns the URL
    /// (`ws://HOST:PORT/PATH`) and a handle for shutdown.
    pub fn bind_ws(
        self,
        addr: impl ToSocketAddrs,
        path: &str,
    ) -> Result<(String, ServerHandle), ServerError> {
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        let (this, tx, driver) = self.start()?;
        let opts = Arc::new(ws::WsOptions {
            path: path.to_owned(),
            max_frame_bytes: this.max_frame_bytes,
            handshake_timeout: this.handshake_timeout,
            outbound_capacity: this.outbound_capacity,
            conn_ids: AtomicU64::new(1),
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
                tx,
                stop,
                accept: Some(accept),
                driver: Some(driver),
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
        let (this, tx, driver) = self.start()?;
        stdio::session(
            reader,
            writer,
            &tx,
            this.max_frame_bytes,
            this.outbound_capacity,
        );
        ServerHandle {
            local_addr: None,
            tx,
            stop: Arc::new(AtomicBool::new(true)),
            accept: None,
            driver: Some(driver),
        }
        .shutdown();
        Ok(())
    }
}

/// A running server. Dropping it leaves the server running; call [`ServerHandle::shutdown`].
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: Option<SocketAddr>,
    tx: SyncSender<Input>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    driver: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The listener's address (`None` for stdio).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
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
        if self.tx.send(Input::Shutdown { done }).is_ok() {
            let _ = rx.recv();
        }
        if let Some(d) = self.driver.take() {
            let _ = d.join();
        }
    }
}

/// An in-process WebSocket server for examples and tests: 127.0.0.1, any free port, path
/// `/arcp`, the defaults of [`Server::builder`].
pub fn spawn_local_ws() -> Result<(String, ServerHandle), ServerError> {
    Server::builder().bind_ws("127.0.0.1:0", "/arcp")
}

/// The OS entropy source (shared with the client).
pub(crate) fn entropy() -> OsEntropy {
    OsEntropy
}
