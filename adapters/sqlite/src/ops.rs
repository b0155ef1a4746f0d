//! The SQL behind every operation. Mutations take a `&Connection` that is always a
//! transaction opened by the caller ([`SqliteStore`](crate::SqliteStore)), so any mix of them
//! commits or rolls back as one.

use rusqlite::{Connection, OptionalExtension, Row, ffi, params};

use crate::error::{StoreError, seq_from_sql, seq_to_sql};
use arcp_store::{
    CredentialRecord, IdempotencyRecord, JobRecord, SessionRecord, StoreOp, StoredEvent,
};

/// Runs one [`StoreOp`]; its count (rows or sessions removed) is dropped.
pub(crate) fn apply_op(conn: &Connection, op: &StoreOp) -> Result<(), StoreError> {
    match op {
        StoreOp::AppendEvents(batch) => append_events(conn, batch),
        StoreOp::PruneAcked {
            session_id,
            up_to_seq,
        } => prune_acked(conn, session_id, *up_to_seq).map(drop),
        StoreOp::PutSession(rec) => put_session(conn, rec),
        StoreOp::DeleteSession(session_id) => delete_session(conn, session_id).map(drop),
        StoreOp::PruneExpiredSessions { now_unix_micros } => {
            prune_expired_sessions(conn, *now_unix_micros).map(drop)
        }
        StoreOp::PutJob(rec) => put_job(conn, rec),
        StoreOp::DeleteJob(job_id) => delete_job(conn, job_id).map(drop),
        StoreOp::PutIdempotency(rec) => put_idempotency(conn, rec),
        StoreOp::DeleteIdempotency { principal, key } => {
            delete_idempotency(conn, principal, key).map(drop)
        }
        StoreOp::PruneExpiredIdempotency { now_unix_micros } => {
            prune_expired_idempotency(conn, *now_unix_micros).map(drop)
        }
        StoreOp::PutCredential(rec) => put_credential(conn, rec),
        StoreOp::DeleteCredential(id) => delete_credential(conn, id).map(drop),
        StoreOp::Forward(_) | StoreOp::ForwardCancel { .. } | StoreOp::ConsumeFeed(_) => {
            Err(StoreError::Unsupported {
                operation: op.cluster_only().unwrap_or("cluster operation"),
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Events

/// Rows per multi-row insert of [`append_events`], largest first: one statement execution
/// (its start, its statement journal, its halt) per chunk instead of per event.
const APPEND_CHUNKS: [usize; 2] = [64, 8];

/// `INSERT … VALUES (?,?,?,?), …` for `APPEND_CHUNKS[i]` rows.
fn append_chunk_sql(i: usize) -> &'static str {
    static SQL: [std::sync::OnceLock<String>; APPEND_CHUNKS.len()] =
        [const { std::sync::OnceLock::new() }; APPEND_CHUNKS.len()];
    SQL[i].get_or_init(|| {
        let values = vec!["(?, ?, ?, ?)"; APPEND_CHUNKS[i]].join(", ");
        format!("INSERT INTO events (session_id, event_seq, job_id, frame) VALUES {values}")
    })
}

/// Appends `batch` in order: chunks of [`APPEND_CHUNKS`] rows as one multi-row insert each,
/// the rest one by one. A chunk that hits an existing `(session_id, event_seq)` is backed out
/// by SQLite (statement abort) and replayed row by row, so the error names the first
/// duplicate in batch order, as inserting one by one would.
pub(crate) fn append_events(conn: &Connection, batch: &[StoredEvent]) -> Result<(), StoreError> {
    let mut rest = batch;
    for i in 0..APPEND_CHUNKS.len() {
        rest = append_chunks(conn, rest, i)?;
    }
    append_one_by_one(conn, rest)
}

/// Appends the whole chunks of `APPEND_CHUNKS[i]` events of `batch`; returns what is left.
fn append_chunks<'a>(
    conn: &Connection,
    batch: &'a [StoredEvent],
    i: usize,
) -> Result<&'a [StoredEvent], StoreError> {
    let mut chunks = batch.chunks_exact(APPEND_CHUNKS[i]);
    if chunks.len() == 0 {
        return Ok(batch);
    }
    let mut stmt = conn.prepare_cached(append_chunk_sql(i))?;
    for chunk in &mut chunks {
        if chunk.iter().any(|e| seq_to_sql(e.event_seq).is_err()) {
            // The error the row-by-row insert reports (a duplicate before it first).
            append_one_by_one(conn, chunk)?;
            continue;
        }
        let mut p = 0;
        for event in chunk {
            let seq = seq_to_sql(event.event_seq)?;
            stmt.raw_bind_parameter(p + 1, &event.session_id)?;
            stmt.raw_bind_parameter(p + 2, seq)?;
            stmt.raw_bind_parameter(p + 3, &event.job_id)?;
            stmt.raw_bind_parameter(p + 4, &event.frame)?;
            p += 4;
        }
        match stmt.raw_execute() {
            Ok(_) => {}
            Err(err) if is_primary_key_violation(&err) => append_one_by_one(conn, chunk)?,
            Err(err) => return Err(err.into()),
        }
    }
    Ok(chunks.remainder())
}

fn append_one_by_one(conn: &Connection, batch: &[StoredEvent]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO events (session_id, event_seq, job_id, frame) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for event in batch {
        let seq = seq_to_sql(event.event_seq)?;
        let inserted = stmt.execute(params![event.session_id, seq, event.job_id, event.frame]);
        if let Err(err) = inserted {
            if is_primary_key_violation(&err) {
                return Err(StoreError::DuplicateEvent {
                    session_id: event.session_id.clone(),
                    event_seq: event.event_seq,
                });
            }
            return Err(err.into());
        }
    }
    Ok(())
}

fn is_primary_key_violation(err: &rusqlite::Error) -> bool {
    err.sqlite_extended_error_code() == Some(ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

pub(crate) fn read_events(
    conn: &Connection,
    session_id: &str,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let after = seq_to_sql(after_seq)?;
    if limit == 0 {
        return Ok(Vec::new());
    }
    // A limit beyond i64::MAX cannot be reached anyway.
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(
        "SELECT session_id, event_seq, job_id, frame FROM events
         WHERE session_id = ?1 AND event_seq > ?2 ORDER BY event_seq LIMIT ?3",
    )?;
    let mut rows = stmt.query(params![session_id, after, limit])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(event_from_row(row)?);
    }
    Ok(out)
}

pub(crate) fn read_job_events(
    conn: &Connection,
    session_id: &str,
    job_id: &str,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let after = seq_to_sql(after_seq)?;
    if limit == 0 {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // A range scan of the session's primary-key span, filtered by job: no extra index to
    // maintain on every append.
    let mut stmt = conn.prepare_cached(
        "SELECT session_id, event_seq, job_id, frame FROM events
         WHERE session_id = ?1 AND event_seq > ?2 AND job_id = ?3
         ORDER BY event_seq LIMIT ?4",
    )?;
    let mut rows = stmt.query(params![session_id, after, job_id, limit])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(event_from_row(row)?);
    }
    Ok(out)
}

fn event_from_row(row: &Row<'_>) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        session_id: row.get(0)?,
        event_seq: seq_from_sql(row.get(1)?, "events.event_seq")?,
        job_id: row.get(2)?,
        frame: row.get(3)?,
    })
}

pub(crate) fn last_event_seq(
    conn: &Connection,
    session_id: &str,
) -> Result<Option<u64>, StoreError> {
    let max: Option<i64> = conn
        .prepare_cached("SELECT max(event_seq) FROM events WHERE session_id = ?1")?
        .query_row(params![session_id], |row| row.get(0))?;
    max.map(|v| seq_from_sql(v, "events.event_seq")).transpose()
}

pub(crate) fn prune_acked(
    conn: &Connection,
    session_id: &str,
    up_to_seq: u64,
) -> Result<usize, StoreError> {
    let up_to = seq_to_sql(up_to_seq)?;
    Ok(conn
        .prepare_cached("DELETE FROM events WHERE session_id = ?1 AND event_seq <= ?2")?
        .execute(params![session_id, up_to])?)
}

// ---------------------------------------------------------------------------------------------
// Sessions

pub(crate) fn put_session(conn: &Connection, rec: &SessionRecord) -> Result<(), StoreError> {
    let last = seq_to_sql(rec.last_event_seq)?;
    conn.prepare_cached(
        "INSERT INTO sessions (session_id, principal, resume_token_hash, last_event_seq,
                               window_expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (session_id) DO UPDATE SET
             principal = excluded.principal,
             resume_token_hash = excluded.resume_token_hash,
             last_event_seq = excluded.last_event_seq,
             window_expires_at = excluded.window_expires_at",
    )?
    .execute(params![
        rec.session_id,
        rec.principal,
        rec.resume_token_hash,
        last,
        rec.window_expires_at
    ])?;
    conn.prepare_cached("DELETE FROM session_features WHERE session_id = ?1")?
        .execute(params![rec.session_id])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO session_features (session_id, position, feature) VALUES (?1, ?2, ?3)",
    )?;
    for (position, feature) in (0_i64..).zip(&rec.features) {
        insert.execute(params![rec.session_id, position, feature])?;
    }
    Ok(())
}

