//! The `client` fuzz target's entry point.

use crate::client::{
    AutoAck, ClientConfig, ClientEvent, ClientSession, ListJobsRequest, SeqSpace, SubmitRequest,
};
use crate::time::{Instant, WallClock};
use crate::wire::{Feature, Frame, JobId, MessageType, SeededEntropy};
use arbitrary::Unstructured;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const JOBS: [&str; 4] = ["job_0", "job_1", "job_2", "job_3"];
const CODES: [&str; 6] = [
    "CANCELLED",
    "TIMEOUT",
    "INTERNAL_ERROR",
    "PERMISSION_DENIED",
    "DUPLICATE_KEY",
    "BUDGET_EXHAUSTED",
];

/// What the client has delivered so far, to check its invariants.
#[derive(Default)]
struct ClientChecker {
    last_session_seq: u64,
    sub_last: HashMap<JobId, u64>,
    ended: HashSet<JobId>,
    /// Request ids and ping nonces the client minted, for the runtime side to answer.
    ids: Vec<String>,
}

impl ClientChecker {
    fn event(&mut self, ev: &ClientEvent) {
        match ev {
            ClientEvent::Welcome(w) if !w.resumed => {
                self.last_session_seq = 0;
                self.sub_last.clear();
            }
            ClientEvent::Accepted { job_id, .. } => {
                // COMPAT D27: the terminal copy after an idempotent resubmit.
                self.ended.remove(job_id);
            }
            ClientEvent::JobEvent {
                job_id,
                event_seq,
                space,
                ..
            } => self.seq(job_id, *event_seq, *space),
            ClientEvent::Terminal {
                job_id,
                event_seq,
                space,
                ..
            } => {
                self.seq(job_id, *event_seq, *space);
                assert!(
                    self.ended.insert(job_id.clone()),
                    "second terminal for {job_id}"
                );
            }
            _ => {}
        }
    }

    fn seq(&mut self, job_id: &JobId, seq: u64, space: SeqSpace) {
        assert!(!self.ended.contains(job_id), "frame after terminal");
        let last = match space {
            SeqSpace::Session => &mut self.last_session_seq,
            SeqSpace::Subscription => self.sub_last.entry(job_id.to_owned()).or_default(),
        };
        assert!(seq > *last, "event_seq {seq} after {last} ({space:?})");
        *last = seq;
    }
}

fn drain_client(c: &mut ClientSession, chk: &mut ClientChecker) {
    while let Some(f) = c.poll_transmit() {
        // D26: nothing gated leaves outside the negotiated intersection.
        let gate = match f.message_type() {
            MessageType::Ack => Some(Feature::Ack),
            MessageType::ListJobs => Some(Feature::ListJobs),
            MessageType::Subscribe | MessageType::Unsubscribe => Some(Feature::Subscribe),
            _ => None,
        };
        if let Some(g) = gate {
            assert!(
                c.features().contains(g),
                "{} sent without {g}",
                f.message_type().as_str()
            );
        }
        let bytes = f.encode();
        assert_eq!(
            Frame::decode(&bytes).as_ref(),
            Ok(&f),
            "client frames round-trip"
        );
    }
    while let Some(ev) = c.poll_event() {
        chk.event(&ev);
    }
}

fn pick<'a, T>(u: &mut Unstructured<'_>, items: &'a [T]) -> Option<&'a T> {
    u.choose(items).ok()
}

