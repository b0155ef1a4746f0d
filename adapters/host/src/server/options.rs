//! The server builder's options (one struct for every adapter, with the defaults of
//! `arcp serve`), the authenticator default, and building the [`Runtime`] (restored from the
//! SQLite store when `db` is set) at the time and with the entropy the adapter gives.

use super::ServerError;
use arcp_agents::{AgentRegistry, DEFAULT_OBSERVER, TokenTable};
use arcp_auth::{AuthError, AuthFailure, Authenticator, Principal};
use arcp_proto::runtime::{
    AbuseLimits, Bounds, Feature, FeatureSet, ObserverPolicy, Runtime, RuntimeConfig,
};
use arcp_proto::time::{Instant, WallClock};
use arcp_proto::wire::Entropy;
use arcp_sqlite::SqliteStore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The static token table as an [`Authenticator`]: a known token gives its principal; any
/// other (empty included) is refused `unknown_token` with the message `invalid bearer token`,
/// the exact `session.error UNAUTHENTICATED` text the table has always sent.
#[derive(Debug, Clone)]
pub struct TokenAuth(pub TokenTable);

impl Authenticator for TokenAuth {
    fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        self.0
            .principal(token)
            .map(|p| Principal(p.to_owned()))
            .ok_or_else(|| AuthError::new(AuthFailure::UnknownToken))
    }
}

/// What a server builder configures, with the defaults of `arcp serve`: the contract tokens
/// with `auditor` as observer, heartbeat 2 s, resume window 600 s, 1 MiB frames, credentials
/// on, no durable store, the contract agents, input queue 1024, writer queues 4096, slow
/// consumers dropped after 5 s, WebSocket handshakes within 10 s.
pub struct ServerOptions {
    /// Bearer tokens; `None`: the contract tokens (unless `authenticator` is set).
    pub tokens: Option<TokenTable>,
    /// A custom authenticator; replaces the token table when set.
    pub authenticator: Option<Arc<dyn Authenticator>>,
    /// Observer principals (may list and subscribe to every job).
    pub observers: Vec<String>,
    /// `heartbeat_interval_sec`; zero disables heartbeats (the feature is not advertised).
    pub heartbeat_interval: Duration,
    /// How long a detached session stays resumable.
    pub resume_window: Duration,
    /// The inbound frame cap (D35).
    pub max_frame_bytes: usize,
    /// Credential provisioning (`provisioned_credentials`).
    pub credentials: bool,
    /// The SQLite durable store.
    pub db: Option<PathBuf>,
    /// The agents to host; `None`: [`arcp_agents::contract_agents`].
    pub agents: Option<AgentRegistry>,
    /// The core's bounds (its `max_frame_bytes` is replaced by `max_frame_bytes`).
    pub bounds: Bounds,
    /// Capacity of the driver's input queue.
    pub input_capacity: usize,
    /// Capacity of each connection's writer queue.
    pub outbound_capacity: usize,
    /// How long a full writer queue may stall before its connection is dropped.
    pub slow_consumer_timeout: Duration,
    /// How long a TCP connection may take to complete the WebSocket upgrade.
    pub handshake_timeout: Duration,
    /// Per-principal caps (live and resumable sessions, unfinished jobs); the core's
    /// non-zero defaults (see [`AbuseLimits`]).
    pub limits: AbuseLimits,
    /// Bytes of delegated children's ends kept for their parents' `wait_job` (see
    /// [`arcp_agents::JobEnds`]); default 16 MiB.
    pub max_job_end_bytes: usize,
    /// Demo mode: the contract agents, the contract tokens (with `auditor` as observer) and
    /// the demo credential provisioner, for trying the runtime out and for the interop
    /// scenarios. Set by `.demo()` / `arcp serve --demo`.
    pub demo: bool,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the tokens.
        f.debug_struct("ServerOptions")
            .field("observers", &self.observers)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("resume_window", &self.resume_window)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            tokens: None,
            authenticator: None,
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
            limits: AbuseLimits::default(),
            max_job_end_bytes: arcp_agents::DEFAULT_MAX_JOB_END_BYTES,
            demo: false,
        }
    }
}

