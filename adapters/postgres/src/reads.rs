//! The SQL behind the reads: the log for resume and subscribe, the records for a restart.

use arcp_store::{
    CredentialRecord, IdempotencyRecord, JobRecord, SessionRecord, StoreError, StoredEvent,
    limit_to_sql, seq_from_sql, seq_to_sql,
};
use postgres::{GenericClient, Row};

use crate::error::pg;
use crate::ops::Prepared;

pub(crate) fn query(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    sql: &'static str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let stmt = st.get(c, sql)?;
    c.query(&stmt, params).map_err(pg)
}

fn event_from_row(row: &Row) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        session_id: row.try_get(0).map_err(pg)?,
        event_seq: seq_from_sql(row.try_get(1).map_err(pg)?, "events.event_seq")?,
        job_id: row.try_get(2).map_err(pg)?,
        frame: row.try_get(3).map_err(pg)?,
    })
}

pub(crate) fn read_events(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    session_id: &str,
    job_id: Option<&str>,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let after = seq_to_sql(after_seq)?;
    if limit == 0 {
        return Ok(Vec::new());
    }
    let limit = limit_to_sql(limit);
    let rows = match job_id {
        None => query(
            c,
            st,
            "SELECT session_id, event_seq, job_id, frame FROM events
             WHERE session_id = $1 AND event_seq > $2 ORDER BY event_seq LIMIT $3",
            &[&session_id, &after, &limit],
        )?,
        Some(job) => query(
            c,
            st,
            "SELECT session_id, event_seq, job_id, frame FROM events
             WHERE session_id = $1 AND event_seq > $2 AND job_id = $3
             ORDER BY event_seq LIMIT $4",
            &[&session_id, &after, &job, &limit],
        )?,
    };
    rows.iter().map(event_from_row).collect()
}

pub(crate) fn last_event_seq(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    session_id: &str,
) -> Result<Option<u64>, StoreError> {
    let rows = query(
        c,
        st,
        "SELECT max(event_seq) FROM events WHERE session_id = $1",
        &[&session_id],
    )?;
    let max: Option<i64> = match rows.first() {
        Some(row) => row.try_get(0).map_err(pg)?,
        None => None,
    };
    max.map(|v| seq_from_sql(v, "events.event_seq")).transpose()
}

pub(crate) fn session_from_row(row: &Row) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        session_id: row.try_get(0).map_err(pg)?,
        principal: row.try_get(1).map_err(pg)?,
        resume_token_hash: row.try_get(2).map_err(pg)?,
        last_event_seq: seq_from_sql(row.try_get(3).map_err(pg)?, "sessions.last_event_seq")?,
        window_expires_at: row.try_get(4).map_err(pg)?,
        features: row.try_get(5).map_err(pg)?,
    })
}

pub(crate) fn sessions(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    only: Option<&str>,
) -> Result<Vec<SessionRecord>, StoreError> {
    let rows = match only {
        None => query(
            c,
            st,
            "SELECT session_id, principal, resume_token_hash, last_event_seq, window_expires_at,
                    features
             FROM sessions ORDER BY session_id",
            &[],
        )?,
        Some(id) => query(
            c,
            st,
            "SELECT session_id, principal, resume_token_hash, last_event_seq, window_expires_at,
                    features
             FROM sessions WHERE session_id = $1",
            &[&id],
        )?,
    };
    rows.iter().map(session_from_row).collect()
}

pub(crate) fn job_from_row(row: &Row) -> Result<JobRecord, StoreError> {
    Ok(JobRecord {
        job_id: row.try_get(0).map_err(pg)?,
        session_id: row.try_get(1).map_err(pg)?,
        principal: row.try_get(2).map_err(pg)?,
        agent: row.try_get(3).map_err(pg)?,
        status: row.try_get(4).map_err(pg)?,
        submitted_at: row.try_get(5).map_err(pg)?,
        terminal: row.try_get(6).map_err(pg)?,
        data: row.try_get(7).map_err(pg)?,
    })
}

pub(crate) fn jobs(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    only: Option<&str>,
) -> Result<Vec<JobRecord>, StoreError> {
    let rows = match only {
        None => query(
            c,
            st,
            "SELECT job_id, session_id, principal, agent, status, submitted_at, terminal, data
             FROM jobs ORDER BY submitted_at, job_id",
            &[],
        )?,
        Some(id) => query(
            c,
            st,
            "SELECT job_id, session_id, principal, agent, status, submitted_at, terminal, data
             FROM jobs WHERE job_id = $1",
            &[&id],
        )?,
    };
    rows.iter().map(job_from_row).collect()
}

fn idempotency_from_row(row: &Row) -> Result<IdempotencyRecord, StoreError> {
    Ok(IdempotencyRecord {
        principal: row.try_get(0).map_err(pg)?,
        key: row.try_get(1).map_err(pg)?,
        fingerprint: row.try_get(2).map_err(pg)?,
        job_id: row.try_get(3).map_err(pg)?,
        accepted: row.try_get(4).map_err(pg)?,
        expires_at: row.try_get(5).map_err(pg)?,
    })
}

pub(crate) fn idempotency(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    only: Option<(&str, &str)>,
) -> Result<Vec<IdempotencyRecord>, StoreError> {
    let rows = match only {
        None => query(
            c,
            st,
            "SELECT principal, key, fingerprint, job_id, accepted, expires_at FROM idempotency
             ORDER BY principal, key",
            &[],
        )?,
        Some((principal, key)) => query(
            c,
            st,
            "SELECT principal, key, fingerprint, job_id, accepted, expires_at FROM idempotency
             WHERE principal = $1 AND key = $2",
            &[&principal, &key],
        )?,
    };
    rows.iter().map(idempotency_from_row).collect()
}

pub(crate) fn credentials(
    c: &mut impl GenericClient,
    st: &mut Prepared,
) -> Result<Vec<CredentialRecord>, StoreError> {
    let rows = query(
        c,
        st,
        "SELECT credential_id, job_id, data FROM credentials ORDER BY credential_id",
        &[],
    )?;
    rows.iter().map(credential_from_row).collect()
}

/// A credential from `(credential_id, job_id, data)`.
pub(crate) fn credential_from_row(row: &Row) -> Result<CredentialRecord, StoreError> {
    Ok(CredentialRecord {
        credential_id: row.try_get(0).map_err(pg)?,
        job_id: row.try_get(1).map_err(pg)?,
        data: row.try_get(2).map_err(pg)?,
    })
}
