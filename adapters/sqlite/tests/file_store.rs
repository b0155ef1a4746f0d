//! File-backed stores: WAL, reopen after drop and after a hard crash, schema versioning,
//! foreign files and damaged values.

mod common;

use arcp_sqlite::{
    APPLICATION_ID, SCHEMA_VERSION, SqliteStore, StoreError, StoreOp, StoreOptions, Synchronous,
};
use common::{TempDir, credential, event, idem, job, seqs, session};
use rusqlite::Connection;

#[test]
fn file_store_runs_in_wal_mode() {
    let dir = TempDir::new("wal");
    let mut store = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(store.journal_mode().unwrap(), "wal");
    store.append_events(&[event("s1", 1, None)]).unwrap();
    // WAL is persistent in the file: a plain connection sees it too, and the -wal file exists
    // while the store is open.
    let raw = Connection::open(dir.db()).unwrap();
    let mode: String = raw
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert!(dir.path().join("arcp.db-wal").exists());
    drop(raw);
    drop(store);
}

#[test]
fn in_memory_stores_are_private() {
    let mut a = SqliteStore::open_in_memory().unwrap();
    let b = SqliteStore::open(":memory:").unwrap();
    assert_eq!(a.journal_mode().unwrap(), "memory");
    assert_eq!(b.journal_mode().unwrap(), "memory");
    a.append_events(&[event("s1", 1, None)]).unwrap();
    assert_eq!(seqs(&a, "s1"), vec![1]);
    assert_eq!(seqs(&b, "s1"), Vec::<u64>::new());
    assert_eq!(a.schema_version().unwrap(), 1);
    assert_eq!(b.schema_version().unwrap(), 1);
}

fn write_everything(store: &mut SqliteStore) {
    store
        .apply(&[
            StoreOp::PutSession(session("s1", 3, Some(1_700_000_000_000_000))),
            StoreOp::PutSession(session("s2", 1, None)),
            StoreOp::AppendEvents(vec![
                event("s1", 1, Some("j1")),
                event("s1", 2, Some("j1")),
                event("s1", 3, None),
                event("s2", 1, Some("j2")),
            ]),
            StoreOp::PutJob(job("j1", "s1", 100, false)),
            StoreOp::PutJob(job("j2", "s2", 200, true)),
            StoreOp::PutIdempotency(idem("alice", "k1", 5_000)),
            StoreOp::PutCredential(credential("c1", "j1")),
        ])
        .unwrap();
}

fn assert_everything(store: &SqliteStore) {
    assert_eq!(
        store.sessions().unwrap(),
        vec![
            session("s1", 3, Some(1_700_000_000_000_000)),
            session("s2", 1, None)
        ]
    );
    assert_eq!(
        store.read_events("s1", 0, 100).unwrap(),
        vec![
            event("s1", 1, Some("j1")),
            event("s1", 2, Some("j1")),
            event("s1", 3, None)
        ]
    );
    assert_eq!(
        store.read_events("s2", 0, 100).unwrap(),
        vec![event("s2", 1, Some("j2"))]
    );
    assert_eq!(store.last_event_seq("s1").unwrap(), Some(3));
    assert_eq!(
        store.jobs().unwrap(),
        vec![job("j1", "s1", 100, false), job("j2", "s2", 200, true)]
    );
    assert_eq!(
        store.idempotency_records().unwrap(),
        vec![idem("alice", "k1", 5_000)]
    );
    assert_eq!(
        store.outstanding_credentials().unwrap(),
        vec![credential("c1", "j1")]
    );
}

#[test]
fn reopen_after_drop_reads_back_everything() {
    let dir = TempDir::new("reopen");
    {
        let mut store = SqliteStore::open(dir.db()).unwrap();
        write_everything(&mut store);
    }
    let mut store = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_everything(&store);
    // And it keeps working: the seq space continues where it stopped.
    store.append_events(&[event("s1", 4, None)]).unwrap();
    assert_eq!(store.last_event_seq("s1").unwrap(), Some(4));
}

/// Env var that turns this test binary into the writer that gets killed.
const CRASH_CHILD_DB: &str = "ARCP_SQLITE_CRASH_CHILD_DB";

/// Child half of `survives_sigkill`: write, leave a transaction open, say `READY`, then wait
/// to be killed (no connection close, no WAL checkpoint). In a normal run it does nothing.
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(CRASH_CHILD_DB) else {
        return;
    };
    let mut store = SqliteStore::open(&path).unwrap();
    write_everything(&mut store);
    // A transaction still open (uncommitted) at the kill must not survive.
    let raw = Connection::open(&path).unwrap();
    raw.execute_batch("BEGIN IMMEDIATE; DELETE FROM jobs; DELETE FROM events;")
        .unwrap();
    // Straight to the stdout handle: the test harness captures `println!`.
    let mut out = std::io::stdout();
    std::io::Write::write_all(&mut out, b"READY\n").unwrap();
    std::io::Write::flush(&mut out).unwrap();
    // Bounded, so a parent that never kills us still gets EOF (and fails) instead of hanging.
    std::thread::sleep(std::time::Duration::from_secs(60));
}

