//! The one transition generator: decodes transitions positionally from
//! [`arbitrary::Unstructured`] and applies them to a [`Sim`]. The proptest in `tests/sim.rs`
//! and the `session_pair` fuzz target both run [`run`].

use super::harness::{ClientSpec, Sim};
use crate::client::{ListJobsRequest, SubmitRequest};
use crate::runtime::{AgentEvent, Operation};
use crate::wire::{
    AgentRef, ChunkEncoding, ErrorCode, EventBody, Feature, JobId, LeaseMap, LogBody, MetricBody,
    MetricValue,
};
use arbitrary::{Result, Unstructured};
use std::time::Duration;

/// The most transitions one input drives.
pub const MAX_TRANSITIONS: usize = 120;

const TOKENS: [&str; 4] = ["alice-token", "bob-token", "auditor-token", "nobody-token"];
const AGENTS: [&str; 5] = ["echo", "slow", "versioned@1.0.0", "slow", "missing"];

/// One transition of the simulated world.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Client `0` connects (or reconnects, resuming).
    Connect(usize),
    /// Client `0`'s connection breaks.
    Drop(usize),
    /// A closed client is replaced by a fresh one.
    Replace(usize),
    /// Client submits `agent`, with an idempotency key, a budgeted lease, a max runtime.
    Submit {
        /// Client slot.
        client: usize,
        /// Agent reference.
        agent: &'static str,
        /// `idempotency_key` suffix.
        key: Option<u8>,
        /// Ask for a lease with a `cost.budget`.
        lease: bool,
        /// `max_runtime_sec`.
        max_runtime: Option<u32>,
    },
    /// Client cancels job `job` (index into known jobs).
    Cancel(usize, usize),
    /// `session.list_jobs`.
    ListJobs(usize),
    /// `job.subscribe` to a known job.
    Subscribe(usize, usize, bool),
    /// `job.unsubscribe`.
    Unsubscribe(usize, usize),
    /// Explicit `session.ack` of everything delivered.
    Ack(usize),
    /// `session.ping`.
    Ping(usize),
    /// `session.bye`.
    Close(usize),
    /// Sets a link's one-way latency.
    Latency(usize, Duration),
    /// The next sequenced frame to a client arrives twice.
    Duplicate(usize),
    /// Sets the host's latencies (auth, store, agent).
    HostLatency(Duration, Duration, Duration),
    /// Scripts failures: which effect class (0 auth, 1 store, 2 mint, 3 revoke, 4 start).
    Fail(u8, u32),
    /// A running agent emits something after `delay`.
    Agent(usize, Duration, AgentEvent),
    /// The agent of a job asks the lease gate.
    Authorize(usize, u8),
    /// Time passes.
    Advance(Duration),
    /// A few steps.
    Steps(u8),
    /// Client's link drops, time passes (maybe past the resume window), it reconnects.
    Outage(usize, Duration),
}

fn slot(u: &mut Unstructured<'_>, n: usize) -> Result<usize> {
    u.choose_index(n.max(1))
}

fn agent_event(u: &mut Unstructured<'_>) -> Result<AgentEvent> {
    Ok(match u.int_in_range(0..=8u8)? {
        0 => AgentEvent::Event(EventBody::Log(LogBody {
            level: "info".into(),
            message: "working".into(),
            attributes: None,
            extra: Default::default(),
        })),
        1 | 2 => AgentEvent::Event(EventBody::Metric(MetricBody {
            name: "cost.tokens".into(),
            value: MetricValue::Text(["0.40", "0.75", "0.01", "-0.1"][u.choose_index(4)?].into()),
            unit: Some("USD".into()),
            attributes: None,
            extra: Default::default(),
        })),
        3 => AgentEvent::ResultChunk {
            chunk_seq: u.int_in_range(0..=3u64)?,
            data: "x".repeat(u.int_in_range(0..=40usize)?),
            encoding: ChunkEncoding::Utf8,
            more: u.arbitrary()?,
        },
        4 | 5 => AgentEvent::Result {
            result: if u.arbitrary()? {
                Some(serde_json::json!({"ok": true}))
            } else {
                None
            },
            summary: None,
        },
        6 => AgentEvent::Error {
            code: ErrorCode::InternalError,
            message: "agent failed".into(),
            retryable: None,
        },
        7 => AgentEvent::Delegate {
            agent: AgentRef::new("echo", None),
            input: serde_json::json!("child"),
            lease: LeaseMap(vec![("tool.call".into(), vec!["paid-x".into()])]),
            lease_constraints: None,
        },
        _ => AgentEvent::CredentialRotated {
            id: format!("cred_sim_{}", u.int_in_range(1..=4u8)?),
            value: "rotated".into(),
        },
    })
}

fn ms(u: &mut Unstructured<'_>, max: u64) -> Result<Duration> {
    Ok(Duration::from_millis(u.int_in_range(0..=max)?))
}

