//! The simulation: clients, one runtime, the fake host and links, one clock. `step()` drains
//! every queue (time never moves while output is queued), jumps to the earliest deadline or
//! delivery, feeds what is due one input at a time, and checks the invariants.

use super::clock::SimClock;
use super::host::{Host, HostAction};
use super::invariants::{Checker, is_sequenced};
use super::link::Link;
use crate::client::{AutoAck, ClientConfig, ClientEvent, ClientSession, ClientState};
use crate::runtime::{
    AgentEvent, AgentReply, AgentSpec, ConnId, ObserverPolicy, Operation, Runtime, RuntimeConfig,
    TransportKind,
};
use crate::time::Instant;
use crate::wire::{ErrorCode, FeatureSet, JobId, Message, SeededEntropy};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// How one client slot is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSpec {
    /// Bearer token (see [`PRINCIPALS`](super::host::PRINCIPALS)).
    pub token: &'static str,
    /// Features requested in `session.hello`.
    pub features: FeatureSet,
    /// Automatic coalesced acks.
    pub auto_ack: bool,
    /// Automatic idle pings.
    pub auto_ping: bool,
}

/// One client slot: its session and its link.
#[derive(Debug)]
pub struct SimClient {
    /// The client state machine.
    pub session: ClientSession,
    /// Its transport.
    pub link: Link,
    /// How it was built.
    pub spec: ClientSpec,
}

/// The runtime configuration the simulator uses: small bounds so limits are reached.
pub fn runtime_config(durable: bool) -> RuntimeConfig {
    let mut cfg = RuntimeConfig {
        heartbeat_interval: Duration::from_secs(2),
        resume_window: Duration::from_secs(20),
        revoke_retry_delay: Duration::from_millis(500),
        revoke_attempts: 3,
        agents: vec![
            AgentSpec::new("echo", &["1.0.0"]),
            AgentSpec::new("slow", &["1.0.0"]),
            AgentSpec::new("versioned", &["1.0.0", "2.0.0"]).with_default("2.0.0"),
        ],
        observer_policy: ObserverPolicy {
            observers: vec!["auditor".into()],
        },
        durable,
        ..RuntimeConfig::default()
    };
    let b = &mut cfg.bounds;
    b.max_frame_bytes = 4096;
    b.max_transmit_queue = 32;
    b.max_ring_events = 8;
    b.max_ring_bytes = 16 * 1024;
    b.max_pending_effects = 24;
    b.max_jobs_per_session = 6;
    b.max_retained_jobs = 16;
    b.max_subscriptions_per_session = 3;
    b.max_idempotency_entries = 4;
    b.max_chunk_bytes = 32;
    b.max_result_bytes = 96;
    b.max_sessions = 8;
    // Finished records and expired sessions are forgotten within a run (about 3 records).
    b.finished_job_ttl = Some(Duration::from_secs(5));
    b.max_finished_job_bytes = 5 * 1024;
    b.expired_session_grace = Duration::from_secs(10);
    b.max_pending_events = 64;
    cfg
}

fn client_config(spec: &ClientSpec) -> ClientConfig {
    let mut c = ClientConfig::named("arcp-sim", "1.0.0", spec.token);
    c.features = spec.features;
    c.auto_ping = spec.auto_ping;
    c.auto_ack = spec.auto_ack.then_some(AutoAck {
        every_n: 3,
        interval: Duration::from_millis(300),
    });
    c.max_pending_requests = 8;
    c.max_pending_transmits = 16;
    c.max_open_results = 2;
    c
}

/// The whole simulated system.
#[derive(Debug)]
pub struct Sim {
    /// The clock.
    pub clock: SimClock,
    /// The runtime under test.
    pub runtime: Runtime,
    /// The client slots.
    pub clients: Vec<SimClient>,
    /// The fake host.
    pub host: Host,
    /// Invariant state.
    pub checker: Checker,
    /// Every job id seen (accepted, started or delegated), in order.
    pub jobs: Vec<JobId>,
    /// When set, a readable log of everything that happens (for debugging a failing input).
    pub trace: Option<Vec<String>>,
    /// Emits of held jobs (`Runtime::job_held`), in order, not yet fed.
    parked: BTreeMap<JobId, VecDeque<AgentEvent>>,
    next_conn: u64,
    next_seed: u64,
}

