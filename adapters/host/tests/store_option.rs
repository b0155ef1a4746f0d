//! `ServerOptions::store`: any `arcp_store::Store` instead of a SQLite path. Building
//! restores from it (dropping what lapsed by the wall time of `now`), the runtime is durable,
//! and the same store comes back out for the adapter's store thread.

use arcp_host::server::Store;
use arcp_sqlite::{SessionRecord, SqliteStore, StoreOp, StoredEvent};

mod support;
use support::*;

fn session(id: &str, window: i64) -> SessionRecord {
    SessionRecord {
        session_id: id.into(),
        principal: "alice".into(),
        resume_token_hash: "sha256:x".into(),
        last_event_seq: 4,
        window_expires_at: Some(window),
        features: vec!["ack".into()],
    }
}

#[test]
fn a_given_store_is_restored_from_and_handed_back() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    store
        .apply(&[
            StoreOp::PutSession(session("sess_gone", UNIX_MICROS_AT_0)),
            StoreOp::PutSession(session("sess_live", UNIX_MICROS_AT_0 + 1)),
            StoreOp::AppendEvents(
                (5..=6)
                    .map(|seq| StoredEvent {
                        session_id: "sess_live".into(),
                        event_seq: seq,
                        job_id: None,
                        frame: b"{}".to_vec(),
                    })
                    .collect(),
            ),
        ])
        .unwrap();
    let mut opts = ServerOptions {
        store: Some(Box::new(store)),
        ..demo_opts()
    };
    assert!(opts.is_durable());
    let now = Instant::from_micros(0);
    let built = opts
        .build(
            "host-test",
            "0.0.0",
            now,
            WallClock::new(now, UNIX_MICROS_AT_0),
            Box::new(SeededEntropy::new(1)),
        )
        .unwrap();
    assert!(opts.store.is_none(), "the store moved into the build");
    assert!(built.runtime.config().durable);
    // The window closing exactly at `now` has closed; the live session's counter is its
    // highest stored event.
    assert_eq!(built.runtime.session_last_seq(&"sess_gone".into()), None);
    assert_eq!(built.runtime.session_last_seq(&"sess_live".into()), Some(6));
    let (_host, store) = ServerHost::new(
        now,
        built,
        Arc::new(NoLink),
        false,
        Box::new(SeededEntropy::new(2)),
    );
    let mut store = store.expect("the durable store comes back for the store thread");
    let ids: Vec<String> = (store.sessions().unwrap().into_iter())
        .map(|s| s.session_id)
        .collect();
    assert_eq!(ids, ["sess_live"]);
}

#[test]
fn without_db_or_store_there_is_no_store() {
    let mut opts = demo_opts();
    assert!(!opts.is_durable());
    let now = Instant::from_micros(0);
    let built = opts
        .build(
            "host-test",
            "0.0.0",
            now,
            WallClock::new(now, UNIX_MICROS_AT_0),
            Box::new(SeededEntropy::new(1)),
        )
        .unwrap();
    assert!(built.store.is_none());
    assert!(!built.runtime.config().durable);
}
