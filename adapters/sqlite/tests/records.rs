//! Sessions, jobs, idempotency entries and credentials: upserts, listings, deletes, expiry.

mod common;

use arcp_sqlite::{SqliteStore, StoreError};
use common::{credential, event, idem, job, seqs, session};

fn store() -> SqliteStore {
    SqliteStore::open_in_memory().unwrap()
}

#[test]
fn session_upsert_replaces_fields_and_features() {
    let mut s = store();
    s.put_session(&session("s1", 0, None)).unwrap();
    assert_eq!(s.sessions().unwrap(), vec![session("s1", 0, None)]);
    assert_eq!(s.session("s1").unwrap(), Some(session("s1", 0, None)));
    assert_eq!(s.session("s2").unwrap(), None);

    let mut updated = session("s1", 42, Some(1_700_000_600_000_000));
    updated.resume_token_hash = "sha256:rotated".to_owned();
    updated.features = vec!["subscribe".to_owned()];
    s.put_session(&updated).unwrap();
    let all = s.sessions().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].resume_token_hash, "sha256:rotated");
    assert_eq!(all[0].last_event_seq, 42);
    assert_eq!(all[0].window_expires_at, Some(1_700_000_600_000_000));
    assert_eq!(all[0].features, vec!["subscribe".to_owned()]);

    // Back to attached, no features at all.
    updated.window_expires_at = None;
    updated.features.clear();
    s.put_session(&updated).unwrap();
    assert_eq!(s.sessions().unwrap(), vec![updated]);
}

#[test]
fn sessions_are_listed_by_id_with_their_own_features() {
    let mut s = store();
    let mut b = session("b", 1, None);
    b.features = vec!["z".into(), "a".into(), "m".into()];
    s.put_session(&b).unwrap();
    s.put_session(&session("a", 2, Some(5))).unwrap();
    let all = s.sessions().unwrap();
    assert_eq!(all, vec![session("a", 2, Some(5)), b]);
    // Feature order is kept as given, not sorted.
    assert_eq!(all[1].features, vec!["z", "a", "m"]);
    assert_eq!(
        s.session("b").unwrap().unwrap().features,
        vec!["z", "a", "m"]
    );
    assert_eq!(s.session("a").unwrap(), Some(session("a", 2, Some(5))));
}

#[test]
fn session_last_seq_above_i64_max_is_refused() {
    let mut s = store();
    let err = s
        .put_session(&session("s1", i64::MAX as u64 + 1, None))
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::SeqOutOfRange {
            seq: 9_223_372_036_854_775_808
        }
    ));
    assert_eq!(s.sessions().unwrap(), vec![]);
}

#[test]
fn delete_session_removes_its_events_only() {
    let mut s = store();
    s.put_session(&session("s1", 2, None)).unwrap();
    s.put_session(&session("s2", 1, None)).unwrap();
    s.append_events(&[
        event("s1", 1, None),
        event("s1", 2, None),
        event("s2", 1, None),
    ])
    .unwrap();
    s.put_job(&job("j1", "s1", 10, false)).unwrap();
    s.delete_session("s1").unwrap();
    assert_eq!(s.sessions().unwrap(), vec![session("s2", 1, None)]);
    assert_eq!(seqs(&s, "s1"), Vec::<u64>::new());
    assert_eq!(seqs(&s, "s2"), vec![1]);
    // Jobs outlive sessions.
    assert_eq!(s.jobs().unwrap(), vec![job("j1", "s1", 10, false)]);
    // Unknown sessions are not an error.
    s.delete_session("s1").unwrap();
    // A re-created session with the same id starts without the old features.
    let mut again = session("s1", 0, None);
    again.features.clear();
    s.put_session(&again).unwrap();
    assert_eq!(s.sessions().unwrap()[0], again);
}

#[test]
fn prune_expired_sessions_uses_window_and_keeps_attached() {
    let mut s = store();
    s.put_session(&session("attached", 3, None)).unwrap();
    s.put_session(&session("early", 1, Some(1_000))).unwrap();
    s.put_session(&session("boundary", 1, Some(2_000))).unwrap();
    s.put_session(&session("later", 1, Some(2_001))).unwrap();
    for id in ["attached", "early", "boundary", "later"] {
        s.append_events(&[event(id, 1, None)]).unwrap();
    }
    // A window closing exactly at `now` has elapsed.
    assert_eq!(s.prune_expired_sessions(2_000).unwrap(), 2);
    let ids: Vec<_> = s
        .sessions()
        .unwrap()
        .into_iter()
        .map(|r| r.session_id)
        .collect();
    assert_eq!(ids, vec!["attached", "later"]);
    assert_eq!(seqs(&s, "early"), Vec::<u64>::new());
    assert_eq!(seqs(&s, "boundary"), Vec::<u64>::new());
    assert_eq!(seqs(&s, "later"), vec![1]);
    assert_eq!(seqs(&s, "attached"), vec![1]);
    // Nothing further to prune at the same instant; the attached one never expires.
    assert_eq!(s.prune_expired_sessions(2_000).unwrap(), 0);
    assert_eq!(s.prune_expired_sessions(i64::MAX).unwrap(), 1);
    let ids: Vec<_> = s
        .sessions()
        .unwrap()
        .into_iter()
        .map(|r| r.session_id)
        .collect();
    assert_eq!(ids, vec!["attached"]);
}