impl Sim {
    /// A simulation with one slot per spec, all disconnected.
    pub fn new(specs: Vec<ClientSpec>, durable: bool) -> Self {
        let clock = SimClock::new(Instant::from_millis(1_000));
        let runtime = Runtime::new(
            runtime_config(durable),
            clock.wall(),
            Box::new(SeededEntropy::new(1)),
        );
        let mut sim = Sim {
            clock,
            runtime,
            clients: Vec::new(),
            host: Host::default(),
            checker: Checker::new(specs.len()),
            jobs: Vec::new(),
            trace: None,
            parked: BTreeMap::new(),
            next_conn: 0,
            next_seed: 100,
        };
        for spec in specs {
            let session = sim.new_session(&spec);
            let link = Link::new(ConnId(u64::MAX), Duration::from_millis(10));
            sim.clients.push(SimClient {
                session,
                link,
                spec,
            });
        }
        sim
    }

    fn new_session(&mut self, spec: &ClientSpec) -> ClientSession {
        self.next_seed += 1;
        ClientSession::new(
            client_config(spec),
            self.clock.wall(),
            Box::new(SeededEntropy::new(self.next_seed)),
        )
    }

    /// Appends to the trace, when tracing.
    pub fn log(&mut self, line: impl FnOnce() -> String) {
        let at = self.clock.now().as_micros() / 1000;
        if let Some(t) = &mut self.trace {
            t.push(format!("{at:>8}ms {}", line()));
        }
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    // ----- transport actions -----

    /// Opens a connection for client `i` (if it has none and is not closed).
    pub fn connect(&mut self, i: usize) {
        let now = self.now();
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        let Some(c) = self.clients.get_mut(i) else {
            return;
        };
        if c.link.up || c.session.state() == ClientState::Closed {
            return;
        }
        c.link.open(conn);
        self.runtime
            .handle_connection_opened(now, conn, TransportKind::WebSocket);
        c.session.handle_connected(now);
        self.drain();
    }

    /// The connection of client `i` breaks; both ends notice.
    pub fn drop_link(&mut self, i: usize) {
        let now = self.now();
        let Some(c) = self.clients.get_mut(i) else {
            return;
        };
        if !c.link.up {
            return;
        }
        let conn = c.link.conn;
        c.link.cut();
        c.session.handle_disconnected(now);
        self.runtime.handle_connection_closed(now, conn);
        self.drain();
    }

    /// A closed client is replaced by a fresh session (as a host would after
    /// `Closed`/`RESUME_WINDOW_EXPIRED`).
    pub fn replace(&mut self, i: usize) {
        let Some(spec) = self.clients.get(i).map(|c| c.spec.clone()) else {
            return;
        };
        if self.clients.get(i).map(|c| c.session.state()) != Some(ClientState::Closed) {
            return;
        }
        self.drop_link(i);
        if let Some(m) = self.checker.streams.get(i) {
            // Events may be given up only after the refusal was surfaced to the host.
            assert!(
                !m.expired_sent || m.resume_expired,
                "client {i}: RESUME_WINDOW_EXPIRED answered but not surfaced"
            );
        }
        let session = self.new_session(&spec);
        if let (Some(c), Some(m)) = (self.clients.get_mut(i), self.checker.streams.get_mut(i)) {
            c.session = session;
            *m = Default::default();
        }
    }

    /// Calls the lease gate for `job` and checks no authorization is granted once a budget
    /// counter is ≤ 0.
    pub fn authorize(&mut self, job: &JobId, op: &Operation) {
        let now = self.now();
        let r = self.runtime.authorize(now, job, op);
        self.log(|| format!("authorize {job} {op:?}: {r:?}"));
        let granted = r.is_ok();
        if granted && let Some(b) = self.runtime.job_budget(job) {
            for (cur, d) in &b.0 {
                assert!(
                    !d.is_exhausted(),
                    "authorization of {op:?} granted for {job} with {cur} counter at {d:?}"
                );
            }
        }
    }

    // ----- the driving loop -----

    /// Drains every output queue until all are empty: runtime frames onto the links,
    /// effects to the host, events to the checker, client frames onto the links.
    pub fn drain(&mut self) {
        let now = self.now();
        // Queues grow only when a machine takes an input; polling them only shrinks them. So
        // the bounds are checked on entry (after whatever input preceded this drain) and
        // again after each pass that fed a machine (a connection closed), not after passes
        // that only polled.
        let mut fed = true;
        for _ in 0..10_000 {
            if std::mem::take(&mut fed) {
                Checker::queues(&self.runtime, &self.clients);
            }
            let mut progress = false;
            while let Some((conn, frame)) = self.runtime.poll_transmit() {
                progress = true;
                if let Some(c) = self
                    .clients
                    .iter_mut()
                    .find(|c| c.link.up && c.link.conn == conn)
                {
                    if let Some(t) = &mut self.trace {
                        t.push(format!(
                            "  rt->{conn:?} {}",
                            String::from_utf8_lossy(&frame.encode())
                        ));
                    }
                    self.checker.runtime_frame(conn, &frame, c.spec.features);
                    let seq = is_sequenced(&frame);
                    let refusal = matches!(&frame.message,
                        Message::Error(e) if e.code == ErrorCode::ResumeWindowExpired);
                    if c.link
                        .send_marked_to_client(now, frame.encode(), seq, refusal)
                        && let Some(i) = self.clients.iter().position(|c| c.link.conn == conn)
                        && let Some(m) = self.checker.streams.get_mut(i)
                    {
                        m.duplicates += 1;
                    }
                }
            }
            while let Some((id, effect)) = self.runtime.poll_effect() {
                progress = true;
                if let Some(t) = &mut self.trace {
                    t.push(format!("  effect {id:?} {effect:?}"));
                }
                self.host.on_effect(now, id, effect);
            }
            while let Some(ev) = self.runtime.poll_event() {
                progress = true;
                if let Some(t) = &mut self.trace {
                    t.push(format!("  rt event {ev:?}"));
                }
                self.checker.runtime_event(now, &ev);
                if let crate::runtime::RuntimeEvent::JobEnded { job_id, .. } = &ev {
                    // The agent of an ended job stops.
                    self.host.running.remove(job_id);
                }
            }
            for i in 0..self.clients.len() {
                while let Some(c) = self.clients.get_mut(i)
                    && let Some(frame) = c.session.poll_transmit()
                {
                    progress = true;
                    if let Some(t) = &mut self.trace {
                        t.push(format!(
                            "  c{i}->rt {}",
                            String::from_utf8_lossy(&frame.encode())
                        ));
                    }
                    self.checker.client_frame(i, &c.session, &frame);
                    c.link.send_to_runtime(now, frame.encode());
                }
                while let Some(c) = self.clients.get_mut(i)
                    && let Some(ev) = c.session.poll_event()
                {
                    progress = true;
                    if let Some(t) = &mut self.trace {
                        t.push(format!("  c{i} event {ev:?}"));
                    }
                    self.checker.client_event(i, &ev);
                    match &ev {
                        ClientEvent::CloseTransport(_) => c.link.close_from_client(),
                        // A subscribe lost with the link may still have taken effect: its
                        // history (a new stream of the job, D10) can arrive after the resume
                        // without the `job.subscribed` that marks it.
                        ClientEvent::RequestFailed {
                            kind: Some(crate::client::RequestKind::Subscribe(job)),
                            error: crate::client::RequestError::ConnectionLost,
                            ..
                        } => {
                            if let Some(m) = self.checker.streams.get_mut(i) {
                                m.ended.remove(job);
                            }
                        }
                        // A sequenced frame the client refused (e.g. the history of a
                        // subscription whose answer a drop lost, for a job it saw end)
                        // consumes its seq and is surfaced instead of delivered.
                        ClientEvent::ProtocolError(_) => {
                            let last = c.session.last_event_seq();
                            if let Some(m) = self.checker.streams.get_mut(i)
                                && last == m.last_seq + 1
                            {
                                m.last_seq = last;
                                m.surfaced += 1;
                            }
                        }
                        ClientEvent::Accepted { job_id, .. } if !self.jobs.contains(job_id) => {
                            self.jobs.push(job_id.clone());
                        }
                        _ => {}
                    }
                }
            }
            for conn in std::mem::take(&mut self.host.closes) {
                progress = true;
                // The host flushes what was sent before closing (as a WebSocket close
                // frame follows the data).
                match self
                    .clients
                    .iter_mut()
                    .find(|c| c.link.up && c.link.conn == conn)
                {
                    Some(c) => c.link.close_from_runtime(),
                    None => {
                        fed = true;
                        self.runtime.handle_connection_closed(now, conn);
                    }
                }
            }
            for c in &mut self.clients {
                if c.link.drained_runtime_close() {
                    progress = true;
                    fed = true;
                    let conn = c.link.conn;
                    c.link.cut();
                    c.session.handle_disconnected(now);
                    self.runtime.handle_connection_closed(now, conn);
                }
                if c.link.drained_closing() {
                    progress = true;
                    fed = true;
                    let conn = c.link.conn;
                    c.link.cut();
                    self.runtime.handle_connection_closed(now, conn);
                }
            }
            if !progress {
                return;
            }
        }
        panic!("drain did not settle: a queue refills itself");
    }

    /// The earliest moment something happens: a delivery, a host action, a deadline.
    pub fn next_event(&self) -> Option<Instant> {
        let links = self.clients.iter().filter_map(|c| c.link.next_delivery());
        let clients = self.clients.iter().filter_map(|c| c.session.poll_timeout());
        links
            .chain(clients)
            .chain(self.host.next_deadline())
            .chain(self.runtime.poll_timeout())
            .min()
    }

    /// `handle_timeout` before a machine's deadline must change nothing.
    fn check_early_timeouts(&mut self) {
        let now = self.now();
        let before = self.runtime.poll_timeout();
        if before.is_none_or(|t| t > now) {
            self.runtime.handle_timeout(now);
            assert_eq!(self.runtime.poll_timeout(), before, "early runtime timeout");
            assert_eq!(self.runtime.pending_transmits(), 0, "early runtime timeout");
            assert_eq!(self.runtime.pending_events(), 0, "early runtime timeout");
            assert!(
                self.runtime.poll_effect().is_none(),
                "early runtime timeout"
            );
        }
        for (i, c) in self.clients.iter_mut().enumerate() {
            let before = c.session.poll_timeout();
            if before.is_none_or(|t| t > now) {
                c.session.handle_timeout(now);
                assert_eq!(
                    c.session.poll_timeout(),
                    before,
                    "early timeout, client {i}"
                );
                assert_eq!(
                    c.session.pending_transmits(),
                    0,
                    "early timeout, client {i}"
                );
                assert_eq!(c.session.pending_events(), 0, "early timeout, client {i}");
            }
        }
    }

    /// Fires every deadline that is due; returns whether any was.
    fn fire_due(&mut self) -> bool {
        let now = self.now();
        let mut fired = false;
        if self.runtime.poll_timeout().is_some_and(|t| t <= now) {
            self.runtime.handle_timeout(now);
            fired = true;
            self.drain();
        }
        for i in 0..self.clients.len() {
            if let Some(c) = self.clients.get_mut(i)
                && c.session.poll_timeout().is_some_and(|t| t <= now)
            {
                c.session.handle_timeout(now);
                fired = true;
                self.drain();
            }
        }
        fired
    }

    /// Feeds every delivery and host action due now, one input at a time.
    fn deliver_due(&mut self) {
        let now = self.now();
        loop {
            let mut any = false;
            for i in 0..self.clients.len() {
                if let Some(c) = self.clients.get_mut(i)
                    && let Some(bytes) = c.link.pop_to_runtime(now)
                {
                    let conn = c.link.conn;
                    self.log(|| format!("deliver to rt {conn:?}"));
                    self.runtime.handle_frame(now, conn, &bytes);
                    self.drain();
                    any = true;
                }
                if let Some(c) = self.clients.get_mut(i)
                    && let Some(packet) = c.link.pop_packet_to_client(now)
                {
                    let handshaking = c.session.state() == ClientState::Handshaking;
                    c.session.handle_frame(now, &packet.bytes);
                    if handshaking
                        && packet.expired_refusal
                        && let Some(m) = self.checker.streams.get_mut(i)
                    {
                        m.expired_sent = true;
                    }
                    self.log(|| format!("delivered to c{i}"));
                    self.drain();
                    any = true;
                }
            }
            if let Some(action) = self.host.pop_due(now) {
                any = true;
                self.log(|| format!("host {action:?}"));
                match action {
                    HostAction::Complete(id, out) => {
                        self.runtime.handle_effect_result(now, id, out);
                    }
                    // A held job's emits wait, in order, as a host keeps them (job_held).
                    HostAction::Agent(job, ev) => {
                        if self.parked.contains_key(&job) || self.runtime.job_held(&job) {
                            self.log(|| format!("parked for {job}"));
                            self.parked.entry(job).or_default().push_back(ev);
                        } else {
                            self.feed_agent(now, &job, ev);
                        }
                    }
                }
                self.drain();
            }
            if self.release_parked(now) {
                any = true;
            }
            if !any {
                return;
            }
        }
    }

    /// Feeds one agent emit and records a delegated child.
    fn feed_agent(&mut self, now: Instant, job: &JobId, ev: AgentEvent) {
        let r = self.runtime.handle_agent_event(now, job, ev);
        self.log(|| format!("agent reply {r:?}"));
        if let Ok(AgentReply::Delegated { child_job_id }) = r
            && !self.jobs.contains(&child_job_id)
        {
            self.jobs.push(child_job_id);
        }
    }

    /// Feeds the parked emits of every job no longer held, in order, until it is held
    /// again; `true` when any was fed.
    fn release_parked(&mut self, now: Instant) -> bool {
        let mut fed = false;
        let jobs: Vec<JobId> = self.parked.keys().cloned().collect();
        for job in jobs {
            while !self.runtime.job_held(&job) {
                let Some(ev) = self.parked.get_mut(&job).and_then(VecDeque::pop_front) else {
                    break;
                };
                self.log(|| format!("unparked for {job}"));
                self.feed_agent(now, &job, ev);
                self.drain();
                fed = true;
            }
            if self.parked.get(&job).is_some_and(VecDeque::is_empty) {
                self.parked.remove(&job);
            }
        }
        fed
    }

    /// One step: drain, jump to the earliest event, feed what is due, fire due deadlines,
    /// check the invariants. Returns `false` when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.drain();
        self.step_drained()
    }

