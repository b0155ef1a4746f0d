//! The store's own record types and the batched operation enum.
//!
//! These types are deliberately plain (strings, integers, byte blobs) and independent of the
//! runtime's internals: the adapter that executes the runtime's storage effects converts to
//! and from them. Frames are stored as their encoded JSON bytes; the store never parses them.
//!
//! Times are Unix microseconds (`i64`), the unit of `arcp_proto::wire::Timestamp::unix_micros`.

use crate::cluster::ForwardedFrame;

/// One outbound frame of a session's event stream, as the durable log holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StoredEvent {
    /// The session whose `event_seq` space the frame belongs to.
    pub session_id: String,
    /// The frame's `event_seq` in that session (unique per session; at most `i64::MAX`).
    pub event_seq: u64,
    /// The job the frame is about, if any (kept so a job's events can be told apart).
    pub job_id: Option<String>,
    /// The encoded frame, exactly as transmitted (JSON bytes).
    pub frame: Vec<u8>,
}

/// A session's durable record: what a restarted runtime needs to accept a resume.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionRecord {
    /// The session id (primary key).
    pub session_id: String,
    /// The authenticated principal that owns the session.
    pub principal: String,
    /// A hash of the current resume token (never the token itself).
    pub resume_token_hash: String,
    /// The last `event_seq` the runtime issued on this session. The store keeps it as given;
    /// it is the authority on the seq counter even after [`StoreOp::PruneAcked`] removed the
    /// events.
    pub last_event_seq: u64,
    /// When the resume window of a detached session closes (Unix micros); `None` while a
    /// connection is attached. [`StoreOp::PruneExpiredSessions`] deletes records whose window
    /// has closed.
    pub window_expires_at: Option<i64>,
    /// The negotiated features, in order.
    pub features: Vec<String>,
}

/// A job's durable record. `data` is an opaque blob (JSON) owned by the runtime; the other
/// fields are columns so they can be listed and filtered without decoding it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JobRecord {
    /// The job id (primary key).
    pub job_id: String,
    /// The session that submitted the job (its stream gets the job's terminal frame).
    pub session_id: String,
    /// The submitting principal.
    pub principal: String,
    /// The agent reference, as the runtime renders it (e.g. `echo` or `versioned@2.0.0`).
    pub agent: String,
    /// The job status, as the runtime renders it (e.g. `running`).
    pub status: String,
    /// When the job was accepted (Unix micros).
    pub submitted_at: i64,
    /// Whether the job has reached a terminal state. On restart, every job stored with
    /// `terminal == false` is one the runtime must end.
    pub terminal: bool,
    /// Everything else the runtime needs, as it chose to encode it.
    pub data: Vec<u8>,
}

/// An idempotency entry: `(principal, key)` maps to the job it created.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyRecord {
    /// The principal the key is scoped to.
    pub principal: String,
    /// The client's idempotency key.
    pub key: String,
    /// A fingerprint of the submit's parameters (a resubmit with another one conflicts).
    pub fingerprint: String,
    /// The job the first submit created.
    pub job_id: String,
    /// The encoded `job.accepted` payload to answer resubmits with.
    pub accepted: Vec<u8>,
    /// When the entry lapses (Unix micros); see [`StoreOp::PruneExpiredIdempotency`].
    pub expires_at: i64,
}

/// A credential minted for a job and not yet revoked. On restart every outstanding credential
/// is revoked again, so the record must hold what revocation needs (in `data`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CredentialRecord {
    /// The credential id (primary key).
    pub credential_id: String,
    /// The job it was minted for.
    pub job_id: String,
    /// Whatever the runtime needs to revoke it (opaque; never the secret value unless the
    /// runtime chooses so).
    pub data: Vec<u8>,
}

