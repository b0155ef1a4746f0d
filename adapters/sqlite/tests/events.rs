//! The event log: batched appends, ordered reads, duplicates, seq bounds and ack pruning.

mod common;

use arcp_sqlite::{SqliteStore, StoreError};
use common::{event, seqs};

fn store() -> SqliteStore {
    SqliteStore::open_in_memory().unwrap()
}

#[test]
fn append_then_read_in_seq_order() {
    let mut s = store();
    // Appended out of order across two batches; read back sorted.
    s.append_events(&[event("s1", 3, Some("j1")), event("s1", 1, None)])
        .unwrap();
    s.append_events(&[event("s1", 2, Some("j1"))]).unwrap();
    let got = s.read_events("s1", 0, 10).unwrap();
    assert_eq!(
        got,
        vec![
            event("s1", 1, None),
            event("s1", 2, Some("j1")),
            event("s1", 3, Some("j1")),
        ]
    );
    assert_eq!(
        got[0].frame,
        br#"{"session_id":"s1","event_seq":1}"#.to_vec()
    );
}

#[test]
fn read_respects_after_seq_and_limit() {
    let mut s = store();
    let batch: Vec<_> = (1..=10).map(|n| event("s1", n, None)).collect();
    s.append_events(&batch).unwrap();
    let seq_of = |v: Vec<arcp_sqlite::StoredEvent>| -> Vec<u64> {
        v.into_iter().map(|e| e.event_seq).collect()
    };
    assert_eq!(seq_of(s.read_events("s1", 4, 3).unwrap()), vec![5, 6, 7]);
    assert_eq!(seq_of(s.read_events("s1", 8, 100).unwrap()), vec![9, 10]);
    assert_eq!(
        seq_of(s.read_events("s1", 10, 100).unwrap()),
        Vec::<u64>::new()
    );
    assert_eq!(
        seq_of(s.read_events("s1", 0, 0).unwrap()),
        Vec::<u64>::new()
    );
    assert_eq!(
        seq_of(s.read_events("s1", 0, usize::MAX).unwrap()).len(),
        10
    );
}

#[test]
fn sessions_have_separate_seq_spaces() {
    let mut s = store();
    s.append_events(&[
        event("a", 1, None),
        event("b", 1, None),
        event("a", 2, None),
    ])
    .unwrap();
    assert_eq!(seqs(&s, "a"), vec![1, 2]);
    assert_eq!(seqs(&s, "b"), vec![1]);
    assert_eq!(seqs(&s, "c"), Vec::<u64>::new());
    assert_eq!(s.last_event_seq("a").unwrap(), Some(2));
    assert_eq!(s.last_event_seq("b").unwrap(), Some(1));
    assert_eq!(s.last_event_seq("c").unwrap(), None);
}

#[test]
fn duplicate_against_stored_event_rolls_back_whole_batch() {
    let mut s = store();
    s.append_events(&[event("s1", 1, None), event("s1", 2, None)])
        .unwrap();
    // 3 and 4 are new, 2 is a duplicate: none of the batch may land.
    let err = s
        .append_events(&[
            event("s1", 3, None),
            event("s1", 2, None),
            event("s1", 4, None),
        ])
        .unwrap_err();
    match err {
        StoreError::DuplicateEvent {
            session_id,
            event_seq,
        } => {
            assert_eq!(session_id, "s1");
            assert_eq!(event_seq, 2);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(seqs(&s, "s1"), vec![1, 2]);
    assert_eq!(s.last_event_seq("s1").unwrap(), Some(2));
    // The store is still usable after the rollback.
    s.append_events(&[event("s1", 3, None)]).unwrap();
    assert_eq!(seqs(&s, "s1"), vec![1, 2, 3]);
}

#[test]
fn duplicate_within_one_batch_is_refused() {
    let mut s = store();
    let err = s
        .append_events(&[
            event("s1", 1, None),
            event("s2", 5, None),
            event("s1", 1, None),
        ])
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::DuplicateEvent { ref session_id, event_seq: 1 } if session_id == "s1"
    ));
    assert_eq!(seqs(&s, "s1"), Vec::<u64>::new());
    assert_eq!(seqs(&s, "s2"), Vec::<u64>::new());
}

