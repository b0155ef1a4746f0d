//! A joined store's writes: the session's owner node stamps it, fenced by a row lock on the
//! session row (taken by an append as by a claim), so an append and a claim of the same
//! session never interleave.
//!
//! The append locks the rows `FOR NO KEY UPDATE`, not `FOR SHARE`: a batch appending to a
//! session and upserting its record upgrades its lock, and two such batches of two nodes
//! holding the row shared would deadlock (the test
//! `concurrent_owner_and_non_owner_batches_do_not_deadlock` reproduces it with `FOR SHARE`).

use std::collections::HashSet;

use arcp_store::cluster::{Claimed, ForwardedFrame};
use arcp_store::{JobRecord, SessionRecord, StoreError, StoredEvent, limit_to_sql, seq_to_sql};
use postgres::{Client, GenericClient};

use super::{INBOX_CHANNEL, Node, feed};
use crate::error::pg;
use crate::ops::{self, Prepared, exec};
use crate::reads;

/// Appends `batch` to the sessions this node owns (or that nobody owns yet); the frames of
/// a session another node owns become feed rows for that owner (without `event_seq`; frames
/// without a job, or that are not a JSON object, are dropped). The session rows stay locked
/// until the transaction ends, so a claim waits for it (and then sees the appended events) or
/// went first (and the frames are forwarded).
pub(crate) fn append_events(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    node: &Node,
    batch: &[StoredEvent],
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<&str> = batch.iter().map(|e| e.session_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let stmt = st.get(
        c,
        "SELECT session_id, owner_node FROM sessions WHERE session_id = ANY($1::text[])
         ORDER BY session_id FOR NO KEY UPDATE",
    )?;
    let rows = c.query(&stmt, &[&ids]).map_err(pg)?;
    let mut foreign = HashSet::new();
    for row in &rows {
        let owner: Option<String> = row.try_get(1).map_err(pg)?;
        if owner.is_some_and(|o| o != node.id) {
            foreign.insert(row.try_get::<_, String>(0).map_err(pg)?);
        }
    }
    if foreign.is_empty() {
        return ops::append_events(c, st, batch);
    }
    let (theirs, mine): (Vec<&StoredEvent>, Vec<&StoredEvent>) =
        batch.iter().partition(|e| foreign.contains(&e.session_id));
    if !mine.is_empty() {
        let mine: Vec<StoredEvent> = mine.into_iter().cloned().collect();
        ops::append_events(c, st, &mine)?;
    }
    let forwarded: Vec<ForwardedFrame> = theirs
        .into_iter()
        .filter_map(|e| {
            Some(ForwardedFrame {
                session_id: e.session_id.clone(),
                job_id: e.job_id.clone()?,
                frame: feed::without_seq(&e.frame)?,
            })
        })
        .collect();
    feed::forward(c, st, node, &forwarded)
}

/// Inserts the record owned by this node (epoch 1), or updates it where this node owns it or
/// nobody does (taking it then); a session another node owns is left as it is.
pub(crate) fn put_session(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    node: &Node,
    rec: &SessionRecord,
) -> Result<(), StoreError> {
    let last = seq_to_sql(rec.last_event_seq)?;
    exec(
        c,
        st,
        "INSERT INTO sessions (session_id, principal, resume_token_hash, last_event_seq,
                               window_expires_at, features, owner_node, owner_epoch)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1)
         ON CONFLICT (session_id) DO UPDATE SET
             principal = EXCLUDED.principal,
             resume_token_hash = EXCLUDED.resume_token_hash,
             last_event_seq = EXCLUDED.last_event_seq,
             window_expires_at = EXCLUDED.window_expires_at,
             features = EXCLUDED.features,
             owner_node = EXCLUDED.owner_node,
             owner_epoch = CASE WHEN sessions.owner_node IS NULL
                                THEN sessions.owner_epoch + 1
                                ELSE sessions.owner_epoch END
         WHERE sessions.owner_node IS NULL OR sessions.owner_node = EXCLUDED.owner_node",
        &[
            &rec.session_id,
            &rec.principal,
            &rec.resume_token_hash,
            &last,
            &rec.window_expires_at,
            &rec.features,
            &node.id,
        ],
    )?;
    if rec.window_expires_at.is_some() && node.max_resumable != usize::MAX {
        expire_over_cap(c, st, &rec.principal, node.max_resumable)?;
    }
    Ok(())
}

