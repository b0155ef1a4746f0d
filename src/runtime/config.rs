//! Runtime configuration: identity, features, agent inventory, observer policy and every bound.

use crate::wire::{AgentInfo, FeatureSet, RuntimeInfo};
use std::time::Duration;

/// One agent of the inventory: a name and its registered versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSpec {
    /// The agent's name.
    pub name: String,
    /// Registered versions in registration order; empty for an unversioned agent.
    pub versions: Vec<String>,
    /// The version a bare name resolves to; `None` means the first registered one.
    pub default: Option<String>,
}

impl AgentSpec {
    /// An agent registered at the given versions; the first is the default.
    pub fn new(name: impl Into<String>, versions: &[&str]) -> Self {
        AgentSpec {
            name: name.into(),
            versions: versions.iter().map(|v| (*v).to_owned()).collect(),
            default: None,
        }
    }

    /// Sets the default version.
    pub fn with_default(mut self, version: impl Into<String>) -> Self {
        self.default = Some(version.into());
        self
    }

    /// The version a bare name resolves to.
    pub fn default_version(&self) -> Option<&str> {
        self.default
            .as_deref()
            .or_else(|| self.versions.first().map(String::as_str))
    }

    /// The welcome inventory entry: rich with `agent_versions`, a bare name without ([D24]).
    ///
    /// [D24]: crate::compat#d24--welcome
    pub fn info(&self, rich: bool) -> AgentInfo {
        if rich {
            AgentInfo::Versions {
                name: self.name.clone(),
                versions: self.versions.clone(),
                default: self.default_version().map(str::to_owned),
            }
        } else {
            AgentInfo::Name(self.name.clone())
        }
    }
}

/// Who may observe (list and subscribe to) whose jobs.
///
/// Every principal always sees its own jobs; `observers` additionally see every job. Nobody
/// but the submitting session may cancel ([D7]).
///
/// [D7]: crate::compat#d7--who-may-cancel
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObserverPolicy {
    /// Principals that may list and subscribe to every job.
    pub observers: Vec<String>,
}

impl ObserverPolicy {
    /// `true` when `principal` may see a job submitted by `owner`.
    pub fn may_observe(&self, principal: &str, owner: &str) -> bool {
        principal == owner || self.observers.iter().any(|o| o == principal)
    }
}

