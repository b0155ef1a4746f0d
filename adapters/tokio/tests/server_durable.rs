//! The SQLite durable store: a runtime that dies mid-job (dropped in process, or SIGKILLed as
//! a child process) restarts on the same file; the client resumes with no gap in `event_seq`
//! and receives the job's terminal frame, `INTERNAL_ERROR` "runtime restarted" (issue 5
//! item 10).

mod server_support;

use arcp_tokio::server::Server;
use serde_json::{Value, json};
use server_support::*;
use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

/// Submits a slow job, reads `n` of its frames; returns (session id, token, job id, frames).
async fn start_job(url: &str, n: usize) -> (Value, Value, String, Vec<Value>) {
    let mut p = Peer::connect(url).await;
    let w = p.hello("alice-token").await;
    let a = p.submit("slow", json!({"seconds": 60, "tick": 0.05})).await;
    let job = a["job_id"].as_str().unwrap().to_owned();
    let mut frames = Vec::new();
    while frames.len() < n {
        frames.push(p.recv().await);
    }
    (
        w["payload"]["session_id"].clone(),
        w["payload"]["resume_token"].clone(),
        job,
        frames,
    )
}

/// Resumes after `last` on a restarted runtime and reads up to the job's terminal frame.
async fn resume_to_terminal(
    url: &str,
    sid: &Value,
    token: &Value,
    last: u64,
    job: &str,
) -> Vec<Value> {
    let mut q = Peer::connect(url).await;
    q.send(&hello(
        "alice-token",
        Some(json!({"session_id": sid, "resume_token": token, "last_event_seq": last})),
    ))
    .await;
    let w = q.recv().await;
    assert_eq!(w["type"], "session.welcome", "{w}");
    assert_eq!(&w["payload"]["session_id"], sid);
    q.until_terminal(job).await
}

fn assert_restarted_terminal(frames: &[Value], after: u64) {
    let s = seqs(frames);
    let expected: Vec<u64> = (after + 1..=after + s.len() as u64).collect();
    assert_eq!(s, expected, "no gap, no duplicate after {after}");
    let t = frames.last().unwrap();
    assert_eq!(t["type"], "job.error", "{t}");
    assert_eq!(t["payload"]["code"], "INTERNAL_ERROR");
    assert_eq!(t["payload"]["message"], "runtime restarted");
    assert_eq!(t["payload"]["retryable"], true);
    // Every frame before the terminal is one of the job's own events.
    assert!(
        frames[..frames.len() - 1]
            .iter()
            .all(|f| f["type"] == "job.event")
    );
}

#[tokio::test]
async fn restart_on_the_same_db_resumes_with_no_gap_and_the_restarted_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("arcp.db");
    let (url, server) = Server::builder()
        .demo()
        .db(Some(db.clone()))
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();
    let (sid, token, job, seen) = start_job(&url, 3).await;
    assert_eq!(seqs(&seen), vec![1, 2, 3]);
    // Let a few more ticks be logged, then stop without a goodbye.
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.abort();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (url2, server2) = Server::builder()
        .demo()
        .db(Some(db.clone()))
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();
    let frames = resume_to_terminal(&url2, &sid, &token, 3, &job).await;
    assert!(
        frames.len() >= 2,
        "ticks logged after seq 3 are replayed: {frames:?}"
    );
    assert_restarted_terminal(&frames, 3);
    server2.shutdown().await;
}

#[tokio::test]
async fn a_wrong_resume_token_after_restart_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("arcp.db");
    let (url, server) = Server::builder()
        .demo()
        .db(Some(db.clone()))
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();
    let (sid, _token, _job, _) = start_job(&url, 1).await;
    server.shutdown().await;
    let (url2, server2) = Server::builder()
        .demo()
        .db(Some(db))
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();
    let mut q = Peer::connect(&url2).await;
    q.send(&hello(
        "alice-token",
        Some(json!({"session_id": sid, "resume_token": "rtk_wrong", "last_event_seq": 1})),
    ))
    .await;
    let e = q.recv().await;
    assert_eq!(e["type"], "session.error", "{e}");
    assert_eq!(q.end().await, End::Close(1000));
    server2.shutdown().await;
}

/// The child-process server of [`sigkill_mid_job_then_restart_resumes_with_no_gap`]: runs only
/// when that test spawns this binary with `ARCP_TEST_CHILD_DB` set.
#[test]
#[ignore = "helper: run as a child process by the SIGKILL test"]
fn child_server() {
    let Ok(db) = std::env::var("ARCP_TEST_CHILD_DB") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let (url, _h) = Server::builder()
            .demo()
            .db(Some(db.into()))
            .bind_ws("127.0.0.1:0", "/arcp")
            .await
            .unwrap();
        println!("LISTENING {url}");
        std::future::pending::<()>().await;
    });
}

/// Kills (SIGKILL) and reaps the child when dropped, also when an assertion fails.
struct Child(std::process::Child);

impl Child {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_child(db: &Path) -> (Child, String) {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_server",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ARCP_TEST_CHILD_DB", db)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(out).lines();
    let url = loop {
        let l = lines.next().expect("child printed LISTENING").unwrap();
        // libtest prints "test child_server ... " on the same line first.
        if let Some(i) = l.find("LISTENING ") {
            break l[i + "LISTENING ".len()..].trim().to_owned();
        }
    };
    (Child(child), url)
}

#[tokio::test]
async fn sigkill_mid_job_then_restart_resumes_with_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("arcp.db");
    let (mut child, url) = spawn_child(&db);
    let (sid, token, job, seen) = start_job(&url, 4).await;
    assert_eq!(seqs(&seen), vec![1, 2, 3, 4]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.kill(); // SIGKILL

    let (mut child2, url2) = spawn_child(&db);
    let frames = resume_to_terminal(&url2, &sid, &token, 4, &job).await;
    assert_restarted_terminal(&frames, 4);
    child2.kill();
}
