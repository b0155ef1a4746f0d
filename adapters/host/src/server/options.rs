//! The server builder's options (one struct for every adapter), the authenticator in force,
//! and building the [`Runtime`] (restored from the SQLite store when `db` is set) at the time
//! and with the entropy the adapter gives.
//!
//! Secure by default: without [`ServerOptions::demo`] a server hosts no agent, accepts no
//! token and provisions no credential until configured; a server with neither authentication
//! (tokens or an authenticator) nor demo mode refuses to start with
//! [`ServerError::NoAuthentication`].

use super::ServerError;
use arcp_agents::{AgentRegistry, DEFAULT_OBSERVER, TokenTable, ToolRegistry};
use arcp_auth::{AuthError, AuthFailure, Authenticator, Principal};
use arcp_proto::runtime::{
    AbuseLimits, Bounds, Feature, FeatureSet, ObserverPolicy, Runtime, RuntimeConfig,
};
use arcp_proto::time::{Instant, WallClock};
use arcp_proto::wire::Entropy;
use arcp_store::Store;
use arcp_store::cluster::ClusterWatch;
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

/// What a server builder configures. Defaults: no agents, no accepted token (authentication
/// must be configured, or demo mode chosen, before the server starts), no credential
/// provisioning, heartbeat 2 s, resume window 600 s, 1 MiB frames, no durable store, input
/// queue 1024, writer queues 4096, slow consumers dropped after 5 s, WebSocket handshakes
/// within 10 s, `session.hello` within 10 s. Demo mode ([`ServerOptions::demo`]) brings the contract agents, the contract
/// tokens with `auditor` as observer and the in-process credential provisioner, each only
/// where not configured explicitly.
pub struct ServerOptions {
    /// Bearer tokens; `None`: none (the contract tokens in demo mode, unless `authenticator`
    /// is set).
    pub tokens: Option<TokenTable>,
    /// A custom authenticator; replaces the token table when set.
    pub authenticator: Option<Arc<dyn Authenticator>>,
    /// Observer principals (may list and subscribe to every job).
    pub observers: Vec<String>,
    /// `heartbeat_interval_sec`; zero disables heartbeats (the feature is not advertised).
    pub heartbeat_interval: Duration,
    /// How long a detached session stays resumable.
    pub resume_window: Duration,
    /// The inbound frame cap ([D35]).
    ///
    /// [D35]: arcp_proto::compat#d35--frame-size
    pub max_frame_bytes: usize,
    /// Credential provisioning (`provisioned_credentials`); `None`: on. It is advertised
    /// only with a provisioner: `provisioner`, or the demo one in demo mode.
    pub credentials: Option<bool>,
    /// The credential provisioner; `None`: the [`DemoProvisioner`](super::DemoProvisioner)
    /// in demo mode, else no provisioning at all.
    pub provisioner: Option<Arc<dyn super::CredentialProvisioner>>,
    /// WebSocket listeners without TLS on a non-loopback address may carry credentials
    /// anyway: the operator runs them behind a TLS-terminating proxy. Off by default: such
    /// a listener's sessions are offered no `provisioned_credentials`.
    pub behind_tls_proxy: bool,
    /// The SQLite durable store at this path (opened, created if missing, and migrated at
    /// build). Setting it clears `store`.
    pub db: Option<PathBuf>,
    /// A durable store of any backend (e.g. arcp-postgres's), already open; used instead of
    /// `db`. Setting it clears `db`.
    pub store: Option<Box<dyn Store>>,
    /// The cluster this node joined (set with `store` by the builder's `.cluster(..)`):
    /// forwarded job frames, released sessions, cancels routed here and lost nodes arrive
    /// through it; a thread of the adapter's waits on it.
    pub cluster: Option<Box<dyn ClusterWatch>>,
    /// This node's id, shown as `runtime.node_id` in every `session.welcome`; `None`: the
    /// cluster's node id when one is joined, else not shown.
    pub node_id: Option<String>,
    /// The agents to host; `None`: none ([`arcp_agents::demo_agents`] in demo mode: the
    /// contract agents and `tool-user`).
    pub agents: Option<AgentRegistry>,
    /// The runtime-hosted tools agents reach through `JobContext::call_tool` (checked
    /// against `tool.call`, charged their declared cost); `None`: no tools
    /// ([`arcp_agents::demo_tools`] in demo mode).
    pub tools: Option<ToolRegistry>,
    /// The core's bounds (its `max_frame_bytes` is replaced by `max_frame_bytes`).
    pub bounds: Bounds,
    /// Capacity of the driver's input queue.
    pub input_capacity: usize,
    /// Capacity of each connection's writer queue.
    pub outbound_capacity: usize,
    /// How long a connection whose writer queue is full may go without its writer taking
    /// anything before it is closed 1008 (its session stays resumable). Meanwhile it only
    /// stops receiving; nobody else waits.
    pub slow_consumer_timeout: Duration,
    /// How long a TCP connection may take to complete the WebSocket upgrade.
    pub handshake_timeout: Duration,
    /// How long a connection (a WebSocket after its upgrade, or stdio) may take to complete
    /// `session.hello` (authentication included). Past it the connection is closed: WebSocket
    /// 1008 without an error frame; stdio: the session ends. Zero: never.
    pub hello_timeout: Duration,
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
            .field("store", &self.store.is_some())
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
            credentials: None,
            provisioner: None,
            behind_tls_proxy: false,
            db: None,
            store: None,
            cluster: None,
            node_id: None,
            agents: None,
            tools: None,
            bounds: Bounds::default(),
            input_capacity: 1024,
            outbound_capacity: 4096,
            slow_consumer_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(10),
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
    /// The opened durable store (when `db` or `store` is set).
    pub store: Option<Box<dyn Store>>,
    /// The runtime-hosted tools.
    pub tools: ToolRegistry,
    /// The agents to host.
    pub registry: AgentRegistry,
    /// The authenticator (the custom one, else the token table).
    pub auth: Arc<dyn Authenticator>,
    /// The wall-clock anchor the runtime was built with (credential ids).
    pub wall: WallClock,
    /// The configured credential provisioner (provisioning on).
    pub provisioner: Option<Arc<dyn super::CredentialProvisioner>>,
    /// Provisioning is on in demo mode without a configured provisioner: the host uses the
    /// [`DemoProvisioner`](super::DemoProvisioner).
    pub demo_credentials: bool,
    /// How long a stalled connection may go without progress before it is cut (1008).
    pub slow_consumer_timeout: Duration,
    /// [`ServerOptions::max_job_end_bytes`].
    pub max_job_end_bytes: usize,
    /// The cluster joined ([`ServerOptions::cluster`]): the adapter runs its watch on a
    /// thread of its own and feeds what it reports as [`Input::Cluster`](super::Input::Cluster).
    pub cluster: Option<Box<dyn ClusterWatch>>,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built").finish_non_exhaustive()
    }
}

