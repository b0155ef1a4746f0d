//! The records' checks (sessions, jobs, idempotency entries, credentials) and the batch
//! semantics of `apply`.

use super::{append, credential, event, idem, job, seqs, session};
use crate::{Store, StoreError, StoreOp};

/// `PutSession` upserts; features keep their order and are replaced whole.
pub fn sessions_upsert_with_ordered_features(s: &mut dyn Store) {
    let mut rec = session("s1", 3, None);
    rec.features = vec!["z".into(), "a".into(), "m".into()];
    s.apply(&[StoreOp::PutSession(rec.clone())]).unwrap();
    assert_eq!(s.session("s1").unwrap(), Some(rec.clone()));
    rec.features = vec!["ack".into()];
    rec.last_event_seq = 9;
    rec.window_expires_at = Some(-5);
    rec.resume_token_hash = "sha256:new".into();
    rec.principal = "bob".into();
    s.apply(&[StoreOp::PutSession(rec.clone())]).unwrap();
    assert_eq!(s.sessions().unwrap(), vec![rec.clone()]);
    rec.features = Vec::new();
    s.apply(&[StoreOp::PutSession(rec.clone())]).unwrap();
    assert_eq!(s.session("s1").unwrap(), Some(rec));
    assert_eq!(s.session("s2").unwrap(), None);
}

/// Listings order by bytes, not by a locale (`B` < `a` < `b`), for every record kind.
pub fn listings_are_ordered_bytewise(s: &mut dyn Store) {
    s.apply(&[
        StoreOp::PutSession(session("b", 0, None)),
        StoreOp::PutSession(session("B", 0, None)),
        StoreOp::PutSession(session("a", 0, None)),
        StoreOp::PutJob(job("b", "a", 7, false)),
        StoreOp::PutJob(job("a", "a", 7, false)),
        StoreOp::PutJob(job("B", "a", 7, false)),
        StoreOp::PutIdempotency(idem("b", "k", 1)),
        StoreOp::PutIdempotency(idem("B", "k", 1)),
        StoreOp::PutIdempotency(idem("a", "k", 1)),
        StoreOp::PutCredential(credential("b", "j")),
        StoreOp::PutCredential(credential("B", "j")),
        StoreOp::PutCredential(credential("a", "j")),
    ])
    .unwrap();
    let ids: Vec<String> = s
        .sessions()
        .unwrap()
        .into_iter()
        .map(|r| r.session_id)
        .collect();
    assert_eq!(ids, ["B", "a", "b"]);
    let ids: Vec<String> = s.jobs().unwrap().into_iter().map(|r| r.job_id).collect();
    assert_eq!(ids, ["B", "a", "b"]);
    let ids: Vec<String> = (s.idempotency_records().unwrap().into_iter())
        .map(|r| r.principal)
        .collect();
    assert_eq!(ids, ["B", "a", "b"]);
    let ids: Vec<String> = (s.outstanding_credentials().unwrap().into_iter())
        .map(|r| r.credential_id)
        .collect();
    assert_eq!(ids, ["B", "a", "b"]);
}

/// `DeleteSession` removes the record, its features and its events; jobs stay.
pub fn delete_session_removes_its_events_not_its_jobs(s: &mut dyn Store) {
    s.apply(&[
        StoreOp::PutSession(session("s1", 2, None)),
        StoreOp::PutSession(session("s2", 1, None)),
        StoreOp::AppendEvents(vec![event("s1", 1, None), event("s2", 1, None)]),
        StoreOp::PutJob(job("j1", "s1", 1, false)),
        StoreOp::DeleteSession("s1".into()),
        StoreOp::DeleteSession("unknown".into()),
    ])
    .unwrap();
    assert_eq!(s.sessions().unwrap(), vec![session("s2", 1, None)]);
    assert_eq!(seqs(s, "s1"), Vec::<u64>::new());
    assert_eq!(seqs(s, "s2"), vec![1]);
    assert_eq!(s.jobs().unwrap(), vec![job("j1", "s1", 1, false)]);
    // A session stored again starts without the old features or events.
    s.apply(&[StoreOp::PutSession(session("s1", 0, None))])
        .unwrap();
    assert_eq!(s.session("s1").unwrap(), Some(session("s1", 0, None)));
}

