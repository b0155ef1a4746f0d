//! Effects: everything that touches IO, secrets or other processes, requested by the core and
//! performed by the host, which reports back with [`EffectOutcome`].

use crate::wire::{
    Accepted, AgentRef, Budget, Credential, FeatureSet, Frame, JobId, JobStatus, LeaseConstraints,
    LeaseMap, Message, SessionId, Timestamp, TraceId,
};
use bytes::Bytes;
use serde_json::Value;
use std::sync::Arc;

/// A host-assigned connection handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// The transport a connection runs over; decides the oversize-frame outcome ([D35]).
///
/// [D35]: crate::compat#d35--frame-size
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// One envelope per WebSocket text message.
    WebSocket,
    /// One envelope per line on stdin/stdout.
    Stdio,
}

/// Identifies one effect; its result comes back through
/// [`Runtime::handle_effect_result`](super::Runtime::handle_effect_result).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EffectId(pub u64);

/// Why the runtime closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// After `session.bye` or `session.close` ([D1]): WebSocket 1000.
    ///
    /// [D1]: crate::compat#d1--close
    Normal,
    /// A handshake failure (bad first frame, bad token, refused resume): WebSocket 1000.
    HandshakeFailed,
    /// An inbound frame over the size cap ([D35]): WebSocket 1009.
    ///
    /// [D35]: crate::compat#d35--frame-size
    FrameTooLarge,
    /// Nothing received for two heartbeat intervals ([D25]): WebSocket 1000.
    ///
    /// [D25]: crate::compat#d25--heartbeat-loss
    HeartbeatLost,
    /// The connection's transmit queue overflowed: WebSocket 1008.
    SlowConsumer,
    /// No throughput past the zero-throughput timeout (spec §14): WebSocket 1008.
    ZeroThroughput,
    /// No `session.hello` completed within `RuntimeConfig::hello_timeout`: WebSocket 1008,
    /// no error frame.
    HelloTimeout,
    /// A WebSocket text message that is not UTF-8, a transport error like an over-cap frame:
    /// WebSocket 1007, no error frame; the session stays resumable.
    InvalidText,
    /// The node is going away (draining, isolated from its cluster) or its session was
    /// claimed by another node: WebSocket 1001, no error frame; the client resumes.
    GoingAway,
}

impl CloseReason {
    /// The WebSocket close code to use.
    pub fn websocket_code(self) -> u16 {
        match self {
            CloseReason::FrameTooLarge => 1009,
            CloseReason::SlowConsumer | CloseReason::ZeroThroughput | CloseReason::HelloTimeout => {
                1008
            }
            CloseReason::InvalidText => 1007,
            CloseReason::GoingAway => 1001,
            _ => 1000,
        }
    }
}

/// Everything a started agent needs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AgentStart {
    /// The job to run.
    pub job_id: JobId,
    /// The resolved agent (`name@version`, or a bare name for an unversioned agent).
    pub agent: AgentRef,
    /// The job's input (`null` when absent).
    pub input: Value,
    /// The effective lease.
    pub lease: LeaseMap,
    /// Its constraints.
    pub lease_constraints: Option<LeaseConstraints>,
    /// Credentials minted for the job.
    pub credentials: Vec<Credential>,
    /// The submitting principal.
    pub principal: String,
    /// The session the job belongs to (a delegated child: its parent's session).
    pub session_id: SessionId,
    /// The parent job of a delegation.
    pub parent_job_id: Option<JobId>,
    /// The job's trace id.
    pub trace_id: Option<TraceId>,
    /// `max_runtime_sec`, which the core enforces itself.
    pub max_runtime_sec: Option<u32>,
}