/// What [`ServerOptions::build`] returns: the runtime (restored when a store exists), the
/// store to hand to the adapter's store thread, and what the host needs.
pub struct Built {
    /// The runtime.
    pub runtime: Runtime,
    /// The opened durable store (when `db` is set).
    pub store: Option<SqliteStore>,
    /// The agents to host.
    pub registry: AgentRegistry,
    /// The authenticator (the custom one, else the token table).
    pub auth: Arc<dyn Authenticator>,
    /// The wall-clock anchor the runtime was built with (credential ids).
    pub wall: WallClock,
    /// [`ServerOptions::max_job_end_bytes`].
    pub max_job_end_bytes: usize,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built").finish_non_exhaustive()
    }
}

impl ServerOptions {
    /// Adds bearer tokens `(token, principal)`; once any is given the contract tokens are no
    /// longer the default.
    pub fn add_tokens<T: Into<String>, P: Into<String>>(
        &mut self,
        tokens: impl IntoIterator<Item = (T, P)>,
    ) {
        let table = self.tokens.get_or_insert_with(TokenTable::new);
        for (t, p) in tokens {
            table.insert(t, p);
        }
    }

    /// The authenticator in force: the custom one, else the token table (default: the
    /// contract tokens).
    pub fn authenticator(&self) -> Arc<dyn Authenticator> {
        match &self.authenticator {
            Some(a) => a.clone(),
            None => Arc::new(TokenAuth(
                self.tokens.clone().unwrap_or_else(TokenTable::contract),
            )),
        }
    }

    /// The core configuration these options describe, for runtime `name` `version`.
    pub fn runtime_config(
        &self,
        name: &str,
        version: &str,
        registry: &AgentRegistry,
    ) -> RuntimeConfig {
        let mut cfg = RuntimeConfig {
            runtime: arcp_proto::wire::RuntimeInfo {
                name: name.into(),
                version: version.into(),
            },
            ..RuntimeConfig::default()
        };
        let mut features = FeatureSet::all();
        if self.heartbeat_interval.is_zero() {
            features.remove(Feature::Heartbeat);
        }
        if !self.credentials {
            features.remove(Feature::ProvisionedCredentials);
        }
        cfg.features = features;
        cfg.agents = registry.specs();
        let mut observers = self.observers.clone();
        // The contract tokens come with their observer.
        if self.tokens.is_none() && self.authenticator.is_none() && observers.is_empty() {
            observers.push(DEFAULT_OBSERVER.to_owned());
        }
        cfg.observer_policy = ObserverPolicy { observers };
        cfg.resume_window = self.resume_window;
        if !self.heartbeat_interval.is_zero() {
            cfg.heartbeat_interval = self.heartbeat_interval;
        }
        cfg.durable = self.db.is_some();
        cfg.limits = self.limits.clone();
        cfg.bounds = Bounds {
            max_frame_bytes: self.max_frame_bytes,
            ..self.bounds.clone()
        };
        cfg
    }

    /// Builds the runtime for `name` `version` at `now`, with the wall-clock anchor `wall`
    /// and `entropy` (ids, resume tokens), opening (a blocking SQLite read: call it where
    /// blocking is allowed) and restoring from `db` when set. The agents are taken out of
    /// the options.
    pub fn build(
        &mut self,
        name: &str,
        version: &str,
        now: Instant,
        wall: WallClock,
        entropy: Box<dyn Entropy + Send>,
    ) -> Result<Built, ServerError> {
        let registry = self
            .agents
            .take()
            .unwrap_or_else(arcp_agents::contract_agents);
        let cfg = self.runtime_config(name, version, &registry);
        let mut runtime = Runtime::new(cfg, wall, entropy);
        let store = match self.db.clone() {
            Some(path) => {
                let (db, snapshot) = arcp_sqlite::runtime::open(path)?;
                runtime.restore(now, snapshot);
                Some(db)
            }
            None => None,
        };
        Ok(Built {
            runtime,
            store,
            registry,
            auth: self.authenticator(),
            wall,
            max_job_end_bytes: self.max_job_end_bytes,
        })
    }
}

