//! The PostgreSQL-backed tests' database: its URL (or a skip) and a blocking client.
#![allow(dead_code)]

use std::io::Write;

/// The test database's URL (`ARCP_TEST_POSTGRES_URL`), or `None` to skip; with `CI=true` a
/// missing URL fails the test instead. `test` names the skipping test in the note.
pub fn postgres_url(test: &str) -> Option<String> {
    if let Some(url) = std::env::var("ARCP_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        return Some(url);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but ARCP_TEST_POSTGRES_URL is not set: the PostgreSQL tests must run in CI \
         (eval \"$(bash .ci/postgres.sh start)\" starts a throwaway cluster)"
    );
    let _ = writeln!(
        std::io::stderr(),
        "{test} SKIPPED: ARCP_TEST_POSTGRES_URL is not set \
         (eval \"$(bash .ci/postgres.sh start)\" starts a throwaway cluster)"
    );
    None
}

/// Runs `f` with a client of the test database, off the async task (the client blocks).
pub fn on_db<T: Send + 'static>(
    url: &str,
    f: impl FnOnce(&mut postgres::Client) -> T + Send + 'static,
) -> T {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        f(&mut c)
    })
    .join()
    .expect("query thread")
}

/// Drops `schema` (and everything in it), unless `ARCP_TEST_KEEP_SCHEMA` is set (to look
/// at a failed run's rows).
pub fn drop_schema(url: &str, schema: &str) {
    if std::env::var_os("ARCP_TEST_KEEP_SCHEMA").is_some() {
        return;
    }
    let schema = schema.to_owned();
    on_db(url, move |c| {
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .expect("drop the scratch schema")
    });
}
