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
//! when it stays full for `slow_consumer_timeout` the connection is closed 1008 and its
//! session stays resumable), the frame cap (`max_frame_bytes`, D35), the handshake time
//! (`handshake_timeout`: the TCP connection is dropped), plus every bound of the core's
//! `RuntimeConfig`.

mod driver;
mod host;
mod store;
pub(crate) mod ws;

pub use arcp_agents::BoxFuture;
pub use arcp_agents::{CREDENTIAL_ENDPOINT, DEFAULT_OBSERVER, DEFAULT_TOKENS, TokenTable};
pub(crate) use ws::ws_config;

use arcp_agents::{AgentRegistry, OsEntropy};
use arcp_proto::runtime::{ALL_FEATURES, Bounds, ObserverPolicy, Runtime, RuntimeConfig};
use async_channel::Sender;
use driver::{Clock, Driver, Input};
use host::AgentTasks;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// How the library starts its tasks: the application's executor.
pub type Spawner = Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync>;

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
    /// A builder with the defaults of `arcp serve` (the contract tokens with `auditor` as
    /// observer, heartbeat 2 s, resume window 600 s, 1 MiB frames, credentials on, no
    /// durable store, the contract agents), spawning its tasks with `spawn`.
    pub fn builder(
        spawn: impl Fn(BoxFuture<'static, ()>) + Send + Sync + 'static,
    ) -> ServerBuilder {
        ServerBuilder {
            spawn: Arc::new(spawn),
            tokens: None,
            observers: Vec::new(),
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

/// Configures and starts a server (the same options as arcp-tokio's `ServerBuilder`).
pub struct ServerBuilder {
    spawn: Spawner,
    tokens: Option<TokenTable>,
    observers: Vec<String>,
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
            .field("observers", &self.observers)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// Adds bearer tokens `(token, principal)`; once any is given the contract tokens are
    /// no longer the default.
    pub fn tokens<T: Into<String>, P: Into<String>>(
        mut self,
        tokens: impl IntoIterator<Item = (T, P)>,
    ) -> Self {
        let table = self.tokens.get_or_insert_with(TokenTable::new);
        for (t, p) in tokens {
            table.insert(t, p);
        }
        self
    }

    /// Adds an observer principal (may list and subscribe to every job, never cancel).
    pub fn observer(mut self, principal: impl Into<String>) -> Self {
        self.observers.push(principal.into());
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

    /// Capacity of the driver's input queue (connections and agents wait when it is full).
    pub fn input_capacity(mut self, n: usize) -> Self {
        self.input_capacity = n.max(1);
        self
    }

    /// Capacity of each connection's writer queue.
    pub fn outbound_capacity(mut self, n: usize) -> Self {
        self.outbound_capacity = n.max(1);
        self
    }

    /// How long a full writer queue may stall before its connection is closed 1008.
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
                name: "arcp-futures".into(),
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
        let mut observers = self.observers.clone();
        if self.tokens.is_none() && observers.is_empty() {
            observers.push(DEFAULT_OBSERVER.to_owned());
        }
        cfg.observer_policy = ObserverPolicy { observers };
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

    /// Serves WebSocket connections on `addr` at `path` (e.g. `"/arcp"`); returns the URL
    /// (`ws://HOST:PORT/PATH`) and a handle for shutdown. Opening an existing `db` (a
    /// blocking SQLite read) happens on the calling task.
    pub async fn bind_ws(
        mut self,
        addr: impl ToSocketAddrs,
        path: &str,
    ) -> Result<(String, ServerHandle), ServerError> {
        let std_listener = TcpListener::bind(addr)?;
        let local = std_listener.local_addr()?;
        let listener = async_io::Async::new(std_listener)?;
        let registry = self
            .agents
            .take()
            .unwrap_or_else(arcp_agents::contract_agents);
        let cfg = self.runtime_config(&registry);
        let clock = Clock::new();
        let mut rt = Runtime::new(cfg.clone(), clock.wall(clock.now()), Box::new(OsEntropy));
        let store = match self.db.clone() {
            Some(path) => {
                let (db, snapshot) = arcp_sqlite::runtime::open(path)?;
                rt.restore(clock.now(), snapshot);
                Some(store::StoreWorker::spawn(db, cfg.bounds.max_ring_events)?)
            }
            None => None,
        };
        let (tx, rx) = async_channel::bounded(self.input_capacity);
        let agents = AgentTasks::new(
            Arc::new(registry),
            tx.clone(),
            self.spawn.clone(),
            cfg.bounds.max_retained_jobs,
            self.credentials,
        );
        let tokens = self.tokens.clone().unwrap_or_else(TokenTable::contract);
        let creds = self.credentials.then(arcp_agents::Provisioner::new);
        let driver = Driver::new(
            rt,
            clock,
            rx,
            tokens,
            creds,
            store,
            agents,
            self.slow_consumer_timeout,
        );
        let (driver_done_tx, driver_done) = async_channel::bounded(1);
        (self.spawn)(Box::pin(async move {
            driver.run().await;
            let _ = driver_done_tx.try_send(());
        }));
        let opts = Arc::new(ws::WsOptions {
            path: path.to_owned(),
            max_frame_bytes: self.max_frame_bytes,
            handshake_timeout: self.handshake_timeout,
            outbound_capacity: self.outbound_capacity,
            conn_ids: AtomicU64::new(1),
            spawn: self.spawn.clone(),
        });
        let (stop, stop_rx) = async_channel::bounded(1);
        let (accept_done_tx, accept_done) = async_channel::bounded(1);
        let accept_tx = tx.clone();
        (self.spawn)(Box::pin(async move {
            ws::accept_loop(listener, opts, accept_tx, stop_rx).await;
            let _ = accept_done_tx.try_send(());
        }));
        Ok((
            format!("ws://{local}{path}"),
            ServerHandle {
                local_addr: local,
                tx,
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
    tx: Sender<Input>,
    stop: Sender<()>,
    accept_done: async_channel::Receiver<()>,
    driver_done: async_channel::Receiver<()>,
}

impl ServerHandle {
    /// The listener's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Graceful shutdown: stop accepting, cancel every agent, close every connection (1000),
    /// commit what the store has pending, and wait for the driver to end.
    pub async fn shutdown(self) {
        let _ = self.stop.try_send(());
        let _ = self.accept_done.recv().await;
        let (done, rx) = async_channel::bounded(1);
        if self.tx.send(Input::Shutdown { done }).await.is_ok() {
            let _ = rx.recv().await;
        }
        let _ = self.driver_done.recv().await;
    }
}