/// Session records (all of them, or the one with `only`'s id), features included.
fn load_sessions(conn: &Connection, only: Option<&str>) -> Result<Vec<SessionRecord>, StoreError> {
    // Two statements: read them from one snapshot so a concurrent writer on another connection
    // cannot pair a session with another version's features.
    let snapshot = conn.unchecked_transaction()?;
    let mut stmt = snapshot.prepare_cached(
        "SELECT session_id, principal, resume_token_hash, last_event_seq, window_expires_at
         FROM sessions WHERE ?1 IS NULL OR session_id = ?1 ORDER BY session_id",
    )?;
    let mut rows = stmt.query(params![only])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(SessionRecord {
            session_id: row.get(0)?,
            principal: row.get(1)?,
            resume_token_hash: row.get(2)?,
            last_event_seq: seq_from_sql(row.get(3)?, "sessions.last_event_seq")?,
            window_expires_at: row.get(4)?,
            features: Vec::new(),
        });
    }
    drop(rows);
    let mut features = snapshot.prepare_cached(
        "SELECT feature FROM session_features WHERE session_id = ?1 ORDER BY position",
    )?;
    for rec in &mut out {
        let mut rows = features.query(params![rec.session_id])?;
        while let Some(row) = rows.next()? {
            rec.features.push(row.get(0)?);
        }
    }
    Ok(out)
}

