//! The session ring as the session's buffer (issue #18): backpressure instead of loss, one
//! policy per session (`Runtime::job_held`), and subscriber truncation (docs/compat.md,
//! "Subscriber gaps"). Small bounds: 8 events per ring, a margin of 2 events.

mod runtime_support;

use arcp_proto::runtime::{AgentEvent, CloseReason, Effect, EffectOutcome, RuntimeConfig};
use arcp_proto::wire::{EventBody, Frame, JobId, LogBody, Message, Replayed, SessionId};
use proptest::prelude::*;
use runtime_support::*;
use serde_json::{Value, json};
use std::time::Duration;

fn log(msg: &str) -> AgentEvent {
    AgentEvent::Event(EventBody::Log(LogBody {
        level: "info".into(),
        message: msg.into(),
        attributes: None,
        extra: Default::default(),
    }))
}

fn config() -> RuntimeConfig {
    let mut cfg = contract_config();
    cfg.bounds.max_ring_events = 8;
    cfg.bounds.ring_margin_events = 2;
    cfg.bounds.ring_margin_bytes = 0;
    cfg
}

fn resume_hello(token: &str, sid: &SessionId, rtk: &str, last: u64) -> Value {
    let mut h = hello(token, &ALL);
    h["payload"]["resume"] = json!({"session_id":sid,"resume_token":rtk,"last_event_seq":last});
    h
}

/// What an agent host does: feed the emit unless the job is held (then the agent waits).
/// `true` when fed.
fn emit(h: &mut Host, job: &JobId, msg: &str) -> bool {
    if h.rt.job_held(job) {
        return false;
    }
    h.rt.handle_agent_event(h.now, job, log(msg)).unwrap();
    true
}

fn retained(h: &Host, sid: &SessionId) -> usize {
    h.rt.session_retained(sid).unwrap().0
}

#[test]
fn a_reader_that_never_acks_is_never_held_and_keeps_the_bound() {
    let mut h = Host::new(config());
    let (c, sid, _) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
    for i in 0..100 {
        assert!(emit(&mut h, &job, &format!("e{i}")), "event {i} waited");
        h.drain();
    }
    assert_eq!(seqs(&h.take(c)), (1..=100).collect::<Vec<_>>());
    // Delivered, unacked: the oldest went past the bound of 8.
    assert_eq!(retained(&h, &sid), 8);
}

#[test]
fn a_detached_session_holds_its_job_then_resumes_losing_nothing() {
    let mut h = Host::new(config());
    let (c, sid, token) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
    for i in 0..20 {
        emit(&mut h, &job, &format!("a{i}"));
        h.drain();
    }
    assert_eq!(seqs(&h.take(c)), (1..=20).collect::<Vec<_>>());
    h.close(c);
    // Detached: eight undelivered events fill the ring, the ninth emit waits.
    let mut fed = 0;
    while emit(&mut h, &job, &format!("b{fed}")) {
        fed += 1;
    }
    assert_eq!(fed, 8);
    assert!(h.rt.job_held(&job));
    // Kept: the margin (19, 20), the older delivered ones evicted down to the bound, and the
    // eight undelivered (21..=28): 8 + 2.
    assert_eq!(retained(&h, &sid), 10);
    // The client had received only up to 19 (20 was in flight when it was cut): the margin
    // covers it.
    let c2 = h.open(2);
    h.send(c2, resume_hello("alice-token", &sid, &token, 19));
    let out = h.take(c2);
    assert_eq!(types(&out)[0], "session.welcome");
    assert_eq!(seqs(&out), (20..=28).collect::<Vec<_>>());
    // Delivered again: the job is released and continues, gap-free.
    assert!(!h.rt.job_held(&job));
    assert!(emit(&mut h, &job, "c"));
    h.drain();
    assert_eq!(seqs(&h.take(c2)), vec![29]);
}

