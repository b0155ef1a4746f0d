//! # arcp-sqlite
//!
//! The durable store of an ARCP runtime, on SQLite (bundled, so every host gets the same
//! engine). It holds what a runtime needs to survive a crash:
//!
//! - the **event log**: every outbound frame of a session's `event_seq` stream, as encoded
//!   JSON bytes ([`StoredEvent`]), so a resume can be replayed beyond the in-memory ring;
//! - **sessions** ([`SessionRecord`]): principal, resume-token hash, last seq, window expiry;
//! - **jobs** ([`JobRecord`]), **idempotency entries** ([`IdempotencyRecord`]) and
//!   **outstanding credentials** ([`CredentialRecord`]).
//!
//! The API is plain and synchronous, on the record types of `arcp-store` (re-exported here):
//! it knows nothing of the runtime's state machine. [`SqliteStore`] implements arcp-store's
//! [`Store`] trait, the interface a runtime host drives whatever the database (its errors
//! convert into `arcp_store::StoreError`). An adapter executes the runtime's storage effects by converting
//! them to [`StoreOp`]s and calling [`SqliteStore::apply`], which commits them in a single
//! transaction; only after it returns `Ok` does the adapter report the effects complete (the
//! runtime's write-ahead rule: a frame is transmitted only once the append holding it is
//! committed). On start, the adapter reads [`SqliteStore::sessions`], [`SqliteStore::jobs`],
//! [`SqliteStore::idempotency_records`] and [`SqliteStore::outstanding_credentials`] to
//! rebuild the runtime.
//!
//! ```
//! use arcp_sqlite::{SqliteStore, StoreOp, StoredEvent};
//!
//! # fn main() -> Result<(), arcp_sqlite::StoreError> {
//! let mut store = SqliteStore::open_in_memory()?; // `SqliteStore::open(path)` for a file
//! store.apply(&[StoreOp::AppendEvents(vec![StoredEvent {
//!     session_id: "sess_1".into(),
//!     event_seq: 1,
//!     job_id: Some("job_1".into()),
//!     frame: br#"{"type":"job.event"}"#.to_vec(),
//! }])])?;
//! let replay = store.read_events("sess_1", 0, 100)?;
//! assert_eq!(replay.len(), 1);
//! assert_eq!(store.last_event_seq("sess_1")?, Some(1));
//! store.prune_acked("sess_1", 1)?;
//! assert_eq!(store.last_event_seq("sess_1")?, None);
//! # Ok(())
//! # }
//! ```
//!
//! File stores run in WAL mode with `synchronous=NORMAL` by default (a commit survives a
//! process crash; [`Synchronous::Full`] also survives power loss). The schema is versioned
//! through `PRAGMA user_version` ([`SCHEMA_VERSION`]); a file written by a newer build is
//! refused with [`StoreError::SchemaTooNew`] and left untouched. Sequence numbers are `u64` in
//! the API and signed 64-bit in SQLite: values above `i64::MAX` are refused with
//! [`StoreError::SeqOutOfRange`], never truncated.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backend;
mod error;
mod ops;
#[cfg(feature = "runtime")]
pub mod runtime;
mod schema;
mod store;

pub use arcp_store::{
    CredentialRecord, IdempotencyRecord, JobRecord, SessionRecord, Store, StoreOp, StoredEvent,
};
pub use error::StoreError;
pub use schema::{APPLICATION_ID, SCHEMA_VERSION, StoreOptions, Synchronous};
pub use store::SqliteStore;
