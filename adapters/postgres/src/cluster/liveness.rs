//! The `nodes` rows: a node's liveness refresh (the server's clock decides, never the
//! node's), the reap of a dead node (one transaction, exactly one winner) and a clean leave.

use std::time::Duration;

use arcp_store::{CredentialRecord, JobRecord, StoreError};
use postgres::{Client, GenericClient, Transaction};

use crate::error::pg;
use crate::reads;

/// What the winner of a reap takes over from the dead node.
#[derive(Debug)]
pub(crate) struct Lost {
    /// The dead node.
    pub(crate) node_id: String,
    /// Its unfinished jobs.
    pub(crate) jobs: Vec<JobRecord>,
    /// The outstanding credentials of its jobs.
    pub(crate) credentials: Vec<CredentialRecord>,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Bounds every statement of `tx` (a refresh that hangs is a failed refresh).
fn bound(tx: &mut Transaction<'_>, limit: Duration) -> Result<(), StoreError> {
    let ms = millis(limit).max(1);
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms}"
    ))
    .map_err(pg)
}

/// Writes (or rewrites) `node_id`'s row as just started.
pub(crate) fn register(c: &mut Client, node_id: &str) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO nodes (node_id, heartbeat_at, started_at) VALUES ($1, now(), now())
         ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = now(), started_at = now()",
        &[&node_id],
    )
    .map_err(pg)
    .map(drop)
}

/// Refreshes `node_id`'s heartbeat, every statement bounded by `limit`; `false`: the row is
/// gone (another node reaped this one).
pub(crate) fn refresh(c: &mut Client, node_id: &str, limit: Duration) -> Result<bool, StoreError> {
    let mut tx = c.transaction().map_err(pg)?;
    bound(&mut tx, limit)?;
    let n = tx
        .execute(
            "UPDATE nodes SET heartbeat_at = now() WHERE node_id = $1",
            &[&node_id],
        )
        .map_err(pg)?;
    tx.commit().map_err(pg)?;
    Ok(n == 1)
}

/// Reaps every other node whose heartbeat is older than `timeout` (by the server's clock):
/// its row is deleted in the same transaction that reads its unfinished jobs and
/// credentials, rows another reaper holds are skipped, so each dead node has exactly one
/// winner.
pub(crate) fn reap(
    c: &mut Client,
    me: &str,
    timeout: Duration,
    limit: Duration,
) -> Result<Vec<Lost>, StoreError> {
    let mut tx = c.transaction().map_err(pg)?;
    bound(&mut tx, limit)?;
    let rows = tx
        .query(
            "DELETE FROM nodes WHERE node_id IN (
                 SELECT node_id FROM nodes
                 WHERE heartbeat_at < now() - $2::int8 * interval '1 millisecond'
                   AND node_id <> $1
                 FOR UPDATE SKIP LOCKED
             )
             RETURNING node_id",
            &[&me, &millis(timeout)],
        )
        .map_err(pg)?;
    let mut dead: Vec<String> = rows
        .iter()
        .map(|r| r.try_get(0).map_err(pg))
        .collect::<Result<_, _>>()?;
    dead.sort();
    let mut lost = Vec::with_capacity(dead.len());
    for node_id in dead {
        lost.push(take_over(&mut tx, node_id)?);
    }
    tx.commit().map_err(pg)?;
    Ok(lost)
}

/// Reaps this node itself, back from an isolation nobody reaped it for: `Some` if its row
/// was still there (deleted now: no other node will reap it), `None` if another node already
/// did.
pub(crate) fn reap_self(
    c: &mut Client,
    me: &str,
    limit: Duration,
) -> Result<Option<Lost>, StoreError> {
    let mut tx = c.transaction().map_err(pg)?;
    bound(&mut tx, limit)?;
    let gone = tx
        .execute("DELETE FROM nodes WHERE node_id = $1", &[&me])
        .map_err(pg)?;
    let lost = if gone == 0 {
        None
    } else {
        Some(take_over(&mut tx, me.to_owned())?)
    };
    tx.commit().map_err(pg)?;
    Ok(lost)
}

/// The dead node's unfinished jobs and the outstanding credentials of its jobs.
fn take_over(c: &mut impl GenericClient, node_id: String) -> Result<Lost, StoreError> {
    let jobs = c
        .query(
            "SELECT job_id, session_id, principal, agent, status, submitted_at, terminal, data
             FROM jobs WHERE node_id = $1 AND NOT terminal ORDER BY submitted_at, job_id",
            &[&node_id],
        )
        .map_err(pg)?
        .iter()
        .map(reads::job_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let credentials = c
        .query(
            "SELECT c.credential_id, c.job_id, c.data FROM credentials c
             JOIN jobs j ON j.job_id = c.job_id COLLATE \"C\"
             WHERE j.node_id = $1 ORDER BY c.credential_id COLLATE \"C\"",
            &[&node_id],
        )
        .map_err(pg)?
        .iter()
        .map(reads::credential_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Lost {
        node_id,
        jobs,
        credentials,
    })
}

/// Deletes `node_id`'s row: a clean exit, not a death.
pub(crate) fn leave(c: &mut Client, node_id: &str) -> Result<(), StoreError> {
    c.execute("DELETE FROM nodes WHERE node_id = $1", &[&node_id])
        .map_err(pg)
        .map(drop)
}
