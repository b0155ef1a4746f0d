//! Clustered reads (issue #19, "Core, part 2"): `job.subscribe`, `job.cancel` and
//! `session.list_jobs` of jobs that run on other nodes, through `LookupJob`,
//! `ReadJobEvents` and `ListStoredJobs` answered here from an in-test "store" (vectors).

mod runtime_support;

use arcp_proto::runtime::{
    Admission, ConnId, Effect, EffectId, EffectOutcome, JobRecord, RuntimeConfig, RuntimeEvent,
    SubscribeDecision,
};
use arcp_proto::wire::{
    AgentRef, EventBody, FinalStatus, Frame, JobEvent, JobResult, JobStatus, LeaseMap, LogBody,
    Message, StatusBody, Timestamp,
};
use runtime_support::*;
use serde_json::{Value, json};
use std::time::Duration;

/// The remote job every scenario reads: alice's, submitted on another node's session.
const REMOTE: &str = "job_remote";
const REMOTE_SESSION: &str = "sess_remote";

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn record(job: &str, session: &str, principal: &str, status: JobStatus, at: &str) -> JobRecord {
    JobRecord {
        job_id: job.into(),
        session_id: session.into(),
        principal: principal.into(),
        agent: AgentRef::parse("slow@1.0.0").unwrap(),
        status,
        submitted_at: ts(at),
        last_event_seq: 3,
        lease: LeaseMap::default(),
        lease_constraints: None,
        trace_id: None,
        parent_job_id: None,
        delegate_id: None,
        accepted: None,
        terminal: None,
    }
}

fn log_frame(job: &str, seq: u64, text: &str) -> Frame {
    let m = Message::Event(JobEvent {
        ts: ts("2026-11-24T01:29:00Z"),
        body: EventBody::Log(LogBody {
            level: "info".into(),
            message: text.into(),
            attributes: None,
            extra: Default::default(),
        }),
    });
    Frame::new(eid(900 + seq as u32), m)
        .with_session(REMOTE_SESSION)
        .with_job(job.to_owned())
        .with_event_seq(seq)
}

fn result_frame(seq: u64) -> Frame {
    let m = Message::Result(JobResult {
        final_status: FinalStatus::Success,
        result: Some(json!("done")),
        result_id: None,
        result_size: None,
        summary: None,
        completed_at: None,
    });
    Frame::new(eid(900 + seq as u32), m)
        .with_session(REMOTE_SESSION)
        .with_job(REMOTE.to_owned())
        .with_event_seq(seq)
}

fn clustered() -> RuntimeConfig {
    let mut cfg = contract_config();
    cfg.durable = true;
    cfg.clustered = true;
    cfg
}

fn is_read(e: &Effect) -> bool {
    matches!(
        e,
        Effect::LookupJob { .. } | Effect::ReadJobEvents { .. } | Effect::ListStoredJobs { .. }
    )
}

/// One clustered runtime and the shared store's content, as vectors.
struct Node {
    h: Host,
    /// Every job record of the store (all nodes).
    jobs: Vec<JobRecord>,
    /// Every logged frame of the store (all sessions).
    log: Vec<Frame>,
    /// Cluster reads issued and not yet answered.
    reads: Vec<(EffectId, Effect)>,
}

impl Node {
    fn new(cfg: RuntimeConfig) -> Self {
        let mut n = Node {
            h: Host::new(cfg),
            jobs: vec![record(
                REMOTE,
                REMOTE_SESSION,
                "alice",
                JobStatus::Running,
                "2026-11-24T01:00:00Z",
            )],
            log: vec![
                log_frame("job_other", 1, "not this job"),
                log_frame(REMOTE, 2, "first"),
                log_frame(REMOTE, 3, "second"),
            ],
            reads: Vec::new(),
        };
        n.pump();
        n
    }