/// Every queue's limit (DESIGN.md "Bounds"). Each overflow has a defined wire outcome,
/// documented on its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounds {
    /// Largest inbound frame ([D35]). Over it: WebSocket close 1009 without an error frame;
    /// stdio `session.error INVALID_REQUEST` then close. The session stays resumable.
    ///
    /// [D35]: crate::compat#d35--frame-size
    pub max_frame_bytes: usize,
    /// Deepest JSON nesting of an inbound frame, the envelope object counting as level 1
    /// (so with the default 128 a submit's `input` may nest 126 levels). Deeper: the frame
    /// is answered `session.error INVALID_REQUEST` (`frame nesting depth exceeds limit of
    /// N`) and the session continues (before the handshake the connection is closed, as for
    /// any malformed frame). At most [`MAX_JSON_DEPTH`](crate::wire::MAX_JSON_DEPTH) (128,
    /// serde_json's recursion limit); a larger value acts as 128.
    pub max_json_depth: usize,
    /// Live frames queued for one connection and not yet polled. Over it the connection is
    /// closed (slow consumer, WebSocket 1008); its session stays resumable and its frames stay
    /// in the ring. Replays (resume, subscription history), and without a durable store every
    /// seq-bearing frame (the session's undelivered events), are bounded by the ring instead.
    pub max_transmit_queue: usize,
    /// Events kept per session for resume (its buffer). Without a durable store: over it the
    /// oldest *delivered* events beyond the margin are evicted (acked ones are freed at once);
    /// undelivered events are never evicted, and when they reach this bound the jobs the
    /// session submitted wait (their agents' next emit does not return,
    /// [`Runtime::job_held`](super::Runtime::job_held)) until it drains, its client says
    /// `session.bye` (then the oldest are dropped) or its resume window ends. With a durable
    /// store: over it the oldest durable events leave the ring (the store keeps them), and
    /// the not-yet-durable backlog reaching it holds the jobs the same way. A resume below
    /// what is kept (and not in a store) gets `RESUME_WINDOW_EXPIRED` ([D5]).
    ///
    /// [D5]: crate::compat#d5--ack
    pub max_ring_events: usize,
    /// Encoded bytes kept per session ring; same outcome as `max_ring_events`.
    pub max_ring_bytes: usize,
    /// Effects awaiting a result. A hello over it: `session.error INTERNAL_ERROR` + close; a
    /// submit over it: `session.error INTERNAL_ERROR` (retryable); running jobs wait
    /// ([`Runtime::job_held`](super::Runtime::job_held)) until results come back. What a
    /// job's end, a cancel, a subscription's history or a resume's store read issues is not
    /// refused and may go over it by that much.
    pub max_pending_effects: usize,
    /// Unfinished jobs one session may have submitted. Over it: `session.error INTERNAL_ERROR`
    /// (retryable), no job.
    pub max_jobs_per_session: usize,
    /// Jobs remembered for listing and subscription; the oldest finished job is forgotten
    /// first. When every remembered job is unfinished, a submit gets `INTERNAL_ERROR`.
    pub max_retained_jobs: usize,
    /// How long a finished job is remembered for `session.list_jobs` and `job.subscribe`
    /// after it ends; then it is forgotten (listed no more; a subscribe gets the refusal of
    /// a job the principal may not see, see docs/compat.md). `None` (the default): the
    /// resume window
    /// ([`RuntimeConfig::resume_window`]), so a client that comes back within the window can
    /// still list and subscribe to the jobs that ended while it was away. A job whose
    /// terminal is kept for an idempotent resubmit (it had an `idempotency_key`, or the job
    /// was restored from a durable store) is remembered at least `idempotency_ttl`. Running
    /// jobs are never forgotten.
    pub finished_job_ttl: Option<Duration>,
    /// Estimated heap bytes of all remembered finished job records together (ids, agent,
    /// lease, credentials and the record itself; the kept [D27] messages are bounded by
    /// `max_kept_terminal_bytes`). Over it the oldest finished job is forgotten, as by
    /// `max_retained_jobs`. Counted in `RuntimeMetrics::retained_bytes`.
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    pub max_finished_job_bytes: usize,
    /// Subscriptions one session may hold. Over it: `session.error INTERNAL_ERROR`.
    pub max_subscriptions_per_session: usize,
    /// Encoded bytes of the `job.accepted` and terminal messages kept for idempotent
    /// resubmits ([D27]: jobs submitted with an `idempotency_key`, or every job with a durable
    /// store). Over it, the oldest ended job keeping them is forgotten (as by
    /// `max_retained_jobs`): a resubmit of its key then starts a new job, as after the key's
    /// TTL; with a durable store its record stays in the store.
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    pub max_kept_terminal_bytes: usize,
    /// Idempotency keys remembered (all principals). Over it the oldest key is forgotten.
    pub max_idempotency_entries: usize,
    /// How long an idempotency key is remembered.
    pub idempotency_ttl: Duration,
    /// Largest `data` of one result chunk (UTF-8 length of the text). Over it the job fails
    /// `INTERNAL_ERROR` (spec §14).
    pub max_chunk_bytes: usize,
    /// Largest total `data` of one streamed result; over it the job fails `INTERNAL_ERROR`.
    pub max_result_bytes: usize,
    /// Sessions known (attached, resumable, or expired records). A new session over it
    /// first forgets one expired record; with none, `session.error INTERNAL_ERROR` + close.
    /// One principal can hold at most `AbuseLimits::max_sessions_per_principal` live plus
    /// `AbuseLimits::max_resumable_sessions_per_principal` resumable sessions, so with the
    /// defaults no single principal can fill it.
    pub max_sessions: usize,
    /// How long the record of a session whose resume window elapsed is kept (a resume in
    /// that time gets `RESUME_WINDOW_EXPIRED` rather than an unknown-session refusal); then
    /// it is forgotten, unless jobs it submitted still run (then it is checked again after
    /// the same time). Attached and resumable sessions are never forgotten.
    pub expired_session_grace: Duration,
    /// Encoded bytes kept in the rings of all detached (resumable) sessions together. Over
    /// it, the session detached longest ago is expired early (as if its resume window had
    /// elapsed: a resume gets `RESUME_WINDOW_EXPIRED`) until the total fits.
    pub max_resumable_ring_bytes: usize,
    /// Runtime events not yet polled; over it the oldest is dropped.
    pub max_pending_events: usize,
    /// The ring margin in events: the newest delivered events of a session are kept beyond
    /// `max_ring_events` until this many later ones were delivered, because a connection
    /// that is cut may not have passed them on (they may sit in its writer queue, 4,096
    /// frames in the servers by default). Never evicted unless acked.
    pub ring_margin_events: usize,
    /// The ring margin in bytes: delivered events are also kept until this many encoded
    /// bytes of later ones were delivered (what socket buffers on both sides may hold when a
    /// connection is cut). An event leaves the margin once past both margins.
    pub ring_margin_bytes: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_frame_bytes: crate::wire::DEFAULT_MAX_FRAME_BYTES,
            max_json_depth: crate::wire::MAX_JSON_DEPTH,
            max_transmit_queue: 4096,
            max_ring_events: 10_000,
            max_ring_bytes: 64 << 20,
            max_pending_effects: 10_000,
            max_jobs_per_session: 1000,
            max_retained_jobs: 100_000,
            finished_job_ttl: None,
            // `max_retained_jobs` (100,000) records of a small job, about 1.6 KiB each
            // (`tests/runtime_retention.rs` measures one).
            max_finished_job_bytes: 160 << 20,
            max_subscriptions_per_session: 1000,
            max_kept_terminal_bytes: 256 << 20,
            max_idempotency_entries: 100_000,
            idempotency_ttl: Duration::from_secs(24 * 3600),
            // D32 defaults: 512 KiB per chunk (a chunk frame fits the 1 MiB cap), 64 MiB total.
            max_chunk_bytes: 512 << 10,
            max_result_bytes: 64 << 20,
            max_sessions: 100_000,
            expired_session_grace: Duration::from_secs(60),
            max_resumable_ring_bytes: 1 << 30,
            max_pending_events: 10_000,
            ring_margin_events: 4096,
            ring_margin_bytes: 16 << 20,
        }
    }
}