#[test]
fn an_attached_client_that_stops_reading_holds_its_job_until_bye() {
    let mut h = Host::new(config());
    let (c, sid, _) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
    // Nothing is polled: the frames stay undelivered in the runtime.
    let mut fed = 0;
    while emit(&mut h, &job, &format!("e{fed}")) {
        fed += 1;
    }
    assert_eq!(fed, 8);
    // The client says bye (not even reading its queue): nothing waits on the session now.
    let bye = json!({"arcp":"1.1","id":eid(2),"type":"session.bye","payload":{"reason":"done"}});
    h.rt.handle_frame(h.now, c, &serde_json::to_vec(&bye).unwrap());
    assert!(!h.rt.job_held(&job));
    for i in 0..20 {
        assert!(emit(&mut h, &job, &format!("f{i}")));
    }
    // The oldest were dropped: the bound holds.
    assert_eq!(retained(&h, &sid), 8);
    h.drain();
}

/// D27: an idempotent resubmit of an ended job gets a copy of its terminal, stamped into the
/// session's buffer. With that buffer full (the client is not reading) the resubmit is
/// refused as busy and retryable instead of going past the bound; once it drains, the copy
/// comes.
#[test]
fn an_idempotent_resubmit_waits_for_room_for_its_terminal_copy() {
    let mut h = Host::new(config());
    let (c, sid, _) = h.hello(1, "alice-token", &ALL);
    let keyed = json!({"agent":"slow","idempotency_key":"k"});
    let done = h.submit(c, &eid(1), keyed.clone());
    h.finish(&done, json!(1));
    h.take(c);
    let job = h.submit(c, &eid(2), json!({"agent":"slow"}));
    // Nothing is polled: eight undelivered events fill the ring.
    let mut fed = 0;
    while emit(&mut h, &job, &format!("e{fed}")) {
        fed += 1;
    }
    assert_eq!(fed, 8);
    let mut again = json!({"arcp":"1.1","id":eid(3),"type":"job.submit","payload":keyed});
    h.rt.handle_frame(h.now, c, &serde_json::to_vec(&again).unwrap());
    assert_eq!(h.rt.session_last_seq(&sid), Some(9));
    h.drain();
    let out = h.take_json(c);
    let busy = out.last().expect("answered");
    assert_eq!(busy["type"], "session.error");
    assert_eq!(busy["payload"]["code"], "INTERNAL_ERROR");
    assert_eq!(busy["payload"]["retryable"], true);
    assert_eq!(busy["payload"]["request_id"], eid(3));
    // Read now: the resubmit gets its accepted copy and the terminal copy.
    again["id"] = json!(eid(4));
    h.send(c, again);
    let out = h.take(c);
    assert_eq!(types(&out), vec!["job.accepted", "job.result"]);
    assert_eq!(seqs(&out), vec![10]);
}

#[test]
fn the_resume_window_ending_releases_a_held_job() {
    let mut h = Host::new(config());
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
    h.close(c);
    while emit(&mut h, &job, "e") {}
    assert!(h.rt.job_held(&job));
    h.advance(Duration::from_secs(599));
    assert!(h.rt.job_held(&job));
    h.advance(Duration::from_secs(1));
    assert!(!h.rt.job_held(&job));
}

#[test]
fn max_runtime_keeps_counting_while_a_job_waits() {
    let mut h = Host::new(config());
    let (c, sid, token) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"slow","max_runtime_sec":5}));
    h.close(c);
    while emit(&mut h, &job, "e") {}
    assert!(h.rt.job_held(&job));
    h.advance(Duration::from_secs(5));
    // The terminal is stamped even into a full ring (one frame over), and nothing waits.
    assert!(!h.rt.job_held(&job));
    assert_eq!(retained(&h, &sid), 9);
    let c2 = h.open(2);
    h.send(c2, resume_hello("alice-token", &sid, &token, 0));
    let out = h.take_json(c2);
    assert_eq!(out.len(), 10);
    assert_eq!(out[9]["type"], "job.result");
    assert_eq!(out[9]["event_seq"], 9);
    assert_eq!(out[9]["payload"]["final_status"], "timed_out");
}