    /// [`step`](Self::step) without its opening drain, for the driving loop, which calls it
    /// only when every queue is already drained (after a drain or a step, with no machine fed
    /// since): that drain would poll empty queues and check the queue bounds of a state
    /// already checked.
    pub(crate) fn step_drained(&mut self) -> bool {
        let Some(t) = self.next_event() else {
            return false;
        };
        self.check_early_timeouts();
        self.clock.advance_to(t);
        self.deliver_due();
        let mut settled = false;
        for _ in 0..16 {
            if !self.fire_due() {
                settled = true;
                break;
            }
        }
        assert!(
            settled,
            "a deadline keeps firing at the same instant (busy loop)"
        );
        self.check_after_step();
        true
    }

    /// Runs steps until `t`, then idles the clock up to it.
    pub fn run_until(&mut self, t: Instant) {
        self.drain();
        self.run_until_drained(t);
    }

    /// [`run_until`](Self::run_until) from a drained state (see
    /// [`step_drained`](Self::step_drained)); every step leaves the queues drained.
    pub(crate) fn run_until_drained(&mut self, t: Instant) {
        for _ in 0..10_000 {
            match self.next_event() {
                Some(n) if n <= t => {
                    self.step_drained();
                }
                _ => break,
            }
        }
        self.clock.advance_to(t);
        self.check_after_step();
    }

