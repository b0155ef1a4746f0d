//! The jobs part: every job the runtime remembers (running, and ended until
//! `finished_job_ttl`, bounded by `max_retained_jobs` and `max_finished_job_bytes`), in
//! submission order, with its lease and budget ([`lease`]), its
//! streamed result ([`chunks`]), its credentials and their revocation ([`credentials`]); the
//! idempotency keys of submits ([`idempotency`], [D27]) and the submits waiting for their
//! credentials; the `session.list_jobs` query ([`list`]).
//!
//! It stamps and sends nothing: the parent emits the frames a job's changes call for.
//!
//! [D27]: crate::compat#d27--idempotent-resubmit

pub(super) mod admission;
pub(super) mod chunks;
pub(super) mod credentials;
pub(super) mod delegation;
pub(super) mod idempotency;
pub(super) mod lease;
pub(super) mod list;
pub(super) mod remote;

use super::config::{Bounds, ObserverPolicy, RuntimeConfig};
use super::effect::{ConnId, JobRecord};
use super::fxhash::FxHashMap;
use crate::lease::Operation;
use crate::wire::{
    Accepted, AgentRef, Credential, ErrorCode, ErrorPayload, JobStatus, JobSummary,
    LeaseConstraints, LeaseMap, Message, MetricBody, Timestamp, TraceId,
};
use chunks::{Chunk, ChunkLimits, ChunkState};
use idempotency::{Entry, Idempotency};
use lease::JobLease;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Arc;

fn err(code: ErrorCode, msg: impl Into<String>) -> ErrorPayload {
    ErrorPayload::new(code, msg)
}

fn not_found(job_id: &str) -> ErrorPayload {
    err(ErrorCode::JobNotFound, format!("job {job_id:?} not found"))
}

/// A job that passed validation and waits for its credentials (or a delegated child).
#[derive(Debug)]
pub(super) struct NewJob {
    pub job_id: String,
    pub conn: Option<ConnId>,
    pub session_id: String,
    pub principal: String,
    /// `None` for a delegated child (no `job.accepted`).
    pub request_id: Option<String>,
    pub trace_id: Option<TraceId>,
    pub agent: AgentRef,
    pub input: Value,
    pub lease: JobLease,
    pub lease_constraints: Option<LeaseConstraints>,
    /// (key, canonical JSON of the submit) of a keyed submit ([D27]).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    pub idempotency: Option<(String, String)>,
    pub max_runtime_sec: Option<u32>,
    pub parent_job_id: Option<String>,
    pub delegate_id: Option<String>,
}

/// An idempotent resubmit that arrived while its job's credentials were minted ([D27]):
/// answered once the job is accepted.
///
/// [D27]: crate::compat#d27--idempotent-resubmit
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Waiter {
    pub conn: ConnId,
    pub session_id: String,
    pub request_id: String,
}

/// (Clustered) a submit waiting for the shared store's admission (`jobs/admission.rs`).
#[derive(Debug)]
pub(in crate::runtime) struct Admitting {
    /// The job to accept once admitted.
    pub nj: NewJob,
    /// `Duplicate` answers without a `job.accepted` so far.
    pub unaccepted: u32,
}

/// One revocation under way: a credential's value (the current one at the job's end, an old
/// one after a rotation, `None` when only the id is known: after a restart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::runtime) struct Revocation {
    /// Distinguishes revocations of one job (the key of its effect and retry timer).
    pub serial: u32,
    pub credential_id: String,
    pub value: Option<String>,
    pub attempts: u32,
}

/// A child of a job: its id and the budget it reserved from the parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::runtime) struct Child {
    pub job_id: String,
    pub reserved: Option<crate::wire::Budget>,
}

/// One job: while it runs, then until `finished_job_ttl` after its end (bounded by
/// `max_retained_jobs` and `max_finished_job_bytes`).
#[derive(Debug)]
pub(super) struct Job {
    id: String,
    principal: String,
    /// The submitting session; its frames carry this session's `event_seq`. Shared: every
    /// frame the job emits looks it up.
    session_id: Arc<str>,
    agent: AgentRef,
    status: JobStatus,
    lease: JobLease,
    lease_constraints: Option<LeaseConstraints>,
    trace_id: Option<TraceId>,
    parent_job_id: Option<String>,
    delegate_id: Option<String>,
    submitted_at: Timestamp,
    credentials: Vec<Credential>,
    /// The `job.accepted` payload, replayed on an idempotent resubmit ([D27]).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    accepted: Option<Accepted>,
    /// The terminal message, copied on an idempotent resubmit ([D27]).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    terminal: Option<Message>,
    /// Highest `event_seq` in the submitting session's numbering ([D11]).
    ///
    /// [D11]: crate::compat#d11--job-list-entries
    last_event_seq: u64,
    /// Its first `event_seq` there (0: none yet; a subscriber's history gap check).
    first_event_seq: u64,
    chunks: ChunkState,
    /// Revocations under way (bounded by the job's credentials and their rotations, each
    /// ending after `revoke_attempts`).
    revoking: Vec<Revocation>,
    /// The serial of the last revocation started.
    next_revocation: u32,
    /// Live children (accepted or minting) and what each reserved (§10); bounded by the
    /// job caps, as each is a job.
    children: Vec<Child>,
    /// `accepted` and `terminal` are kept: they are only ever read to answer an idempotent
    /// resubmit ([D27]; the job had an idempotency key) or to persist the job (durable store).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    replayable: bool,
    /// A `MaxRuntime` or `LeaseExpiry` deadline was set for this job (only then does its end
    /// cancel them).
    timed: bool,
    /// Encoded bytes of `accepted` and `terminal` (counted in `Jobs::kept_bytes`).
    kept: usize,
    /// Submitted with an idempotency key ([D27]): remembered at least the key's TTL.
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    keyed: bool,
    /// Estimated heap bytes of this record once it finished (counted in
    /// `Jobs::finished_bytes`); 0 while it runs.
    record: usize,
}

