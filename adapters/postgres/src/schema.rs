//! The versioned schema: numbered migrations recorded in a `schema_migrations` table and
//! applied at connect, under an advisory lock, in one transaction.

use arcp_store::StoreError;
use postgres::Client;

use crate::error::pg;

/// The schema version this build writes and reads (the highest `schema_migrations.version`).
pub const SCHEMA_VERSION: u32 = 2;

/// One numbered step of the schema.
pub(crate) struct Migration {
    /// The version the database is at once this step ran.
    pub(crate) version: u32,
    /// What it does, recorded in `schema_migrations.name`.
    pub(crate) name: &'static str,
    /// The statements.
    pub(crate) sql: &'static str,
}

/// Version 1. Text keys use the `C` collation, so listings and key comparisons are bytewise
/// whatever the database's locale (as in SQLite). Seqs and times are `BIGINT` (signed 64-bit:
/// the store refuses seqs above `i64::MAX` before they get here).
const V1: &str = r#"
CREATE TABLE events (
    session_id TEXT COLLATE "C" NOT NULL,
    event_seq  BIGINT NOT NULL CHECK (event_seq >= 0),
    job_id     TEXT COLLATE "C",
    frame      BYTEA NOT NULL,
    PRIMARY KEY (session_id, event_seq)
);

CREATE TABLE sessions (
    session_id        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    principal         TEXT NOT NULL,
    resume_token_hash TEXT NOT NULL,
    last_event_seq    BIGINT NOT NULL CHECK (last_event_seq >= 0),
    window_expires_at BIGINT,
    features          TEXT[] NOT NULL
);
CREATE INDEX sessions_by_window ON sessions (window_expires_at)
    WHERE window_expires_at IS NOT NULL;

CREATE TABLE jobs (
    job_id       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    session_id   TEXT COLLATE "C" NOT NULL,
    principal    TEXT NOT NULL,
    agent        TEXT NOT NULL,
    status       TEXT NOT NULL,
    submitted_at BIGINT NOT NULL,
    terminal     BOOLEAN NOT NULL,
    data         BYTEA NOT NULL
);

CREATE TABLE idempotency (
    principal   TEXT COLLATE "C" NOT NULL,
    key         TEXT COLLATE "C" NOT NULL,
    fingerprint TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    accepted    BYTEA NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);

CREATE TABLE credentials (
    credential_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    job_id        TEXT NOT NULL,
    data          BYTEA NOT NULL
);
"#;

/// Version 2: the cluster (several nodes sharing the database, `PostgresStore::join`). A
/// session's owner node and its claim count; the node a job runs on; the feed of forwarded
/// frames; each node's inbox (`cancel` of a job, `released` session); the live nodes. A store
/// that is not joined leaves the new columns NULL (the epoch 0) and the new tables empty.
const V2: &str = r#"
ALTER TABLE sessions
    ADD COLUMN owner_node  TEXT COLLATE "C",
    ADD COLUMN owner_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN node_id TEXT COLLATE "C";
CREATE INDEX jobs_unfinished_by_node ON jobs (node_id) WHERE NOT terminal;
CREATE INDEX jobs_by_session ON jobs (session_id);

CREATE TABLE feed (
    id         BIGSERIAL PRIMARY KEY,
    session_id TEXT COLLATE "C" NOT NULL,
    job_id     TEXT COLLATE "C" NOT NULL,
    frame      BYTEA NOT NULL
);
CREATE INDEX feed_by_session ON feed (session_id, id);

CREATE TABLE inbox (
    id      BIGSERIAL PRIMARY KEY,
    node_id TEXT COLLATE "C" NOT NULL,
    kind    TEXT NOT NULL CHECK (kind IN ('cancel', 'released')),
    subject TEXT COLLATE "C" NOT NULL
);
CREATE INDEX inbox_by_node ON inbox (node_id, id);

CREATE TABLE nodes (
    node_id      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL
);
"#;

/// Every step, in order; `MIGRATIONS[i].version == i + 1`.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "events, sessions, jobs, idempotency, credentials",
        sql: V1,
    },
    Migration {
        version: 2,
        name: "cluster: session owners, job nodes, feed, inbox, nodes",
        sql: V2,
    },
];

/// Whether `name` is a schema name this crate accepts: lowercase ASCII letters, digits and
/// `_`, not starting with a digit, at most 63 bytes (PostgreSQL's identifier limit).
pub(crate) fn valid_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && name.len() <= 63
}

/// Brings the schema `name` (created if missing when `create` is set) up to
/// [`SCHEMA_VERSION`], running `steps` above the recorded version. Nodes starting together
/// wait on one advisory lock per schema, so a step runs once.
pub(crate) fn migrate(
    client: &mut Client,
    name: &str,
    create: bool,
    steps: &[Migration],
) -> Result<u32, StoreError> {
    let mut tx = client.transaction().map_err(pg)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[&format!("arcp-store migrate {name}")],
    )
    .map_err(pg)?;
    if create {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{name}\""))
            .map_err(pg)?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER NOT NULL PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .map_err(pg)?;
    let found: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .and_then(|row| row.try_get(0))
        .map_err(pg)?;
    let found = u32::try_from(found).map_err(|_| StoreError::Corrupt {
        column: "schema_migrations.version",
        detail: format!("negative schema version {found}"),
    })?;
    let newest = steps.last().map_or(0, |m| m.version);
    if found > newest {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: newest,
        });
    }
    for step in steps.iter().filter(|m| m.version > found) {
        tx.batch_execute(step.sql).map_err(pg)?;
        let version = i32::try_from(step.version).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&version, &step.name],
        )
        .map_err(pg)?;
    }
    tx.commit().map_err(pg)?;
    Ok(newest.max(found))
}

/// The recorded schema version.
pub(crate) fn read_version(client: &mut Client) -> Result<u32, StoreError> {
    let v: i32 = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .and_then(|row| row.try_get(0))
        .map_err(pg)?;
    Ok(u32::try_from(v).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_from_one_up_to_the_version() {
        let versions: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    }

    #[test]
    fn schema_names() {
        for ok in ["arcp", "_x", "arcp_suite_12_3", &"a".repeat(63)] {
            assert!(valid_schema_name(ok), "{ok}");
        }
        for bad in ["", "9a", "Arcp", "a-b", "a\"b", "a b", &"a".repeat(64), "é"] {
            assert!(!valid_schema_name(bad), "{bad}");
        }
    }
}
