//! The runtime side: WebSocket and stdio servers driving [`arcp_proto::runtime::Runtime`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), arcp_tokio::server::ServerError> {
//! use arcp_tokio::server::Server;
//! let (url, handle) = Server::builder()
//!     .heartbeat_interval(std::time::Duration::from_secs(2))
//!     .bind_ws("127.0.0.1:0", "/arcp")
//!     .await?;
//! println!("LISTENING {url}");
//! handle.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! One task (the driver) owns the `Runtime` and follows the driving contract; connection
//! tasks, agent tasks and the SQLite thread talk to it over bounded channels only. Frames are
//! written as they come.
//!
//! Bounds (each has a defined outcome): the driver's input queue (`input_capacity`: senders
//! wait), each connection's writer queue (`outbound_capacity`: when it stays full for
//! `slow_consumer_timeout` the connection is closed 1008 and its session stays resumable), the
//! frame cap (`max_frame_bytes`, D35), the handshake time (`handshake_timeout`: the TCP
//! connection is dropped), plus every bound of the core's `RuntimeConfig`.

#[cfg(feature = "axum")]
pub mod axum;
mod driver;
mod host;
mod stdio;
mod store;
mod ws;

pub use arcp_agents::{CREDENTIAL_ENDPOINT, DEFAULT_OBSERVER, DEFAULT_TOKENS, TokenTable};

use arcp_agents::AgentRegistry;
use arcp_agents::OsEntropy;
use arcp_proto::runtime::{ALL_FEATURES, Bounds, ConnId, ObserverPolicy, Runtime, RuntimeConfig};
use driver::{Clock, Driver, Input};
use host::AgentTasks;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding or another socket operation failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The durable store could not be opened or read.
    #[error("durable store: {0}")]
    Store(#[from] arcp_sqlite::StoreError),
    /// The TLS certificate or key could not be read or used.
    #[error("tls: {0}")]
    Tls(String),
}

/// Where a `wss://` server's certificate comes from.
#[derive(Debug, Clone)]
enum TlsSource {
    /// PEM files: the certificate chain, the private key.
    Files(PathBuf, PathBuf),
    /// A ready rustls config.
    Config(Arc<rustls::ServerConfig>),
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
    tls: Option<TlsSource>,
    authenticator: Option<Arc<dyn arcp_auth::Authenticator>>,
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

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
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
            tls: None,
            authenticator: None,
        }
    }
}

impl ServerBuilder {
    /// Adds bearer tokens `(token, principal)`. Once any is given, the contract tokens are no
    /// longer the default.
    pub fn tokens<T, P>(mut self, tokens: impl IntoIterator<Item = (T, P)>) -> Self
    where
        T: Into<String>,
        P: Into<String>,
    {
        let table = self.tokens.get_or_insert_with(TokenTable::new);
        for (t, p) in tokens {
            table.insert(t, p);
        }
        self
    }

    /// Adds an observer principal: it may list and subscribe to every job (never cancel).
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

    /// The SQLite durable store; `None` (the default): no durable store, only the core's
    /// in-memory ring. An existing file is restored from (sessions resumable, unfinished jobs
    /// ended "runtime restarted").
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

