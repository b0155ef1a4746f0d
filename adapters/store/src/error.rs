//! The error every [`Store`](crate::Store) backend reports, and the seq range checks they
//! share.

use thiserror::Error;

/// What a [`Store`](crate::Store) call can fail with.
///
/// The variants other than [`Backend`](Self::Backend) mean the same on every backend (the
/// shared suite asserts them); `Backend` carries the engine's own error (SQLite's, the
/// PostgreSQL client's, an IO error). A failed [`apply`](crate::Store::apply) never leaves a
/// partial write behind.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An `event_seq` (or a seq bound) above `i64::MAX`: SQL integers are signed 64-bit, so
    /// such a value cannot be stored or compared faithfully. Nothing was written.
    #[error("event_seq {seq} exceeds the largest storable value {}", i64::MAX)]
    SeqOutOfRange {
        /// The offending value.
        seq: u64,
    },

    /// An append hit an event that is already stored under the same `(session_id, event_seq)`
    /// (or the batch holds the same pair twice). The whole batch was rolled back.
    #[error("duplicate event: session {session_id} already holds event_seq {event_seq}")]
    DuplicateEvent {
        /// Session of the offending event.
        session_id: String,
        /// Its `event_seq`.
        event_seq: u64,
    },

    /// A stored value does not decode (a negative seq, a boolean out of range, ...): the
    /// database was edited by hand or is damaged.
    #[error("corrupt value in {column}: {detail}")]
    Corrupt {
        /// `table.column` of the value.
        column: &'static str,
        /// What was found.
        detail: String,
    },

    /// The database was written by a newer build whose schema this one does not know.
    /// Nothing was changed.
    #[error(
        "database schema version {found} is newer than the newest this build supports \
         ({supported}); refusing to open it"
    )]
    SchemaTooNew {
        /// The version read from the database.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },

    /// The operation needs a clustered store (several nodes sharing one database, e.g.
    /// `arcp_postgres::PostgresStore::join`) and this store is not one. Nothing was written.
    #[error("{operation} needs a clustered store")]
    Unsupported {
        /// The refused operation (`Forward`, `ForwardCancel`, `ConsumeFeed`,
        /// `claim_session`, `admit_job`, `admit_session`).
        operation: &'static str,
    },

    /// The backend itself failed (connection lost, IO error, lock timeout, a constraint other
    /// than a duplicate event, ...).
    #[error("{backend}: {source}")]
    Backend {
        /// Which backend (`sqlite`, `postgres`, ...).
        backend: &'static str,
        /// The backend's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl StoreError {
    /// Wraps a backend's own error as [`StoreError::Backend`].
    pub fn backend(
        backend: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        StoreError::Backend {
            backend,
            source: source.into(),
        }
    }
}

/// Converts a `u64` seq to a signed 64-bit SQL integer, refusing values above `i64::MAX` with
/// [`StoreError::SeqOutOfRange`] (never truncating).
///
/// # Errors
///
/// [`StoreError::SeqOutOfRange`] for `seq > i64::MAX`.
pub fn seq_to_sql(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::SeqOutOfRange { seq })
}

/// Converts a stored seq back to `u64`, refusing negative values as [`StoreError::Corrupt`]
/// in `column`.
///
/// # Errors
///
/// [`StoreError::Corrupt`] for a negative value.
pub fn seq_from_sql(value: i64, column: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt {
        column,
        detail: format!("negative sequence number {value}"),
    })
}

/// A `limit` for SQL (`LIMIT $n` is a signed 64-bit integer); beyond `i64::MAX` it cannot be
/// reached anyway.
pub fn limit_to_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_conversion_bounds() {
        assert_eq!(seq_to_sql(0).unwrap(), 0);
        assert_eq!(seq_to_sql(i64::MAX as u64).unwrap(), i64::MAX);
        match seq_to_sql(i64::MAX as u64 + 1) {
            Err(StoreError::SeqOutOfRange { seq }) => assert_eq!(seq, 9_223_372_036_854_775_808),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(seq_from_sql(7, "events.event_seq").unwrap(), 7);
        match seq_from_sql(-1, "events.event_seq") {
            Err(StoreError::Corrupt { column, detail }) => {
                assert_eq!(column, "events.event_seq");
                assert_eq!(detail, "negative sequence number -1");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(limit_to_sql(5), 5);
        assert_eq!(limit_to_sql(usize::MAX), i64::MAX);
    }

    #[test]
    fn messages_are_readable() {
        let e = StoreError::SeqOutOfRange { seq: u64::MAX };
        assert_eq!(
            e.to_string(),
            "event_seq 18446744073709551615 exceeds the largest storable value \
             9223372036854775807"
        );
        let e = StoreError::DuplicateEvent {
            session_id: "sess_1".into(),
            event_seq: 3,
        };
        assert_eq!(
            e.to_string(),
            "duplicate event: session sess_1 already holds event_seq 3"
        );
        let e = StoreError::backend("postgres", "connection refused");
        assert_eq!(e.to_string(), "postgres: connection refused");
        let e = StoreError::Unsupported {
            operation: "Forward",
        };
        assert_eq!(e.to_string(), "Forward needs a clustered store");
        let e = StoreError::SchemaTooNew {
            found: 9,
            supported: 1,
        };
        assert_eq!(
            e.to_string(),
            "database schema version 9 is newer than the newest this build supports (1); \
             refusing to open it"
        );
    }
}
