//! The fake host: executes the runtime's effects with scripted latency and failures
//! (authentication, the durable store, agents, credential mint/revoke), and runs a small
//! scripted agent model whose outputs go back through `Runtime::handle_agent_event`.

use crate::runtime::{AgentEvent, ConnId, Effect, EffectId, EffectOutcome, StoredFrame};
use crate::time::Instant;
use crate::wire::{Credential, Frame, JobId};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Tokens the fake authenticator knows, with their principals.
pub const PRINCIPALS: [(&str, &str); 3] = [
    ("alice-token", "alice"),
    ("bob-token", "bob"),
    ("auditor-token", "auditor"),
];

/// The longest latency a script may give an effect (the generator's ceiling).
pub const MAX_HOST_LATENCY: Duration = Duration::from_millis(300);

/// What the host does next; the generator edits it between steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostScript {
    /// Delay of authentications.
    pub auth_latency: Duration,
    /// Delay of store effects (appends, reads, persists).
    pub store_latency: Duration,
    /// Delay of agent starts/cancels and credential mint/revoke.
    pub agent_latency: Duration,
    /// How many upcoming authentications fail.
    pub fail_auth: u32,
    /// How many upcoming store effects fail.
    pub fail_store: u32,
    /// How many upcoming credential mints fail.
    pub fail_mint: u32,
    /// How many upcoming credential revocations fail.
    pub fail_revoke: u32,
    /// How many upcoming agent starts fail.
    pub fail_start: u32,
}

impl Default for HostScript {
    fn default() -> Self {
        HostScript {
            auth_latency: Duration::from_millis(5),
            store_latency: Duration::from_millis(3),
            agent_latency: Duration::from_millis(4),
            fail_auth: 0,
            fail_store: 0,
            fail_mint: 0,
            fail_revoke: 0,
            fail_start: 0,
        }
    }
}

impl HostScript {
    /// The longest latency the script can give an effect, capped at [`MAX_HOST_LATENCY`].
    pub fn max_latency(&self) -> Duration {
        self.auth_latency
            .max(self.store_latency)
            .max(self.agent_latency)
            .min(MAX_HOST_LATENCY)
    }
}

/// Something the host will hand back to the runtime at `at`.
#[derive(Debug, Clone, PartialEq)]
pub enum HostAction {
    /// An effect's outcome.
    Complete(EffectId, EffectOutcome),
    /// A running agent's output.
    Agent(JobId, AgentEvent),
}

/// What the fake host holds.
#[derive(Debug, Default)]
pub struct Host {
    /// The script for the next effects.
    pub script: HostScript,
    /// Scheduled actions: (time, order of scheduling) → action.
    queue: BTreeMap<(Instant, u64), HostAction>,
    next: u64,
    /// Sequenced frames appended to the durable store.
    pub store: Vec<StoredFrame>,
    /// Jobs whose agent was started and not cancelled: job id → agent name.
    pub running: BTreeMap<JobId, String>,
    /// Every job the runtime started an agent for, in order.
    pub started: Vec<JobId>,
    /// Credentials minted: id → (job id, when). Recorded when the outcome is handed back.
    pub minted: BTreeMap<String, (JobId, Instant)>,
    /// Credentials whose revocation succeeded.
    pub revoked: BTreeSet<String>,
    /// Connections the runtime asked to close.
    pub closes: Vec<ConnId>,
    next_cred: u64,
    /// Mint effects in flight: effect → job.
    mint_jobs: BTreeMap<EffectId, JobId>,
    /// Revoke effects in flight: effect → credential.
    revoke_ids: BTreeMap<EffectId, String>,
}

impl Host {
    fn schedule(&mut self, at: Instant, action: HostAction) {
        self.next += 1;
        self.queue.insert((at, self.next), action);
    }

    fn take(counter: &mut u32) -> bool {
        if *counter > 0 {
            *counter -= 1;
            return true;
        }
        false
    }

    /// Schedules an agent output for `job` after `delay`.
    pub fn agent_output(&mut self, now: Instant, delay: Duration, job: &JobId, ev: AgentEvent) {
        self.schedule(now + delay, HostAction::Agent(job.to_owned(), ev));
    }