/// A request to the host.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Effect {
    /// Map a bearer token to a principal. Answer with [`EffectOutcome::Authenticated`] or
    /// [`EffectOutcome::Failed`].
    Authenticate {
        /// The connection that sent the hello.
        conn: ConnId,
        /// The bearer token.
        token: String,
    },
    /// Start an agent. Its progress comes back through `handle_agent_event`; answer with
    /// [`EffectOutcome::Done`] (a [`EffectOutcome::Failed`] ends the job `INTERNAL_ERROR`).
    StartAgent(Box<AgentStart>),
    /// Stop a job's agent; the job has already ended on the wire. Answer with `Done`.
    CancelAgent {
        /// The job.
        job_id: JobId,
    },
    /// Mint credentials for a job whose lease names `model.use` (§9.8). Answer with
    /// [`EffectOutcome::Minted`] (possibly empty) or `Failed`.
    MintCredentials {
        /// The job being accepted.
        job_id: JobId,
        /// The submitting principal.
        principal: String,
        /// The effective lease.
        lease: LeaseMap,
        /// Its constraints.
        lease_constraints: Option<LeaseConstraints>,
        /// The budget the job runs with (§9.8: size the upstream's spend cap to it): its
        /// `cost.budget` totals — for a delegated child, what it reserved from its parent,
        /// inherited currencies included.
        budget: Option<Budget>,
        /// When the job's lease stops authorizing anything (for a child, the earlier of its
        /// own and its parent's): the credentials must not outlive it.
        expires_at: Option<Timestamp>,
        /// The job's trace id (spec §11: forwarded to the credentials' upstream, e.g. as a
        /// W3C `traceparent` on the provider call).
        trace_id: Option<TraceId>,
    },
    /// Revoke a credential: every value of a job's credentials at the job's end, and the
    /// old value after a rotation. Answer `Done` or `Failed` (retried by the core with
    /// backoff, then reported as `RuntimeEvent::CredentialRevocationFailed`).
    RevokeCredential {
        /// The job it was minted for.
        job_id: JobId,
        /// The credential.
        credential_id: String,
        /// The value to revoke: the current one at the job's end, the old one after a
        /// rotation; `None` when only the id is known (revoked again after a restart, as
        /// values are never stored): revoke whatever the credential still grants.
        value: Option<String>,
    },
    /// Close a connection. Flush the frames already polled for it first. Answer `Done` (or
    /// nothing: the host reports the close with `handle_connection_closed`).
    CloseConnection {
        /// The connection.
        conn: ConnId,
        /// Why; decides the WebSocket close code.
        reason: CloseReason,
    },
    /// (Durable store only.) Append frames to the session's event log. They are transmitted
    /// only after this completes (write-ahead). Answer `Done` or `Failed`.
    AppendEvents(Vec<StoredFrame>),
    /// (Durable store only.) Read a session's logged frames with `event_seq > after_seq`, for
    /// a resume beyond the in-memory ring. Answer [`EffectOutcome::EventsRead`].
    ReadEvents {
        /// The session.
        session_id: SessionId,
        /// Replay starts after this seq.
        after_seq: u64,
    },
    /// (Durable store only.) Upsert a session record. A welcome carrying a new resume token
    /// is transmitted only after this completes. Answer `Done` or `Failed`.
    PersistSession(SessionRecord),
    /// (Durable store only.) Upsert a job record. Answer `Done`.
    PersistJob(Box<JobRecord>),
    /// (Durable store only.) Upsert an idempotency record. Answer `Done`.
    PersistIdempotency(IdempotencyRecord),
    /// (Durable store only.) Upsert (or, when revoked, delete) a credential record.
    PersistCredential(CredentialRecord),
    /// (Clustered only.) A `session.resume` of `session_id`: make this node the session's
    /// owner in the shared store. Answer [`EffectOutcome::SessionClaimed`] or `Failed`.
    ClaimSession {
        /// The session to claim.
        session_id: SessionId,
    },
    /// (Clustered only.) A frame of a job running here whose submitting session is not held
    /// by this runtime: hand it to the session's owner, which stamps it. The frame is exactly
    /// as it would be stamped, with `event_seq: None`. Answer `Done` or `Failed`.
    ForwardJobMessage {
        /// The job's submitting session.
        session_id: SessionId,
        /// The job.
        job_id: JobId,
        /// The frame, without `event_seq`.
        frame: Box<Frame>,
    },
    /// (Clustered only.) `job.cancel` of a job that runs on another node: route it there
    /// (it ends the job as its owner's cancel would, and its terminal comes back
    /// forwarded). Answer `Done`.
    ForwardCancel {
        /// The job.
        job_id: JobId,
    },
    /// (Clustered only.) The shared store's record of job `job_id`, whichever node runs it:
    /// a `job.subscribe` (or `job.cancel`) of a job this runtime does not hold. Answer
    /// [`EffectOutcome::JobLookedUp`] or `Failed`.
    LookupJob {
        /// The job.
        job_id: JobId,
    },
    /// (Clustered only.) Job `job_id`'s frames in its submitting session's log with
    /// `event_seq > after_seq`, ascending, at most a page: the history and the live frames
    /// of a subscription to a job running on another node. Answer
    /// [`EffectOutcome::EventsRead`] or `Failed`.
    ReadJobEvents {
        /// The job's submitting session.
        session_id: SessionId,
        /// The job.
        job_id: JobId,
        /// Frames after this seq (the submitting session's numbering).
        after_seq: u64,
    },
    /// (Clustered only.) Every job record in the shared store that `principal` submitted
    /// (`None`: every principal's, for an observer): `session.list_jobs` lists them with the
    /// jobs held here. Answer [`EffectOutcome::JobsListed`] or `Failed`.
    ListStoredJobs {
        /// Whose jobs; `None`: everyone's.
        principal: Option<String>,
    },
    /// (Clustered only.) A `job.submit` that passed every local check (idempotency fast
    /// path, caps, agent, lease): admit it cluster-wide in the shared store, in one step —
    /// an unexpired idempotency record of (`principal`, key) makes it a duplicate; else the
    /// principal's unfinished jobs on live nodes at `max_jobs` or more refuse it; else the
    /// key (if any) and a placeholder of the job are recorded. Answer
    /// [`EffectOutcome::JobAdmission`] or `Failed` (the submit gets `INTERNAL_ERROR` with the
    /// message).
    AdmitJob {
        /// The submitting principal.
        principal: String,
        /// The submitting session.
        session_id: SessionId,
        /// The job's id, minted here.
        job_id: JobId,
        /// `AbuseLimits::max_jobs_per_principal` (`usize::MAX`: no cap, only the key).
        max_jobs: usize,
        /// The idempotency record to insert, for a keyed submit.
        idempotency: Option<IdempotencyRecord>,
    },
    /// (Clustered only.) A new session (a hello without resume), after authentication and
    /// the local `sessions_per_principal` cap: the principal's attached sessions on live
    /// nodes other than `session_id` must be fewer than `max_sessions`. Answer
    /// [`EffectOutcome::SessionAdmission`] or `Failed`. Not emitted while the cap is off
    /// (`usize::MAX`).
    AdmitSession {
        /// The authenticated principal.
        principal: String,
        /// The new session's id.
        session_id: SessionId,
        /// `AbuseLimits::max_sessions_per_principal`.
        max_sessions: usize,
    },
}

