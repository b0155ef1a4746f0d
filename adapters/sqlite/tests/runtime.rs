//! arcp-store's runtime mapping on a `SqliteStore`: a batch commits in one transaction and
//! its reads see it; `restore` drops lapsed sessions and keeps live ones with their seq.

use arcp_proto::runtime::{Effect, EffectId, EffectOutcome, StoredFrame};
use arcp_proto::wire::{Frame, Message, Pong, Timestamp};
use arcp_sqlite::SqliteStore;
use arcp_sqlite::runtime::{Batch, restore, run_batch};

#[test]
fn a_batch_commits_in_one_transaction_and_reads_see_it() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let mut b = Batch::default();
    let f = Frame::new(
        "01J0000000000000000000000A",
        Message::Pong(Pong {
            ping_nonce: "n".into(),
            received_at: Timestamp::from_unix_micros(0),
        }),
    )
    .with_session("sess_1")
    .with_event_seq(1);
    assert!(b.push(
        Some(EffectId(1)),
        &Effect::AppendEvents(vec![StoredFrame::new(
            "sess_1".into(),
            1,
            None,
            f.clone(),
            f.encode().into(),
        )])
    ));
    assert!(b.push(
        Some(EffectId(2)),
        &Effect::ReadEvents {
            session_id: "sess_1".into(),
            after_seq: 0
        }
    ));
    assert!(!b.push(
        Some(EffectId(3)),
        &Effect::CancelAgent { job_id: "j".into() }
    ));
    let out = run_batch(&mut store, b, 100);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], (EffectId(1), EffectOutcome::Done));
    assert_eq!(
        out[1],
        (EffectId(2), EffectOutcome::EventsRead { frames: vec![f] })
    );
}

#[test]
fn a_failed_batch_fails_every_effect_with_the_store_error() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let f = Frame::new(
        "01J0000000000000000000000B",
        Message::Pong(Pong {
            ping_nonce: "n".into(),
            received_at: Timestamp::from_unix_micros(0),
        }),
    );
    let stored = || StoredFrame::new("sess_1".into(), 1, None, f.clone(), f.encode().into());
    let mut b = Batch::default();
    b.push(Some(EffectId(1)), &Effect::AppendEvents(vec![stored()]));
    b.push(Some(EffectId(2)), &Effect::AppendEvents(vec![stored()]));
    let out = run_batch(&mut store, b, 100);
    let failed = EffectOutcome::Failed {
        message: "durable store: duplicate event: session sess_1 already holds event_seq 1".into(),
    };
    assert_eq!(
        out,
        vec![(EffectId(1), failed.clone()), (EffectId(2), failed)]
    );
    assert_eq!(store.last_event_seq("sess_1").unwrap(), None);
}

#[test]
fn restore_drops_lapsed_sessions_and_keeps_live_ones_with_their_seq() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    {
        let mut st = SqliteStore::open(&path).unwrap();
        let rec = |id: &str, window: Option<i64>| arcp_sqlite::SessionRecord {
            session_id: id.into(),
            principal: "alice".into(),
            resume_token_hash: "h".into(),
            last_event_seq: 2,
            window_expires_at: window,
            features: vec!["ack".into()],
        };
        st.put_session(&rec("sess_gone", Some(1_000))).unwrap();
        st.put_session(&rec("sess_live", Some(1_001))).unwrap();
        st.put_session(&rec("sess_attached", None)).unwrap();
        // Appends ran ahead of the live session's record.
        st.append_events(&[arcp_sqlite::StoredEvent {
            session_id: "sess_live".into(),
            event_seq: 5,
            job_id: None,
            frame: b"{}".to_vec(),
        }])
        .unwrap();
    }
    let mut st = SqliteStore::open(&path).unwrap();
    let snap = restore(&mut st, 1_000).unwrap();
    let got: Vec<(String, u64)> = snap
        .sessions
        .iter()
        .map(|s| (s.session_id.to_string(), s.last_event_seq))
        .collect();
    assert_eq!(
        got,
        vec![("sess_attached".into(), 2), ("sess_live".into(), 5)]
    );
    assert_eq!(st.session("sess_gone").unwrap(), None);
}
