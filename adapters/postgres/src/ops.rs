//! The SQL behind every [`StoreOp`], run inside the transaction of one `apply`.

use std::collections::{HashMap, HashSet};

use arcp_store::{
    CredentialRecord, IdempotencyRecord, JobRecord, SessionRecord, StoreError, StoreOp,
    StoredEvent, seq_to_sql,
};
use postgres::{GenericClient, Statement};

use crate::cluster::{Node, feed, fence};
use crate::error::pg;

/// Statements prepared once per connection, by their SQL.
#[derive(Default)]
pub(crate) struct Prepared(HashMap<&'static str, Statement>);

impl Prepared {
    /// The prepared form of `sql` on `c`'s connection (prepared on first use).
    pub(crate) fn get(
        &mut self,
        c: &mut impl GenericClient,
        sql: &'static str,
    ) -> Result<Statement, StoreError> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        let s = c.prepare(sql).map_err(pg)?;
        self.0.insert(sql, s.clone());
        Ok(s)
    }

    /// Forgets every statement (after a reconnect: they belonged to the old connection).
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

/// Runs `sql` with `params` (prepared once), returning the affected row count.
pub(crate) fn exec(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    sql: &'static str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<u64, StoreError> {
    let stmt = st.get(c, sql)?;
    c.execute(&stmt, params).map_err(pg)
}

/// Runs one operation; `node` is the joined node (`PostgresStore::join`), `None` for a store
/// that is not clustered (which refuses the cluster operations).
pub(crate) fn apply_op(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    node: Option<&Node>,
    op: &StoreOp,
) -> Result<(), StoreError> {
    if let (None, Some(operation)) = (node, op.cluster_only()) {
        return Err(StoreError::Unsupported { operation });
    }
    match (op, node) {
        (StoreOp::AppendEvents(batch), Some(n)) => fence::append_events(c, st, n, batch),
        (StoreOp::PutSession(rec), Some(n)) => fence::put_session(c, st, n, rec),
        (StoreOp::PutJob(rec), Some(n)) => put_job(c, st, rec, Some(&n.id)),
        (StoreOp::DeleteSession(id), Some(n)) => fence::delete_session(c, st, n, id),
        (StoreOp::Forward(frames), Some(n)) => feed::forward(c, st, n, frames),
        (StoreOp::ForwardCancel { job_id }, Some(n)) => feed::forward_cancel(c, st, n, job_id),
        (StoreOp::ConsumeFeed(ids), Some(_)) => feed::consume(c, st, ids),
        (op, _) => apply_plain(c, st, op),
    }
}

/// The operations whose SQL is the same whether or not the store is clustered (and the
/// others' SQL when it is not).
fn apply_plain(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    op: &StoreOp,
) -> Result<(), StoreError> {
    match op {
        StoreOp::AppendEvents(batch) => append_events(c, st, batch),
        StoreOp::PruneAcked {
            session_id,
            up_to_seq,
        } => {
            let up_to = seq_to_sql(*up_to_seq)?;
            exec(
                c,
                st,
                "DELETE FROM events WHERE session_id = $1 AND event_seq <= $2",
                &[session_id, &up_to],
            )
            .map(drop)
        }
        StoreOp::PutSession(rec) => put_session(c, st, rec),
        StoreOp::DeleteSession(id) => {
            exec(c, st, "DELETE FROM events WHERE session_id = $1", &[id])?;
            exec(c, st, "DELETE FROM sessions WHERE session_id = $1", &[id]).map(drop)
        }
        StoreOp::PruneExpiredSessions { now_unix_micros } => exec(
            c,
            st,
            "WITH gone AS (
                 DELETE FROM sessions
                 WHERE window_expires_at IS NOT NULL AND window_expires_at <= $1
                 RETURNING session_id
             ),
             gone_events AS (
                 DELETE FROM events e USING gone WHERE e.session_id = gone.session_id
             )
             DELETE FROM feed f USING gone WHERE f.session_id = gone.session_id",
            &[now_unix_micros],
        )
        .map(drop),
        StoreOp::PutJob(rec) => put_job(c, st, rec, None),
        StoreOp::DeleteJob(id) => {
            exec(c, st, "DELETE FROM jobs WHERE job_id = $1", &[id]).map(drop)
        }
        StoreOp::PutIdempotency(rec) => put_idempotency(c, st, rec),
        StoreOp::DeleteIdempotency { principal, key } => exec(
            c,
            st,
            "DELETE FROM idempotency WHERE principal = $1 AND key = $2",
            &[principal, key],
        )
        .map(drop),
        StoreOp::PruneExpiredIdempotency { now_unix_micros } => exec(
            c,
            st,
            "DELETE FROM idempotency WHERE expires_at <= $1",
            &[now_unix_micros],
        )
        .map(drop),
        StoreOp::PutCredential(rec) => put_credential(c, st, rec),
        StoreOp::DeleteCredential(id) => exec(
            c,
            st,
            "DELETE FROM credentials WHERE credential_id = $1",
            &[id],
        )
        .map(drop),
        // Refused above when not joined, dispatched above when joined.
        StoreOp::Forward(_) | StoreOp::ForwardCancel { .. } | StoreOp::ConsumeFeed(_) => {
            Err(StoreError::Unsupported {
                operation: op.cluster_only().unwrap_or("cluster operation"),
            })
        }
    }
}

