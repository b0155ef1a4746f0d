//! The store's error type.

use thiserror::Error;

/// Everything that can go wrong in [`SqliteStore`](crate::SqliteStore).
///
/// A failed mutating call never leaves a partial write behind: every mutation runs in one
/// transaction that is rolled back on any error.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite itself failed (IO error, locked database past the busy timeout, constraint
    /// violation other than a duplicate event, ...).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),

    /// The database was written by a newer `arcp-sqlite` whose schema this build does not know.
    /// Nothing was changed; upgrade the binary or point it at another file.
    #[error(
        "database schema version {found} is newer than the newest this build supports \
         ({supported}); refusing to open it"
    )]
    SchemaTooNew {
        /// `PRAGMA user_version` read from the file.
        found: u32,
        /// [`SCHEMA_VERSION`](crate::SCHEMA_VERSION) of this build.
        supported: u32,
    },

    /// The file is an SQLite database belonging to another application (its
    /// `PRAGMA application_id` is set and is not ARCP's). Nothing was changed.
    #[error(
        "database application_id {found:#010x} is not ARCP's ({expected:#010x}); refusing to \
         open a foreign database"
    )]
    ForeignDatabase {
        /// `PRAGMA application_id` read from the file.
        found: i32,
        /// [`APPLICATION_ID`](crate::APPLICATION_ID).
        expected: i32,
    },

    /// SQLite refused to switch a file database to write-ahead logging (for example on a
    /// filesystem without shared-memory support). The store does not run without WAL.
    #[error("could not enable WAL journal mode: SQLite reports journal_mode={mode}")]
    WalUnavailable {
        /// The journal mode SQLite reported instead of `wal`.
        mode: String,
    },

    /// An `event_seq` (or a seq bound) above `i64::MAX`: SQLite integers are signed 64-bit, so
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

    /// A cluster operation ([`StoreOp::Forward`](arcp_store::StoreOp::Forward),
    /// [`ForwardCancel`](arcp_store::StoreOp::ForwardCancel),
    /// [`ConsumeFeed`](arcp_store::StoreOp::ConsumeFeed)): an SQLite file serves one runtime,
    /// never a cluster. The whole batch was rolled back.
    #[error("{operation} needs a clustered store")]
    Unsupported {
        /// The refused operation.
        operation: &'static str,
    },

    /// A stored value does not decode (a negative seq, a boolean that is neither 0 nor 1, ...):
    /// the file was edited by hand or is damaged.
    #[error("corrupt value in {column}: {detail}")]
    Corrupt {
        /// `table.column` of the value.
        column: &'static str,
        /// What was found.
        detail: String,
    },
}

/// Converts a `u64` seq to SQLite's signed integer, refusing values above `i64::MAX`.
pub(crate) fn seq_to_sql(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::SeqOutOfRange { seq })
}

/// Converts a stored seq back to `u64`, refusing negative values as corruption.
pub(crate) fn seq_from_sql(value: i64, column: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt {
        column,
        detail: format!("negative sequence number {value}"),
    })
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
    }

    #[test]
    fn messages_are_readable() {
        let e = StoreError::SchemaTooNew {
            found: 9,
            supported: 1,
        };
        assert_eq!(
            e.to_string(),
            "database schema version 9 is newer than the newest this build supports (1); \
             refusing to open it"
        );
        let e = StoreError::ForeignDatabase {
            found: 0x1234,
            expected: 0x4152_4350,
        };
        assert_eq!(
            e.to_string(),
            "database application_id 0x00001234 is not ARCP's (0x41524350); refusing to open a \
             foreign database"
        );
        let e = StoreError::SeqOutOfRange { seq: u64::MAX };
        assert_eq!(
            e.to_string(),
            "event_seq 18446744073709551615 exceeds the largest storable value \
             9223372036854775807"
        );
    }
}
