//! `ServerHost` driven by a fake `HostIo`: a scripted exchange with exact metrics and bytes
//! out, authentication through arcp-auth (default token table and a custom authenticator),
//! the slow-consumer path (a full writer queue whose wait times out), and the options.

mod support;

use support::*;
#[test]
fn a_scripted_exchange_gives_exact_metrics_and_auth_outcomes() {
    let clock = Clock::new();
    let mut h = host(&mut ServerOptions::default(), &clock);
    let mut io = FakeIo::default();
    let metrics = h.metrics();
    let (a, b) = (ConnId(1), ConnId(2));
    open(&mut h, &mut io, &clock, a);
    open(&mut h, &mut io, &clock, b);

    // The hello's authentication is handed to the adapter, not answered on the driver.
    h.feed(
        clock.now(),
        Input::Frame {
            conn: a,
            bytes: hello("01J00000000000000000000001", "alice-token"),
        },
    );
    assert!(matches!(h.drain(&mut io), Drain::Done));
    assert_eq!(io.auths.len(), 1);
    assert!(io.sent.is_empty());
    run_auths(&mut h, &mut io, &clock);
    let welcome = frames(&io, a);
    assert_eq!(welcome.len(), 1);
    assert_eq!(welcome[0]["type"], "session.welcome");

    // The default token table refuses with its historical message.
    h.feed(
        clock.now(),
        Input::Frame {
            conn: b,
            bytes: hello("01J00000000000000000000002", "guess"),
        },
    );
    assert!(matches!(h.drain(&mut io), Drain::Done));
    run_auths(&mut h, &mut io, &clock);
    let refused = frames(&io, b);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["type"], "session.error");
    assert_eq!(refused[0]["payload"]["code"], "UNAUTHENTICATED");
    assert_eq!(refused[0]["payload"]["message"], "invalid bearer token");
    while h.feed_ready(clock.now()) {
        assert!(matches!(h.drain(&mut io), Drain::Done));
    }
    assert!(io.sent.contains(&(b, Outbound::Close(1000))));

    let bytes: usize = io
        .sent
        .iter()
        .map(|(_, o)| match o {
            Outbound::Frame(f) => f.len(),
            Outbound::Close(_) => 0,
        })
        .sum();
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
    assert_eq!(h.connections(), 1);
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
    let clock = Clock::new();
    let mut opts = ServerOptions {
        authenticator: Some(Arc::new(OnlyCarol)),
        ..ServerOptions::default()
    };
    // Without the contract tokens there is no default observer.
    let cfg = opts.runtime_config("t", "0", &arcp_agents::contract_agents());
    assert!(cfg.observer_policy.observers.is_empty());
    let default_cfg =
        ServerOptions::default().runtime_config("t", "0", &arcp_agents::contract_agents());
    assert_eq!(
        default_cfg.observer_policy.observers,
        vec!["auditor".to_owned()]
    );

    let mut h = host(&mut opts, &clock);
    let mut io = FakeIo::default();
    let (a, b) = (ConnId(1), ConnId(2));
    open(&mut h, &mut io, &clock, a);
    open(&mut h, &mut io, &clock, b);
    h.feed(
        clock.now(),
        Input::Frame {
            conn: a,
            bytes: hello("01J00000000000000000000003", "carol-token"),
        },
    );
    h.feed(
        clock.now(),
        Input::Frame {
            conn: b,
            bytes: hello("01J00000000000000000000004", "alice-token"),
        },
    );
    assert!(matches!(h.drain(&mut io), Drain::Done));
    run_auths(&mut h, &mut io, &clock);
    let w = frames(&io, a);
    assert_eq!(w[0]["type"], "session.welcome");
    assert_eq!(h.metrics().get().runtime.sessions_opened, 1);
    let e = frames(&io, b);
    assert_eq!(e[0]["payload"]["code"], "UNAUTHENTICATED");
    assert_eq!(e[0]["payload"]["message"], "token has expired");
    assert_eq!(
        h.metrics().get().runtime.auth_failures,
        BTreeMap::from([("expired".to_owned(), 1)])
    );
}

#[test]
fn a_full_writer_queue_blocks_the_drain_and_a_timed_out_wait_kills_the_connection() {
    let clock = Clock::new();
    let mut h = host(&mut ServerOptions::default(), &clock);
    let mut io = FakeIo::default();
    let a = ConnId(7);
    open(&mut h, &mut io, &clock, a);
    h.feed(
        clock.now(),
        Input::Frame {
            conn: a,
            bytes: hello("01J00000000000000000000005", "bob-token"),
        },
    );
    assert!(matches!(h.drain(&mut io), Drain::Done));
    io.full.insert(a);
    let (id, auth, token) = io.auths.pop().unwrap();
    h.feed(
        clock.now(),
        Input::EffectResult {
            id,
            outcome: effect_outcome(&*auth, &token),
        },
    );
    // The welcome cannot be queued: the drain stops on it.
    match h.drain(&mut io) {
        Drain::Blocked { conn, wait } => {
            assert_eq!(conn, a);
            let Outbound::Frame(b) = wait else {
                panic!("{wait:?}")
            };
            let v: Value = serde_json::from_slice(&b).unwrap();
            assert_eq!(v["type"], "session.welcome");
        }
        Drain::Done => panic!("expected a blocked drain"),
    }
    // The adapter's bounded wait timed out: a slow consumer.
    h.unblocked(&mut io, false);
    assert_eq!(io.killed, vec![(a, 1008)]);
    assert_eq!(h.connections(), 0);
    assert!(h.feed_ready(clock.now()), "the lost connection is fed back");
    assert!(matches!(h.drain(&mut io), Drain::Done));
    assert!(!h.feed_ready(clock.now()));
    assert_eq!(h.metrics().get().runtime.sessions_opened, 1);
}