#[test]
fn survives_sigkill() {
    use std::io::BufRead;

    let dir = TempDir::new("crash");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CRASH_CHILD_DB, dir.db())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = std::io::BufReader::new(stdout)
        .lines()
        .map(Result::unwrap)
        // libtest prints `test crash_child ... ` without a newline first.
        .any(|line| line.ends_with("READY"));
    if !ready {
        let _ = child.kill();
    }
    assert!(ready, "the child did not reach READY");
    child.kill().unwrap(); // SIGKILL on unix
    let status = child.wait().unwrap();
    assert!(!status.success());
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9));
    }
    assert!(dir.path().join("arcp.db-wal").exists());
    let store = SqliteStore::open(dir.db()).unwrap();
    assert_everything(&store);
}

#[test]
fn two_connections_share_one_file() {
    let dir = TempDir::new("shared");
    let mut writer = SqliteStore::open(dir.db()).unwrap();
    let reader = SqliteStore::open_with(
        dir.db(),
        &StoreOptions {
            synchronous: Synchronous::Full,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    writer
        .append_events(&[event("s1", 1, None), event("s1", 2, None)])
        .unwrap();
    assert_eq!(seqs(&reader, "s1"), vec![1, 2]);
    assert_eq!(reader.last_event_seq("s1").unwrap(), Some(2));
}

#[test]
fn newer_schema_is_refused_and_left_untouched() {
    let dir = TempDir::new("too-new");
    {
        let mut store = SqliteStore::open(dir.db()).unwrap();
        store.append_events(&[event("s1", 1, None)]).unwrap();
    }
    {
        let raw = Connection::open(dir.db()).unwrap();
        raw.pragma_update(None, "user_version", 2).unwrap();
    }
    match SqliteStore::open(dir.db()) {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!(found, 2);
            assert_eq!(supported, 1);
        }
        other => panic!("unexpected {other:?}"),
    }
    let raw = Connection::open(dir.db()).unwrap();
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
    let events: i64 = raw
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(events, 1);
}

#[test]
fn foreign_database_is_refused_and_left_untouched() {
    let dir = TempDir::new("foreign");
    {
        let raw = Connection::open(dir.db()).unwrap();
        raw.pragma_update(None, "application_id", 0x1234_5678)
            .unwrap();
        raw.execute_batch("CREATE TABLE notes (body TEXT);")
            .unwrap();
    }
    match SqliteStore::open(dir.db()) {
        Err(StoreError::ForeignDatabase { found, expected }) => {
            assert_eq!(found, 0x1234_5678);
            assert_eq!(expected, APPLICATION_ID);
        }
        other => panic!("unexpected {other:?}"),
    }
    let raw = Connection::open(dir.db()).unwrap();
    let tables: i64 = raw
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1);
}

#[test]
fn unopenable_path_is_an_sqlite_error() {
    let dir = TempDir::new("missing");
    let err = SqliteStore::open(dir.path().join("no/such/dir/arcp.db")).unwrap_err();
    assert!(matches!(err, StoreError::Sqlite(_)), "{err:?}");
}

#[test]
fn damaged_values_are_reported_as_corrupt() {
    let dir = TempDir::new("corrupt");
    {
        let mut store = SqliteStore::open(dir.db()).unwrap();
        store.put_job(&job("j1", "s1", 1, false)).unwrap();
    }
    {
        // Bypass the CHECK constraints the way a hand edit or a damaged file could.
        let raw = Connection::open(dir.db()).unwrap();
        raw.execute_batch(
            "PRAGMA ignore_check_constraints = ON;
             UPDATE jobs SET terminal = 2 WHERE job_id = 'j1';
             INSERT INTO events (session_id, event_seq, job_id, frame) VALUES ('s1', -5, NULL, x'00');",
        )
        .unwrap();
    }
    let store = SqliteStore::open(dir.db()).unwrap();
    match store.jobs().unwrap_err() {
        StoreError::Corrupt { column, detail } => {
            assert_eq!(column, "jobs.terminal");
            assert_eq!(detail, "expected 0 or 1, found 2");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        store.job("j1").unwrap_err(),
        StoreError::Corrupt {
            column: "jobs.terminal",
            ..
        }
    ));
    match store.last_event_seq("s1").unwrap_err() {
        StoreError::Corrupt { column, detail } => {
            assert_eq!(column, "events.event_seq");
            assert_eq!(detail, "negative sequence number -5");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn create_if_missing_false_opens_only_existing_files() {
    let dir = TempDir::new("existing");
    let no_create = StoreOptions {
        create_if_missing: false,
        ..StoreOptions::default()
    };
    let err = SqliteStore::open_with(dir.db(), &no_create).unwrap_err();
    assert!(matches!(err, StoreError::Sqlite(_)), "{err:?}");
    assert!(!dir.db().exists());

    {
        let mut store = SqliteStore::open(dir.db()).unwrap();
        write_everything(&mut store);
    }
    let store = SqliteStore::open_with(dir.db(), &no_create).unwrap();
    assert_everything(&store);
    assert_eq!(store.journal_mode().unwrap(), "wal");
}