/// Decodes one transition for a world with `clients` slots.
pub fn transition(u: &mut Unstructured<'_>, clients: usize) -> Result<Transition> {
    let c = slot(u, clients)?;
    Ok(match u.int_in_range(0..=23u8)? {
        0 | 1 => Transition::Connect(c),
        2 => Transition::Drop(c),
        3 => Transition::Replace(c),
        4..=6 => Transition::Submit {
            client: c,
            agent: AGENTS[u.choose_index(AGENTS.len())?],
            key: if u.arbitrary()? {
                Some(u.int_in_range(0..=2u8)?)
            } else {
                None
            },
            lease: u.arbitrary()?,
            max_runtime: if u.int_in_range(0..=3u8)? == 0 {
                Some(u.int_in_range(1..=4u32)?)
            } else {
                None
            },
        },
        7 => Transition::Cancel(c, u.arbitrary()?),
        8 => Transition::ListJobs(c),
        9 => Transition::Subscribe(c, u.arbitrary()?, u.arbitrary()?),
        10 => Transition::Unsubscribe(c, u.arbitrary()?),
        11 => Transition::Ack(c),
        12 => Transition::Ping(c),
        13 => Transition::Close(c),
        14 => Transition::Latency(c, ms(u, 800)?),
        15 => Transition::Duplicate(c),
        16 => {
            let max = super::host::MAX_HOST_LATENCY.as_millis() as u64;
            Transition::HostLatency(ms(u, max)?, ms(u, max)?, ms(u, max)?)
        }
        17 => Transition::Fail(u.int_in_range(0..=4u8)?, u.int_in_range(1..=3u32)?),
        18 | 19 => Transition::Agent(u.arbitrary()?, ms(u, 500)?, agent_event(u)?),
        20 => Transition::Authorize(u.arbitrary()?, u.int_in_range(0..=2u8)?),
        21 => Transition::Advance(Duration::from_millis(u.int_in_range(0..=25_000u64)?)),
        22 => Transition::Outage(c, Duration::from_millis(u.int_in_range(0..=30_000u64)?)),
        _ => Transition::Steps(u.int_in_range(1..=8u8)?),
    })
}

fn job(sim: &Sim, i: usize) -> Option<JobId> {
    if sim.jobs.is_empty() {
        return None;
    }
    sim.jobs.get(i % sim.jobs.len()).cloned()
}

/// Applies one transition.
pub fn apply(sim: &mut Sim, t: Transition) {
    sim.drain();
    apply_drained(sim, t);
}

/// [`apply`] from a drained state (see [`Sim::step_drained`]); ends with a drain.
fn apply_drained(sim: &mut Sim, t: Transition) {
    let now = sim.now();
    match t {
        Transition::Connect(i) => sim.connect(i),
        Transition::Drop(i) => sim.drop_link(i),
        Transition::Replace(i) => sim.replace(i),
        Transition::Submit {
            client,
            agent,
            key,
            lease,
            max_runtime,
        } => {
            let mut req = SubmitRequest::new(agent, serde_json::json!({"n": client}));
            if let Some(k) = key {
                req = req.idempotency_key(format!("key-{k}"));
            }
            if lease {
                req = req
                    .lease("tool.call", vec!["paid-*".into()])
                    .lease("cost.budget", vec!["USD:1.00".into()])
                    .lease("model.use", vec!["m/*".into()])
                    .lease("agent.delegate", vec!["echo".into()]);
            }
            if let Some(s) = max_runtime {
                req = req.max_runtime_sec(s);
            }
            if let Some(c) = sim.clients.get_mut(client) {
                let _ = c.session.submit(now, req);
            }
        }
        Transition::Cancel(i, j) => {
            if let (Some(job), Some(c)) = (job(sim, j), sim.clients.get_mut(i)) {
                let _ = c.session.cancel(now, &job, Some("sim"));
            }
        }
        Transition::ListJobs(i) => {
            if let Some(c) = sim.clients.get_mut(i) {
                let _ = c.session.list_jobs(now, ListJobsRequest::default());
            }
        }
        Transition::Subscribe(i, j, history) => {
            if let (Some(job), Some(c)) = (job(sim, j), sim.clients.get_mut(i)) {
                let _ = c.session.subscribe(now, &job, history, None);
            }
        }
        Transition::Unsubscribe(i, j) => {
            if let (Some(job), Some(c)) = (job(sim, j), sim.clients.get_mut(i)) {
                let _ = c.session.unsubscribe(now, &job);
            }
        }
        Transition::Ack(i) => {
            if let Some(c) = sim.clients.get_mut(i) {
                let seq = c.session.last_event_seq();
                let _ = c.session.ack(now, seq);
            }
        }
        Transition::Ping(i) => {
            if let Some(c) = sim.clients.get_mut(i) {
                let _ = c.session.ping(now);
            }
        }
        Transition::Close(i) => {
            if let Some(c) = sim.clients.get_mut(i) {
                let _ = c.session.close(now, "client.close");
            }
        }
        Transition::Latency(i, d) => {
            if let Some(c) = sim.clients.get_mut(i) {
                c.link.latency = d;
            }
        }
        Transition::Duplicate(i) => {
            if let Some(c) = sim.clients.get_mut(i) {
                c.link.duplicate_next = true;
            }
        }
        Transition::HostLatency(a, s, g) => {
            sim.host.script.auth_latency = a;
            sim.host.script.store_latency = s;
            sim.host.script.agent_latency = g;
        }
        Transition::Fail(kind, n) => {
            let s = &mut sim.host.script;
            match kind {
                0 => s.fail_auth = n,
                1 => s.fail_store = n,
                2 => s.fail_mint = n,
                3 => s.fail_revoke = n,
                _ => s.fail_start = n,
            }
        }
        Transition::Agent(j, delay, ev) => {
            let n = sim.host.running.len();
            if n > 0
                && let Some(job) = sim.host.running.keys().nth(j % n).cloned()
            {
                sim.host.agent_output(now, delay, &job, ev);
            }
        }
        Transition::Authorize(j, op) => {
            // Mostly a running job's agent asks; sometimes any known job.
            let n = sim.host.running.len();
            let pick = if n == 0 || j % 4 == 0 {
                job(sim, j)
            } else {
                sim.host.running.keys().nth(j % n).cloned()
            };
            if let Some(job) = pick {
                let op = match op {
                    0 => Operation::new("tool.call", "paid-search"),
                    1 => Operation::new("tool.call", "free-search"),
                    _ => Operation::new("agent.delegate", "echo"),
                };
                sim.authorize(&job, &op);
            }
        }
        Transition::Advance(d) => sim.run_until_drained(now + d),
        Transition::Outage(i, d) => {
            sim.drop_link(i);
            sim.run_until_drained(now + d);
            sim.connect(i);
        }
        Transition::Steps(n) => {
            for _ in 0..n {
                if !sim.step_drained() {
                    break;
                }
            }
        }
    }
    sim.drain();
}