/// One runtime frame, mostly well-formed and mostly in sequence.
fn runtime_frame(u: &mut Unstructured<'_>, c: &ClientSession, chk: &ClientChecker) -> Vec<u8> {
    let job = *pick(u, &JOBS).unwrap_or(&"job_0");
    let sid = if u.ratio(1, 16).unwrap_or(false) {
        "sess_B"
    } else {
        "sess_A"
    };
    let seq = if u.ratio(7, 8).unwrap_or(true) {
        c.last_event_seq() + 1
    } else {
        u.int_in_range(1..=c.last_event_seq() + 3).unwrap_or(1)
    };
    let rid = if u.ratio(3, 4).unwrap_or(false) {
        pick(u, &chk.ids).cloned()
    } else {
        None
    };
    let ts = "2026-11-24T01:30:33.131199Z";
    let job_frame = |ty: &str, payload: Value| {
        json!({"arcp": "1.1", "id": "F", "type": ty, "session_id": sid, "job_id": job,
               "event_seq": seq, "payload": payload})
    };
    let kind: u8 =
        if c.state() == crate::client::ClientState::Handshaking && u.ratio(7, 8).unwrap_or(true) {
            0
        } else if u.ratio(1, 128).unwrap_or(false) {
            13
        } else {
            u.int_in_range(1..=12).unwrap_or(2)
        };
    let v = match kind {
        0 => {
            let mask: u16 = u.arbitrary().unwrap_or(0xffff);
            let features: Vec<&str> = Feature::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, f)| f.as_str())
                .collect();
            let hb: u64 = u.int_in_range(0..=3).unwrap_or(0);
            json!({"arcp": "1.1", "id": "W", "type": "session.welcome", "session_id": sid,
                "payload": {"runtime": {"name": "r", "version": "1"}, "session_id": sid,
                "resume_token": format!("rtk_{seq}"), "resume_window_sec": 600,
                "heartbeat_interval_sec": hb,
                "capabilities": {"features": features}}})
        }
        1 => {
            let mut p =
                json!({"job_id": job, "agent": "echo@1.0.0", "accepted_at": ts, "lease": {}});
            if let Some(r) = rid {
                p["request_id"] = json!(r);
            }
            json!({"arcp": "1.1", "id": "A", "type": "job.accepted", "session_id": sid,
                   "job_id": job, "payload": p})
        }
        2 | 3 => job_frame(
            "job.event",
            json!({"kind": "log", "ts": ts, "body": {"level": "info", "message": "m"}}),
        ),
        4 | 5 => {
            let n: u64 = u.int_in_range(0..=3).unwrap_or(0);
            let base64 = u.ratio(1, 2).unwrap_or(false);
            let data = if base64 { "QUJD" } else { "abc" };
            let more = u.ratio(2, 3).unwrap_or(true);
            job_frame(
                "job.event",
                json!({"kind": "result_chunk", "ts": ts, "body": {"result_id": format!("res_{job}"),
                    "chunk_seq": n, "data": data, "encoding": if base64 {"base64"} else {"utf8"},
                    "more": more}}),
            )
        }
        6 => {
            let status =
                *pick(u, &["success", "cancelled", "timed_out", "error"]).unwrap_or(&"success");
            let mut p = json!({"final_status": status});
            if u.ratio(1, 2).unwrap_or(false) {
                p["result_id"] = json!(format!("res_{job}"));
                p["result_size"] = json!(u.int_in_range(0..=12u64).unwrap_or(0));
            } else {
                p["result"] = json!({"ok": true});
            }
            job_frame("job.result", p)
        }
        7 => {
            let code = *pick(u, &CODES).unwrap_or(&"INTERNAL_ERROR");
            job_frame(
                "job.error",
                json!({"final_status": "error", "code": code, "message": "m", "retryable": false}),
            )
        }
        8 => {
            let mut p = json!({"code": pick(u, &CODES).unwrap_or(&"INTERNAL_ERROR"),
                "message": "m", "retryable": false});
            if let Some(r) = rid {
                p["request_id"] = json!(r);
            }
            json!({"arcp": "1.1", "id": "E", "type": "session.error", "session_id": sid, "payload": p})
        }
        9 => json!({"arcp": "1.1", "id": "P", "type": "session.ping", "session_id": sid,
            "payload": {"nonce": "n", "sent_at": "2026-11-24T01:30:36.909290+00:00"}}),
        10 => json!({"arcp": "1.1", "id": "Q", "type": "session.pong", "session_id": sid,
            "payload": {"ping_nonce": rid.unwrap_or_default(), "received_at": ts}}),
        11 => json!({"arcp": "1.1", "id": "J", "type": "session.jobs", "session_id": sid,
            "payload": {"request_id": rid, "jobs": []}}),
        12 => json!({"arcp": "1.1", "id": "S", "type": "job.subscribed", "session_id": sid,
            "job_id": job, "payload": {"request_id": rid, "job_id": job,
            "current_status": "running", "agent": "slow@1.0.0", "replayed": 0}}),
        _ => json!({"arcp": "1.1", "id": "B", "type": "session.bye", "session_id": sid,
            "payload": {"reason": "bye"}}),
    };
    v.to_string().into_bytes()
}

