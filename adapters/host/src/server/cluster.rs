//! A cluster node's side of [`ServerHost`]: what the cluster's watch reports, fed to the
//! runtime's cluster inputs, and the feed rows stamped here, consumed in the transaction that
//! appends them.

use super::host::ServerHost;
use arcp_proto::time::Instant;
use arcp_store::cluster::{ClusterEvent, FeedRow};
use arcp_store::runtime::{credential_record, forwarded_frame, job_record};
use std::collections::{HashSet, VecDeque};

/// How many stamped feed ids are remembered. A watch may report a row again until the
/// transaction consuming it commits (and a poll that read it just before may report it just
/// after): the row is skipped while remembered. 16,384 ids (128 KiB) cover many polls of
/// the default 1,000 rows.
const KEPT: usize = 16_384;

/// The feed ids stamped here, newest last, bounded by [`KEPT`].
#[derive(Debug, Default)]
pub(super) struct FeedLedger {
    ids: HashSet<i64>,
    order: VecDeque<i64>,
}

impl FeedLedger {
    /// Records `id`; `false` when it was already recorded.
    fn insert(&mut self, id: i64) -> bool {
        if !self.ids.insert(id) {
            return false;
        }
        self.order.push_back(id);
        while self.order.len() > KEPT {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        true
    }

    fn contains(&self, id: i64) -> bool {
        self.ids.contains(&id)
    }
}

impl ServerHost {
    /// Feeds what the cluster's watch reported to the runtime, in order:
    ///
    /// - forwarded job frames of sessions owned here are stamped into them; the rows are
    ///   deleted in the same transaction as the append holding them (a row whose session the
    ///   runtime does not hold yet, e.g. while its claim completes, is left for a later
    ///   report; a row already stamped is skipped);
    /// - sessions another node claimed are released (their connection closed 1001);
    /// - cancels routed here end the local jobs;
    /// - a lost node's unfinished jobs end `INTERNAL_ERROR` (retryable) and their credentials
    ///   are revoked;
    /// - isolation (this node cannot refresh its liveness) stops every local agent.
    pub fn handle_cluster(&mut self, now: Instant, events: Vec<ClusterEvent>) {
        self.at(now);
        for event in events {
            match event {
                ClusterEvent::Feed(rows) => self.feed_rows(now, rows),
                ClusterEvent::Released(sessions) => {
                    for sid in sessions {
                        tracing::debug!(session_id = %sid, "session claimed by another node");
                        self.rt.handle_session_released(now, &sid);
                    }
                }
                ClusterEvent::Cancel(jobs) => {
                    for job_id in jobs {
                        self.rt.handle_remote_cancel(now, &job_id);
                    }
                }
                ClusterEvent::NodeLost {
                    node_id,
                    jobs,
                    credentials,
                } => {
                    tracing::warn!(
                        node_id = %node_id,
                        jobs = jobs.len(),
                        "node lost: ending its unfinished jobs"
                    );
                    let jobs = jobs.into_iter().filter_map(job_record).collect();
                    let creds = credentials.into_iter().map(credential_record).collect();
                    self.rt.handle_node_lost(now, &node_id, jobs, creds);
                }
                ClusterEvent::Isolated => {
                    tracing::error!(
                        "cannot refresh this node's liveness in the cluster: stopping its agents \
                         before another node declares it lost"
                    );
                    self.rt.handle_isolated(now);
                }
                ClusterEvent::Rejoined => {
                    tracing::warn!("liveness refreshed again: this node is back in the cluster");
                }
            }
        }
    }

    fn feed_rows(&mut self, now: Instant, rows: Vec<FeedRow>) {
        let mut consumed = Vec::new();
        for row in rows {
            if self.feed.contains(row.id) {
                continue;
            }
            let Some(frame) = forwarded_frame(&row.frame) else {
                // Bytes no build of ours wrote: dropped, once.
                tracing::warn!(feed_id = row.id, "undecodable forwarded frame dropped");
                self.feed.insert(row.id);
                consumed.push(row.id);
                continue;
            };
            if self
                .rt
                .handle_remote_job_message(now, &row.session_id, frame)
            {
                self.feed.insert(row.id);
                consumed.push(row.id);
            }
        }
        self.pending.consume_feed(consumed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_remembers_the_newest_ids_up_to_its_bound() {
        let mut l = FeedLedger::default();
        assert!(l.insert(1));
        assert!(!l.insert(1));
        for id in 2..=i64::try_from(KEPT).unwrap() + 1 {
            assert!(l.insert(id));
        }
        assert!(!l.contains(1));
        assert!(l.contains(2));
        assert_eq!(l.order.len(), KEPT);
        assert_eq!(l.ids.len(), KEPT);
    }
}