/// Encoded length of `message` (in an envelope with an empty id), without building the text.
fn message_len(message: Message) -> (usize, Message) {
    let frame = crate::wire::Frame::new(String::new(), message);
    (frame.encoded_len(), frame.message)
}

/// Compact-JSON length of `v`, without building the text.
fn encoded_len<T: serde::Serialize>(v: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Serializing wire types cannot fail; a failure would only undercount.
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

impl Job {
    /// The job `nj` accepted at `submitted_at` with `credentials`; `accepted` is its
    /// `job.accepted` payload, kept when `replayable` (idempotency key or durable store).
    pub fn new(
        nj: &NewJob,
        submitted_at: Timestamp,
        credentials: Vec<Credential>,
        accepted: &Accepted,
        replayable: bool,
    ) -> Job {
        let accepted = (replayable && nj.request_id.is_some()).then(|| accepted.clone());
        Job {
            kept: accepted.as_ref().map_or(0, encoded_len),
            id: nj.job_id.clone(),
            principal: nj.principal.clone(),
            session_id: nj.session_id.as_str().into(),
            agent: nj.agent.clone(),
            status: JobStatus::Running,
            lease: nj.lease.clone(),
            lease_constraints: nj.lease_constraints.clone(),
            trace_id: nj.trace_id,
            parent_job_id: nj.parent_job_id.clone(),
            delegate_id: nj.delegate_id.clone(),
            submitted_at,
            credentials,
            accepted,
            terminal: None,
            last_event_seq: 0,
            first_event_seq: 0,
            chunks: ChunkState::default(),
            revoking: Vec::new(),
            next_revocation: 0,
            children: Vec::new(),
            replayable,
            timed: nj.max_runtime_sec.is_some() || nj.lease.expires_at.is_some(),
            keyed: nj.idempotency.is_some(),
            record: 0,
        }
    }

    /// Estimated heap bytes of the record: the struct, its map key and order entry, its
    /// strings and the encoded sizes of its agent, lease, constraints and credentials (the
    /// kept [D27] messages are counted apart, in `kept`).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    fn estimate(&self) -> usize {
        std::mem::size_of::<Job>()
            + 2 * std::mem::size_of::<String>()
            + 3 * self.id.len()
            + self.principal.len()
            + self.session_id.len()
            + self.parent_job_id.as_ref().map_or(0, String::len)
            + self.delegate_id.as_ref().map_or(0, String::len)
            + encoded_len(&self.submitted_at)
            + encoded_len(&self.agent)
            + encoded_len(&self.lease.map)
            + self.lease_constraints.as_ref().map_or(0, encoded_len)
            + encoded_len(&self.credentials)
    }

    /// `true` when it must be remembered at least the idempotency TTL ([D27]).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    pub fn keyed(&self) -> bool {
        self.keyed
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// The submitting session.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The submitting session, shared (no copy of the string).
    pub fn shared_session_id(&self) -> Arc<str> {
        Arc::clone(&self.session_id)
    }

    pub fn agent(&self) -> &AgentRef {
        &self.agent
    }

    /// Its highest and first `event_seq` in the submitting session's numbering (0: none).
    pub fn event_seqs(&self) -> (u64, u64) {
        (self.last_event_seq, self.first_event_seq)
    }

    pub fn status(&self) -> JobStatus {
        self.status
    }

    pub fn lease(&self) -> &JobLease {
        &self.lease
    }

    pub fn lease_constraints(&self) -> Option<&LeaseConstraints> {
        self.lease_constraints.as_ref()
    }

    pub fn trace_id(&self) -> Option<TraceId> {
        self.trace_id
    }

    pub fn parent_job_id(&self) -> Option<&str> {
        self.parent_job_id.as_deref()
    }

    pub fn credentials(&self) -> &[Credential] {
        &self.credentials
    }

    /// The kept `job.accepted` payload ([D27]).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    pub fn accepted(&self) -> Option<&Accepted> {
        self.accepted.as_ref()
    }

    /// The kept terminal message ([D27]).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    pub fn terminal(&self) -> Option<&Message> {
        self.terminal.as_ref()
    }

    /// The durable record.
    pub fn record(&self) -> JobRecord {
        JobRecord {
            job_id: self.id.clone().into(),
            session_id: (*self.session_id).into(),
            principal: self.principal.clone(),
            agent: self.agent.clone(),
            status: self.status,
            submitted_at: self.submitted_at.clone(),
            last_event_seq: self.last_event_seq,
            lease: self.lease.map.clone(),
            lease_constraints: self.lease_constraints.clone(),
            trace_id: self.trace_id,
            parent_job_id: self.parent_job_id.clone().map(Into::into),
            delegate_id: self.delegate_id.clone(),
            // §9.8: no credential value in durable storage.
            accepted: self.accepted.clone().map(|mut a| {
                super::redact::redact_accepted(&mut a);
                a
            }),
            terminal: self.terminal.clone(),
        }
    }

    /// Its `session.jobs` entry (§6.6, [D11]).
    ///
    /// [D11]: crate::compat#d11--job-list-entries
    pub fn summary(&self) -> JobSummary {
        JobSummary {
            job_id: self.id.clone().into(),
            agent: self.agent.to_string(),
            status: self.status,
            submitted_at: Some(self.submitted_at.clone()),
            parent_job_id: self.parent_job_id.clone().map(Into::into),
            delegate_id: self.delegate_id.clone(),
            trace_id: self.trace_id,
            created_at: Some(self.submitted_at.clone()),
            lease: Some(self.lease.map.clone()),
            last_event_seq: Some(self.last_event_seq),
        }
    }
}

