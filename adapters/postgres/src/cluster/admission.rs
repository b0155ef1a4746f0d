//! Cluster-wide admission: one idempotency key space and one cap of unfinished jobs (and of
//! attached sessions) per principal across every node sharing the database.
//!
//! An admission of a job runs in one transaction under a transaction-scoped advisory lock
//! keyed on (schema, principal), so two nodes admitting for the same principal take turns;
//! the winner leaves a placeholder job row (and its idempotency entry) behind before it
//! commits, so the next one counts it (and finds the key taken). "Now" for an idempotency
//! entry's expiry and "live" for a node are the server's: one clock for every node.

use arcp_store::cluster::StoreAdmission;
use arcp_store::{IdempotencyRecord, StoreError, limit_to_sql};
use postgres::{Client, GenericClient};

use super::Node;
use crate::error::pg;
use crate::ops::{self, Prepared, exec};

/// The server's clock in Unix micros (the unit of `expires_at` and `submitted_at`), as SQL.
macro_rules! now_micros {
    () => {
        "(extract(epoch FROM clock_timestamp()) * 1000000)::int8"
    };
}

/// Takes the admission lock of `principal` in `node`'s schema until the transaction ends.
fn lock_principal(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    node: &Node,
    principal: &str,
) -> Result<(), StoreError> {
    // The two-key form: a space of its own, apart from the migration's one-key lock.
    let stmt = st.get(
        c,
        "SELECT pg_advisory_xact_lock(hashtext('arcp admit ' || $1), hashtext($2))",
    )?;
    c.query(&stmt, &[&node.schema, &principal])
        .map_err(pg)
        .map(drop)
}

/// The unexpired idempotency entry for `(principal, key)`: its fingerprint and job.
fn taken_key(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    rec: &IdempotencyRecord,
) -> Result<Option<(String, String)>, StoreError> {
    let stmt = st.get(
        c,
        concat!(
            "SELECT fingerprint, job_id FROM idempotency
             WHERE principal = $1 AND key = $2 AND expires_at > ",
            now_micros!()
        ),
    )?;
    let rows = c.query(&stmt, &[&rec.principal, &rec.key]).map_err(pg)?;
    match rows.first() {
        Some(row) => Ok(Some((
            row.try_get(0).map_err(pg)?,
            row.try_get(1).map_err(pg)?,
        ))),
        None => Ok(None),
    }
}

/// Whether `principal` has at least `max` unfinished jobs on live nodes (or on no node: a
/// store that was not joined wrote them).
fn at_job_limit(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    principal: &str,
    max: usize,
) -> Result<bool, StoreError> {
    let stmt = st.get(
        c,
        "SELECT count(*) FROM jobs
         WHERE principal = $1 AND NOT terminal
           AND (node_id IS NULL OR node_id IN (SELECT node_id FROM nodes))",
    )?;
    let n: i64 = c
        .query_one(&stmt, &[&principal])
        .and_then(|row| row.try_get(0))
        .map_err(pg)?;
    Ok(n >= limit_to_sql(max))
}

/// The arguments of [`Store::admit_job`](arcp_store::Store::admit_job).
pub(crate) struct JobRequest<'a> {
    pub(crate) principal: &'a str,
    pub(crate) session_id: &'a str,
    pub(crate) job_id: &'a str,
    pub(crate) max_unfinished: usize,
    pub(crate) idempotency: Option<&'a IdempotencyRecord>,
}

/// [`Store::admit_job`](arcp_store::Store::admit_job) of a joined store.
pub(crate) fn admit_job(
    c: &mut Client,
    st: &mut Prepared,
    node: &Node,
    req: &JobRequest<'_>,
) -> Result<StoreAdmission, StoreError> {
    let JobRequest {
        principal,
        session_id,
        job_id,
        max_unfinished,
        idempotency,
    } = *req;
    let mut tx = c.transaction().map_err(pg)?;
    lock_principal(&mut tx, st, node, principal)?;
    if let Some(rec) = idempotency
        && let Some((fingerprint, job_id)) = taken_key(&mut tx, st, rec)?
    {
        // Nothing written: dropping the transaction rolls it back (and frees the lock).
        return Ok(StoreAdmission::Duplicate {
            fingerprint,
            job_id,
        });
    }
    if at_job_limit(&mut tx, st, principal, max_unfinished)? {
        return Ok(StoreAdmission::OverLimit);
    }
    if let Some(rec) = idempotency {
        ops::put_idempotency(&mut tx, st, rec)?;
    }
    // The placeholder: an existing record of the same id is left alone.
    exec(
        &mut tx,
        st,
        concat!(
            "INSERT INTO jobs (job_id, session_id, principal, agent, status, submitted_at,
                               terminal, data, node_id)
             VALUES ($1, $2, $3, '', 'pending', ",
            now_micros!(),
            ", false, '\\x7b7d'::bytea, $4)
             ON CONFLICT (job_id) DO NOTHING"
        ),
        &[&job_id, &session_id, &principal, &node.id],
    )?;
    tx.commit().map_err(pg)?;
    Ok(StoreAdmission::Admitted)
}

/// [`Store::admit_session`](arcp_store::Store::admit_session) of a joined store.
pub(crate) fn admit_session(
    c: &mut Client,
    st: &mut Prepared,
    principal: &str,
    session_id: &str,
    max_live: usize,
) -> Result<bool, StoreError> {
    let stmt = st.get(
        c,
        "SELECT count(*) FROM sessions
         WHERE principal = $1 AND session_id <> $2 AND window_expires_at IS NULL
           AND owner_node IN (SELECT node_id FROM nodes)",
    )?;
    let n: i64 = c
        .query_one(&stmt, &[&principal, &session_id])
        .and_then(|row| row.try_get(0))
        .map_err(pg)?;
    Ok(n < limit_to_sql(max_live))
}