/// Decodes the world (client slots, features, durability) and up to
/// [`MAX_TRANSITIONS`] transitions from `data`, runs them with every invariant checked after
/// each step, then heals the world and checks exactly-once delivery. Panics only on a broken
/// invariant. Returns the number of steps checked.
pub fn run(data: &[u8]) -> u64 {
    run_inner(data, &mut None)
}

/// Like [`run`], but records a readable trace; returns it with the panic message of a broken
/// invariant, if any.
pub fn run_traced(data: &[u8]) -> (Vec<String>, Option<String>) {
    let mut trace = Some(Vec::new());
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_inner(data, &mut trace);
    }));
    let msg = r.err().map(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    });
    (trace.unwrap_or_default(), msg)
}

struct TraceGuard<'a> {
    sim: Sim,
    out: &'a mut Option<Vec<String>>,
}

impl Drop for TraceGuard<'_> {
    fn drop(&mut self) {
        if self.out.is_some() {
            *self.out = self.sim.trace.take();
        }
    }
}

fn run_inner(data: &[u8], trace: &mut Option<Vec<String>>) -> u64 {
    let mut u = Unstructured::new(data);
    let clients = 1 + usize::from(u.arbitrary::<bool>().unwrap_or(false));
    let durable = u.int_in_range(0..=3u8).unwrap_or(1) == 0;
    let mut specs = Vec::new();
    for i in 0..clients {
        // Slot 0 is alice with every feature unless the input says otherwise.
        let all = u.int_in_range(0..=3u8).unwrap_or(0) != 0;
        let features = Feature::ALL
            .into_iter()
            .filter(|_| all || u.arbitrary::<bool>().unwrap_or(true))
            .collect();
        let token = if i == 0 {
            TOKENS[0]
        } else {
            TOKENS[u.choose_index(TOKENS.len()).unwrap_or(2)]
        };
        specs.push(ClientSpec {
            token,
            features,
            auto_ack: u.arbitrary().unwrap_or(true),
            auto_ping: u.arbitrary().unwrap_or(false),
        });
    }
    let mut sim = Sim::new(specs.clone(), durable);
    if trace.is_some() {
        sim.trace = Some(vec![format!("specs {specs:?} durable {durable}")]);
    }
    let mut guard = TraceGuard { sim, out: trace };
    let sim = &mut guard.sim;
    for i in 0..clients {
        sim.connect(i);
    }
    for _ in 0..MAX_TRANSITIONS {
        if u.is_empty() {
            break;
        }
        let Ok(t) = transition(&mut u, clients) else {
            break;
        };
        sim.log(|| format!("== {t:?}"));
        apply_drained(sim, t);
        // Every transition is followed by at least one step, so time moves. `apply` ends
        // with a drain.
        sim.step_drained();
    }
    sim.log(|| "== finish".into());
    sim.finish();
    sim.checker.steps
}