/// The shared store's answer to [`Effect::AdmitJob`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Admission {
    /// Admitted: the job is accepted as usual.
    Admitted,
    /// The principal's idempotency key already names a job (on any node).
    Duplicate {
        /// Canonical JSON of that job's submit: a different one is `DUPLICATE_KEY`.
        fingerprint: String,
        /// That job.
        job_id: JobId,
        /// That job's `job.accepted` (replayed to a same-payload resubmit, [D27]); `None`
        /// while it is still being accepted on its node (the core asks again after
        /// `RuntimeConfig::remote_poll_interval`).
        ///
        /// [D27]: crate::compat#d27--idempotent-resubmit
        accepted: Option<Box<Accepted>>,
    },
    /// The principal has `max_jobs` unfinished jobs or more across the cluster: refused as
    /// the local `jobs_per_principal` cap refuses.
    OverLimit,
}

/// One seq-bearing frame for the durable event log.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredFrame {
    /// The session whose `event_seq` space it belongs to.
    pub session_id: SessionId,
    /// Its `event_seq`.
    pub event_seq: u64,
    /// The job it is about.
    pub job_id: Option<JobId>,
    /// The frame as it is stored: as transmitted, less any credential value (§9.8); shared
    /// with the session ring when there is nothing to redact (no copy per frame).
    pub frame: Arc<Frame>,
    /// Its encoding: the very bytes transmitted (encoded once, by the session ring), so a
    /// store keeps them without encoding the frame again.
    pub encoded: Bytes,
}

impl StoredFrame {
    /// A stored frame: `frame` of `session_id` at `event_seq` (about `job_id`), with the
    /// bytes it is transmitted as. For stores and their tests outside this crate (the
    /// struct is `#[non_exhaustive]`).
    pub fn new(
        session_id: SessionId,
        event_seq: u64,
        job_id: Option<JobId>,
        frame: impl Into<Arc<Frame>>,
        encoded: Bytes,
    ) -> Self {
        StoredFrame {
            session_id,
            event_seq,
            job_id,
            frame: frame.into(),
            encoded,
        }
    }
}

