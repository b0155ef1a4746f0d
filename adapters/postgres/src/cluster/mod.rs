//! The cluster: several runtime nodes sharing one PostgreSQL ([`PostgresStore::join`]).
//!
//! - [`fence`]: the joined store's writes (session ownership fenced by a row lock on the
//!   session row), [`claim_session`](arcp_store::Store::claim_session) and `node_jobs`;
//! - [`feed`]: forwarded frames and routed cancels;
//! - [`admission`]: cluster-wide idempotency and per-principal caps
//!   ([`admit_job`](arcp_store::Store::admit_job), [`admit_session`](arcp_store::Store::admit_session));
//! - [`liveness`]: the `nodes` rows, the reap of a dead node (exactly one winner);
//! - [`watch`]: [`PostgresCluster`], the node's [`ClusterWatch`](arcp_store::cluster::ClusterWatch)
//!   (LISTEN/NOTIFY only wakes it up: what it reports comes from catch-up queries).

pub(crate) mod admission;
pub(crate) mod feed;
pub(crate) mod fence;
pub(crate) mod liveness;
mod watch;

use std::time::Duration;

use arcp_store::StoreError;

use crate::store::{PostgresOptions, PostgresStore};
pub use watch::PostgresCluster;

/// The channel a forward notifies (payload: the schema name); a wake-up only.
pub(crate) const FEED_CHANNEL: &str = "arcp_feed";
/// The channel an inbox row notifies (payload: the schema name); a wake-up only.
pub(crate) const INBOX_CHANNEL: &str = "arcp_inbox";

/// The joined node a store writes for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    /// This node's id.
    pub(crate) id: String,
    /// The schema holding the tables (the payload of its notifications).
    pub(crate) schema: String,
    /// [`ClusterOptions::max_resumable_sessions_per_principal`].
    pub(crate) max_resumable: usize,
}

/// Timing of a node's [`PostgresCluster`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterOptions {
    /// How often the node refreshes its liveness row and looks for dead nodes (default 1 s).
    /// A refresh that takes longer than this counts as failed.
    pub liveness_interval: Duration,
    /// How long a node may go without refreshing before another node reaps it (default
    /// 10 s). A node whose own refresh has failed for longer than `liveness_timeout - 2 *
    /// liveness_interval` reports itself [`Isolated`](arcp_store::cluster::ClusterEvent::Isolated).
    pub liveness_timeout: Duration,
    /// The longest [`wait`](arcp_store::cluster::ClusterWatch::wait) blocks, and how often
    /// the feed and the inbox are read without a notification (default 500 ms).
    pub poll_interval: Duration,
    /// The most feed rows one [`Feed`](arcp_store::cluster::ClusterEvent::Feed) carries
    /// (default 1000).
    pub feed_batch: usize,
    /// Detached (resumable) sessions one principal may keep across the whole cluster: when
    /// a session of the principal detaches (its record is written with a resume window)
    /// and the principal has more, the ones whose windows close first are deleted with their
    /// events, whichever node they were detached on (a resume of one is then refused as of
    /// an unknown session). Default: no cluster-wide cap (`usize::MAX`); `arcp serve` sets
    /// it to `--max-resumable-sessions-per-principal`, the cap each node keeps locally too.
    pub max_resumable_sessions_per_principal: usize,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            liveness_interval: Duration::from_secs(1),
            liveness_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(500),
            feed_batch: 1000,
            max_resumable_sessions_per_principal: usize::MAX,
        }
    }
}

impl ClusterOptions {
    /// With `liveness_interval` set.
    #[must_use]
    pub fn liveness_interval(mut self, interval: Duration) -> Self {
        self.liveness_interval = interval;
        self
    }

    /// With `liveness_timeout` set.
    #[must_use]
    pub fn liveness_timeout(mut self, timeout: Duration) -> Self {
        self.liveness_timeout = timeout;
        self
    }

    /// With `poll_interval` set.
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// With `feed_batch` set (at least 1).
    #[must_use]
    pub fn feed_batch(mut self, rows: usize) -> Self {
        self.feed_batch = rows.max(1);
        self
    }

    /// With `max_resumable_sessions_per_principal` set.
    #[must_use]
    pub fn max_resumable_sessions_per_principal(mut self, max: usize) -> Self {
        self.max_resumable_sessions_per_principal = max;
        self
    }
}

/// Whether `id` can name a node: 1 to 128 bytes, no control character.
fn valid_node_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && !id.chars().any(char::is_control)
}

impl PostgresStore {
    /// Joins the cluster sharing the database at `url` as node `node_id`: a store whose
    /// writes are those of that node (it owns the sessions it creates or claims, the jobs it
    /// stores run on it, a session another node owns gets its job frames forwarded instead
    /// of appended) and the node's [`PostgresCluster`] on a connection of its own, whose
    /// liveness row is written before this returns.
    ///
    /// # Errors
    ///
    /// As [`connect_with`](Self::connect_with); [`StoreError::Backend`] for an empty node id,
    /// one longer than 128 bytes or holding a control character.
    pub fn join(
        url: &str,
        options: &PostgresOptions,
        node_id: &str,
        cluster: &ClusterOptions,
    ) -> Result<(PostgresStore, PostgresCluster), StoreError> {
        if !valid_node_id(node_id) {
            return Err(StoreError::backend(
                "postgres",
                format!(
                    "invalid node id {node_id:?}: use 1 to 128 bytes without control \
                     characters"
                ),
            ));
        }
        let mut store = PostgresStore::connect_with(url, options)?;
        let node = Node {
            id: node_id.to_owned(),
            schema: store.schema().to_owned(),
            max_resumable: cluster.max_resumable_sessions_per_principal,
        };
        let (config, explicit_schema) = store.watch_config();
        let watch = PostgresCluster::open(config, explicit_schema, node.clone(), cluster.clone())?;
        store.set_node(node);
        Ok((store, watch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_builders() {
        let o = ClusterOptions::default();
        assert_eq!(o.liveness_interval, Duration::from_secs(1));
        assert_eq!(o.liveness_timeout, Duration::from_secs(10));
        assert_eq!(o.poll_interval, Duration::from_millis(500));
        assert_eq!(o.feed_batch, 1000);
        assert_eq!(o.max_resumable_sessions_per_principal, usize::MAX);
        assert_eq!(
            o.clone()
                .max_resumable_sessions_per_principal(3)
                .max_resumable_sessions_per_principal,
            3
        );
        let o = o
            .liveness_interval(Duration::from_millis(200))
            .liveness_timeout(Duration::from_secs(2))
            .poll_interval(Duration::from_millis(50))
            .feed_batch(0);
        assert_eq!(
            (
                o.liveness_interval,
                o.liveness_timeout,
                o.poll_interval,
                o.feed_batch
            ),
            (
                Duration::from_millis(200),
                Duration::from_secs(2),
                Duration::from_millis(50),
                1
            )
        );
    }

    #[test]
    fn node_ids() {
        for ok in ["n-a", "node-0123abcd", &"x".repeat(128), "é"] {
            assert!(valid_node_id(ok), "{ok}");
        }
        for bad in ["", "a\0b", "a\nb", &"x".repeat(129)] {
            assert!(!valid_node_id(bad), "{bad:?}");
        }
    }
}