/// The principal's cluster-wide cap on detached sessions
/// ([`ClusterOptions::max_resumable_sessions_per_principal`](super::ClusterOptions)): the
/// detached sessions beyond `max`, those whose windows close first, are deleted with their
/// events and feed rows.
fn expire_over_cap(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    principal: &str,
    max: usize,
) -> Result<(), StoreError> {
    let stmt = st.get(
        c,
        "DELETE FROM sessions WHERE session_id IN (
             SELECT session_id FROM sessions
             WHERE principal = $1 AND window_expires_at IS NOT NULL
             ORDER BY window_expires_at DESC, session_id DESC
             OFFSET $2)
         RETURNING session_id",
    )?;
    let expired: Vec<String> = c
        .query(&stmt, &[&principal, &limit_to_sql(max)])
        .map_err(pg)?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(pg)?;
    if expired.is_empty() {
        return Ok(());
    }
    exec(
        c,
        st,
        "DELETE FROM events WHERE session_id = ANY($1)",
        &[&expired],
    )?;
    exec(
        c,
        st,
        "DELETE FROM feed WHERE session_id = ANY($1)",
        &[&expired],
    )
    .map(drop)
}

/// Deletes the session (record, events, waiting feed rows) unless another node owns it: a
/// node that lost a session never deletes it under its new owner.
pub(crate) fn delete_session(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    node: &Node,
    id: &str,
) -> Result<(), StoreError> {
    let rows = exec(
        c,
        st,
        "DELETE FROM sessions WHERE session_id = $1
         AND (owner_node IS NULL OR owner_node = $2)",
        &[&id, &node.id],
    )?;
    let theirs = rows == 0 && {
        let stmt = st.get(c, "SELECT 1 FROM sessions WHERE session_id = $1")?;
        !c.query(&stmt, &[&id]).map_err(pg)?.is_empty()
    };
    if theirs {
        return Ok(());
    }
    exec(c, st, "DELETE FROM events WHERE session_id = $1", &[&id])?;
    exec(c, st, "DELETE FROM feed WHERE session_id = $1", &[&id]).map(drop)
}

/// Makes `node` the owner of `session_id` in one transaction (the session row locked for
/// update first): the epoch goes up by one; a previous owner that is another node gets a
/// `released` inbox row (and a notification). `None`: no such session (nothing changed).
pub(crate) fn claim_session(
    c: &mut Client,
    st: &mut Prepared,
    node: &Node,
    session_id: &str,
) -> Result<Option<Claimed>, StoreError> {
    let mut tx = c.transaction().map_err(pg)?;
    let stmt = st.get(
        &mut tx,
        "SELECT owner_node FROM sessions WHERE session_id = $1 FOR UPDATE",
    )?;
    let rows = tx.query(&stmt, &[&session_id]).map_err(pg)?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let old: Option<String> = row.try_get(0).map_err(pg)?;
    exec(
        &mut tx,
        st,
        "UPDATE sessions SET owner_node = $2, owner_epoch = owner_epoch + 1
         WHERE session_id = $1",
        &[&session_id, &node.id],
    )?;
    if let Some(old) = old.filter(|o| *o != node.id) {
        exec(
            &mut tx,
            st,
            "INSERT INTO inbox (node_id, kind, subject) VALUES ($1, 'released', $2)",
            &[&old, &session_id],
        )?;
        notify(&mut tx, st, INBOX_CHANNEL, node)?;
    }
    let Some(session) = reads::sessions(&mut tx, st, Some(session_id))?.pop() else {
        return Ok(None);
    };
    let last_stored_seq = reads::last_event_seq(&mut tx, st, session_id)?;
    let stmt = st.get(
        &mut tx,
        "SELECT job_id, session_id, principal, agent, status, submitted_at, terminal, data
         FROM jobs WHERE session_id = $1 AND NOT terminal AND node_id <> $2
         ORDER BY submitted_at, job_id",
    )?;
    let jobs = (tx
        .query(&stmt, &[&session_id, &node.id])
        .map_err(pg)?
        .iter())
    .map(reads::job_from_row)
    .collect::<Result<Vec<_>, _>>()?;
    tx.commit().map_err(pg)?;
    Ok(Some(Claimed {
        session,
        last_stored_seq,
        jobs,
    }))
}

/// The jobs that run (or ran) on `node`, ordered by `submitted_at`, then `job_id`.
pub(crate) fn node_jobs(
    c: &mut Client,
    st: &mut Prepared,
    node: &Node,
) -> Result<Vec<JobRecord>, StoreError> {
    let rows = reads::query(
        c,
        st,
        "SELECT job_id, session_id, principal, agent, status, submitted_at, terminal, data
         FROM jobs WHERE node_id = $1 ORDER BY submitted_at, job_id",
        &[&node.id],
    )?;
    rows.iter().map(reads::job_from_row).collect()
}

/// `NOTIFY channel` with the schema as payload (delivered when the transaction commits).
pub(crate) fn notify(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    channel: &'static str,
    node: &Node,
) -> Result<(), StoreError> {
    let stmt = st.get(c, "SELECT pg_notify($1, $2)")?;
    c.query(&stmt, &[&channel, &node.schema])
        .map_err(pg)
        .map(drop)
}
