//! `arcp serve --demo` (the real binary) enforcing contained delegation (§10) and keeping
//! credential values out of its durable store (§9.8).

#[path = "support/serve.rs"]
mod serve;
use arcp_proto::wire::{ErrorCode, EventBody, JobId, JobStatus};
use arcp_tokio::client::{Client, ClientError, ListJobsRequest, SubmitRequest};
use futures_util::StreamExt;
use serde_json::json;
use serve::Served;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The `arcp` binary.
fn arcp_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_arcp"))
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 20 s"))
}

fn child_of(parent: &JobId, agent: &str) -> SubmitRequest {
    SubmitRequest::new(agent, json!({"seconds": 30})).parent_job(parent.clone())
}

/// (code, message) of a refused submit.
async fn refused(client: &Client, req: SubmitRequest) -> (ErrorCode, String) {
    match within("submit", client.submit(req)).await {
        Err(ClientError::Refused { code, message, .. }) => (code, message),
        other => panic!(
            "expected a refusal, got {:?}",
            other.map(|h| h.job_id().clone())
        ),
    }
}

#[tokio::test]
async fn delegation_is_contained_through_the_binary() {
    let served = Served::start(&[]);
    let alice = within("alice", Client::connect(&served.url, "alice-token"))
        .await
        .unwrap();
    let bob = within("bob", Client::connect(&served.url, "bob-token"))
        .await
        .unwrap();
    let auditor = within("auditor", Client::connect(&served.url, "auditor-token"))
        .await
        .unwrap();
    let parent = within(
        "parent",
        alice.submit(
            SubmitRequest::new("slow", json!({"seconds": 30}))
                .lease("agent.delegate", ["slow"])
                .lease("cost.budget", ["USD:1.00"]),
        ),
    )
    .await
    .unwrap();
    let pid = parent.job_id().clone();
    let child = within("child", alice.submit(child_of(&pid, "slow")))
        .await
        .unwrap();
    assert_eq!(child.budget().map(|b| b.0.len()), Some(1));
    let cid = child.job_id().clone();
    assert_eq!(
        refused(&auditor, child_of(&pid, "slow")).await,
        (
            ErrorCode::PermissionDenied,
            "only the parent job's principal may attach children to it".into()
        )
    );
    assert_eq!(
        refused(&bob, child_of(&pid, "slow")).await,
        (
            ErrorCode::JobNotFound,
            format!("parent job {:?} not found", pid.as_str())
        )
    );
    assert_eq!(
        refused(&alice, child_of(&pid, "echo")).await,
        (
            ErrorCode::PermissionDenied,
            "operation agent.delegate:echo not permitted by lease".into()
        )
    );
    // Cancelling the parent cancels the child at once.
    within("cancel", alice.cancel_confirmed(&pid, "test"))
        .await
        .unwrap();
    let jobs = within("list", alice.list_jobs(ListJobsRequest::default()))
        .await
        .unwrap();
    let listed: Vec<(JobId, JobStatus, Option<JobId>)> = jobs
        .jobs
        .iter()
        .map(|j| (j.job_id.clone(), j.status, j.parent_job_id.clone()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (pid.clone(), JobStatus::Cancelled, None),
            (cid.clone(), JobStatus::Cancelled, Some(pid.clone())),
        ]
    );
    // A child of the ended parent is refused.
    assert_eq!(
        refused(&alice, child_of(&pid, "slow")).await,
        (ErrorCode::InvalidRequest, "the parent job has ended".into())
    );
}

fn occurs(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn credential_values_never_rest_in_the_store_or_in_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("arcp.db");
    let db_s = db.to_str().expect("utf-8 path").to_owned();
    let served = Served::start(&["--db", &db_s]);
    let alice = within("alice", Client::connect(&served.url, "alice-token"))
        .await
        .unwrap();
    let job = within(
        "rotator",
        alice.submit(
            SubmitRequest::new("rotator", json!({"delay_sec": 0.05}))
                .lease("model.use", ["tier-fast/*"])
                .lease("cost.budget", ["USD:1.00"]),
        ),
    )
    .await
    .unwrap();
    assert_eq!(job.credentials().len(), 1);
    let minted = job.credentials()[0].value.clone();
    assert!(minted.starts_with("virt-"), "{minted}");
    let mut events = job.events();
    let mut rotated = None;
    while let Some(item) = within("events", events.next()).await {
        if let EventBody::Status(st) = &item.event.body
            && st.phase == "credential_rotated"
        {
            rotated = st.value.clone();
        }
    }
    let rotated = rotated.expect("the submitter saw the rotated value");
    assert!(
        rotated.starts_with("virt-") && rotated != minted,
        "{rotated}"
    );
    let session = alice.session_id().to_string();
    within("close", alice.close()).await.unwrap();
    drop(served);
    // Every byte the store wrote: the database, its WAL and shared memory.
    let mut raw = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        if let Ok(b) = std::fs::read(format!("{db_s}{suffix}")) {
            raw.extend(b);
        }
    }
    assert!(occurs(&raw, "credential_rotated"), "the event was stored");
    assert!(!occurs(&raw, &minted), "the minted value is in the store");
    assert!(!occurs(&raw, &rotated), "the rotated value is in the store");
    let out = Command::new(arcp_bin())
        .args(["replay", "--db", &db_s, "--session", &session])
        .output()
        .expect("arcp replay");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout.contains("\"phase\":\"credential_rotated\""),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&minted) && !stdout.contains(&rotated),
        "{stdout}"
    );
}

#[tokio::test]
async fn credentials_are_offered_only_where_they_may_travel() {
    use arcp_proto::wire::Feature;
    // Loopback: offered. Plain ws:// on every address: withheld, unless behind a TLS proxy.
    for (extra, offered) in [
        (&[][..], true),
        (&["--host", "0.0.0.0"][..], false),
        (&["--host", "0.0.0.0", "--behind-tls-proxy"][..], true),
    ] {
        let served = Served::start(extra);
        let url = served.url.replace("0.0.0.0", "127.0.0.1");
        let alice = within("alice", Client::connect(&url, "alice-token"))
            .await
            .unwrap();
        assert_eq!(
            alice
                .welcome()
                .features
                .contains(Feature::ProvisionedCredentials),
            offered,
            "{extra:?}"
        );
        let job = within(
            "rotator",
            alice.submit(SubmitRequest::new("echo", json!(1)).lease("model.use", ["tier-fast/*"])),
        )
        .await
        .unwrap();
        assert_eq!(job.credentials().len(), usize::from(offered), "{extra:?}");
    }
}
