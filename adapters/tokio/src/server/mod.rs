//! The runtime side: WebSocket and stdio servers driving [`arcp_proto::runtime::Runtime`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), arcp_tokio::server::ServerError> {
//! use arcp_tokio::server::Server;
//! let (url, handle) = Server::builder()
//!     .tokens([("s3cret", "alice")])
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
//! wait), each connection's writer queue (`outbound_capacity`: the driver never waits on it;
//! a full one stops that connection receiving until its writer has room, and when its writer
//! takes nothing for `slow_consumer_timeout` the connection is closed 1008 and its session
//! stays resumable), the frame cap (`max_frame_bytes`, [D35]), the handshake time
//! (`handshake_timeout`: the TCP connection is dropped), the hello time (`hello_timeout`:
//! closed 1008), plus every bound of the core's `RuntimeConfig`.
//!
//! [D35]: arcp_proto::compat#d35--frame-size

#[cfg(feature = "axum")]
pub mod axum;
mod driver;
mod http;
mod metrics;
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
mod process_agents;
mod spin;
mod stdio;
mod ws;

pub use arcp_agents::{CREDENTIAL_ENDPOINT, DEFAULT_OBSERVER, DEFAULT_TOKENS, TokenTable};
pub use arcp_host::server::{ServerError, ServerMetrics, Store, StoreError};
pub use spin::DEFAULT_IDLE_SPIN;

use arcp_agents::{OsEntropy, SystemClock};
use arcp_host::server::{MetricsHandle, ServerOptions};
use arcp_proto::runtime::ConnId;
use driver::{Driver, Input, Queues, Stop};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

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
    /// A builder, secure by default: no agents, no accepted token (configure `tokens`/
    /// `authenticator`, or it refuses to start with [`ServerError::NoAuthentication`]), no
    /// credential provisioning; heartbeat 2 s, resume window 600 s, 1 MiB frames, no durable
    /// store. `.demo()` brings the contract agents and tokens.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

/// Where `/metrics` is served.
#[derive(Debug, Clone, Copy)]
enum MetricsAt {
    /// Its own listener.
    Listener(SocketAddr),
    /// The WebSocket port.
    SamePort,
}

/// Configures and starts a server (the options are arcp-host's [`ServerOptions`]).
#[derive(Debug, Default)]
pub struct ServerBuilder {
    opts: ServerOptions,
    tls: Option<TlsSource>,
    dashboard: bool,
    allowed_origins: Vec<String>,
    metrics_at: Option<MetricsAt>,
    healthz: bool,
    /// `None`: [`DEFAULT_IDLE_SPIN`].
    idle_spin: Option<Duration>,
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    process_agents: process_agents::ProcessAgents,
}

arcp_host::builder_options!(ServerBuilder);

