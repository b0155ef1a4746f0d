//! Cluster test helpers: nodes joined in one scratch schema, short liveness timings, waiting
//! on a watch for an event.

use std::time::{Duration, Instant};

use arcp_postgres::{ClusterOptions, PostgresCluster, PostgresStore};
use arcp_store::cluster::{ClusterEvent, ClusterWatch};

use super::Scratch;

/// Short timings: refresh every 200 ms, reaped after 2 s, polled every 100 ms.
pub fn fast() -> ClusterOptions {
    ClusterOptions::default()
        .liveness_interval(Duration::from_millis(200))
        .liveness_timeout(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(100))
}

/// A scratch schema for a cluster, or `None` to skip.
pub fn scratch(tag: &str) -> Option<Scratch> {
    let url = super::url()?;
    Some(Scratch::new(&url, tag))
}

/// Node `node` joined in `scratch`'s schema.
pub fn join(
    scratch: &Scratch,
    node: &str,
    options: &ClusterOptions,
) -> (PostgresStore, PostgresCluster) {
    PostgresStore::join(&scratch.url, &scratch.options(), node, options).unwrap()
}

/// Every event `w` reports until one matches `hit` (included) or `within` passes.
pub fn wait_for(
    w: &mut PostgresCluster,
    within: Duration,
    hit: impl Fn(&ClusterEvent) -> bool,
) -> Vec<ClusterEvent> {
    let end = Instant::now() + within;
    let mut all = Vec::new();
    while Instant::now() < end {
        let got = w.wait().unwrap();
        let done = got.iter().any(&hit);
        all.extend(got);
        if done {
            break;
        }
    }
    all
}

/// Every event `w` reports during `span`.
pub fn collect(w: &mut PostgresCluster, span: Duration) -> Vec<ClusterEvent> {
    wait_for(w, span, |_| false)
}

/// A stamped job frame as a runtime encodes it.
pub fn frame(seq: u64, job: &str, kind: &str) -> Vec<u8> {
    format!(r#"{{"event_seq":{seq},"job_id":"{job}","type":"{kind}"}}"#).into_bytes()
}

/// The same frame without `event_seq` (keys in the order the store re-encodes them).
pub fn unstamped(job: &str, kind: &str) -> Vec<u8> {
    format!(r#"{{"job_id":"{job}","type":"{kind}"}}"#).into_bytes()
}

/// `(session_id, job_id, frame)` of every feed row, in id order.
pub fn feed_rows(c: &mut postgres::Client) -> Vec<(String, String, Vec<u8>)> {
    c.query(
        "SELECT session_id, job_id, frame FROM feed ORDER BY id",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// `(node_id, kind, subject)` of every inbox row, in id order.
pub fn inbox_rows(c: &mut postgres::Client) -> Vec<(String, String, String)> {
    c.query("SELECT node_id, kind, subject FROM inbox ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// `(owner_node, owner_epoch)` of a session.
pub fn owner(c: &mut postgres::Client, session: &str) -> (Option<String>, i64) {
    let r = c
        .query_one(
            "SELECT owner_node, owner_epoch FROM sessions WHERE session_id = $1",
            &[&session],
        )
        .unwrap();
    (r.get(0), r.get(1))
}

/// The node ids with a liveness row, sorted.
pub fn live_nodes(c: &mut postgres::Client) -> Vec<String> {
    c.query("SELECT node_id FROM nodes ORDER BY node_id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}