#[test]
fn seq_above_i64_max_is_refused_without_writing() {
    let mut s = store();
    let too_big = i64::MAX as u64 + 1;
    let err = s
        .append_events(&[event("s1", 1, None), event("s1", too_big, None)])
        .unwrap_err();
    assert!(matches!(err, StoreError::SeqOutOfRange { seq } if seq == too_big));
    assert_eq!(seqs(&s, "s1"), Vec::<u64>::new());

    let err = s.append_events(&[event("s1", u64::MAX, None)]).unwrap_err();
    assert!(matches!(err, StoreError::SeqOutOfRange { seq: u64::MAX }));

    // Reads and prunes with an unstorable bound are refused too, not clamped silently.
    assert!(matches!(
        s.read_events("s1", u64::MAX, 1).unwrap_err(),
        StoreError::SeqOutOfRange { seq: u64::MAX }
    ));
    assert!(matches!(
        s.prune_acked("s1", too_big).unwrap_err(),
        StoreError::SeqOutOfRange { seq } if seq == too_big
    ));
}

#[test]
fn i64_max_seq_round_trips() {
    let mut s = store();
    let max = i64::MAX as u64;
    s.append_events(&[event("s1", max, None)]).unwrap();
    assert_eq!(
        s.last_event_seq("s1").unwrap(),
        Some(9_223_372_036_854_775_807)
    );
    assert_eq!(
        s.read_events("s1", max - 1, 5).unwrap(),
        vec![event("s1", max, None)]
    );
    assert_eq!(s.prune_acked("s1", max).unwrap(), 1);
    assert_eq!(s.last_event_seq("s1").unwrap(), None);
}

#[test]
fn prune_acked_deletes_up_to_and_including_seq() {
    let mut s = store();
    let batch: Vec<_> = (1..=6).map(|n| event("s1", n, None)).collect();
    s.append_events(&batch).unwrap();
    s.append_events(&[event("s2", 1, None), event("s2", 2, None)])
        .unwrap();
    assert_eq!(s.prune_acked("s1", 4).unwrap(), 4);
    assert_eq!(seqs(&s, "s1"), vec![5, 6]);
    // Acking again below what is left removes nothing.
    assert_eq!(s.prune_acked("s1", 3).unwrap(), 0);
    assert_eq!(s.prune_acked("s1", 6).unwrap(), 2);
    assert_eq!(seqs(&s, "s1"), Vec::<u64>::new());
    assert_eq!(s.last_event_seq("s1").unwrap(), None);
    // The other session is untouched.
    assert_eq!(seqs(&s, "s2"), vec![1, 2]);
    // Pruning an unknown session is a no-op.
    assert_eq!(s.prune_acked("nope", 100).unwrap(), 0);
}

#[test]
fn empty_batch_is_a_no_op() {
    let mut s = store();
    s.append_events(&[]).unwrap();
    s.apply(&[]).unwrap();
    assert_eq!(seqs(&s, "s1"), Vec::<u64>::new());
}

#[test]
fn large_frames_round_trip_byte_exact() {
    let mut s = store();
    let mut big = event("s1", 1, Some("j"));
    big.frame = (0..1_048_576_u32).map(|i| (i % 251) as u8).collect();
    s.append_events(std::slice::from_ref(&big)).unwrap();
    let got = s.read_events("s1", 0, 1).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].frame.len(), 1_048_576);
    assert_eq!(got[0], big);
}

#[test]
fn read_job_events_filters_by_job_within_session() {
    let mut s = store();
    s.append_events(&[
        event("s1", 1, Some("j1")),
        event("s1", 2, Some("j2")),
        event("s1", 3, None),
        event("s1", 4, Some("j1")),
        event("s1", 5, Some("j1")),
        event("s2", 1, Some("j1")),
    ])
    .unwrap();
    let seq_of = |v: Vec<arcp_sqlite::StoredEvent>| -> Vec<u64> {
        v.into_iter().map(|e| e.event_seq).collect()
    };
    assert_eq!(
        seq_of(s.read_job_events("s1", "j1", 0, 10).unwrap()),
        vec![1, 4, 5]
    );
    assert_eq!(
        seq_of(s.read_job_events("s1", "j1", 1, 1).unwrap()),
        vec![4]
    );
    assert_eq!(
        seq_of(s.read_job_events("s1", "j2", 0, 10).unwrap()),
        vec![2]
    );
    assert_eq!(
        seq_of(s.read_job_events("s2", "j1", 0, 10).unwrap()),
        vec![1]
    );
    assert_eq!(
        seq_of(s.read_job_events("s1", "j1", 0, 0).unwrap()),
        Vec::<u64>::new()
    );
    assert!(matches!(
        s.read_job_events("s1", "j1", u64::MAX, 1).unwrap_err(),
        StoreError::SeqOutOfRange { seq: u64::MAX }
    ));
}