    /// Drains the runtime: storage effects are answered `Done`, cluster reads are kept.
    fn pump(&mut self) {
        loop {
            self.h.drain();
            let held: Vec<_> = self.h.effects.drain(..).collect();
            if held.is_empty() {
                return;
            }
            for (id, e) in held {
                if is_read(&e) {
                    self.reads.push((id, e));
                } else if matches!(e, Effect::AdmitSession { .. }) {
                    // Part 3's admissions: every session and job is admitted here.
                    let out = EffectOutcome::SessionAdmission { admitted: true };
                    self.h.rt.handle_effect_result(self.h.now, id, out);
                } else if matches!(e, Effect::AdmitJob { .. }) {
                    let out = EffectOutcome::JobAdmission(Admission::Admitted);
                    self.h.rt.handle_effect_result(self.h.now, id, out);
                } else {
                    self.h
                        .rt
                        .handle_effect_result(self.h.now, id, EffectOutcome::Done);
                }
            }
        }
    }

    /// The cluster reads waiting for an answer.
    fn pending(&self) -> Vec<Effect> {
        self.reads.iter().map(|(_, e)| e.clone()).collect()
    }

    /// Answers every waiting read from the store; returns them.
    fn serve(&mut self) -> Vec<Effect> {
        let reads: Vec<_> = self.reads.drain(..).collect();
        let mut done = Vec::new();
        for (id, e) in reads {
            let out = self.answer(&e);
            self.h.rt.handle_effect_result(self.h.now, id, out);
            self.pump();
            done.push(e);
        }
        done
    }

    /// Answers every waiting read with `out`.
    fn answer_all(&mut self, out: EffectOutcome) {
        for (id, _) in std::mem::take(&mut self.reads) {
            self.h.rt.handle_effect_result(self.h.now, id, out.clone());
            self.pump();
        }
    }

    fn answer(&self, e: &Effect) -> EffectOutcome {
        match e {
            Effect::LookupJob { job_id } => EffectOutcome::JobLookedUp {
                job: self
                    .jobs
                    .iter()
                    .find(|r| r.job_id == *job_id)
                    .cloned()
                    .map(Box::new),
            },
            Effect::ReadJobEvents {
                session_id,
                job_id,
                after_seq,
            } => EffectOutcome::EventsRead {
                frames: self
                    .log
                    .iter()
                    .filter(|f| {
                        f.session_id.as_ref() == Some(session_id)
                            && f.job_id.as_ref() == Some(job_id)
                            && f.event_seq.is_some_and(|s| s > *after_seq)
                    })
                    .cloned()
                    .collect(),
            },
            Effect::ListStoredJobs { principal } => EffectOutcome::JobsListed {
                jobs: self
                    .jobs
                    .iter()
                    .filter(|r| principal.as_ref().is_none_or(|p| *p == r.principal))
                    .cloned()
                    .collect(),
            },
            _ => EffectOutcome::Failed {
                message: "not a read".into(),
            },
        }
    }

    fn hello(&mut self, conn: u64, token: &str) -> ConnId {
        let c = self.h.open(conn);
        self.send(c, hello(token, &ALL));
        let out = self.h.take_json(c);
        assert_eq!(out[0]["type"], "session.welcome", "{out:?}");
        c
    }

    fn send(&mut self, c: ConnId, v: Value) {
        self.h.send(c, v);
        self.pump();
    }

    fn advance(&mut self, ms: u64) {
        self.h.advance(Duration::from_millis(ms));
        self.pump();
    }

    fn subscribe(&mut self, c: ConnId, n: u32, job: &str, history: bool) {
        self.send(
            c,
            json!({"id":eid(n),"type":"job.subscribe","payload":{"job_id":job,"history":history}}),
        );
    }
}

fn read(after_seq: u64) -> Effect {
    Effect::ReadJobEvents {
        session_id: REMOTE_SESSION.into(),
        job_id: REMOTE.into(),
        after_seq,
    }
}

fn lookup(job: &str) -> Effect {
    Effect::LookupJob { job_id: job.into() }
}