/// Generates the option setters every adapter's `ServerBuilder` shares, on a struct whose
/// field `opts` is a [`ServerOptions`]: `observer`, `authenticator`, `heartbeat_interval`,
/// `resume_window`, `max_frame_bytes`, `credentials`, `db`, `agents`, `bounds`, `limits`,
/// `max_job_end_bytes`, `input_capacity`, `outbound_capacity`, `slow_consumer_timeout`,
/// `handshake_timeout`, `demo`.
#[macro_export]
macro_rules! builder_options {
    ($builder:ty) => {
        impl $builder {
            /// Adds an observer principal: it may list and subscribe to every job (never
            /// cancel).
            pub fn observer(mut self, principal: impl Into<String>) -> Self {
                self.opts.observers.push(principal.into());
                self
            }

            /// Authenticates hellos with `auth` instead of the token table. Runs off the
            /// driver (it may block, e.g. on a JWKS fetch); its failures are sent as
            /// `session.error UNAUTHENTICATED` with the authenticator's message.
            pub fn authenticator(
                mut self,
                auth: impl $crate::server::Authenticator + 'static,
            ) -> Self {
                self.opts.authenticator = Some(::std::sync::Arc::new(auth));
                self
            }

            /// `heartbeat_interval_sec`; zero disables heartbeats (the feature is not
            /// advertised).
            pub fn heartbeat_interval(mut self, d: ::std::time::Duration) -> Self {
                self.opts.heartbeat_interval = d;
                self
            }

            /// How long a detached session stays resumable.
            pub fn resume_window(mut self, d: ::std::time::Duration) -> Self {
                self.opts.resume_window = d;
                self
            }

            /// The inbound frame cap (D35), mirrored into the transport's config.
            pub fn max_frame_bytes(mut self, n: usize) -> Self {
                self.opts.max_frame_bytes = n;
                self
            }

            /// Credential provisioning (`provisioned_credentials`); on by default.
            pub fn credentials(mut self, on: bool) -> Self {
                self.opts.credentials = on;
                self
            }

            /// The SQLite durable store; `None` (the default): only the core's in-memory
            /// ring. An existing file is restored from (sessions resumable, unfinished jobs
            /// ended "runtime restarted").
            pub fn db(mut self, path: Option<::std::path::PathBuf>) -> Self {
                self.opts.db = path;
                self
            }

            /// The agents to host (default: the contract agents of arcp-agents).
            pub fn agents(mut self, registry: $crate::server::AgentRegistry) -> Self {
                self.opts.agents = Some(registry);
                self
            }

            /// The core's bounds (its `max_frame_bytes` is replaced by `max_frame_bytes`).
            pub fn bounds(mut self, bounds: $crate::server::Bounds) -> Self {
                self.opts.bounds = bounds;
                self
            }

            /// Per-principal caps: live sessions, resumable sessions, unfinished jobs (and
            /// the zero-throughput timeout). Defaults: 1,000, 1,000 and 10,000 (see
            /// [`AbuseLimits`]($crate::server::AbuseLimits)); `usize::MAX` turns one off.
            pub fn limits(mut self, limits: $crate::server::AbuseLimits) -> Self {
                self.opts.limits = limits;
                self
            }

            /// Bytes of delegated children's ends kept for their parents' `wait_job`
            /// (default 16 MiB; the oldest unclaimed end is forgotten first).
            pub fn max_job_end_bytes(mut self, n: usize) -> Self {
                self.opts.max_job_end_bytes = n;
                self
            }

            /// Capacity of the driver's input queue (connections and agents wait when it is
            /// full).
            pub fn input_capacity(mut self, n: usize) -> Self {
                self.opts.input_capacity = n.max(1);
                self
            }

            /// Capacity of each connection's writer queue.
            pub fn outbound_capacity(mut self, n: usize) -> Self {
                self.opts.outbound_capacity = n.max(1);
                self
            }

            /// How long a full writer queue may stall before its connection is closed 1008
            /// and reported lost (its session stays resumable).
            pub fn slow_consumer_timeout(mut self, d: ::std::time::Duration) -> Self {
                self.opts.slow_consumer_timeout = d;
                self
            }

            /// How long a TCP connection may take to complete the WebSocket upgrade.
            pub fn handshake_timeout(mut self, d: ::std::time::Duration) -> Self {
                self.opts.handshake_timeout = d;
                self
            }

            /// Demo mode: hosts the contract agents and accepts the contract tokens
            /// (`alice-token`, `bob-token`, `auditor-token`, with `auditor` as observer)
            /// unless agents or authentication are configured explicitly. For trying the
            /// runtime out and for the interop scenarios, never for a deployment.
            pub fn demo(mut self) -> Self {
                self.opts.demo = true;
                self
            }
        }
    };
}