/// What making room for one more job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Room {
    /// There was room.
    Free,
    /// The oldest ended job was forgotten (its subscriptions must end).
    Forgot(String),
    /// Every remembered job is unfinished.
    Full,
}

/// How a job ended, for the parent to finish the job's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ended {
    /// The submitting session (its job slot is released).
    pub session_id: String,
    /// Its deadlines must be cancelled.
    pub timed: bool,
}

/// (Clustered) the remote jobs known here, in registration order (see [`remote`]).
#[derive(Debug, Default)]
struct RemoteJobs {
    map: FxHashMap<String, JobRecord>,
    order: VecDeque<String>,
}

/// Every job, the idempotency keys and the submits waiting for credentials.
#[derive(Debug)]
pub(super) struct Jobs {
    map: FxHashMap<String, Job>,
    /// Job ids in submission order (for `list_jobs` and retention).
    order: VecDeque<String>,
    idem: Idempotency,
    /// Jobs waiting for their credentials → idempotent resubmits waiting for them.
    minting: FxHashMap<String, Vec<Waiter>>,
    max_retained: usize,
    chunk_limits: ChunkLimits,
    /// Encoded bytes of every kept `job.accepted` and terminal message ([D27]).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    kept_bytes: usize,
    max_kept_bytes: usize,
    /// Estimated heap bytes of every finished record (`Job::record`).
    finished_bytes: usize,
    max_finished_bytes: usize,
    /// (Clustered) jobs of sessions held here that run on other nodes.
    remote: RemoteJobs,
    /// (Clustered) submits waiting for the shared store's admission, by job id.
    admitting: FxHashMap<String, Admitting>,
}

impl Jobs {
    pub fn new(bounds: &Bounds) -> Self {
        Jobs {
            map: FxHashMap::default(),
            order: VecDeque::new(),
            idem: Idempotency::new(bounds.max_idempotency_entries, bounds.idempotency_ttl),
            minting: FxHashMap::default(),
            max_retained: bounds.max_retained_jobs,
            chunk_limits: ChunkLimits {
                max_chunk: bounds.max_chunk_bytes,
                max_total: bounds.max_result_bytes,
            },
            kept_bytes: 0,
            max_kept_bytes: bounds.max_kept_terminal_bytes,
            finished_bytes: 0,
            max_finished_bytes: bounds.max_finished_job_bytes,
            remote: RemoteJobs::default(),
            admitting: FxHashMap::default(),
        }
    }

