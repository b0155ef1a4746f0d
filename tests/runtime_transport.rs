//! Transport-level rules of the runtime: the hello deadline, a WebSocket text message that
//! is not UTF-8 (1007), and pausing one connection's frames while its writer is full.

mod runtime_support;

use arcp_proto::runtime::{CloseReason, ConnId, Effect, TransportKind};
use runtime_support::*;
use serde_json::json;
use std::time::Duration;

fn closes(h: &Host) -> Vec<(u64, CloseReason)> {
    h.all_effects
        .iter()
        .filter_map(|e| match e {
            Effect::CloseConnection { conn, reason } => Some((conn.0, *reason)),
            _ => None,
        })
        .collect()
}

fn ping(n: u32) -> serde_json::Value {
    json!({"arcp":"1.1","id":eid(n),"type":"session.ping",
        "payload":{"nonce":format!("n{n}"),"sent_at":"2026-11-24T01:30:25Z"}})
}

#[test]
fn a_connection_without_hello_is_closed_at_the_hello_timeout() {
    let mut cfg = contract_config();
    cfg.hello_timeout = Duration::from_secs(3);
    let mut h = Host::new(cfg);
    let silent = h.open(1);
    let stdio = h.open_kind(2, TransportKind::Stdio);
    let (greeted, _, _) = h.hello(3, "alice-token", &[]);
    h.advance(Duration::from_millis(2_999));
    assert_eq!(closes(&h), vec![]);
    h.advance(Duration::from_millis(1));
    assert_eq!(
        closes(&h),
        vec![
            (silent.0, CloseReason::HelloTimeout),
            (stdio.0, CloseReason::HelloTimeout)
        ]
    );
    // No error frame: the close is the answer.
    assert_eq!(h.take(silent).len(), 0);
    assert_eq!(h.take(stdio).len(), 0);
    assert_eq!(CloseReason::HelloTimeout.websocket_code(), 1008);
    // The greeted connection is untouched and keeps working.
    h.send(greeted, ping(1));
    assert_eq!(h.take_json(greeted)[0]["type"], "session.pong");
}

#[test]
fn a_zero_hello_timeout_never_closes_and_a_closed_connection_forgets_its_deadline() {
    let mut cfg = contract_config();
    cfg.hello_timeout = Duration::ZERO;
    let mut h = Host::new(cfg);
    h.open(1);
    h.advance(Duration::from_secs(3_600));
    assert_eq!(closes(&h), vec![]);

    let mut h = Host::contract();
    let c = h.open(1);
    h.close(c);
    assert_eq!(h.rt.poll_timeout(), None);
}

#[test]
fn invalid_text_closes_1007_without_an_error_and_the_session_resumes() {
    let mut h = Host::contract();
    let (c, sid, token) = h.hello(1, "alice-token", &[]);
    h.rt.handle_invalid_text(h.now, c);
    h.drain();
    assert_eq!(closes(&h), vec![(1, CloseReason::InvalidText)]);
    assert_eq!(CloseReason::InvalidText.websocket_code(), 1007);
    assert_eq!(h.take(c).len(), 0);
    // Twice, or after the close, nothing more happens.
    h.rt.handle_invalid_text(h.now, c);
    h.drain();
    assert_eq!(closes(&h).len(), 1);
    h.close(c);

    let c2 = h.open(2);
    let mut hello = hello("alice-token", &[]);
    hello["payload"]["resume"] = json!({"session_id":sid,"resume_token":token,"last_event_seq":0});
    h.send(c2, hello);
    let got = h.take_json(c2);
    assert_eq!(got[0]["type"], "session.welcome");
    assert_eq!(got[0]["payload"]["session_id"], sid.as_str());
}

#[test]
fn a_paused_connection_keeps_its_frames_in_order_while_others_flow() {
    let mut h = Host::contract();
    let (a, _, _) = h.hello(1, "alice-token", &[]);
    let (b, _, _) = h.hello(2, "bob-token", &[]);
    h.rt.pause_transmits(a);
    assert!(h.rt.transmits_paused(a));
    h.send(a, ping(1));
    h.send(b, ping(2));
    h.send(a, ping(3));
    assert_eq!(h.take(a).len(), 0);
    let pongs = h.take_json(b);
    assert_eq!(pongs.len(), 1);
    assert_eq!(pongs[0]["payload"]["ping_nonce"], "n2");
    assert_eq!(h.rt.pending_transmits(), 2);
    assert_eq!(h.rt.pending_transmits_for(a), 2);
    h.rt.resume_transmits(a);
    assert!(!h.rt.transmits_paused(a));
    h.drain();
    let nonces: Vec<_> = h
        .take_json(a)
        .iter()
        .map(|f| f["payload"]["ping_nonce"].clone())
        .collect();
    assert_eq!(nonces, vec![json!("n1"), json!("n3")]);
    assert_eq!(h.rt.pending_transmits(), 0);
}

#[test]
fn a_paused_connection_over_its_transmit_cap_is_closed_as_a_slow_consumer() {
    let mut cfg = contract_config();
    cfg.bounds.max_transmit_queue = 2;
    let mut h = Host::new(cfg);
    let (a, _, _) = h.hello(1, "alice-token", &[]);
    h.rt.pause_transmits(a);
    for n in 1..=3 {
        h.send(a, ping(n));
    }
    assert_eq!(closes(&h), vec![(1, CloseReason::SlowConsumer)]);
    // Its kept frames are dropped with it; a later close forgets the pause.
    assert_eq!(h.rt.pending_transmits(), 0);
    h.close(a);
    assert!(!h.rt.transmits_paused(a));
    assert!(!h.rt.transmits_paused(ConnId(99)));
}
