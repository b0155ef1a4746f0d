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

#[test]
fn a_full_writer_whose_wait_times_out_is_killed_1008_and_reported_lost() {
    let mut r = Rig::new(&mut demo_opts());
    let a = ConnId(7);
    r.open(a);
    r.feed(Input::Frame {
        conn: a,
        bytes: hello("01J00000000000000000000005", "bob-token"),
    });
    r.full.insert(a);
    r.run_auths();
    // The welcome could not be queued: the host kills the connection and feeds its loss
    // back to the runtime within the same drain.
    assert_eq!(r.did.last(), Some(&Did::Killed(a, 1008)));
    assert!(r.frames(a).is_empty());
    assert_eq!(r.h.connections(), 0);
    assert_eq!(r.h.writers_full(), 0);
    assert!(r.h.poll_action().is_none());
    r.h.publish_metrics();
    assert_eq!(r.h.metrics().get().runtime.sessions_opened, 1);
    // A second report of the same connection changes nothing.
    r.h.handle_writer_lost(r.now, a);
    assert!(r.h.poll_action().is_none());
}

#[test]
fn a_full_writer_that_takes_the_frame_later_is_kept() {
    let mut r = Rig::new(&mut demo_opts());
    let a = ConnId(8);
    r.open(a);
    r.feed(Input::Frame {
        conn: a,
        bytes: hello("01J00000000000000000000005", "bob-token"),
    });
    let (id, auth, token) = r.auths.pop().unwrap();
    r.h.handle_effect_result(r.now, id, effect_outcome(&*auth, &token));
    let Some(Action::Transmit { conn, bytes }) = r.h.poll_action() else {
        panic!("expected the welcome");
    };
    assert_eq!(conn, a);
    r.h.handle_writer_full(a);
    assert_eq!(r.h.writers_full(), 1);
    r.h.handle_writer_ready(a);
    assert_eq!(r.h.writers_full(), 0);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["type"], "session.welcome");
    assert!(r.h.poll_action().is_none());
    assert_eq!(r.h.connections(), 1);
}