/// (type, event_seq, log message or final status) of each frame.
fn summary(out: &[Value]) -> Vec<(String, Option<u64>, Value)> {
    out.iter()
        .map(|f| {
            let p = &f["payload"];
            let what = if f["type"] == "job.result" {
                p["final_status"].clone()
            } else {
                p["body"]["message"].clone()
            };
            (
                f["type"].as_str().unwrap().to_owned(),
                f["event_seq"].as_u64(),
                what,
            )
        })
        .collect()
}

#[test]
fn a_remote_job_is_subscribed_with_history_then_polled_until_its_terminal() {
    let mut n = Node::new(clustered());
    let c = n.hello(1, "alice-token");
    n.subscribe(c, 1, REMOTE, true);
    assert_eq!(n.pending(), vec![lookup(REMOTE)]);
    assert_eq!(n.serve(), vec![lookup(REMOTE)]);
    assert_eq!(n.pending(), vec![read(0)]);
    assert!(n.h.take(c).is_empty());
    n.serve();
    let out = n.h.take_json(c);
    let sub = &out[0];
    assert_eq!(sub["type"], "job.subscribed");
    assert_eq!(sub["job_id"], REMOTE);
    assert_eq!(sub["payload"]["request_id"], eid(1).as_str());
    assert_eq!(sub["payload"]["current_status"], "running");
    assert_eq!(sub["payload"]["agent"], "slow@1.0.0");
    assert_eq!(sub["payload"]["replayed"], 2);
    assert_eq!(sub["payload"]["subscribed_from"], 2);
    assert_eq!(
        summary(&out[1..]),
        vec![
            ("job.event".into(), Some(1), json!("first")),
            ("job.event".into(), Some(2), json!("second")),
        ]
    );
    assert!(out[1..].iter().all(|f| f["job_id"] == REMOTE));
    assert!(n.pending().is_empty());

    // Live: read every 200 ms after the last seq seen, stamped in the subscriber's space.
    n.advance(199);
    assert!(n.pending().is_empty());
    n.advance(1);
    assert_eq!(n.pending(), vec![read(3)]);
    n.log.push(log_frame(REMOTE, 4, "third"));
    n.log.push(log_frame("job_other", 5, "still not this job"));
    n.serve();
    assert_eq!(
        summary(&n.h.take_json(c)),
        vec![("job.event".into(), Some(3), json!("third"))]
    );
    n.advance(200);
    assert_eq!(n.pending(), vec![read(4)]);
    n.serve();
    assert!(n.h.take(c).is_empty());
    n.advance(200);
    assert_eq!(n.pending(), vec![read(4)]);
    n.log.push(log_frame(REMOTE, 6, "fourth"));
    n.log.push(result_frame(7));
    n.serve();
    assert_eq!(
        summary(&n.h.take_json(c)),
        vec![
            ("job.event".into(), Some(4), json!("fourth")),
            ("job.result".into(), Some(5), json!("success")),
        ]
    );
    // The terminal ended the subscription: no more reads.
    n.advance(1000);
    n.advance(1000);
    assert!(n.pending().is_empty());
    assert!(!n.h.all_effects.iter().any(|e| *e == read(7)));
}

#[test]
fn an_unknown_remote_job_gets_the_unclustered_refusal() {
    let mut plain = Host::contract();
    let (pc, _, _) = plain.hello(1, "alice-token", &ALL);
    plain.send(
        pc,
        json!({"id":eid(1),"type":"job.subscribe","payload":{"job_id":"job_nope"}}),
    );
    let want = plain.take_json(pc);
    assert_eq!(want[0]["payload"]["code"], "PERMISSION_DENIED");

    let mut n = Node::new(clustered());
    let c = n.hello(1, "alice-token");
    n.subscribe(c, 1, "job_nope", false);
    assert_eq!(n.serve(), vec![lookup("job_nope")]);
    let got = n.h.take_json(c);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], want[0]["type"]);
    assert_eq!(got[0]["payload"], want[0]["payload"]);
    assert_eq!(
        got[0]["payload"]["message"],
        "not permitted to subscribe to this job"
    );
    assert_eq!(got[0]["payload"]["request_id"], eid(1).as_str());
    assert!(n.pending().is_empty());

    // Another principal's job: the same refusal (D37).
    let b = n.hello(2, "bob-token");
    n.subscribe(b, 1, REMOTE, true);
    assert_eq!(n.serve(), vec![lookup(REMOTE)]);
    let got = n.h.take_json(b);
    assert_eq!(got[0]["payload"], want[0]["payload"]);
    let audits: Vec<(String, Option<String>, SubscribeDecision)> =
        n.h.events
            .iter()
            .filter_map(|e| match e {
                RuntimeEvent::SubscribeAudit {
                    job_id,
                    target_principal,
                    decision,
                    ..
                } => Some((job_id.to_string(), target_principal.clone(), *decision)),
                _ => None,
            })
            .collect();
    assert_eq!(
        audits,
        vec![
            ("job_nope".into(), None, SubscribeDecision::Denied),
            (
                REMOTE.into(),
                Some("alice".into()),
                SubscribeDecision::Denied
            ),
        ]
    );
    n.advance(1000);
    assert!(n.pending().is_empty());
}