    /// Takes in one effect the runtime issued.
    pub fn on_effect(&mut self, now: Instant, id: EffectId, effect: Effect) {
        let s = self.script.clone();
        let failed = || EffectOutcome::Failed {
            message: "scripted failure".into(),
        };
        match effect {
            Effect::Authenticate { token, .. } => {
                let principal = PRINCIPALS.iter().find(|(t, _)| *t == token);
                let out = match principal {
                    Some((_, p)) if !Self::take(&mut self.script.fail_auth) => {
                        EffectOutcome::Authenticated {
                            principal: (*p).to_owned(),
                        }
                    }
                    _ => failed(),
                };
                self.schedule(now + s.auth_latency, HostAction::Complete(id, out));
            }
            Effect::StartAgent(start) => {
                let out = if Self::take(&mut self.script.fail_start) {
                    failed()
                } else {
                    self.running
                        .insert(start.job_id.clone(), start.agent.name.clone());
                    self.started.push(start.job_id.clone());
                    // The `echo` agent answers by itself; the others wait for the script.
                    if start.agent.name == "echo" {
                        self.agent_output(
                            now,
                            s.agent_latency * 2,
                            &start.job_id,
                            AgentEvent::Result {
                                result: Some(start.input.clone()),
                                summary: None,
                            },
                        );
                    }
                    EffectOutcome::Done
                };
                self.schedule(now + s.agent_latency, HostAction::Complete(id, out));
            }
            Effect::CancelAgent { job_id } => {
                self.running.remove(&job_id);
                self.schedule(
                    now + s.agent_latency,
                    HostAction::Complete(id, EffectOutcome::Done),
                );
            }
            Effect::MintCredentials { job_id, .. } => {
                self.mint_jobs.insert(id, job_id);
                let out = if Self::take(&mut self.script.fail_mint) {
                    failed()
                } else {
                    self.next_cred += 1;
                    EffectOutcome::Minted {
                        credentials: vec![Credential {
                            id: format!("cred_sim_{}", self.next_cred),
                            scheme: "bearer".into(),
                            value: format!("secret-{}", self.next_cred),
                            endpoint: None,
                            profile: None,
                            constraints: None,
                        }],
                    }
                };
                self.schedule(now + s.agent_latency, HostAction::Complete(id, out));
            }
            Effect::RevokeCredential { credential_id, .. } => {
                self.revoke_ids.insert(id, credential_id);
                let out = if Self::take(&mut self.script.fail_revoke) {
                    failed()
                } else {
                    EffectOutcome::Done
                };
                self.schedule(now + s.agent_latency, HostAction::Complete(id, out));
            }
            Effect::CloseConnection { conn, .. } => self.closes.push(conn),
            Effect::AppendEvents(frames) => {
                let fail = Self::take(&mut self.script.fail_store);
                if !fail {
                    self.store.extend(frames);
                }
                let out = if fail { failed() } else { EffectOutcome::Done };
                self.schedule(now + s.store_latency, HostAction::Complete(id, out));
            }
            Effect::ReadEvents {
                session_id,
                after_seq,
            } => {
                let out = if Self::take(&mut self.script.fail_store) {
                    failed()
                } else {
                    let frames: Vec<Frame> = self
                        .store
                        .iter()
                        .filter(|f| f.session_id == session_id && f.event_seq > after_seq)
                        .map(|f| Frame::clone(&f.frame))
                        .collect();
                    EffectOutcome::EventsRead { frames }
                };
                self.schedule(now + s.store_latency, HostAction::Complete(id, out));
            }
            Effect::PersistSession(_)
            | Effect::PersistJob(_)
            | Effect::PersistIdempotency(_)
            | Effect::PersistCredential(_) => {
                let out = if Self::take(&mut self.script.fail_store) {
                    failed()
                } else {
                    EffectOutcome::Done
                };
                self.schedule(now + s.store_latency, HostAction::Complete(id, out));
            }
            // The simulation runs one unclustered runtime: a cluster effect is refused.
            Effect::ClaimSession { .. }
            | Effect::ForwardJobMessage { .. }
            | Effect::ForwardCancel { .. }
            | Effect::LookupJob { .. }
            | Effect::ReadJobEvents { .. }
            | Effect::ListStoredJobs { .. }
            | Effect::AdmitJob { .. }
            | Effect::AdmitSession { .. } => {
                let out = EffectOutcome::Failed {
                    message: "not clustered".into(),
                };
                self.schedule(now + s.store_latency, HostAction::Complete(id, out));
            }
        }
    }

    /// When the next scheduled action is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(at, _)| *at)
    }

    /// Scheduled actions not yet handed back.
    pub fn scheduled(&self) -> usize {
        self.queue.len()
    }

    /// The next action due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<HostAction> {
        let key = *self.queue.keys().next()?;
        if key.0 > now {
            return None;
        }
        let action = self.queue.remove(&key)?;
        if let HostAction::Complete(id, out) = &action {
            if let (Some(job), EffectOutcome::Minted { credentials }) =
                (self.mint_jobs.remove(id), out)
            {
                for c in credentials {
                    self.minted.insert(c.id.clone(), (job.clone(), now));
                }
            }
            if let (Some(cred), EffectOutcome::Done) = (self.revoke_ids.remove(id), out) {
                self.revoked.insert(cred);
            }
        }
        Some(action)
    }
}