impl ServerOptions {
    /// Adds bearer tokens `(token, principal)`; once any is given the contract tokens are not
    /// accepted, even in demo mode.
    pub fn add_tokens<T: Into<String>, P: Into<String>>(
        &mut self,
        tokens: impl IntoIterator<Item = (T, P)>,
    ) {
        let table = self.tokens.get_or_insert_with(TokenTable::new);
        for (t, p) in tokens {
            table.insert(t, p);
        }
    }

    /// The authenticator in force: the custom one, else the token table (the contract
    /// tokens in demo mode when none is configured; an empty table, refusing every token,
    /// otherwise).
    pub fn authenticator(&self) -> Arc<dyn Authenticator> {
        match &self.authenticator {
            Some(a) => a.clone(),
            None => Arc::new(TokenAuth(match &self.tokens {
                Some(t) => t.clone(),
                None if self.demo => TokenTable::contract(),
                None => TokenTable::new(),
            })),
        }
    }

    /// Whether credentials are provisioned (and `provisioned_credentials` advertised):
    /// provisioning not turned off with `credentials(false)`, and a provisioner — the
    /// configured one, or the demo one in demo mode (never outside it).
    pub fn provisions_credentials(&self) -> bool {
        self.credentials.unwrap_or(true) && (self.provisioner.is_some() || self.demo)
    }

