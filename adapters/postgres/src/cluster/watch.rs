//! [`PostgresCluster`]: a node's watch on the cluster, on a connection of its own.

use std::time::{Duration, Instant};

use arcp_store::StoreError;
use arcp_store::cluster::{ClusterEvent, ClusterWatch};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls};

use super::liveness::{self, Lost};
use super::{ClusterOptions, FEED_CHANNEL, INBOX_CHANNEL, Node, feed};
use crate::error::pg;

/// A node's [`ClusterWatch`] on PostgreSQL (from [`PostgresStore::join`](crate::PostgresStore::join)).
///
/// Each [`wait`](ClusterWatch::wait) refreshes the node's liveness row when due (every
/// [`ClusterOptions::liveness_interval`]) and reaps dead nodes; it blocks on its connection's
/// `LISTEN` until a notification of its schema or the poll interval, then reads the feed of
/// the sessions the node owns and its inbox (deleting what it reports). Notifications only
/// wake it up:
/// what it reports always comes from those queries, so a lost notification delays an event
/// by one poll interval at most. A lost connection is opened again; when the refresh has
/// failed for longer than `liveness_timeout - 2 * liveness_interval` (by this process's
/// monotonic clock), it reports [`ClusterEvent::Isolated`] once (and reads nothing more), and
/// when the refresh works again it reaps itself unless another node did
/// ([`ClusterEvent::NodeLost`] with its own id: the jobs it stopped still need their
/// terminals), writes its row again and reports [`ClusterEvent::Rejoined`]. A node that finds
/// its row gone (reaped while stalled) reports `Isolated` then `Rejoined`. Reaping uses the
/// server's clock. An error is returned only when nothing was found before it.
///
/// Dropping it (or [`leave`](Self::leave)) deletes the node's liveness row: a clean exit is
/// not a death. Calls block (like [`PostgresStore`](crate::PostgresStore)'s): run it on a
/// thread of its own.
pub struct PostgresCluster {
    client: Option<Client>,
    config: Config,
    explicit_schema: bool,
    node: Node,
    options: ClusterOptions,
    /// The last successful refresh (or the join).
    refreshed: Instant,
    isolated: bool,
    next_refresh: Instant,
    next_poll: Instant,
    left: bool,
}

impl std::fmt::Debug for PostgresCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresCluster")
            .field("node_id", &self.node.id)
            .field("schema", &self.node.schema)
            .field("isolated", &self.isolated)
            .finish_non_exhaustive()
    }
}

impl PostgresCluster {
    /// Connects, listens and writes the node's liveness row.
    pub(crate) fn open(
        mut config: Config,
        explicit_schema: bool,
        node: Node,
        options: ClusterOptions,
    ) -> Result<Self, StoreError> {
        config.connect_timeout(options.liveness_interval.max(Duration::from_millis(100)));
        let mut client = connect(&config, explicit_schema, &node.schema)?;
        liveness::register(&mut client, &node.id)?;
        let now = Instant::now();
        Ok(PostgresCluster {
            client: Some(client),
            config,
            explicit_schema,
            node,
            next_refresh: now + options.liveness_interval,
            next_poll: now,
            options,
            refreshed: now,
            isolated: false,
            left: false,
        })
    }

    /// Leaves the cluster cleanly: deletes the node's liveness row (what dropping it does,
    /// with the error reported).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the row could not be deleted (the node is then reaped
    /// after the liveness timeout, as a dead one).
    pub fn leave(mut self) -> Result<(), StoreError> {
        self.left = true;
        let me = self.node.id.clone();
        let client = self
            .connected()
            .ok_or_else(|| StoreError::backend("postgres", "the cluster connection is not open"))?;
        liveness::leave(client, &me)
    }