#[test]
fn a_durable_session_waits_only_for_the_store_and_its_ring_is_a_cache() {
    let mut cfg = config();
    cfg.durable = true;
    let mut h = Host::new(cfg);
    let c = h.open(1);
    h.send(c, hello("alice-token", &ALL));
    // Persist the session; answer every storage effect but the appends, kept back.
    let answer = |h: &mut Host, appends: bool| {
        loop {
            let pos = h.effects.iter().position(|(_, e)| {
                appends || !matches!(e, Effect::AppendEvents(_) | Effect::ReadEvents { .. })
            });
            let Some(pos) = pos else { break };
            let (id, _) = h.effects.remove(pos);
            h.rt.handle_effect_result(h.now, id, EffectOutcome::Done);
            h.drain();
        }
    };
    answer(&mut h, false);
    let sid = match &h.take(c)[0].message {
        arcp_proto::wire::Message::Welcome(w) => w.session_id.clone().unwrap(),
        m => panic!("{m:?}"),
    };
    let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
    answer(&mut h, false);
    let mut fed = 0;
    while emit(&mut h, &job, "e") {
        fed += 1;
        h.drain();
    }
    // Eight frames not yet durable: the job waits for the store, not for the client.
    assert_eq!(fed, 8);
    answer(&mut h, true);
    assert!(!h.rt.job_held(&job));
    assert_eq!(seqs(&h.take(c)), (1..=8).collect::<Vec<_>>());
    // A client that is away does not hold a durable session's jobs: the ring caches the
    // store's log and drops durable frames past the bound.
    h.close(c);
    for i in 0..30 {
        assert!(emit(&mut h, &job, &format!("d{i}")));
        h.drain();
        answer(&mut h, true);
    }
    assert_eq!(retained(&h, &sid), 8);
}

/// With a durable store (every storage effect but the appends answered): alice's session
/// and her running `slow` job, nothing sent yet taken: (host, conn, job).
fn durable_slow_job(mut cfg: RuntimeConfig) -> (Host, arcp_proto::runtime::ConnId, JobId) {
    cfg.durable = true;
    let mut h = Host::new(cfg);
    let c = h.open(1);
    h.send(c, hello("alice-token", &ALL));
    commit_appends(&mut h, 0);
    h.take(c);
    let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
    commit_appends(&mut h, 0);
    (h, c, job)
}

/// `max_pending_effects` (5 here, below the ring's 8) holds running jobs too: with a durable
/// store each event is an append awaiting its result, and a slow store must not let them
/// pile up past the cap. The job goes on once the appends complete, nothing lost.
#[test]
fn a_full_effect_table_holds_running_jobs_until_results_come_back() {
    let mut cfg = config();
    cfg.bounds.max_pending_effects = 5;
    let (mut h, c, job) = durable_slow_job(cfg);
    // Nothing outstanding (`job.accepted` is not numbered, so not appended); five events
    // fill the table.
    assert_eq!(h.rt.pending_effects(), 0);
    let mut fed = 0;
    while emit(&mut h, &job, "e") {
        fed += 1;
        h.drain();
    }
    assert_eq!(fed, 5);
    assert_eq!(h.rt.pending_effects(), 5);
    assert!(h.rt.job_held(&job));
    // One append answered: one more event fits.
    assert_eq!(commit_appends(&mut h, 1), 1);
    assert!(!h.rt.job_held(&job));
    assert!(emit(&mut h, &job, "f"));
    h.drain();
    assert!(h.rt.job_held(&job));
    assert_eq!(commit_appends(&mut h, usize::MAX), 5);
    assert!(!h.rt.job_held(&job));
    assert_eq!(seqs(&h.take(c)), (1..=6).collect::<Vec<_>>());
}

