//! Connection set-up (pragmas) and the versioned schema.
//!
//! The schema version lives in `PRAGMA user_version`; `PRAGMA application_id` marks the file
//! as ARCP's. [`MIGRATIONS`] is the list of numbered steps; at open, every step above the
//! file's version runs, all in one `IMMEDIATE` transaction together with the `user_version`
//! bumps, so a crash or a failing step leaves the file at its previous version, intact.

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::StoreError;

/// The schema version this build writes and reads (`PRAGMA user_version`).
pub const SCHEMA_VERSION: u32 = 1;

/// `PRAGMA application_id` of an ARCP store: the ASCII bytes `ARCP`.
pub const APPLICATION_ID: i32 = 0x4152_4350;

/// Schema version 1.
///
/// `STRICT` tables make SQLite refuse a value of the wrong type, so a corrupt write fails
/// loudly instead of being read back as something else.
const V1: &str = "
CREATE TABLE events (
    session_id TEXT NOT NULL,
    event_seq  INTEGER NOT NULL CHECK (event_seq >= 0),
    job_id     TEXT,
    frame      BLOB NOT NULL,
    PRIMARY KEY (session_id, event_seq)
) STRICT;

CREATE TABLE sessions (
    session_id        TEXT NOT NULL PRIMARY KEY,
    principal         TEXT NOT NULL,
    resume_token_hash TEXT NOT NULL,
    last_event_seq    INTEGER NOT NULL CHECK (last_event_seq >= 0),
    window_expires_at INTEGER
) STRICT;
CREATE INDEX sessions_by_window ON sessions (window_expires_at)
    WHERE window_expires_at IS NOT NULL;

CREATE TABLE session_features (
    session_id TEXT NOT NULL,
    position   INTEGER NOT NULL,
    feature    TEXT NOT NULL,
    PRIMARY KEY (session_id, position)
) STRICT;

CREATE TABLE jobs (
    job_id       TEXT NOT NULL PRIMARY KEY,
    session_id   TEXT NOT NULL,
    principal    TEXT NOT NULL,
    agent        TEXT NOT NULL,
    status       TEXT NOT NULL,
    submitted_at INTEGER NOT NULL,
    terminal     INTEGER NOT NULL CHECK (terminal IN (0, 1)),
    data         BLOB NOT NULL
) STRICT;

CREATE TABLE idempotency (
    principal   TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    accepted    BLOB NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (principal, key)
) STRICT;
CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);

CREATE TABLE credentials (
    credential_id TEXT NOT NULL PRIMARY KEY,
    job_id        TEXT NOT NULL,
    data          BLOB NOT NULL
) STRICT;
";

/// One numbered step of the schema.
pub(crate) struct Migration {
    /// The version the file is at once this step ran (`PRAGMA user_version`).
    pub(crate) version: u32,
    /// The statements.
    pub(crate) sql: &'static str,
}

/// Every step, in order: `MIGRATIONS[i].version == i + 1`. A schema change adds a step (never
/// edits one: files written by earlier builds went through it) and bumps [`SCHEMA_VERSION`].
pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sql: V1,
}];

/// How hard a commit is pushed to disk (`PRAGMA synchronous`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// `NORMAL`: with WAL, a commit survives a crash of the process (SIGKILL included); a
    /// power loss or OS crash may roll back the last few commits, never corrupt the file.
    #[default]
    Normal,
    /// `FULL`: every commit is fsynced to the WAL before it returns; it survives power loss
    /// too, at the cost of one fsync per transaction.
    Full,
}

impl Synchronous {
    fn pragma_value(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::Full => "FULL",
        }
    }
}

/// Options for [`SqliteStore::open_with`](crate::SqliteStore::open_with).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// How long a statement waits for a lock held by another connection before failing with
    /// `SQLITE_BUSY` (default 5 s).
    pub busy_timeout: Duration,
    /// Commit durability (default [`Synchronous::Normal`]).
    pub synchronous: Synchronous,
    /// Create the file if it does not exist (default `true`). With `false`, opening a missing
    /// file fails with [`StoreError::Sqlite`] and creates nothing; a reader such as
    /// `arcp replay --db PATH` wants that.
    pub create_if_missing: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            synchronous: Synchronous::Normal,
            create_if_missing: true,
        }
    }
}

/// Applies the connection pragmas. `file_backed` selects WAL (refused if SQLite will not
/// switch); an in-memory database keeps its `memory` journal.
pub(crate) fn configure(
    conn: &Connection,
    options: &StoreOptions,
    file_backed: bool,
) -> Result<(), StoreError> {
    conn.busy_timeout(options.busy_timeout)?;
    if file_backed {
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::WalUnavailable { mode });
        }
    }
    conn.pragma_update(None, "synchronous", options.synchronous.pragma_value())?;
    Ok(())
}

/// Reads `PRAGMA user_version`.
pub(crate) fn read_version(conn: &Connection) -> Result<u32, StoreError> {
    let raw: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    // user_version is a signed 32-bit header field; a negative one was not written by us.
    u32::try_from(raw).map_err(|_| StoreError::Corrupt {
        column: "PRAGMA user_version",
        detail: format!("negative schema version {raw}"),
    })
}

fn read_application_id(conn: &Connection) -> Result<i32, StoreError> {
    Ok(conn.pragma_query_value(None, "application_id", |row| row.get(0))?)
}