#[test]
fn an_observer_subscribes_live_from_the_records_last_seq() {
    let mut n = Node::new(clustered());
    let c = n.hello(1, "auditor-token");
    n.subscribe(c, 1, REMOTE, false);
    assert_eq!(n.serve(), vec![lookup(REMOTE)]);
    // Without history: what the job logged after its record's seq, to start after it.
    assert_eq!(n.serve(), vec![read(3)]);
    let out = n.h.take_json(c);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["type"], "job.subscribed");
    assert_eq!(out[0]["payload"]["replayed"], 0);
    assert_eq!(out[0]["payload"]["subscribed_from"], 0);
    assert_eq!(out[0]["payload"]["current_status"], "running");
    assert!(out[0]["payload"].get("credentials").is_none());
    n.advance(200);
    // The record's last_event_seq is 3: live frames after it.
    assert_eq!(n.pending(), vec![read(3)]);
    n.log.push(log_frame(REMOTE, 4, "live"));
    n.serve();
    assert_eq!(
        summary(&n.h.take_json(c)),
        vec![("job.event".into(), Some(1), json!("live"))]
    );
}

#[test]
fn unsubscribe_stops_polling_and_drops_a_read_in_flight() {
    let mut n = Node::new(clustered());
    let c = n.hello(1, "alice-token");
    n.subscribe(c, 1, REMOTE, false);
    n.serve();
    n.serve(); // the read that finds where the live frames start
    let _ = n.h.take(c);
    n.advance(200);
    assert_eq!(n.pending(), vec![read(3)]);
    n.send(
        c,
        json!({"id":eid(2),"type":"job.unsubscribe","payload":{"job_id":REMOTE}}),
    );
    n.log.push(log_frame(REMOTE, 4, "after unsubscribe"));
    n.serve();
    assert!(n.h.take(c).is_empty());
    n.advance(1000);
    assert!(n.pending().is_empty());

    // Subscribing again starts a new follow; the old one's answers are ignored.
    n.subscribe(c, 3, REMOTE, false);
    n.serve();
    n.serve(); // the read that finds where the live frames start
    assert_eq!(n.h.take_json(c)[0]["type"], "job.subscribed");
    // Live only: the frame logged before this subscribe (seq 4) is not replayed.
    n.advance(200);
    assert_eq!(n.pending(), vec![read(4)]);
    n.log.push(log_frame(REMOTE, 5, "live again"));
    n.serve();
    assert_eq!(
        summary(&n.h.take_json(c)),
        vec![("job.event".into(), Some(1), json!("live again"))]
    );
}

#[test]
fn the_sessions_end_stops_polling() {
    let mut cfg = clustered();
    cfg.resume_window = Duration::from_secs(1);
    let mut n = Node::new(cfg);
    let c = n.hello(1, "alice-token");
    n.subscribe(c, 1, REMOTE, false);
    n.serve();
    n.serve(); // the read that finds where the live frames start
    n.h.close(c);
    n.pump();
    // Detached: still read into its buffer for a resume.
    n.advance(200);
    assert_eq!(n.pending(), vec![read(3)]);
    n.serve();
    n.advance(1000);
    n.answer_all(EffectOutcome::EventsRead { frames: Vec::new() });
    n.advance(1000);
    n.advance(1000);
    assert!(n.pending().is_empty());
}