    /// The open connection, opened again if it was lost; `None` if that failed.
    fn connected(&mut self) -> Option<&mut Client> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = connect(&self.config, self.explicit_schema, &self.node.schema).ok();
        }
        self.client.as_mut()
    }

    /// Forgets the connection after `err` if the error is not a statement's plain `ERROR`
    /// (the connection is gone or unusable); returns whether it was such a loss.
    fn lost(&mut self, err: &StoreError) -> bool {
        let gone = match err {
            StoreError::Backend { source, .. } => source
                .downcast_ref::<postgres::Error>()
                .is_some_and(|e| e.as_db_error().is_none_or(|d| d.severity() != "ERROR")),
            _ => false,
        };
        if gone {
            self.client = None;
        }
        gone
    }

    /// The liveness step: refresh (isolation, rejoin), then reap the dead.
    fn liveness(&mut self, events: &mut Vec<ClusterEvent>) -> Result<(), StoreError> {
        let limit = self.options.liveness_interval;
        let me = self.node.id.clone();
        let refreshed = match self.connected() {
            Some(c) => liveness::refresh(c, &me, limit),
            None => Err(StoreError::backend("postgres", "not connected")),
        };
        match refreshed {
            Ok(true) => {
                self.refreshed = Instant::now();
                if self.isolated {
                    // Nobody reaped this node while it was isolated: its jobs (stopped without
                    // terminals) are reaped here, by itself, unless another node wins.
                    let c = self.connected().ok_or_else(not_connected)?;
                    if let Some(lost) = liveness::reap_self(c, &me, limit)? {
                        events.push(node_lost(lost));
                    }
                    self.rejoin(events);
                }
            }
            Ok(false) => {
                // The row is gone: another node reaped this one.
                self.refreshed = Instant::now();
                if !self.isolated {
                    self.isolated = true;
                    events.push(ClusterEvent::Isolated);
                }
                self.rejoin(events);
            }
            Err(e) => {
                self.lost(&e);
                let grace = self
                    .options
                    .liveness_timeout
                    .saturating_sub(self.options.liveness_interval * 2);
                if !self.isolated && self.refreshed.elapsed() > grace {
                    self.isolated = true;
                    events.push(ClusterEvent::Isolated);
                }
                return Ok(());
            }
        }
        if self.isolated {
            return Ok(());
        }
        let timeout = self.options.liveness_timeout;
        let c = self.connected().ok_or_else(not_connected)?;
        for lost in liveness::reap(c, &me, timeout, limit)? {
            events.push(node_lost(lost));
        }
        Ok(())
    }

    /// Writes the node's row again after an isolation: [`ClusterEvent::Rejoined`], or (the
    /// write failed) still isolated, retried at the next refresh (which then finds the row
    /// gone).
    fn rejoin(&mut self, events: &mut Vec<ClusterEvent>) {
        let me = self.node.id.clone();
        let written = match self.connected() {
            Some(c) => liveness::register(c, &me),
            None => Err(not_connected()),
        };
        match written {
            Ok(()) => {
                self.isolated = false;
                events.push(ClusterEvent::Rejoined);
            }
            Err(e) => {
                self.lost(&e);
            }
        }
    }

    /// Blocks until a notification for this schema arrives (other schemas in the database
    /// use the same channels) or `deadline`; whether one arrived.
    fn sleep_until(&mut self, deadline: Instant) -> bool {
        let schema = self.node.schema.clone();
        let Some(client) = self.connected() else {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            return false;
        };
        let mut woken = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // Once woken, only what is already there is drained: one catch-up answers all.
            let wait = if woken { Duration::ZERO } else { left };
            let next = client.notifications().timeout_iter(wait).next();
            match next {
                Ok(Some(n)) => woken |= n.payload() == schema,
                Ok(None) if woken || left.is_zero() => return woken,
                Ok(None) => {}
                Err(_) => {
                    self.client = None;
                    return woken;
                }
            }
        }
    }

    /// The catch-up: the feed of the sessions this node owns (read only: delivered again
    /// until consumed), then its inbox (read and deleted, so nothing may fail after it).
    fn catch_up(&mut self, events: &mut Vec<ClusterEvent>) -> Result<(), StoreError> {
        let (me, batch) = (self.node.id.clone(), self.options.feed_batch);
        let c = self.connected().ok_or_else(not_connected)?;
        let rows = feed::read(c, &me, batch)?;
        if !rows.is_empty() {
            events.push(ClusterEvent::Feed(rows));
        }
        let mut rows: Vec<(i64, String, String)> = c
            .query(
                "DELETE FROM inbox WHERE id IN (
                     SELECT id FROM inbox WHERE node_id = $1 ORDER BY id LIMIT $2
                 )
                 RETURNING id, kind, subject",
                &[&me, &arcp_store::limit_to_sql(batch)],
            )
            .map_err(pg)?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, postgres::Error>>()
            .map_err(pg)?;
        rows.sort_unstable_by_key(|r| r.0);
        let (mut released, mut cancel) = (Vec::new(), Vec::new());
        for (_, kind, subject) in rows {
            match kind.as_str() {
                "released" => released.push(subject),
                "cancel" => cancel.push(subject),
                _ => {}
            }
        }
        if !released.is_empty() {
            events.push(ClusterEvent::Released(released));
        }
        if !cancel.is_empty() {
            events.push(ClusterEvent::Cancel(cancel));
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Vec<ClusterEvent>, StoreError> {
        let mut events = Vec::new();
        let now = Instant::now();
        if now >= self.next_refresh {
            self.next_refresh = now + self.options.liveness_interval;
            if let Err(e) = self.liveness(&mut events)
                && !self.lost(&e)
                && events.is_empty()
            {
                return Err(e);
            }
        }
        let mut woken = false;
        if events.is_empty() {
            let deadline = self.next_refresh.min(self.next_poll);
            woken = self.sleep_until(deadline);
        }
        if !self.isolated && (woken || Instant::now() >= self.next_poll) {
            self.next_poll = Instant::now() + self.options.poll_interval;
            // What was found before an error is reported (the error comes back next time).
            if let Err(e) = self.catch_up(&mut events)
                && !self.lost(&e)
                && events.is_empty()
            {
                return Err(e);
            }
        }
        Ok(events)
    }
}