/// Refuses a foreign or too-new database, then brings an older one up to [`SCHEMA_VERSION`].
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    migrate_with(conn, MIGRATIONS)
}

/// [`migrate`] through `steps` (the tests give a longer list than [`MIGRATIONS`]).
pub(crate) fn migrate_with(conn: &mut Connection, steps: &[Migration]) -> Result<(), StoreError> {
    let newest = steps.last().map_or(0, |m| m.version);
    check(conn, newest)?;
    if read_version(conn)? == newest {
        return Ok(());
    }
    // IMMEDIATE takes the write lock up front; re-check inside, since another process may
    // have migrated the file between the check above and the lock.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    check(&tx, newest)?;
    let from = read_version(&tx)?;
    for step in steps.iter().filter(|m| m.version > from) {
        tx.execute_batch(step.sql)?;
        tx.pragma_update(None, "user_version", i64::from(step.version))?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.commit()?;
    Ok(())
}

fn check(conn: &Connection, newest: u32) -> Result<(), StoreError> {
    let app = read_application_id(conn)?;
    if app != 0 && app != APPLICATION_ID {
        return Err(StoreError::ForeignDatabase {
            found: app,
            expected: APPLICATION_ID,
        });
    }
    let found = read_version(conn)?;
    if found > newest {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: newest,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_from_one_up_to_the_version() {
        let versions: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    }

    /// Today's steps plus a step 2, as a schema change would add it.
    const WITH_V2: &[Migration] = &[
        Migration {
            version: 1,
            sql: V1,
        },
        Migration {
            version: 2,
            sql: "ALTER TABLE jobs ADD COLUMN node TEXT NOT NULL DEFAULT 'local';
                  CREATE INDEX jobs_by_node ON jobs (node);",
        },
    ];

    fn v1_with_a_job() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO jobs VALUES ('job_1', 'sess_1', 'alice', 'echo', 'running', 7, 0, x'00ff')",
            [],
        )
        .unwrap();
        conn
    }

    #[test]
    fn a_new_step_runs_from_the_files_version_forward_and_keeps_the_data() {
        let mut conn = v1_with_a_job();
        migrate_with(&mut conn, WITH_V2).unwrap();
        assert_eq!(read_version(&conn).unwrap(), 2);
        let row: (String, i64, Vec<u8>, String) = conn
            .query_row(
                "SELECT job_id, submitted_at, data, node FROM jobs",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(row, ("job_1".into(), 7, vec![0, 255], "local".into()));
        // Step 1 did not run again (its CREATE TABLE would have failed), and a second
        // migrate is a no-op; this build (version 1) now refuses the file.
        migrate_with(&mut conn, WITH_V2).unwrap();
        match migrate(&mut conn) {
            Err(StoreError::SchemaTooNew { found, supported }) => {
                assert_eq!((found, supported), (2, 1));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_failing_step_leaves_the_file_at_its_version() {
        let mut conn = v1_with_a_job();
        let broken = [
            Migration {
                version: 1,
                sql: V1,
            },
            Migration {
                version: 2,
                sql: "ALTER TABLE jobs ADD COLUMN node TEXT; ALTER TABLE nope ADD COLUMN x TEXT;",
            },
        ];
        assert!(matches!(
            migrate_with(&mut conn, &broken),
            Err(StoreError::Sqlite(_))
        ));
        assert_eq!(read_version(&conn).unwrap(), 1);
        let columns: i64 = conn
            .query_row(
                "SELECT count(*) FROM pragma_table_info('jobs') WHERE name = 'node'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(columns, 0);
        let jobs: i64 = conn
            .query_row("SELECT count(*) FROM jobs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(jobs, 1);
    }

    #[test]
    fn fresh_database_is_migrated_and_marked() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(read_version(&conn).unwrap(), 1);
        assert_eq!(read_application_id(&conn).unwrap(), 0x4152_4350);
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            tables,
            [
                "credentials",
                "events",
                "idempotency",
                "jobs",
                "session_features",
                "sessions"
            ]
        );
        // A second migrate is a no-op.
        migrate(&mut conn).unwrap();
        assert_eq!(read_version(&conn).unwrap(), 1);
    }

    #[test]
    fn foreign_application_id_is_refused_untouched() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "application_id", 7).unwrap();
        match migrate(&mut conn) {
            Err(StoreError::ForeignDatabase { found, expected }) => {
                assert_eq!((found, expected), (7, APPLICATION_ID));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(read_version(&conn).unwrap(), 0);
        let count: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 0);
    }

    #[test]
    fn negative_user_version_is_corrupt() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", -3).unwrap();
        match migrate(&mut conn) {
            Err(StoreError::Corrupt { column, detail }) => {
                assert_eq!(column, "PRAGMA user_version");
                assert_eq!(detail, "negative schema version -3");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn synchronous_pragma_values() {
        assert_eq!(Synchronous::Normal.pragma_value(), "NORMAL");
        assert_eq!(Synchronous::Full.pragma_value(), "FULL");
        assert_eq!(Synchronous::default(), Synchronous::Normal);
        let opts = StoreOptions::default();
        assert_eq!(opts.busy_timeout, Duration::from_secs(5));
        assert!(opts.create_if_missing);
    }
}