#[test]
fn a_failed_read_is_refused_or_retried() {
    let mut n = Node::new(clustered());
    let c = n.hello(1, "alice-token");
    n.subscribe(c, 1, REMOTE, false);
    n.answer_all(EffectOutcome::Failed {
        message: "boom".into(),
    });
    let out = n.h.take_json(c);
    assert_eq!(out[0]["payload"]["code"], "INTERNAL_ERROR");
    assert_eq!(
        out[0]["payload"]["message"],
        "shared store unavailable: boom"
    );
    assert_eq!(out[0]["payload"]["request_id"], eid(1).as_str());

    n.subscribe(c, 2, REMOTE, false);
    n.serve();
    n.serve(); // the read that finds where the live frames start
    let _ = n.h.take(c);
    n.advance(200);
    n.answer_all(EffectOutcome::Failed {
        message: "boom".into(),
    });
    n.advance(200);
    assert_eq!(n.pending(), vec![read(3)]);
    // A nonsense answer (frames of other jobs, without seqs, an odd outcome) is ignored.
    let junk = log_frame("job_other", 4, "x");
    let mut no_seq = log_frame(REMOTE, 4, "y");
    no_seq.event_seq = None;
    n.answer_all(EffectOutcome::EventsRead {
        frames: vec![junk, no_seq],
    });
    n.advance(200);
    n.answer_all(EffectOutcome::Done);
    n.advance(200);
    assert_eq!(n.pending(), vec![read(3)]);
    assert!(n.h.take(c).is_empty());
}

#[test]
fn a_subscriber_cannot_cancel_a_remote_job() {
    let mut n = Node::new(clustered());
    let c = n.hello(1, "auditor-token");
    n.send(
        c,
        json!({"id":eid(1),"type":"job.cancel","job_id":REMOTE,"payload":{}}),
    );
    assert_eq!(n.serve(), vec![lookup(REMOTE)]);
    let out = n.h.take_json(c);
    assert_eq!(out[0]["payload"]["code"], "PERMISSION_DENIED");
    assert_eq!(
        out[0]["payload"]["message"],
        "only the submitting session may cancel this job"
    );
    assert_eq!(out[0]["payload"]["request_id"], eid(1).as_str());

    // Bob may not see it: not found, as for an unknown job.
    let b = n.hello(2, "bob-token");
    n.send(
        b,
        json!({"id":eid(2),"type":"job.cancel","job_id":REMOTE,"payload":{}}),
    );
    n.serve();
    let out = n.h.take_json(b);
    assert_eq!(out[0]["payload"]["code"], "JOB_NOT_FOUND");
    assert_eq!(
        out[0]["payload"]["message"],
        format!("job {REMOTE:?} not found")
    );
    assert_eq!(out[0]["payload"]["request_id"], eid(2).as_str());
}

