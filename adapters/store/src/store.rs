//! [`Store`]: what a runtime host drives, whatever the database.

use crate::cluster::{Claimed, StoreAdmission};
use crate::error::StoreError;
use crate::records::{
    CredentialRecord, IdempotencyRecord, JobRecord, SessionRecord, StoreOp, StoredEvent,
};

/// A durable store of an ARCP runtime: the event log and the session, job, idempotency and
/// credential records, behind one mutation ([`apply`](Self::apply), one transaction per
/// batch) and the reads a resume, a subscribe and a restart need.
///
/// The interface is synchronous: a host runs its store on a thread of its own (arcp-host's
/// `StoreThread`), one batch at a time, and reports a batch's effects complete only after
/// `apply` returned `Ok` (the write-ahead rule: a frame is transmitted only once the append
/// holding it is committed). A backend on an async client blocks on its own small runtime.
/// Every method takes `&mut self`: a store has one owner, so a backend may hold a single
/// connection.
///
/// Implementations: `arcp_sqlite::SqliteStore` (embedded, the default) and
/// `arcp_postgres::PostgresStore` (a shared server). Both pass the shared suite of the
/// feature `suite` (`store_suite!`), which pins the semantics written on each method and on
/// [`StoreOp`]: a new backend runs it too.
pub trait Store: Send + 'static {
    /// Applies `ops` in order in one transaction: when it returns `Ok` all of them are
    /// committed (durable as the backend promises), when it returns `Err` none of them is.
    ///
    /// # Errors
    ///
    /// The first failing operation's error ([`StoreError::DuplicateEvent`],
    /// [`StoreError::SeqOutOfRange`], [`StoreError::Backend`]); the whole batch is rolled
    /// back.
    fn apply(&mut self, ops: &[StoreOp]) -> Result<(), StoreError>;

    /// Up to `limit` events of `session_id` with `event_seq > after_seq`, in ascending seq
    /// order (`after_seq = 0` reads from the start: seqs begin at 1 on the wire).
    ///
    /// # Errors
    ///
    /// [`StoreError::SeqOutOfRange`] if `after_seq > i64::MAX`; [`StoreError::Corrupt`] for a
    /// damaged row; [`StoreError::Backend`].
    fn read_events(
        &mut self,
        session_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Like [`read_events`](Self::read_events), restricted to the events whose `job_id` is
    /// `job_id` (one job's history, e.g. for a subscriber).
    ///
    /// # Errors
    ///
    /// As [`read_events`](Self::read_events).
    fn read_job_events(
        &mut self,
        session_id: &str,
        job_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The highest `event_seq` still stored for `session_id`, or `None` if none is (never
    /// appended, or all pruned: [`SessionRecord::last_event_seq`] then says where the seq
    /// counter stands).
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`], [`StoreError::Backend`].
    fn last_event_seq(&mut self, session_id: &str) -> Result<Option<u64>, StoreError>;

    /// The record of `session_id`, features included, if stored.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`], [`StoreError::Backend`].
    fn session(&mut self, session_id: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// Every session record, features included, ordered by `session_id` (bytewise).
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`], [`StoreError::Backend`].
    fn sessions(&mut self) -> Result<Vec<SessionRecord>, StoreError>;

    /// The record of `job_id`, if stored.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`], [`StoreError::Backend`].
    fn job(&mut self, job_id: &str) -> Result<Option<JobRecord>, StoreError>;

    /// Every job record, ordered by `submitted_at`, then `job_id` (bytewise).
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`], [`StoreError::Backend`].
    fn jobs(&mut self) -> Result<Vec<JobRecord>, StoreError>;

    /// The idempotency entry for `(principal, key)`, if stored (expiry is not checked).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn idempotency(
        &mut self,
        principal: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Every idempotency entry, ordered by `(principal, key)` (bytewise).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn idempotency_records(&mut self) -> Result<Vec<IdempotencyRecord>, StoreError>;

    /// Every credential not yet revoked, ordered by `credential_id` (bytewise).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn outstanding_credentials(&mut self) -> Result<Vec<CredentialRecord>, StoreError>;

    /// The node this store acts for when it is clustered (several nodes sharing one
    /// database, see [`cluster`](crate::cluster)); `None` (the default) for a store of a
    /// single runtime.
    fn node_id(&self) -> Option<&str> {
        None
    }

    /// (Clustered stores) Makes this node the owner of `session_id`, in one transaction:
    /// the previous owner, if another node, is told the session was released; from now on
    /// that node's appends to the session become forwarded frames. `None`: no such session.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] (the default) for a store that is not clustered;
    /// [`StoreError::Corrupt`], [`StoreError::Backend`].
    fn claim_session(&mut self, session_id: &str) -> Result<Option<Claimed>, StoreError> {
        let _ = session_id;
        Err(StoreError::Unsupported {
            operation: "claim_session",
        })
    }

    /// The job records this node restarts with, ordered as [`jobs`](Self::jobs): every job
    /// (the default, [`jobs`](Self::jobs)), or, for a clustered store, only the jobs that ran
    /// on this node.
    ///
    /// # Errors
    ///
    /// As [`jobs`](Self::jobs).
    fn node_jobs(&mut self) -> Result<Vec<JobRecord>, StoreError> {
        self.jobs()
    }

    /// (Clustered stores) Admits a submit of `principal` (job `job_id` of `session_id`)
    /// cluster-wide, in one transaction serialized with every other admission of the same
    /// principal on any node:
    ///
    /// - an unexpired idempotency entry for `(idempotency.principal, idempotency.key)` →
    ///   [`StoreAdmission::Duplicate`] with its fingerprint and job;
    /// - else `max_unfinished` or more unfinished jobs of `principal` on live nodes →
    ///   [`StoreAdmission::OverLimit`];
    /// - else the idempotency entry (if any) is stored (replacing an expired one) and so is a
    ///   placeholder record of `job_id` (status `pending`, not terminal, data `{}`, running on
    ///   this node), replaced by the runtime's `PutJob` that follows →
    ///   [`StoreAdmission::Admitted`].
    ///
    /// A reader of job records may meet a placeholder: its `data` does not decode as the
    /// runtime's job data.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] (the default) for a store that is not clustered;
    /// [`StoreError::Backend`].
    fn admit_job(
        &mut self,
        principal: &str,
        session_id: &str,
        job_id: &str,
        max_unfinished: usize,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<StoreAdmission, StoreError> {
        let _ = (principal, session_id, job_id, max_unfinished, idempotency);
        Err(StoreError::Unsupported {
            operation: "admit_job",
        })
    }

    /// (Clustered stores) Whether `principal` may open one more session (`session_id`)
    /// cluster-wide: `true` when fewer than `max_live` of its OTHER sessions are attached (no
    /// resume window running) and owned by live nodes. Nothing is written.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] (the default) for a store that is not clustered;
    /// [`StoreError::Backend`].
    fn admit_session(
        &mut self,
        principal: &str,
        session_id: &str,
        max_live: usize,
    ) -> Result<bool, StoreError> {
        let _ = (principal, session_id, max_live);
        Err(StoreError::Unsupported {
            operation: "admit_session",
        })
    }
}

/// A boxed store is a store (so `&mut Box<dyn Store>` goes wherever `&mut dyn Store` does).
impl<S: Store + ?Sized> Store for Box<S> {
    fn apply(&mut self, ops: &[StoreOp]) -> Result<(), StoreError> {
        (**self).apply(ops)
    }

    fn read_events(
        &mut self,
        session_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        (**self).read_events(session_id, after_seq, limit)
    }

    fn read_job_events(
        &mut self,
        session_id: &str,
        job_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        (**self).read_job_events(session_id, job_id, after_seq, limit)
    }

    fn last_event_seq(&mut self, session_id: &str) -> Result<Option<u64>, StoreError> {
        (**self).last_event_seq(session_id)
    }

    fn session(&mut self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        (**self).session(session_id)
    }

    fn sessions(&mut self) -> Result<Vec<SessionRecord>, StoreError> {
        (**self).sessions()
    }

    fn job(&mut self, job_id: &str) -> Result<Option<JobRecord>, StoreError> {
        (**self).job(job_id)
    }

    fn jobs(&mut self) -> Result<Vec<JobRecord>, StoreError> {
        (**self).jobs()
    }

    fn idempotency(
        &mut self,
        principal: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        (**self).idempotency(principal, key)
    }

    fn idempotency_records(&mut self) -> Result<Vec<IdempotencyRecord>, StoreError> {
        (**self).idempotency_records()
    }

    fn outstanding_credentials(&mut self) -> Result<Vec<CredentialRecord>, StoreError> {
        (**self).outstanding_credentials()
    }

    fn node_id(&self) -> Option<&str> {
        (**self).node_id()
    }

    fn claim_session(&mut self, session_id: &str) -> Result<Option<Claimed>, StoreError> {
        (**self).claim_session(session_id)
    }

    fn node_jobs(&mut self) -> Result<Vec<JobRecord>, StoreError> {
        (**self).node_jobs()
    }

    fn admit_job(
        &mut self,
        principal: &str,
        session_id: &str,
        job_id: &str,
        max_unfinished: usize,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<StoreAdmission, StoreError> {
        (**self).admit_job(principal, session_id, job_id, max_unfinished, idempotency)
    }

    fn admit_session(
        &mut self,
        principal: &str,
        session_id: &str,
        max_live: usize,
    ) -> Result<bool, StoreError> {
        (**self).admit_session(principal, session_id, max_live)
    }
}