/// Everything a [`Runtime`](super::Runtime) is built from.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// `welcome.runtime`.
    pub runtime: RuntimeInfo,
    /// Features advertised; the session's set is the intersection in this order.
    pub features: FeatureSet,
    /// The agent inventory.
    pub agents: Vec<AgentSpec>,
    /// Who may observe whose jobs.
    pub observer_policy: ObserverPolicy,
    /// `resume_window_sec`: how long a detached session stays resumable.
    pub resume_window: Duration,
    /// `heartbeat_interval_sec` (whole seconds on the wire).
    pub heartbeat_interval: Duration,
    /// How long a connection may take to complete its `session.hello` (from opening until
    /// its welcome, authentication included). Past it the connection is closed with
    /// [`CloseReason::HelloTimeout`](super::CloseReason::HelloTimeout) (WebSocket 1008; stdio:
    /// the session ends), without an error frame. Zero: never.
    pub hello_timeout: Duration,
    /// Wait between attempts to revoke a credential.
    pub revoke_retry_delay: Duration,
    /// Attempts to revoke a credential before a permanent failure is reported.
    pub revoke_attempts: u32,
    /// A durable store is configured: storage effects are emitted (write-ahead appends,
    /// session, job, idempotency and credential records). Without one, none are.
    pub durable: bool,
    /// This runtime's cluster node id, sent as `welcome.runtime.node_id` (unless
    /// `runtime.node_id` is set already). `None`: not part of a cluster.
    pub node_id: Option<String>,
    /// Several runtimes share one durable store (meaningful only with `durable`): a resume
    /// claims its session first ([`Effect::ClaimSession`](super::Effect::ClaimSession)), and
    /// a job whose session is not held here forwards its frames
    /// ([`Effect::ForwardJobMessage`](super::Effect::ForwardJobMessage)).
    pub clustered: bool,
    /// Every queue bound.
    pub bounds: Bounds,
    /// Per-principal abuse limits (spec §14).
    pub limits: AbuseLimits,
    /// (Clustered only.) How often the shared store is asked again for what another node is
    /// doing: a subscription to a job running there reads that job's new frames
    /// ([`Effect::ReadJobEvents`](super::Effect::ReadJobEvents)), counted from the answer to
    /// the previous read; an idempotent submit whose key names a job still being accepted
    /// there asks for its admission again. Default 200 ms.
    pub remote_poll_interval: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            runtime: RuntimeInfo {
                name: "arcp-proto".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                node_id: None,
            },
            features: FeatureSet::all(),
            agents: Vec::new(),
            observer_policy: ObserverPolicy::default(),
            resume_window: Duration::from_secs(600),
            heartbeat_interval: Duration::from_secs(30),
            hello_timeout: Duration::from_secs(10),
            revoke_retry_delay: Duration::from_secs(1),
            revoke_attempts: 3,
            durable: false,
            node_id: None,
            clustered: false,
            bounds: Bounds::default(),
            limits: AbuseLimits::default(),
            remote_poll_interval: Duration::from_millis(200),
        }
    }
}

