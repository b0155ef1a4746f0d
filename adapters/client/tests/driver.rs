//! `ClientDriver`: answers matched to tickets, per-job routing and the bounded stash, D9
//! subscribe buffering and its overflow, the D6 cancel reason and the confirmed cancel, the
//! reconnect policy and the resume retry, close, the tap.

#[path = "../../../tests/client_support/mod.rs"]
mod support;

use arcp_client::{
    Answer, Blocked, BoundedSender, ClientDriver, ClientError, ClientOptions, Command,
    JobEventItem, JobOutcome, JobSink, ListJobsRequest, Output, ResumeRetry, ResumeState,
    StreamItem, SubmitRequest, TapEvent, Target, TrySend,
};
use arcp_proto::client::{ClientState, ResultValue};
use arcp_proto::wire::{ErrorCode, JobStatus, SeededEntropy};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{ALL, JOB, SID, TOKEN1, TOKEN2, accepted, log, result, session_error, welcome};

type End = Option<Result<JobOutcome, ClientError>>;

/// A bounded test queue of `cap` events and a slot for the end.
#[derive(Clone, Debug)]
struct Sink {
    cap: usize,
    events: Rc<RefCell<Vec<u64>>>,
    end: Rc<RefCell<End>>,
}

impl Sink {
    fn new(cap: usize) -> Self {
        Sink {
            cap,
            events: Rc::default(),
            end: Rc::default(),
        }
    }
}

impl BoundedSender<JobEventItem> for Sink {
    fn try_send(&self, item: JobEventItem) -> Result<(), TrySend<JobEventItem>> {
        let mut v = self.events.borrow_mut();
        if v.len() >= self.cap {
            return Err(TrySend::Full(item));
        }
        v.push(item.event_seq);
        Ok(())
    }
}

impl JobSink for Sink {
    fn finish(self, end: Result<JobOutcome, ClientError>) {
        *self.end.borrow_mut() = Some(end);
    }
}

/// The unrouted stream: (job, seq) pairs, unbounded.
#[derive(Clone, Debug, Default)]
struct Unrouted(Rc<RefCell<Vec<(String, u64)>>>);

impl BoundedSender<StreamItem> for Unrouted {
    fn try_send(&self, item: StreamItem) -> Result<(), TrySend<StreamItem>> {
        self.0
            .borrow_mut()
            .push((item.job_id().to_string(), item.event_seq()));
        Ok(())
    }
}

type Driver = ClientDriver<Sink, Unrouted>;

fn options(target: Target) -> ClientOptions {
    let mut o = ClientOptions::new(target, "arcp-interop-runner", "1.0.0");
    o.token = "alice-token".into();
    o.max_buffered_events = 2;
    o
}

fn ws() -> Target {
    Target::WebSocket("ws://127.0.0.1:1/arcp".into())
}

fn driver_with(o: &ClientOptions) -> (Driver, Instant, Unrouted) {
    let t0 = Instant::now();
    let u = Unrouted::default();
    let d = ClientDriver::new(
        o,
        t0,
        1_795_483_833_000_000,
        Box::new(SeededEntropy::new(7)),
        Some(u.clone()),
    );
    (d, t0, u)
}

fn outputs(d: &mut Driver) -> Vec<Output> {
    std::iter::from_fn(|| d.poll_output()).collect()
}

fn frames(outs: &[Output]) -> Vec<Value> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Transmit(b) => Some(serde_json::from_slice(b).unwrap()),
            _ => None,
        })
        .collect()
}

fn types(outs: &[Output]) -> Vec<String> {
    frames(outs)
        .iter()
        .map(|f| f["type"].as_str().unwrap().to_owned())
        .collect()
}

/// Everything but transmits.
fn rest(outs: Vec<Output>) -> Vec<Output> {
    outs.into_iter()
        .filter(|o| !matches!(o, Output::Transmit(_)))
        .collect()
}

fn feed(d: &mut Driver, at: Instant, v: Value) {
    d.handle_frame(at, v.to_string().as_bytes());
}