pub(crate) fn sessions(conn: &Connection) -> Result<Vec<SessionRecord>, StoreError> {
    load_sessions(conn, None)
}

pub(crate) fn session(
    conn: &Connection,
    session_id: &str,
) -> Result<Option<SessionRecord>, StoreError> {
    Ok(load_sessions(conn, Some(session_id))?.pop())
}

pub(crate) fn delete_session(conn: &Connection, session_id: &str) -> Result<usize, StoreError> {
    conn.prepare_cached("DELETE FROM events WHERE session_id = ?1")?
        .execute(params![session_id])?;
    conn.prepare_cached("DELETE FROM session_features WHERE session_id = ?1")?
        .execute(params![session_id])?;
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE session_id = ?1")?
        .execute(params![session_id])?)
}

pub(crate) fn prune_expired_sessions(
    conn: &Connection,
    now_unix_micros: i64,
) -> Result<usize, StoreError> {
    const EXPIRED: &str = "SELECT session_id FROM sessions
         WHERE window_expires_at IS NOT NULL AND window_expires_at <= ?1";
    conn.prepare_cached(&format!(
        "DELETE FROM events WHERE session_id IN ({EXPIRED})"
    ))?
    .execute(params![now_unix_micros])?;
    conn.prepare_cached(&format!(
        "DELETE FROM session_features WHERE session_id IN ({EXPIRED})"
    ))?
    .execute(params![now_unix_micros])?;
    Ok(conn
        .prepare_cached(
            "DELETE FROM sessions WHERE window_expires_at IS NOT NULL AND window_expires_at <= ?1",
        )?
        .execute(params![now_unix_micros])?)
}

// ---------------------------------------------------------------------------------------------
// Jobs

pub(crate) fn put_job(conn: &Connection, rec: &JobRecord) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO jobs (job_id, session_id, principal, agent, status, submitted_at, terminal,
                           data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (job_id) DO UPDATE SET
             session_id = excluded.session_id,
             principal = excluded.principal,
             agent = excluded.agent,
             status = excluded.status,
             submitted_at = excluded.submitted_at,
             terminal = excluded.terminal,
             data = excluded.data",
    )?
    .execute(params![
        rec.job_id,
        rec.session_id,
        rec.principal,
        rec.agent,
        rec.status,
        rec.submitted_at,
        i64::from(rec.terminal),
        rec.data
    ])?;
    Ok(())
}

const JOB_COLUMNS: &str =
    "job_id, session_id, principal, agent, status, submitted_at, terminal, data";

