//! `SqliteStore::apply`: several operations, one transaction, in order.

mod common;

use arcp_sqlite::{SqliteStore, StoreError, StoreOp};
use common::{credential, event, idem, job, seqs, session};

fn store() -> SqliteStore {
    SqliteStore::open_in_memory().unwrap()
}

#[test]
fn mixed_batch_lands_together() {
    let mut s = store();
    s.apply(&[
        StoreOp::PutSession(session("s1", 2, None)),
        StoreOp::AppendEvents(vec![event("s1", 1, Some("j1")), event("s1", 2, Some("j1"))]),
        StoreOp::PutJob(job("j1", "s1", 100, false)),
        StoreOp::PutIdempotency(idem("alice", "k", 9_000)),
        StoreOp::PutCredential(credential("c1", "j1")),
    ])
    .unwrap();
    assert_eq!(s.sessions().unwrap(), vec![session("s1", 2, None)]);
    assert_eq!(seqs(&s, "s1"), vec![1, 2]);
    assert_eq!(s.jobs().unwrap(), vec![job("j1", "s1", 100, false)]);
    assert_eq!(
        s.idempotency("alice", "k").unwrap(),
        Some(idem("alice", "k", 9_000))
    );
    assert_eq!(
        s.outstanding_credentials().unwrap(),
        vec![credential("c1", "j1")]
    );
}

#[test]
fn a_failing_op_rolls_back_the_ops_before_it() {
    let mut s = store();
    s.append_events(&[event("s1", 1, None)]).unwrap();
    let err = s
        .apply(&[
            StoreOp::PutSession(session("s1", 5, None)),
            StoreOp::PutJob(job("j1", "s1", 100, false)),
            StoreOp::PutCredential(credential("c1", "j1")),
            StoreOp::PruneAcked {
                session_id: "s1".into(),
                up_to_seq: 1,
            },
            StoreOp::AppendEvents(vec![event("s1", 2, None), event("s1", 2, None)]),
            StoreOp::PutIdempotency(idem("alice", "k", 1)),
        ])
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::DuplicateEvent { ref session_id, event_seq: 2 } if session_id == "s1"
    ));
    assert_eq!(s.sessions().unwrap(), vec![]);
    assert_eq!(s.jobs().unwrap(), vec![]);
    assert_eq!(s.outstanding_credentials().unwrap(), vec![]);
    assert_eq!(s.idempotency_records().unwrap(), vec![]);
    // The prune before the failure was rolled back too.
    assert_eq!(seqs(&s, "s1"), vec![1]);
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
fn ops_run_in_order_within_the_batch() {
    let mut s = store();
    s.apply(&[
        StoreOp::AppendEvents((1..=5).map(|n| event("s1", n, None)).collect()),
        StoreOp::PruneAcked {
            session_id: "s1".into(),
            up_to_seq: 3,
        },
        StoreOp::PutSession(session("gone", 0, None)),
        StoreOp::AppendEvents(vec![event("gone", 1, None)]),
        StoreOp::DeleteSession("gone".into()),
        StoreOp::PutJob(job("j1", "s1", 1, false)),
        StoreOp::PutJob(job("j1", "s1", 1, true)),
    ])
    .unwrap();
    assert_eq!(seqs(&s, "s1"), vec![4, 5]);
    assert_eq!(seqs(&s, "gone"), Vec::<u64>::new());
    assert_eq!(s.sessions().unwrap(), vec![]);
    assert_eq!(s.jobs().unwrap(), vec![job("j1", "s1", 1, true)]);
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
