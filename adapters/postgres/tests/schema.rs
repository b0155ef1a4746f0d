//! The versioned schema on PostgreSQL: created and recorded at connect, a second connect
//! changes nothing, a newer version is refused untouched, the data survives reconnecting,
//! and a connection the server closed is opened again.

mod support;

use arcp_postgres::{PostgresOptions, PostgresStore, SCHEMA_VERSION};
use arcp_store::suite::{event, job, session};
use arcp_store::{Store, StoreError, StoreOp};

#[test]
fn connect_creates_the_schema_and_records_each_step() {
    let Some((mut store, scratch)) = support::store("create") else {
        return;
    };
    assert_eq!(SCHEMA_VERSION, 2);
    assert_eq!(store.schema_version().unwrap(), 2);
    assert_eq!(store.schema(), scratch.schema);
    let mut c = scratch.client();
    let steps: Vec<(i32, String)> = c
        .query(
            "SELECT version, name FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        steps,
        vec![
            (
                1,
                "events, sessions, jobs, idempotency, credentials".to_owned()
            ),
            (
                2,
                "cluster: session owners, job nodes, feed, inbox, nodes".to_owned()
            )
        ]
    );
    let tables: Vec<String> = c
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1
             ORDER BY table_name",
            &[&scratch.schema],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        tables,
        [
            "credentials",
            "events",
            "feed",
            "idempotency",
            "inbox",
            "jobs",
            "nodes",
            "schema_migrations",
            "sessions"
        ]
    );
}

#[test]
fn reconnecting_keeps_the_data_and_migrates_nothing_again() {
    let Some((mut store, scratch)) = support::store("reopen") else {
        return;
    };
    store
        .apply(&[
            StoreOp::PutSession(session("s1", 2, Some(50))),
            StoreOp::AppendEvents(vec![event("s1", 1, None), event("s1", 2, Some("j1"))]),
            StoreOp::PutJob(job("j1", "s1", 7, false)),
        ])
        .unwrap();
    drop(store);
    let mut again = PostgresStore::connect_with(&scratch.url, &scratch.options()).unwrap();
    assert_eq!(again.sessions().unwrap(), vec![session("s1", 2, Some(50))]);
    assert_eq!(
        again.read_events("s1", 0, 10).unwrap(),
        vec![event("s1", 1, None), event("s1", 2, Some("j1"))]
    );
    assert_eq!(again.jobs().unwrap(), vec![job("j1", "s1", 7, false)]);
    let steps: i64 = scratch
        .client()
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(steps, 2);
}

#[test]
fn a_schema_from_a_newer_build_is_refused_untouched() {
    let Some((store, scratch)) = support::store("newer") else {
        return;
    };
    drop(store);
    let mut c = scratch.client();
    c.execute(
        "INSERT INTO schema_migrations (version, name) VALUES (3, 'from the future')",
        &[],
    )
    .unwrap();
    match PostgresStore::connect_with(&scratch.url, &scratch.options()) {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (3, 2));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let steps: i64 = c
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(steps, 3);
}

#[test]
fn an_invalid_schema_name_is_refused_before_connecting() {
    // No server needed: the name is checked first.
    let err = PostgresStore::connect_with(
        "host=/nonexistent dbname=x",
        &PostgresOptions::schema("Bad-Name"),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "postgres: invalid schema name \"Bad-Name\": use lowercase ASCII letters, digits and _, \
         not starting with a digit, at most 63 bytes"
    );
}

#[test]
fn concurrent_connects_migrate_once() {
    let Some(url) = support::url() else {
        return;
    };
    let scratch = support::Scratch::new(&url, "race");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (url, options) = (url.clone(), scratch.options());
            std::thread::spawn(move || {
                PostgresStore::connect_with(&url, &options)
                    .unwrap()
                    .schema_version()
                    .unwrap()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 2);
    }
    let steps: i64 = scratch
        .client()
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(steps, 2);
}

#[test]
fn a_connection_the_server_closed_is_opened_again() {
    let Some(url) = support::url() else {
        return;
    };
    let scratch = support::Scratch::new(&url, "reconnect");
    let name = scratch.schema.clone();
    let tagged = support::with_application_name(&url, &name);
    let mut store = PostgresStore::connect_with(&tagged, &scratch.options()).unwrap();
    store
        .apply(&[StoreOp::PutSession(session("s1", 1, None))])
        .unwrap();
    let mut admin = scratch.client();
    let killed: i64 = admin
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1) t",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert_eq!(killed, 1);
    // The call that finds the connection gone fails; the next one reconnects.
    let first = store.sessions();
    assert!(
        matches!(
            first,
            Err(StoreError::Backend {
                backend: "postgres",
                ..
            })
        ),
        "{first:?}"
    );
    assert_eq!(store.sessions().unwrap(), vec![session("s1", 1, None)]);
    assert_eq!(store.schema_version().unwrap(), 2);
}

