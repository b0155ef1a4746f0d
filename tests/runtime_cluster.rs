//! Clustered runtimes (issue #19): two `Runtime`s driven by hand over a tiny in-test store
//! (vectors): the welcome's node id, a resume on another node (claim, replay, forwarded live
//! frames), release, remote cancel, a lost node, an isolated node; unclustered unchanged.

mod runtime_support;

use arcp_proto::runtime::{
    Admission, AgentEvent, CloseReason, ConnId, CredentialRecord, Effect, EffectOutcome, JobRecord,
    Runtime, RuntimeConfig, SessionRecord, StoreSnapshot,
};
use arcp_proto::time::WallClock;
use arcp_proto::wire::{
    EventBody, Frame, JobId, JobStatus, LogBody, Message, SeededEntropy, SessionId,
};
use runtime_support::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn log(m: &str) -> AgentEvent {
    AgentEvent::Event(EventBody::Log(LogBody {
        level: "info".into(),
        message: m.into(),
        attributes: None,
        extra: Default::default(),
    }))
}

fn done() -> AgentEvent {
    AgentEvent::Result {
        result: Some(json!("ok")),
        summary: None,
    }
}

fn node_config(node: &str) -> RuntimeConfig {
    let mut cfg = contract_config();
    cfg.durable = true;
    cfg.clustered = true;
    cfg.node_id = Some(node.into());
    cfg
}

/// A node: a host over a runtime with its own entropy (ids differ between nodes).
fn node(name: &str, seed: u64) -> Host {
    let mut h = Host::new(node_config(name));
    h.rt = Runtime::new(
        node_config(name),
        WallClock::new(h.now, T0_UNIX_MICROS),
        Box::new(SeededEntropy::new(seed)),
    );
    h
}

/// The shared store: vectors and maps, with the contract's ownership rules.
#[derive(Default)]
struct Store {
    /// (session, seq, frame) as appended.
    events: Vec<(String, u64, Frame)>,
    /// session → (record, owner node).
    sessions: BTreeMap<String, (SessionRecord, String)>,
    /// job → (record, node it runs on).
    jobs: BTreeMap<String, (JobRecord, String)>,
    credentials: Vec<CredentialRecord>,
    /// Forwarded frames: (session, frame).
    feed: Vec<(String, Frame)>,
    /// (node, session) released by a claim.
    released: Vec<(String, String)>,
    /// (node, job) cancels routed.
    cancels: Vec<(String, String)>,
}

