//! Shared test helpers: a self-cleaning temp dir, and the record builders of the shared store
//! suite (`arcp_store::suite`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub use arcp_store::suite::{credential, event, idem, job, session};

/// A uniquely named directory under `std::env::temp_dir()`, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "arcp-sqlite-{tag}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn db(&self) -> PathBuf {
        self.0.join("arcp.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every stored event of `session` (seqs only).
pub fn seqs(store: &arcp_sqlite::SqliteStore, session: &str) -> Vec<u64> {
    store
        .read_events(session, 0, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| e.event_seq)
        .collect()
}
