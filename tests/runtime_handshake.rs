//! Handshake (§6.1, §6.2, D18, D19, D24, D26, D35, D36).

mod runtime_support;

use arcp_proto::runtime::{CloseReason, Effect, TransportKind};
use arcp_proto::wire::{AgentInfo, Message};
use runtime_support::*;
use serde_json::json;

#[test]
fn hello_authenticates_then_welcomes_with_d24_fields() {
    let mut h = Host::contract();
    h.auto = false;
    let c = h.open(1);
    h.send(
        c,
        hello("alice-token", &["heartbeat", "agent_versions", "x-bogus"]),
    );
    assert!(h.take(c).is_empty(), "nothing before authentication");
    assert_eq!(h.effects.len(), 1);
    let (id, eff) = h.effects.remove(0);
    assert_eq!(
        eff,
        Effect::Authenticate {
            conn: c,
            token: "alice-token".into()
        }
    );
    h.rt.handle_effect_result(
        h.now,
        id,
        arcp_proto::runtime::EffectOutcome::Authenticated {
            principal: "alice".into(),
        },
    );
    h.drain();
    let frames = h.take(c);
    assert_eq!(frames.len(), 1);
    let f = &frames[0];
    let Message::Welcome(w) = &f.message else {
        panic!("{f:?}")
    };
    assert_eq!(w.session_id, f.session_id);
    assert!(w.session_id.as_deref().unwrap().starts_with("sess_"));
    assert!(w.resume_token.starts_with("rtk_"));
    assert_eq!(w.resume_window_sec, 600);
    assert_eq!(w.heartbeat_interval_sec, Some(2));
    assert_eq!(
        w.accepted_at.as_ref().unwrap().as_str(),
        "2026-11-24T01:30:25Z"
    );
    assert_eq!(w.capabilities.features.as_ref().unwrap().len(), 11);
    let agents = w.capabilities.agents.as_ref().unwrap();
    assert_eq!(agents.len(), 10);
    assert_eq!(
        agents[9],
        AgentInfo::Versions {
            name: "versioned".into(),
            versions: vec!["1.0.0".into(), "2.0.0".into()],
            default: Some("2.0.0".into())
        }
    );
    assert_eq!(f.event_seq, None);
}

#[test]
fn flat_inventory_and_no_heartbeat_without_the_features() {
    let mut h = Host::contract();
    let c = h.open(1);
    h.send(c, hello("alice-token", &["ack"]));
    let frames = h.take(c);
    let Message::Welcome(w) = &frames[0].message else {
        panic!()
    };
    assert_eq!(w.heartbeat_interval_sec, None);
    assert_eq!(
        w.capabilities.agents.as_ref().unwrap()[0],
        AgentInfo::Name("echo".into())
    );
    // D26: no pings without `heartbeat`.
    h.advance(std::time::Duration::from_secs(10));
    assert!(h.take(c).is_empty());
    assert_eq!(h.rt.poll_timeout(), None);
}

#[test]
fn bad_token_is_unauthenticated_and_closed() {
    let mut h = Host::contract();
    let c = h.open(1);
    h.send(c, hello("nope", &[]));
    let out = h.take_json(c);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["type"], "session.error");
    assert_eq!(out[0]["payload"]["code"], "UNAUTHENTICATED");
    assert_eq!(out[0]["payload"]["retryable"], false);
    assert!(out[0].get("session_id").is_none());
    assert!(h.all_effects.contains(&Effect::CloseConnection {
        conn: c,
        reason: CloseReason::HandshakeFailed
    }));
}

#[test]
fn frame_before_hello_is_invalid_request_and_closes() {
    let mut h = Host::contract();
    let c = h.open(1);
    h.send(
        c,
        json!({"arcp":"1.1","id":eid(1),"type":"job.submit","payload":{"agent":"echo"}}),
    );
    let out = h.take_json(c);
    assert_eq!(out[0]["payload"]["code"], "INVALID_REQUEST");
    assert_eq!(out[0]["payload"]["request_id"], eid(1).as_str());
    assert_eq!(h.all_effects.len(), 1);
    // Malformed JSON before hello: INVALID_REQUEST (D18), then close.
    let c2 = h.open(2);
    h.send_raw(c2, b"{not json");
    let out = h.take_json(c2);
    assert_eq!(out[0]["payload"]["code"], "INVALID_REQUEST");
    assert_eq!(h.all_effects.len(), 2);
}

