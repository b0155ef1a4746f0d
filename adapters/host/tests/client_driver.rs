//! `ClientDriver`: replies matched with their answers, failures on a drop and a close, the
//! retry of a resume refused while attached, the frame tap.

#[path = "../../../tests/client_support/mod.rs"]
mod support;

use arcp_host::client::{ClientDriver, Output, Pending, Replies, ResumeRetry, TapEvent};
use arcp_proto::client::{
    ClientState, CloseReason, ListJobsRequest, RequestError, ResumeState, SubmitRequest,
};
use arcp_proto::wire::{ErrorCode, SeededEntropy};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

/// Replies are plain labels here.
struct Labels;

impl Replies for Labels {
    type Submit = &'static str;
    type List = &'static str;
    type Subscribe = &'static str;
    type Ping = &'static str;
}

type Driver = ClientDriver<Labels>;

fn driver(resume: Option<ResumeState>) -> (Driver, Instant) {
    let origin = Instant::now();
    let d = ClientDriver::new(
        config(),
        resume,
        origin,
        Box::new(|| Box::new(SeededEntropy::new(7))),
    );
    (d, origin)
}

fn outputs(d: &mut Driver) -> Vec<Output<Labels>> {
    std::iter::from_fn(|| d.poll_output()).collect()
}

/// The JSON of every transmit, the rest dropped.
fn sent(outs: &[Output<Labels>]) -> Vec<Value> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Transmit(b) => Some(serde_json::from_slice(b).unwrap()),
            _ => None,
        })
        .collect()
}

fn feed_json(d: &mut Driver, at: Instant, v: Value) {
    d.feed_frame(at, v.to_string().as_bytes());
}

fn open() -> (Driver, Instant) {
    let (mut d, t0) = driver(None);
    d.connected(t0);
    outputs(&mut d);
    feed_json(&mut d, t0, welcome(SID, TOKEN1, None, &ALL));
    let outs = outputs(&mut d);
    assert!(matches!(&outs[..], [Output::Welcome(w)] if w.session_id == SID));
    (d, t0)
}

#[test]
fn each_reply_comes_back_with_its_answer() {
    let (mut d, t0) = open();
    d.submit(t0, SubmitRequest::new("echo", json!(1)), "s1")
        .unwrap();
    d.list_jobs(t0, ListJobsRequest::default(), "l1").unwrap();
    d.ping(t0, "p1").unwrap();
    assert_eq!(d.pending(), 3);
    let frames = sent(&outputs(&mut d));
    let types: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["job.submit", "session.list_jobs", "session.ping"]);
    let submit_id = frames[0]["id"].as_str().unwrap().to_owned();
    let list_id = frames[1]["id"].as_str().unwrap().to_owned();
    let nonce = frames[2]["payload"]["nonce"].as_str().unwrap().to_owned();

    feed_json(&mut d, t0, accepted(JOB, Some(&submit_id)));
    feed_json(
        &mut d,
        t0,
        json!({"arcp": "1.1", "id": "01M85JT4SAGX7B3XWCKQ17M6D2", "type": "session.jobs",
               "session_id": SID, "payload": {"request_id": list_id, "jobs": []}}),
    );
    feed_json(
        &mut d,
        t0 + Duration::from_millis(30),
        json!({"arcp": "1.1", "id": "01M85JT4SAGX7B3XWCKQ17M6D3", "type": "session.pong",
               "session_id": SID, "payload": {"ping_nonce": nonce,
               "received_at": "2026-11-24T01:30:33.130968Z"}}),
    );
    let outs = outputs(&mut d);
    assert_eq!(outs.len(), 3);
    assert!(matches!(&outs[0], Output::Accepted { reply: "s1", job_id, .. } if job_id == JOB));
    assert!(matches!(&outs[1], Output::Jobs { reply: "l1", jobs } if jobs.jobs.is_empty()));
    assert!(
        matches!(&outs[2], Output::Pong { reply: "p1", rtt } if *rtt == Duration::from_millis(30))
    );
    assert_eq!(d.pending(), 0);
}

#[test]
fn a_refused_request_and_a_drop_fail_their_replies() {
    let (mut d, t0) = open();
    d.submit(t0, SubmitRequest::new("nope", json!(1)), "s1")
        .unwrap();
    d.ping(t0, "p1").unwrap();
    d.subscribe(t0, JOB, true, None, "sub1").unwrap();
    let frames = sent(&outputs(&mut d));
    let submit_id = frames[0]["id"].as_str().unwrap().to_owned();
    assert!(d.subscribing(JOB));
    feed_json(
        &mut d,
        t0,
        session_error("AGENT_NOT_AVAILABLE", Some(&submit_id)),
    );
    let outs = outputs(&mut d);
    assert!(matches!(
        &outs[..],
        [Output::Failed { reply: Pending::Submit("s1"), error: RequestError::Runtime(p) }]
            if p.code == ErrorCode::AgentNotAvailable
    ));
    d.disconnected(t0, "gone");
    let outs = outputs(&mut d);
    assert_eq!(outs.len(), 2);
    assert!(matches!(
        &outs[0],
        Output::Failed {
            reply: Pending::Ping("p1"),
            error: RequestError::ConnectionLost
        }
    ));
    assert!(matches!(
        &outs[1],
        Output::Failed { reply: Pending::Subscribe(j, "sub1"), error: RequestError::ConnectionLost }
            if j == JOB
    ));
    assert_eq!(d.pending(), 0);
    assert_eq!(d.session().state(), ClientState::Disconnected);
}

