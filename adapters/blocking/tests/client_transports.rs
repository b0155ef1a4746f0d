//! The blocking client over stdio (scripted children) and its retry of a resume refused
//! while the session is still attached (WIRE.md §6).

use arcp_blocking::client::{Client, ClientError, ResultValue, ResumeRetry, SubmitRequest};
use arcp_blocking::server::Server;
use arcp_proto::client::JobOutcome;
use arcp_proto::wire::ErrorCode;
use serde_json::json;
use std::time::Duration;

const WELCOME: &str = r#"{"arcp":"1.1","id":"01M85JT4S9G5FDBMSJEE1TJW60","type":"session.welcome","session_id":"sess_01M85JT4S9G5FDBMSJEE1TJW5A","payload":{"runtime":{"name":"scripted","version":"1"},"session_id":"sess_01M85JT4S9G5FDBMSJEE1TJW5A","resume_token":"rtk_01M85JT4S9G5FDBMSJEE1TJW5B","resume_window_sec":600,"capabilities":{"encodings":["json"],"features":["heartbeat","ack"]}}}"#;
const ACCEPTED: &str = r#"{"arcp":"1.1","id":"01M85JT4SAGX7B3XWCKQ17M6D1","type":"job.accepted","session_id":"sess_01M85JT4S9G5FDBMSJEE1TJW5A","job_id":"job_01M85JT4SAGX7B3XWCKQ17M6DG","payload":{"job_id":"job_01M85JT4SAGX7B3XWCKQ17M6DG","agent":"echo@1.0.0","accepted_at":"2026-11-24T01:30:33.130968Z","lease":{}}}"#;
const RESULT: &str = r#"{"arcp":"1.1","id":"01M85JT4SAGX7B3XWCKQ17R001","type":"job.result","session_id":"sess_01M85JT4S9G5FDBMSJEE1TJW5A","job_id":"job_01M85JT4SAGX7B3XWCKQ17M6DG","event_seq":1,"payload":{"final_status":"success","result":{"echoed":true}}}"#;

#[test]
fn over_stdio_a_child_serves_the_session() {
    let script = format!(
        "read hello; echo '{WELCOME}'; read submit; echo '{ACCEPTED}'; echo '{RESULT}'; cat >/dev/null"
    );
    let c = Client::stdio_builder(["sh", "-c", script.as_str()])
        .token("alice-token")
        .connect()
        .unwrap();
    assert_eq!(
        c.features(),
        arcp_blocking::client::FeatureSet::from([
            arcp_blocking::client::Feature::Heartbeat,
            arcp_blocking::client::Feature::Ack
        ])
    );
    let job = c
        .submit(SubmitRequest::new("echo", json!({"echoed": true})))
        .unwrap();
    assert_eq!(job.job_id(), "job_01M85JT4SAGX7B3XWCKQ17M6DG");
    match job
        .done_within(Duration::from_secs(5))
        .unwrap()
        .into_outcome()
    {
        JobOutcome::Success {
            result: ResultValue::Inline(v),
            ..
        } => assert_eq!(v, json!({"echoed": true})),
        other => panic!("unexpected outcome {other:?}"),
    }
    c.close().unwrap();
}

#[test]
fn over_stdio_a_child_that_exits_ends_the_transport() {
    let script = format!("read hello; echo '{WELCOME}'; read next");
    let c = Client::stdio_builder(["sh", "-c", script.as_str()])
        .connect()
        .unwrap();
    assert_eq!(
        c.ping().unwrap_err(),
        ClientError::transport("connection lost before the answer")
    );
    // A new child would be a new runtime: the session ends, later calls say so.
    assert_eq!(c.ping().unwrap_err(), ClientError::Closed);
    assert_eq!(c.state(), arcp_blocking::client::ClientState::Closed);
}

#[test]
fn a_resume_while_still_attached_is_retried_until_the_first_client_lets_go() {
    let (url, handle) = Server::builder()
        .demo()
        .bind_ws("127.0.0.1:0", "/arcp")
        .unwrap();
    let a = Client::builder(&url)
        .token("alice-token")
        .auto_resume(false)
        .connect()
        .unwrap();
    let state = a.resume_state().unwrap();
    let err = Client::builder(&url)
        .token("alice-token")
        .resume(state.clone())
        .resume_retry(ResumeRetry::never())
        .connect()
        .unwrap_err();
    assert_eq!(
        err,
        ClientError::Refused {
            code: ErrorCode::PermissionDenied,
            message: "session is attached to a connection".into(),
            retryable: false,
        }
    );
    let url2 = url.clone();
    let s2 = state.clone();
    let b = std::thread::spawn(move || {
        Client::builder(&url2)
            .token("alice-token")
            .resume(s2)
            .resume_retry(ResumeRetry::new(
                40,
                Duration::from_millis(50),
                Duration::from_millis(50),
            ))
            .connect()
    });
    std::thread::sleep(Duration::from_millis(300));
    a.drop_transport().unwrap();
    let b = b.join().unwrap().expect("resumed after the retries");
    assert_eq!(
        b.resume_state().unwrap().last_event_seq,
        state.last_event_seq
    );
    assert_ne!(b.resume_state().unwrap().resume_token, state.resume_token);
    b.close().unwrap();
    handle.shutdown();
}

const DENIED: &str = r#"{"arcp":"1.1","id":"01M85JT4SAGX7B3XWCKQ17ERR0","type":"session.error","payload":{"code":"PERMISSION_DENIED","message":"no resumable session","retryable":false}}"#;

#[test]
fn over_stdio_a_refused_resume_is_final() {
    let script = format!("read hello; echo '{DENIED}'; cat >/dev/null");
    let started = std::time::Instant::now();
    let err = Client::stdio_builder(["sh", "-c", script.as_str()])
        .resume(arcp_blocking::client::ResumeState {
            session_id: "sess_01M85JT4S9G5FDBMSJEE1TJW5A".into(),
            resume_token: "rtk_01M85JT4S9G5FDBMSJEE1TJW5B".into(),
            last_event_seq: 3,
        })
        .connect()
        .unwrap_err();
    assert_eq!(
        err,
        ClientError::Refused {
            code: ErrorCode::PermissionDenied,
            message: "no resumable session".into(),
            retryable: false,
        }
    );
    // No retry delays (the default policy would wait 4.55 s in all).
    assert!(started.elapsed() < Duration::from_secs(4));
}