#[test]
fn after_hello_bad_frames_are_answered_and_the_session_continues_d19() {
    let mut h = Host::contract();
    let (c, sid, _) = h.hello(1, "alice-token", &ALL);
    for raw in [
        &b"{not json"[..],
        b"[1,2]",
        br#"{"arcp":"1.1","id":"01M85JSX0CBPSZZ4SKK7G00001","type":"session.frobnicate","payload":{}}"#,
    ] {
        h.send_raw(c, raw);
        let out = h.take_json(c);
        assert_eq!(out.len(), 1, "{raw:?}");
        assert_eq!(out[0]["type"], "session.error");
        assert_eq!(out[0]["payload"]["code"], "INVALID_REQUEST");
        assert_eq!(out[0]["session_id"], sid.as_str());
    }
    // Duplicate hello: INVALID_REQUEST, session unchanged.
    h.send(c, hello("bob-token", &[]));
    let out = h.take_json(c);
    assert_eq!(out[0]["payload"]["code"], "INVALID_REQUEST");
    assert_eq!(
        out[0]["payload"]["message"],
        "session.hello already sent on this connection"
    );
    // D36: another session's id.
    h.send(
        c,
        json!({"arcp":"1.1","id":eid(2),"type":"session.ping","session_id":"sess_other","payload":{"nonce":"n","sent_at":"2026-11-24T01:30:25Z"}}),
    );
    let out = h.take_json(c);
    assert_eq!(out[0]["payload"]["code"], "INVALID_REQUEST");
    // Still alive: a ping is answered.
    h.send(
        c,
        json!({"arcp":"1.1","id":eid(3),"type":"session.ping","payload":{"nonce":"n1","sent_at":"2026-11-24T01:30:25Z"}}),
    );
    let out = h.take_json(c);
    assert_eq!(out[0]["type"], "session.pong");
    assert_eq!(out[0]["payload"]["ping_nonce"], "n1");
    assert!(
        !h.all_effects
            .iter()
            .any(|e| matches!(e, Effect::CloseConnection { .. }))
    );
}

#[test]
fn features_gate_list_jobs_and_subscribe_d26() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    h.send(
        c,
        json!({"arcp":"1.1","id":eid(1),"type":"session.list_jobs","payload":{}}),
    );
    h.send(
        c,
        json!({"arcp":"1.1","id":eid(2),"type":"job.subscribe","payload":{"job_id":"job_x"}}),
    );
    h.send(
        c,
        json!({"arcp":"1.1","id":eid(3),"type":"session.ack","payload":{"last_processed_seq":1}}),
    );
    let out = h.take_json(c);
    assert_eq!(out.len(), 2, "ack is silently ignored");
    assert_eq!(out[0]["payload"]["code"], "INVALID_REQUEST");
    assert_eq!(out[0]["payload"]["request_id"], eid(1).as_str());
    assert_eq!(out[1]["payload"]["code"], "INVALID_REQUEST");
}

#[test]
fn oversize_frame_d35_websocket_closes_1009_silently() {
    let mut cfg = contract_config();
    cfg.bounds.max_frame_bytes = 64;
    let mut h = Host::new(cfg);
    let (c, _, _) = {
        let c = h.open(1);
        h.send_raw(c, br#"{"type":"session.hello","id":"01M85JSX0CBPSZZ4SKK7GMCRQB","payload":{"client":{"name":"t","version":"1"},"auth":{"scheme":"bearer","token":"alice-token"}}}"#);
        (c, (), ())
    };
    // That hello is itself over 64 bytes: closed with 1009, nothing sent.
    assert!(h.take(c).is_empty());
    assert_eq!(
        h.all_effects,
        vec![Effect::CloseConnection {
            conn: c,
            reason: CloseReason::FrameTooLarge
        }]
    );
    assert_eq!(CloseReason::FrameTooLarge.websocket_code(), 1009);
}

#[test]
fn oversize_frame_d35_stdio_answers_then_closes_and_session_resumes() {
    let mut cfg = contract_config();
    cfg.bounds.max_frame_bytes = 400;
    let mut h = Host::new(cfg);
    let c = h.open_kind(1, TransportKind::Stdio);
    h.send(c, hello("alice-token", &[]));
    let w = h.take(c);
    let Message::Welcome(w) = &w[0].message else {
        panic!()
    };
    let big = vec![b' '; 401];
    h.send_raw(c, &big);
    let out = h.take_json(c);
    assert_eq!(out[0]["payload"]["code"], "INVALID_REQUEST");
    assert_eq!(
        h.all_effects.last(),
        Some(&Effect::CloseConnection {
            conn: c,
            reason: CloseReason::FrameTooLarge
        })
    );
    h.close(c);
    let c2 = h.open_kind(2, TransportKind::Stdio);
    h.send(
        c2,
        json!({"type":"session.resume","id":eid(9),"payload":{
            "session_id": w.session_id, "resume_token": w.resume_token, "last_event_seq": 0}}),
    );
    let out = h.take_json(c2);
    assert_eq!(out[0]["type"], "session.welcome");
    assert_eq!(out[0]["session_id"], w.session_id.clone().unwrap().as_str());
}

#[test]
fn bye_closes_and_close_is_answered_with_closed_d1() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    h.send(
        c,
        json!({"id":eid(1),"type":"session.bye","payload":{"reason":"done"}}),
    );
    assert!(h.take(c).is_empty());
    assert_eq!(
        h.all_effects.last(),
        Some(&Effect::CloseConnection {
            conn: c,
            reason: CloseReason::Normal
        })
    );
    let (c2, _, _) = h.hello(2, "alice-token", &[]);
    h.send(c2, json!({"id":eid(2),"type":"session.close","payload":{}}));
    let out = h.take_json(c2);
    assert_eq!(out[0]["type"], "session.closed");
}
