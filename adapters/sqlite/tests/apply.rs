//! `SqliteStore::apply` beyond the shared store suite (`tests/suite.rs` runs
//! `arcp_store::store_suite!`, which covers mixed batches, rollback and order): seq bounds
//! inside a batch and every delete and prune operation.

mod common;

use arcp_sqlite::{SqliteStore, StoreError, StoreOp};
use common::{credential, event, idem, job, seqs, session};

fn store() -> SqliteStore {
    SqliteStore::open_in_memory().unwrap()
}

#[test]
fn seq_out_of_range_in_a_batch_rolls_back() {
    let mut s = store();
    let err = s
        .apply(&[
            StoreOp::PutSession(session("s1", 0, None)),
            StoreOp::PruneAcked {
                session_id: "s1".into(),
                up_to_seq: u64::MAX,
            },
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::SeqOutOfRange { seq: u64::MAX }));
    assert_eq!(s.sessions().unwrap(), vec![]);
}

#[test]
fn every_delete_and_prune_variant() {
    let mut s = store();
    s.apply(&[
        StoreOp::PutSession(session("keep", 1, Some(10_000))),
        StoreOp::PutSession(session("expired", 1, Some(500))),
        StoreOp::AppendEvents(vec![event("keep", 1, None), event("expired", 1, None)]),
        StoreOp::PutJob(job("j1", "keep", 1, true)),
        StoreOp::PutJob(job("j2", "keep", 2, false)),
        StoreOp::PutIdempotency(idem("alice", "old", 400)),
        StoreOp::PutIdempotency(idem("alice", "fresh", 5_000)),
        StoreOp::PutIdempotency(idem("bob", "x", 5_000)),
        StoreOp::PutCredential(credential("c1", "j1")),
        StoreOp::PutCredential(credential("c2", "j2")),
    ])
    .unwrap();
    s.apply(&[
        StoreOp::PruneExpiredSessions {
            now_unix_micros: 1_000,
        },
        StoreOp::DeleteJob("j1".into()),
        StoreOp::DeleteIdempotency {
            principal: "bob".into(),
            key: "x".into(),
        },
        StoreOp::PruneExpiredIdempotency {
            now_unix_micros: 1_000,
        },
        StoreOp::DeleteCredential("c1".into()),
    ])
    .unwrap();
    assert_eq!(
        s.sessions().unwrap(),
        vec![session("keep", 1, Some(10_000))]
    );
    assert_eq!(seqs(&s, "expired"), Vec::<u64>::new());
    assert_eq!(seqs(&s, "keep"), vec![1]);
    assert_eq!(s.jobs().unwrap(), vec![job("j2", "keep", 2, false)]);
    assert_eq!(
        s.idempotency_records().unwrap(),
        vec![idem("alice", "fresh", 5_000)]
    );
    assert_eq!(
        s.outstanding_credentials().unwrap(),
        vec![credential("c2", "j2")]
    );
}
