//! The PostgreSQL the tests run against: `ARCP_TEST_POSTGRES_URL` (`.ci/postgres.sh start`
//! starts a throwaway cluster and prints it). Absent, the tests say so and skip; with
//! `CI=true` an absent URL fails them instead. Each store gets a scratch schema of its own,
//! dropped with its guard.

#![allow(dead_code)]

pub mod cluster;

use std::io::Write;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use arcp_postgres::{PostgresOptions, PostgresStore};

/// The URL, or `None` (said once on stderr, past the test harness's capture) to skip.
///
/// # Panics
///
/// With `CI=true` and no URL: CI must run these tests.
pub fn url() -> Option<String> {
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
    static SAID: Once = Once::new();
    SAID.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "arcp-postgres tests SKIPPED: ARCP_TEST_POSTGRES_URL is not set \
             (eval \"$(bash .ci/postgres.sh start)\" starts a throwaway cluster)"
        );
    });
    None
}

/// A fresh schema name, unique in this process and across concurrent runs.
pub fn scratch_name(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "t_{tag}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Drops its schema (and everything in it) when dropped.
pub struct Scratch {
    pub url: String,
    pub schema: String,
}

impl Scratch {
    pub fn new(url: &str, tag: &str) -> Self {
        Scratch {
            url: url.to_owned(),
            schema: scratch_name(tag),
        }
    }

    /// A plain client on the same database (for poking at the tables behind the store).
    pub fn client(&self) -> postgres::Client {
        let mut c = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        c.batch_execute(&format!("SET search_path TO \"{}\"", self.schema))
            .unwrap();
        c
    }

    pub fn options(&self) -> PostgresOptions {
        PostgresOptions::schema(self.schema.clone())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                self.schema
            ));
        }
    }
}

/// `url` with `application_name` set (a URL or a `key=value` string).
pub fn with_application_name(url: &str, name: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}application_name={name}")
    } else {
        format!("{url} application_name={name}")
    }
}

/// A store in a fresh scratch schema, or `None` to skip.
pub fn store(tag: &str) -> Option<(PostgresStore, Scratch)> {
    let url = url()?;
    let scratch = Scratch::new(&url, tag);
    let store = PostgresStore::connect_with(&url, &scratch.options()).unwrap();
    Some((store, scratch))
}
