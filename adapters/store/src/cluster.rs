//! The cluster side of a store: several runtime nodes sharing one database (a clustered
//! store such as `arcp_postgres::PostgresStore::join`).
//!
//! The node a session's connection is attached to OWNS the session: it alone stamps the
//! session's `event_seq`s. A job runs on the node where it was submitted; when its session is
//! owned by another node, its frames travel as [`ForwardedFrame`]s (unstamped) through a
//! feed the owner reads back as [`FeedRow`]s. A [`ClusterWatch`] (one per node, on a
//! connection of its own) reports what concerns this node as [`ClusterEvent`]s: feed rows to
//! stamp, sessions claimed away, cancels routed here, nodes found dead, and its own
//! isolation.
//!
//! The [`StoreOp`](crate::StoreOp) variants `Forward`, `ForwardCancel` and `ConsumeFeed` and
//! [`Store::claim_session`](crate::Store::claim_session) need a clustered store: any other
//! store refuses them with [`StoreError::Unsupported`]. So do the cluster-wide admissions
//! [`Store::admit_job`](crate::Store::admit_job) (one idempotency key and one cap of
//! unfinished jobs per principal across the nodes, see [`StoreAdmission`]) and
//! [`Store::admit_session`](crate::Store::admit_session).

use crate::error::StoreError;
use crate::records::{CredentialRecord, JobRecord, SessionRecord};

/// A job's frame for a session another node owns: the frame exactly as it would be stamped,
/// but without `event_seq` (the owner stamps it).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ForwardedFrame {
    /// The session the frame belongs to (owned by another node).
    pub session_id: String,
    /// The job the frame is about.
    pub job_id: String,
    /// The encoded frame (JSON bytes), without `event_seq`.
    pub frame: Vec<u8>,
}

/// A forwarded frame waiting in the feed for its session's owner, as a
/// [`ClusterWatch`] reads it. It stays in the feed (and may be delivered again) until a
/// [`StoreOp::ConsumeFeed`](crate::StoreOp::ConsumeFeed) deletes its `id`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FeedRow {
    /// The feed row's id (increasing in insertion order).
    pub id: i64,
    /// The session the frame belongs to.
    pub session_id: String,
    /// The job the frame is about.
    pub job_id: String,
    /// The encoded frame (JSON bytes), without `event_seq`.
    pub frame: Vec<u8>,
}

/// What a [`ClusterWatch`] reports to its node.
///
/// Deliberately exhaustive (like [`StoreOp`](crate::StoreOp)): a host must act on every event,
/// so a new one is a change each host's match takes up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterEvent {
    /// Forwarded frames of sessions this node owns, in feed order (stamp them, then consume
    /// them). A row may be reported again until consumed.
    Feed(Vec<FeedRow>),
    /// Sessions another node has claimed: forget them (their jobs here keep running and
    /// forward from now on).
    Released(Vec<String>),
    /// Jobs running here whose cancel another node routed here.
    Cancel(Vec<String>),
    /// This node won the reap of a dead node: end its unfinished jobs and revoke its
    /// credentials. Reported to exactly one node.
    NodeLost {
        /// The dead node.
        node_id: String,
        /// Its unfinished jobs.
        jobs: Vec<JobRecord>,
        /// The outstanding credentials of its jobs.
        credentials: Vec<CredentialRecord>,
    },
    /// This node could not refresh its liveness for long enough that the others may reap it
    /// (or have reaped it): stop its local jobs without terminals and close its connections.
    /// Reported once per isolation.
    Isolated,
    /// The liveness refresh works again after [`Isolated`](Self::Isolated): the node is a
    /// live member again.
    Rejoined,
}

/// A node's watch on the cluster: blocks for what concerns this node. Runs on a thread (or
/// blocking task) of its own, next to the node's [`Store`](crate::Store).
pub trait ClusterWatch: Send + 'static {
    /// This node's id.
    fn node_id(&self) -> &str;

    /// Waits for events, at most about the poll interval the watch was configured with, and
    /// returns them (possibly none).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] (and the store's other errors) when the database answered a
    /// query with an error; losing the connection is not an error (it is retried, and
    /// reported as [`ClusterEvent::Isolated`] once it lasts).
    fn wait(&mut self) -> Result<Vec<ClusterEvent>, StoreError>;
}

/// A boxed watch is a watch.
impl<W: ClusterWatch + ?Sized> ClusterWatch for Box<W> {
    fn node_id(&self) -> &str {
        (**self).node_id()
    }

    fn wait(&mut self) -> Result<Vec<ClusterEvent>, StoreError> {
        (**self).wait()
    }
}

/// What [`Store::claim_session`](crate::Store::claim_session) found: the session, now owned
/// by this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    /// The session's record.
    pub session: SessionRecord,
    /// The highest `event_seq` still stored for the session, if any.
    pub last_stored_seq: Option<u64>,
    /// The session's unfinished jobs that run on other nodes.
    pub jobs: Vec<JobRecord>,
}

/// What [`Store::admit_job`](crate::Store::admit_job) decided for a submit, cluster-wide.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreAdmission {
    /// The job may be accepted: its idempotency entry (if any) and a placeholder job record
    /// (status `pending`, data `{}`, on this node) are stored, so a concurrent admission on
    /// any node sees it; the runtime's `PutJob` that follows replaces the placeholder.
    Admitted,
    /// The principal's idempotency key is already taken by an unexpired entry (written by
    /// any node): the first submit's fingerprint and job. Nothing was written.
    Duplicate {
        /// The fingerprint of the first submit's parameters.
        fingerprint: String,
        /// The job the first submit created (or is creating).
        job_id: String,
    },
    /// The principal already has the maximum of unfinished jobs on live nodes. Nothing was
    /// written.
    OverLimit,
}
