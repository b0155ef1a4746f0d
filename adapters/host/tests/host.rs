//! `ServerHost` driven by hand through `handle_*`/`poll_action` with a fake clock and seeded
//! entropy: a scripted exchange with exact metrics and bytes out, authentication through
//! arcp-auth (default token table and a custom authenticator), the slow-consumer path (a full
//! writer queue whose wait times out), and the options.

mod support;

use support::*;

#[test]
fn a_scripted_exchange_gives_exact_metrics_and_auth_outcomes() {
    let mut r = Rig::new(&mut demo_opts());
    let metrics = r.h.metrics();
    let (a, b) = (ConnId(1), ConnId(2));
    r.open(a);
    r.open(b);

    // The hello's authentication is handed to the adapter, not answered on the driver.
    r.feed(Input::Frame {
        conn: a,
        bytes: hello("01J00000000000000000000001", "alice-token"),
    });
    assert_eq!(r.auths.len(), 1);
    assert!(matches!(&r.did[..], [Did::Auth(_, t)] if t == "alice-token"));
    r.run_auths();
    let welcome = r.frames(a);
    assert_eq!(welcome.len(), 1);
    assert_eq!(welcome[0]["type"], "session.welcome");

    // The default token table refuses with its historical message.
    r.feed(Input::Frame {
        conn: b,
        bytes: hello("01J00000000000000000000002", "guess"),
    });
    r.run_auths();
    let refused = r.frames(b);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["type"], "session.error");
    assert_eq!(refused[0]["payload"]["code"], "UNAUTHENTICATED");
    assert_eq!(refused[0]["payload"]["message"], "invalid bearer token");
    assert_eq!(r.did.last(), Some(&Did::Queued(b, Outbound::Close(1000))));

    let bytes: usize = r
        .did
        .iter()
        .map(|d| match d {
            Did::Queued(_, Outbound::Frame(f)) => f.len(),
            _ => 0,
        })
        .sum();
    // Not published after every drain: 5 ms after a change (or on request).
    assert_eq!(metrics.get().runtime.sessions_opened, 0);
    r.h.publish_metrics();
    let m = metrics.get();
    assert_eq!(m.runtime.sessions_opened, 1);
    assert_eq!(m.runtime.frames_out, 2);
    assert_eq!(m.runtime.events_out, 0);
    assert_eq!(
        m.runtime.auth_failures,
        BTreeMap::from([("unknown_token".to_owned(), 1)])
    );
    assert_eq!(m.bytes_out, u64::try_from(bytes).unwrap());
    assert!(m.bytes_out > 100, "{}", m.bytes_out);
    // The refused connection counts until its reader reports the end.
    assert_eq!(r.h.connections(), 2);
    r.feed(Input::Closed { conn: b });
    assert_eq!(r.h.connections(), 1);
}

struct OnlyCarol;

impl Authenticator for OnlyCarol {
    fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        match token {
            "carol-token" => Ok(Principal("carol".into())),
            _ => Err(AuthError::new(AuthFailure::Expired)),
        }
    }
}

#[test]
fn a_custom_authenticator_replaces_the_token_table() {
    let mut opts = ServerOptions {
        authenticator: Some(Arc::new(OnlyCarol)),
        ..demo_opts()
    };
    // Without the contract tokens there is no default observer.
    let cfg = opts.runtime_config("t", "0", &arcp_agents::contract_agents());
    assert!(cfg.observer_policy.observers.is_empty());
    let default_cfg = demo_opts().runtime_config("t", "0", &arcp_agents::contract_agents());
    assert_eq!(
        default_cfg.observer_policy.observers,
        vec!["auditor".to_owned()]
    );

    let mut r = Rig::new(&mut opts);
    let (a, b) = (ConnId(1), ConnId(2));
    r.open(a);
    r.open(b);
    r.feed(Input::Frame {
        conn: a,
        bytes: hello("01J00000000000000000000003", "carol-token"),
    });
    r.feed(Input::Frame {
        conn: b,
        bytes: hello("01J00000000000000000000004", "alice-token"),
    });
    r.run_auths();
    let w = r.frames(a);
    assert_eq!(w[0]["type"], "session.welcome");
    r.h.publish_metrics();
    assert_eq!(r.h.metrics().get().runtime.sessions_opened, 1);
    let e = r.frames(b);
    assert_eq!(e[0]["payload"]["code"], "UNAUTHENTICATED");
    assert_eq!(e[0]["payload"]["message"], "token has expired");
    assert_eq!(
        r.h.metrics().get().runtime.auth_failures,
        BTreeMap::from([("expired".to_owned(), 1)])
    );
}

fn ping(id: &str, nonce: &str) -> Value {
    json!({"arcp":"1.1","id":id,"type":"session.ping",
        "payload":{"nonce":nonce,"sent_at":"2026-11-24T01:30:25Z"}})
}

/// Two logged-in connections, heartbeats off (so only the stall's deadline runs).
fn two_sessions() -> (Rig, ConnId, ConnId) {
    let mut r = Rig::new(&mut ServerOptions {
        heartbeat_interval: Duration::ZERO,
        ..demo_opts()
    });
    let (a, b) = (ConnId(7), ConnId(8));
    r.open(a);
    r.open(b);
    r.login(a, "01J00000000000000000000005", "alice-token");
    r.login(b, "01J00000000000000000000006", "bob-token");
    r.did.clear();
    (r, a, b)
}

fn pong_nonces(r: &Rig, conn: ConnId) -> Vec<Value> {
    r.frames(conn)
        .iter()
        .map(|f| f["payload"]["ping_nonce"].clone())
        .collect()
}