impl ClusterWatch for PostgresCluster {
    fn node_id(&self) -> &str {
        &self.node.id
    }

    fn wait(&mut self) -> Result<Vec<ClusterEvent>, StoreError> {
        self.step()
    }
}

impl Drop for PostgresCluster {
    /// Deletes the liveness row (unless [`leave`](Self::leave) did), on a short-lived thread
    /// of its own when dropped inside a tokio runtime (where the client cannot block).
    fn drop(&mut self) {
        let client = self.client.take();
        let (node_id, left) = (self.node.id.clone(), self.left);
        let close = move || {
            if let Some(mut c) = client
                && !left
                && !c.is_closed()
            {
                let _ = liveness::leave(&mut c, &node_id);
            }
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = std::thread::Builder::new()
                .name("arcp-postgres-leave".into())
                .spawn(close);
        } else {
            close();
        }
    }
}

fn connect(config: &Config, explicit_schema: bool, schema: &str) -> Result<Client, StoreError> {
    let mut client = config.connect(NoTls).map_err(pg)?;
    let mut setup = String::new();
    if explicit_schema {
        setup.push_str(&format!("SET search_path TO \"{schema}\"; "));
    }
    setup.push_str(&format!("LISTEN {FEED_CHANNEL}; LISTEN {INBOX_CHANNEL}"));
    client.batch_execute(&setup).map_err(pg)?;
    Ok(client)
}

fn not_connected() -> StoreError {
    StoreError::backend("postgres", "the cluster connection is not open")
}

fn node_lost(lost: Lost) -> ClusterEvent {
    ClusterEvent::NodeLost {
        node_id: lost.node_id,
        jobs: lost.jobs,
        credentials: lost.credentials,
    }
}