/// A durable session that subscribes to its own job while the job's last frames are still
/// being written: `job.subscribed` goes out right after them, not before (it is not numbered,
/// so nothing else would keep it behind), and the replay it announces follows it. Over
/// `max_transmit_queue` answers waiting like this, the connection is a slow consumer.
#[test]
fn a_subscribe_answer_waits_behind_frames_still_being_written() {
    let mut cfg = config();
    cfg.bounds.max_transmit_queue = 2;
    let (mut h, c, job) = durable_slow_job(cfg);
    assert!(emit(&mut h, &job, "e"));
    h.finish(&job, json!("done"));
    assert!(h.take(c).is_empty());
    // Seqs 1 and 2 (the event and the terminal) wait for the store; the answer waits too.
    h.send(
        c,
        json!({"arcp":"1.1","id":eid(2),"type":"job.subscribe","payload":{"job_id":job,"history":true}}),
    );
    assert!(h.take(c).is_empty());
    assert_eq!(commit_appends(&mut h, 1), 1);
    assert_eq!(seqs(&h.take(c)), vec![1]);
    // The terminal, then the answer, then the replay (seqs 3 and 4, copies of 1 and 2).
    assert_eq!(commit_appends(&mut h, usize::MAX), 3);
    let out = h.take(c);
    assert_eq!(
        types(&out),
        vec!["job.result", "job.subscribed", "job.event", "job.result"]
    );
    assert_eq!(seqs(&out), vec![2, 3, 4]);
    let Message::Subscribed(sub) = &out[1].message else {
        panic!("{:?}", out[1]);
    };
    assert_eq!(
        (sub.subscribed_from, sub.replayed),
        (Some(4), Some(Replayed::Count(2)))
    );
    // With a frame still being written, a third waiting answer is one too many (cap 2).
    let other = h.submit(c, &eid(5), json!({"agent":"slow"}));
    commit_appends(&mut h, 0);
    assert!(emit(&mut h, &other, "x"));
    h.take(c);
    let slow_consumer = |h: &Host| {
        h.all_effects.iter().any(|e| {
            matches!(e, Effect::CloseConnection { conn, reason: CloseReason::SlowConsumer } if *conn == c)
        })
    };
    for i in 0..2 {
        h.send(
            c,
            json!({"arcp":"1.1","id":eid(10 + i),"type":"job.subscribe","payload":{"job_id":job,"history":false}}),
        );
    }
    assert!(h.take(c).is_empty());
    assert!(!slow_consumer(&h));
    h.send(
        c,
        json!({"arcp":"1.1","id":eid(12),"type":"job.subscribe","payload":{"job_id":job,"history":false}}),
    );
    assert!(slow_consumer(&h));
}

/// Alice submits `slow` (the auditor may observe it): (host, alice's conn, job).
fn observed() -> (Host, arcp_proto::runtime::ConnId, JobId) {
    let mut h = Host::new(config());
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
    (h, c, job)
}