impl ServerBuilder {
    /// Adds bearer tokens `(token, principal)`. Once any is given, the contract tokens are not
    /// accepted, even in demo mode.
    pub fn tokens<T, P>(mut self, tokens: impl IntoIterator<Item = (T, P)>) -> Self
    where
        T: Into<String>,
        P: Into<String>,
    {
        self.opts.add_tokens(tokens);
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

    /// Serves the dashboard page at `/` of [`Self::bind_ws`]'s port (the WebSocket stays at
    /// its path): a static page embedded in the binary that is an ARCP client of this server.
    /// Every answer carries a strict `Content-Security-Policy` (the page's own script, style
    /// and WebSocket only), `X-Content-Type-Options: nosniff` and `Cache-Control: no-store`.
    /// Off by default; not served by the axum route (the app owns its HTTP routes).
    pub fn dashboard(mut self, on: bool) -> Self {
        self.dashboard = on;
        self
    }

    /// Also accepts WebSocket upgrades from the browser origin `origin` (`scheme://host[:port]`,
    /// compared case-insensitively, default ports ignored). Without it, an upgrade that carries
    /// an `Origin` header is accepted only from the server's own origin (`http://` or, with TLS
    /// or [`Self::behind_tls_proxy`], `https://`, and the request's `Host`), others get
    /// `403 Forbidden`; clients that send no `Origin` (not browsers) are not affected.
    /// Repeatable.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Serves `GET /metrics` (the Prometheus text format) on its own listener at `addr`
    /// (bound by [`Self::bind_ws`]; its address is [`ServerHandle::metrics_addr`]; port 0
    /// picks a free one). Keep it on a loopback address: the series name no principal, but
    /// they tell anyone how busy the server is. Replaces [`Self::metrics_same_port`]. Not
    /// served by the axum route.
    pub fn metrics(mut self, addr: SocketAddr) -> Self {
        self.metrics_at = Some(MetricsAt::Listener(addr));
        self
    }

    /// Serves `GET /metrics` on [`Self::bind_ws`]'s own port instead of a listener of its
    /// own. Replaces [`Self::metrics`].
    pub fn metrics_same_port(mut self) -> Self {
        self.metrics_at = Some(MetricsAt::SamePort);
        self
    }

    /// Serves `GET /healthz` on [`Self::bind_ws`]'s port (for load balancers' health
    /// checks): `200` with the body `ok` while the server serves, `503` with the body
    /// `draining` once [`ServerHandle::drain`] started. It is served whenever the port
    /// answers plain HTTP (with [`Self::dashboard`] or [`Self::metrics_same_port`] too);
    /// this turns that on without them. Off by default; not served by the axum route.
    pub fn healthz(mut self, on: bool) -> Self {
        self.healthz = on;
        self
    }

    /// How long the driver task, done with its work, keeps looking for its next input
    /// (yielding to the other tasks between looks) before it sleeps; default
    /// [`DEFAULT_IDLE_SPIN`] (100 µs), `Duration::ZERO` turns it off. On a quiet machine a
    /// sleeping thread takes tens of microseconds to run again, so a request that arrives
    /// within the window is answered without that wake-up (on this project's 2-core
    /// virtual machine it took the submit→accepted p50 from ~80 µs to ~45 µs). It costs at
    /// most the window's CPU each time the server goes idle, and nothing under a steady
    /// load; turn it off where idle CPU matters more than latency.
    pub fn idle_spin(mut self, window: Duration) -> Self {
        self.idle_spin = Some(window);
        self
    }

    /// Builds the runtime (restoring from the store off the async threads) and spawns the
    /// driver.
    async fn start(mut self) -> Result<Running, ServerError> {
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
        std::mem::take(&mut self.process_agents).apply(&mut self.opts)?;
        let clock = SystemClock::new();
        let version = env!("CARGO_PKG_VERSION");
        let built = if self.opts.is_durable() {
            let (opts, built) = tokio::task::spawn_blocking(move || {
                let now = clock.now();
                let entropy = Box::new(OsEntropy);
                let built = self
                    .opts
                    .build("arcp-tokio", version, now, clock.wall(now), entropy);
                (self.opts, built)
            })
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
            self.opts = opts;
            built?
        } else {
            let now = clock.now();
            let entropy = Box::new(OsEntropy);
            (self.opts).build("arcp-tokio", version, now, clock.wall(now), entropy)?
        };
        let (tx, rx) = mpsc::channel(self.opts.input_capacity);
        let (shutdown, shutdown_rx) = mpsc::channel(1);
        let queues = Queues {
            tx: tx.clone(),
            rx,
            shutdown: shutdown_rx,
        };
        let o = &self.opts;
        let store_latency = metrics::store_latency_histogram();
        let (driver, metrics, agents) = Driver::new(
            built,
            clock,
            queues,
            o.provisions_credentials(),
            store_latency.clone(),
            self.idle_spin.unwrap_or(DEFAULT_IDLE_SPIN),
        )?;
        let task = tokio::spawn(driver.run());
        Ok(Running {
            tx,
            shutdown,
            exporter: Arc::new(metrics::Exporter::new(
                metrics.clone(),
                agents,
                store_latency,
            )),
            metrics,
            driver: task,
            max_frame_bytes: o.max_frame_bytes,
            outbound_capacity: o.outbound_capacity,
            handshake_timeout: o.handshake_timeout,
        })
    }

    /// Serves WebSocket connections on `addr` at `path` (e.g. `"/arcp"`); returns the URL
    /// (`ws://HOST:PORT/PATH`, or `wss://` with [`Self::tls`]) and a handle for shutdown.
    /// With [`Self::dashboard`] or [`Self::metrics_same_port`] the port answers plain HTTP
    /// too; with [`Self::metrics`] the metrics listener is bound here as well.
    pub async fn bind_ws(
        self,
        addr: impl ToSocketAddrs,
        path: &str,
    ) -> Result<(String, ServerHandle), ServerError> {
        self.opts.check()?;
        let tls = match &self.tls {
            None => None,
            Some(TlsSource::Config(cfg)) => Some(cfg.clone()),
            Some(TlsSource::Files(cert, key)) => {
                Some(crate::tls::server_config(cert, key).map_err(ServerError::Tls)?)
            }
        };
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        arcp_host::server::warn_if_exposed(local, tls.is_some());
        let metrics_listener = match self.metrics_at {
            Some(MetricsAt::Listener(a)) => Some(TcpListener::bind(a).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("the metrics listener on {a}: {e}"))
            })?),
            _ => None,
        };
        let metrics_addr = match &metrics_listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let secure_origin = tls.is_some() || self.opts.behind_tls_proxy;
        let origins = http::OriginPolicy::new(secure_origin, &self.allowed_origins);
        let dashboard = self.dashboard;
        let same_port = matches!(self.metrics_at, Some(MetricsAt::SamePort));
        let front = dashboard || same_port || self.healthz;
        // §9.8: credentials only over TLS, loopback, or behind a vouched-for TLS proxy.
        let carries_credentials =
            tls.is_some() || local.ip().is_loopback() || self.opts.behind_tls_proxy;
        let running = self.start().await?;
        let draining = Arc::new(AtomicBool::new(false));
        let opts = Arc::new(ws::WsOptions {
            path: path.to_owned(),
            max_frame_bytes: running.max_frame_bytes,
            handshake_timeout: running.handshake_timeout,
            outbound_capacity: running.outbound_capacity,
            conn_ids: Arc::new(AtomicU64::new(1)),
            tls: tls.clone().map(tokio_rustls::TlsAcceptor::from),
            carries_credentials,
            origins,
            draining: draining.clone(),
            http: front.then(|| {
                Arc::new(http::HttpFront {
                    index: dashboard.then(|| http::dashboard_index(path)),
                    metrics: same_port.then(|| running.exporter.clone()),
                })
            }),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let metrics_task = metrics_listener.map(|l| {
            let exporter = running.exporter.clone();
            tokio::spawn(metrics::serve_listener(l, exporter, stop_rx.clone()))
        });
        let accept = tokio::spawn(ws::accept_loop(listener, opts, running.tx.clone(), stop_rx));
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        let url = format!("{scheme}://{local}{path}");
        Ok((
            url,
            ServerHandle {
                local_addr: Some(local),
                shutdown: running.shutdown,
                metrics: running.metrics,
                stop: stop_tx,
                accept: Some(accept),
                metrics_addr,
                metrics_task,
                driver: running.driver,
                draining,
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
            shutdown: running.shutdown,
            metrics: running.metrics,
            stop,
            accept: None,
            metrics_addr: None,
            metrics_task: None,
            driver: running.driver,
            draining: Arc::new(AtomicBool::new(false)),
        }
        .shutdown()
        .await;
        Ok(())
    }
}

struct Running {
    tx: mpsc::Sender<Input>,
    shutdown: mpsc::Sender<Stop>,
    metrics: MetricsHandle,
    exporter: Arc<metrics::Exporter>,
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
    shutdown: mpsc::Sender<Stop>,
    metrics: MetricsHandle,
    stop: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
    metrics_addr: Option<SocketAddr>,
    metrics_task: Option<JoinHandle<()>>,
    driver: JoinHandle<()>,
    /// Set by [`ServerHandle::drain`]: `/healthz` answers 503, upgrades are refused.
    draining: Arc<AtomicBool>,
}

impl ServerHandle {
    /// The WebSocket listener's address (`None` for stdio).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The `/metrics` listener's address ([`ServerBuilder::metrics`]; `None` without one).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The server's counters (published by the driver at most 5 ms after a change).
    pub fn metrics(&self) -> ServerMetrics {
        self.metrics.get()
    }

    /// Graceful shutdown: stop accepting, cancel every agent, close every connection (1000),
    /// commit what the store has pending, and wait for the driver to end.
    pub async fn shutdown(mut self) {
        self.stop_accepting().await;
        self.stop_driver(None).await;
    }

    /// Graceful shutdown for a node behind a load balancer (`arcp serve` does this on
    /// SIGTERM). At once: `GET /healthz` ([`ServerBuilder::healthz`]) answers `503
    /// draining`, and every new WebSocket upgrade is refused with `503 Service Unavailable`
    /// (the port stays open so that health checks get their answer). The connections already
    /// open keep being served while their jobs run. Once no job runs any more (no agent task,
    /// no job held, no stalled writer, no store batch out) — or when `grace` is over,
    /// whichever comes first — every agent still running is cancelled, every connection is
    /// closed with code 1001 (going away: reconnect, e.g. to another node), the store
    /// commits what is pending, and the driver ends. `grace` zero: close at once.
    pub async fn drain(mut self, grace: Duration) {
        self.draining.store(true, Ordering::SeqCst);
        let until = tokio::time::Instant::now() + grace;
        self.stop_driver(Some(until)).await;
        self.stop_accepting().await;
    }

    /// Ends the accept loop and the metrics listener.
    async fn stop_accepting(&mut self) {
        let _ = self.stop.send(true);
        if let Some(a) = self.accept.take() {
            let _ = a.await;
        }
        if let Some(m) = self.metrics_task.take() {
            let _ = m.await;
        }
    }

    /// Asks the driver to stop (now, or after a drain until `drain`) and waits for it.
    async fn stop_driver(&mut self, drain: Option<tokio::time::Instant>) {
        let (done, rx) = oneshot::channel();
        if self.shutdown.send(Stop { drain, done }).await.is_ok() {
            let _ = rx.await;
        }
        let _ = (&mut self.driver).await;
    }

    /// Stops the server abruptly (no close frames, no final store flush), like a crash of
    /// the runtime's process; what was committed stays committed.
    pub fn abort(self) {
        if let Some(a) = &self.accept {
            a.abort();
        }
        if let Some(m) = &self.metrics_task {
            m.abort();
        }
        self.driver.abort();
    }
}

/// An in-process demo WebSocket server for examples and tests: 127.0.0.1, any free port, path
/// `/arcp`, [`ServerBuilder::demo`] (the contract agents and tokens).
pub async fn spawn_local_ws() -> Result<(String, ServerHandle), ServerError> {
    Server::builder()
        .demo()
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
}