fn open_with(o: &ClientOptions) -> (Driver, Instant, Unrouted) {
    let (mut d, t0, u) = driver_with(o);
    let w = d.wait_welcome();
    d.handle_connected(t0);
    assert_eq!(types(&outputs(&mut d)), ["session.hello"]);
    feed(&mut d, t0, welcome(SID, TOKEN1, None, &ALL));
    let outs = outputs(&mut d);
    assert!(
        matches!(&outs[..], [Output::Answer(t, Answer::Welcome(i))] if *t == w && i.session_id == SID)
    );
    (d, t0, u)
}

fn open() -> (Driver, Instant, Unrouted) {
    open_with(&options(ws()))
}

fn submit(d: &mut Driver, t0: Instant, sink: &Sink) -> (u64, String) {
    let req = SubmitRequest::new("echo", json!(1));
    let t = d.handle_command(
        t0,
        Command::Submit {
            req,
            sink: sink.clone(),
        },
    );
    let f = frames(&outputs(d));
    assert_eq!(f[0]["type"], "job.submit");
    (t, f[0]["id"].as_str().unwrap().to_owned())
}

fn subscribed(request_id: &str, from: u64, replayed: u64) -> Value {
    json!({"arcp": "1.1", "id": "01M85JT4SAGX7B3XWCKQ17MJ02", "type": "job.subscribed",
        "session_id": SID, "job_id": JOB, "payload": {"request_id": request_id, "job_id": JOB,
        "current_status": "running", "agent": "slow@1.0.0", "lease": {},
        "subscribed_from": from, "replayed": replayed}})
}

#[test]
fn each_answer_comes_back_with_its_ticket() {
    let (mut d, t0, _) = open();
    let sink = Sink::new(8);
    let (ts, submit_id) = submit(&mut d, t0, &sink);
    let tl = d.handle_command(t0, Command::ListJobs(ListJobsRequest::default()));
    let tp = d.handle_command(t0, Command::Ping);
    let f = frames(&outputs(&mut d));
    assert_eq!(f[0]["type"], "session.list_jobs");
    assert_eq!(f[1]["type"], "session.ping");
    assert_eq!((ts, tl, tp), (2, 3, 4));
    let list_id = f[0]["id"].as_str().unwrap().to_owned();
    let nonce = f[1]["payload"]["nonce"].as_str().unwrap().to_owned();
    feed(&mut d, t0, accepted(JOB, Some(&submit_id)));
    feed(
        &mut d,
        t0,
        json!({"arcp": "1.1", "id": "01M85JT4SAGX7B3XWCKQ17M6D2", "type": "session.jobs",
               "session_id": SID, "payload": {"request_id": list_id, "jobs": []}}),
    );
    feed(
        &mut d,
        t0 + Duration::from_millis(30),
        json!({"arcp": "1.1", "id": "01M85JT4SAGX7B3XWCKQ17M6D3", "type": "session.pong",
               "session_id": SID, "payload": {"ping_nonce": nonce,
               "received_at": "2026-11-24T01:30:33.130968Z"}}),
    );
    let outs = outputs(&mut d);
    assert_eq!(outs.len(), 3);
    assert!(
        matches!(&outs[0], Output::Answer(2, Answer::Job(i)) if i.job_id == JOB && i.agent.to_string() == "echo@1.0.0")
    );
    assert!(matches!(&outs[1], Output::Answer(3, Answer::Jobs(j)) if j.jobs.is_empty()));
    assert_eq!(
        outs[2],
        Output::Answer(4, Answer::Pong(Duration::from_millis(30)))
    );
}