#[test]
fn a_subscriber_that_falls_behind_is_truncated_and_never_holds_the_owner() {
    let (mut h, c, job) = observed();
    let (s, ssid, stoken) = h.hello(2, "auditor-token", &ALL);
    h.send(
        s,
        json!({"arcp":"1.1","id":eid(3),"type":"job.subscribe","payload":{"job_id":job}}),
    );
    assert_eq!(types(&h.take(s)), vec!["job.subscribed"]);
    // The subscriber goes away; the owner keeps reading.
    h.close(s);
    for i in 0..12 {
        assert!(
            emit(&mut h, &job, &format!("e{i}")),
            "the owner never waits"
        );
        h.drain();
    }
    assert_eq!(seqs(&h.take(c)), (1..=12).collect::<Vec<_>>());
    assert_eq!(h.rt.metrics().subscriptions_truncated, 1);
    // Resumed: eight forwarded frames, then the notice in its place in the numbering.
    let s2 = h.open(3);
    h.send(s2, resume_hello("auditor-token", &ssid, &stoken, 0));
    let out = h.take_json(s2);
    assert_eq!(out.len(), 10);
    assert_eq!(out[8]["payload"]["body"]["message"], "e7");
    let notice = &out[9];
    assert_eq!(notice["type"], "job.event");
    assert_eq!(notice["event_seq"], 9);
    assert_eq!(notice["job_id"], job.as_str());
    assert_eq!(notice["payload"]["kind"], "status");
    assert_eq!(
        notice["payload"]["body"],
        json!({
            "phase": "subscription_truncated",
            "message": "subscription truncated: events after 8 are not delivered here (kept from 2)",
            "code": "RESUME_WINDOW_EXPIRED",
            "last_event_seq": 8,
            "kept_from": 2,
        })
    );
    // Nothing more is forwarded; subscribing again from seq 8 continues without a gap.
    emit(&mut h, &job, "late");
    h.drain();
    assert_eq!(h.take(s2).len(), 0);
    h.send(
        s2,
        json!({"arcp":"1.1","id":eid(4),"type":"job.subscribe","payload":{"job_id":job,"history":true,"from_event_seq":8}}),
    );
    let out = h.take_json(s2);
    assert_eq!(out[0]["type"], "job.subscribed");
    assert_eq!(out[0]["payload"]["replayed"], 5);
    let bodies: Vec<&str> = out[1..]
        .iter()
        .map(|f| f["payload"]["body"]["message"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, vec!["e8", "e9", "e10", "e11", "late"]);
}

#[test]
fn freed_history_at_subscribe_gets_the_same_notice() {
    let (mut h, c, job) = observed();
    for i in 0..5 {
        emit(&mut h, &job, &format!("e{i}"));
    }
    h.drain();
    let _ = h.take(c);
    h.send(
        c,
        json!({"arcp":"1.1","id":eid(2),"type":"session.ack","payload":{"last_processed_seq":3}}),
    );
    let (s, _, _) = h.hello(2, "auditor-token", &ALL);
    h.send(
        s,
        json!({"arcp":"1.1","id":eid(3),"type":"job.subscribe","payload":{"job_id":job,"history":true}}),
    );
    let out = h.take_json(s);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["type"], "job.subscribed");
    assert_eq!(out[0]["payload"]["replayed"], 0);
    assert_eq!(out[0]["payload"]["subscribed_from"], 0);
    assert_eq!(out[1]["event_seq"], 1);
    assert_eq!(
        out[1]["payload"]["body"],
        json!({
            "phase": "subscription_truncated",
            "message": "subscription truncated: events after 0 are not delivered here (kept from 4)",
            "code": "RESUME_WINDOW_EXPIRED",
            "last_event_seq": 0,
            "kept_from": 4,
        })
    );
    // The subscription ended: live frames do not follow.
    emit(&mut h, &job, "live");
    h.drain();
    assert_eq!(h.take(s).len(), 0);
    // Subscribing again from where history is kept.
    h.send(
        s,
        json!({"arcp":"1.1","id":eid(4),"type":"job.subscribe","payload":{"job_id":job,"history":true,"from_event_seq":3}}),
    );
    let out = h.take_json(s);
    assert_eq!(out[0]["payload"]["replayed"], 3);
    assert_eq!(seqs_json(&out[1..]), vec![2, 3, 4]);
    emit(&mut h, &job, "after");
    h.drain();
    assert_eq!(seqs_json(&h.take_json(s)), vec![5]);
}

#[test]
fn history_larger_than_the_subscribers_room_is_cut_with_the_notice() {
    let (mut h, c, job) = observed();
    for i in 0..8 {
        emit(&mut h, &job, &format!("e{i}"));
        h.drain();
    }
    let _ = h.take(c);
    let (s, _, _) = h.hello(2, "auditor-token", &ALL);
    // Nothing of the subscriber is polled: its whole answer stays undelivered.
    let sub = json!({"arcp":"1.1","id":eid(3),"type":"job.subscribe","payload":{"job_id":job,"history":true}});
    h.rt.handle_frame(h.now, s, &serde_json::to_vec(&sub).unwrap());
    h.drain();
    let out = h.take_json(s);
    // Room for 8: seven frames of history and the notice.
    assert_eq!(out[0]["payload"]["replayed"], 7);
    assert_eq!(out.len(), 9);
    assert_eq!(out[8]["payload"]["body"]["last_event_seq"], 7);
    assert_eq!(out[8]["payload"]["body"]["kept_from"], 1);
}

