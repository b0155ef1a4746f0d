//! Held jobs (issue #18): while a job's session buffer is full the host parks its agent's
//! emits, unfed and unanswered, and feeds them, in order, once the session drains.

mod support;

use arcp_host::server::{AgentCall, Bounds, EmitGate};
use arcp_proto::runtime::{AgentEvent, AgentReply};
use arcp_proto::wire::{ErrorPayload, EventBody, JobId, LogBody};
use futures_channel::oneshot;
use support::*;

type Reply = oneshot::Receiver<Result<AgentReply, ErrorPayload>>;

/// An `info` log event saying `msg`.
fn log(msg: &str) -> AgentEvent {
    AgentEvent::Event(EventBody::Log(LogBody {
        level: "info".into(),
        message: msg.into(),
        attributes: None,
        extra: Default::default(),
    }))
}

/// Emits `msg` as an agent that waits for the reply.
fn emit(r: &mut Rig, job: &JobId, msg: &str) -> Reply {
    let (tx, rx) = oneshot::channel();
    r.feed(Input::Agent(AgentMsg::Call {
        job_id: job.clone(),
        call: AgentCall::Emit(log(msg), tx),
    }));
    rx
}

fn answered(rx: &mut Reply) -> bool {
    matches!(rx.try_recv(), Ok(Some(Ok(AgentReply::Ok))))
}

/// A session whose connection closed after submitting `slow`, on a buffer of four frames.
struct Detached {
    r: Rig,
    sid: Value,
    token: Value,
    job: JobId,
}

fn detached_job() -> Detached {
    let mut opts = ServerOptions {
        bounds: Bounds {
            max_ring_events: 4,
            ring_margin_events: 0,
            ring_margin_bytes: 0,
            ..Bounds::default()
        },
        ..demo_opts()
    };
    let mut r = Rig::new(&mut opts);
    let a = ConnId(1);
    r.open(a);
    let sid = r.login(a, "01J00000000000000000000001", "alice-token");
    let token = r.frames(a).last().unwrap()["payload"]["resume_token"].clone();
    r.frame(
        a,
        json!({"arcp":"1.1","id":"01J00000000000000000000002","type":"job.submit",
            "payload":{"agent":"slow","input":{}}}),
    );
    let job = JobId::from(r.frames(a).last().unwrap()["job_id"].as_str().unwrap());
    r.feed(Input::Closed { conn: a });
    Detached { r, sid, token, job }
}

/// One job waits, its session's buffer full at seq 4.
fn assert_held_at_four(r: &Rig, sid: &Value) {
    assert_eq!(r.h.jobs_waiting(), 1);
    assert_eq!(
        r.h.runtime()
            .session_last_seq(&sid.as_str().unwrap().into()),
        Some(4)
    );
}

/// Resumes the session on a new connection from `last_event_seq` 0.
fn resume(r: &mut Rig, sid: &Value, token: &Value) -> ConnId {
    let b = ConnId(2);
    r.open(b);
    r.feed(Input::Frame {
        conn: b,
        bytes: json!({"arcp":"1.1","id":"01J00000000000000000000003","type":"session.hello",
            "payload":{"client":{"name":"t","version":"1"},
                "auth":{"scheme":"bearer","token":"alice-token"},
                "capabilities":{"encodings":["json"],"features":[]},
                "resume":{"session_id":sid,"resume_token":token,"last_event_seq":0}}})
        .to_string()
        .into_bytes(),
    });
    r.run_auths();
    b
}

#[test]
fn a_held_jobs_emits_wait_unanswered_until_its_session_drains() {
    let Detached {
        mut r,
        sid,
        token,
        job,
    } = detached_job();
    // Detached: four undelivered events fill the buffer; the fifth emit is parked.
    let mut first: Vec<Reply> = (0..4)
        .map(|i| emit(&mut r, &job, &format!("e{i}")))
        .collect();
    assert!(first.iter_mut().all(answered));
    let mut fifth = emit(&mut r, &job, "e4");
    let mut sixth = emit(&mut r, &job, "e5");
    assert!(matches!(fifth.try_recv(), Ok(None)));
    assert!(matches!(sixth.try_recv(), Ok(None)));
    assert_held_at_four(&r, &sid);
    // The client resumes: the replay is handed out, the session drains, the parked emits
    // are fed in order and answered.
    let b = resume(&mut r, &sid, &token);
    assert!(answered(&mut fifth) && answered(&mut sixth));
    assert_eq!(r.h.jobs_waiting(), 0);
    let frames = r.frames(b);
    let seqs: Vec<u64> = frames
        .iter()
        .filter_map(|f| f["event_seq"].as_u64())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6]);
    let logs: Vec<&str> = frames
        .iter()
        .filter_map(|f| f["payload"]["body"]["message"].as_str())
        .collect();
    assert_eq!(logs, vec!["e0", "e1", "e2", "e3", "e4", "e5"]);
}

/// Posts `msg` as an agent whose emits are answered before they are fed.
fn post(r: &mut Rig, msg: &str, gate: &Arc<EmitGate>) {
    r.feed(Input::Agent(AgentMsg::Posted {
        gate: gate.clone(),
        event: log(msg),
    }));
}

#[test]
fn posted_emits_shut_the_gate_once_held_and_are_parked_then_fed_in_order() {
    let Detached {
        mut r,
        sid,
        token,
        job,
    } = detached_job();
    let gate = Arc::new(EmitGate::new(job.clone()));
    // Four posts are fed and fill the buffer: the job is held.
    for i in 0..4 {
        post(&mut r, &format!("e{i}"), &gate);
        assert!(!gate.is_shut());
    }
    assert_eq!(r.h.jobs_waiting(), 0);
    // The fifth, posted before the agent could know: parked, not lost, and the gate shut;
    // then an emit that waits.
    post(&mut r, "e4", &gate);
    assert!(gate.is_shut());
    let mut sixth = emit(&mut r, &job, "e5");
    assert!(matches!(sixth.try_recv(), Ok(None)));
    assert_held_at_four(&r, &sid);
    let b = resume(&mut r, &sid, &token);
    assert!(answered(&mut sixth));
    assert_eq!(r.h.jobs_waiting(), 0);
    let logs: Vec<String> = r
        .frames(b)
        .iter()
        .filter_map(|f| f["payload"]["body"]["message"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(logs, vec!["e0", "e1", "e2", "e3", "e4", "e5"]);
}