    fn check_after_step(&mut self) {
        let now = self.now();
        // poll_timeout is never in the past after a drain: no busy loop.
        if let Some(t) = self.runtime.poll_timeout() {
            assert!(t > now, "runtime poll_timeout {t:?} not after now {now:?}");
        }
        for (i, c) in self.clients.iter().enumerate() {
            if let Some(t) = c.session.poll_timeout() {
                assert!(
                    t > now,
                    "client {i} poll_timeout {t:?} not after now {now:?}"
                );
            }
        }
        if let Err(e) = self.runtime.check_delegation() {
            panic!("delegation invariant: {e}");
        }
        let cfg = self.runtime.config();
        // Each attempt: its backoff (the retry delay doubled per failed attempt) plus an
        // effect round trip at the worst latency the script may have had.
        let mut bound = Duration::from_secs(1);
        for k in 0..cfg.revoke_attempts.max(1) {
            bound += cfg.revoke_retry_delay.saturating_mul(1u32 << k.min(10))
                + super::host::MAX_HOST_LATENCY * 2;
        }
        self.checker
            .credentials(now, &self.host.minted, &self.host.revoked, bound);
        self.checker.steps += 1;
    }

    /// Heals the system (no scripted failures, everyone reconnected) and lets it settle;
    /// then every open client has received each event of its session exactly once.
    pub fn finish(&mut self) {
        self.drain();
        self.host.script = Default::default();
        for c in &mut self.clients {
            c.link.latency = Duration::from_millis(10);
            c.link.duplicate_next = false;
        }
        for _ in 0..3 {
            for i in 0..self.clients.len() {
                self.connect(i);
            }
            for _ in 0..400 {
                let busy = self.host.scheduled() > 0
                    || self.clients.iter().any(|c| c.link.in_flight() > 0);
                if !busy || !self.step_drained() {
                    break;
                }
            }
        }
        for (i, c) in self.clients.iter().enumerate() {
            if c.session.state() != ClientState::Open {
                continue;
            }
            let Some(sid) = c.session.session_id() else {
                continue;
            };
            let assigned = self.runtime.session_last_seq(sid);
            assert_eq!(
                assigned,
                Some(c.session.last_event_seq()),
                "client {i}: session {sid} events not all delivered exactly once"
            );
            let model = self.checker.streams.get(i).map(|m| m.last_seq);
            assert_eq!(model, assigned, "client {i}: delivered stream differs");
        }
    }
}
