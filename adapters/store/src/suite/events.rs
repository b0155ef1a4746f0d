//! The event log's checks: appends, ordered and bounded reads, duplicates, the seq range,
//! pruning on ack, one job's events.

use super::{append, event, prune_acked, seqs};
use crate::{Store, StoreError, StoreOp, StoredEvent};

/// Events appended out of order are read back in seq order, frames byte for byte.
pub fn append_then_read_in_seq_order(s: &mut dyn Store) {
    append(s, vec![event("s1", 3, None), event("s1", 1, Some("j1"))]).unwrap();
    append(s, vec![event("s1", 2, Some("j1"))]).unwrap();
    let got = s.read_events("s1", 0, 100).unwrap();
    assert_eq!(
        got,
        vec![
            event("s1", 1, Some("j1")),
            event("s1", 2, Some("j1")),
            event("s1", 3, None)
        ]
    );
    assert_eq!(s.last_event_seq("s1").unwrap(), Some(3));
}

/// `after_seq` is exclusive, `limit` caps the count, zero reads nothing.
pub fn read_respects_after_seq_and_limit(s: &mut dyn Store) {
    append(s, (1..=10).map(|n| event("s1", n, None)).collect()).unwrap();
    let seq_of = |v: Vec<StoredEvent>| v.iter().map(|e| e.event_seq).collect::<Vec<_>>();
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
    assert_eq!(seq_of(s.read_events("s1", 0, 1).unwrap()), vec![1]);
    assert_eq!(
        seq_of(s.read_events("nope", 0, 100).unwrap()),
        Vec::<u64>::new()
    );
}

/// Each session has its own seq space and its own highest stored seq.
pub fn sessions_have_separate_seq_spaces(s: &mut dyn Store) {
    append(
        s,
        vec![
            event("a", 1, None),
            event("b", 1, None),
            event("a", 2, None),
        ],
    )
    .unwrap();
    assert_eq!(seqs(s, "a"), vec![1, 2]);
    assert_eq!(seqs(s, "b"), vec![1]);
    assert_eq!(seqs(s, "c"), Vec::<u64>::new());
    assert_eq!(s.last_event_seq("a").unwrap(), Some(2));
    assert_eq!(s.last_event_seq("b").unwrap(), Some(1));
    assert_eq!(s.last_event_seq("c").unwrap(), None);
}

/// An append hitting a stored `(session, seq)` fails with `DuplicateEvent` and stores none
/// of its batch; the store stays usable.
pub fn duplicate_against_stored_event_rolls_back_whole_batch(s: &mut dyn Store) {
    append(s, vec![event("s1", 1, None), event("s1", 2, None)]).unwrap();
    let err = append(s, vec![event("s1", 3, None), event("s1", 2, None)]).unwrap_err();
    match err {
        StoreError::DuplicateEvent {
            session_id,
            event_seq,
        } => {
            assert_eq!(session_id, "s1");
            assert_eq!(event_seq, 2);
        }
        other => panic!("expected DuplicateEvent, got {other:?}"),
    }
    assert_eq!(seqs(s, "s1"), vec![1, 2]);
    assert_eq!(s.last_event_seq("s1").unwrap(), Some(2));
    append(s, vec![event("s1", 3, None)]).unwrap();
    assert_eq!(seqs(s, "s1"), vec![1, 2, 3]);
}

/// The same `(session, seq)` twice in one batch is a duplicate too.
pub fn duplicate_within_one_batch_is_refused(s: &mut dyn Store) {
    let err = append(
        s,
        vec![
            event("s2", 1, None),
            event("s1", 7, None),
            event("s1", 7, None),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateEvent { ref session_id, event_seq: 7 } if session_id == "s1"),
        "{err:?}"
    );
    assert_eq!(seqs(s, "s1"), Vec::<u64>::new());
    assert_eq!(seqs(s, "s2"), Vec::<u64>::new());
}

/// A batch of hundreds of events (a store may write it in multi-row chunks) lands whole and
/// in order; a duplicate deep inside one — of a stored event, or of an earlier event of the
/// same batch — is named exactly and stores nothing of its batch.
pub fn large_batches_land_whole_and_name_their_first_duplicate(s: &mut dyn Store) {
    let batch = |seqs: &mut dyn Iterator<Item = u64>| -> Vec<StoredEvent> {
        seqs.map(|n| event("s1", n, Some("j1"))).collect()
    };
    append(s, batch(&mut (1..=200))).unwrap();
    assert_eq!(seqs(s, "s1"), (1..=200).collect::<Vec<_>>());
    let read = s.read_events("s1", 130, 3).unwrap();
    assert_eq!(read, batch(&mut (131..=133)));
    // 201..=400 with 150 (stored) at position 100 and 350 once more at the end: 150 is
    // named.
    let mut dup = batch(&mut (201..=400));
    dup.insert(100, event("s1", 150, Some("j1")));
    dup.push(event("s1", 350, Some("j1")));
    let err = append(s, dup).unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateEvent { ref session_id, event_seq: 150 } if session_id == "s1"),
        "{err:?}"
    );
    // 301..=430 with 400 repeated right after itself (positions 99 and 100): the second is
    // named.
    let mut twice = batch(&mut (301..=430));
    twice.insert(100, event("s1", 400, Some("j1")));
    let err = append(s, twice).unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateEvent { ref session_id, event_seq: 400 } if session_id == "s1"),
        "{err:?}"
    );
    assert_eq!(s.last_event_seq("s1").unwrap(), Some(200));
    append(s, batch(&mut (201..=330))).unwrap();
    assert_eq!(seqs(s, "s1"), (1..=330).collect::<Vec<_>>());
}