/// `PruneExpiredSessions` removes windows closed at `now` (inclusive), with their events;
/// attached sessions (no window) and open windows stay.
pub fn prune_expired_sessions_keeps_attached_and_open_windows(s: &mut dyn Store) {
    s.apply(&[
        StoreOp::PutSession(session("closed", 1, Some(999))),
        StoreOp::PutSession(session("boundary", 1, Some(1_000))),
        StoreOp::PutSession(session("open", 1, Some(1_001))),
        StoreOp::PutSession(session("attached", 1, None)),
        StoreOp::AppendEvents(vec![
            event("closed", 1, None),
            event("boundary", 1, None),
            event("open", 1, None),
            event("attached", 1, None),
        ]),
        StoreOp::PruneExpiredSessions {
            now_unix_micros: 1_000,
        },
    ])
    .unwrap();
    let ids: Vec<String> = s
        .sessions()
        .unwrap()
        .into_iter()
        .map(|r| r.session_id)
        .collect();
    assert_eq!(ids, ["attached", "open"]);
    assert_eq!(seqs(s, "closed"), Vec::<u64>::new());
    assert_eq!(seqs(s, "boundary"), Vec::<u64>::new());
    assert_eq!(seqs(s, "open"), vec![1]);
    assert_eq!(seqs(s, "attached"), vec![1]);
    assert_eq!(s.session("closed").unwrap(), None);
}

/// `PutJob` upserts every column; jobs list by `(submitted_at, job_id)`; `DeleteJob`.
pub fn jobs_upsert_lookup_and_order(s: &mut dyn Store) {
    s.apply(&[
        StoreOp::PutJob(job("j3", "s1", 5, false)),
        StoreOp::PutJob(job("j1", "s1", 10, false)),
        StoreOp::PutJob(job("j2", "s1", 5, false)),
        StoreOp::PutJob(job("j0", "s1", -3, false)),
    ])
    .unwrap();
    let ids: Vec<String> = s.jobs().unwrap().into_iter().map(|r| r.job_id).collect();
    assert_eq!(ids, ["j0", "j2", "j3", "j1"]);
    let mut done = job("j1", "s9", 11, true);
    done.principal = "bob".into();
    done.agent = "versioned@2.0.0".into();
    done.data = vec![0, 159, 255];
    s.apply(&[StoreOp::PutJob(done.clone())]).unwrap();
    assert_eq!(s.job("j1").unwrap(), Some(done));
    assert_eq!(s.job("nope").unwrap(), None);
    s.apply(&[
        StoreOp::DeleteJob("j2".into()),
        StoreOp::DeleteJob("nope".into()),
    ])
    .unwrap();
    let ids: Vec<String> = s.jobs().unwrap().into_iter().map(|r| r.job_id).collect();
    assert_eq!(ids, ["j0", "j3", "j1"]);
}

/// Idempotency entries: upsert, lookup (expiry not checked), delete, prune at `<= now`.
pub fn idempotency_upsert_lookup_delete_prune(s: &mut dyn Store) {
    s.apply(&[
        StoreOp::PutIdempotency(idem("alice", "k1", 100)),
        StoreOp::PutIdempotency(idem("alice", "k2", 200)),
        StoreOp::PutIdempotency(idem("bob", "k1", 300)),
    ])
    .unwrap();
    let mut newer = idem("alice", "k1", 400);
    newer.fingerprint = "fp:other".into();
    newer.job_id = "job_other".into();
    newer.accepted = Vec::new();
    s.apply(&[StoreOp::PutIdempotency(newer.clone())]).unwrap();
    assert_eq!(s.idempotency("alice", "k1").unwrap(), Some(newer.clone()));
    assert_eq!(s.idempotency("carol", "k1").unwrap(), None);
    s.apply(&[
        StoreOp::DeleteIdempotency {
            principal: "bob".into(),
            key: "k1".into(),
        },
        StoreOp::DeleteIdempotency {
            principal: "bob".into(),
            key: "absent".into(),
        },
    ])
    .unwrap();
    assert_eq!(
        s.idempotency_records().unwrap(),
        vec![newer.clone(), idem("alice", "k2", 200)]
    );
    s.apply(&[StoreOp::PruneExpiredIdempotency {
        now_unix_micros: 200,
    }])
    .unwrap();
    assert_eq!(s.idempotency_records().unwrap(), vec![newer]);
}