impl Store {
    /// Performs `e` for node `me`.
    fn apply(&mut self, me: &str, e: &Effect) -> EffectOutcome {
        match e {
            Effect::AppendEvents(frames) => {
                for f in frames {
                    let sid = f.session_id.to_string();
                    self.events.push((sid, f.event_seq, Frame::clone(&f.frame)));
                }
                EffectOutcome::Done
            }
            Effect::ReadEvents {
                session_id,
                after_seq,
            } => EffectOutcome::EventsRead {
                frames: self
                    .events
                    .iter()
                    .filter(|(s, q, _)| s == session_id.as_str() && q > after_seq)
                    .map(|(_, _, f)| f.clone())
                    .collect(),
            },
            Effect::PersistSession(r) => {
                let sid = r.session_id.to_string();
                match self.sessions.get_mut(&sid) {
                    // Fenced: only the owner writes.
                    Some((rec, owner)) if owner == me => *rec = r.clone(),
                    Some(_) => {}
                    None => {
                        self.sessions.insert(sid, (r.clone(), me.to_owned()));
                    }
                }
                EffectOutcome::Done
            }
            Effect::PersistJob(r) => {
                let id = r.job_id.to_string();
                let node = self
                    .jobs
                    .get(&id)
                    .map_or_else(|| me.to_owned(), |(_, n)| n.clone());
                self.jobs.insert(id, ((**r).clone(), node));
                EffectOutcome::Done
            }
            Effect::PersistCredential(c) => {
                self.credentials
                    .retain(|x| x.credential_id != c.credential_id);
                self.credentials.push(c.clone());
                EffectOutcome::Done
            }
            Effect::ClaimSession { session_id } => {
                let sid = session_id.to_string();
                let last_stored = self
                    .events
                    .iter()
                    .filter(|(s, _, _)| *s == sid)
                    .map(|(_, q, _)| *q)
                    .max()
                    .unwrap_or(0);
                let Some((rec, owner)) = self.sessions.get_mut(&sid) else {
                    return EffectOutcome::SessionClaimed {
                        session: None,
                        jobs: Vec::new(),
                    };
                };
                if owner != me {
                    self.released.push((owner.clone(), sid.clone()));
                    *owner = me.to_owned();
                }
                let mut session = rec.clone();
                session.last_event_seq = session.last_event_seq.max(last_stored);
                let jobs = self
                    .jobs
                    .values()
                    .filter(|(r, n)| {
                        r.session_id.as_str() == sid && !r.status.is_terminal() && n != me
                    })
                    .map(|(r, _)| r.clone())
                    .collect();
                EffectOutcome::SessionClaimed {
                    session: Some(session),
                    jobs,
                }
            }
            Effect::ForwardJobMessage {
                session_id,
                job_id,
                frame,
            } => {
                assert_eq!(frame.event_seq, None);
                assert_eq!(frame.job_id.as_ref(), Some(job_id));
                assert_eq!(frame.session_id.as_ref(), Some(session_id));
                self.feed.push((session_id.to_string(), (**frame).clone()));
                EffectOutcome::Done
            }
            Effect::ForwardCancel { job_id } => {
                let id = job_id.to_string();
                if let Some((_, n)) = self.jobs.get(&id) {
                    self.cancels.push((n.clone(), id));
                }
                EffectOutcome::Done
            }
            Effect::ListStoredJobs { principal } => EffectOutcome::JobsListed {
                jobs: self
                    .jobs
                    .values()
                    .filter(|(r, _)| principal.as_ref().is_none_or(|p| *p == r.principal))
                    .map(|(r, _)| r.clone())
                    .collect(),
            },
            // Part 3's admissions: everything is admitted here.
            Effect::AdmitJob { .. } => EffectOutcome::JobAdmission(Admission::Admitted),
            Effect::AdmitSession { .. } => EffectOutcome::SessionAdmission { admitted: true },
            _ => EffectOutcome::Done,
        }
    }
}

struct Cluster {
    nodes: Vec<(String, Host)>,
    store: Store,
}

impl Cluster {
    fn new() -> Self {
        Cluster {
            nodes: vec![
                ("n-a".into(), node("n-a", 7)),
                ("n-b".into(), node("n-b", 8)),
            ],
            store: Store::default(),
        }
    }

    fn a(&mut self) -> &mut Host {
        &mut self.nodes[0].1
    }

    fn b(&mut self) -> &mut Host {
        &mut self.nodes[1].1
    }