    #[inline]
    pub fn get(&self, id: &str) -> Option<&Job> {
        self.map.get(id)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Jobs in submission order.
    pub fn in_order(&self) -> impl Iterator<Item = &Job> {
        self.order.iter().filter_map(|id| self.map.get(id))
    }

    /// `Ok` while `id` runs; `JOB_NOT_FOUND` or (ended) `INVALID_REQUEST` otherwise.
    #[inline]
    pub fn check_live(&self, id: &str) -> Result<&Job, ErrorPayload> {
        match self.map.get(id) {
            None => Err(not_found(id)),
            Some(j) if j.status.is_terminal() => {
                Err(err(ErrorCode::InvalidRequest, "the job has ended"))
            }
            Some(j) => Ok(j),
        }
    }

    /// Forgets the oldest ended job when the retention cap is reached.
    pub fn make_room(&mut self) -> Room {
        if self.map.len() < self.max_retained {
            return Room::Free;
        }
        let victim = self
            .order
            .iter()
            .position(|j| self.map.get(j).is_none_or(|j| j.status.is_terminal()));
        let Some(pos) = victim else {
            return Room::Full;
        };
        match self.order.remove(pos) {
            Some(id) if self.forget(&id) => Room::Forgot(id),
            _ => Room::Free,
        }
    }

    /// Drops `id` from the map (not from `order`); `false` when unknown.
    fn forget(&mut self, id: &str) -> bool {
        match self.map.remove(id) {
            Some(j) => {
                self.kept_bytes = self.kept_bytes.saturating_sub(j.kept);
                self.finished_bytes = self.finished_bytes.saturating_sub(j.record);
                true
            }
            None => false,
        }
    }

    /// Forgets job `id` at once, running or not (this node lost its cluster: another node
    /// ends it); `false` when unknown.
    pub fn drop_job(&mut self, id: &str) -> bool {
        if let Some(pos) = self.order.iter().position(|j| j == id) {
            self.order.remove(pos);
        }
        self.forget(id)
    }

    /// Bytes this part retains: the kept [D27] messages and the finished records.
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    pub fn retained_bytes(&self) -> usize {
        self.kept_bytes.saturating_add(self.finished_bytes)
    }

    /// [`retained_bytes`](Self::retained_bytes) recomputed from every record (the
    /// simulation's check of the incremental figure).
    #[cfg(feature = "fuzzing")]
    pub fn recount(&self) -> usize {
        self.map.values().map(|j| j.kept + j.record).sum()
    }

    /// Forgets finished job `id` (its expiry): `Some(true)` forgotten, `Some(false)` kept
    /// because revocations of its credentials are under way (expire it later), `None` when
    /// it is unknown or still runs.
    pub fn expire_finished(&mut self, id: &str) -> Option<bool> {
        let job = self.map.get(id).filter(|j| j.status.is_terminal())?;
        if !job.revoking.is_empty() {
            return Some(false);
        }
        if let Some(pos) = self.order.iter().position(|j| j == id) {
            self.order.remove(pos);
        }
        Some(self.forget(id))
    }

    /// Forgets the oldest finished jobs while their records exceed
    /// `max_finished_job_bytes`; returns the forgotten ids (their subscriptions and expiry
    /// timers must end).
    pub fn trim_finished(&mut self) -> Vec<String> {
        let mut forgot = Vec::new();
        while self.finished_bytes > self.max_finished_bytes {
            let victim = self.order.iter().position(|j| {
                self.map.get(j).is_some_and(|j| {
                    j.status.is_terminal() && j.record > 0 && j.revoking.is_empty()
                })
            });
            let Some(id) = victim.and_then(|pos| self.order.remove(pos)) else {
                break;
            };
            self.forget(&id);
            forgot.push(id);
        }
        forgot
    }

    /// Forgets the oldest ended jobs that keep messages while those exceed
    /// `max_kept_terminal_bytes`; returns the forgotten ids (their subscriptions must end).
    pub fn trim_kept(&mut self) -> Vec<String> {
        let mut forgot = Vec::new();
        while self.kept_bytes > self.max_kept_bytes {
            let victim = self.order.iter().position(|j| {
                self.map
                    .get(j)
                    .is_some_and(|j| j.status.is_terminal() && j.kept > 0)
            });
            let Some(id) = victim.and_then(|pos| self.order.remove(pos)) else {
                break;
            };
            self.forget(&id);
            forgot.push(id);
        }
        forgot
    }

    /// Remembers a new (or restored) job, last in submission order.
    pub fn insert(&mut self, job: Job) {
        self.kept_bytes = self.kept_bytes.saturating_add(job.kept);
        self.finished_bytes = self.finished_bytes.saturating_add(job.record);
        self.order.push_back(job.id.clone());
        self.map.insert(job.id.clone(), job);
    }

    /// Rebuilds a job from its record; `Some(unfinished)`, or `None` when even an empty
    /// lease cannot be parsed (never for a record this runtime wrote).
    pub fn restore(&mut self, r: JobRecord) -> Option<bool> {
        let lease = JobLease::parse(&r.lease, r.lease_constraints.as_ref())
            .or_else(|_| JobLease::parse(&LeaseMap::default(), None))
            .ok()?;
        let unfinished = !r.status.is_terminal();
        let (terminal_len, terminal) = match r.terminal {
            Some(m) => {
                let (len, m) = message_len(m);
                (len, Some(m))
            }
            None => (0, None),
        };
        let kept = r.accepted.as_ref().map_or(0, encoded_len) + terminal_len;
        let mut job = Job {
            id: r.job_id.into(),
            principal: r.principal,
            session_id: r.session_id.as_str().into(),
            agent: r.agent,
            status: r.status,
            lease,
            lease_constraints: r.lease_constraints,
            trace_id: r.trace_id,
            parent_job_id: r.parent_job_id.map(Into::into),
            delegate_id: r.delegate_id,
            submitted_at: r.submitted_at,
            credentials: Vec::new(),
            accepted: r.accepted,
            terminal,
            last_event_seq: r.last_event_seq,
            // Unknown after a restart: its history is in the store only.
            first_event_seq: u64::from(r.last_event_seq > 0),
            chunks: ChunkState::default(),
            revoking: Vec::new(),
            next_revocation: 0,
            children: Vec::new(),
            replayable: true,
            // A restored job has no deadlines armed.
            timed: false,
            kept,
            // Unknown after a restart: its idempotency record may name it.
            keyed: true,
            record: 0,
        };
        if !unfinished {
            job.record = job.estimate();
        }
        self.insert(job);
        Some(unfinished)
    }

    // ---- idempotency (D27) ----

    /// The live entry of `principal`'s `key`.
    pub fn idempotent(
        &mut self,
        now: crate::time::Instant,
        principal: &str,
        key: &str,
    ) -> Option<&Entry> {
        self.idem.get(now, principal, key)
    }

    /// Remembers `key` for `job_id` unless it already names it.
    pub fn remember_key(
        &mut self,
        now: crate::time::Instant,
        principal: &str,
        key: &str,
        fingerprint: &str,
        job_id: &str,
    ) {
        let reserved = self
            .idem
            .get(now, principal, key)
            .is_some_and(|e| e.job_id == job_id);
        if !reserved {
            self.idem.insert(
                now,
                principal,
                key,
                fingerprint.to_owned(),
                job_id.to_owned(),
            );
        }
    }

    /// Reserves `key` for `job_id` while its credentials are minted.
    pub fn reserve_key(
        &mut self,
        now: crate::time::Instant,
        principal: &str,
        key: &str,
        fingerprint: &str,
        job_id: &str,
    ) {
        self.idem.insert(
            now,
            principal,
            key,
            fingerprint.to_owned(),
            job_id.to_owned(),
        );
    }

    /// Forgets `key` (its submit failed before a job existed).
    pub fn forget_key(&mut self, principal: &str, key: &str) {
        self.idem.remove(principal, key);
    }

    // ---- credentials being minted ----

    /// `job_id`'s credentials are being minted (or, clustered, its admission is under way):
    /// idempotent resubmits wait for it.
    pub fn start_minting(&mut self, job_id: &str) {
        // Resubmits already waiting (behind a cluster admission) keep waiting.
        self.minting.entry(job_id.to_owned()).or_default();
    }

    /// Queues `w` behind `job_id`'s minting; `false` when it is not minting.
    pub fn wait_for_minting(&mut self, job_id: &str, w: Waiter) -> bool {
        match self.minting.get_mut(job_id) {
            Some(waiters) => {
                waiters.push(w);
                true
            }
            None => false,
        }
    }

    /// Minting of `job_id` ended: the resubmits that waited for it.
    pub fn end_minting(&mut self, job_id: &str) -> Vec<Waiter> {
        self.minting.remove(job_id).unwrap_or_default()
    }

    // ---- a running job ----

    /// The lease gate ([D30]): expiry, patterns, budget — for a live job only.
    ///
    /// [D30]: crate::compat#d30--expiry
    pub fn authorize(
        &self,
        id: &str,
        wall_now: &Timestamp,
        op: &Operation,
    ) -> Result<(), ErrorPayload> {
        self.check_live(id)?.lease.authorize(wall_now, op)
    }

    /// [`Jobs::authorize`], returning the target as matched (see
    /// [`crate::lease::authorize_target`]).
    pub fn authorize_target(
        &self,
        id: &str,
        wall_now: &Timestamp,
        op: &Operation,
    ) -> Result<String, ErrorPayload> {
        self.check_live(id)?.lease.authorize_target(wall_now, op)
    }

    /// Applies a cost metric to `id`'s budget (see [`JobLease::apply_cost`]).
    pub fn apply_cost(
        &mut self,
        id: &str,
        metric: &MetricBody,
    ) -> Result<Option<Option<MetricBody>>, ErrorPayload> {
        match self.map.get_mut(id) {
            Some(j) => j.lease.apply_cost(metric),
            None => Ok(None),
        }
    }

    /// The highest seq of `id` in its session's numbering ([D11]).
    ///
    /// [D11]: crate::compat#d11--job-list-entries
    #[inline]
    pub fn set_last_event_seq(&mut self, id: &str, seq: u64) {
        if let Some(j) = self.map.get_mut(id) {
            j.last_event_seq = seq;
            if j.first_event_seq == 0 {
                j.first_event_seq = seq;
            }
        }
    }

    /// One result chunk of `id` ([D32]): the chunks to emit, or the failure ending the job.
    ///
    /// [D32]: crate::compat#d32--chunk-order
    pub fn chunk(
        &mut self,
        id: &str,
        chunk: Chunk,
        mint: impl FnOnce() -> String,
    ) -> Result<Vec<crate::wire::ResultChunkBody>, (ErrorCode, String)> {
        let limits = self.chunk_limits;
        match self.map.get_mut(id) {
            Some(j) => j.chunks.push(chunk, limits, mint),
            None => Ok(Vec::new()),
        }
    }

    /// The chunk `id` holds back, to send before its terminal ([D32]).
    ///
    /// [D32]: crate::compat#d32--chunk-order
    pub fn take_held_chunk(
        &mut self,
        id: &str,
        success: bool,
    ) -> Option<crate::wire::ResultChunkBody> {
        self.map.get_mut(id)?.chunks.take_held(success)
    }

    /// `(result_id, result_size)` of a streamed result.
    pub fn streamed(&self, id: &str) -> Option<(String, u64)> {
        self.map.get(id)?.chunks.streamed()
    }

    /// Ends `id` with `status` and its terminal `message` (kept when replayable); `None`
    /// when it is unknown or already ended (a job ends once).
    pub fn end(&mut self, id: &str, status: JobStatus, message: &Message) -> Option<Ended> {
        let job = self.map.get_mut(id)?;
        if job.status.is_terminal() {
            return None;
        }
        job.status = status;
        if job.replayable {
            let (len, message) = message_len(message.clone());
            job.kept += len;
            self.kept_bytes = self.kept_bytes.saturating_add(len);
            job.terminal = Some(message);
        }
        job.record = job.estimate();
        self.finished_bytes = self.finished_bytes.saturating_add(job.record);
        Some(Ended {
            session_id: job.session_id.to_string(),
            timed: job.timed,
        })
    }

    /// `job.cancel` by session `sid` of `principal` ([D6], [D7], [D37]): `Ok(true)` to cancel,
    /// `Ok(false)` when already ended, `Err` the refusal.
    ///
    /// [D6]: crate::compat#d6--cancel
    /// [D7]: crate::compat#d7--who-may-cancel
    /// [D37]: crate::compat#d37--existence-leak
    pub fn may_cancel(
        &self,
        id: &str,
        principal: &str,
        sid: &str,
        policy: &ObserverPolicy,
    ) -> Result<bool, ErrorPayload> {
        match self.map.get(id) {
            Some(j) if policy.may_observe(principal, &j.principal) => {
                if *j.session_id != *sid {
                    Err(err(
                        ErrorCode::PermissionDenied,
                        "only the submitting session may cancel this job",
                    ))
                } else {
                    Ok(!j.status.is_terminal())
                }
            }
            _ => Err(not_found(id)),
        }
    }

    /// The lease a child of `parent_id` runs under ([D28]): a subset of the parent's, checked
    /// against its live counters; a child without `expires_at` inherits the parent's. The
    /// caller has checked the parent with [`Jobs::check_parent`].
    ///
    /// [D28]: crate::compat#d28--delegation
    pub fn child_lease(&self, parent_id: &str, lease: &JobLease) -> Result<JobLease, ErrorPayload> {
        match self.map.get(parent_id) {
            Some(p) => lease.subset_of(&p.lease),
            None => Err(not_found(parent_id)),
        }
    }
}

/// Resolves `name[@version]` against the inventory (§7.5).
pub(super) fn resolve_agent(cfg: &RuntimeConfig, r: &AgentRef) -> Result<AgentRef, ErrorPayload> {
    let Some(spec) = cfg.agent(&r.name) else {
        return Err(err(
            ErrorCode::AgentNotAvailable,
            format!("agent {:?} is not available", r.name),
        ));
    };
    match &r.version {
        Some(v) if spec.versions.iter().any(|x| x == v) => Ok(r.clone()),
        Some(v) => Err(err(
            ErrorCode::AgentVersionNotAvailable,
            format!("agent {:?} has no version {v:?}", r.name),
        )),
        None => Ok(AgentRef::new(
            r.name.clone(),
            spec.default_version().map(str::to_owned),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::credentials::Revoke;
    use super::*;
    use crate::wire::{FinalStatus, JobResult, ListJobs};

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_unix_micros(1_795_483_825_000_000 + s * 1_000_000)
    }

    fn new_job(id: &str, principal: &str, session: &str, keyed: bool) -> NewJob {
        NewJob {
            job_id: id.into(),
            conn: Some(ConnId(1)),
            session_id: session.into(),
            principal: principal.into(),
            request_id: Some(format!("req_{id}")),
            trace_id: None,
            agent: AgentRef::new("echo", Some("1.0.0".into())),
            input: Value::Null,
            lease: JobLease::parse(&LeaseMap::default(), None).expect("empty lease"),
            lease_constraints: None,
            idempotency: keyed.then(|| ("k".to_owned(), "{}".to_owned())),
            max_runtime_sec: None,
            parent_job_id: None,
            delegate_id: None,
        }
    }

    fn accepted(nj: &NewJob, creds: &[Credential]) -> Accepted {
        Accepted {
            job_id: nj.job_id.clone().into(),
            agent: nj.agent.clone(),
            accepted_at: ts(0),
            lease: LeaseMap::default(),
            lease_constraints: None,
            budget: None,
            parent_job_id: None,
            delegate_id: None,
            trace_id: None,
            credentials: (!creds.is_empty()).then(|| creds.to_vec()),
            request_id: nj.request_id.clone().map(Into::into),
        }
    }

    fn cred(id: &str) -> Credential {
        Credential {
            id: id.into(),
            scheme: "bearer".into(),
            value: "secret".into(),
            endpoint: None,
            profile: None,
            constraints: None,
        }
    }

    fn add(jobs: &mut Jobs, id: &str, principal: &str, session: &str, replayable: bool) {
        let nj = new_job(id, principal, session, replayable);
        let acc = accepted(&nj, &[]);
        jobs.insert(Job::new(&nj, ts(0), Vec::new(), &acc, replayable));
    }

    fn result() -> Message {
        Message::Result(JobResult {
            final_status: FinalStatus::Success,
            result: None,
            result_id: None,
            result_size: None,
            summary: None,
            completed_at: None,
        })
    }

    fn bounds(max_retained: usize) -> Bounds {
        Bounds {
            max_retained_jobs: max_retained,
            ..Bounds::default()
        }
    }

    #[test]
    fn retention_forgets_the_oldest_ended_job_only() {
        let mut jobs = Jobs::new(&bounds(2));
        assert_eq!(jobs.make_room(), Room::Free);
        add(&mut jobs, "job_1", "alice", "sess_1", false);
        add(&mut jobs, "job_2", "alice", "sess_1", false);
        assert_eq!(jobs.make_room(), Room::Full);
        assert!(jobs.end("job_2", JobStatus::Success, &result()).is_some());
        assert_eq!(jobs.make_room(), Room::Forgot("job_2".into()));
        assert_eq!(jobs.len(), 1);
        let order: Vec<_> = jobs.in_order().map(Job::id).collect();
        assert_eq!(order, vec!["job_1"]);
    }

    #[test]
    fn a_job_ends_once_and_keeps_its_terminal_only_when_replayable_d27() {
        let mut jobs = Jobs::new(&bounds(10));
        add(&mut jobs, "job_1", "alice", "sess_1", true);
        add(&mut jobs, "job_2", "alice", "sess_2", false);
        assert_eq!(
            jobs.end("job_1", JobStatus::Success, &result()),
            Some(Ended {
                session_id: "sess_1".into(),
                timed: false
            })
        );
        assert_eq!(jobs.end("job_1", JobStatus::Error, &result()), None);
        assert_eq!(jobs.end("job_9", JobStatus::Error, &result()), None);
        jobs.end("job_2", JobStatus::Cancelled, &result());
        let j1 = jobs.get("job_1").expect("job_1");
        assert_eq!(j1.status(), JobStatus::Success);
        assert_eq!(j1.terminal(), Some(&result()));
        assert_eq!(
            j1.accepted().and_then(|a| a.request_id.as_deref()),
            Some("req_job_1")
        );
        let j2 = jobs.get("job_2").expect("job_2");
        assert_eq!((j2.terminal(), j2.accepted()), (None, None));
        assert_eq!(
            jobs.check_live("job_1").map(|_| ()).map_err(|e| e.message),
            Err("the job has ended".to_owned())
        );
        assert_eq!(
            jobs.check_live("job_9").map(|_| ()).map_err(|e| e.code),
            Err(ErrorCode::JobNotFound)
        );
    }

    #[test]
    fn only_the_submitting_session_cancels_d7_d37() {
        let mut jobs = Jobs::new(&bounds(10));
        add(&mut jobs, "job_1", "alice", "sess_1", false);
        let policy = ObserverPolicy {
            observers: vec!["ops".into()],
        };
        let verdict = |jobs: &Jobs, p: &str, s: &str| {
            jobs.may_cancel("job_1", p, s, &policy)
                .map_err(|e| (e.code, e.message))
        };
        assert_eq!(verdict(&jobs, "alice", "sess_1"), Ok(true));
        assert_eq!(
            verdict(&jobs, "ops", "sess_9"),
            Err((
                ErrorCode::PermissionDenied,
                "only the submitting session may cancel this job".to_owned()
            ))
        );
        assert_eq!(
            verdict(&jobs, "bob", "sess_1"),
            Err((ErrorCode::JobNotFound, "job \"job_1\" not found".to_owned()))
        );
        jobs.end("job_1", JobStatus::Success, &result());
        assert_eq!(verdict(&jobs, "alice", "sess_1"), Ok(false));
    }

    #[test]
    fn idempotency_keys_and_minting_waiters_d27() {
        let mut jobs = Jobs::new(&bounds(10));
        let t = crate::time::Instant::from_millis(0);
        jobs.reserve_key(t, "alice", "k", "{}", "job_1");
        jobs.start_minting("job_1");
        let w = Waiter {
            conn: ConnId(2),
            session_id: "sess_2".into(),
            request_id: "r2".into(),
        };
        assert!(jobs.wait_for_minting("job_1", w.clone()));
        assert!(!jobs.wait_for_minting("job_9", w.clone()));
        assert_eq!(jobs.end_minting("job_1"), vec![w]);
        assert_eq!(jobs.end_minting("job_1"), Vec::new());
        let e = jobs.idempotent(t, "alice", "k").expect("key");
        assert_eq!((e.fingerprint.as_str(), e.job_id.as_str()), ("{}", "job_1"));
        assert!(jobs.idempotent(t, "bob", "k").is_none());
        jobs.remember_key(t, "alice", "k", "{\"x\":1}", "job_1");
        assert_eq!(
            jobs.idempotent(t, "alice", "k")
                .map(|e| e.fingerprint.clone()),
            Some("{}".to_owned())
        );
        jobs.forget_key("alice", "k");
        assert!(jobs.idempotent(t, "alice", "k").is_none());
    }

    #[test]
    fn revocation_retries_up_to_the_limit() {
        let mut jobs = Jobs::new(&bounds(10));
        let nj = new_job("job_1", "alice", "sess_1", false);
        let creds = vec![cred("cred_a"), cred("cred_b")];
        let acc = accepted(&nj, &creds);
        jobs.insert(Job::new(&nj, ts(0), creds, &acc, false));
        assert_eq!(
            jobs.rotate_credential("job_1", "cred_a", "new"),
            Ok("secret".to_owned())
        );
        assert_eq!(
            jobs.get("job_1").map(|j| j.credentials()[0].value.as_str()),
            Some("new")
        );
        assert_eq!(
            jobs.rotate_credential("job_1", "cred_x", "v")
                .map_err(|e| e.message),
            Err("job has no credential \"cred_x\"".to_owned())
        );
        let started: Vec<(u32, String, Option<String>)> = jobs
            .start_revoking("job_1")
            .into_iter()
            .map(|r| (r.serial, r.credential_id, r.value))
            .collect();
        assert_eq!(
            started,
            vec![
                (1, "cred_a".to_owned(), Some("new".to_owned())),
                (2, "cred_b".to_owned(), Some("secret".to_owned())),
            ]
        );
        assert_eq!(jobs.revoke_answered("job_1", 1, false, 2), Revoke::Done);
        assert_eq!(jobs.revoke_answered("job_1", 1, false, 2), Revoke::Unknown);
        assert_eq!(jobs.revoke_answered("job_1", 2, true, 2), Revoke::Retry(1));
        assert_eq!(
            jobs.retry_revoke("job_1", 2).map(|r| r.credential_id),
            Some("cred_b".to_owned())
        );
        assert_eq!(jobs.revoke_answered("job_1", 2, true, 2), Revoke::GaveUp);
        assert_eq!(jobs.retry_revoke("job_1", 2), None);
    }

    #[test]
    fn list_pages_what_the_principal_may_see_d11() {
        let mut jobs = Jobs::new(&bounds(10));
        for (id, who) in [
            ("job_1", "alice"),
            ("job_2", "bob"),
            ("job_3", "alice"),
            ("job_4", "alice"),
        ] {
            add(&mut jobs, id, who, "sess_1", false);
        }
        jobs.end("job_3", JobStatus::Success, &result());
        let policy = ObserverPolicy::default();
        let page = |req: ListJobs| {
            jobs.list("alice", &policy, req, "r".into()).map(|p| {
                let ids: Vec<String> = p.jobs.iter().map(|j| j.job_id.to_string()).collect();
                (ids, p.next_cursor)
            })
        };
        let first = ListJobs {
            limit: Some(2),
            ..Default::default()
        };
        assert_eq!(
            page(first),
            Ok((vec!["job_1".into(), "job_3".into()], Some("2".into())))
        );
        let next = ListJobs {
            limit: Some(2),
            cursor: Some("2".into()),
            ..Default::default()
        };
        assert_eq!(page(next), Ok((vec!["job_4".into()], None)));
        let running = ListJobs {
            filter: Some(crate::wire::JobFilter {
                status: Some(vec!["running".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            page(running),
            Ok((vec!["job_1".into(), "job_4".into()], None))
        );
        let bad = ListJobs {
            limit: Some(0),
            ..Default::default()
        };
        assert_eq!(
            page(bad).map_err(|e| (e.message, e.request_id.map(String::from))),
            Err((
                "limit must be between 1 and 1000".to_owned(),
                Some("r".to_owned())
            ))
        );
    }

    #[test]
    fn agents_resolve_to_their_default_version() {
        let cfg = RuntimeConfig {
            agents: vec![
                crate::runtime::config::AgentSpec::new("echo", &["1.0.0", "2.0.0"])
                    .with_default("2.0.0"),
            ],
            ..RuntimeConfig::default()
        };
        let r = |name: &str, v: Option<&str>| {
            resolve_agent(&cfg, &AgentRef::new(name, v.map(str::to_owned)))
                .map(|a| a.to_string())
                .map_err(|e| (e.code, e.message))
        };
        assert_eq!(r("echo", None), Ok("echo@2.0.0".to_owned()));
        assert_eq!(r("echo", Some("1.0.0")), Ok("echo@1.0.0".to_owned()));
        assert_eq!(
            r("echo", Some("3.0.0")),
            Err((
                ErrorCode::AgentVersionNotAvailable,
                "agent \"echo\" has no version \"3.0.0\"".to_owned()
            ))
        );
        assert_eq!(
            r("nope", None),
            Err((
                ErrorCode::AgentNotAvailable,
                "agent \"nope\" is not available".to_owned()
            ))
        );
    }
}
