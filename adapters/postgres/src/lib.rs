//! # arcp-postgres
//!
//! The durable store of an ARCP runtime on a PostgreSQL server: [`PostgresStore`]
//! implements arcp-store's [`Store`](arcp_store::Store) trait with the same semantics as the
//! embedded SQLite store (both pass arcp-store's shared suite): one transaction per
//! [`apply`](arcp_store::Store::apply), a duplicate `(session_id, event_seq)` failing the whole
//! batch, seqs up to `i64::MAX` stored as `BIGINT` and larger ones refused with
//! [`StoreError::SeqOutOfRange`](arcp_store::StoreError::SeqOutOfRange), listings ordered
//! bytewise.
//!
//! Hand it to a server builder with `.store(..)`:
//!
//! ```no_run
//! # fn main() -> Result<(), arcp_store::StoreError> {
//! let store = arcp_postgres::PostgresStore::connect("postgresql://arcp@localhost/arcp")?;
//! // arcp_tokio::server::ServerBuilder::new().store(store) ...
//! # drop(store);
//! # Ok(())
//! # }
//! ```
//!
//! The schema is versioned: numbered migrations, recorded in a `schema_migrations` table,
//! are applied at connect in one transaction under an advisory lock (nodes starting together
//! migrate once); a schema migrated by a newer build is refused with
//! [`StoreError::SchemaTooNew`](arcp_store::StoreError::SchemaTooNew) and left untouched.
//! [`PostgresOptions::schema`] puts the tables in a schema of their own.
//!
//! Several runtime nodes can share one database as a cluster:
//! [`PostgresStore::join`] returns a node's store (whose writes are fenced by session
//! ownership) and its [`PostgresCluster`] (arcp-store's
//! [`ClusterWatch`](arcp_store::cluster::ClusterWatch)), timed by [`ClusterOptions`]. A store
//! opened with [`connect`](PostgresStore::connect) is not clustered: it refuses the cluster
//! operations with [`StoreError::Unsupported`](arcp_store::StoreError::Unsupported).
//!
//! Text columns cannot hold the NUL character in PostgreSQL: a record whose id holds one
//! fails its batch with a backend error (SQLite stores it).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cluster;
mod error;
mod ops;
mod reads;
mod schema;
mod store;

pub use cluster::{ClusterOptions, PostgresCluster};
pub use schema::SCHEMA_VERSION;
pub use store::{PostgresOptions, PostgresStore};