/// Dropping a store inside a tokio runtime's async task (a server builder dropped there)
/// neither panics nor leaks the connection: it is closed on a thread of its own.
#[tokio::test(flavor = "current_thread")]
async fn a_store_dropped_inside_an_async_task_closes_its_connection() {
    let Some(url) = support::url() else {
        return;
    };
    let scratch = support::Scratch::new(&url, "asyncdrop");
    let name = scratch.schema.clone();
    let (tagged, options) = (
        support::with_application_name(&url, &name),
        scratch.options(),
    );
    // Connecting blocks: off the async task.
    let store = std::thread::spawn(move || PostgresStore::connect_with(&tagged, &options))
        .join()
        .unwrap()
        .unwrap();
    drop(store);
    let count = move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&name],
            )
            .unwrap()
            .get(0);
        n
    };
    // The close is asynchronous: poll until the server saw it (bounded: 5 s).
    let mut left = -1;
    for _ in 0..100 {
        let c = count.clone();
        left = std::thread::spawn(c).join().unwrap();
        if left == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(left, 0);
    // The scratch schema is dropped through a blocking client too: off the async task.
    std::thread::spawn(move || drop(scratch)).join().unwrap();
}

/// The tables of schema version 1 as a build before the cluster created them, with a session
/// and a running job.
const V1_WITH_DATA: &str = r#"
CREATE TABLE schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO schema_migrations (version, name)
    VALUES (1, 'events, sessions, jobs, idempotency, credentials');
CREATE TABLE events (
    session_id TEXT COLLATE "C" NOT NULL,
    event_seq  BIGINT NOT NULL CHECK (event_seq >= 0),
    job_id     TEXT COLLATE "C",
    frame      BYTEA NOT NULL,
    PRIMARY KEY (session_id, event_seq)
);

CREATE TABLE sessions (
    session_id        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    principal         TEXT NOT NULL,
    resume_token_hash TEXT NOT NULL,
    last_event_seq    BIGINT NOT NULL CHECK (last_event_seq >= 0),
    window_expires_at BIGINT,
    features          TEXT[] NOT NULL
);
CREATE INDEX sessions_by_window ON sessions (window_expires_at)
    WHERE window_expires_at IS NOT NULL;

CREATE TABLE jobs (
    job_id       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    session_id   TEXT COLLATE "C" NOT NULL,
    principal    TEXT NOT NULL,
    agent        TEXT NOT NULL,
    status       TEXT NOT NULL,
    submitted_at BIGINT NOT NULL,
    terminal     BOOLEAN NOT NULL,
    data         BYTEA NOT NULL
);

CREATE TABLE idempotency (
    principal   TEXT COLLATE "C" NOT NULL,
    key         TEXT COLLATE "C" NOT NULL,
    fingerprint TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    accepted    BYTEA NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);

CREATE TABLE credentials (
    credential_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    job_id        TEXT NOT NULL,
    data          BYTEA NOT NULL
);
INSERT INTO sessions VALUES ('s1', 'alice', 'sha256:s1', 2, NULL, '{heartbeat,ack}');
INSERT INTO jobs VALUES ('j1', 's1', 'alice', 'echo', 'running', 1, false, '{"job":"j1"}');
"#;

/// A database at version 1 (with data) is brought to version 2 in place when a node joins:
/// the rows keep their values, without an owner or a node, and the node can claim the
/// session.
#[test]
fn a_version_1_schema_is_upgraded_in_place() {
    let Some(url) = support::url() else {
        return;
    };
    let scratch = support::Scratch::new(&url, "upgrade");
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute(&format!(
        "CREATE SCHEMA \"{0}\"; SET search_path TO \"{0}\"; {V1_WITH_DATA}",
        scratch.schema
    ))
    .unwrap();
    let (mut a, _wa) = PostgresStore::join(
        &url,
        &scratch.options(),
        "n-a",
        &arcp_postgres::ClusterOptions::default(),
    )
    .unwrap();
    assert_eq!(a.schema_version().unwrap(), 2);
    assert_eq!(a.sessions().unwrap(), vec![session("s1", 2, None)]);
    assert_eq!(a.jobs().unwrap(), vec![job("j1", "s1", 1, false)]);
    assert_eq!(a.node_jobs().unwrap(), vec![]);
    let mut c = scratch.client();
    let owner: (Option<String>, i64) = c
        .query_one("SELECT owner_node, owner_epoch FROM sessions", &[])
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(owner, (None, 0));
    let claimed = a.claim_session("s1").unwrap().unwrap();
    assert_eq!(claimed.session, session("s1", 2, None));
    // j1 runs on no node: not another node's job.
    assert_eq!(claimed.jobs, vec![]);
    let owner: (Option<String>, i64) = c
        .query_one("SELECT owner_node, owner_epoch FROM sessions", &[])
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(owner, (Some("n-a".into()), 1));
}