    /// Serves `wss://` from [`Self::bind_ws`]: the PEM certificate chain at `cert` and the
    /// PEM private key at `key` (read when binding; a bad file fails `bind_ws` with
    /// [`ServerError::Tls`]). The TLS handshake counts against [`Self::handshake_timeout`].
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some(TlsSource::Files(cert.into(), key.into()));
        self
    }

    /// Serves `wss://` with this rustls config (see [`Self::tls`]).
    pub fn tls_config(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(TlsSource::Config(config));
        self
    }

    /// Authenticates `session.hello` bearer tokens with `auth` (run on tokio's blocking pool)
    /// instead of the token table; [`Self::tokens`] is then unused.
    pub fn authenticator(mut self, auth: impl arcp_auth::Authenticator + 'static) -> Self {
        self.authenticator = Some(Arc::new(auth));
        self
    }

    /// The core configuration this builder describes (agents from `registry`).
    fn runtime_config(&self, registry: &AgentRegistry) -> RuntimeConfig {
        let mut cfg = RuntimeConfig {
            runtime: arcp_proto::wire::RuntimeInfo {
                name: "arcp-tokio".into(),
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
        if self.tokens.is_none() && self.authenticator.is_none() && observers.is_empty() {
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

    /// Builds the runtime (restoring from the store) and spawns the driver.
    async fn start(mut self) -> Result<Running, ServerError> {
        let registry = self
            .agents
            .take()
            .unwrap_or_else(arcp_agents::contract_agents);
        let cfg = self.runtime_config(&registry);
        let clock = Clock::new();
        let now = clock.now();
        let mut rt = Runtime::new(cfg.clone(), clock.wall(now), Box::new(OsEntropy));
        let store = match self.db.clone() {
            Some(path) => {
                let opened = tokio::task::spawn_blocking(move || store::open(path))
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))??;
                let (db, snapshot) = opened;
                rt.restore(clock.now(), snapshot);
                Some(store::StoreWorker::spawn(db, cfg.bounds.max_ring_events)?)
            }
            None => None,
        };
        let (tx, rx) = mpsc::channel(self.input_capacity);
        let agents = AgentTasks::new(
            Arc::new(registry),
            tx.clone(),
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
        let mut driver = driver;
        driver.external_auth = self.authenticator.clone().map(|a| (a, tx.downgrade()));
        let task = tokio::spawn(driver.run());
        Ok(Running {
            tx,
            driver: task,
            max_frame_bytes: self.max_frame_bytes,
            outbound_capacity: self.outbound_capacity,
            handshake_timeout: self.handshake_timeout,
        })
    }

    /// Serves WebSocket connections on `addr` at `path` (e.g. `"/arcp"`); returns the URL
    /// (`ws://HOST:PORT/PATH`, or `wss://` with [`Self::tls`]) and a handle for shutdown.
    pub async fn bind_ws(
        self,
        addr: impl ToSocketAddrs,
        path: &str,
    ) -> Result<(String, ServerHandle), ServerError> {
        let tls = match &self.tls {
            None => None,
            Some(TlsSource::Config(cfg)) => Some(cfg.clone()),
            Some(TlsSource::Files(cert, key)) => {
                Some(crate::tls::server_config(cert, key).map_err(ServerError::Tls)?)
            }
        };
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let running = self.start().await?;
        let opts = Arc::new(ws::WsOptions {
            path: path.to_owned(),
            max_frame_bytes: running.max_frame_bytes,
            handshake_timeout: running.handshake_timeout,
            outbound_capacity: running.outbound_capacity,
            conn_ids: Arc::new(AtomicU64::new(1)),
            tls: tls.clone().map(tokio_rustls::TlsAcceptor::from),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let accept = tokio::spawn(ws::accept_loop(listener, opts, running.tx.clone(), stop_rx));
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        let url = format!("{scheme}://{local}{path}");
        Ok((
            url,
            ServerHandle {
                local_addr: Some(local),
                tx: running.tx,
                stop: stop_tx,
                accept: Some(accept),
                driver: running.driver,
            },
        ))
    }

    /// Serves one session on this process's stdin/stdout until EOF or the session closes.
    ///
    /// A read of tokio's stdin runs on a blocking thread that the tokio runtime waits for
    /// when it shuts down: a program that serves stdio should exit the process once this
    /// returns (as `examples/serve.rs` does), which also closes stdout for the peer.
    pub async fn serve_stdio(self) -> Result<(), ServerError> {
        self.serve_io(tokio::io::stdin(), tokio::io::stdout()).await
    }

    /// Serves one session on a byte stream pair (one envelope per line) until EOF or the
    /// session closes, then shuts the server down.
    pub async fn serve_io<R, W>(self, reader: R, writer: W) -> Result<(), ServerError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let running = self.start().await?;
        stdio::session(
            reader,
            writer,
            ConnId(1),
            running.tx.clone(),
            running.max_frame_bytes,
            running.outbound_capacity,
        )
        .await;
        let (stop, _) = watch::channel(false);
        ServerHandle {
            local_addr: None,
            tx: running.tx,
            stop,
            accept: None,
            driver: running.driver,
        }
        .shutdown()
        .await;
        Ok(())
    }
}

struct Running {
    tx: mpsc::Sender<Input>,
    driver: JoinHandle<()>,
    max_frame_bytes: usize,
    outbound_capacity: usize,
    handshake_timeout: Duration,
}

/// A running server. Dropping it stops accepting new WebSocket connections (the runtime and
/// the connections already open keep running); call [`ServerHandle::shutdown`] to stop it.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: Option<SocketAddr>,
    tx: mpsc::Sender<Input>,
    stop: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
    driver: JoinHandle<()>,
}

impl ServerHandle {
    /// The WebSocket listener's address (`None` for stdio).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Graceful shutdown: stop accepting, cancel every agent, close every connection (1000),
    /// commit what the store has pending, and wait for the driver to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(a) = self.accept.take() {
            let _ = a.await;
        }
        let (done, rx) = oneshot::channel();
        if self.tx.send(Input::Shutdown { done }).await.is_ok() {
            let _ = rx.await;
        }
        let _ = self.driver.await;
    }

    /// Stops the server abruptly (no close frames, no final store flush), like a crash of
    /// the runtime's process; what was committed stays committed.
    pub fn abort(self) {
        if let Some(a) = &self.accept {
            a.abort();
        }
        self.driver.abort();
    }
}

/// An in-process WebSocket server for examples and tests: 127.0.0.1, any free port, path
/// `/arcp`, the defaults of [`Server::builder`] (contract tokens and agents).
pub async fn spawn_local_ws() -> Result<(String, ServerHandle), ServerError> {
    Server::builder().bind_ws("127.0.0.1:0", "/arcp").await
}
