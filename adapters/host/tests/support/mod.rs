//! Shared support for the arcp-host tests: a fake adapter that drives `ServerHost` by hand
//! through `handle_*`/`poll_action` with a fake clock and seeded entropy, and frame helpers.
#![allow(dead_code, unused_imports)]

pub use arcp_auth::{AuthError, AuthFailure, Principal};
pub use arcp_host::server::{
    Action, AgentLink, AgentMsg, AgentTask, Authenticator, Batch, BoxFuture, Input, Outbound,
    ServerHost, ServerOptions, effect_outcome,
};
pub use arcp_proto::runtime::{ConnId, EffectId, EffectOutcome, TransportKind};
pub use arcp_proto::time::{Instant, WallClock};
pub use arcp_proto::wire::SeededEntropy;
pub use serde_json::{Value, json};
pub use std::collections::{BTreeMap, HashSet};
pub use std::sync::Arc;
pub use std::time::Duration;

/// The fake clock's wall time at core time 0: 2023-11-14T22:13:20Z.
pub const UNIX_MICROS_AT_0: i64 = 1_700_000_000_000_000;

pub struct NoLink;

impl AgentLink for NoLink {
    fn send(&self, _msg: AgentMsg) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }
    fn sleep(&self, _d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// What a fake adapter did with the host's actions, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Did {
    Queued(ConnId, Outbound),
    Killed(ConnId, u16),
    Spawned(String),
    Auth(EffectId, String),
    Stored,
}

/// A fake adapter: a fake clock, writers that take everything unless listed in `full`
/// (which refuse, without waiting: the host keeps the item), agents that are never run, authentications run on
/// the test thread by [`Rig::run_auths`].
pub struct Rig {
    pub h: ServerHost,
    pub now: Instant,
    pub did: Vec<Did>,
    pub full: HashSet<ConnId>,
    pub auths: Vec<(EffectId, Arc<dyn Authenticator>, String)>,
    /// Whether the last [`Rig::tick`] fired the runtime's deadline.
    pub fired: bool,
}

/// Demo-mode options (the contract agents and tokens, `auditor` observing, credentials on):
/// what every host test runs against unless it says otherwise.
pub fn demo_opts() -> ServerOptions {
    ServerOptions {
        demo: true,
        ..ServerOptions::default()
    }
}

impl Rig {
    /// A host of `opts` at core time 0 (no store), runtime entropy seed 1, host seed 2.
    pub fn new(opts: &mut ServerOptions) -> Self {
        let now = Instant::from_micros(0);
        let wall = WallClock::new(now, UNIX_MICROS_AT_0);
        let built = opts
            .build(
                "host-test",
                "0.0.0",
                now,
                wall,
                Box::new(SeededEntropy::new(1)),
            )
            .unwrap();
        let (h, store) = ServerHost::new(
            now,
            built,
            Arc::new(NoLink),
            true,
            Box::new(SeededEntropy::new(2)),
        );
        assert!(store.is_none());
        Rig {
            h,
            now,
            did: Vec::new(),
            full: HashSet::new(),
            auths: Vec::new(),
            fired: false,
        }
    }

    /// Moves the fake clock on by `ms`.
    pub fn advance(&mut self, ms: u64) {
        self.now = self.now + Duration::from_millis(ms);
    }

    /// Drains `poll_action`, performing each action as an adapter would.
    pub fn drain(&mut self) {
        while let Some(action) = self.h.poll_action() {
            match action {
                Action::Transmit { conn, bytes } => self.send(conn, Outbound::Frame(bytes)),
                Action::Close { conn, code } => self.send(conn, Outbound::Close(code)),
                Action::Kill { conn, code } => self.did.push(Did::Killed(conn, code)),
                Action::SpawnAgent(task) => {
                    self.did.push(Did::Spawned(task.job_id.to_string()));
                    self.h
                        .handle_effect_result(self.now, task.effect, EffectOutcome::Done);
                }
                Action::Authenticate { id, auth, token } => {
                    self.did.push(Did::Auth(id, token.clone()));
                    self.auths.push((id, auth, token));
                }
                Action::Store(_) => self.did.push(Did::Stored),
            }
        }
    }

    fn send(&mut self, conn: ConnId, out: Outbound) {
        if self.full.contains(&conn) {
            // The driver never waits: the refused item goes back to the host.
            self.h.handle_writer_full(self.now, conn, out);
            return;
        }
        self.did.push(Did::Queued(conn, out));
    }

    /// Feeds one input, then drains.
    pub fn feed(&mut self, input: Input<ConnId>) {
        if let Some((conn, port)) = self.h.handle_input(self.now, input) {
            assert_eq!(conn, port);
        }
        self.drain();
    }

    /// The fake clock's time has come: `handle_timeout`, then drains.
    pub fn tick(&mut self) {
        let fired = self.h.handle_timeout(self.now);
        self.drain();
        self.fired = fired;
    }

    pub fn open(&mut self, conn: ConnId) {
        self.feed(Input::Opened {
            conn,
            kind: TransportKind::WebSocket,
            carries_credentials: true,
            ports: conn,
        });
    }

    pub fn frame(&mut self, conn: ConnId, v: Value) {
        self.feed(Input::Frame {
            conn,
            bytes: v.to_string().into_bytes(),
        });
    }

    /// Runs every pending authentication on the test thread and feeds its result back.
    pub fn run_auths(&mut self) {
        for (id, auth, token) in std::mem::take(&mut self.auths) {
            let outcome = effect_outcome(&*auth, &token);
            self.feed(Input::EffectResult { id, outcome });
        }
    }

    /// The frames queued on `conn`, decoded.
    pub fn frames(&self, conn: ConnId) -> Vec<Value> {
        self.did
            .iter()
            .filter_map(|d| match d {
                Did::Queued(c, Outbound::Frame(b)) if *c == conn => {
                    Some(serde_json::from_slice(b).unwrap())
                }
                _ => None,
            })
            .collect()
    }

    /// The welcome's session id after a hello with `token` on `conn` (authenticated here).
    pub fn login(&mut self, conn: ConnId, hello_id: &str, token: &str) -> Value {
        self.feed(Input::Frame {
            conn,
            bytes: hello(hello_id, token),
        });
        self.run_auths();
        self.frames(conn).last().unwrap()["payload"]["session_id"].clone()
    }
}

pub fn hello(id: &str, token: &str) -> Vec<u8> {
    hello_with(id, token, &[])
}

/// A hello asking for `features`.
pub fn hello_with(id: &str, token: &str, features: &[&str]) -> Vec<u8> {
    json!({"arcp": "1.1", "id": id, "type": "session.hello", "payload": {
        "client": {"name": "host-test", "version": "1.0.0"},
        "auth": {"scheme": "bearer", "token": token},
        "capabilities": {"encodings": ["json"], "features": features, "agents": []},
    }})
    .to_string()
    .into_bytes()
}