#[test]
fn a_job_streams_into_its_sink_and_ends_with_its_outcome() {
    let (mut d, t0, u) = open();
    let sink = Sink::new(8);
    let (_, submit_id) = submit(&mut d, t0, &sink);
    feed(&mut d, t0, accepted(JOB, Some(&submit_id)));
    feed(&mut d, t0, log(JOB, 1));
    feed(&mut d, t0, log("job_other", 2));
    feed(&mut d, t0, log(JOB, 3));
    feed(
        &mut d,
        t0,
        result(
            JOB,
            4,
            json!({"final_status": "success", "result": {"ok": true}}),
        ),
    );
    outputs(&mut d);
    assert_eq!(*sink.events.borrow(), vec![1, 3]);
    assert_eq!(*u.0.borrow(), vec![("job_other".to_owned(), 2)]);
    let end = sink.end.borrow_mut().take().unwrap().unwrap();
    assert_eq!(end.status(), JobStatus::Success);
    assert_eq!(end.event_seq(), 4);
    assert_eq!(
        end.result(),
        Some(&ResultValue::Inline(json!({"ok": true})))
    );
    assert_eq!(end.error(), None);
    // A frame of the ended job after its terminal is dropped by the session.
    feed(&mut d, t0, log(JOB, 5));
    outputs(&mut d);
    assert_eq!(u.0.borrow().len(), 1);
}

#[test]
fn a_failed_job_ends_with_its_error() {
    let (mut d, t0, _) = open();
    let sink = Sink::new(8);
    let (_, submit_id) = submit(&mut d, t0, &sink);
    feed(&mut d, t0, accepted(JOB, Some(&submit_id)));
    feed(
        &mut d,
        t0,
        support::job_error(JOB, 1, "INTERNAL_ERROR", true),
    );
    outputs(&mut d);
    let end = sink.end.borrow_mut().take().unwrap().unwrap();
    assert_eq!(end.status(), JobStatus::Error);
    let e = end.error().unwrap();
    assert_eq!(
        (e.code, e.message.as_str(), e.retryable),
        (ErrorCode::InternalError, "m", true)
    );
    let err = end.into_result().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InternalError));
    assert!(err.retryable());
}

#[test]
fn a_full_queue_stashes_then_stops_reading_and_room_resumes_delivery() {
    let (mut d, t0, _) = open();
    let sink = Sink::new(1);
    let (_, submit_id) = submit(&mut d, t0, &sink);
    feed(&mut d, t0, accepted(JOB, Some(&submit_id)));
    outputs(&mut d);
    feed(&mut d, t0, log(JOB, 1));
    feed(&mut d, t0, log(JOB, 2));
    outputs(&mut d);
    assert_eq!(*sink.events.borrow(), vec![1]);
    assert_eq!(d.buffered(), 1);
    assert!(d.can_read());
    feed(&mut d, t0, log(JOB, 3));
    outputs(&mut d);
    assert_eq!(d.buffered(), 2);
    assert!(!d.can_read());
    match d.blocked() {
        Some(Blocked::Job(_, item)) => assert_eq!(item.event_seq, 2),
        other => panic!("{other:?}"),
    }
    // The adapter delivers the front item itself once the queue has room.
    sink.events.borrow_mut().clear();
    sink.events.borrow_mut().push(2);
    sink.events.borrow_mut().clear();
    d.handle_room(t0);
    assert_eq!(*sink.events.borrow(), vec![3]);
    assert_eq!(d.buffered(), 0);
    assert!(d.can_read());
    assert!(d.blocked().is_none());
}