fn job_from_row(row: &Row<'_>) -> Result<JobRecord, StoreError> {
    let terminal: i64 = row.get(6)?;
    let terminal = match terminal {
        0 => false,
        1 => true,
        other => {
            return Err(StoreError::Corrupt {
                column: "jobs.terminal",
                detail: format!("expected 0 or 1, found {other}"),
            });
        }
    };
    Ok(JobRecord {
        job_id: row.get(0)?,
        session_id: row.get(1)?,
        principal: row.get(2)?,
        agent: row.get(3)?,
        status: row.get(4)?,
        submitted_at: row.get(5)?,
        terminal,
        data: row.get(7)?,
    })
}

pub(crate) fn jobs(conn: &Connection) -> Result<Vec<JobRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs ORDER BY submitted_at, job_id"
    ))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(job_from_row(row)?);
    }
    Ok(out)
}

pub(crate) fn job(conn: &Connection, job_id: &str) -> Result<Option<JobRecord>, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?1"))?;
    let mut rows = stmt.query(params![job_id])?;
    match rows.next()? {
        Some(row) => Ok(Some(job_from_row(row)?)),
        None => Ok(None),
    }
}

pub(crate) fn delete_job(conn: &Connection, job_id: &str) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM jobs WHERE job_id = ?1")?
        .execute(params![job_id])?)
}

// ---------------------------------------------------------------------------------------------
// Idempotency

pub(crate) fn put_idempotency(
    conn: &Connection,
    rec: &IdempotencyRecord,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO idempotency (principal, key, fingerprint, job_id, accepted, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (principal, key) DO UPDATE SET
             fingerprint = excluded.fingerprint,
             job_id = excluded.job_id,
             accepted = excluded.accepted,
             expires_at = excluded.expires_at",
    )?
    .execute(params![
        rec.principal,
        rec.key,
        rec.fingerprint,
        rec.job_id,
        rec.accepted,
        rec.expires_at
    ])?;
    Ok(())
}

const IDEMPOTENCY_COLUMNS: &str = "principal, key, fingerprint, job_id, accepted, expires_at";

fn idempotency_from_row(row: &Row<'_>) -> rusqlite::Result<IdempotencyRecord> {
    Ok(IdempotencyRecord {
        principal: row.get(0)?,
        key: row.get(1)?,
        fingerprint: row.get(2)?,
        job_id: row.get(3)?,
        accepted: row.get(4)?,
        expires_at: row.get(5)?,
    })
}

pub(crate) fn idempotency(
    conn: &Connection,
    principal: &str,
    key: &str,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {IDEMPOTENCY_COLUMNS} FROM idempotency WHERE principal = ?1 AND key = ?2"
        ))?
        .query_row(params![principal, key], idempotency_from_row)
        .optional()?)
}

pub(crate) fn idempotency_records(conn: &Connection) -> Result<Vec<IdempotencyRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {IDEMPOTENCY_COLUMNS} FROM idempotency ORDER BY principal, key"
    ))?;
    let rows = stmt.query_map([], idempotency_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn delete_idempotency(
    conn: &Connection,
    principal: &str,
    key: &str,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM idempotency WHERE principal = ?1 AND key = ?2")?
        .execute(params![principal, key])?)
}

pub(crate) fn prune_expired_idempotency(
    conn: &Connection,
    now_unix_micros: i64,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM idempotency WHERE expires_at <= ?1")?
        .execute(params![now_unix_micros])?)
}

// ---------------------------------------------------------------------------------------------
// Credentials

pub(crate) fn put_credential(conn: &Connection, rec: &CredentialRecord) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO credentials (credential_id, job_id, data) VALUES (?1, ?2, ?3)
         ON CONFLICT (credential_id) DO UPDATE SET job_id = excluded.job_id, data = excluded.data",
    )?
    .execute(params![rec.credential_id, rec.job_id, rec.data])?;
    Ok(())
}

pub(crate) fn delete_credential(
    conn: &Connection,
    credential_id: &str,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM credentials WHERE credential_id = ?1")?
        .execute(params![credential_id])?)
}

pub(crate) fn outstanding_credentials(
    conn: &Connection,
) -> Result<Vec<CredentialRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT credential_id, job_id, data FROM credentials ORDER BY credential_id",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(CredentialRecord {
            credential_id: row.get(0)?,
            job_id: row.get(1)?,
            data: row.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
