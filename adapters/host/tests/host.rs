//! `ServerHost` driven by a fake `HostIo`: a scripted exchange with exact metrics and bytes
//! out, authentication through arcp-auth (default token table and a custom authenticator),
//! the slow-consumer path (a full writer queue whose wait times out), and the options.

use arcp_auth::{AuthError, AuthFailure, Principal};
use arcp_host::server::{
    AgentLink, AgentMsg, AgentTask, Authenticator, Batch, BoxFuture, Clock, Delivery, Drain,
    HostIo, Input, Outbound, ServerHost, ServerOptions, Stored, effect_outcome,
};
use arcp_proto::runtime::{ConnId, EffectId, EffectOutcome, TransportKind};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

struct NoLink;

impl AgentLink for NoLink {
    fn send(&self, _msg: AgentMsg) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }
    fn sleep(&self, _d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

#[derive(Default)]
struct FakeIo {
    /// Connections whose writer queue is full.
    full: HashSet<ConnId>,
    sent: Vec<(ConnId, Outbound)>,
    killed: Vec<(ConnId, u16)>,
    agents: Vec<String>,
    auths: Vec<(EffectId, Arc<dyn Authenticator>, String)>,
}

impl HostIo<ConnId> for FakeIo {
    type Wait = Outbound;

    fn send(&mut self, port: &ConnId, out: Outbound) -> Delivery<Outbound> {
        if self.full.contains(port) {
            return Delivery::Full(out);
        }
        self.sent.push((*port, out));
        Delivery::Queued
    }
    fn kill(&mut self, port: ConnId, code: u16) {
        self.killed.push((port, code));
    }
    fn close(&mut self, port: ConnId, code: u16) {
        self.sent.push((port, Outbound::Close(code)));
    }
    fn spawn_agent(&mut self, task: AgentTask) -> Result<(), String> {
        self.agents.push(task.job_id);
        Ok(())
    }
    fn authenticate(
        &mut self,
        id: EffectId,
        auth: Arc<dyn Authenticator>,
        token: String,
    ) -> Option<EffectOutcome> {
        self.auths.push((id, auth, token));
        None
    }
    fn store(&mut self, batch: Batch) -> Stored {
        Stored::Busy(batch)
    }
}

fn hello(id: &str, token: &str) -> Vec<u8> {
    json!({"arcp": "1.1", "id": id, "type": "session.hello", "payload": {
        "client": {"name": "host-test", "version": "1.0.0"},
        "auth": {"scheme": "bearer", "token": token},
        "capabilities": {"encodings": ["json"], "features": [], "agents": []},
    }})
    .to_string()
    .into_bytes()
}

fn frames(io: &FakeIo, conn: ConnId) -> Vec<Value> {
    io.sent
        .iter()
        .filter(|(c, _)| *c == conn)
        .filter_map(|(_, o)| match o {
            Outbound::Frame(b) => Some(serde_json::from_slice(b).unwrap()),
            Outbound::Close(_) => None,
        })
        .collect()
}

fn host(opts: &mut ServerOptions, clock: &Clock) -> ServerHost<ConnId> {
    let built = opts.build("host-test", "0.0.0", clock).unwrap();
    let (host, store) = ServerHost::new(built, Arc::new(NoLink), true);
    assert!(store.is_none());
    host
}

/// Runs every pending authentication on the test thread and feeds its result back.
fn run_auths(h: &mut ServerHost<ConnId>, io: &mut FakeIo, clock: &Clock) {
    for (id, auth, token) in std::mem::take(&mut io.auths) {
        let outcome = effect_outcome(&*auth, &token);
        h.feed(clock.now(), Input::EffectResult { id, outcome });
        assert!(matches!(h.drain(io), Drain::Done));
    }
}

fn open(h: &mut ServerHost<ConnId>, io: &mut FakeIo, clock: &Clock, conn: ConnId) {
    let input = Input::Opened {
        conn,
        kind: TransportKind::WebSocket,
        ports: conn,
    };
    h.feed(clock.now(), input);
    assert!(matches!(h.drain(io), Drain::Done));
}

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

/// A minimal subscriber recording every span's name and fields.
mod capture {
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    pub type Spans = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

    pub struct Capture(pub Spans);

    struct Fields(Vec<(String, String)>);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push((field.name().to_owned(), format!("{value:?}")));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push((field.name().to_owned(), value.to_owned()));
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut f = Fields(Vec::new());
            span.record(&mut f);
            let mut g = self.0.lock().unwrap();
            g.push((span.metadata().name().to_owned(), f.0));
            Id::from_u64(g.len() as u64)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

#[test]
fn sessions_and_effects_get_spans_with_their_ids() {
    let spans = capture::Spans::default();
    let sub = capture::Capture(spans.clone());
    tracing::subscriber::with_default(sub, || {
        let clock = Clock::new();
        let mut h = host(&mut ServerOptions::default(), &clock);
        let mut io = FakeIo::default();
        let a = ConnId(3);
        open(&mut h, &mut io, &clock, a);
        h.feed(
            clock.now(),
            Input::Frame {
                conn: a,
                bytes: hello("01J00000000000000000000006", "alice-token"),
            },
        );
        assert!(matches!(h.drain(&mut io), Drain::Done));
        run_auths(&mut h, &mut io, &clock);
        let sid = frames(&io, a)[0]["payload"]["session_id"].clone();
        let submit = json!({"arcp": "1.1", "id": "01J00000000000000000000007",
            "type": "job.submit", "session_id": sid,
            "payload": {"agent": "echo", "input": {"x": 1}}});
        h.feed(
            clock.now(),
            Input::Frame {
                conn: a,
                bytes: submit.to_string().into_bytes(),
            },
        );
        assert!(matches!(h.drain(&mut io), Drain::Done));
        while h.feed_ready(clock.now()) {
            assert!(matches!(h.drain(&mut io), Drain::Done));
        }
        assert_eq!(io.agents.len(), 1);
        let job = io.agents[0].clone();
        let got = spans.lock().unwrap().clone();
        let has = |name: &str, want: &[(&str, &str)]| {
            got.iter().any(|(n, f)| {
                n == name
                    && want
                        .iter()
                        .all(|(k, v)| f.iter().any(|(fk, fv)| fk == k && fv == v))
            })
        };
        let sid = sid.as_str().unwrap();
        assert!(
            has(
                "arcp.session",
                &[("session_id", sid), ("principal", "alice")]
            ),
            "{got:?}"
        );
        assert!(
            has("arcp.effect", &[("effect", "authenticate"), ("conn", "3")]),
            "{got:?}"
        );
        assert!(
            has(
                "arcp.effect",
                &[
                    ("effect", "start_agent"),
                    ("job_id", &job),
                    ("principal", "alice")
                ]
            ),
            "{got:?}"
        );
    });
}
