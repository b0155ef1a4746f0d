//! The blocking server and client against each other over a real WebSocket.

use arcp_blocking::client::{Client, FrameTap, ResultValue, SubmitRequest, TapEvent};
use arcp_blocking::server::{Server, ServerHandle};
use arcp_proto::client::JobOutcome;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn server() -> (String, ServerHandle) {
    Server::builder()
        .demo()
        .bind_ws("127.0.0.1:0", "/arcp")
        .expect("bind")
}

/// A tap collecting every received frame as JSON.
fn recorder() -> (FrameTap, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let tap: FrameTap = Arc::new(move |ev: TapEvent<'_>| {
        if let TapEvent::Received(b) = ev
            && let Ok(v) = serde_json::from_slice::<Value>(b)
        {
            s.lock().unwrap().push(v);
        }
    });
    (tap, seen)
}

/// The frames after the refusals of a resume retried while the session was attached.
fn after_refusals(seen: &Mutex<Vec<Value>>) -> Vec<Value> {
    let frames = seen.lock().unwrap().clone();
    frames
        .into_iter()
        .skip_while(|f| f["type"] == "session.error" && f["payload"]["code"] == "PERMISSION_DENIED")
        .collect()
}

fn alice(url: &str) -> Client {
    Client::builder(url)
        .token("alice-token")
        // After `drop_transport` the session stays for another client to resume.
        .auto_resume(false)
        .connect()
        .expect("connect")
}

#[test]
fn submit_echo_returns_the_input() {
    let (url, handle) = server();
    let c = alice(&url);
    let job = c
        .submit(SubmitRequest::new("echo", json!({"x": 1})))
        .unwrap();
    assert!(job.job_id().starts_with("job_"), "{}", job.job_id());
    match job
        .done_within(Duration::from_secs(5))
        .unwrap()
        .into_outcome()
    {
        JobOutcome::Success { result, .. } => {
            assert_eq!(result, ResultValue::Inline(json!({"x": 1})))
        }
        other => panic!("{other:?}"),
    }
    c.close().unwrap();
    handle.shutdown();
}

#[test]
fn chatty_events_arrive_gap_free_up_to_the_terminal() {
    let (url, handle) = server();
    let (tap, seen) = recorder();
    let c = Client::builder(&url)
        .token("alice-token")
        .frame_tap(tap)
        .connect()
        .unwrap();
    let job = c
        .submit(SubmitRequest::new("chatty", json!({"count": 20})))
        .unwrap();
    assert!(matches!(
        job.done_within(Duration::from_secs(10))
            .unwrap()
            .into_outcome(),
        JobOutcome::Success { .. }
    ));
    let frames = seen.lock().unwrap().clone();
    let seqs: Vec<u64> = frames
        .iter()
        .filter_map(|f| f["event_seq"].as_u64())
        .collect();
    let terminal = frames
        .iter()
        .find(|f| f["type"] == "job.result")
        .expect("terminal");
    let last = terminal["event_seq"].as_u64().unwrap();
    assert_eq!(seqs, (1..=last).collect::<Vec<u64>>());
    // 20 rounds: far more than a handful of events.
    assert!(last > 40, "{last}");
    c.close().unwrap();
    handle.shutdown();
}

#[test]
fn cancel_ends_a_running_job_cancelled() {
    let (url, handle) = server();
    let c = alice(&url);
    let job = c
        .submit(SubmitRequest::new(
            "slow",
            json!({"seconds": 30, "tick": 0.1}),
        ))
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    c.cancel_with_reason(job.job_id(), "test").unwrap();
    assert!(matches!(
        job.done_within(Duration::from_secs(5))
            .unwrap()
            .into_outcome(),
        JobOutcome::Cancelled { .. }
    ));
    // The session stays usable.
    let again = c.submit(SubmitRequest::new("echo", json!(2))).unwrap();
    assert!(matches!(
        again
            .done_within(Duration::from_secs(5))
            .unwrap()
            .into_outcome(),
        JobOutcome::Success { .. }
    ));
    c.close().unwrap();
    handle.shutdown();
}