#[test]
fn a_subscription_gets_its_replay_before_the_answer_d9() {
    let (mut d, t0, _) = open();
    let sink = Sink::new(8);
    let t = d.handle_command(
        t0,
        Command::Subscribe {
            job_id: JOB.into(),
            history: true,
            from_event_seq: None,
            sink: sink.clone(),
        },
    );
    let f = frames(&outputs(&mut d));
    assert_eq!(f[0]["type"], "job.subscribe");
    assert_eq!(f[0]["payload"], json!({"job_id": JOB, "history": true}));
    let id = f[0]["id"].as_str().unwrap().to_owned();
    feed(&mut d, t0, log(JOB, 1));
    feed(&mut d, t0, log(JOB, 2));
    feed(
        &mut d,
        t0,
        result(JOB, 3, json!({"final_status": "cancelled"})),
    );
    feed(&mut d, t0, subscribed(&id, 3, 3));
    let outs = outputs(&mut d);
    assert_eq!(*sink.events.borrow(), vec![1, 2]);
    let end = sink.end.borrow_mut().take().unwrap().unwrap();
    assert_eq!(end.status(), JobStatus::Cancelled);
    match &outs[..] {
        [Output::Answer(a, Answer::Job(info))] => {
            assert_eq!(*a, t);
            assert_eq!((info.subscribed_from(), info.replayed()), (3, 3));
        }
        other => panic!("{other:?}"),
    }
    // A second subscribe of a job with a live route is refused at once.
    let sink2 = Sink::new(8);
    d.handle_command(
        t0,
        Command::Subscribe {
            job_id: "job_live".into(),
            history: false,
            from_event_seq: None,
            sink: sink2.clone(),
        },
    );
    outputs(&mut d);
    let t2 = d.handle_command(
        t0,
        Command::Subscribe {
            job_id: "job_live".into(),
            history: false,
            from_event_seq: None,
            sink: sink2,
        },
    );
    assert_eq!(
        outputs(&mut d),
        vec![Output::Answer(
            t2,
            Answer::Failed(ClientError::Api(
                arcp_proto::client::ApiError::AlreadySubscribed("job_live".into())
            ))
        )]
    );
}

#[test]
fn a_replay_that_overflows_before_the_answer_fails_the_subscription() {
    let (mut d, t0, _) = open();
    let sink = Sink::new(1);
    let t = d.handle_command(
        t0,
        Command::Subscribe {
            job_id: JOB.into(),
            history: true,
            from_event_seq: None,
            sink: sink.clone(),
        },
    );
    outputs(&mut d);
    for seq in 1..=3 {
        feed(&mut d, t0, log(JOB, seq));
    }
    let outs = outputs(&mut d);
    assert_eq!(types(&outs), ["job.unsubscribe"]);
    assert_eq!(
        rest(outs),
        vec![Output::Answer(
            t,
            Answer::Failed(ClientError::Overflow { limit: 2 })
        )]
    );
    assert_eq!(*sink.events.borrow(), vec![1]);
    assert!(d.can_read());
    assert_eq!(d.buffered(), 0);
}

#[test]
fn a_cancel_carries_the_reason_and_a_confirmed_one_waits_for_its_barrier_d6() {
    let (mut d, t0, _) = open();
    let t1 = d.handle_command(
        t0,
        Command::Cancel {
            job_id: JOB.into(),
            reason: "client.cancel".into(),
            confirmed: false,
        },
    );
    let outs = outputs(&mut d);
    let f = frames(&outs);
    assert_eq!(f[0]["type"], "job.cancel");
    assert_eq!(f[0]["job_id"], JOB);
    assert_eq!(f[0]["payload"], json!({"reason": "client.cancel"}));
    assert_eq!(rest(outs), vec![Output::Answer(t1, Answer::Done)]);

    // Confirmed and taken: the barrier's answer confirms it.
    let t2 = d.handle_command(
        t0,
        Command::Cancel {
            job_id: JOB.into(),
            reason: "stop".into(),
            confirmed: true,
        },
    );
    let outs = outputs(&mut d);
    assert_eq!(types(&outs), ["job.cancel", "session.list_jobs"]);
    let first_barrier = frames(&outs)[1]["id"].as_str().unwrap().to_owned();
    assert!(rest(outs).is_empty());
    // Confirmed and refused: the refusal answers it; the barrier's answer is then ignored.
    let t3 = d.handle_command(
        t0,
        Command::Cancel {
            job_id: "job_theirs".into(),
            reason: "stop".into(),
            confirmed: true,
        },
    );
    let f = frames(&outputs(&mut d));
    let (cancel_id, barrier_id) = (
        f[0]["id"].as_str().unwrap().to_owned(),
        f[1]["id"].as_str().unwrap().to_owned(),
    );
    feed(
        &mut d,
        t0,
        session_error("PERMISSION_DENIED", Some(&cancel_id)),
    );
    feed(
        &mut d,
        t0,
        json!({"arcp": "1.1", "id": "01M85JT4SAGX7B3XWCKQ17M6D2", "type": "session.jobs",
               "session_id": SID, "payload": {"request_id": barrier_id, "jobs": []}}),
    );
    let outs = outputs(&mut d);
    assert_eq!(
        outs,
        vec![Output::Answer(
            t3,
            Answer::Failed(ClientError::Refused {
                code: ErrorCode::PermissionDenied,
                message: "m".into(),
                retryable: false
            })
        )]
    );
    // The first confirmed cancel's barrier is answered: it is confirmed.
    feed(
        &mut d,
        t0,
        json!({"arcp": "1.1", "id": "01M85JT4SAGX7B3XWCKQ17M6D4", "type": "session.jobs",
               "session_id": SID, "payload": {"request_id": first_barrier, "jobs": []}}),
    );
    assert_eq!(outputs(&mut d), vec![Output::Answer(t2, Answer::Done)]);
}

