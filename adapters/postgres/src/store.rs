//! [`PostgresStore`]: one connection, the versioned schema, one transaction per `apply`.

use std::str::FromStr;

use arcp_store::cluster::{Claimed, StoreAdmission};
use arcp_store::{
    CredentialRecord, IdempotencyRecord, JobRecord, SessionRecord, Store, StoreError, StoreOp,
    StoredEvent,
};
use postgres::{Client, Config, NoTls};

use crate::cluster::{Node, admission, fence};
use crate::error::pg;
use crate::ops::{self, Prepared};
use crate::reads;
use crate::schema::{self, MIGRATIONS};

/// Options for [`PostgresStore::connect_with`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The schema (namespace) holding the store's tables, created if missing; `None` (the
    /// default): the connection's current schema (the first of its `search_path`, usually
    /// `public`). Lowercase ASCII letters, digits and `_`, not starting with a digit, at most
    /// 63 bytes. Several deployments (or test runs) can share one database, one schema each.
    pub schema: Option<String>,
}

impl PostgresOptions {
    /// Options with the tables in `schema`.
    pub fn schema(schema: impl Into<String>) -> Self {
        PostgresOptions {
            schema: Some(schema.into()),
        }
    }
}

/// The durable store on a PostgreSQL server (version 12 or newer): the event log and the
/// records in the tables of one schema, behind the [`Store`] trait.
///
/// It holds one connection (plain, without TLS: reach the server over a Unix socket, on
/// loopback or through a tunnel). Every [`apply`](Store::apply) runs in one transaction;
/// reads run outside one. A connection the server closed is opened again on the next call
/// (the call that found it closed fails). Calls block: the client runs its own small tokio
/// runtime and must not be called from inside another tokio runtime's async task (use
/// `spawn_blocking` or a thread; a server builder's store thread is one). Dropping it is safe
/// anywhere.
pub struct PostgresStore {
    /// `None` only while being dropped (see the `Drop` impl).
    client: Option<Client>,
    config: Config,
    schema: String,
    explicit_schema: bool,
    prepared: Prepared,
    /// A call failed below SQL (IO, closed connection, protocol): reconnect before the next.
    broken: bool,
    /// The node it writes for once joined (`PostgresStore::join`); `None`: not clustered.
    node: Option<Node>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the connection's password.
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("node_id", &self.node.as_ref().map(|n| n.id.as_str()))
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (a `postgresql://` URL or a `key=value` connection string, e.g.
    /// `host=/run/pg dbname=arcp user=arcp`) with [`PostgresOptions::default`] and brings
    /// the schema up to [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the URL does not parse or the server cannot be reached;
    /// [`StoreError::SchemaTooNew`] for a schema migrated by a newer build (left untouched).
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, &PostgresOptions::default())
    }

    /// Like [`connect`](Self::connect), with explicit options.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect), and [`StoreError::Backend`] for an invalid schema name.
    pub fn connect_with(url: &str, options: &PostgresOptions) -> Result<Self, StoreError> {
        Self::connect_migrating(url, options, MIGRATIONS)
    }

    pub(crate) fn connect_migrating(
        url: &str,
        options: &PostgresOptions,
        steps: &[schema::Migration],
    ) -> Result<Self, StoreError> {
        let config = Config::from_str(url).map_err(pg)?;
        if let Some(name) = &options.schema
            && !schema::valid_schema_name(name)
        {
            return Err(StoreError::backend(
                "postgres",
                format!(
                    "invalid schema name {name:?}: use lowercase ASCII letters, digits and _, \
                     not starting with a digit, at most 63 bytes"
                ),
            ));
        }
        let mut client = config.connect(NoTls).map_err(pg)?;
        let (schema, explicit_schema) = match &options.schema {
            Some(name) => (name.clone(), true),
            None => {
                let current: Option<String> = client
                    .query_one("SELECT current_schema()", &[])
                    .and_then(|row| row.try_get(0))
                    .map_err(pg)?;
                let name = current.ok_or_else(|| {
                    StoreError::backend(
                        "postgres",
                        "the connection has no current schema (its search_path names no \
                         existing schema): set PostgresOptions::schema",
                    )
                })?;
                (name, false)
            }
        };
        let mut store = PostgresStore {
            client: Some(client),
            config,
            schema,
            explicit_schema,
            prepared: Prepared::default(),
            broken: false,
            node: None,
        };
        store.set_search_path()?;
        let name = store.schema.clone();
        store.call(|c, _| schema::migrate(c, &name, explicit_schema, steps))?;
        Ok(store)
    }

    fn set_search_path(&mut self) -> Result<(), StoreError> {
        if self.explicit_schema
            && let Some(client) = self.client.as_mut()
        {
            client
                .batch_execute(&format!("SET search_path TO \"{}\"", self.schema))
                .map_err(pg)?;
        }
        Ok(())
    }

    /// What a [`PostgresCluster`](crate::PostgresCluster) of this store connects with: the
    /// connection settings and whether the schema was named explicitly.
    pub(crate) fn watch_config(&self) -> (Config, bool) {
        (self.config.clone(), self.explicit_schema)
    }

    /// Makes this store write for `node` (see [`join`](Self::join)).
    pub(crate) fn set_node(&mut self, node: Node) {
        self.node = Some(node);
    }

    /// The schema holding the tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The recorded schema version; after a successful connect it is always
    /// [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    pub fn schema_version(&mut self) -> Result<u32, StoreError> {
        self.call(|c, _| schema::read_version(c))
    }

    /// Opens the connection again if the server closed it or a call failed below SQL.
    fn ready(&mut self) -> Result<(), StoreError> {
        if self.broken || self.client.as_ref().is_none_or(Client::is_closed) {
            let fresh = self.config.connect(NoTls).map_err(pg)?;
            // The old client is dropped here: on the caller's thread, where blocking is fine.
            self.client = Some(fresh);
            self.prepared.clear();
            self.broken = false;
            self.set_search_path()?;
        }
        Ok(())
    }

    /// Runs `f` on a ready connection; an error that is not the server's `ERROR` answer to a
    /// statement (IO, a closed connection, a `FATAL` such as an administrator's termination)
    /// marks it for reopening.
    fn call<T>(
        &mut self,
        f: impl FnOnce(&mut Client, &mut Prepared) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.ready()?;
        let Some(client) = self.client.as_mut() else {
            return Err(StoreError::backend("postgres", "no connection"));
        };
        let out = f(client, &mut self.prepared);
        if let Err(StoreError::Backend { source, .. }) = &out
            && let Some(e) = source.downcast_ref::<postgres::Error>()
            && e.as_db_error().is_none_or(|d| d.severity() != "ERROR")
        {
            self.broken = true;
        }
        out
    }
}

