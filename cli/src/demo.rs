//! `arcp demo`: a runtime in-process with an on-disk SQLite log in a temp dir; a `slow` job
//! (`{"seconds": 3, "tick": 0.25}`) whose progress is shown; the connection dropped after
//! the 4th progress event and the session resumed; then the result, the event count, and a
//! check that the client saw every `event_seq` exactly once (exit 1 otherwise).

use super::Failure;
use super::render::Renderer;
use arcp_tokio::client::{Client, JobStatus, SubmitRequest};
use arcp_tokio::server::Server;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::path::PathBuf;

/// The progress event after which the connection is dropped.
const DROP_AFTER_PROGRESS: usize = 4;

/// A fresh directory under the system temp dir (removed when dropped).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("arcp-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) async fn run() -> Result<i32, Failure> {
    let dir = TempDir::new().map_err(|e| Failure::Error(format!("temp dir: {e}")))?;
    let db = dir.0.join("arcp.db");
    // Demo mode: the contract agents (`slow`) and the demo token `alice-token`.
    let (url, server) = Server::builder()
        .demo()
        .db(Some(db.clone()))
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .map_err(|e| Failure::Error(format!("cannot start the runtime: {e}")))?;
    let mut out = Renderer::stdout(false);
    out.line(&format!("runtime  {url}  (event log {})", db.display()));
    let result = job(&url, &mut out).await;
    server.shutdown().await;
    result
}

/// What the demo checks, from the `event_seq`s and progress counts it saw.
#[derive(Debug, PartialEq)]
pub(crate) struct Check {
    /// Events received.
    pub(crate) events: usize,
    /// Sequence numbers that were skipped.
    pub(crate) gaps: Vec<u64>,
    /// Sequence numbers seen more than once.
    pub(crate) duplicates: Vec<u64>,
}

impl Check {
    /// Checks that `seqs` (in arrival order) runs without holes or repeats.
    pub(crate) fn of(seqs: &[u64]) -> Self {
        let mut gaps = Vec::new();
        let mut duplicates = Vec::new();
        for pair in seqs.windows(2) {
            if let [a, b] = pair {
                if b <= a {
                    duplicates.push(*b);
                } else {
                    gaps.extend(a + 1..*b);
                }
            }
        }
        Check {
            events: seqs.len(),
            gaps,
            duplicates,
        }
    }

    fn ok(&self) -> bool {
        self.gaps.is_empty() && self.duplicates.is_empty()
    }
}

async fn job(url: &str, out: &mut Renderer) -> Result<i32, Failure> {
    let client = Client::builder(url)
        .client_info("arcp-demo", env!("CARGO_PKG_VERSION"))
        .token("alice-token")
        .connect()
        .await
        .map_err(|e| Failure::client(url, e))?;
    out.line(&format!("session  {}", client.session_id()));
    let handle = client
        .submit(SubmitRequest::new(
            "slow",
            json!({"seconds": 3, "tick": 0.25}),
        ))
        .await
        .map_err(|e| Failure::client(url, e))?;
    out.line(&format!(
        "job      {} ({})",
        handle.job_id(),
        handle.agent_ref()
    ));
    let mut seqs = Vec::new();
    let mut progress = Vec::new();
    let mut events = handle.events();
    while let Some(event) = events.next().await {
        seqs.push(event.event_seq);
        out.event(&event);
        if event.kind() == "progress" {
            progress.push(event.body().get("current").and_then(Value::as_u64));
            if progress.len() == DROP_AFTER_PROGRESS {
                out.line(&format!(
                    "-- dropping the connection after event_seq {} --",
                    event.event_seq
                ));
                client
                    .drop_transport()
                    .await
                    .map_err(|e| Failure::client(url, e))?;
                client.resume().await.map_err(|e| Failure::client(url, e))?;
                out.line(&format!(
                    "-- resumed session {} from event_seq {} --",
                    client.session_id(),
                    event.event_seq
                ));
            }
        }
    }
    out.finish();
    let outcome = handle.done().await.map_err(|e| Failure::client(url, e))?;
    out.line(&super::render::outcome_line(outcome.outcome()));
    let _ = client.close().await;
    let check = Check::of(&seqs);
    let (first, last) = (
        seqs.first().copied().unwrap_or(0),
        seqs.last().copied().unwrap_or(0),
    );
    out.line(&format!(
        "{} events (event_seq {first}..{last}), {} progress, gaps {:?}, duplicates {:?}",
        check.events,
        progress.len(),
        check.gaps,
        check.duplicates
    ));
    let expected_progress: Vec<Option<u64>> = (1..=12).map(Some).collect();
    let success = outcome.status() == JobStatus::Success;
    if check.ok() && progress == expected_progress && success {
        out.line("ok: no gap, no duplicate");
        Ok(0)
    } else {
        Err(Failure::Error(format!(
            "the demo saw a gap or a duplicate (progress {progress:?})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::Check;

    #[test]
    fn gaps_and_duplicates_are_found() {
        assert_eq!(
            Check::of(&[1, 2, 3]),
            Check {
                events: 3,
                gaps: vec![],
                duplicates: vec![]
            }
        );
        assert_eq!(
            Check::of(&[1, 2, 5, 5, 6]),
            Check {
                events: 5,
                gaps: vec![3, 4],
                duplicates: vec![5]
            }
        );
    }
}
