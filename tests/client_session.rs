//! ClientSession: handshake, feature gating (D26), commands and their correlation (D20),
//! terminal forms (D6, D8), close (D1) and peer faults.

mod client_support;

use arcp_proto::client::{
    ApiError, ClientEvent, ClientState, CloseReason, JobOutcome, ListJobsRequest, RequestError,
    RequestKind, ResultValue, SeqSpace, SubmitRequest,
};
use arcp_proto::wire::{ErrorCode, Feature, FeatureSet, JobFilter, TraceId};
use client_support::*;
use serde_json::json;

#[test]
fn hello_then_welcome_negotiates_the_intersection() {
    let mut c = client(config());
    assert_eq!(c.state(), ClientState::Disconnected);
    c.handle_connected(ms(0));
    assert_eq!(c.state(), ClientState::Handshaking);
    let hello = txs(&mut c);
    assert_eq!(hello.len(), 1);
    let mut v = json_of(&hello[0]);
    assert_eq!(v["id"].as_str().unwrap().len(), 26, "bare ULID envelope id");
    v.as_object_mut().unwrap().remove("id");
    assert_eq!(
        v,
        json!({"arcp": "1.1", "type": "session.hello", "payload": {
            "client": {"name": "arcp-interop-runner", "version": "1.0.0"},
            "auth": {"scheme": "bearer", "token": "alice-token"},
            "capabilities": {"encodings": ["json"], "features": ALL, "agents": []}}})
    );
    // The runtime offers a subset plus an unknown flag; the intersection keeps our order.
    feed(
        &mut c,
        ms(5),
        welcome(
            SID,
            TOKEN1,
            Some(2),
            &["x-bogus", "progress", "ack", "heartbeat"],
        ),
    );
    assert_eq!(c.state(), ClientState::Open);
    assert_eq!(
        c.features(),
        FeatureSet::from([Feature::Heartbeat, Feature::Ack, Feature::Progress])
    );
    assert_eq!(c.session_id().map(|s| s.as_str()), Some(SID));
    assert_eq!(c.resume_token(), Some(TOKEN1));
    let ev = evs(&mut c);
    assert_eq!(ev.len(), 2);
    match &ev[0] {
        ClientEvent::Welcome(w) => {
            assert_eq!(w.session_id, SID);
            assert!(!w.resumed);
            assert_eq!(
                w.features,
                FeatureSet::from([Feature::Heartbeat, Feature::Ack, Feature::Progress])
            );
            assert_eq!(
                w.heartbeat_interval,
                Some(std::time::Duration::from_secs(2))
            );
            assert_eq!(w.agents.len(), 1);
            assert_eq!(w.resume_window_sec, 600);
        }
        other => panic!("{other:?}"),
    }
    match &ev[1] {
        ClientEvent::ResumeStateChanged(s) => {
            assert_eq!(
                (
                    s.session_id.as_str(),
                    s.resume_token.as_str(),
                    s.last_event_seq
                ),
                (SID, TOKEN1, 0)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn heartbeat_interval_ignored_without_the_feature_d26() {
    let mut c = client(config());
    c.handle_connected(ms(0));
    feed(&mut c, ms(1), welcome(SID, TOKEN1, Some(2), &["ack"]));
    assert_eq!(c.heartbeat_interval(), None);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn commands_before_welcome_and_gated_features_are_refused_d26() {
    let mut c = client(config());
    assert_eq!(
        c.submit(ms(0), SubmitRequest::new("echo", json!(1))),
        Err(ApiError::NotOpen(ClientState::Disconnected))
    );
    c.handle_connected(ms(0));
    assert_eq!(
        c.ping(ms(0)),
        Err(ApiError::NotOpen(ClientState::Handshaking))
    );
    txs(&mut c);
    feed(&mut c, ms(1), welcome(SID, TOKEN1, None, &["progress"]));
    evs(&mut c);
    assert_eq!(
        c.list_jobs(ms(2), ListJobsRequest::default()),
        Err(ApiError::FeatureNotNegotiated(Feature::ListJobs))
    );
    assert_eq!(
        c.subscribe(ms(2), &arcp_proto::wire::JobId::from(JOB), true, None),
        Err(ApiError::FeatureNotNegotiated(Feature::Subscribe))
    );
    assert_eq!(
        c.unsubscribe(ms(2), &arcp_proto::wire::JobId::from(JOB)),
        Err(ApiError::FeatureNotNegotiated(Feature::Subscribe))
    );
    assert_eq!(
        c.ack(ms(2), 0),
        Err(ApiError::FeatureNotNegotiated(Feature::Ack))
    );
    assert!(txs(&mut c).is_empty());
    // Not gated: cost.budget and model.use leases, and pings.
    let req = SubmitRequest::new("budget", json!({}))
        .lease("cost.budget", vec!["USD:1.00".into()])
        .lease("model.use", vec!["tier-fast/*".into()]);
    c.submit(ms(3), req).unwrap();
    c.ping(ms(3)).unwrap();
    let out = txs(&mut c);
    assert_eq!(out.len(), 2);
    assert_eq!(
        json_of(&out[0])["payload"]["lease_request"],
        json!({"cost.budget": ["USD:1.00"], "model.use": ["tier-fast/*"]})
    );
    assert_eq!(json_of(&out[1])["type"], "session.ping");
}

#[test]
fn submit_accepted_events_result() {
    let mut c = open(config());
    let trace = TraceId::parse("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let req = SubmitRequest::new("echo@1.0.0", json!({"x": 1}))
        .idempotency_key("k1")
        .max_runtime_sec(30)
        .trace_id(trace);
    let rid = c.submit(ms(10), req).unwrap();
    let sent = txs(&mut c);
    let v = json_of(&sent[0]);
    assert_eq!(v["id"], rid.as_str());
    assert_eq!(v["session_id"], SID);
    assert_eq!(v["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(
        v["payload"],
        json!({"agent": "echo@1.0.0", "input": {"x": 1}, "lease_request": {},
               "idempotency_key": "k1", "max_runtime_sec": 30})
    );
    assert_eq!(c.pending_requests(), 1);
    feed(&mut c, ms(11), accepted(JOB, Some(rid.as_str())));
    feed(&mut c, ms(11), log(JOB, 1));
    feed(
        &mut c,
        ms(12),
        result(
            JOB,
            2,
            json!({"final_status": "success", "result": {"x": 1}}),
        ),
    );
    assert_eq!(c.pending_requests(), 0);
    assert_eq!(c.last_event_seq(), 2);
    let ev = evs(&mut c);
    assert_eq!(ev.len(), 3);
    match &ev[0] {
        ClientEvent::Accepted {
            request_id,
            job_id,
            accepted,
        } => {
            assert_eq!(request_id.as_ref(), Some(&rid));
            assert_eq!(job_id, JOB);
            assert_eq!(accepted.agent.to_string(), "echo@1.0.0");
        }
        other => panic!("{other:?}"),
    }
    match &ev[1] {
        ClientEvent::JobEvent {
            job_id,
            event_seq: 1,
            space: SeqSpace::Session,
            event,
        } => {
            assert_eq!(job_id, JOB);
            assert_eq!(event.body.kind(), "log");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ev[2],
        ClientEvent::Terminal {
            job_id: JOB.into(),
            event_seq: 2,
            space: SeqSpace::Session,
            outcome: JobOutcome::Success {
                result: ResultValue::Inline(json!({"x": 1})),
                completed_at: None
            },
        }
    );
}

#[test]
fn invalid_submit_arguments_send_nothing() {
    let mut c = open(config());
    for (req, what) in [
        (SubmitRequest::new("bad agent!", json!(1)), "agent"),
        (
            SubmitRequest::new("echo", json!(1)).idempotency_key(""),
            "key",
        ),
        (
            SubmitRequest::new("echo", json!(1)).idempotency_key("k".repeat(257)),
            "key",
        ),
        (
            SubmitRequest::new("echo", json!(1)).max_runtime_sec(0),
            "runtime",
        ),
        (
            SubmitRequest::new("echo", json!(1)).max_runtime_sec(86_401),
            "runtime",
        ),
    ] {
        assert!(
            matches!(c.submit(ms(1), req), Err(ApiError::InvalidArgument(_))),
            "{what}"
        );
    }
    let bad_limit = ListJobsRequest {
        limit: Some(0),
        ..Default::default()
    };
    assert!(matches!(
        c.list_jobs(ms(1), bad_limit),
        Err(ApiError::InvalidArgument(_))
    ));
    assert!(matches!(c.ack(ms(1), 1), Err(ApiError::InvalidArgument(_))));
    assert!(txs(&mut c).is_empty());
    assert_eq!(c.pending_requests(), 0);
}

#[test]
fn accepted_without_request_id_links_fifo() {
    let mut c = open(config());
    let a = c
        .submit(ms(1), SubmitRequest::new("echo", json!(1)))
        .unwrap();
    let b = c
        .submit(ms(1), SubmitRequest::new("echo", json!(2)))
        .unwrap();
    feed(&mut c, ms(2), accepted("job_a", None));
    feed(&mut c, ms(2), accepted("job_b", Some(b.as_str())));
    let ids: Vec<_> = evs(&mut c)
        .into_iter()
        .map(|e| match e {
            ClientEvent::Accepted {
                request_id, job_id, ..
            } => (request_id.unwrap(), job_id),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, vec![(a, "job_a".into()), (b, "job_b".into())]);
}

#[test]
fn session_error_correlation_d20() {
    let mut c = open(config());
    let a = c
        .submit(ms(1), SubmitRequest::new("echo", json!(1)))
        .unwrap();
    let b = c.list_jobs(ms(1), ListJobsRequest::default()).unwrap();
    let s = c
        .subscribe(ms(1), &arcp_proto::wire::JobId::from("job_x"), false, None)
        .unwrap();
    // With request_id: exactly that request fails.
    feed(
        &mut c,
        ms(2),
        session_error("DUPLICATE_KEY", Some(a.as_str())),
    );
    let ev = evs(&mut c);
    assert_eq!(ev.len(), 1);
    match &ev[0] {
        ClientEvent::RequestFailed {
            request_id,
            kind,
            error: RequestError::Runtime(e),
        } => {
            assert_eq!(request_id, &a);
            assert_eq!(kind, &Some(RequestKind::Submit));
            assert_eq!(e.code, ErrorCode::DuplicateKey);
            assert!(!e.retryable);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.pending_requests(), 2);
    // Without: every pending request fails, as the reference does.
    feed(&mut c, ms(3), session_error("INTERNAL_ERROR", None));
    let failed: Vec<_> = evs(&mut c)
        .into_iter()
        .map(|e| match e {
            ClientEvent::RequestFailed {
                request_id, kind, ..
            } => (request_id, kind.unwrap()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        failed,
        vec![
            (b, RequestKind::ListJobs),
            (s, RequestKind::Subscribe("job_x".into()))
        ]
    );
    // The failed subscribe is forgotten: subscribing again is allowed.
    c.subscribe(ms(4), &arcp_proto::wire::JobId::from("job_x"), false, None)
        .unwrap();
    // An error naming an unknown request (e.g. a refused cancel, D7) is still reported.
    txs(&mut c);
    let cancel = c
        .cancel(ms(5), &arcp_proto::wire::JobId::from("job_y"), Some("stop"))
        .unwrap();
    let sent = txs(&mut c);
    assert_eq!(sent[0].job_id.as_deref(), Some("job_y"));
    assert_eq!(json_of(&sent[0])["payload"], json!({"reason": "stop"}));
    feed(
        &mut c,
        ms(6),
        session_error("JOB_NOT_FOUND", Some(cancel.as_str())),
    );
    match &evs(&mut c)[..] {
        [
            ClientEvent::RequestFailed {
                request_id,
                kind: None,
                ..
            },
        ] => assert_eq!(request_id, &cancel),
        other => panic!("{other:?}"),
    }
    // No pending request: a bare session.error is reported as such.
    let mut d = open(config());
    feed(&mut d, ms(2), session_error("INVALID_REQUEST", None));
    assert!(
        matches!(&evs(&mut d)[..], [ClientEvent::SessionError(e)] if e.code == ErrorCode::InvalidRequest)
    );
}

#[test]
fn both_terminal_forms_of_cancel_and_timeout_d6_d8() {
    let mut c = open(config());
    feed(
        &mut c,
        ms(1),
        result("job_a", 1, json!({"final_status": "cancelled"})),
    );
    feed(&mut c, ms(1), job_error("job_b", 2, "CANCELLED", false));
    feed(
        &mut c,
        ms(1),
        result("job_c", 3, json!({"final_status": "timed_out"})),
    );
    feed(&mut c, ms(1), job_error("job_d", 4, "TIMEOUT", false));
    feed(
        &mut c,
        ms(1),
        job_error("job_e", 5, "BUDGET_EXHAUSTED", false),
    );
    feed(&mut c, ms(1), job_error("job_f", 6, "INTERNAL_ERROR", true));
    let outcomes: Vec<_> = evs(&mut c)
        .into_iter()
        .map(|e| match e {
            ClientEvent::Terminal { outcome, .. } => outcome,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(outcomes.len(), 6);
    assert_eq!(outcomes[0], JobOutcome::Cancelled { completed_at: None });
    assert_eq!(outcomes[1], JobOutcome::Cancelled { completed_at: None });
    assert_eq!(outcomes[2], JobOutcome::TimedOut { completed_at: None });
    assert_eq!(outcomes[3], JobOutcome::TimedOut { completed_at: None });
    assert!(matches!(
        &outcomes[4],
        JobOutcome::Failed {
            code: ErrorCode::BudgetExhausted,
            retryable: false,
            ..
        }
    ));
    assert!(matches!(
        &outcomes[5],
        JobOutcome::Failed {
            code: ErrorCode::InternalError,
            retryable: true,
            ..
        }
    ));
}

#[test]
fn list_jobs_and_subscribe_answers_are_correlated() {
    let mut c = open(config());
    let req = ListJobsRequest {
        filter: Some(JobFilter {
            status: Some(vec!["running".into()]),
            ..Default::default()
        }),
        limit: Some(1),
        cursor: Some("1".into()),
    };
    let l = c.list_jobs(ms(1), req).unwrap();
    let s = c
        .subscribe(ms(1), &arcp_proto::wire::JobId::from(JOB), true, Some(0))
        .unwrap();
    let sent = txs(&mut c);
    assert_eq!(
        json_of(&sent[0])["payload"],
        json!({"filter": {"status": ["running"]}, "limit": 1, "cursor": "1"})
    );
    let sub = json_of(&sent[1]);
    assert_eq!(sub["job_id"], JOB);
    assert_eq!(
        sub["payload"],
        json!({"job_id": JOB, "history": true, "from_event_seq": 0})
    );
    feed(
        &mut c,
        ms(2),
        json!({"arcp": "1.1", "id": "01M85JT4SAGX7B3XWCKQ17MJ01", "type": "session.jobs",
        "session_id": SID, "payload": {"request_id": l.as_str(), "jobs": []}}),
    );
    feed(
        &mut c,
        ms(2),
        json!({"arcp": "1.1", "id": "01M85JT4SAGX7B3XWCKQ17MJ02", "type": "job.subscribed",
        "session_id": SID, "job_id": JOB, "payload": {"request_id": s.as_str(), "job_id": JOB,
        "current_status": "running", "agent": "slow@1.0.0", "lease": {}, "subscribed_from": 0, "replayed": 0}}),
    );
    let ev = evs(&mut c);
    assert!(
        matches!(&ev[0], ClientEvent::Jobs { request_id: Some(r), jobs } if *r == l && jobs.jobs.is_empty())
    );
    assert!(
        matches!(&ev[1], ClientEvent::Subscribed { request_id: Some(r), subscribed } if *r == s && subscribed.job_id == JOB)
    );
    assert_eq!(c.pending_requests(), 0);
    assert_eq!(
        c.subscribe(ms(3), &arcp_proto::wire::JobId::from(JOB), true, None),
        Err(ApiError::AlreadySubscribed(JOB.into()))
    );
    c.unsubscribe(ms(3), &arcp_proto::wire::JobId::from(JOB))
        .unwrap();
    let unsub = json_of(&txs(&mut c)[0]);
    assert_eq!(unsub["type"], "job.unsubscribe");
    assert_eq!(unsub.get("job_id"), None);
    assert_eq!(unsub["payload"], json!({"job_id": JOB}));
    assert_eq!(
        c.unsubscribe(ms(3), &arcp_proto::wire::JobId::from(JOB)),
        Err(ApiError::NotSubscribed(JOB.into()))
    );
}

#[test]
fn subscribed_job_numbered_from_one_is_checked_per_subscription_d10() {
    let mut c = open(config());
    feed(&mut c, ms(1), log("own", 1));
    feed(&mut c, ms(1), log("own", 2));
    c.subscribe(ms(2), &arcp_proto::wire::JobId::from("watched"), true, None)
        .unwrap();
    // The reference replays the watched job numbered 1.. before job.subscribed.
    feed(&mut c, ms(3), log("watched", 1));
    feed(&mut c, ms(3), log("watched", 2));
    feed(&mut c, ms(3), log("own", 3));
    feed(
        &mut c,
        ms(3),
        result("watched", 3, json!({"final_status": "success"})),
    );
    let ev = evs(&mut c);
    let spaces: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            ClientEvent::JobEvent {
                job_id,
                event_seq,
                space,
                ..
            }
            | ClientEvent::Terminal {
                job_id,
                event_seq,
                space,
                ..
            } => Some((job_id.as_str(), *event_seq, *space)),
            _ => None,
        })
        .collect();
    assert_eq!(
        spaces,
        vec![
            ("own", 1, SeqSpace::Session),
            ("own", 2, SeqSpace::Session),
            ("watched", 1, SeqSpace::Subscription),
            ("watched", 2, SeqSpace::Subscription),
            ("own", 3, SeqSpace::Session),
            ("watched", 3, SeqSpace::Subscription),
        ]
    );
    assert_eq!(c.last_event_seq(), 3);
    assert_eq!(c.state(), ClientState::Open);
}

/// The job frames delivered (`event`, `terminal`) and refused (`protocol_error`, seq 0).
fn job_frames(ev: &[ClientEvent]) -> Vec<(&'static str, u64)> {
    ev.iter()
        .filter_map(|e| match e {
            ClientEvent::JobEvent { event_seq, .. } => Some(("event", *event_seq)),
            ClientEvent::Terminal { event_seq, .. } => Some(("terminal", *event_seq)),
            ClientEvent::ProtocolError(_) => Some(("protocol_error", 0)),
            _ => None,
        })
        .collect()
}

/// D10: a `job.subscribed` may overtake frames of the job stamped before the subscribe (here
/// its terminal, seq 3, waiting for the store). `subscribed_from - replayed + 1` (4) is where
/// the replay starts: the earlier terminal does not end the replay, whose own terminal does.
#[test]
fn subscription_replay_after_an_overtaken_terminal_d10() {
    let mut c = open(config());
    feed(&mut c, ms(1), log(JOB, 1));
    feed(&mut c, ms(1), log(JOB, 2));
    let s = c
        .subscribe(ms(2), &arcp_proto::wire::JobId::from(JOB), true, None)
        .unwrap();
    feed(
        &mut c,
        ms(3),
        json!({"arcp": "1.1", "id": "01M85JT4SAGX7B3XWCKQ17MJ02", "type": "job.subscribed",
        "session_id": SID, "job_id": JOB, "payload": {"request_id": s.as_str(), "job_id": JOB,
        "current_status": "cancelled", "agent": "slow@1.0.0", "lease": {}, "subscribed_from": 6,
        "replayed": 3}}),
    );
    feed(
        &mut c,
        ms(3),
        result(JOB, 3, json!({"final_status": "cancelled"})),
    );
    feed(&mut c, ms(3), log(JOB, 4));
    feed(&mut c, ms(3), log(JOB, 5));
    feed(
        &mut c,
        ms(3),
        result(JOB, 6, json!({"final_status": "cancelled"})),
    );
    // The replay's terminal ends it for good.
    feed(&mut c, ms(4), log(JOB, 7));
    let seen = job_frames(&evs(&mut c));
    assert_eq!(
        seen,
        vec![
            ("event", 1),
            ("event", 2),
            ("terminal", 3),
            ("event", 4),
            ("event", 5),
            ("terminal", 6),
            ("protocol_error", 0),
        ]
    );
    assert_eq!(c.last_event_seq(), 7);
}

/// D10: two subscriptions with history to one job, the second sent after the job's terminal
/// arrived: each replay (seq 2, then seq 3) may end the job again, and nothing after them.
#[test]
fn two_replays_of_one_job_each_end_it_once_d10() {
    let mut c = open(config());
    let job = arcp_proto::wire::JobId::from(JOB);
    let first = c.subscribe(ms(1), &job, true, None).unwrap();
    feed(
        &mut c,
        ms(2),
        result(JOB, 1, json!({"final_status": "success"})),
    );
    let second = c.subscribe(ms(3), &job, true, None).unwrap();
    for (id, r, from) in [
        ("01M85JT4SAGX7B3XWCKQ17MJ03", &first, 2),
        ("01M85JT4SAGX7B3XWCKQ17MJ04", &second, 3),
    ] {
        feed(
            &mut c,
            ms(4),
            json!({"arcp": "1.1", "id": id, "type": "job.subscribed", "session_id": SID,
            "job_id": JOB, "payload": {"request_id": r.as_str(), "job_id": JOB,
            "current_status": "success", "agent": "echo@1.0.0", "lease": {},
            "subscribed_from": from, "replayed": 1}}),
        );
    }
    feed(
        &mut c,
        ms(5),
        result(JOB, 2, json!({"final_status": "success"})),
    );
    feed(
        &mut c,
        ms(5),
        result(JOB, 3, json!({"final_status": "success"})),
    );
    feed(
        &mut c,
        ms(6),
        result(JOB, 4, json!({"final_status": "success"})),
    );
    let seen = job_frames(&evs(&mut c));
    assert_eq!(
        seen,
        vec![
            ("terminal", 1),
            ("terminal", 2),
            ("terminal", 3),
            ("protocol_error", 0),
        ]
    );
}

#[test]
fn runtime_ping_is_answered_and_our_ping_gets_its_pong() {
    let mut c = open(config());
    feed(
        &mut c,
        ms(10),
        json!({"arcp": "1.1", "id": "01M85JT8FDXW7FR4SX5A54GZPD", "type": "session.ping",
        "session_id": SID, "payload": {"nonce": "N1", "sent_at": "2026-11-24T01:30:36.909290+00:00"}}),
    );
    let pong = json_of(&txs(&mut c)[0]);
    assert_eq!(pong["type"], "session.pong");
    assert_eq!(pong["session_id"], SID);
    assert_eq!(pong["payload"]["ping_nonce"], "N1");
    assert_eq!(
        pong["payload"]["received_at"],
        "2026-11-24T01:30:33.010000Z"
    );
    let nonce = c.ping(ms(20)).unwrap();
    let ping = json_of(&txs(&mut c)[0]);
    assert_eq!(ping["payload"]["nonce"], nonce.as_str());
    assert_eq!(ping["payload"]["sent_at"], "2026-11-24T01:30:33.020000Z");
    feed(
        &mut c,
        ms(27),
        json!({"arcp": "1.1", "id": "01M85JT8FDXW7FR4SX5A54GZPE", "type": "session.pong",
        "session_id": SID, "payload": {"ping_nonce": nonce, "received_at": "2026-11-24T01:30:33.021Z"}}),
    );
    assert_eq!(
        evs(&mut c),
        vec![ClientEvent::Pong {
            nonce,
            rtt: Some(std::time::Duration::from_millis(7))
        }]
    );
}

#[test]
fn close_sends_bye_and_is_sticky_d1() {
    let mut c = open(config());
    let r = c
        .submit(ms(1), SubmitRequest::new("echo", json!(1)))
        .unwrap();
    txs(&mut c);
    c.close(ms(2), "client.close").unwrap();
    let bye = json_of(&txs(&mut c)[0]);
    assert_eq!(bye["type"], "session.bye");
    assert_eq!(bye["session_id"], SID);
    assert_eq!(bye["payload"], json!({"reason": "client.close"}));
    assert_eq!(
        evs(&mut c),
        vec![
            ClientEvent::RequestFailed {
                request_id: r,
                kind: Some(RequestKind::Submit),
                error: RequestError::SessionClosed
            },
            ClientEvent::CloseTransport(CloseReason::Bye),
            ClientEvent::Closed(CloseReason::Bye),
        ]
    );
    assert_eq!(c.state(), ClientState::Closed);
    assert_eq!(c.close(ms(3), "again"), Err(ApiError::Closed));
    assert_eq!(
        c.submit(ms(3), SubmitRequest::new("echo", json!(1))),
        Err(ApiError::Closed)
    );
    c.handle_disconnected(ms(3));
    c.handle_connected(ms(4));
    assert_eq!(c.state(), ClientState::Closed);
    assert!(txs(&mut c).is_empty());
    feed(&mut c, ms(5), log(JOB, 1));
    assert!(evs(&mut c).is_empty());
}

#[test]
fn refused_handshake_closes_the_session() {
    let mut c = client(config());
    c.handle_connected(ms(0));
    txs(&mut c);
    let mut err = session_error("UNAUTHENTICATED", None);
    err.as_object_mut().unwrap().remove("session_id");
    feed(&mut c, ms(1), err);
    let ev = evs(&mut c);
    assert!(
        matches!(&ev[0], ClientEvent::HandshakeFailed { error, resuming: false } if error.code == ErrorCode::Unauthenticated)
    );
    assert_eq!(
        &ev[1..],
        [
            ClientEvent::CloseTransport(CloseReason::HandshakeFailed),
            ClientEvent::Closed(CloseReason::HandshakeFailed)
        ]
    );
    assert_eq!(c.state(), ClientState::Closed);
}

#[test]
fn peer_faults_become_events_not_errors() {
    let mut c = open(config());
    c.handle_frame(ms(1), b"{not json");
    c.handle_frame(
        ms(1),
        br#"{"arcp":"1.1","id":"X","type":"job.submit","payload":{"agent":"echo"}}"#,
    );
    c.handle_frame(
        ms(1),
        br#"{"arcp":"1.1","id":"X","type":"nope.nope","payload":{}}"#,
    );
    feed(
        &mut c,
        ms(1),
        json!({"arcp": "1.1", "id": "X", "type": "session.pong",
        "session_id": "sess_other", "payload": {"ping_nonce": "n", "received_at": "2026-11-24T01:30:33Z"}}),
    );
    feed(&mut c, ms(1), welcome(SID, TOKEN2, None, &ALL));
    let ev = evs(&mut c);
    assert_eq!(ev.len(), 5);
    for e in &ev {
        assert!(
            matches!(e, ClientEvent::ProtocolError(p) if p.code == ErrorCode::InvalidRequest),
            "{e:?}"
        );
    }
    assert_eq!(c.state(), ClientState::Open);
    assert_eq!(c.resume_token(), Some(TOKEN1));
    // A job frame without event_seq is refused the same way.
    feed(
        &mut c,
        ms(2),
        json!({"arcp": "1.1", "id": "Y", "type": "job.result", "session_id": SID,
        "job_id": JOB, "payload": {"final_status": "success"}}),
    );
    assert!(matches!(&evs(&mut c)[..], [ClientEvent::ProtocolError(_)]));
}

#[test]
fn idempotent_resubmit_gets_the_terminal_copy_d27() {
    let mut c = open(config());
    let first = c
        .submit(
            ms(1),
            SubmitRequest::new("echo", json!({"k": 1})).idempotency_key("key"),
        )
        .unwrap();
    feed(&mut c, ms(2), accepted(JOB, Some(first.as_str())));
    feed(
        &mut c,
        ms(2),
        result(
            JOB,
            1,
            json!({"final_status": "success", "result": {"k": 1}}),
        ),
    );
    let again = c
        .submit(
            ms(3),
            SubmitRequest::new("echo", json!({"k": 1})).idempotency_key("key"),
        )
        .unwrap();
    feed(&mut c, ms(4), accepted(JOB, Some(again.as_str())));
    feed(
        &mut c,
        ms(4),
        result(
            JOB,
            2,
            json!({"final_status": "success", "result": {"k": 1}}),
        ),
    );
    // Without a new accepted, a third terminal is a peer fault.
    feed(
        &mut c,
        ms(5),
        result(
            JOB,
            3,
            json!({"final_status": "success", "result": {"k": 1}}),
        ),
    );
    let ev = evs(&mut c);
    let terminals = ev
        .iter()
        .filter(|e| matches!(e, ClientEvent::Terminal { .. }))
        .count();
    assert_eq!(terminals, 2);
    assert!(matches!(&ev[2], ClientEvent::Accepted { request_id: Some(r), .. } if *r == again));
    assert!(matches!(ev.last(), Some(ClientEvent::ProtocolError(_))));
}

#[test]
fn a_session_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<arcp_proto::client::ClientSession>();
    assert_send::<ClientEvent>();
}
