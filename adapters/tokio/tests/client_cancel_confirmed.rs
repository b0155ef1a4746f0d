//! `Client::cancel_confirmed`: `Ok` once the runtime took the cancel (the job then ends
//! cancelled), the runtime's refusal otherwise (COMPAT D7 / D37).

use arcp_proto::client::JobOutcome;
use arcp_tokio::client::{Client, ClientError, ErrorCode, SubmitRequest};
use arcp_tokio::server::spawn_local_ws;

#[tokio::test]
async fn confirmed_cancel_succeeds_for_the_submitter_and_reports_refusals() {
    let (url, server) = spawn_local_ws().await.expect("server");
    let alice = Client::connect(&url, "alice-token").await.expect("alice");
    let handle = alice
        .submit(SubmitRequest::new(
            "slow",
            serde_json::json!({"seconds": 30, "tick": 0.5}),
        ))
        .await
        .expect("submit");
    let job = handle.job_id().to_owned();

    // Another session of the same principal: PERMISSION_DENIED (D7).
    let other = Client::connect(&url, "alice-token").await.expect("alice 2");
    match other.cancel_confirmed(&job, "not mine").await {
        Err(ClientError::Refused { code, message, .. }) => {
            assert_eq!(code, ErrorCode::PermissionDenied);
            assert_eq!(message, "only the submitting session may cancel this job");
        }
        r => panic!("unexpected {r:?}"),
    }
    // An unknown job: JOB_NOT_FOUND (D37).
    match other.cancel_confirmed(&"job_nope".into(), "x").await {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, ErrorCode::JobNotFound),
        r => panic!("unexpected {r:?}"),
    }

    // The submitting session: taken, and the job ends cancelled.
    assert_eq!(alice.cancel_confirmed(&job, "stop").await, Ok(()));
    assert!(matches!(
        handle.done().await.map(|o| o.into_outcome()),
        Ok(JobOutcome::Cancelled { .. })
    ));
    other.close().await.expect("close");
    alice.close().await.expect("close");
    server.shutdown().await;
}