impl Drop for PostgresStore {
    /// The client closes its connection by blocking on its own runtime, which tokio refuses
    /// inside another runtime's async task (a builder dropped there, say, after a failed
    /// bind): there, the client is closed on a short-lived thread of its own instead.
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = std::thread::Builder::new()
                .name("arcp-postgres-close".into())
                .spawn(move || drop(client));
        }
    }
}

impl Store for PostgresStore {
    fn apply(&mut self, ops: &[StoreOp]) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let node = self.node.clone();
        self.call(|c, p| {
            let mut tx = c.transaction().map_err(pg)?;
            for op in ops {
                // On an error the transaction is dropped uncommitted: rolled back.
                ops::apply_op(&mut tx, p, node.as_ref(), op)?;
            }
            tx.commit().map_err(pg)
        })
    }

    fn read_events(
        &mut self,
        session_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.call(|c, p| reads::read_events(c, p, session_id, None, after_seq, limit))
    }

    fn read_job_events(
        &mut self,
        session_id: &str,
        job_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.call(|c, p| reads::read_events(c, p, session_id, Some(job_id), after_seq, limit))
    }

    fn last_event_seq(&mut self, session_id: &str) -> Result<Option<u64>, StoreError> {
        self.call(|c, p| reads::last_event_seq(c, p, session_id))
    }

    fn session(&mut self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.call(|c, p| Ok(reads::sessions(c, p, Some(session_id))?.pop()))
    }

    fn sessions(&mut self) -> Result<Vec<SessionRecord>, StoreError> {
        self.call(|c, p| reads::sessions(c, p, None))
    }

    fn job(&mut self, job_id: &str) -> Result<Option<JobRecord>, StoreError> {
        self.call(|c, p| Ok(reads::jobs(c, p, Some(job_id))?.pop()))
    }

    fn jobs(&mut self) -> Result<Vec<JobRecord>, StoreError> {
        self.call(|c, p| reads::jobs(c, p, None))
    }

    fn idempotency(
        &mut self,
        principal: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.call(|c, p| Ok(reads::idempotency(c, p, Some((principal, key)))?.pop()))
    }

    fn idempotency_records(&mut self) -> Result<Vec<IdempotencyRecord>, StoreError> {
        self.call(|c, p| reads::idempotency(c, p, None))
    }

    fn outstanding_credentials(&mut self) -> Result<Vec<CredentialRecord>, StoreError> {
        self.call(reads::credentials)
    }

    fn node_id(&self) -> Option<&str> {
        self.node.as_ref().map(|n| n.id.as_str())
    }

    fn claim_session(&mut self, session_id: &str) -> Result<Option<Claimed>, StoreError> {
        let Some(node) = self.node.clone() else {
            return Err(StoreError::Unsupported {
                operation: "claim_session",
            });
        };
        self.call(|c, p| fence::claim_session(c, p, &node, session_id))
    }

    fn node_jobs(&mut self) -> Result<Vec<JobRecord>, StoreError> {
        match self.node.clone() {
            Some(node) => self.call(|c, p| fence::node_jobs(c, p, &node)),
            None => self.jobs(),
        }
    }

    fn admit_job(
        &mut self,
        principal: &str,
        session_id: &str,
        job_id: &str,
        max_unfinished: usize,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<StoreAdmission, StoreError> {
        let Some(node) = self.node.clone() else {
            return Err(StoreError::Unsupported {
                operation: "admit_job",
            });
        };
        let req = admission::JobRequest {
            principal,
            session_id,
            job_id,
            max_unfinished,
            idempotency,
        };
        self.call(|c, p| admission::admit_job(c, p, &node, &req))
    }

    fn admit_session(
        &mut self,
        principal: &str,
        session_id: &str,
        max_live: usize,
    ) -> Result<bool, StoreError> {
        if self.node.is_none() {
            return Err(StoreError::Unsupported {
                operation: "admit_session",
            });
        }
        self.call(|c, p| admission::admit_session(c, p, principal, session_id, max_live))
    }
}