    /// Why these options cannot start a server: no authentication configured (no token,
    /// no authenticator) and not demo mode. A server that would refuse every hello is a
    /// misconfiguration, reported before anything is bound or opened.
    pub fn check(&self) -> Result<(), ServerError> {
        if self.demo || self.authenticator.is_some() || self.tokens.is_some() {
            Ok(())
        } else {
            Err(ServerError::NoAuthentication)
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
                node_id: self
                    .node_id
                    .clone()
                    .or_else(|| self.cluster.as_ref().map(|c| c.node_id().to_owned())),
            },
            ..RuntimeConfig::default()
        };
        let mut features = FeatureSet::all();
        if self.heartbeat_interval.is_zero() {
            features.remove(Feature::Heartbeat);
        }
        if !self.provisions_credentials() {
            features.remove(Feature::ProvisionedCredentials);
        }
        cfg.features = features;
        cfg.agents = registry.specs();
        let mut observers = self.observers.clone();
        // The demo's contract tokens come with their observer.
        if self.demo
            && self.tokens.is_none()
            && self.authenticator.is_none()
            && observers.is_empty()
        {
            observers.push(DEFAULT_OBSERVER.to_owned());
        }
        cfg.observer_policy = ObserverPolicy { observers };
        cfg.resume_window = self.resume_window;
        cfg.hello_timeout = self.hello_timeout;
        if !self.heartbeat_interval.is_zero() {
            cfg.heartbeat_interval = self.heartbeat_interval;
        }
        cfg.durable = self.is_durable();
        cfg.clustered = self.cluster.is_some();
        cfg.node_id = cfg.runtime.node_id.clone();
        cfg.limits = self.limits.clone();
        cfg.bounds = Bounds {
            max_frame_bytes: self.max_frame_bytes,
            ..self.bounds.clone()
        };
        cfg
    }

    /// Whether a durable store is configured (`db` or `store`): building then reads it, a
    /// blocking call to make where blocking is allowed.
    pub fn is_durable(&self) -> bool {
        self.db.is_some() || self.store.is_some()
    }

    /// Builds the runtime for `name` `version` at `now`, with the wall-clock anchor `wall`
    /// and `entropy` (ids, resume tokens), opening `db` or taking `store` and restoring from
    /// it (blocking reads: call it where blocking is allowed; sessions whose resume window
    /// closed by the wall time of `now` and lapsed idempotency keys are dropped first). The agents are taken out of
    /// the options. Fails with [`ServerError::NoAuthentication`] first when [`Self::check`]
    /// does.
    pub fn build(
        &mut self,
        name: &str,
        version: &str,
        now: Instant,
        wall: WallClock,
        entropy: Box<dyn Entropy + Send>,
    ) -> Result<Built, ServerError> {
        self.check()?;
        let demo = self.demo;
        let registry = self.agents.take().unwrap_or_else(|| {
            if demo {
                arcp_agents::demo_agents()
            } else {
                AgentRegistry::new()
            }
        });
        let cfg = self.runtime_config(name, version, &registry);
        let mut runtime = Runtime::new(cfg, wall, entropy);
        let store: Option<Box<dyn Store>> = match (self.store.take(), &self.db) {
            (Some(store), _) => Some(store),
            (None, Some(path)) => Some(Box::new(
                arcp_sqlite::SqliteStore::open(path).map_err(arcp_store::StoreError::from)?,
            )),
            (None, None) => None,
        };
        let cluster = self.cluster.take();
        let store = match store {
            Some(mut store) => {
                let snapshot = arcp_store::runtime::restore(&mut *store, wall.unix_micros_at(now))?;
                runtime.restore(now, snapshot);
                Some(store)
            }
            None => None,
        };
        Ok(Built {
            runtime,
            store,
            tools: self.tools.take().unwrap_or_else(|| {
                if demo {
                    arcp_agents::demo_tools()
                } else {
                    ToolRegistry::new()
                }
            }),
            registry,
            auth: self.authenticator(),
            wall,
            provisioner: self
                .provisioner
                .clone()
                .filter(|_| self.provisions_credentials()),
            demo_credentials: self.provisions_credentials() && self.provisioner.is_none(),
            slow_consumer_timeout: self.slow_consumer_timeout,
            max_job_end_bytes: self.max_job_end_bytes,
            cluster,
        })
    }
}