#[test]
fn jobs_upsert_get_list_delete() {
    let mut s = store();
    s.put_job(&job("j2", "s1", 200, false)).unwrap();
    s.put_job(&job("j1", "s1", 100, false)).unwrap();
    s.put_job(&job("j0", "s2", 200, true)).unwrap();
    // Ordered by submitted_at, then job_id.
    let ids: Vec<_> = s.jobs().unwrap().into_iter().map(|j| j.job_id).collect();
    assert_eq!(ids, vec!["j1", "j0", "j2"]);

    let mut done = job("j1", "s1", 100, true);
    done.data = br#"{"final":"success"}"#.to_vec();
    s.put_job(&done).unwrap();
    assert_eq!(s.job("j1").unwrap(), Some(done));
    assert_eq!(s.job("missing").unwrap(), None);
    let non_terminal: Vec<_> = s
        .jobs()
        .unwrap()
        .into_iter()
        .filter(|j| !j.terminal)
        .map(|j| j.job_id)
        .collect();
    assert_eq!(non_terminal, vec!["j2"]);

    s.delete_job("j0").unwrap();
    s.delete_job("j0").unwrap();
    assert_eq!(s.jobs().unwrap().len(), 2);
}

#[test]
fn idempotency_scoped_per_principal_and_pruned_by_expiry() {
    let mut s = store();
    s.put_idempotency(&idem("alice", "k1", 1_000)).unwrap();
    s.put_idempotency(&idem("bob", "k1", 3_000)).unwrap();
    s.put_idempotency(&idem("alice", "k2", 2_000)).unwrap();
    assert_eq!(
        s.idempotency("alice", "k1").unwrap(),
        Some(idem("alice", "k1", 1_000))
    );
    assert_eq!(
        s.idempotency("bob", "k1").unwrap(),
        Some(idem("bob", "k1", 3_000))
    );
    assert_eq!(s.idempotency("carol", "k1").unwrap(), None);

    // Upsert replaces.
    let mut replaced = idem("alice", "k1", 1_500);
    replaced.fingerprint = "fp-other".to_owned();
    s.put_idempotency(&replaced).unwrap();
    assert_eq!(
        s.idempotency("alice", "k1").unwrap(),
        Some(replaced.clone())
    );

    assert_eq!(
        s.idempotency_records().unwrap(),
        vec![
            replaced,
            idem("alice", "k2", 2_000),
            idem("bob", "k1", 3_000)
        ]
    );
    // expires_at <= now is gone.
    assert_eq!(s.prune_expired_idempotency(2_000).unwrap(), 2);
    assert_eq!(
        s.idempotency_records().unwrap(),
        vec![idem("bob", "k1", 3_000)]
    );
    assert_eq!(s.prune_expired_idempotency(2_999).unwrap(), 0);

    s.delete_idempotency("bob", "k1").unwrap();
    s.delete_idempotency("bob", "k1").unwrap();
    assert_eq!(s.idempotency_records().unwrap(), vec![]);
}

#[test]
fn credentials_outstanding_until_deleted() {
    let mut s = store();
    s.put_credential(&credential("c2", "j1")).unwrap();
    s.put_credential(&credential("c1", "j1")).unwrap();
    s.put_credential(&credential("c3", "j2")).unwrap();
    assert_eq!(
        s.outstanding_credentials().unwrap(),
        vec![
            credential("c1", "j1"),
            credential("c2", "j1"),
            credential("c3", "j2")
        ]
    );
    let mut rotated = credential("c2", "j1");
    rotated.data = b"rotated".to_vec();
    s.put_credential(&rotated).unwrap();
    s.delete_credential("c1").unwrap();
    s.delete_credential("never-existed").unwrap();
    assert_eq!(
        s.outstanding_credentials().unwrap(),
        vec![rotated, credential("c3", "j2")]
    );
}
