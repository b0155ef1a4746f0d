//! The client's automatic resume, its retry of a resume refused while the session is still
//! attached (WIRE.md §6), and its stdio transport (against scripted children).

use arcp_futures::client::{
    Client, ClientError, FrameTap, ResultValue, ResumeRetry, SubmitRequest, TapEvent,
};
use arcp_futures::server::{BoxFuture, Server};
use arcp_proto::client::JobOutcome;
use arcp_proto::wire::ErrorCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn spawn(f: BoxFuture<'static, ()>) {
    smol::spawn(f).detach();
}

/// A tap keeping the `type` (and, for errors, the code) of every frame received.
fn recorder() -> (FrameTap, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = Arc::clone(&seen);
    let tap: FrameTap = Arc::new(move |ev: TapEvent<'_>| {
        if let TapEvent::Received(b) = ev {
            let v: Value = serde_json::from_slice(b).unwrap();
            let mut t = v["type"].as_str().unwrap_or("?").to_owned();
            if let Some(code) = v["payload"]["code"].as_str() {
                t = format!("{t} {code}");
            }
            s.lock().unwrap().push(t);
        }
    });
    (tap, seen)
}

#[test]
fn a_resume_while_still_attached_is_retried_until_the_first_client_lets_go() {
    smol::block_on(async {
        let (url, server) = Server::builder(spawn)
            .demo()
            .bind_ws("127.0.0.1:0", "/arcp")
            .await
            .unwrap();
        let a = Client::builder(&url)
            .token("alice-token")
            .auto_resume(false)
            .spawner(spawn)
            .connect()
            .await
            .unwrap();
        let state = a.resume_state().unwrap();
        // Without retries the refusal surfaces at once.
        let err = Client::builder(&url)
            .token("alice-token")
            .resume(state.clone())
            .resume_retry(ResumeRetry::never())
            .spawner(spawn)
            .connect()
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ClientError::Refused {
                code: ErrorCode::PermissionDenied,
                message: "session is attached to a connection".into(),
                retryable: false
            }
        );
        let (tap, seen) = recorder();
        let b = Client::builder(&url)
            .token("alice-token")
            .resume(state.clone())
            .resume_retry(ResumeRetry::new(
                40,
                Duration::from_millis(50),
                Duration::from_millis(50),
            ))
            .frame_tap(tap)
            .spawner(spawn)
            .connect();
        let b = smol::spawn(b);
        async_io::Timer::after(Duration::from_millis(300)).await;
        a.drop_transport().await.unwrap();
        let b = b.await.expect("resumed after the retries");
        assert_eq!(b.session_id(), &state.session_id);
        let seen = seen.lock().unwrap().clone();
        let (last, refused) = seen.split_last().unwrap();
        assert_eq!(last, "session.welcome");
        assert!(refused.len() >= 2, "{seen:?}");
        assert!(
            refused
                .iter()
                .all(|t| t == "session.error PERMISSION_DENIED"),
            "{seen:?}"
        );
        b.close().await.unwrap();
        server.shutdown().await;
    });
}

#[test]
fn with_auto_resume_a_dropped_transport_is_resumed_and_the_job_completes() {
    smol::block_on(async {
        let (url, server) = Server::builder(spawn)
            .demo()
            .bind_ws("127.0.0.1:0", "/arcp")
            .await
            .unwrap();
        let (tap, seen) = recorder();
        let c = Client::builder(&url)
            .token("alice-token")
            .auto_resume(true)
            .reconnect(5, Duration::from_millis(20))
            .frame_tap(tap)
            .spawner(spawn)
            .connect()
            .await
            .unwrap();
        let sid = c.session_id().to_owned();
        let h = c
            .submit(SubmitRequest::new(
                "slow",
                json!({"seconds": 0.6, "tick": 0.1}),
            ))
            .await
            .unwrap();
        async_io::Timer::after(Duration::from_millis(150)).await;
        c.drop_transport().await.unwrap();
        assert!(matches!(
            h.done().await.unwrap().into_outcome(),
            JobOutcome::Success { .. }
        ));
        assert_eq!(*c.session_id(), sid);
        let welcomes = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|t| *t == "session.welcome")
            .count();
        assert_eq!(welcomes, 2);
        c.close().await.unwrap();
        server.shutdown().await;
    });
}