/// Drives a [`ClientSession`] with arbitrary runtime frames (structured and raw), commands,
/// connects, drops and time steps. Panics only if an invariant breaks: `handle_frame`
/// never panics; delivered `event_seq` is strictly increasing (per numbering space); at
/// most one terminal per job except the copy an idempotent resubmit asks for ([D27]);
/// nothing gated is sent outside the negotiated features ([D26]); every frame sent round-trips.
///
/// [D27]: crate::compat#d27--idempotent-resubmit
/// [D26]: crate::compat#d26--non-negotiated-features
pub fn client_steps(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut cfg = ClientConfig::named("fuzz", "0.0.0", "token");
    cfg.auto_ping = true;
    cfg.auto_ack = Some(AutoAck {
        every_n: 2,
        interval: Duration::from_millis(50),
    });
    cfg.max_frame_bytes = 4096;
    cfg.max_pending_requests = 8;
    cfg.max_pending_events = 32;
    cfg.max_pending_transmits = 16;
    cfg.max_subscriptions = 2;
    cfg.max_outstanding_pings = 2;
    cfg.max_chunk_bytes = 16;
    cfg.max_result_bytes = 64;
    cfg.max_open_results = 2;
    cfg.max_ended_jobs = 64;
    let wall = WallClock::new(Instant::ZERO, 1_795_483_833_000_000);
    let seed: u64 = u.arbitrary().unwrap_or(0);
    let mut c = ClientSession::new(cfg, wall, Box::new(SeededEntropy::new(seed)));
    let mut chk = ClientChecker::default();
    let mut now_ms: u64 = 0;
    for _ in 0..512 {
        if u.is_empty() {
            break;
        }
        let now = Instant::from_millis(now_ms);
        let op: u8 = u.int_in_range(0..=15).unwrap_or(0);
        let job = &JobId::from(*pick(&mut u, &JOBS).unwrap_or(&"job_0"));
        let minted = match op {
            0 => {
                c.handle_connected(now);
                None
            }
            1 => {
                if u.ratio(1, 4).unwrap_or(false) {
                    c.handle_disconnected(now);
                }
                None
            }
            2 => {
                now_ms += u64::from(u.int_in_range(0..=3000u16).unwrap_or(0));
                let now = Instant::from_millis(now_ms);
                if c.poll_timeout().is_some_and(|t| t <= now) {
                    c.handle_timeout(now);
                }
                None
            }
            3..=7 => {
                let frame = runtime_frame(&mut u, &c, &chk);
                c.handle_frame(now, &frame);
                None
            }
            8 => {
                let raw: &[u8] = u.arbitrary().unwrap_or(&[]);
                c.handle_frame(now, raw);
                None
            }
            9 => {
                let key = u.ratio(1, 2).unwrap_or(false);
                let mut req = SubmitRequest::new("echo", json!({"n": now_ms}));
                if key {
                    req = req.idempotency_key("k");
                }
                c.submit(now, req).ok().map(|r| r.as_str().to_owned())
            }
            10 => c.cancel(now, job, None).ok().map(|r| r.as_str().to_owned()),
            11 => {
                let seq = u.int_in_range(0..=c.last_event_seq()).unwrap_or(0);
                let _ = c.ack(now, seq);
                None
            }
            12 => c
                .list_jobs(now, ListJobsRequest::default())
                .ok()
                .map(|r| r.as_str().to_owned()),
            13 => {
                let history = u.ratio(1, 2).unwrap_or(false);
                let r = c.subscribe(now, job, history, None).ok();
                if r.is_some() {
                    chk.ended.remove(job);
                    chk.sub_last.remove(job);
                }
                r.map(|r| r.as_str().to_owned())
            }
            14 => {
                if u.ratio(1, 2).unwrap_or(false) {
                    c.unsubscribe(now, job).ok().map(|r| r.as_str().to_owned())
                } else {
                    c.ping(now).ok()
                }
            }
            _ => {
                if u.ratio(1, 32).unwrap_or(false) {
                    let _ = c.close(now, "client.close");
                }
                None
            }
        };
        if let Some(id) = minted {
            if chk.ids.len() >= 32 {
                chk.ids.remove(0);
            }
            chk.ids.push(id);
        }
        drain_client(&mut c, &mut chk);
    }
}