impl RuntimeConfig {
    /// The session's features: the runtime's, in its order, that the client also asked for.
    pub fn negotiate(&self, requested: &[String]) -> FeatureSet {
        // Unknown names are ignored.
        self.features
            .intersection(FeatureSet::from_names(requested))
    }

    /// The agent named `name`.
    pub fn agent(&self, name: &str) -> Option<&AgentSpec> {
        self.agents.iter().find(|a| a.name == name)
    }
}

/// Per-principal abuse limits. The session and job caps are on by default (see
/// [`AbuseLimits::default`]); `usize::MAX` turns one off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseLimits {
    /// Live sessions one principal may hold: attached to a connection (or being welcomed).
    /// A detached session stops counting here and counts against
    /// `max_resumable_sessions_per_principal` instead; a resume does not open a new session.
    /// Over it, the hello gets `session.error PERMISSION_DENIED` (retryable false, `details:
    /// {"limit": "sessions_per_principal"}`, with the hello's `request_id`), then the
    /// connection is closed.
    pub max_sessions_per_principal: usize,
    /// Detached sessions one principal may keep resumable. When a detach puts the principal
    /// over it, its session detached longest ago is expired early (as if its resume window
    /// had elapsed: a resume gets `RESUME_WINDOW_EXPIRED`, its subscriptions end, its jobs
    /// keep running). Nothing is refused.
    pub max_resumable_sessions_per_principal: usize,
    /// Unfinished jobs one principal may have across all its sessions (delegated children
    /// included). Over it, a `job.submit` gets `session.error PERMISSION_DENIED` with its
    /// `request_id` and `details: {"limit": "jobs_per_principal"}`; no job is created and the
    /// session continues.
    pub max_jobs_per_principal: usize,
    /// Closes a connection with no throughput for this long: nothing received but
    /// `session.ping`/`session.pong`, and nothing other than heartbeats sent to it (a
    /// streaming job's events count as throughput). The effective timeout is never shorter
    /// than the resume window (`RuntimeConfig::resume_window`), so a connection is only cut
    /// once it is past the resume window of its jobs' events. Closing uses
    /// [`CloseReason::ZeroThroughput`](super::CloseReason::ZeroThroughput) (WebSocket 1008); the session stays resumable and its
    /// jobs keep running. `None`: never.
    pub zero_throughput_timeout: Option<Duration>,
}

/// Default [`AbuseLimits::max_sessions_per_principal`]: 1,000 live sessions. Far above one
/// client's needs (the interop suite holds about 35 sessions of one principal), and 1% of
/// the default `Bounds::max_sessions`.
pub const DEFAULT_MAX_SESSIONS_PER_PRINCIPAL: usize = 1000;
/// Default [`AbuseLimits::max_resumable_sessions_per_principal`]: 1,000 resumable sessions,
/// about 30 times the interop suite's ~35 sessions each kept for a 600 s window; with the
/// live cap, one principal holds at most 2% of the default `Bounds::max_sessions`.
pub const DEFAULT_MAX_RESUMABLE_SESSIONS_PER_PRINCIPAL: usize = 1000;
/// Default [`AbuseLimits::max_jobs_per_principal`]: 10,000 unfinished jobs (ten sessions'
/// worth of `Bounds::max_jobs_per_session`).
pub const DEFAULT_MAX_JOBS_PER_PRINCIPAL: usize = 10_000;

impl Default for AbuseLimits {
    fn default() -> Self {
        AbuseLimits {
            max_sessions_per_principal: DEFAULT_MAX_SESSIONS_PER_PRINCIPAL,
            max_resumable_sessions_per_principal: DEFAULT_MAX_RESUMABLE_SESSIONS_PER_PRINCIPAL,
            max_jobs_per_principal: DEFAULT_MAX_JOBS_PER_PRINCIPAL,
            zero_throughput_timeout: None,
        }
    }
}
