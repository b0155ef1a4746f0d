//! `poll_transmit_encoded`: the bytes the runtime encoded once (when the session ring kept a
//! frame) are exactly what `poll_transmit` + `Frame::encode` would have sent, live and on
//! resume replay, and both share one queue.

mod runtime_support;

use arcp_proto::runtime::AgentEvent;
use arcp_proto::wire::{EventBody, Frame, LogBody};
use runtime_support::*;
use serde_json::{Value, json};

fn log(msg: &str) -> AgentEvent {
    AgentEvent::Event(EventBody::Log(LogBody {
        level: "info".into(),
        message: msg.into(),
        attributes: None,
        extra: Default::default(),
    }))
}

/// hello, submit, 10 events, ack 3, ping, drop, resume after 5, 4 more events, result.
fn scenario(encoded: bool) -> (Vec<Vec<u8>>, usize) {
    let mut h = Host::contract();
    h.encoded = encoded;
    let (c, sid, token) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"chatty"}));
    for i in 0..10 {
        h.rt.handle_agent_event(h.now, &job, log(&format!("e{i}")))
            .unwrap();
    }
    h.drain();
    h.send(
        c,
        json!({"id":eid(2),"type":"session.ack","payload":{"last_processed_seq":3}}),
    );
    h.send(
        c,
        json!({"id":eid(3),"type":"session.ping","payload":{"nonce":"n1","sent_at":"2026-11-24T01:30:26Z"}}),
    );
    h.close(c);
    let mut resume = hello("alice-token", &ALL);
    resume["payload"]["resume"] = json!({"session_id":sid,"resume_token":token,"last_event_seq":5});
    let c2 = h.open(2);
    h.send(c2, resume);
    for i in 10..14 {
        h.rt.handle_agent_event(h.now, &job, log(&format!("e{i}")))
            .unwrap();
    }
    let result = AgentEvent::Result {
        result: Some(json!({"ok": true})),
        summary: None,
    };
    h.rt.handle_agent_event(h.now, &job, result).unwrap();
    h.drain();
    let events = h
        .wire
        .iter()
        .filter(|(_, b)| serde_json::from_slice::<Value>(b).unwrap()["type"] == "job.event")
        .count();
    (h.wire.into_iter().map(|(_, b)| b).collect(), events)
}

#[test]
fn encoded_transmits_are_byte_identical_to_encoding_polled_frames() {
    let (plain, plain_events) = scenario(false);
    let (encoded, encoded_events) = scenario(true);
    // welcome, accepted, 10 events, pong; welcome, 5 replayed, 4 events, result.
    assert_eq!(plain.len(), 24);
    assert_eq!(plain_events, 10 + 5 + 4);
    assert_eq!(encoded_events, plain_events);
    assert_eq!(encoded, plain);
}

#[test]
fn both_polls_drain_one_queue_in_order() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &ALL);
    let job = h.submit(c, &eid(1), json!({"agent":"chatty"}));
    for i in 0..4 {
        h.rt.handle_agent_event(h.now, &job, log(&format!("e{i}")))
            .unwrap();
    }
    assert_eq!(h.rt.pending_transmits(), 4);
    let (c1, first) = h.rt.poll_transmit_encoded().unwrap();
    let (c2, second) = h.rt.poll_transmit().unwrap();
    let (_, third) = h.rt.poll_transmit_encoded().unwrap();
    assert_eq!((c1, c2), (c, c));
    assert_eq!(Frame::decode(&first).unwrap().event_seq, Some(1));
    assert_eq!(second.event_seq, Some(2));
    assert_eq!(Frame::decode(&third).unwrap().event_seq, Some(3));
    assert_eq!(h.rt.pending_transmits(), 1);
    assert_eq!(h.rt.pending_transmits_for(c), 1);
    let m = h.rt.metrics();
    assert_eq!(m.events_out, 3);
}

#[test]
fn durable_appends_carry_the_bytes_that_are_then_transmitted() {
    use arcp_proto::runtime::{Effect, EffectOutcome};
    let mut cfg = contract_config();
    cfg.durable = true;
    let mut h = Host::new(cfg);
    h.encoded = true;
    let c = h.open(1);
    h.send(c, hello("alice-token", &ALL));
    // Persist the session (the welcome waits for it), then submit.
    let held: Vec<_> = h.effects.drain(..).collect();
    for (id, _) in held {
        h.rt.handle_effect_result(h.now, id, EffectOutcome::Done);
        h.drain();
    }
    h.send(
        c,
        json!({"arcp":"1.1","id":eid(1),"type":"job.submit","payload":{"agent":"chatty"}}),
    );
    let held: Vec<_> = h.effects.drain(..).collect();
    for (id, _) in held {
        h.rt.handle_effect_result(h.now, id, EffectOutcome::Done);
        h.drain();
    }
    let job = h.started_jobs()[0].clone();
    for i in 0..3 {
        h.rt.handle_agent_event(h.now, &job, log(&format!("e{i}")))
            .unwrap();
    }
    h.drain();
    h.wire.clear();
    let appends: Vec<_> = h
        .effects
        .drain(..)
        .filter_map(|(id, e)| match e {
            Effect::AppendEvents(v) => Some((id, v)),
            _ => None,
        })
        .collect();
    assert_eq!(appends.len(), 3);
    let mut stored = Vec::new();
    for (id, records) in appends {
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(r.encoded.as_ref(), r.frame.encode().as_slice());
        stored.push(r.encoded.to_vec());
        h.rt.handle_effect_result(h.now, id, EffectOutcome::Done);
        h.drain();
    }
    // Transmitted only once durable, and exactly the stored bytes.
    let sent: Vec<Vec<u8>> = h.wire.iter().map(|(_, b)| b.clone()).collect();
    assert_eq!(sent, stored);
}