#[test]
fn a_dropped_session_resumes_and_receives_the_terminal() {
    let (url, handle) = server();
    let c = alice(&url);
    let job = c
        .submit(SubmitRequest::new(
            "slow",
            json!({"seconds": 1, "tick": 0.2}),
        ))
        .unwrap();
    let job = job.job_id().to_owned();
    let state = c.resume_state().expect("resume state");
    c.drop_transport().unwrap();
    let (tap, seen) = recorder();
    // The runtime may not have noticed the drop yet: a resume of a session still attached is
    // refused, and the client retries by itself (WIRE.md §6, point 1): the tap sees each
    // refusal, then the welcome.
    let r = Client::builder(&url)
        .token("alice-token")
        .resume(state.clone())
        .frame_tap(tap.clone())
        .unrouted_events(64)
        .connect()
        .expect("resume");
    // The resumed client holds no handle for the job: its frames come unrouted, the
    // terminal last.
    let end = r
        .unrouted_events()
        .expect("enabled")
        .find_map(|i| match i {
            arcp_blocking::client::StreamItem::Terminal(o) if *o.job_id() == job => Some(o),
            _ => None,
        })
        .expect("the terminal");
    assert!(matches!(end.into_outcome(), JobOutcome::Success { .. }));
    let frames = after_refusals(&seen);
    assert_eq!(frames[0]["type"], "session.welcome");
    assert_eq!(frames[0]["session_id"], json!(state.session_id));
    r.close().unwrap();
    handle.shutdown();
}

#[test]
fn a_bad_token_is_refused_at_the_handshake() {
    let (url, handle) = server();
    let err = Client::builder(&url).token("nope").connect().unwrap_err();
    assert_eq!(
        err,
        arcp_blocking::client::ClientError::Refused {
            code: arcp_proto::wire::ErrorCode::Unauthenticated,
            message: "invalid bearer token".into(),
            retryable: false,
        }
    );
    handle.shutdown();
}

#[test]
fn with_a_db_a_session_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("arcp.db");
    let (url, handle) = Server::builder()
        .demo()
        .db(Some(db.clone()))
        .bind_ws("127.0.0.1:0", "/arcp")
        .unwrap();
    let c = alice(&url);
    let job = c.submit(SubmitRequest::new("echo", json!("kept"))).unwrap();
    let job_id = job.job_id().to_owned();
    assert!(matches!(
        job.done_within(Duration::from_secs(5))
            .unwrap()
            .into_outcome(),
        JobOutcome::Success { .. }
    ));
    let state = c.resume_state().unwrap();
    c.drop_transport().unwrap();
    handle.shutdown();

    let (url, handle) = Server::builder()
        .demo()
        .db(Some(db))
        .bind_ws("127.0.0.1:0", "/arcp")
        .unwrap();
    let (tap, seen) = recorder();
    // The runtime may not have noticed the drop yet: a resume of a session still attached is
    // refused, and the client retries by itself (WIRE.md §6, point 1): the tap sees each
    // refusal, then the welcome.
    let r = Client::builder(&url)
        .token("alice-token")
        .resume(state.clone())
        .frame_tap(tap.clone())
        .connect()
        .expect("resume");
    let jobs = r
        .list_jobs(arcp_blocking::client::ListJobsRequest::default())
        .unwrap();
    let listed = serde_json::to_value(&jobs).unwrap();
    assert_eq!(listed["jobs"][0]["job_id"], json!(job_id));
    assert_eq!(listed["jobs"][0]["status"], json!("success"));
    let welcome = after_refusals(&seen)[0].clone();
    assert_eq!(welcome["type"], "session.welcome");
    assert_eq!(welcome["session_id"], json!(state.session_id));
    r.close().unwrap();
    handle.shutdown();
}
