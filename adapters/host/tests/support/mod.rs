//! Shared support for the arcp-host tests: a fake `HostIo`, frame helpers, a host builder.
#![allow(dead_code, unused_imports)]

pub use arcp_auth::{AuthError, AuthFailure, Principal};
pub use arcp_host::server::{
    AgentLink, AgentMsg, AgentTask, Authenticator, Batch, BoxFuture, Clock, Delivery, Drain,
    HostIo, Input, Outbound, ServerHost, ServerOptions, Stored, effect_outcome,
};
pub use arcp_proto::runtime::{ConnId, EffectId, EffectOutcome, TransportKind};
pub use serde_json::{Value, json};
pub use std::collections::{BTreeMap, HashSet};
pub use std::sync::Arc;
pub use std::time::Duration;

pub struct NoLink;

impl AgentLink for NoLink {
    fn send(&self, _msg: AgentMsg) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }
    fn sleep(&self, _d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

#[derive(Default)]
pub struct FakeIo {
    /// Connections whose writer queue is full.
    pub full: HashSet<ConnId>,
    pub sent: Vec<(ConnId, Outbound)>,
    pub killed: Vec<(ConnId, u16)>,
    pub agents: Vec<String>,
    pub auths: Vec<(EffectId, Arc<dyn Authenticator>, String)>,
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

pub fn hello(id: &str, token: &str) -> Vec<u8> {
    json!({"arcp": "1.1", "id": id, "type": "session.hello", "payload": {
        "client": {"name": "host-test", "version": "1.0.0"},
        "auth": {"scheme": "bearer", "token": token},
        "capabilities": {"encodings": ["json"], "features": [], "agents": []},
    }})
    .to_string()
    .into_bytes()
}

pub fn frames(io: &FakeIo, conn: ConnId) -> Vec<Value> {
    io.sent
        .iter()
        .filter(|(c, _)| *c == conn)
        .filter_map(|(_, o)| match o {
            Outbound::Frame(b) => Some(serde_json::from_slice(b).unwrap()),
            Outbound::Close(_) => None,
        })
        .collect()
}

pub fn host(opts: &mut ServerOptions, clock: &Clock) -> ServerHost<ConnId> {
    let built = opts.build("host-test", "0.0.0", clock).unwrap();
    let (host, store) = ServerHost::new(built, Arc::new(NoLink), true);
    assert!(store.is_none());
    host
}

/// Runs every pending authentication on the test thread and feeds its result back.
pub fn run_auths(h: &mut ServerHost<ConnId>, io: &mut FakeIo, clock: &Clock) {
    for (id, auth, token) in std::mem::take(&mut io.auths) {
        let outcome = effect_outcome(&*auth, &token);
        h.feed(clock.now(), Input::EffectResult { id, outcome });
        assert!(matches!(h.drain(io), Drain::Done));
    }
}

pub fn open(h: &mut ServerHost<ConnId>, io: &mut FakeIo, clock: &Clock, conn: ConnId) {
    let input = Input::Opened {
        conn,
        kind: TransportKind::WebSocket,
        ports: conn,
    };
    h.feed(clock.now(), input);
    assert!(matches!(h.drain(io), Drain::Done));
}