fn seqs_json(frames: &[Value]) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|f| f["event_seq"].as_u64())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A client that reads some, is cut with up to the margin in flight, and resumes within
    /// the window loses nothing: it ends with every seq once, in order; the runtime never
    /// keeps more than the bound plus the margin (plus the one event that filled the ring).
    #[test]
    fn no_event_is_lost_by_a_client_that_resumes_within_its_window(
        ops in proptest::collection::vec((0u8..4, 0u8..3), 1..80),
    ) {
        let mut h = Host::new(config());
        let (c, sid, token) = h.hello(1, "alice-token", &ALL);
        let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
        let mut conn = Some(c);
        let mut token = token;
        let mut next_conn = 2;
        let mut received: Vec<u64> = Vec::new();
        let mut emitted = 0u64;
        for (op, lost) in ops {
            match op {
                0 | 1 => {
                    if emit(&mut h, &job, "e") {
                        emitted += 1;
                    }
                }
                2 => {
                    if let Some(c) = conn {
                        h.drain();
                        received.extend(seqs(&h.take(c)));
                    }
                }
                _ => match conn.take() {
                    Some(c) => {
                        // Cut: up to the margin of what was handed out never arrives.
                        h.drain();
                        let mut got = seqs(&h.take(c));
                        let keep = got.len().saturating_sub(usize::from(lost));
                        got.truncate(keep);
                        received.extend(got);
                        h.close(c);
                    }
                    None => {
                        let c = h.open(next_conn);
                        next_conn += 1;
                        let last = received.last().copied().unwrap_or(0);
                        h.send(c, resume_hello("alice-token", &sid, &token, last));
                        let out = h.take(c);
                        let arcp_proto::wire::Message::Welcome(w) = &out[0].message else {
                            panic!("resume refused: {out:?}");
                        };
                        token = w.resume_token.clone();
                        received.extend(seqs(&out));
                        conn = Some(c);
                    }
                },
            }
            let (events, _) = h.rt.session_retained(&sid).unwrap();
            prop_assert!(events <= 8 + 2 + 1, "retained {events}");
        }
        if conn.is_none() {
            let c = h.open(next_conn);
            let last = received.last().copied().unwrap_or(0);
            h.send(c, resume_hello("alice-token", &sid, &token, last));
            received.extend(seqs(&h.take(c)));
            conn = Some(c);
        }
        if let Some(c) = conn {
            h.drain();
            received.extend(seqs(&h.take(c)));
        }
        prop_assert_eq!(received, (1..=emitted).collect::<Vec<_>>());
    }

    /// The ring's own model check (the `parts` fuzz target) on arbitrary operations.
    #[test]
    fn the_ring_keeps_its_policy_on_arbitrary_operations(
        data in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut d = vec![0u8];
        d.extend(data);
        arcp_proto::fuzzing::parts(&d);
    }
}

#[test]
fn a_durable_resume_far_below_the_ring_is_replayed_from_the_store_page_by_page() {
    let mut cfg = config();
    cfg.durable = true;
    cfg.bounds.ring_margin_events = 0;
    let mut h = Host::new(cfg);
    // Answers every effect; reads come back at most 5 frames at a time from the log.
    let store = |h: &mut Host| {
        while !h.effects.is_empty() {
            let (id, e) = h.effects.remove(0);
            let outcome = match e {
                Effect::ReadEvents { after_seq, .. } => {
                    let frames = h
                        .all_effects
                        .iter()
                        .filter_map(|e| match e {
                            Effect::AppendEvents(r) => Some(r),
                            _ => None,
                        })
                        .flatten()
                        .filter(|r| r.event_seq > after_seq)
                        .take(5)
                        .map(|r| Frame::clone(&r.frame))
                        .collect();
                    EffectOutcome::EventsRead { frames }
                }
                _ => EffectOutcome::Done,
            };
            h.rt.handle_effect_result(h.now, id, outcome);
            h.drain();
        }
    };
    let c = h.open(1);
    h.send(c, hello("alice-token", &ALL));
    store(&mut h);
    let (sid, token) = match &h.take(c)[0].message {
        arcp_proto::wire::Message::Welcome(w) => {
            (w.session_id.clone().unwrap(), w.resume_token.clone())
        }
        m => panic!("{m:?}"),
    };
    let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
    store(&mut h);
    for i in 0..23 {
        assert!(emit(&mut h, &job, &format!("e{i}")));
        h.drain();
        store(&mut h);
    }
    h.close(c);
    store(&mut h);
    assert_eq!(retained(&h, &sid), 8);
    let c2 = h.open(2);
    h.send(c2, resume_hello("alice-token", &sid, &token, 0));
    store(&mut h);
    // Welcome, then 15 frames from the store in three pages, then the ring's 8.
    let out = h.take(c2);
    assert_eq!(types(&out)[0], "session.welcome");
    assert_eq!(seqs(&out), (1..=23).collect::<Vec<_>>());
    let reads = h
        .all_effects
        .iter()
        .filter(|e| matches!(e, Effect::ReadEvents { .. }))
        .count();
    assert_eq!(reads, 3);
    // Live frames flow again after the replay.
    assert!(emit(&mut h, &job, "live"));
    h.drain();
    store(&mut h);
    assert_eq!(seqs(&h.take(c2)), vec![24]);
}

