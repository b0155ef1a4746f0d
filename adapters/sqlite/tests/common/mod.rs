//! Shared test helpers: a self-cleaning temp dir and record builders.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use arcp_sqlite::{CredentialRecord, IdempotencyRecord, JobRecord, SessionRecord, StoredEvent};

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

pub fn event(session: &str, seq: u64, job: Option<&str>) -> StoredEvent {
    StoredEvent {
        session_id: session.to_owned(),
        event_seq: seq,
        job_id: job.map(str::to_owned),
        frame: format!(r#"{{"session_id":"{session}","event_seq":{seq}}}"#).into_bytes(),
    }
}

pub fn session(id: &str, last: u64, window: Option<i64>) -> SessionRecord {
    SessionRecord {
        session_id: id.to_owned(),
        principal: "alice".to_owned(),
        resume_token_hash: format!("sha256:{id}"),
        last_event_seq: last,
        window_expires_at: window,
        features: vec!["heartbeat".to_owned(), "ack".to_owned()],
    }
}

pub fn job(id: &str, session: &str, submitted_at: i64, terminal: bool) -> JobRecord {
    JobRecord {
        job_id: id.to_owned(),
        session_id: session.to_owned(),
        principal: "alice".to_owned(),
        agent: "slow".to_owned(),
        status: if terminal { "success" } else { "running" }.to_owned(),
        submitted_at,
        terminal,
        data: format!(r#"{{"job":"{id}"}}"#).into_bytes(),
    }
}

pub fn idem(principal: &str, key: &str, expires_at: i64) -> IdempotencyRecord {
    IdempotencyRecord {
        principal: principal.to_owned(),
        key: key.to_owned(),
        fingerprint: format!("fp-{key}"),
        job_id: format!("job_{key}"),
        accepted: br#"{"job_id":"x"}"#.to_vec(),
        expires_at,
    }
}

pub fn credential(id: &str, job: &str) -> CredentialRecord {
    CredentialRecord {
        credential_id: id.to_owned(),
        job_id: job.to_owned(),
        data: format!(r#"{{"revoke":"{id}"}}"#).into_bytes(),
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
