//! Provisioned credentials (§9.8): values never rest in durable storage, and a resume
//! replayed from the store gets the current value back.

mod runtime_support;

use arcp_proto::runtime::{AgentEvent, Effect, EffectOutcome, RuntimeConfig};
use arcp_proto::wire::{EventBody, Frame, LogBody, Message};
use runtime_support::*;
use serde_json::json;

fn durable() -> RuntimeConfig {
    let mut cfg = contract_config();
    cfg.durable = true;
    cfg.bounds.max_ring_events = 2;
    cfg
}

/// Completes every held storage effect with `Done` (reads are answered by the test).
fn store(h: &mut Host) {
    loop {
        let pos = h.effects.iter().position(|(_, e)| {
            matches!(
                e,
                Effect::AppendEvents(_)
                    | Effect::PersistSession(_)
                    | Effect::PersistJob(_)
                    | Effect::PersistIdempotency(_)
                    | Effect::PersistCredential(_)
            )
        });
        let Some(pos) = pos else {
            return;
        };
        let (id, _) = h.effects.remove(pos);
        h.rt.handle_effect_result(h.now, id, EffectOutcome::Done);
        h.drain();
    }
}

fn occurs(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn values_stay_out_of_storage_and_come_back_on_a_resume_from_the_store() {
    let mut h = Host::new(durable());
    let c = h.open(1);
    h.send(c, hello("alice-token", &ALL));
    store(&mut h);
    let Message::Welcome(w) = h.take(c).remove(0).message else {
        panic!()
    };
    let (sid, token) = (w.session_id.unwrap(), w.resume_token);
    h.send(
        c,
        json!({"id":eid(1),"type":"job.submit","payload":{"agent":"rotator","lease_request":{"model.use":["tier-fast/*"]}}}),
    );
    store(&mut h);
    let acc = h.take_json(c);
    assert_eq!(acc[0]["payload"]["credentials"][0]["value"], "secret-1");
    let job = arcp_proto::wire::JobId::from(acc[0]["job_id"].as_str().unwrap());
    h.rt.handle_agent_event(
        h.now,
        &job,
        AgentEvent::CredentialRotated {
            id: "cred_1".into(),
            value: "secret-rotated".into(),
        },
    )
    .unwrap();
    h.drain();
    store(&mut h);
    for i in 0..3 {
        h.rt.handle_agent_event(
            h.now,
            &job,
            AgentEvent::Event(EventBody::Log(LogBody {
                level: "info".into(),
                message: format!("e{i}"),
                attributes: None,
                extra: Default::default(),
            })),
        )
        .unwrap();
        h.drain();
        store(&mut h);
    }
    let live = h.take_json(c);
    assert_eq!(live[0]["payload"]["body"]["value"], "secret-rotated");
    // What reached the store: the frames (and their bytes) and the job records.
    let mut stored: Vec<Frame> = Vec::new();
    let mut bytes = Vec::new();
    let mut records = 0;
    for e in &h.all_effects {
        match e {
            Effect::AppendEvents(recs) => {
                for r in recs {
                    bytes.extend_from_slice(&r.encoded);
                    bytes.extend(r.frame.encode());
                    stored.push(Frame::clone(&r.frame));
                }
            }
            Effect::PersistJob(r) => {
                records += 1;
                bytes.extend(serde_json::to_vec(&r.accepted).unwrap());
                assert_eq!(
                    r.accepted.as_ref().map(|a| a.credentials.is_none()),
                    Some(true)
                );
            }
            _ => {}
        }
    }
    assert_eq!((stored.len(), records), (4, 1));
    assert!(occurs(&bytes, "credential_rotated"));
    assert!(!occurs(&bytes, "secret-"), "a credential value was stored");
    // Resume from before the rotation: beyond the ring, so replayed from the store.
    h.close(c);
    store(&mut h);
    let c2 = h.open(2);
    let mut resume = hello("alice-token", &ALL);
    resume["payload"]["resume"] = json!({"session_id":sid,"resume_token":token,"last_event_seq":0});
    h.send(c2, resume);
    let (id, e) = h.effects.remove(0);
    assert!(matches!(e, Effect::ReadEvents { .. }), "{e:?}");
    h.rt.handle_effect_result(h.now, id, EffectOutcome::EventsRead { frames: stored });
    h.drain();
    store(&mut h);
    let out = h.take_json(c2);
    assert_eq!(out[0]["type"], "session.welcome");
    assert_eq!(out[1]["payload"]["body"]["phase"], "credential_rotated");
    assert_eq!(out[1]["payload"]["body"]["value"], "secret-rotated");
    assert_eq!(out.len(), 5);
}

#[test]
fn a_connection_that_withholds_credentials_is_offered_none() {
    let mut h = Host::contract();
    let c = h.open(1);
    h.rt.withhold_credentials(c);
    h.send(c, hello("alice-token", &ALL));
    let w = h.take_json(c);
    let offered: Vec<&str> = w[0]["payload"]["capabilities"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(!offered.contains(&"provisioned_credentials"), "{offered:?}");
    assert_eq!(offered.len(), 10);
    h.all_effects.clear();
    let job = h.submit(
        c,
        &eid(1),
        json!({"agent":"rotator","lease_request":{"model.use":["tier-fast/*"]}}),
    );
    assert!(
        !h.all_effects
            .iter()
            .any(|e| matches!(e, Effect::MintCredentials { .. })),
        "nothing minted"
    );
    assert_eq!(h.rt.job_budget(&job), None);
    // A session with credentials resumed over such a connection: its replay loses the
    // rotated value, and it is offered no credentials from then on.
    let (c2, sid, token) = h.hello(2, "alice-token", &ALL);
    h.send(
        c2,
        json!({"id":eid(2),"type":"job.submit","payload":{"agent":"rotator","lease_request":{"model.use":["tier-fast/*"]}}}),
    );
    let acc = h.take_json(c2);
    assert_eq!(acc[0]["payload"]["credentials"][0]["value"], "secret-1");
    let job2 = arcp_proto::wire::JobId::from(acc[0]["job_id"].as_str().unwrap());
    h.rt.handle_agent_event(
        h.now,
        &job2,
        AgentEvent::CredentialRotated {
            id: "cred_1".into(),
            value: "secret-rotated".into(),
        },
    )
    .unwrap();
    h.drain();
    assert_eq!(
        h.take_json(c2)[0]["payload"]["body"]["value"],
        "secret-rotated"
    );
    h.close(c2);
    let c3 = h.open(3);
    h.rt.withhold_credentials(c3);
    let mut resume = hello("alice-token", &ALL);
    resume["payload"]["resume"] = json!({"session_id":sid,"resume_token":token,"last_event_seq":0});
    h.send(c3, resume);
    let out = h.take_json(c3);
    assert_eq!(out[0]["type"], "session.welcome");
    assert_eq!(out[1]["payload"]["body"]["phase"], "credential_rotated");
    assert!(
        out[1]["payload"]["body"].get("value").is_none(),
        "{}",
        out[1]
    );
    assert!(!occurs(&serde_json::to_vec(&out).unwrap(), "secret-"));
}