#[test]
fn a_drop_fails_pings_and_reconnects_with_jittered_backoff_then_resumes() {
    let (mut d, t0, _) = open();
    let tp = d.handle_command(t0, Command::Ping);
    outputs(&mut d);
    d.handle_disconnected(t0, "gone");
    let outs = outputs(&mut d);
    assert_eq!(
        outs,
        vec![Output::Answer(
            tp,
            Answer::Failed(ClientError::transport("connection lost before the answer"))
        )]
    );
    assert_eq!(d.session().state(), ClientState::Disconnected);
    let at = d.poll_timeout().unwrap();
    let delay = at - t0;
    assert_eq!(delay, Duration::from_micros(111_129));
    d.handle_timeout(at - Duration::from_millis(1));
    assert!(outputs(&mut d).is_empty());
    d.handle_timeout(at);
    assert_eq!(outputs(&mut d), vec![Output::Connect]);
    d.handle_connected(at);
    let f = frames(&outputs(&mut d));
    assert_eq!(
        f[0]["payload"]["resume"],
        json!({"session_id": SID, "resume_token": TOKEN1, "last_event_seq": 0})
    );
    feed(&mut d, at, welcome(SID, TOKEN2, None, &ALL));
    assert!(outputs(&mut d).is_empty());
    assert_eq!(d.snapshot().welcomes, 2);
    assert_eq!(d.snapshot().resume_token.as_deref(), Some(TOKEN2));
}

#[test]
fn failed_reconnects_are_bounded_then_the_session_closes() {
    let mut o = options(ws());
    o.max_reconnect_attempts = 2;
    let (mut d, t0, _) = open_with(&o);
    let sink = Sink::new(8);
    let (_, submit_id) = submit(&mut d, t0, &sink);
    feed(&mut d, t0, accepted(JOB, Some(&submit_id)));
    outputs(&mut d);
    d.handle_disconnected(t0, "gone");
    outputs(&mut d);
    let at = d.poll_timeout().unwrap();
    d.handle_timeout(at);
    assert_eq!(outputs(&mut d), vec![Output::Connect]);
    d.handle_connect_failed(at, "refused");
    let at2 = d.poll_timeout().unwrap();
    // The second attempt waits twice as long (plus jitter).
    assert!(at2 - at >= Duration::from_millis(200));
    d.handle_timeout(at2);
    assert_eq!(outputs(&mut d), vec![Output::Connect]);
    d.handle_connect_failed(at2, "refused again");
    assert_eq!(outputs(&mut d), vec![Output::Closed]);
    assert!(d.is_closed());
    assert_eq!(
        sink.end.borrow_mut().take(),
        Some(Err(ClientError::transport("refused again")))
    );
    let t = d.handle_command(at2, Command::Ping);
    assert_eq!(
        outputs(&mut d),
        vec![Output::Answer(
            t,
            Answer::Failed(ClientError::transport("refused again"))
        )]
    );
}

#[test]
fn a_stdio_session_ends_with_its_transport() {
    let (mut d, t0, _) = open_with(&options(Target::Stdio(vec!["arcp".into()])));
    d.handle_disconnected(t0, "child closed its stdout");
    assert_eq!(outputs(&mut d), vec![Output::Closed]);
    assert_eq!(d.poll_timeout(), None);
}

