//! # arcp-store
//!
//! The durable store interface of an ARCP runtime, independent of any database:
//!
//! - the records a runtime persists ([`StoredEvent`], [`SessionRecord`], [`JobRecord`],
//!   [`IdempotencyRecord`], [`CredentialRecord`]) and the batched mutation [`StoreOp`];
//! - the [`Store`] trait the runtime host drives (one transaction per [`Store::apply`]; the
//!   reads a resume, a subscribe and a restart need), with its error [`StoreError`];
//! - [`cluster`]: what several runtime nodes sharing one database exchange (forwarded frames,
//!   the [`ClusterWatch`](cluster::ClusterWatch) of a node and its events);
//! - (feature `runtime`) [`runtime`]: the runtime's storage effects mapped onto batches
//!   (`Batch`, `run_batch`) and the restore at start (`restore`);
//! - (feature `suite`) `suite`: the conformance checks every backend runs, one `#[test]`
//!   each through `store_suite!`.
//!
//! Backends: `arcp-sqlite` (embedded, `arcp serve --db PATH`) and `arcp-postgres` (a
//! PostgreSQL server). A server builder takes any store with `.store(..)`.
//!
//! Sequence numbers are `u64` in the API and signed 64-bit integers in SQL: a backend refuses
//! values above `i64::MAX` with [`StoreError::SeqOutOfRange`] ([`seq_to_sql`]), never
//! truncating them.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cluster;
mod error;
mod records;
#[cfg(feature = "runtime")]
pub mod runtime;
mod store;
#[cfg(feature = "suite")]
pub mod suite;

pub use cluster::StoreAdmission;
pub use error::{StoreError, limit_to_sql, seq_from_sql, seq_to_sql};
pub use records::{
    CredentialRecord, IdempotencyRecord, JobRecord, SessionRecord, StoreOp, StoredEvent,
};
pub use store::Store;