const WELCOME: &str = r#"{"arcp":"1.1","id":"01M85JT4S9G5FDBMSJEE1TJW60","type":"session.welcome","session_id":"sess_01M85JT4S9G5FDBMSJEE1TJW5A","payload":{"runtime":{"name":"scripted","version":"1"},"session_id":"sess_01M85JT4S9G5FDBMSJEE1TJW5A","resume_token":"rtk_01M85JT4S9G5FDBMSJEE1TJW5B","resume_window_sec":600,"capabilities":{"encodings":["json"],"features":["heartbeat","ack"]}}}"#;
const ACCEPTED: &str = r#"{"arcp":"1.1","id":"01M85JT4SAGX7B3XWCKQ17M6D1","type":"job.accepted","session_id":"sess_01M85JT4S9G5FDBMSJEE1TJW5A","job_id":"job_01M85JT4SAGX7B3XWCKQ17M6DG","payload":{"job_id":"job_01M85JT4SAGX7B3XWCKQ17M6DG","agent":"echo@1.0.0","accepted_at":"2026-11-24T01:30:33.130968Z","lease":{}}}"#;
const RESULT: &str = r#"{"arcp":"1.1","id":"01M85JT4SAGX7B3XWCKQ17R001","type":"job.result","session_id":"sess_01M85JT4S9G5FDBMSJEE1TJW5A","job_id":"job_01M85JT4SAGX7B3XWCKQ17M6DG","event_seq":1,"payload":{"final_status":"success","result":{"echoed":true}}}"#;

/// A child that answers the hello, one submit (accepted + result), then waits for EOF.
fn scripted_child() -> Vec<String> {
    let script = format!(
        "read hello; echo '{WELCOME}'; read submit; echo '{ACCEPTED}'; echo '{RESULT}'; cat >/dev/null"
    );
    vec!["sh".into(), "-c".into(), script]
}

#[test]
fn over_stdio_a_child_serves_the_session() {
    smol::block_on(async {
        let c = Client::stdio_builder(scripted_child())
            .token("alice-token")
            .spawner(spawn)
            .connect()
            .await
            .unwrap();
        assert_eq!(
            c.features(),
            arcp_futures::client::FeatureSet::from([
                arcp_futures::client::Feature::Heartbeat,
                arcp_futures::client::Feature::Ack
            ])
        );
        assert_eq!(
            Some(c.session_id().as_str()),
            Some("sess_01M85JT4S9G5FDBMSJEE1TJW5A")
        );
        let h = c
            .submit(SubmitRequest::new("echo", json!({"echoed": true})))
            .await
            .unwrap();
        assert_eq!(h.job_id(), "job_01M85JT4SAGX7B3XWCKQ17M6DG");
        match h.done().await.unwrap().into_outcome() {
            JobOutcome::Success {
                result: ResultValue::Inline(v),
                ..
            } => assert_eq!(v, json!({"echoed": true})),
            other => panic!("unexpected outcome {other:?}"),
        }
        c.close().await.unwrap();
    });
}

#[test]
fn over_stdio_a_child_that_exits_ends_the_session() {
    smol::block_on(async {
        let script = format!("read hello; echo '{WELCOME}'; read next");
        let c = Client::stdio_builder(["sh", "-c", script.as_str()])
            .spawner(spawn)
            .connect()
            .await
            .unwrap();
        // The ping is the line the child reads before exiting: its pong never comes.
        let err = c.ping().await.unwrap_err();
        assert_eq!(
            err,
            ClientError::transport("connection lost before the answer")
        );
        // A new child would be a new runtime: the session ends, later calls fail with why.
        let err = c.ping().await.unwrap_err();
        assert_eq!(c.state(), arcp_futures::client::ClientState::Closed);
        assert_eq!(err, ClientError::Closed);
    });
}

const DENIED: &str = r#"{"arcp":"1.1","id":"01M85JT4SAGX7B3XWCKQ17ERR0","type":"session.error","payload":{"code":"PERMISSION_DENIED","message":"no resumable session","retryable":false}}"#;

#[test]
fn over_stdio_a_refused_resume_is_final() {
    smol::block_on(async {
        let script = format!("read hello; echo '{DENIED}'; cat >/dev/null");
        let err = Client::stdio_builder(["sh", "-c", script.as_str()])
            .resume(arcp_futures::client::ResumeState {
                session_id: "sess_01M85JT4S9G5FDBMSJEE1TJW5A".into(),
                resume_token: "rtk_01M85JT4S9G5FDBMSJEE1TJW5B".into(),
                last_event_seq: 3,
            })
            .spawner(spawn)
            .connect()
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ClientError::Refused {
                code: ErrorCode::PermissionDenied,
                message: "no resumable session".into(),
                retryable: false
            }
        );
    });
}
