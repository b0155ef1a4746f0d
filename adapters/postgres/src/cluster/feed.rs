//! Forwarded frames (the `feed` table) and routed cancels (`inbox` rows of kind `cancel`).

use arcp_store::StoreError;
use arcp_store::cluster::{FeedRow, ForwardedFrame};
use postgres::GenericClient;

use super::fence::notify;
use super::{FEED_CHANNEL, INBOX_CHANNEL, Node};
use crate::error::pg;
use crate::ops::{Prepared, exec};

/// Queues `frames` in the feed for their sessions' owners, in order, and wakes the owners.
pub(crate) fn forward(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    node: &Node,
    frames: &[ForwardedFrame],
) -> Result<(), StoreError> {
    if frames.is_empty() {
        return Ok(());
    }
    let sessions: Vec<&str> = frames.iter().map(|f| f.session_id.as_str()).collect();
    let jobs: Vec<&str> = frames.iter().map(|f| f.job_id.as_str()).collect();
    let bytes: Vec<&[u8]> = frames.iter().map(|f| f.frame.as_slice()).collect();
    // `WITH ORDINALITY` keeps the batch's order in the ids.
    exec(
        c,
        st,
        "INSERT INTO feed (session_id, job_id, frame)
         SELECT s, j, f FROM unnest($1::text[], $2::text[], $3::bytea[])
             WITH ORDINALITY AS t(s, j, f, n)
         ORDER BY n",
        &[&sessions, &jobs, &bytes],
    )?;
    notify(c, st, FEED_CHANNEL, node)
}

/// Routes a cancel of `job_id` to the node it runs on (an inbox row, and a wake-up); nothing
/// for an unknown job or one stored without a node.
pub(crate) fn forward_cancel(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    node: &Node,
    job_id: &str,
) -> Result<(), StoreError> {
    let routed = exec(
        c,
        st,
        "INSERT INTO inbox (node_id, kind, subject)
         SELECT node_id, 'cancel', job_id FROM jobs
         WHERE job_id = $1 AND node_id IS NOT NULL",
        &[&job_id],
    )?;
    if routed > 0 {
        notify(c, st, INBOX_CHANNEL, node)?;
    }
    Ok(())
}

/// Deletes exactly the feed rows `ids` (unknown ids are not an error).
pub(crate) fn consume(
    c: &mut impl GenericClient,
    st: &mut Prepared,
    ids: &[i64],
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    exec(
        c,
        st,
        "DELETE FROM feed WHERE id = ANY($1::int8[])",
        &[&ids],
    )
    .map(drop)
}

/// Up to `limit` feed rows of the sessions `node_id` owns, in id order.
pub(crate) fn read(
    c: &mut impl GenericClient,
    node_id: &str,
    limit: usize,
) -> Result<Vec<FeedRow>, StoreError> {
    let limit = arcp_store::limit_to_sql(limit);
    let rows = c
        .query(
            "SELECT f.id, f.session_id, f.job_id, f.frame FROM feed f
             JOIN sessions s ON s.session_id = f.session_id
             WHERE s.owner_node = $1 ORDER BY f.id LIMIT $2",
            &[&node_id, &limit],
        )
        .map_err(pg)?;
    rows.iter()
        .map(|row| {
            Ok(FeedRow {
                id: row.try_get(0).map_err(pg)?,
                session_id: row.try_get(1).map_err(pg)?,
                job_id: row.try_get(2).map_err(pg)?,
                frame: row.try_get(3).map_err(pg)?,
            })
        })
        .collect()
}

/// The encoded frame `frame` without its `event_seq` member (the rest kept), or `None` if it
/// is not a JSON object.
pub(crate) fn without_seq(frame: &[u8]) -> Option<Vec<u8>> {
    let mut value: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(frame).ok()?;
    value.remove("event_seq");
    serde_json::to_vec(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::without_seq;

    #[test]
    fn the_seq_is_dropped_and_the_rest_kept() {
        let out =
            without_seq(br#"{"event_seq":7,"job_id":"j1","payload":{"event_seq":1}}"#).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"job_id": "j1", "payload": {"event_seq": 1}})
        );
        let out = without_seq(br#"{"job_id":"j1"}"#).unwrap();
        assert_eq!(out, br#"{"job_id":"j1"}"#);
        assert_eq!(without_seq(b"not json"), None);
        assert_eq!(without_seq(b"[1,2]"), None);
    }
}
