//! Time never runs backwards inside the runtime: every input's `now` is clamped to the
//! latest seen, so an input stamped earlier neither moves a deadline back nor fires a timer
//! twice (issue #17 part 5).

mod runtime_support;

use arcp_proto::runtime::{Effect, Operation, RuntimeConfig};
use arcp_proto::time::Instant;
use arcp_proto::wire::{ErrorCode, Message};
use runtime_support::*;
use serde_json::json;
use std::time::Duration;

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

#[test]
fn an_earlier_frame_does_not_make_the_heartbeat_look_lost_d25() {
    let mut h = Host::contract(); // heartbeat every 2 s; the host starts at 1 s
    let (c, _, _) = h.hello(1, "alice-token", &["heartbeat"]);
    assert_eq!(h.rt.poll_timeout(), Some(ms(3_000)));
    h.advance(Duration::from_secs(2)); // 3 s: a ping, the next tick at 5 s
    assert_eq!(types(&h.take(c)), ["session.ping"]);
    assert_eq!(h.rt.poll_timeout(), Some(ms(5_000)));
    // A ping from the client, stamped 0.5 s by a clock that stepped back: it counts as
    // received at 3 s, not 0.5 s.
    h.rt.handle_frame(
        ms(500),
        c,
        json!({"arcp":"1.1","id":eid(1),"type":"session.ping",
               "payload":{"nonce":"n1","sent_at":"2026-11-24T01:30:27Z"}})
        .to_string()
        .as_bytes(),
    );
    h.drain();
    let pong = h.take(c);
    let Some(Message::Pong(p)) = pong.first().map(|f| &f.message) else {
        panic!("pong expected, got {pong:?}");
    };
    // Wall time of the pong: the latest `now` (3 s after the 1 s anchor = +2 s).
    assert_eq!(p.received_at.as_str(), "2026-11-24T01:30:27Z");
    // An early timeout is a no-op: the 5 s tick neither fires nor moves.
    h.rt.handle_timeout(ms(1_000));
    h.drain();
    assert!(h.take(c).is_empty());
    assert_eq!(h.rt.poll_timeout(), Some(ms(5_000)));
    // At 5 s the link was silent for 2 s (since 3 s), not 4.5 s: a ping, not a close.
    h.advance(Duration::from_secs(2));
    assert_eq!(types(&h.take(c)), ["session.ping"]);
    assert_eq!(h.rt.poll_timeout(), Some(ms(7_000)));
    assert!(
        !h.all_effects
            .iter()
            .any(|e| matches!(e, Effect::CloseConnection { .. }))
    );
}

#[test]
fn an_earlier_submit_does_not_move_its_deadline_back_or_fire_it_twice_d8() {
    let cfg = RuntimeConfig {
        heartbeat_interval: Duration::ZERO,
        ..contract_config()
    };
    let mut h = Host::new(cfg);
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    // Nothing is armed; a spurious timeout at 11 s is a no-op that tells the runtime the time.
    assert_eq!(h.rt.poll_timeout(), None);
    h.rt.handle_timeout(ms(11_000));
    // The submit is stamped 1 s: its max_runtime_sec counts from 11 s, the latest seen.
    h.rt.handle_frame(
        ms(1_000),
        c,
        json!({"arcp":"1.1","id":eid(2),"type":"job.submit",
               "payload":{"agent":"slow","max_runtime_sec":5}})
        .to_string()
        .as_bytes(),
    );
    h.drain();
    let accepted = h.take(c);
    let Some(Message::Accepted(a)) = accepted.first().map(|f| &f.message) else {
        panic!("accepted expected, got {accepted:?}");
    };
    assert_eq!(a.accepted_at.as_str(), "2026-11-24T01:30:35Z");
    assert_eq!(h.rt.poll_timeout(), Some(ms(16_000)));
    // Earlier and early timeouts change nothing.
    h.rt.handle_timeout(ms(6_000));
    h.rt.handle_timeout(ms(15_999));
    h.drain();
    assert!(h.take(c).is_empty());
    assert_eq!(h.rt.poll_timeout(), Some(ms(16_000)));
    h.rt.handle_timeout(ms(16_000));
    h.drain();
    let out = h.take_json(c);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["type"], "job.result");
    assert_eq!(out[0]["payload"]["final_status"], "timed_out");
    assert_eq!(out[0]["payload"]["completed_at"], "2026-11-24T01:30:40Z");
    // Fired once: only the finished job's end of remembrance is armed (the resume window,
    // 600 s, after its end at 16 s), and an earlier timeout does not fire it again.
    assert_eq!(h.rt.poll_timeout(), Some(ms(616_000)));
    h.rt.handle_timeout(ms(2_000));
    h.drain();
    assert!(h.take(c).is_empty());
}

#[test]
fn the_lease_gate_judges_at_the_latest_time_d30() {
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    // The anchor is 01:30:25 at 1 s: the lease expires at 6 s.
    let job = h.submit(
        c,
        &eid(3),
        json!({"agent":"lease-check","lease_request":{"fs.read":["/project/**"]},
               "lease_constraints":{"expires_at":"2026-11-24T01:30:30Z"}}),
    );
    let op = Operation::new("fs.read", "/project/a/b.txt");
    assert_eq!(h.rt.authorize(ms(0), &job, &op), Ok(()));
    // A ping at 7 s (no timeout handled yet, so the job still runs).
    h.rt.handle_frame(
        ms(7_000),
        c,
        json!({"arcp":"1.1","id":eid(4),"type":"session.ping",
               "payload":{"nonce":"n1","sent_at":"2026-11-24T01:30:31Z"}})
        .to_string()
        .as_bytes(),
    );
    h.drain();
    assert_eq!(types(&h.take(c)), ["session.pong"]);
    // Asked with a clock that stepped back to 2 s, the gate still judges at 7 s.
    let err = h.rt.authorize(ms(2_000), &job, &op).map_err(|e| e.code);
    assert_eq!(err, Err(ErrorCode::LeaseExpired));
    h.rt.handle_timeout(ms(2_000));
    h.drain();
    let out = h.take_json(c);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["payload"]["code"], "LEASE_EXPIRED");
    // Only the finished job's end of remembrance is armed: 600 s after its end at 7 s.
    assert_eq!(h.rt.poll_timeout(), Some(ms(607_000)));
}