    /// Performs every held effect on every node and delivers feed rows, releases and
    /// cancels, until nothing moves.
    fn settle(&mut self) {
        loop {
            let mut moved = false;
            for (name, h) in &mut self.nodes {
                h.drain();
                while !h.effects.is_empty() {
                    let (id, e) = h.effects.remove(0);
                    let out = self.store.apply(name, &e);
                    h.rt.handle_effect_result(h.now, id, out);
                    h.drain();
                    moved = true;
                }
            }
            for (node, sid) in std::mem::take(&mut self.store.released) {
                let h = self.host(&node);
                h.rt.handle_session_released(h.now, &sid);
                h.drain();
                moved = true;
            }
            for (node, job) in std::mem::take(&mut self.store.cancels) {
                let h = self.host(&node);
                h.rt.handle_remote_cancel(h.now, &job);
                h.drain();
                moved = true;
            }
            let feed = std::mem::take(&mut self.store.feed);
            for (sid, frame) in feed {
                let owner = self.store.sessions.get(&sid).map(|(_, o)| o.clone());
                let taken = owner.is_some_and(|o| {
                    let h = self.host(&o);
                    let taken = h.rt.handle_remote_job_message(h.now, &sid, frame.clone());
                    h.drain();
                    taken
                });
                if taken {
                    moved = true;
                } else {
                    self.store.feed.push((sid, frame));
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn host(&mut self, name: &str) -> &mut Host {
        let i = self
            .nodes
            .iter()
            .position(|(n, _)| n == name)
            .expect("known node");
        &mut self.nodes[i].1
    }
}

/// `hello` on `h` (a clustered node: its welcome waits for the store).
fn hello_on(cl: &mut Cluster, at: usize, conn: u64) -> (ConnId, SessionId, String) {
    let c = cl.nodes[at].1.open(conn);
    cl.nodes[at].1.send(c, hello("alice-token", &ALL));
    cl.settle();
    let frames = cl.nodes[at].1.take(c);
    let Some(Message::Welcome(w)) = frames.first().map(|f| f.message.clone()) else {
        panic!("expected a welcome, got {frames:?}");
    };
    (c, w.session_id.expect("session id"), w.resume_token)
}

fn resume_on(cl: &mut Cluster, at: usize, conn: u64, sid: &SessionId, token: &str, last: u64) {
    let h = &mut cl.nodes[at].1;
    let c = h.open(conn);
    h.send(
        c,
        json!({"id":eid(9),"type":"session.resume","payload":{"session_id":sid,"resume_token":token,"last_event_seq":last}}),
    );
    cl.settle();
}

fn submit_on(cl: &mut Cluster, at: usize, conn: ConnId, n: u32, payload: Value) -> JobId {
    let h = &mut cl.nodes[at].1;
    h.send(
        conn,
        json!({"arcp":"1.1","id":eid(n),"type":"job.submit","payload":payload}),
    );
    cl.settle();
    let frames = cl.nodes[at].1.take(conn);
    match frames.first().map(|f| &f.message) {
        Some(Message::Accepted(a)) => a.job_id.clone(),
        _ => panic!("expected job.accepted, got {frames:?}"),
    }
}

fn agent(cl: &mut Cluster, at: usize, job: &JobId, ev: AgentEvent) {
    let h = &mut cl.nodes[at].1;
    h.rt.handle_agent_event(h.now, job, ev).expect("accepted");
    cl.settle();
}

fn json_of(f: &Frame) -> Value {
    serde_json::from_slice(&f.encode()).expect("json")
}

/// A session on A with a running `slow` job that logged `logs` events; the client left.
fn running_on_a(cl: &mut Cluster, logs: u32) -> (SessionId, String, JobId, u64) {
    let (c, sid, token) = hello_on(cl, 0, 1);
    let job = submit_on(cl, 0, c, 1, json!({"agent":"slow"}));
    for i in 0..logs {
        agent(cl, 0, &job, log(&format!("a{i}")));
    }
    let seen = seqs(&cl.a().take(c));
    let last = seen.last().copied().unwrap_or(0);
    cl.a().close(c);
    cl.settle();
    (sid, token, job, last)
}

#[test]
fn the_welcome_carries_the_node_id_only_when_configured() {
    let mut cl = Cluster::new();
    let c = cl.a().open(1);
    cl.a().send(c, hello("alice-token", &[]));
    cl.settle();
    let w = json_of(&cl.a().take(c)[0]);
    assert_eq!(
        w["payload"]["runtime"],
        json!({"name":"arcp-proto","version":env!("CARGO_PKG_VERSION"),"node_id":"n-a"})
    );
    let mut plain = Host::contract();
    let c = plain.open(1);
    plain.send(c, hello("alice-token", &[]));
    let w = json_of(&plain.take(c)[0]);
    assert_eq!(
        w["payload"]["runtime"],
        json!({"name":"arcp-proto","version":env!("CARGO_PKG_VERSION")})
    );
}

#[test]
fn a_resume_on_another_node_claims_replays_and_stamps_forwarded_frames_in_order() {
    let mut cl = Cluster::new();
    let (sid, token, job, last) = running_on_a(&mut cl, 3);
    // hello's job.accepted is not seq-bearing: the three logs are seqs 1..=3.
    assert_eq!(last, 3);
    // Two more while nobody is attached (A still owns the session).
    agent(&mut cl, 0, &job, log("a3"));
    agent(&mut cl, 0, &job, log("a4"));
    resume_on(&mut cl, 1, 2, &sid, &token, 1);
    let claims: Vec<_> = cl
        .b()
        .all_effects
        .iter()
        .filter_map(|e| match e {
            Effect::ClaimSession { session_id } => Some(session_id.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(claims, vec![sid.to_string()]);
    // A forgot the session: B owns it.
    assert_eq!(cl.a().rt.session_last_seq(&sid), None);
    assert_eq!(cl.b().rt.session_last_seq(&sid), Some(5));
    let out = cl.b().take(ConnId(2));
    assert_eq!(
        types(&out),
        vec![
            "session.welcome",
            "job.event",
            "job.event",
            "job.event",
            "job.event"
        ]
    );
    assert_eq!(seqs(&out), vec![2, 3, 4, 5]);
    // Live frames from A are forwarded, B stamps them.
    agent(&mut cl, 0, &job, log("a5"));
    agent(&mut cl, 0, &job, done());
    let live = cl.b().take(ConnId(2));
    assert_eq!(types(&live), vec!["job.event", "job.result"]);
    assert_eq!(seqs(&live), vec![6, 7]);
    for f in &live {
        assert_eq!(f.job_id.as_ref(), Some(&job));
        assert_eq!(f.session_id.as_ref(), Some(&sid));
    }
    assert_eq!(json_of(&live[0])["payload"]["body"]["message"], json!("a5"));
    // Stored exactly once each, 1..=7 in the session's numbering.
    let mut stored: Vec<u64> = cl
        .store
        .events
        .iter()
        .filter(|(s, _, _)| *s == sid.as_str())
        .map(|(_, q, _)| *q)
        .collect();
    stored.sort_unstable();
    assert_eq!(stored, (1..=7).collect::<Vec<_>>());
    assert!(cl.store.feed.is_empty());
    // The remote job is listed as finished on B.
    cl.b().send(
        ConnId(2),
        json!({"id":eid(3),"type":"session.list_jobs","payload":{}}),
    );
    // Clustered, the listing asks the store (ListStoredJobs) first.
    cl.settle();
    let page = json_of(&cl.b().take(ConnId(2))[0]);
    assert_eq!(page["payload"]["jobs"][0]["job_id"], json!(job.as_str()));
    assert_eq!(page["payload"]["jobs"][0]["status"], json!("success"));
    assert_eq!(page["payload"]["jobs"][0]["last_event_seq"], json!(7));
    assert_eq!(page["payload"]["jobs"].as_array().map(Vec::len), Some(1));
}

#[test]
fn a_released_session_closes_its_connection_going_away_1001() {
    let mut cl = Cluster::new();
    let (c, sid, token) = hello_on(&mut cl, 0, 1);
    let job = submit_on(&mut cl, 0, c, 1, json!({"agent":"slow"}));
    resume_on(&mut cl, 1, 2, &sid, &token, 0);
    let closes: Vec<_> = cl
        .a()
        .all_effects
        .iter()
        .filter_map(|e| match e {
            Effect::CloseConnection { conn, reason } => Some((*conn, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(closes, vec![(ConnId(1), CloseReason::GoingAway)]);
    assert_eq!(CloseReason::GoingAway.websocket_code(), 1001);
    assert_eq!(types(&cl.b().take(ConnId(2))), vec!["session.welcome"]);
    // The job keeps running on A; its frames now reach B.
    agent(&mut cl, 0, &job, log("after"));
    let live = cl.b().take(ConnId(2));
    assert_eq!(seqs(&live), vec![1]);
    assert!(cl.a().take(c).is_empty());
}

#[test]
fn a_cancel_of_a_remote_job_round_trips_through_its_node() {
    let mut cl = Cluster::new();
    let (sid, token, job, last) = running_on_a(&mut cl, 1);
    resume_on(&mut cl, 1, 2, &sid, &token, last);
    assert_eq!(types(&cl.b().take(ConnId(2))), vec!["session.welcome"]);
    cl.b().send(
        ConnId(2),
        json!({"id":eid(4),"type":"job.cancel","job_id":job,"payload":{}}),
    );
    let forwarded: Vec<_> = cl
        .b()
        .all_effects
        .iter()
        .filter_map(|e| match e {
            Effect::ForwardCancel { job_id } => Some(job_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(forwarded, vec![job.clone()]);
    // Nothing ends on B by itself.
    assert!(cl.b().take(ConnId(2)).is_empty());
    cl.settle();
    let stopped = cl
        .a()
        .all_effects
        .iter()
        .filter(|e| matches!(e, Effect::CancelAgent { job_id } if *job_id == job))
        .count();
    assert_eq!(stopped, 1);
    let out = cl.b().take(ConnId(2));
    assert_eq!(types(&out), vec!["job.result"]);
    assert_eq!(seqs(&out), vec![2]);
    assert_eq!(
        json_of(&out[0])["payload"]["final_status"],
        json!("cancelled")
    );
    // A second cancel: the job has ended, nothing is routed.
    cl.b().send(
        ConnId(2),
        json!({"id":eid(5),"type":"job.cancel","job_id":job,"payload":{}}),
    );
    cl.settle();
    assert!(cl.b().take(ConnId(2)).is_empty());
    assert_eq!(
        cl.b()
            .all_effects
            .iter()
            .filter(|e| matches!(e, Effect::ForwardCancel { .. }))
            .count(),
        1
    );
    // A remote cancel of an unknown or ended job does nothing.
    let a = cl.a();
    let before = a.all_effects.len();
    a.rt.handle_remote_cancel(a.now, job.as_str());
    a.rt.handle_remote_cancel(a.now, "job_unknown");
    a.drain();
    assert_eq!(a.all_effects.len(), before);
}

#[test]
fn a_lost_node_s_jobs_end_internal_error_retryable_and_credentials_are_revoked() {
    let mut cl = Cluster::new();
    let (c, sid, token) = hello_on(&mut cl, 0, 1);
    let job = submit_on(
        &mut cl,
        0,
        c,
        1,
        json!({"agent":"rotator","lease_request":{"model.use":["m/*"]}}),
    );
    cl.a().close(c);
    cl.settle();
    resume_on(&mut cl, 1, 2, &sid, &token, 0);
    assert_eq!(types(&cl.b().take(ConnId(2))), vec!["session.welcome"]);
    let jobs: Vec<JobRecord> = cl
        .store
        .jobs
        .values()
        .filter(|(_, n)| n == "n-a")
        .map(|(r, _)| r.clone())
        .collect();
    let creds = cl.store.credentials.clone();
    assert_eq!(creds.len(), 1);
    let b = cl.b();
    let before = b.all_effects.len();
    b.rt.handle_node_lost(b.now, "n-a", jobs, creds);
    cl.settle();
    let out = cl.b().take(ConnId(2));
    assert_eq!(types(&out), vec!["job.error"]);
    assert_eq!(seqs(&out), vec![1]);
    let p = &json_of(&out[0])["payload"];
    assert_eq!(
        (
            &p["code"],
            &p["retryable"],
            &p["message"],
            &p["final_status"]
        ),
        (
            &json!("INTERNAL_ERROR"),
            &json!(true),
            &json!("node n-a lost"),
            &json!("error")
        )
    );
    let effects: Vec<Effect> = cl.b().all_effects[before..].to_vec();
    let revokes: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::RevokeCredential {
                job_id,
                credential_id,
                value,
            } => Some((job_id.clone(), credential_id.clone(), value.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(revokes, vec![(job.clone(), "cred_1".to_owned(), None)]);
    let persisted: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::PersistJob(r) => Some((r.job_id.clone(), r.status, r.last_event_seq)),
            _ => None,
        })
        .collect();
    assert_eq!(persisted, vec![(job.clone(), JobStatus::Error, 1)]);
    assert_eq!(
        cl.store.credentials,
        vec![CredentialRecord {
            credential_id: "cred_1".into(),
            job_id: job.clone(),
            revoked: true,
        }]
    );
}

#[test]
fn a_lost_node_s_job_of_a_session_held_elsewhere_is_forwarded() {
    let mut cl = Cluster::new();
    let (sid, _token, job, _) = running_on_a(&mut cl, 0);
    let jobs: Vec<JobRecord> = cl.store.jobs.values().map(|(r, _)| r.clone()).collect();
    // B does not hold the session: the terminal goes to its owner through the store.
    let b = cl.b();
    b.rt.handle_node_lost(b.now, "n-x", jobs, Vec::new());
    b.drain();
    let forwarded: Vec<_> = b
        .effects
        .iter()
        .filter_map(|(_, e)| match e {
            Effect::ForwardJobMessage {
                session_id,
                job_id,
                frame,
            } => Some((session_id.clone(), job_id.clone(), json_of(frame))),
            _ => None,
        })
        .collect();
    assert_eq!(forwarded.len(), 1);
    assert_eq!((&forwarded[0].0, &forwarded[0].1), (&sid, &job));
    assert_eq!(forwarded[0].2["payload"]["message"], json!("node n-x lost"));
    assert_eq!(forwarded[0].2.get("event_seq"), None);
}

#[test]
fn an_isolated_node_stops_its_agents_without_terminals_and_closes_going_away() {
    let mut cl = Cluster::new();
    let (c, _sid, _) = hello_on(&mut cl, 0, 1);
    let j1 = submit_on(&mut cl, 0, c, 1, json!({"agent":"slow"}));
    let j2 = submit_on(&mut cl, 0, c, 2, json!({"agent":"slow"}));
    let a = cl.a();
    let before = a.all_effects.len();
    a.rt.handle_isolated(a.now);
    a.drain();
    let effects: Vec<Effect> = a.all_effects[before..].to_vec();
    let stopped = agents_cancelled(&effects);
    assert_eq!(stopped, vec![j1.clone(), j2.clone()]);
    let closes: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::CloseConnection { conn, reason } => Some((*conn, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(closes, vec![(c, CloseReason::GoingAway)]);
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::PersistJob(_) | Effect::ForwardJobMessage { .. }))
    );
    assert!(a.take(c).is_empty());
    assert_eq!(a.rt.job_count(), 0);
    // Idempotent.
    let n = a.all_effects.len();
    a.rt.handle_isolated(a.now);
    a.drain();
    assert_eq!(a.all_effects.len(), n);
}

#[test]
fn a_restart_in_a_cluster_forwards_the_terminals_of_its_jobs() {
    let mut cl = Cluster::new();
    let (_sid, _token, job, _) = running_on_a(&mut cl, 1);
    let jobs: Vec<JobRecord> = cl.store.jobs.values().map(|(r, _)| r.clone()).collect();
    let mut fresh = node("n-a", 9);
    fresh.rt.restore(
        fresh.now,
        StoreSnapshot {
            jobs,
            ..StoreSnapshot::default()
        },
    );
    fresh.drain();
    let forwarded: Vec<Value> = fresh
        .effects
        .iter()
        .filter_map(|(_, e)| match e {
            Effect::ForwardJobMessage { job_id, frame, .. } if *job_id == job => {
                Some(json_of(frame))
            }
            _ => None,
        })
        .collect();
    assert_eq!(forwarded.len(), 1);
    assert_eq!(forwarded[0]["type"], json!("job.error"));
    assert_eq!(
        forwarded[0]["payload"]["message"],
        json!("runtime restarted")
    );
    assert_eq!(forwarded[0].get("event_seq"), None);
}

#[test]
fn remote_frames_for_sessions_not_held_are_left_and_bad_ones_never_panic() {
    let mut cl = Cluster::new();
    let (c, sid, _) = hello_on(&mut cl, 0, 1);
    let a = cl.a();
    let f = Frame::new(
        eid(1),
        Message::Ack(arcp_proto::wire::Ack {
            last_processed_seq: 0,
        }),
    );
    assert!(
        !a.rt
            .handle_remote_job_message(a.now, "sess_unknown", f.clone())
    );
    // Held, but without a job id: consumed, nothing sent.
    assert!(a.rt.handle_remote_job_message(a.now, sid.as_str(), f.clone()));
    // Held, with a job id, but not a job's message: consumed, nothing sent.
    assert!(a.rt.handle_remote_job_message(a.now, sid.as_str(), f.clone().with_job("job_x")));
    a.drain();
    assert!(a.take(c).is_empty());
    // An unknown job's frame for a held session is stamped.
    let log_frame = Frame::new(
        eid(2),
        Message::Event(arcp_proto::wire::JobEvent {
            ts: arcp_proto::wire::Timestamp::from_unix_micros(T0_UNIX_MICROS),
            body: EventBody::Log(LogBody {
                level: "info".into(),
                message: "x".into(),
                attributes: None,
                extra: Default::default(),
            }),
        }),
    )
    .with_job("job_elsewhere");
    assert!(a.rt.handle_remote_job_message(a.now, sid.as_str(), log_frame));
    cl.settle();
    let out = cl.a().take(c);
    assert_eq!(seqs(&out), vec![1]);
    let a = cl.a();
    a.rt.handle_session_released(a.now, "sess_unknown");
    a.rt.handle_node_lost(a.now, "n-z", Vec::new(), Vec::new());
    a.drain();
    assert!(a.effects.is_empty());
}

#[test]
fn unclustered_runtimes_never_claim_or_forward() {
    // Durable without `clustered`, and `clustered` without a store: both as before.
    for (durable, clustered) in [(true, false), (false, true)] {
        let mut cfg = contract_config();
        cfg.durable = durable;
        cfg.clustered = clustered;
        let mut h = Host::new(cfg);
        h.auto = true;
        let mut store = Store::default();
        let c = h.open(1);
        h.send(c, hello("alice-token", &ALL));
        pump(&mut h, &mut store);
        let w = h.take(c);
        let Some(Message::Welcome(w)) = w.first().map(|f| f.message.clone()) else {
            panic!("welcome");
        };
        let (sid, token) = (w.session_id.expect("sid"), w.resume_token);
        h.send(
            c,
            json!({"arcp":"1.1","id":eid(1),"type":"job.submit","payload":{"agent":"slow"}}),
        );
        pump(&mut h, &mut store);
        h.close(c);
        pump(&mut h, &mut store);
        let c2 = h.open(2);
        h.send(
            c2,
            json!({"id":eid(9),"type":"session.resume","payload":{"session_id":sid,"resume_token":token,"last_event_seq":0}}),
        );
        pump(&mut h, &mut store);
        assert_eq!(types(&h.take(c2)), vec!["session.welcome"]);
        assert!(!h.all_effects.iter().any(|e| matches!(
            e,
            Effect::ClaimSession { .. }
                | Effect::ForwardJobMessage { .. }
                | Effect::ForwardCancel { .. }
        )));
    }
}

/// Answers every held effect of an unclustered host from `store`.
fn pump(h: &mut Host, store: &mut Store) {
    h.drain();
    while !h.effects.is_empty() {
        let (id, e) = h.effects.remove(0);
        let out = store.apply("solo", &e);
        h.rt.handle_effect_result(h.now, id, out);
        h.drain();
    }
}

/// Opens `conn` on B and sends a resume; returns the `ClaimSession` effect's id, unanswered.
fn claim_held(cl: &mut Cluster, sid: &SessionId, token: &str) -> arcp_proto::runtime::EffectId {
    let b = cl.b();
    let c = b.open(2);
    b.send(
        c,
        json!({"id":eid(9),"type":"session.resume","payload":{"session_id":sid,"resume_token":token,"last_event_seq":0}}),
    );
    let at = b
        .effects
        .iter()
        .position(|(_, e)| matches!(e, Effect::ClaimSession { .. }))
        .expect("a claim");
    let (id, e) = b.effects.remove(at);
    assert_eq!(
        e,
        Effect::ClaimSession {
            session_id: sid.clone()
        }
    );
    id
}

#[test]
fn a_failed_claim_refuses_the_resume_and_an_unknown_session_is_refused_as_usual() {
    let mut cl = Cluster::new();
    let (sid, token, _job, _) = running_on_a(&mut cl, 0);
    let id = claim_held(&mut cl, &sid, &token);
    let b = cl.b();
    b.rt.handle_effect_result(
        b.now,
        id,
        EffectOutcome::Failed {
            message: "store down".into(),
        },
    );
    b.drain();
    let out = b.take_json(ConnId(2));
    assert_eq!(out.len(), 1);
    assert_eq!(
        (
            &out[0]["type"],
            &out[0]["payload"]["code"],
            &out[0]["payload"]["message"]
        ),
        (
            &json!("session.error"),
            &json!("INTERNAL_ERROR"),
            &json!("session could not be claimed: store down")
        )
    );
    assert_eq!(b.rt.session_last_seq(&sid), None);
    b.close(ConnId(2));
    let id = claim_held(&mut cl, &sid, &token);
    let b = cl.b();
    b.rt.handle_effect_result(
        b.now,
        id,
        EffectOutcome::SessionClaimed {
            session: None,
            jobs: Vec::new(),
        },
    );
    b.drain();
    let out = b.take_json(ConnId(2));
    assert_eq!(
        (&out[0]["payload"]["code"], &out[0]["payload"]["message"]),
        (&json!("PERMISSION_DENIED"), &json!("no resumable session"))
    );
}

#[test]
fn local_subscribers_keep_their_copy_while_the_owner_session_is_elsewhere() {
    let mut cl = Cluster::new();
    let (sid, token, job, last) = running_on_a(&mut cl, 1);
    // Another session of alice on A follows the job.
    let (w, _, _) = hello_on(&mut cl, 0, 5);
    cl.a().send(
        w,
        json!({"id":eid(3),"type":"job.subscribe","payload":{"job_id":job}}),
    );
    cl.settle();
    assert_eq!(types(&cl.a().take(w)), vec!["job.subscribed"]);
    resume_on(&mut cl, 1, 2, &sid, &token, last);
    assert_eq!(types(&cl.b().take(ConnId(2))), vec!["session.welcome"]);
    agent(&mut cl, 0, &job, log("both"));
    let owner = cl.b().take(ConnId(2));
    let follower = cl.a().take(w);
    assert_eq!((seqs(&owner), seqs(&follower)), (vec![2], vec![1]));
    assert_eq!(
        json_of(&owner[0])["payload"]["body"]["message"],
        json_of(&follower[0])["payload"]["body"]["message"]
    );
}

#[test]
fn a_stopping_node_ends_its_running_jobs_runtime_stopped() {
    let mut cl = Cluster::new();
    let (c, _sid, _) = hello_on(&mut cl, 0, 1);
    let j1 = submit_on(&mut cl, 0, c, 1, json!({"agent":"slow"}));
    let j2 = submit_on(&mut cl, 0, c, 2, json!({"agent":"slow"}));
    let _ = cl.a().take(c);
    let a = cl.a();
    let before = a.all_effects.len();
    a.rt.handle_stopping(a.now);
    a.drain();
    let stopped = agents_cancelled(&a.all_effects[before..]);
    assert_eq!(stopped, vec![j1.clone(), j2.clone()]);
    cl.settle();
    let ends: Vec<(Option<JobId>, Value)> = cl
        .a()
        .take(c)
        .iter()
        .map(|f| (f.job_id.clone(), json_of(f)))
        .filter(|(_, v)| v["type"] == json!("job.error"))
        .map(|(j, v)| (j, v["payload"].clone()))
        .collect();
    assert_eq!(ends.len(), 2);
    for ((job, payload), want) in ends.iter().zip([&j1, &j2]) {
        assert_eq!(job.as_ref(), Some(want));
        assert_eq!(payload["code"], json!("INTERNAL_ERROR"));
        assert_eq!(payload["message"], json!("runtime stopped"));
        assert_eq!(payload["retryable"], json!(true));
    }
    // Idempotent: nothing more.
    let a = cl.a();
    let n = a.all_effects.len();
    a.rt.handle_stopping(a.now);
    a.drain();
    assert_eq!(a.all_effects.len(), n);
}

/// The jobs whose agents `effects` stop (`CancelAgent`), in order.
fn agents_cancelled(effects: &[Effect]) -> Vec<JobId> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::CancelAgent { job_id } => Some(job_id.clone()),
            _ => None,
        })
        .collect()
}