/// A session's durable record.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// The session.
    pub session_id: SessionId,
    /// Its principal.
    pub principal: String,
    /// SHA-256 (lower-case hex) of the current resume token.
    pub resume_token_hash: String,
    /// The last `event_seq` stamped in the session.
    pub last_event_seq: u64,
    /// When the resume window of a detached session closes; `None` while attached.
    pub window_expires_at: Option<Timestamp>,
    /// The negotiated features.
    pub features: FeatureSet,
}

/// A job's durable record.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// The job.
    pub job_id: JobId,
    /// The submitting session.
    pub session_id: SessionId,
    /// The submitting principal.
    pub principal: String,
    /// The resolved agent.
    pub agent: AgentRef,
    /// Its state.
    pub status: JobStatus,
    /// When it was accepted.
    pub submitted_at: Timestamp,
    /// Highest `event_seq` in the submitting session's numbering.
    pub last_event_seq: u64,
    /// The lease as requested.
    pub lease: LeaseMap,
    /// Its constraints.
    pub lease_constraints: Option<LeaseConstraints>,
    /// The trace id.
    pub trace_id: Option<TraceId>,
    /// The parent of a delegation.
    pub parent_job_id: Option<JobId>,
    /// The delegation id (extension).
    pub delegate_id: Option<String>,
    /// The `job.accepted` payload (for idempotent resubmits).
    pub accepted: Option<Accepted>,
    /// The terminal message, once ended.
    pub terminal: Option<Message>,
}

/// An idempotency key's durable record.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    /// The principal it is scoped to.
    pub principal: String,
    /// The key.
    pub key: String,
    /// Canonical JSON of the submit payload.
    pub fingerprint: String,
    /// The job it created.
    pub job_id: JobId,
    /// When it lapses.
    pub expires_at: Timestamp,
}

/// An outstanding credential's durable record (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    /// The credential.
    pub credential_id: String,
    /// Its job.
    pub job_id: JobId,
    /// `true` once revoked: the record may be deleted.
    pub revoked: bool,
}

/// The result of an effect.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EffectOutcome {
    /// `Authenticate` succeeded.
    Authenticated {
        /// Who the token belongs to.
        principal: String,
    },
    /// `ReadEvents` succeeded: the stored frames after the requested seq, in any order.
    EventsRead {
        /// The frames.
        frames: Vec<Frame>,
    },
    /// `MintCredentials` succeeded.
    Minted {
        /// The credentials issued.
        credentials: Vec<Credential>,
    },
    /// `Authenticate` failed for a known reason: `UNAUTHENTICATED` with `message` (which
    /// must not contain the token); `reason` labels the `auth_failures` counter (keep it a
    /// small fixed set, e.g. `arcp_auth::AuthFailure::as_str`).
    AuthFailed {
        /// A short label, e.g. `expired`.
        reason: String,
        /// Sent to the peer.
        message: String,
    },
    /// `ClaimSession` succeeded: this node owns the session now.
    SessionClaimed {
        /// The session's record (its `last_event_seq` the last seq stored for it); `None`:
        /// the store knows no such session (the resume is refused as for any unknown one).
        session: Option<SessionRecord>,
        /// The session's unfinished jobs that run on other nodes.
        jobs: Vec<JobRecord>,
    },
    /// The effect completed.
    Done,
    /// The effect failed.
    Failed {
        /// Why; sent to the peer where the failure reaches the wire.
        message: String,
    },
    /// `LookupJob` succeeded.
    JobLookedUp {
        /// The job's record (boxed: it is large); `None`: the store knows no such job.
        job: Option<Box<JobRecord>>,
    },
    /// `ListStoredJobs` succeeded: the records, in any order.
    JobsListed {
        /// The job records.
        jobs: Vec<JobRecord>,
    },
    /// `AdmitJob` succeeded: the store's decision.
    JobAdmission(Admission),
    /// `AdmitSession` succeeded: `false` when the principal is at its session cap across
    /// the cluster (the hello is refused as the local cap refuses it).
    SessionAdmission {
        /// `true`: the session may open.
        admitted: bool,
    },
}

/// What a durable store returns on start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreSnapshot {
    /// Every session record.
    pub sessions: Vec<SessionRecord>,
    /// Every job record.
    pub jobs: Vec<JobRecord>,
    /// Every idempotency record.
    pub idempotency: Vec<IdempotencyRecord>,
    /// Every credential not yet revoked.
    pub credentials: Vec<CredentialRecord>,
}