/// Credentials: upsert (replacing job and data), delete, listing by id.
pub fn credentials_upsert_and_delete(s: &mut dyn Store) {
    s.apply(&[
        StoreOp::PutCredential(credential("c2", "j1")),
        StoreOp::PutCredential(credential("c1", "j1")),
    ])
    .unwrap();
    let mut moved = credential("c2", "j9");
    moved.data = b"revoke-with-this".to_vec();
    s.apply(&[
        StoreOp::PutCredential(moved.clone()),
        StoreOp::DeleteCredential("c1".into()),
        StoreOp::DeleteCredential("unknown".into()),
    ])
    .unwrap();
    assert_eq!(s.outstanding_credentials().unwrap(), vec![moved]);
}

/// One batch of every kind lands together.
pub fn mixed_batch_lands_together(s: &mut dyn Store) {
    s.apply(&[
        StoreOp::PutSession(session("s1", 2, None)),
        StoreOp::AppendEvents(vec![event("s1", 1, Some("j1")), event("s1", 2, Some("j1"))]),
        StoreOp::PutJob(job("j1", "s1", 100, false)),
        StoreOp::PutIdempotency(idem("alice", "k", 9_000)),
        StoreOp::PutCredential(credential("c1", "j1")),
    ])
    .unwrap();
    assert_eq!(s.sessions().unwrap(), vec![session("s1", 2, None)]);
    assert_eq!(seqs(s, "s1"), vec![1, 2]);
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

/// A failing operation rolls back every operation before it in the batch.
pub fn a_failing_op_rolls_back_the_ops_before_it(s: &mut dyn Store) {
    append(s, vec![event("s1", 1, None)]).unwrap();
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
    assert!(
        matches!(err, StoreError::DuplicateEvent { ref session_id, event_seq: 2 } if session_id == "s1"),
        "{err:?}"
    );
    assert_eq!(s.sessions().unwrap(), vec![]);
    assert_eq!(s.jobs().unwrap(), vec![]);
    assert_eq!(s.outstanding_credentials().unwrap(), vec![]);
    assert_eq!(s.idempotency_records().unwrap(), vec![]);
    assert_eq!(seqs(s, "s1"), vec![1]);
    // A failed batch leaves the store usable.
    s.apply(&[StoreOp::PutSession(session("s1", 5, None))])
        .unwrap();
    assert_eq!(s.sessions().unwrap(), vec![session("s1", 5, None)]);
}

/// Operations apply in their order within the batch.
pub fn ops_run_in_order_within_the_batch(s: &mut dyn Store) {
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
        StoreOp::PutCredential(credential("c1", "j1")),
        StoreOp::DeleteCredential("c1".into()),
    ])
    .unwrap();
    assert_eq!(seqs(s, "s1"), vec![4, 5]);
    assert_eq!(seqs(s, "gone"), Vec::<u64>::new());
    assert_eq!(s.sessions().unwrap(), vec![]);
    assert_eq!(s.jobs().unwrap(), vec![job("j1", "s1", 1, true)]);
    assert_eq!(s.outstanding_credentials().unwrap(), vec![]);
}

/// An empty batch, and an empty append, commit nothing and fail nothing.
pub fn empty_batch_is_a_no_op(s: &mut dyn Store) {
    s.apply(&[]).unwrap();
    s.apply(&[StoreOp::AppendEvents(Vec::new())]).unwrap();
    assert_eq!(seqs(s, "s1"), Vec::<u64>::new());
    assert_eq!(s.sessions().unwrap(), vec![]);
    assert_eq!(s.jobs().unwrap(), vec![]);
}