/// The store of a durable host: answers the outstanding appends, the oldest first, `n` of
/// them at most (every other storage effect too); returns how many frames became durable.
fn commit_appends(h: &mut Host, n: usize) -> usize {
    let mut durable = 0;
    let mut answered = 0;
    for (id, e) in std::mem::take(&mut h.effects) {
        if let Effect::AppendEvents(r) = &e {
            if answered == n {
                h.effects.push((id, e));
                continue;
            }
            answered += 1;
            durable += r.len();
        }
        h.rt.handle_effect_result(h.now, id, EffectOutcome::Done);
    }
    h.drain();
    durable
}

#[test]
fn a_default_ring_durable_stream_longer_than_the_ring_waits_for_the_store_and_loses_nothing() {
    // The runtime's default bounds: `max_ring_events` 10,000.
    let mut cfg = contract_config();
    cfg.durable = true;
    assert_eq!(cfg.bounds.max_ring_events, 10_000);
    let mut h = Host::new(cfg);
    let c = h.open(1);
    h.send(c, hello("alice-token", &ALL));
    commit_appends(&mut h, usize::MAX);
    assert_eq!(types(&h.take(c)), vec!["session.welcome"]);
    let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
    commit_appends(&mut h, usize::MAX);
    // 35,000 events. The agent runs until its session holds 10,000 frames not yet durable,
    // then waits; the store commits what is outstanding (all of it, or only some appends:
    // the job may go on by exactly as many frames as became durable).
    const EVENTS: usize = 35_000;
    let mut fed = Vec::new();
    let mut waits = 0;
    let mut total = 0;
    let mut commits = [usize::MAX, 2_500, usize::MAX, usize::MAX, usize::MAX].into_iter();
    while total < EVENTS {
        let mut n = 0;
        while total < EVENTS && emit(&mut h, &job, "e") {
            n += 1;
            total += 1;
            h.drain();
        }
        fed.push(n);
        if total < EVENTS {
            assert!(h.rt.job_held(&job));
            waits += 1;
        }
        let durable = commit_appends(&mut h, commits.next().unwrap_or(usize::MAX));
        if total < EVENTS {
            assert!(
                !h.rt.job_held(&job),
                "released after {durable} became durable"
            );
        }
    }
    commit_appends(&mut h, usize::MAX);
    // 10,000 before the first wait; 10,000 again once all of them were durable; 2,500 when
    // only 2,500 of those were; 10,000 once all were; then the last 2,500.
    assert_eq!(fed, vec![10_000, 10_000, 2_500, 10_000, 2_500]);
    assert_eq!(waits, 4);
    let end = AgentEvent::Result {
        result: Some(json!("done")),
        summary: None,
    };
    h.rt.handle_agent_event(h.now, &job, end).unwrap();
    h.drain();
    commit_appends(&mut h, usize::MAX);
    // Nothing cut: every event once, in order, then the result; the connection stays open.
    let out = h.take(c);
    assert_eq!(seqs(&out), (1..=EVENTS as u64 + 1).collect::<Vec<_>>());
    assert_eq!(
        types(&out).iter().filter(|t| **t == "job.event").count(),
        EVENTS
    );
    assert!(matches!(
        out.last().map(|f| &f.message),
        Some(Message::Result(_))
    ));
    assert!(
        !h.all_effects
            .iter()
            .any(|e| matches!(e, Effect::CloseConnection { .. }))
    );
    assert_eq!(h.rt.session_count(), 1);
}