/// A seq above `i64::MAX` is refused with `SeqOutOfRange` wherever it appears, and nothing is
/// written.
pub fn seq_above_i64_max_is_refused_without_writing(s: &mut dyn Store) {
    let too_big = i64::MAX as u64 + 1;
    let err = append(s, vec![event("s1", 1, None), event("s1", too_big, None)]).unwrap_err();
    assert!(
        matches!(err, StoreError::SeqOutOfRange { seq } if seq == too_big),
        "{err:?}"
    );
    assert_eq!(seqs(s, "s1"), Vec::<u64>::new());
    let err = s.read_events("s1", u64::MAX, 10).unwrap_err();
    assert!(
        matches!(err, StoreError::SeqOutOfRange { seq: u64::MAX }),
        "{err:?}"
    );
    let err = s.read_job_events("s1", "j", u64::MAX, 10).unwrap_err();
    assert!(
        matches!(err, StoreError::SeqOutOfRange { seq: u64::MAX }),
        "{err:?}"
    );
    let err = prune_acked(s, "s1", too_big).unwrap_err();
    assert!(
        matches!(err, StoreError::SeqOutOfRange { seq } if seq == too_big),
        "{err:?}"
    );
    let mut rec = super::session("s1", too_big, None);
    let err = s.apply(&[StoreOp::PutSession(rec.clone())]).unwrap_err();
    assert!(
        matches!(err, StoreError::SeqOutOfRange { seq } if seq == too_big),
        "{err:?}"
    );
    assert_eq!(s.sessions().unwrap(), vec![]);
    rec.last_event_seq = i64::MAX as u64;
    s.apply(&[StoreOp::PutSession(rec.clone())]).unwrap();
    assert_eq!(s.session("s1").unwrap(), Some(rec));
}

/// `i64::MAX` itself is stored, read and pruned faithfully.
pub fn i64_max_seq_round_trips(s: &mut dyn Store) {
    let max = i64::MAX as u64;
    append(s, vec![event("s1", max, None)]).unwrap();
    assert_eq!(
        s.read_events("s1", 0, 10).unwrap(),
        vec![event("s1", max, None)]
    );
    assert_eq!(s.read_events("s1", max - 1, 10).unwrap().len(), 1);
    assert_eq!(s.read_events("s1", max, 10).unwrap(), vec![]);
    assert_eq!(s.last_event_seq("s1").unwrap(), Some(max));
    prune_acked(s, "s1", max).unwrap();
    assert_eq!(s.last_event_seq("s1").unwrap(), None);
}

/// `PruneAcked` deletes `event_seq <= up_to_seq` of that session only.
pub fn prune_acked_deletes_up_to_and_including_seq(s: &mut dyn Store) {
    append(s, (1..=6).map(|n| event("s1", n, None)).collect()).unwrap();
    append(s, vec![event("s2", 1, None), event("s2", 2, None)]).unwrap();
    prune_acked(s, "s1", 4).unwrap();
    assert_eq!(seqs(s, "s1"), vec![5, 6]);
    prune_acked(s, "s1", 3).unwrap();
    assert_eq!(seqs(s, "s1"), vec![5, 6]);
    prune_acked(s, "s1", 6).unwrap();
    assert_eq!(seqs(s, "s1"), Vec::<u64>::new());
    assert_eq!(s.last_event_seq("s1").unwrap(), None);
    assert_eq!(seqs(s, "s2"), vec![1, 2]);
    prune_acked(s, "nope", 100).unwrap();
}

/// `read_job_events` keeps the session's events of that job, in order, bounded.
pub fn read_job_events_filters_by_job_within_session(s: &mut dyn Store) {
    append(
        s,
        vec![
            event("s1", 1, Some("j1")),
            event("s1", 2, Some("j2")),
            event("s1", 3, None),
            event("s1", 4, Some("j1")),
            event("s1", 5, Some("j1")),
            event("s2", 1, Some("j1")),
        ],
    )
    .unwrap();
    let seq_of = |v: Vec<StoredEvent>| v.iter().map(|e| e.event_seq).collect::<Vec<_>>();
    assert_eq!(
        seq_of(s.read_job_events("s1", "j1", 0, 100).unwrap()),
        vec![1, 4, 5]
    );
    assert_eq!(
        seq_of(s.read_job_events("s1", "j1", 1, 1).unwrap()),
        vec![4]
    );
    assert_eq!(
        seq_of(s.read_job_events("s1", "j2", 0, 100).unwrap()),
        vec![2]
    );
    assert_eq!(
        seq_of(s.read_job_events("s1", "j1", 0, 0).unwrap()),
        Vec::<u64>::new()
    );
    assert_eq!(
        seq_of(s.read_job_events("s1", "j3", 0, 100).unwrap()),
        Vec::<u64>::new()
    );
    assert_eq!(
        s.read_job_events("s2", "j1", 0, 100).unwrap(),
        vec![event("s2", 1, Some("j1"))]
    );
}

/// A 1 MiB frame holding every byte value, and non-ASCII ids, come back exactly.
pub fn frames_round_trip_byte_exact(s: &mut dyn Store) {
    let frame: Vec<u8> = (0..1_048_576u32).map(|i| (i % 256) as u8).collect();
    let big = StoredEvent {
        session_id: "sess_é🦀".to_owned(),
        event_seq: 1,
        job_id: Some("job_ü".to_owned()),
        frame,
    };
    append(s, vec![big.clone()]).unwrap();
    let got = s.read_events("sess_é🦀", 0, 10).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].frame.len(), 1_048_576);
    assert_eq!(got[0], big);
    let empty = StoredEvent {
        frame: Vec::new(),
        event_seq: 2,
        job_id: None,
        ..big
    };
    append(s, vec![empty.clone()]).unwrap();
    assert_eq!(s.read_events("sess_é🦀", 1, 10).unwrap(), vec![empty]);
}
