//! (feature `suite`) The shared conformance suite: one set of checks every [`Store`] backend
//! must pass, so SQLite and PostgreSQL (and any store given to a server builder's `.store(..)`)
//! mean the same thing by every operation.
//!
//! Each check is a function taking a fresh, empty store. [`store_suite!`](crate::store_suite)
//! expands to one `#[test]` per check, each calling a factory for its store:
//!
//! ```ignore
//! fn memory() -> Option<Box<dyn arcp_store::Store>> {
//!     Some(Box::new(arcp_sqlite::SqliteStore::open_in_memory().unwrap()))
//! }
//! arcp_store::store_suite!(memory);
//! ```
//!
//! The factory returns `None` to skip (e.g. no database server configured: it says so
//! itself) and any [`Fixture`]: a boxed store, or a `(store, guard)` pair whose guard (a
//! temporary directory, a scratch schema) lives as long as the store and is dropped after it.

mod cluster;
mod events;
mod records;

pub use cluster::*;
pub use events::*;
pub use records::*;

use crate::records::{
    CredentialRecord, IdempotencyRecord, JobRecord, SessionRecord, StoreOp, StoredEvent,
};
use crate::{Store, StoreError};

/// What a suite factory hands out: a store, possibly with something that must outlive it.
pub trait Fixture {
    /// The store under test.
    fn store(&mut self) -> &mut dyn Store;
}

impl Fixture for Box<dyn Store> {
    fn store(&mut self) -> &mut dyn Store {
        &mut **self
    }
}

impl<S: Store, G> Fixture for (S, G) {
    fn store(&mut self) -> &mut dyn Store {
        &mut self.0
    }
}

/// One `#[test]` per check of the suite, each with a store from `$factory` (a function or
/// closure path returning `Option<impl Fixture>`; `None` skips the check).
#[macro_export]
macro_rules! store_suite {
    ($factory:path) => {
        $crate::store_suite!(@each $factory;
            append_then_read_in_seq_order,
            read_respects_after_seq_and_limit,
            sessions_have_separate_seq_spaces,
            duplicate_against_stored_event_rolls_back_whole_batch,
            duplicate_within_one_batch_is_refused,
            large_batches_land_whole_and_name_their_first_duplicate,
            seq_above_i64_max_is_refused_without_writing,
            i64_max_seq_round_trips,
            prune_acked_deletes_up_to_and_including_seq,
            read_job_events_filters_by_job_within_session,
            frames_round_trip_byte_exact,
            sessions_upsert_with_ordered_features,
            listings_are_ordered_bytewise,
            delete_session_removes_its_events_not_its_jobs,
            prune_expired_sessions_keeps_attached_and_open_windows,
            jobs_upsert_lookup_and_order,
            idempotency_upsert_lookup_delete_prune,
            credentials_upsert_and_delete,
            mixed_batch_lands_together,
            a_failing_op_rolls_back_the_ops_before_it,
            ops_run_in_order_within_the_batch,
            empty_batch_is_a_no_op,
            cluster_ops_need_a_clustered_store,
            admission_needs_a_clustered_store,
        );
    };
    (@each $factory:path; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                if let Some(mut fixture) = $factory() {
                    $crate::suite::$check($crate::suite::Fixture::store(&mut fixture));
                }
            }
        )*
    };
}

/// The seqs of every stored event of `session`, ascending.
pub fn seqs(s: &mut dyn Store, session: &str) -> Vec<u64> {
    s.read_events(session, 0, usize::MAX)
        .expect("read_events")
        .iter()
        .map(|e| e.event_seq)
        .collect()
}

/// An event whose frame names its session and seq.
pub fn event(session: &str, seq: u64, job: Option<&str>) -> StoredEvent {
    StoredEvent {
        session_id: session.to_owned(),
        event_seq: seq,
        job_id: job.map(str::to_owned),
        frame: format!(r#"{{"session_id":"{session}","event_seq":{seq}}}"#).into_bytes(),
    }
}

/// A session record of `alice` with two features.
pub fn session(id: &str, last: u64, window: Option<i64>) -> SessionRecord {
    SessionRecord {
        session_id: id.to_owned(),
        principal: "alice".to_owned(),
        resume_token_hash: format!("sha256:{id}"),
        last_event_seq: last,
        window_expires_at: window,
        features: vec!["heartbeat".to_owned(), "ack".to_owned()],
    }
}

/// A job record of `alice` on the `echo` agent.
pub fn job(id: &str, session: &str, submitted_at: i64, terminal: bool) -> JobRecord {
    JobRecord {
        job_id: id.to_owned(),
        session_id: session.to_owned(),
        principal: "alice".to_owned(),
        agent: "echo".to_owned(),
        status: if terminal { "success" } else { "running" }.to_owned(),
        submitted_at,
        terminal,
        data: format!(r#"{{"job":"{id}"}}"#).into_bytes(),
    }
}

/// An idempotency entry for `(principal, key)` lapsing at `expires_at`.
pub fn idem(principal: &str, key: &str, expires_at: i64) -> IdempotencyRecord {
    IdempotencyRecord {
        principal: principal.to_owned(),
        key: key.to_owned(),
        fingerprint: format!("fp:{key}"),
        job_id: format!("job_{key}"),
        accepted: br#"{"job_id":"x"}"#.to_vec(),
        expires_at,
    }
}

/// An outstanding credential of `job`.
pub fn credential(id: &str, job: &str) -> CredentialRecord {
    CredentialRecord {
        credential_id: id.to_owned(),
        job_id: job.to_owned(),
        data: vec![0, 1, 2, 255],
    }
}

fn append(s: &mut dyn Store, events: Vec<StoredEvent>) -> Result<(), StoreError> {
    s.apply(&[StoreOp::AppendEvents(events)])
}

fn prune_acked(s: &mut dyn Store, session: &str, up_to_seq: u64) -> Result<(), StoreError> {
    s.apply(&[StoreOp::PruneAcked {
        session_id: session.to_owned(),
        up_to_seq,
    }])
}