#[test]
fn a_full_writer_stalls_only_its_connection_and_is_cut_1008_after_the_timeout() {
    let (mut r, a, b) = two_sessions();
    r.advance(1_000);
    r.full.insert(a);
    r.frame(a, ping("01J00000000000000000000010", "a1"));
    r.frame(b, ping("01J00000000000000000000011", "b1"));
    r.frame(a, ping("01J00000000000000000000012", "a2"));
    r.frame(b, ping("01J00000000000000000000013", "b2"));
    // The stalled connection receives nothing; the other one everything, at once.
    assert_eq!(pong_nonces(&r, a), Vec::<Value>::new());
    assert_eq!(pong_nonces(&r, b), vec![json!("b1"), json!("b2")]);
    assert_eq!(r.h.writers_full(), 1);
    // The host keeps the refused pong, the runtime the second one.
    assert_eq!(r.h.runtime().pending_transmits_for(a), 1);
    // The cut is a deadline (stalled at 1 s, timeout 5 s), not a wait.
    r.advance(4_999);
    r.tick();
    assert!(!r.did.contains(&Did::Killed(a, 1008)));
    assert_eq!(r.h.connections(), 2);
    r.advance(1);
    r.tick();
    assert!(r.fired);
    assert_eq!(r.did.last(), Some(&Did::Killed(a, 1008)));
    assert_eq!(r.h.connections(), 1);
    assert_eq!(r.h.writers_full(), 0);
    // Its kept frames are dropped once the runtime hears the connection is gone.
    assert_eq!(r.h.runtime().pending_transmits(), 0);
    assert!(r.h.poll_action().is_none());
    // A late wakeup or loss report changes nothing.
    r.feed(Input::WriterReady { conn: a });
    r.h.handle_writer_lost(r.now, a);
    assert!(r.h.poll_action().is_none());
    // The other connection still works.
    r.frame(b, ping("01J00000000000000000000014", "b3"));
    assert_eq!(
        pong_nonces(&r, b),
        vec![json!("b1"), json!("b2"), json!("b3")]
    );
}

#[test]
fn the_writer_wakeup_hands_out_the_kept_frames_in_order_and_clears_the_deadline() {
    let (mut r, a, _) = two_sessions();
    r.full.insert(a);
    r.frame(a, ping("01J00000000000000000000010", "a1"));
    r.frame(a, ping("01J00000000000000000000011", "a2"));
    r.frame(a, ping("01J00000000000000000000012", "a3"));
    assert_eq!(
        r.h.poll_timeout()
            .map(|d| d <= r.now + Duration::from_secs(5)),
        Some(true)
    );
    r.advance(4_000);
    r.full.remove(&a);
    r.feed(Input::WriterReady { conn: a });
    assert_eq!(
        pong_nonces(&r, a),
        vec![json!("a1"), json!("a2"), json!("a3")]
    );
    assert_eq!(r.h.writers_full(), 0);
    // Stalled again later: a fresh deadline from then.
    r.full.insert(a);
    r.frame(a, ping("01J00000000000000000000013", "a4"));
    r.advance(4_999);
    r.tick();
    assert_eq!(r.h.connections(), 2);
    r.full.remove(&a);
    r.feed(Input::WriterReady { conn: a });
    r.advance(10_000);
    r.tick();
    assert_eq!(r.h.connections(), 2);
    assert_eq!(
        pong_nonces(&r, a),
        vec![json!("a1"), json!("a2"), json!("a3"), json!("a4")]
    );
    assert!(!r.did.iter().any(|d| matches!(d, Did::Killed(..))));
}

#[test]
fn a_close_due_while_stalled_goes_out_after_the_kept_frames() {
    let (mut r, a, _) = two_sessions();
    r.full.insert(a);
    r.frame(a, ping("01J00000000000000000000010", "a1"));
    r.frame(a, ping("01J00000000000000000000011", "a2"));
    r.frame(
        a,
        json!({"arcp":"1.1","id":"01J00000000000000000000012","type":"session.bye","payload":{"reason":"done"}}),
    );
    assert!(r.did.is_empty());
    r.full.remove(&a);
    r.feed(Input::WriterReady { conn: a });
    let types: Vec<Value> = r.frames(a).iter().map(|f| f["type"].clone()).collect();
    assert_eq!(types, vec![json!("session.pong"), json!("session.pong")]);
    assert_eq!(r.did.len(), 3);
    assert_eq!(r.did[2], Did::Queued(a, Outbound::Close(1000)));
}

#[test]
fn a_writer_that_is_gone_is_killed_1008_at_once() {
    let (mut r, a, _) = two_sessions();
    r.h.handle_writer_lost(r.now, a);
    r.drain();
    assert_eq!(r.did, vec![Did::Killed(a, 1008)]);
    assert_eq!(r.h.connections(), 1);
    assert!(r.h.poll_action().is_none());
}

#[test]
fn invalid_text_is_closed_1007() {
    let (mut r, a, _) = two_sessions();
    r.feed(Input::InvalidText { conn: a });
    assert_eq!(r.did, vec![Did::Queued(a, Outbound::Close(1007))]);
}

#[test]
fn the_hello_timeout_option_closes_a_silent_connection_1008() {
    let mut r = Rig::new(&mut ServerOptions {
        hello_timeout: Duration::from_secs(2),
        ..demo_opts()
    });
    let a = ConnId(3);
    r.open(a);
    r.advance(1_999);
    r.tick();
    assert!(r.did.is_empty());
    r.advance(1);
    r.tick();
    assert_eq!(r.did, vec![Did::Queued(a, Outbound::Close(1008))]);
}