/// One multi-row insert for the whole batch (one round trip), skipping conflicts and
/// returning what it inserted; the first event, in batch order, that repeats an earlier one
/// or was not inserted (already stored) fails the batch as a duplicate, exactly as inserting
/// them one by one would. Events from the first seq above `i64::MAX` on are not sent: that
/// seq fails the batch unless a duplicate before it did.
pub(crate) fn append_events(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    batch: &[StoredEvent],
) -> Result<(), StoreError> {
    let cut = batch.iter().position(|e| seq_to_sql(e.event_seq).is_err());
    let prefix = &batch[..cut.unwrap_or(batch.len())];
    if !prefix.is_empty() {
        let sessions: Vec<&str> = prefix.iter().map(|e| e.session_id.as_str()).collect();
        let seqs: Vec<i64> = prefix
            .iter()
            .map(|e| seq_to_sql(e.event_seq))
            .collect::<Result<_, _>>()?;
        let jobs: Vec<Option<&str>> = prefix.iter().map(|e| e.job_id.as_deref()).collect();
        let frames: Vec<&[u8]> = prefix.iter().map(|e| e.frame.as_slice()).collect();
        let stmt = st.get(
            c,
            "INSERT INTO events (session_id, event_seq, job_id, frame)
             SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::bytea[])
             ON CONFLICT DO NOTHING
             RETURNING session_id, event_seq",
        )?;
        let rows = c
            .query(&stmt, &[&sessions, &seqs, &jobs, &frames])
            .map_err(pg)?;
        // What was inserted, per session (a batch is mostly one session's: no key copies).
        let mut inserted: HashMap<&str, HashSet<i64>> = HashMap::new();
        for row in &rows {
            let session: &str = row.try_get(0).map_err(pg)?;
            let seq: i64 = row.try_get(1).map_err(pg)?;
            inserted.entry(session).or_default().insert(seq);
        }
        let mut seen = HashSet::with_capacity(prefix.len());
        for (e, seq) in prefix.iter().zip(&seqs) {
            let key = (e.session_id.as_str(), *seq);
            let stored = inserted
                .get(e.session_id.as_str())
                .is_some_and(|s| s.contains(seq));
            if !seen.insert(key) || !stored {
                return Err(StoreError::DuplicateEvent {
                    session_id: e.session_id.clone(),
                    event_seq: e.event_seq,
                });
            }
        }
    }
    match cut {
        Some(i) => Err(StoreError::SeqOutOfRange {
            seq: batch[i].event_seq,
        }),
        None => Ok(()),
    }
}

fn put_session(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    rec: &SessionRecord,
) -> Result<(), StoreError> {
    let last = seq_to_sql(rec.last_event_seq)?;
    exec(
        c,
        st,
        "INSERT INTO sessions (session_id, principal, resume_token_hash, last_event_seq,
                               window_expires_at, features)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (session_id) DO UPDATE SET
             principal = EXCLUDED.principal,
             resume_token_hash = EXCLUDED.resume_token_hash,
             last_event_seq = EXCLUDED.last_event_seq,
             window_expires_at = EXCLUDED.window_expires_at,
             features = EXCLUDED.features",
        &[
            &rec.session_id,
            &rec.principal,
            &rec.resume_token_hash,
            &last,
            &rec.window_expires_at,
            &rec.features,
        ],
    )
    .map(drop)
}

/// Upserts a job record. `node`: the joined node the job runs on, recorded when the record
/// is inserted (`None` for a store that is not joined); an update never moves a job (a node
/// that reaped a dead one writes the dead node's jobs' terminal records).
pub(crate) fn put_job(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    rec: &JobRecord,
    node: Option<&str>,
) -> Result<(), StoreError> {
    exec(
        c,
        st,
        "INSERT INTO jobs (job_id, session_id, principal, agent, status, submitted_at, terminal,
                           data, node_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (job_id) DO UPDATE SET
             session_id = EXCLUDED.session_id,
             principal = EXCLUDED.principal,
             agent = EXCLUDED.agent,
             status = EXCLUDED.status,
             submitted_at = EXCLUDED.submitted_at,
             terminal = EXCLUDED.terminal,
             data = EXCLUDED.data",
        &[
            &rec.job_id,
            &rec.session_id,
            &rec.principal,
            &rec.agent,
            &rec.status,
            &rec.submitted_at,
            &rec.terminal,
            &rec.data,
            &node,
        ],
    )
    .map(drop)
}

pub(crate) fn put_idempotency(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    rec: &IdempotencyRecord,
) -> Result<(), StoreError> {
    exec(
        c,
        st,
        "INSERT INTO idempotency (principal, key, fingerprint, job_id, accepted, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (principal, key) DO UPDATE SET
             fingerprint = EXCLUDED.fingerprint,
             job_id = EXCLUDED.job_id,
             accepted = EXCLUDED.accepted,
             expires_at = EXCLUDED.expires_at",
        &[
            &rec.principal,
            &rec.key,
            &rec.fingerprint,
            &rec.job_id,
            &rec.accepted,
            &rec.expires_at,
        ],
    )
    .map(drop)
}

fn put_credential(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    rec: &CredentialRecord,
) -> Result<(), StoreError> {
    exec(
        c,
        st,
        "INSERT INTO credentials (credential_id, job_id, data) VALUES ($1, $2, $3)
         ON CONFLICT (credential_id) DO UPDATE SET job_id = EXCLUDED.job_id, data = EXCLUDED.data",
        &[&rec.credential_id, &rec.job_id, &rec.data],
    )
    .map(drop)
}
