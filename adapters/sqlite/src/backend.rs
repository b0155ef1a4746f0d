//! [`SqliteStore`] as an [`arcp_store::Store`]: the trait's calls forward to the inherent
//! methods, and this crate's errors convert into the shared [`arcp_store::StoreError`].

use crate::{SqliteStore, StoreError};
use arcp_store::{
    CredentialRecord, IdempotencyRecord, JobRecord, SessionRecord, Store, StoreOp, StoredEvent,
};

impl From<StoreError> for arcp_store::StoreError {
    /// The variants both error types share keep their meaning; SQLite's own failures
    /// (`Sqlite`, `ForeignDatabase`, `WalUnavailable`) become `Backend { backend: "sqlite" }`.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::SeqOutOfRange { seq } => arcp_store::StoreError::SeqOutOfRange { seq },
            StoreError::DuplicateEvent {
                session_id,
                event_seq,
            } => arcp_store::StoreError::DuplicateEvent {
                session_id,
                event_seq,
            },
            StoreError::Corrupt { column, detail } => {
                arcp_store::StoreError::Corrupt { column, detail }
            }
            StoreError::SchemaTooNew { found, supported } => {
                arcp_store::StoreError::SchemaTooNew { found, supported }
            }
            StoreError::Unsupported { operation } => {
                arcp_store::StoreError::Unsupported { operation }
            }
            // SQLite's own error, without this crate's "sqlite: " prefix a second time.
            StoreError::Sqlite(e) => arcp_store::StoreError::backend("sqlite", e),
            other => arcp_store::StoreError::backend("sqlite", other),
        }
    }
}

type Result<T> = std::result::Result<T, arcp_store::StoreError>;

impl Store for SqliteStore {
    fn apply(&mut self, ops: &[StoreOp]) -> Result<()> {
        Ok(SqliteStore::apply(self, ops)?)
    }

    fn read_events(
        &mut self,
        session_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        Ok(SqliteStore::read_events(
            self, session_id, after_seq, limit,
        )?)
    }

    fn read_job_events(
        &mut self,
        session_id: &str,
        job_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        Ok(SqliteStore::read_job_events(
            self, session_id, job_id, after_seq, limit,
        )?)
    }

    fn last_event_seq(&mut self, session_id: &str) -> Result<Option<u64>> {
        Ok(SqliteStore::last_event_seq(self, session_id)?)
    }

    fn session(&mut self, session_id: &str) -> Result<Option<SessionRecord>> {
        Ok(SqliteStore::session(self, session_id)?)
    }

    fn sessions(&mut self) -> Result<Vec<SessionRecord>> {
        Ok(SqliteStore::sessions(self)?)
    }

    fn job(&mut self, job_id: &str) -> Result<Option<JobRecord>> {
        Ok(SqliteStore::job(self, job_id)?)
    }

    fn jobs(&mut self) -> Result<Vec<JobRecord>> {
        Ok(SqliteStore::jobs(self)?)
    }

    fn idempotency(&mut self, principal: &str, key: &str) -> Result<Option<IdempotencyRecord>> {
        Ok(SqliteStore::idempotency(self, principal, key)?)
    }

    fn idempotency_records(&mut self) -> Result<Vec<IdempotencyRecord>> {
        Ok(SqliteStore::idempotency_records(self)?)
    }

    fn outstanding_credentials(&mut self) -> Result<Vec<CredentialRecord>> {
        Ok(SqliteStore::outstanding_credentials(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_variants_keep_their_meaning_and_sqlite_failures_are_backend_errors() {
        let e: arcp_store::StoreError = StoreError::SeqOutOfRange { seq: 7 }.into();
        assert!(matches!(
            e,
            arcp_store::StoreError::SeqOutOfRange { seq: 7 }
        ));
        let e: arcp_store::StoreError = StoreError::SchemaTooNew {
            found: 3,
            supported: 1,
        }
        .into();
        assert!(matches!(
            e,
            arcp_store::StoreError::SchemaTooNew {
                found: 3,
                supported: 1
            }
        ));
        let e: arcp_store::StoreError = StoreError::WalUnavailable {
            mode: "delete".into(),
        }
        .into();
        assert_eq!(
            e.to_string(),
            "sqlite: could not enable WAL journal mode: SQLite reports journal_mode=delete"
        );
        let e: arcp_store::StoreError =
            StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows).into();
        assert_eq!(e.to_string(), "sqlite: Query returned no rows");
    }
}