/// Generates the option setters every adapter's `ServerBuilder` shares, on a struct whose
/// field `opts` is a [`ServerOptions`]: `observer`, `authenticator`, `heartbeat_interval`,
/// `resume_window`, `max_frame_bytes`, `credentials`, `credential_provisioner`,
/// `behind_tls_proxy`, `db`, `store`, `agents`, `bounds`, `limits`, `max_job_end_bytes`,
/// `input_capacity`, `outbound_capacity`, `slow_consumer_timeout`, `handshake_timeout`,
/// `hello_timeout`, `demo`.
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

            /// The inbound frame cap ([D35]), mirrored into the transport's config.
            ///
            /// [D35]: arcp_proto::compat#d35--frame-size
            pub fn max_frame_bytes(mut self, n: usize) -> Self {
                self.opts.max_frame_bytes = n;
                self
            }

            /// Credential provisioning (`provisioned_credentials`); on by default, but
            /// advertised only with a provisioner (`credential_provisioner`, or the demo one
            /// in demo mode).
            pub fn credentials(mut self, on: bool) -> Self {
                self.opts.credentials = Some(on);
                self
            }

            /// The credential provisioner jobs whose lease names `model.use` get their
            /// credentials from (mint, rotate, revoke; §9.8). Without one, outside demo
            /// mode, `provisioned_credentials` is not advertised.
            pub fn credential_provisioner(
                mut self,
                provisioner: impl $crate::server::CredentialProvisioner,
            ) -> Self {
                self.opts.provisioner = Some(::std::sync::Arc::new(provisioner));
                self
            }

            /// Credentials may travel over this server's plain `ws://` listeners on
            /// non-loopback addresses: it runs behind a TLS-terminating proxy. Without it
            /// only stdio, TLS and loopback listeners offer `provisioned_credentials`.
            pub fn behind_tls_proxy(mut self, on: bool) -> Self {
                self.opts.behind_tls_proxy = on;
                self
            }

            /// The SQLite durable store; `None` (the default): only the core's in-memory
            /// ring. An existing file is migrated to this build's schema and restored from
            /// (sessions resumable, unfinished jobs ended "runtime restarted"). Replaces a
            /// store given with `store`.
            pub fn db(mut self, path: Option<::std::path::PathBuf>) -> Self {
                self.opts.db = path;
                self.opts.store = None;
                self
            }

            /// A durable store of any backend, already opened: e.g. arcp-postgres's
            /// `PostgresStore::connect(url)`, or your own implementation of the
            /// `Store` trait (it should pass arcp-store's shared suite). Restored from
            /// like `db`, then driven on a thread of its own, one transaction per batch.
            /// Replaces a path given with `db`. Open it where blocking is allowed (a
            /// synchronous client inside an async task may refuse to run).
            pub fn store(mut self, store: impl $crate::server::Store) -> Self {
                self.opts.store = Some(::std::boxed::Box::new(store));
                self.opts.db = None;
                self.opts.cluster = None;
                self
            }

            /// Joins a cluster of runtime nodes sharing one store: `store` and `watch` as
            /// given by e.g. arcp-postgres's `PostgresStore::join`. Any node then accepts
            /// the resume of any session of the cluster (it becomes the session's owner),
            /// its jobs' live events reach it from the node running them, a cancel reaches
            /// that node, and the jobs of a node that stopped refreshing its liveness end
            /// with `job.error` `INTERNAL_ERROR` (retryable) on a surviving node. The
            /// welcome's `runtime.node_id` names this node. Replaces `db` and `store`.
            pub fn cluster(
                mut self,
                store: impl $crate::server::Store,
                watch: impl $crate::server::ClusterWatch,
            ) -> Self {
                self.opts.store = Some(::std::boxed::Box::new(store));
                self.opts.db = None;
                self.opts.cluster = Some(::std::boxed::Box::new(watch));
                self
            }

            /// This node's id, shown as `runtime.node_id` in every `session.welcome`
            /// (default: the cluster's node id when `.cluster(..)` joined one, else none).
            pub fn node_id(mut self, id: impl Into<String>) -> Self {
                self.opts.node_id = Some(id.into());
                self
            }

            /// The agents to host (default: none; in demo mode the contract agents of
            /// arcp-agents plus `tool-user`).
            pub fn agents(mut self, registry: $crate::server::AgentRegistry) -> Self {
                self.opts.agents = Some(registry);
                self
            }

            /// The runtime-hosted tools agents call through `JobContext::call_tool`
            /// (default: none; in demo mode `lookup`, costing USD:0.25): each call is checked against the job's `tool.call`
            /// patterns, reported as `tool_call` / `tool_result` and charged its declared
            /// cost.
            pub fn tools(mut self, tools: $crate::server::ToolRegistry) -> Self {
                self.opts.tools = Some(tools);
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

            /// How long a connection whose writer queue is full may go without its writer
            /// taking anything before it is closed 1008 and reported lost (its session stays
            /// resumable). Meanwhile it only stops receiving: the driver never waits on it.
            pub fn slow_consumer_timeout(mut self, d: ::std::time::Duration) -> Self {
                self.opts.slow_consumer_timeout = d;
                self
            }

            /// How long a TCP connection may take to complete the WebSocket upgrade.
            pub fn handshake_timeout(mut self, d: ::std::time::Duration) -> Self {
                self.opts.handshake_timeout = d;
                self
            }

            /// How long a connection (a WebSocket after its upgrade, or stdio) may take to
            /// complete `session.hello`, authentication included (default 10 s). Past it the
            /// connection is closed: WebSocket 1008 without an error frame; stdio: the
            /// session ends. Zero: never.
            pub fn hello_timeout(mut self, d: ::std::time::Duration) -> Self {
                self.opts.hello_timeout = d;
                self
            }

            /// Whether these options can start a server: fails with
            /// `ServerError::NoAuthentication` when neither authentication (`tokens`,
            /// `authenticator`) nor demo mode is configured, as starting would.
            pub fn check(&self) -> Result<(), $crate::server::ServerError> {
                self.opts.check()
            }

            /// Demo mode: hosts the contract agents (plus `tool-user` and the demo tool
            /// `lookup`), accepts the contract tokens
            /// (`alice-token`, `bob-token`, `auditor-token`, with `auditor` as observer) and
            /// provisions credentials in process, each unless configured explicitly. For
            /// trying the runtime out and for the interop scenarios, never for a deployment:
            /// without it a server hosts no agent and must be given authentication
            /// (`tokens`, `authenticator`) or it refuses to start.
            pub fn demo(mut self) -> Self {
                self.opts.demo = true;
                self
            }
        }
    };
}