/// The job ids of a `session.jobs` answer, and its `next_cursor`.
fn page(out: &[Value]) -> (Vec<String>, Value) {
    let p = &out[0]["payload"];
    let ids = p["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap().to_owned())
        .collect();
    (ids, p["next_cursor"].clone())
}

#[test]
fn list_jobs_merges_stored_and_held_jobs() {
    let mut n = Node::new(clustered());
    let c = n.hello(1, "alice-token");
    n.send(
        c,
        json!({"id":eid(1),"type":"job.submit","payload":{"agent":"echo"}}),
    );
    let accepted = n.h.take_json(c);
    let local = accepted[0]["payload"]["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The store has the local job too (stale: queued), bob's job and a finished one.
    let mut stale = record(
        &local,
        "sess_x",
        "alice",
        JobStatus::Pending,
        "2026-11-24T01:30:25Z",
    );
    stale.agent = AgentRef::parse("slow@1.0.0").unwrap();
    n.jobs.push(stale);
    n.jobs.push(record(
        "job_bob",
        "sess_b",
        "bob",
        JobStatus::Running,
        "2026-11-24T01:10:00Z",
    ));
    n.jobs.push(record(
        "job_late",
        "sess_y",
        "alice",
        JobStatus::Success,
        "2026-11-24T02:00:00Z",
    ));

    n.send(
        c,
        json!({"id":eid(2),"type":"session.list_jobs","payload":{"limit":2}}),
    );
    assert_eq!(
        n.serve(),
        vec![Effect::ListStoredJobs {
            principal: Some("alice".into())
        }]
    );
    let out = n.h.take_json(c);
    assert_eq!(out[0]["payload"]["request_id"], eid(2).as_str());
    assert_eq!(page(&out), (vec![REMOTE.into(), local.clone()], json!("2")));
    // The held job wins over its stored record.
    assert_eq!(out[0]["payload"]["jobs"][1]["agent"], "echo@1.0.0");
    assert_eq!(out[0]["payload"]["jobs"][1]["status"], "running");
    assert_eq!(out[0]["payload"]["jobs"][0]["status"], "running");

    n.send(
        c,
        json!({"id":eid(3),"type":"session.list_jobs","payload":{"limit":2,"cursor":"2"}}),
    );
    n.serve();
    assert_eq!(
        page(&n.h.take_json(c)),
        (vec!["job_late".into()], Value::Null)
    );

    n.send(
        c,
        json!({"id":eid(4),"type":"session.list_jobs","payload":{"filter":{"status":["success"]}}}),
    );
    n.serve();
    assert_eq!(
        page(&n.h.take_json(c)),
        (vec!["job_late".into()], Value::Null)
    );

    // An observer reads every principal's records.
    let a = n.hello(2, "auditor-token");
    n.send(
        a,
        json!({"id":eid(5),"type":"session.list_jobs","payload":{"filter":{"agent":"slow"}}}),
    );
    assert_eq!(n.serve(), vec![Effect::ListStoredJobs { principal: None }]);
    assert_eq!(
        page(&n.h.take_json(a)),
        (
            vec![REMOTE.into(), "job_bob".into(), "job_late".into()],
            Value::Null
        )
    );

    // A failed read: INTERNAL_ERROR, nothing listed.
    n.send(
        c,
        json!({"id":eid(6),"type":"session.list_jobs","payload":{}}),
    );
    n.answer_all(EffectOutcome::Failed {
        message: "down".into(),
    });
    let out = n.h.take_json(c);
    assert_eq!(out[0]["type"], "session.error");
    assert_eq!(
        out[0]["payload"]["message"],
        "shared store unavailable: down"
    );
}

#[test]
fn unclustered_runtimes_emit_no_cluster_read() {
    for durable in [false, true] {
        let mut cfg = contract_config();
        cfg.durable = durable;
        let mut n = Node::new(cfg);
        let c = n.hello(1, "auditor-token");
        n.subscribe(c, 1, REMOTE, true);
        n.send(
            c,
            json!({"id":eid(2),"type":"job.cancel","job_id":REMOTE,"payload":{}}),
        );
        n.send(
            c,
            json!({"id":eid(3),"type":"session.list_jobs","payload":{}}),
        );
        n.advance(1000);
        let out = n.h.take_json(c);
        let codes: Vec<&Value> = out.iter().map(|f| &f["type"]).collect();
        assert_eq!(
            codes,
            vec!["session.error", "session.error", "session.jobs"]
        );
        assert_eq!(out[0]["payload"]["code"], "PERMISSION_DENIED");
        assert_eq!(out[1]["payload"]["code"], "JOB_NOT_FOUND");
        assert_eq!(out[2]["payload"]["jobs"], json!([]));
        assert!(n.pending().is_empty());
        assert!(!n.h.all_effects.iter().any(is_read));
    }
}

#[test]
fn history_over_the_subscribers_buffer_ends_with_the_truncation_notice() {
    let mut cfg = clustered();
    cfg.bounds.max_ring_events = 2;
    let mut n = Node::new(cfg);
    let c = n.hello(1, "alice-token");
    n.subscribe(c, 1, REMOTE, true);
    n.serve();
    n.serve();
    let out = n.h.take_json(c);
    assert_eq!(out[0]["payload"]["replayed"], 1);
    assert_eq!(
        summary(&out[1..2]),
        vec![("job.event".into(), Some(1), json!("first"))]
    );
    let notice = &out[2]["payload"]["body"];
    assert_eq!(out[2]["event_seq"], 2);
    assert_eq!(notice["phase"], "subscription_truncated");
    assert_eq!(notice["code"], "RESUME_WINDOW_EXPIRED");
    assert_eq!(notice["last_event_seq"], 2);
    assert_eq!(notice["kept_from"], 1);
    assert_eq!(out.len(), 3);
    n.advance(1000);
    assert!(n.pending().is_empty());
}

#[test]
fn a_rotated_credentials_value_reaches_only_its_owner() {
    let rotated = |seq: u64| {
        let m = Message::Event(JobEvent {
            ts: ts("2026-11-24T01:29:00Z"),
            body: EventBody::Status(StatusBody {
                phase: "credential_rotated".into(),
                message: None,
                id: Some("cred_1".into()),
                value: Some("secret-2".into()),
                extra: Default::default(),
            }),
        });
        Frame::new(eid(900 + seq as u32), m)
            .with_session(REMOTE_SESSION)
            .with_job(REMOTE.to_owned())
            .with_event_seq(seq)
    };
    for (token, value) in [
        ("alice-token", json!("secret-2")),
        ("auditor-token", Value::Null),
    ] {
        let mut n = Node::new(clustered());
        n.log.push(rotated(4));
        let c = n.hello(1, token);
        n.subscribe(c, 1, REMOTE, true);
        n.serve();
        n.serve();
        let out = n.h.take_json(c);
        assert_eq!(out[0]["payload"]["replayed"], 3);
        assert_eq!(out[3]["payload"]["body"]["phase"], "credential_rotated");
        assert_eq!(out[3]["payload"]["body"]["value"], value, "{token}");
    }
}

#[test]
fn remote_subscriptions_count_against_the_sessions_limit() {
    let mut cfg = clustered();
    cfg.bounds.max_subscriptions_per_session = 1;
    let mut n = Node::new(cfg);
    n.jobs.push(record(
        "job_two",
        REMOTE_SESSION,
        "alice",
        JobStatus::Running,
        "2026-11-24T01:05:00Z",
    ));
    let c = n.hello(1, "alice-token");
    // Both looked up before either is answered: the second is refused once its history
    // is read, the first one having taken the only slot.
    n.subscribe(c, 1, REMOTE, true);
    n.subscribe(c, 2, "job_two", true);
    assert_eq!(n.serve(), vec![lookup(REMOTE), lookup("job_two")]);
    assert_eq!(n.pending().len(), 2);
    n.serve();
    let out = n.h.take_json(c);
    let kinds: Vec<(&Value, &Value)> = out
        .iter()
        .map(|f| (&f["type"], &f["payload"]["request_id"]))
        .collect();
    assert_eq!(kinds[0], (&json!("job.subscribed"), &json!(eid(1))));
    assert_eq!(out.len(), 4);
    assert_eq!(out[3]["type"], "session.error");
    assert_eq!(out[3]["payload"]["request_id"], eid(2).as_str());
    assert_eq!(
        out[3]["payload"]["message"],
        "too many subscriptions on this session"
    );
    // Now refused after the lookup, without reading the history; the subscribed job may be
    // subscribed again.
    n.subscribe(c, 3, "job_two", true);
    assert_eq!(n.serve(), vec![lookup("job_two")]);
    assert_eq!(n.h.take_json(c)[0]["payload"]["code"], "INTERNAL_ERROR");
    assert!(n.pending().is_empty());
    n.subscribe(c, 4, REMOTE, false);
    n.serve();
    n.serve(); // the read that finds where the live frames start
    assert_eq!(n.h.take_json(c)[0]["type"], "job.subscribed");
}