#[test]
fn a_close_fails_what_is_pending_then_reports_closed() {
    let (mut d, t0) = open();
    d.ping(t0, "p1").unwrap();
    outputs(&mut d);
    let now = d.clock().core(t0);
    d.session_mut().close(now, "client.close").unwrap();
    let outs = outputs(&mut d);
    assert_eq!(sent(&outs)[0]["type"], "session.bye");
    let rest: Vec<_> = outs
        .iter()
        .filter(|o| !matches!(o, Output::Transmit(_)))
        .collect();
    let names: Vec<&str> = rest
        .iter()
        .map(|o| match o {
            Output::Failed { .. } => "failed",
            Output::CloseTransport(_) => "close_transport",
            Output::Closed(_) => "closed",
            _ => "other",
        })
        .collect();
    assert_eq!(names, ["close_transport", "failed", "closed"]);
    assert!(matches!(
        rest[1],
        Output::Failed {
            reply: Pending::Ping("p1"),
            error: RequestError::SessionClosed
        }
    ));
    assert!(matches!(rest[2], Output::Closed(CloseReason::Bye)));
    assert!(d.is_closed());
}

fn state() -> ResumeState {
    ResumeState {
        session_id: SID.into(),
        resume_token: TOKEN1.into(),
        last_event_seq: 5,
    }
}

#[test]
fn a_resume_refused_while_attached_is_retried_with_backoff_then_given_up() {
    let (d, t0) = driver(Some(state()));
    let mut d = d.with_retry(ResumeRetry::new(
        2,
        Duration::from_millis(50),
        Duration::from_secs(1),
    ));
    let mut delays = Vec::new();
    for _ in 0..3 {
        d.connected(t0);
        let hello = sent(&outputs(&mut d));
        assert_eq!(
            hello[0]["payload"]["resume"],
            json!({"session_id": SID, "resume_token": TOKEN1, "last_event_seq": 5})
        );
        feed_json(&mut d, t0, session_error("PERMISSION_DENIED", None));
        for o in outputs(&mut d) {
            match o {
                Output::RetryResume(delay) => {
                    delays.push(Some(delay));
                    d.disconnected(t0, "refused");
                }
                Output::Refused(p) => {
                    assert_eq!(p.code, ErrorCode::PermissionDenied);
                    delays.push(None);
                }
                _ => {}
            }
        }
    }
    assert_eq!(
        delays,
        vec![
            Some(Duration::from_millis(50)),
            Some(Duration::from_millis(100)),
            None
        ]
    );
    assert!(d.is_closed());
}

#[test]
fn a_retried_resume_that_succeeds_keeps_the_session() {
    let (mut d, t0) = driver(Some(state()));
    d.connected(t0);
    outputs(&mut d);
    feed_json(&mut d, t0, session_error("PERMISSION_DENIED", None));
    let outs = outputs(&mut d);
    assert!(matches!(&outs[..], [Output::RetryResume(x)] if *x == Duration::from_millis(50)));
    assert_eq!(d.session().state(), ClientState::Disconnected);
    d.connected(t0 + Duration::from_millis(50));
    outputs(&mut d);
    feed_json(&mut d, t0, welcome(SID, TOKEN2, None, &ALL));
    let outs = outputs(&mut d);
    assert!(matches!(&outs[..], [Output::Welcome(w)] if w.resumed));
    assert_eq!(d.session().resume_token(), Some(TOKEN2));
    assert_eq!(d.session().last_event_seq(), 5);
}

#[test]
fn the_tap_sees_both_directions_and_the_end() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let s = Arc::clone(&seen);
    let (d, t0) = driver(None);
    let mut d = d.with_tap(Some(Arc::new(move |ev: TapEvent<'_>| {
        let line = match ev {
            TapEvent::Sent(b) => {
                format!("> {}", serde_json::from_slice::<Value>(b).unwrap()["type"])
            }
            TapEvent::Received(b) => {
                format!("< {}", serde_json::from_slice::<Value>(b).unwrap()["type"])
            }
            TapEvent::Closed(why) => format!("x {why}"),
        };
        s.lock().unwrap().push(line);
    })));
    d.connected(t0);
    outputs(&mut d);
    feed_json(&mut d, t0, welcome(SID, TOKEN1, None, &ALL));
    outputs(&mut d);
    d.disconnected(t0, "bye");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            "> \"session.hello\"".to_owned(),
            "< \"session.welcome\"".to_owned(),
            "x bye".to_owned()
        ]
    );
}

#[test]
fn a_failure_of_an_untracked_request_is_reported_unmatched() {
    let (mut d, t0) = open();
    let now = d.clock().core(t0);
    d.session_mut().cancel(now, JOB, Some("stop")).unwrap();
    let frames = sent(&outputs(&mut d));
    assert_eq!(frames[0]["type"], "job.cancel");
    let id = frames[0]["id"].as_str().unwrap().to_owned();
    feed_json(&mut d, t0, session_error("JOB_NOT_FOUND", Some(&id)));
    let outs = outputs(&mut d);
    assert!(matches!(
        &outs[..],
        [Output::Unmatched { request_id, error: RequestError::Runtime(p) }]
            if request_id.as_str() == id && p.code == ErrorCode::JobNotFound
    ));
}
