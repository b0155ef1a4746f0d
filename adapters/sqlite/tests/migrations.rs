//! A file written by schema version 1 (`tests/fixtures/schema-v1.db`, written through
//! `SqliteStore::apply` by the build of that version, then checkpointed to one file) opens
//! with this build: migrated to `SCHEMA_VERSION`, every record readable as written, and
//! writable. Never regenerate the fixture with a newer build: it stands for the files
//! deployments already have.

use arcp_sqlite::{
    CredentialRecord, IdempotencyRecord, JobRecord, SCHEMA_VERSION, SessionRecord, SqliteStore,
    StoreOp, StoredEvent,
};
use arcp_store::Store;

/// A copy of the fixture in a temporary directory (the fixture itself is never opened for
/// writing).
fn v1_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arcp.db");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join("schema-v1.db");
    std::fs::copy(fixture, &path).unwrap();
    (dir, path)
}

fn ev(session: &str, seq: u64, job: Option<&str>, frame: &str) -> StoredEvent {
    StoredEvent {
        session_id: session.into(),
        event_seq: seq,
        job_id: job.map(Into::into),
        frame: frame.as_bytes().to_vec(),
    }
}

#[test]
fn a_version_1_file_opens_migrated_with_its_data() {
    let (_dir, path) = v1_copy();
    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.journal_mode().unwrap(), "wal");
    let s: &mut dyn Store = &mut store;
    assert_eq!(
        s.sessions().unwrap(),
        vec![
            SessionRecord {
                session_id: "sess_01".into(),
                principal: "alice".into(),
                resume_token_hash: "sha256:abc".into(),
                last_event_seq: 3,
                window_expires_at: Some(1_800_000_000_000_000),
                features: vec!["heartbeat".into(), "ack".into(), "list_jobs".into()],
            },
            SessionRecord {
                session_id: "sess_02".into(),
                principal: "bob".into(),
                resume_token_hash: "sha256:def".into(),
                last_event_seq: 1,
                window_expires_at: None,
                features: vec![],
            },
        ]
    );
    assert_eq!(
        s.read_events("sess_01", 0, 100).unwrap(),
        vec![
            ev("sess_01", 1, None, r#"{"type":"session.welcome"}"#),
            ev("sess_01", 2, Some("job_01"), r#"{"type":"job.accepted"}"#),
            ev("sess_01", 3, Some("job_01"), r#"{"type":"job.event"}"#),
        ]
    );
    assert_eq!(
        s.read_events("sess_02", 0, 100).unwrap(),
        vec![ev("sess_02", 1, None, r#"{"type":"session.welcome"}"#)]
    );
    assert_eq!(
        s.jobs().unwrap(),
        vec![JobRecord {
            job_id: "job_01".into(),
            session_id: "sess_01".into(),
            principal: "alice".into(),
            agent: "echo".into(),
            status: "running".into(),
            submitted_at: 1_700_000_000_000_000,
            terminal: false,
            data: br#"{"last_event_seq":3}"#.to_vec(),
        }]
    );
    assert_eq!(
        s.idempotency_records().unwrap(),
        vec![IdempotencyRecord {
            principal: "alice".into(),
            key: "k1".into(),
            fingerprint: "fp1".into(),
            job_id: "job_01".into(),
            accepted: vec![],
            expires_at: 1_800_000_000_000_000,
        }]
    );
    assert_eq!(
        s.outstanding_credentials().unwrap(),
        vec![CredentialRecord {
            credential_id: "cred_01".into(),
            job_id: "job_01".into(),
            data: vec![],
        }]
    );
    // Writable: the next seq appends, a duplicate is still refused.
    s.apply(&[StoreOp::AppendEvents(vec![ev("sess_01", 4, None, "{}")])])
        .unwrap();
    assert_eq!(s.last_event_seq("sess_01").unwrap(), Some(4));
    assert!(
        s.apply(&[StoreOp::AppendEvents(vec![ev("sess_01", 4, None, "{}")])])
            .is_err()
    );
}

#[test]
fn a_version_1_file_restores_the_runtime_snapshot() {
    let (_dir, path) = v1_copy();
    let mut store = SqliteStore::open(&path).unwrap();
    // At a time before every window closes: both sessions kept, the idempotency key too.
    let snap = arcp_sqlite::runtime::restore(&mut store, 1_750_000_000_000_000).unwrap();
    let sessions: Vec<(String, u64)> = snap
        .sessions
        .iter()
        .map(|s| (s.session_id.to_string(), s.last_event_seq))
        .collect();
    assert_eq!(sessions, vec![("sess_01".into(), 3), ("sess_02".into(), 1)]);
    assert_eq!(snap.idempotency.len(), 1);
    assert_eq!(snap.credentials.len(), 1);
    // Past sess_01's window: it goes, with its events; the attached sess_02 stays.
    let snap = arcp_sqlite::runtime::restore(&mut store, 1_800_000_000_000_000).unwrap();
    let sessions: Vec<String> = snap
        .sessions
        .iter()
        .map(|s| s.session_id.to_string())
        .collect();
    assert_eq!(sessions, vec!["sess_02".to_owned()]);
    assert_eq!(store.read_events("sess_01", 0, 100).unwrap(), vec![]);
    assert_eq!(snap.idempotency.len(), 0);
}