/// One mutation, for [`Store::apply`](crate::Store::apply), which runs a whole slice of them
/// in a single transaction: all of them are committed or none is. Every backend gives each
/// variant exactly the meaning written here (the shared suite of feature `suite` checks it).
///
/// Deliberately exhaustive: every backend must carry out every operation, so a new variant is
/// a breaking change each backend's match takes up, never one it could skip.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StoreOp {
    /// Appends frames to the log. A `(session_id, event_seq)` already stored, or repeated
    /// within the batch, fails the whole batch with
    /// [`StoreError::DuplicateEvent`](crate::StoreError::DuplicateEvent); a seq above
    /// `i64::MAX` with [`StoreError::SeqOutOfRange`](crate::StoreError::SeqOutOfRange).
    AppendEvents(Vec<StoredEvent>),
    /// Deletes the session's events with `event_seq <= up_to_seq` (they were acknowledged).
    PruneAcked {
        /// The session.
        session_id: String,
        /// The highest acknowledged seq (at most `i64::MAX`).
        up_to_seq: u64,
    },
    /// Inserts or replaces the session's record, features included.
    PutSession(SessionRecord),
    /// Deletes a session record, its features and all its events (an unknown id is not an
    /// error). Jobs are not touched: they outlive sessions.
    DeleteSession(String),
    /// Deletes every session whose resume window has closed (`window_expires_at <=
    /// now_unix_micros`; attached sessions, with `None`, are kept), with their events.
    PruneExpiredSessions {
        /// The current wall-clock time (Unix micros).
        now_unix_micros: i64,
    },
    /// Inserts or replaces the job's record.
    PutJob(JobRecord),
    /// Deletes the job's record (an unknown id is not an error).
    DeleteJob(String),
    /// Inserts or replaces the entry for `(principal, key)`.
    PutIdempotency(IdempotencyRecord),
    /// Deletes the entry for `(principal, key)` (an absent entry is not an error).
    DeleteIdempotency {
        /// The principal the key is scoped to.
        principal: String,
        /// The idempotency key.
        key: String,
    },
    /// Deletes every idempotency entry with `expires_at <= now_unix_micros`.
    PruneExpiredIdempotency {
        /// The current wall-clock time (Unix micros).
        now_unix_micros: i64,
    },
    /// Records (or replaces) an outstanding credential.
    PutCredential(CredentialRecord),
    /// Forgets a credential once it is revoked (an unknown id is not an error).
    DeleteCredential(String),
    /// (Clustered stores only) Queues frames of local jobs whose sessions another node owns,
    /// for that owner to stamp (see [`cluster`](crate::cluster)). Any other store fails the
    /// batch with [`StoreError::Unsupported`](crate::StoreError::Unsupported).
    Forward(Vec<ForwardedFrame>),
    /// (Clustered stores only) Routes a cancel of `job_id` to the node running it (nothing for
    /// an unknown job). Any other store fails the batch with
    /// [`StoreError::Unsupported`](crate::StoreError::Unsupported).
    ForwardCancel {
        /// The job to cancel.
        job_id: String,
    },
    /// (Clustered stores only) Deletes exactly these feed rows (ids of
    /// [`FeedRow`](crate::cluster::FeedRow)s this node stamped; unknown ids are not an
    /// error). Any other store fails the batch with
    /// [`StoreError::Unsupported`](crate::StoreError::Unsupported).
    ConsumeFeed(Vec<i64>),
}

impl StoreOp {
    /// The name of a clustered-only operation (`Forward`, `ForwardCancel`, `ConsumeFeed`),
    /// `None` for the others: what [`StoreError::Unsupported`](crate::StoreError::Unsupported)
    /// names when a store that is not clustered refuses it.
    pub fn cluster_only(&self) -> Option<&'static str> {
        match self {
            StoreOp::Forward(_) => Some("Forward"),
            StoreOp::ForwardCancel { .. } => Some("ForwardCancel"),
            StoreOp::ConsumeFeed(_) => Some("ConsumeFeed"),
            _ => None,
        }
    }
}