#[test]
fn without_auto_resume_a_resume_command_reconnects() {
    let mut o = options(ws());
    o.auto_resume = false;
    let (mut d, t0, _) = open_with(&o);
    let td = d.handle_command(t0, Command::DropTransport);
    assert_eq!(
        outputs(&mut d),
        vec![Output::CloseTransport, Output::Answer(td, Answer::Done)]
    );
    assert_eq!(d.poll_timeout(), None);
    let tr = d.handle_command(t0, Command::Resume);
    assert_eq!(outputs(&mut d), vec![Output::Connect]);
    d.handle_connected(t0);
    outputs(&mut d);
    feed(&mut d, t0, welcome(SID, TOKEN2, None, &ALL));
    let outs = outputs(&mut d);
    assert!(matches!(&outs[..], [Output::Answer(t, Answer::Welcome(w))] if *t == tr && w.resumed));
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
    let mut o = options(ws());
    o.resume = Some(state());
    o.resume_retry = ResumeRetry::new(2, Duration::from_millis(50), Duration::from_secs(1));
    let (mut d, t0, _) = driver_with(&o);
    let w = d.wait_welcome();
    let mut seen = Vec::new();
    let mut now = t0;
    for _ in 0..3 {
        d.handle_connected(now);
        let f = frames(&outputs(&mut d));
        assert_eq!(
            f[0]["payload"]["resume"],
            json!({"session_id": SID, "resume_token": TOKEN1, "last_event_seq": 5})
        );
        feed(&mut d, now, session_error("PERMISSION_DENIED", None));
        let outs = rest(outputs(&mut d));
        if outs == vec![Output::CloseTransport] {
            let at = d.poll_timeout().unwrap();
            seen.push(Some(at - now));
            d.handle_timeout(at);
            assert_eq!(outputs(&mut d), vec![Output::Connect]);
            now = at;
        } else {
            assert_eq!(
                outs,
                vec![
                    Output::Answer(
                        w,
                        Answer::Failed(ClientError::Refused {
                            code: ErrorCode::PermissionDenied,
                            message: "m".into(),
                            retryable: false
                        })
                    ),
                    Output::CloseTransport,
                    Output::Closed
                ]
            );
            seen.push(None);
        }
    }
    assert_eq!(
        seen,
        vec![
            Some(Duration::from_millis(50)),
            Some(Duration::from_millis(100)),
            None
        ]
    );
    assert!(d.is_closed());
}

#[test]
fn close_sends_bye_answers_then_ends_every_job() {
    let (mut d, t0, _) = open();
    let sink = Sink::new(8);
    let (_, submit_id) = submit(&mut d, t0, &sink);
    feed(&mut d, t0, accepted(JOB, Some(&submit_id)));
    outputs(&mut d);
    let tp = d.handle_command(t0, Command::Ping);
    outputs(&mut d);
    let tc = d.handle_command(t0, Command::Close);
    let outs = outputs(&mut d);
    assert_eq!(types(&outs), ["session.bye"]);
    assert_eq!(
        rest(outs),
        vec![
            Output::Answer(tc, Answer::Done),
            Output::CloseTransport,
            Output::Answer(tp, Answer::Failed(ClientError::Closed)),
            Output::Closed
        ]
    );
    assert_eq!(sink.end.borrow_mut().take(), Some(Err(ClientError::Closed)));
    assert!(d.is_closed());
}

#[test]
fn the_tap_sees_both_directions_and_the_end() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let s = Arc::clone(&seen);
    let mut o = options(ws());
    o.tap = Some(Arc::new(move |ev: TapEvent<'_>| {
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
    }));
    let (mut d, t0, _) = open_with(&o);
    d.tap_sent(br#"{"type":"raw"}"#);
    d.handle_disconnected(t0, "bye");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            "> \"session.hello\"".to_owned(),
            "< \"session.welcome\"".to_owned(),
            "> \"raw\"".to_owned(),
            "x bye".to_owned()
        ]
    );
}
