//! [`SqliteStore`]: the synchronous store API.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::StoreError;
use crate::ops;
use crate::schema::{self, StoreOptions};
use arcp_store::{
    CredentialRecord, IdempotencyRecord, JobRecord, SessionRecord, StoreOp, StoredEvent,
};

/// The durable store: one SQLite connection, a versioned schema, one transaction per mutating
/// call.
///
/// Every method is synchronous and may block on disk IO (and, for mutations, on another
/// connection's write lock up to the busy timeout). Async adapters run the store on a
/// blocking thread. `SqliteStore` is `Send` but not `Sync`: give it one owner.
///
/// Every mutating method (and [`apply`](Self::apply) for a whole batch) runs inside a single
/// `BEGIN IMMEDIATE` transaction: when it returns `Ok`, the change is committed (durable as
/// [`Synchronous`](crate::Synchronous) says); when it returns `Err`, nothing of it was
/// written.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` with [`StoreOptions::default`]: WAL
    /// journal, `synchronous=NORMAL`, a 5 s busy timeout, schema migrated to
    /// [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
    ///
    /// The path `:memory:` opens a private in-memory database, like
    /// [`open_in_memory`](Self::open_in_memory).
    ///
    /// # Errors
    ///
    /// [`StoreError::SchemaTooNew`] or [`StoreError::ForeignDatabase`] for a file this build
    /// must not touch (it is left unchanged), [`StoreError::WalUnavailable`] if SQLite will not
    /// use WAL on it, [`StoreError::Sqlite`] if it cannot be opened or migrated.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, &StoreOptions::default())
    }

    /// Like [`open`](Self::open), with explicit options.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn open_with(path: impl AsRef<Path>, options: &StoreOptions) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let file_backed = path != Path::new(":memory:");
        let mut flags = OpenFlags::default();
        if !options.create_if_missing {
            flags.remove(OpenFlags::SQLITE_OPEN_CREATE);
        }
        let conn = Connection::open_with_flags(path, flags)?;
        Self::init(conn, options, file_backed)
    }

    /// The record of `session_id`, if stored.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] / [`StoreError::Corrupt`].
    pub fn session(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        ops::session(&self.conn, session_id)
    }

    /// Opens a private, empty in-memory store (for tests: nothing survives the value).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] if SQLite cannot allocate it.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(
            Connection::open_in_memory()?,
            &StoreOptions::default(),
            false,
        )
    }

    fn init(
        mut conn: Connection,
        options: &StoreOptions,
        file_backed: bool,
    ) -> Result<Self, StoreError> {
        schema::configure(&conn, options, file_backed)?;
        schema::migrate(&mut conn)?;
        Ok(Self { conn })
    }

    /// The schema version of the open database (`PRAGMA user_version`); after a successful
    /// open it is always [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] on a read failure.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        schema::read_version(&self.conn)
    }

    /// The journal mode SQLite reports (`wal` for a file store, `memory` in memory).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] on a read failure.
    pub fn journal_mode(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))?)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction, committing on `Ok`, rolling back on
    /// `Err` (the transaction is dropped uncommitted).
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    // -----------------------------------------------------------------------------------------
    // Batches

    /// Applies `batch` in order, in one transaction: all of it is committed or none of it.
    /// This is what an adapter calls with the storage effects it collected in one drain.
    ///
    /// # Errors
    ///
    /// The first failing operation's error; the whole batch is rolled back.
    pub fn apply(&mut self, batch: &[StoreOp]) -> Result<(), StoreError> {
        self.write(|conn| batch.iter().try_for_each(|op| ops::apply_op(conn, op)))
    }

    // -----------------------------------------------------------------------------------------
    // Events

    /// Appends `batch` to the event log in one transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::DuplicateEvent`] if any `(session_id, event_seq)` is already stored or
    /// repeats within the batch; [`StoreError::SeqOutOfRange`] for a seq above `i64::MAX`.
    /// Either way, no event of the batch is stored.
    pub fn append_events(&mut self, batch: &[StoredEvent]) -> Result<(), StoreError> {
        self.write(|conn| ops::append_events(conn, batch))
    }

    /// Up to `limit` events of `session_id` with `event_seq > after_seq`, in ascending seq
    /// order. `after_seq = 0` reads from the start (seqs begin at 1 on the wire).
    ///
    /// # Errors
    ///
    /// [`StoreError::SeqOutOfRange`] if `after_seq > i64::MAX`; [`StoreError::Corrupt`] for a
    /// damaged row.
    pub fn read_events(
        &self,
        session_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        ops::read_events(&self.conn, session_id, after_seq, limit)
    }

    /// Like [`read_events`](Self::read_events), restricted to the events of `session_id`
    /// whose `job_id` is `job_id` (e.g. to replay one job's history to a subscriber).
    ///
    /// # Errors
    ///
    /// As [`read_events`](Self::read_events).
    pub fn read_job_events(
        &self,
        session_id: &str,
        job_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        ops::read_job_events(&self.conn, session_id, job_id, after_seq, limit)
    }

    /// The highest `event_seq` still stored for `session_id`, or `None` if it has no stored
    /// events (never appended, or all pruned: the [`SessionRecord::last_event_seq`] then says
    /// where the seq counter stands).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] / [`StoreError::Corrupt`].
    pub fn last_event_seq(&self, session_id: &str) -> Result<Option<u64>, StoreError> {
        ops::last_event_seq(&self.conn, session_id)
    }

    /// Deletes the events of `session_id` with `event_seq <= up_to_seq` (they were acked) and
    /// returns how many were removed.
    ///
    /// # Errors
    ///
    /// [`StoreError::SeqOutOfRange`] if `up_to_seq > i64::MAX` (nothing is deleted).
    pub fn prune_acked(&mut self, session_id: &str, up_to_seq: u64) -> Result<usize, StoreError> {
        self.write(|conn| ops::prune_acked(conn, session_id, up_to_seq))
    }

    // -----------------------------------------------------------------------------------------
    // Sessions

    /// Inserts or replaces the record of `rec.session_id` (features included).
    ///
    /// # Errors
    ///
    /// [`StoreError::SeqOutOfRange`] if `last_event_seq > i64::MAX`.
    pub fn put_session(&mut self, rec: &SessionRecord) -> Result<(), StoreError> {
        self.write(|conn| ops::put_session(conn, rec))
    }

    /// Every session record, ordered by `session_id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] / [`StoreError::Corrupt`].
    pub fn sessions(&self) -> Result<Vec<SessionRecord>, StoreError> {
        ops::sessions(&self.conn)
    }

    /// Deletes a session record, its features and all its events. Deleting an unknown session
    /// is not an error. Jobs are not touched: they outlive sessions.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn delete_session(&mut self, session_id: &str) -> Result<(), StoreError> {
        self.write(|conn| ops::delete_session(conn, session_id).map(drop))
    }

    /// Deletes every session whose resume window has closed (`window_expires_at <=
    /// now_unix_micros`; attached sessions, with `None`, are kept) together with its events,
    /// and returns how many sessions were removed.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn prune_expired_sessions(&mut self, now_unix_micros: i64) -> Result<usize, StoreError> {
        self.write(|conn| ops::prune_expired_sessions(conn, now_unix_micros))
    }

    // -----------------------------------------------------------------------------------------
    // Jobs

    /// Inserts or replaces the record of `rec.job_id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn put_job(&mut self, rec: &JobRecord) -> Result<(), StoreError> {
        self.write(|conn| ops::put_job(conn, rec))
    }

    /// The record of `job_id`, if stored.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] / [`StoreError::Corrupt`].
    pub fn job(&self, job_id: &str) -> Result<Option<JobRecord>, StoreError> {
        ops::job(&self.conn, job_id)
    }

    /// Every job record, ordered by `submitted_at`, then `job_id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`] / [`StoreError::Corrupt`].
    pub fn jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        ops::jobs(&self.conn)
    }

    /// Deletes the record of `job_id` (unknown ids are not an error).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn delete_job(&mut self, job_id: &str) -> Result<(), StoreError> {
        self.write(|conn| ops::delete_job(conn, job_id).map(drop))
    }

    // -----------------------------------------------------------------------------------------
    // Idempotency

    /// Inserts or replaces the entry for `(rec.principal, rec.key)`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn put_idempotency(&mut self, rec: &IdempotencyRecord) -> Result<(), StoreError> {
        self.write(|conn| ops::put_idempotency(conn, rec))
    }

    /// The entry for `(principal, key)`, if stored. Expiry is not checked here: compare
    /// `expires_at` yourself, or prune first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn idempotency(
        &self,
        principal: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        ops::idempotency(&self.conn, principal, key)
    }

    /// Every idempotency entry, ordered by `(principal, key)`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn idempotency_records(&self) -> Result<Vec<IdempotencyRecord>, StoreError> {
        ops::idempotency_records(&self.conn)
    }

    /// Deletes the entry for `(principal, key)` (absent entries are not an error).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn delete_idempotency(&mut self, principal: &str, key: &str) -> Result<(), StoreError> {
        self.write(|conn| ops::delete_idempotency(conn, principal, key).map(drop))
    }

    /// Deletes every entry with `expires_at <= now_unix_micros`; returns how many.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn prune_expired_idempotency(&mut self, now_unix_micros: i64) -> Result<usize, StoreError> {
        self.write(|conn| ops::prune_expired_idempotency(conn, now_unix_micros))
    }

    // -----------------------------------------------------------------------------------------
    // Credentials

    /// Records (or replaces) an outstanding credential.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn put_credential(&mut self, rec: &CredentialRecord) -> Result<(), StoreError> {
        self.write(|conn| ops::put_credential(conn, rec))
    }

    /// Forgets a credential once it is revoked (unknown ids are not an error).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn delete_credential(&mut self, credential_id: &str) -> Result<(), StoreError> {
        self.write(|conn| ops::delete_credential(conn, credential_id).map(drop))
    }

    /// Every credential not yet revoked, ordered by `credential_id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Sqlite`].
    pub fn outstanding_credentials(&self) -> Result<Vec<CredentialRecord>, StoreError> {
        ops::outstanding_credentials(&self.conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_send_so_an_adapter_can_move_it_to_a_blocking_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<SqliteStore>();
        let store = SqliteStore::open_in_memory().unwrap();
        let handle = std::thread::spawn(move || store.schema_version().unwrap());
        assert_eq!(handle.join().unwrap(), 1);
    }
}
