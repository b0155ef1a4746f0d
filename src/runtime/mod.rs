//! `Runtime`: the Sans-IO runtime state machine.
//!
//! One [`Runtime`] owns every session, keyed by a host-assigned [`ConnId`], because jobs
//! outlive sessions and resume, subscribe, idempotency and `list_jobs` all cross sessions.
//!
//! Inputs: [`Runtime::handle_connection_opened`], [`Runtime::handle_connection_closed`],
//! [`Runtime::handle_frame`], [`Runtime::handle_effect_result`],
//! [`Runtime::handle_agent_event`], [`Runtime::handle_timeout`]; in a cluster,
//! [`Runtime::handle_session_released`], [`Runtime::handle_remote_job_message`],
//! [`Runtime::handle_remote_cancel`], [`Runtime::handle_node_lost`],
//! [`Runtime::handle_isolated`]; the lease gate
//! [`Runtime::authorize`]. Outputs: [`Runtime::poll_transmit`], [`Runtime::poll_effect`],
//! [`Runtime::poll_event`], [`Runtime::poll_timeout`]. Drive it as the crate docs' driving
//! contract says. Nothing here returns an `Err` for peer input.
//!
//! ## Structure: a parent and its owned parts
//!
//! Like quinn-proto's `Connection` with its streams state, `Runtime` is a parent that owns
//! sub-state-machines. Each part is a struct with private fields and its own `impl`; it
//! answers what should happen and never reaches into another part:
//!
//! - `conns` — connections: the table, each one's phase (waiting for its hello,
//!   authenticating, attached, closing), transmit-cap accounting, heartbeat and
//!   zero-throughput decisions; `conns/hello.rs` reads a connection's first frame.
//! - `sessions` — sessions: each one's `event_seq` space and event ring (`sessions/ring.rs`),
//!   resume-token hash (`sessions/token.rs`), resume checks, expiry, write-ahead progress,
//!   answers kept behind frames still being written (`sessions/after.rs`) and job slots.
//! - `jobs` — jobs: lifecycle and retention, lease and budget (`jobs/lease.rs`), streamed
//!   results (`jobs/chunks.rs`), credential revocation (`jobs/credentials.rs`), idempotency
//!   keys (`jobs/idempotency.rs`), credentials being minted, the `list_jobs` query
//!   (`jobs/list.rs`).
//! - `subscriptions` — who follows which job, both ways.
//!
//! Shared below them: `outbox` (transmit, effect and event queues, effect ids, the deadline
//! index, the counters, the encode buffer), `minter` (ids and wall time), and the plain
//! types (`config`, `effect`, `event`, `metrics`, `fxhash`, `encoding`).
//!
//! The parent (this file) holds the parts, the outbox and the table of outstanding effects;
//! its `handle_*` inputs drain into the parts and the outbox. Everything that spans parts —
//! a hello that ends in a session and a welcome, a submit that takes a session's job slot,
//! creates a job and starts an agent, an agent event stamped into its session's ring and
//! queued on its connection — is orchestration in `flows/`, one file per protocol concern,
//! as `impl Runtime` blocks.
//!
//! ## Module graph
//!
//! Imports go one way only (checked by `tests/runtime_module_graph.rs`, which also rejects
//! any cycle):
//!
//! ```text
//! leaves: config · effect · event ─► effect · metrics ─► event · fxhash · encoding · minter
//!         outbox ─► effect, encoding, event, metrics
//! parts:  conns ─► effect, fxhash;  conns/hello ─► effect
//!         sessions ─► config, effect, encoding, fxhash, sessions/ring, sessions/token;
//!         sessions/ring ─► encoding
//!         jobs ─► config, effect, fxhash, jobs/{chunks, idempotency, lease};
//!         jobs/credentials, jobs/list ─► jobs (list also ─► config, effect, jobs/remote);
//!         jobs/remote ─► jobs, config, effect
//!         subscriptions ─► effect, fxhash
//! mod.rs ─► every leaf but encoding, every part
//! flows/* ─► mod.rs, leaves, parts; nothing imports flows
//! ```
//!
//! A part never imports the parent, `flows` or another part; a leaf imports only leaves.

mod config;
mod conns;
mod effect;
mod encoding;
mod event;
mod flows;
mod fxhash;
mod jobs;
mod metrics;
mod minter;
mod outbox;
#[cfg(feature = "fuzzing")]
pub(crate) mod part_fuzz;
mod redact;
mod sessions;
mod subscriptions;

#[doc(inline)]
pub use crate::lease::Operation;
/// Feature flags, as [`RuntimeConfig::features`] holds them.
#[doc(no_inline)]
pub use crate::wire::{Feature, FeatureSet};
pub use config::{
    AbuseLimits, AgentSpec, Bounds, DEFAULT_MAX_JOBS_PER_PRINCIPAL,
    DEFAULT_MAX_RESUMABLE_SESSIONS_PER_PRINCIPAL, DEFAULT_MAX_SESSIONS_PER_PRINCIPAL,
    ObserverPolicy, RuntimeConfig,
};
pub use effect::{
    Admission, AgentStart, CloseReason, ConnId, CredentialRecord, Effect, EffectId, EffectOutcome,
    IdempotencyRecord, JobRecord, SessionRecord, StoreSnapshot, StoredFrame, TransportKind,
};
pub use event::{AgentEvent, AgentReply, LimitKind, RuntimeEvent, SubscribeDecision};
pub use metrics::{MAX_AUTH_FAILURE_REASONS, RuntimeMetrics};

use crate::time::{Instant, WallClock};
use crate::wire::{
    Budget, Entropy, ErrorCode, ErrorPayload, Frame, IdKind, JobId, Limits, Message, SessionId,
    decode,
};
use bytes::Bytes;
use fxhash::FxHashMap;
use minter::Minter;
use outbox::{Outbox, Outgoing, TimerKey, is_heartbeat};
use std::sync::Arc;

use conns::hello::{HelloRequest, PendingWelcome};
use conns::{Connections, Inbound, Phase, Reserve};
use jobs::{Jobs, NewJob};
use sessions::Sessions;
use subscriptions::{RemoteRequest, Subscriptions};

/// What an outstanding effect was for.
#[derive(Debug)]
enum Pending {
    Auth(Box<HelloRequest>),
    Mint(Box<NewJob>),
    Start {
        job_id: String,
    },
    Revoke {
        job_id: String,
        serial: u32,
    },
    Append {
        session_id: String,
        seq: u64,
    },
    Welcome(Box<PendingWelcome>),
    ReadForResume(Box<PendingWelcome>),
    /// A page of a resume's replay from the store.
    StorePage {
        session_id: String,
        conn: ConnId,
    },
    /// (Clustered) a resume waiting for its session claim; the principal of its hello.
    Claim(Option<String>, Box<HelloRequest>),
    /// (Clustered) a request waiting for the shared store: a subscribe or cancel of a job not
    /// held here, a `session.list_jobs`.
    Remote(Box<RemoteRequest>),
    /// (Clustered) a read of a remote job's frames for a subscription of `session_id`.
    RemotePoll {
        session_id: String,
        job_id: String,
        generation: u64,
    },
    /// (Clustered) a submit waiting for the store's admission (`Jobs::admitting`).
    AdmitJob {
        job_id: String,
    },
    /// (Clustered) a new session waiting for the store's admission: its principal, its
    /// minted id, its hello.
    AdmitSession(String, String, Box<HelloRequest>),
}

/// The Sans-IO ARCP runtime. See the module docs.
///
/// Every input takes `now`; a `now` earlier than the latest already seen is taken as the
/// latest (time never runs backwards inside the core), so a host whose clock steps back
/// cannot move a deadline earlier or fire a timer twice.
pub struct Runtime {
    cfg: RuntimeConfig,
    /// Ids and wall time.
    ids: Minter,
    /// The queues, deadlines and counters every part pushes into.
    out: Outbox,
    /// Transport connections and their phases.
    conns: Connections,
    /// Sessions, their `event_seq` spaces and rings.
    sessions: Sessions,
    /// Jobs, idempotency keys, submits waiting for credentials.
    jobs: Jobs,
    /// Who follows which job.
    subs: Subscriptions,
    /// What each outstanding effect is for.
    pending: FxHashMap<EffectId, Pending>,
    /// The latest `now` seen. Every input's `now` is clamped to it (`max(now, latest)`), so
    /// time never runs backwards inside the core: a deadline is never moved earlier and a
    /// timer never fires twice because a host's clock stepped back.
    now: Instant,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("conns", &self.conns.len())
            .field("sessions", &self.sessions.len())
            .field("jobs", &self.jobs.len())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime with `config`, wall time from `wall` and ids and tokens from `entropy`.
    pub fn new(config: RuntimeConfig, wall: WallClock, entropy: Box<dyn Entropy + Send>) -> Self {
        Runtime {
            out: Outbox::new(config.bounds.max_pending_events),
            sessions: Sessions::new(&config.bounds, config.durable),
            jobs: Jobs::new(&config.bounds),
            cfg: config,
            ids: Minter::new(wall, entropy),
            conns: Connections::default(),
            subs: Subscriptions::default(),
            pending: FxHashMap::default(),
            now: Instant::ZERO,
        }
    }

    /// A snapshot of the counters (sessions, jobs by final status, frames and bytes out,
    /// resume outcomes, auth failures by reason, limits hit).
    pub fn metrics(&self) -> RuntimeMetrics {
        let mut m = self.out.metrics().clone();
        let kept = self
            .sessions
            .kept_bytes()
            .saturating_add(self.jobs.retained_bytes());
        m.retained_bytes = u64::try_from(kept).unwrap_or(u64::MAX);
        m.resumable_ring_bytes = u64::try_from(self.sessions.resumable_bytes()).unwrap_or(u64::MAX);
        m
    }

    /// The configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.cfg
    }

    /// Moves the wall-clock anchor (e.g. after the host's wall clock stepped).
    pub fn reanchor(&mut self, wall: WallClock) {
        self.ids.reanchor(wall);
    }

    // ---- inputs -------------------------------------------------------------------------

    /// A transport connection opened; the runtime now waits for its `session.hello`.
    pub fn handle_connection_opened(&mut self, now: Instant, conn: ConnId, kind: TransportKind) {
        let now = self.clamp(now);
        self.conns.open(now, conn, kind);
        self.arm_zero_throughput(now, conn);
        if !self.cfg.hello_timeout.is_zero() {
            self.out
                .set_timer(TimerKey::Hello(conn), now + self.cfg.hello_timeout);
        }
    }

    /// Provisioned credentials must not travel over `conn` (§9.8: a transport that is
    /// neither encrypted nor loopback nor stdio). Call it right after
    /// [`handle_connection_opened`](Self::handle_connection_opened): a session welcomed on
    /// `conn` — new or resumed — is offered no `provisioned_credentials`, so no credential
    /// value is sent on it, and a resume's replay loses the values of `credential_rotated`.
    pub fn withhold_credentials(&mut self, conn: ConnId) {
        self.conns.withhold_credentials(conn);
    }

    /// A transport connection ended (for any reason). Its session becomes resumable for the
    /// resume window; its jobs keep running (§6.7, [D3]).
    ///
    /// [D3]: crate::compat#d3--resume-of-a-running-job
    pub fn handle_connection_closed(&mut self, now: Instant, conn: ConnId) {
        self.clamp(now);
        self.detach_session_of(conn);
        self.conns.remove(conn);
        self.out.forget(conn);
        self.out.cancel_timer(&TimerKey::ZeroThroughput(conn));
        self.out.cancel_timer(&TimerKey::Hello(conn));
    }

    /// A WebSocket text message on `conn` that is not UTF-8: a transport error, like an
    /// over-cap frame ([D35]), closed with [`CloseReason::InvalidText`] (1007) and no error
    /// frame; the session stays resumable. (A stdio line is bytes: a malformed one is passed
    /// to [`Runtime::handle_frame`], [D19].)
    ///
    /// [D35]: crate::compat#d35--frame-size
    /// [D19]: crate::compat#d19--malformed-frame-after-hello
    pub fn handle_invalid_text(&mut self, now: Instant, conn: ConnId) {
        let now = self.clamp(now);
        if self.conns.receive_oversized(now, conn).is_some() {
            self.close_conn(now, conn, CloseReason::InvalidText);
        }
    }

    /// Stops handing out `conn`'s frames (the host's writer for it is full): they stay
    /// queued here, in order, still counted against `max_transmit_queue` (over it the
    /// connection is closed as a slow consumer, as always), until
    /// [`Runtime::resume_transmits`]. Every other connection's frames keep flowing.
    pub fn pause_transmits(&mut self, conn: ConnId) {
        self.out.pause(conn);
    }

    /// Hands out `conn`'s paused frames again, in order, after the frames already queued.
    pub fn resume_transmits(&mut self, conn: ConnId) {
        self.out.resume(conn);
    }

    /// `true` while `conn`'s frames are paused.
    pub fn transmits_paused(&self, conn: ConnId) -> bool {
        self.out.is_paused(conn)
    }

    /// One complete inbound frame (a WebSocket message or a stdio line, without the newline).
    /// Peer faults are answered on the wire, never returned.
    pub fn handle_frame(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        let now = self.clamp(now);
        let (kind, phase_open) = match self.conns.receive(now, conn) {
            Inbound::Ignore => return,
            Inbound::Open(kind) => (kind, true),
            Inbound::Handshake(kind) => (kind, false),
        };
        if bytes.len() > self.cfg.bounds.max_frame_bytes {
            self.oversized(now, conn, kind, bytes.len());
            return;
        }
        let limits = Limits {
            max_frame_bytes: self.cfg.bounds.max_frame_bytes,
            max_depth: self.cfg.bounds.max_json_depth,
        };
        let frame = match decode(bytes, &limits) {
            Ok(f) => f,
            Err(e) => {
                let mut err = e.to_error_payload();
                if let Some(id) = &e.request_id {
                    err = err.with_request_id(id.clone()); // D20
                }
                self.violation(conn, e.message.clone());
                self.send_error(now, conn, err);
                if !phase_open {
                    // Before the handshake every fault ends the connection (WIRE.md §5.4),
                    // answered INVALID_REQUEST, never INTERNAL_ERROR (D18).
                    self.close_conn(now, conn, CloseReason::HandshakeFailed);
                }
                // D19: after the handshake the session continues.
                return;
            }
        };
        if !is_heartbeat(&frame.message) {
            self.conns.activity(now, conn);
        }
        if phase_open {
            self.handle_session_frame(now, conn, frame);
        } else {
            self.handle_handshake_frame(now, conn, frame);
        }
    }

    /// An inbound frame of `len` bytes over the cap that the transport refused to buffer
    /// (a stdio line the [`LineFramer`](crate::wire::LineFramer) skipped, a WebSocket message
    /// the library rejected): the same outcome as passing it to [`Runtime::handle_frame`].
    pub fn handle_oversized_frame(&mut self, now: Instant, conn: ConnId, len: usize) {
        let now = self.clamp(now);
        if let Some(kind) = self.conns.receive_oversized(now, conn) {
            self.oversized(now, conn, kind, len);
        }
    }

    /// Decision [D35]: over the cap, WebSocket closes 1009 silently; stdio answers, then closes.
    ///
    /// [D35]: crate::compat#d35--frame-size
    fn oversized(&mut self, now: Instant, conn: ConnId, kind: TransportKind, len: usize) {
        if kind == TransportKind::Stdio {
            let err = ErrorPayload::new(
                ErrorCode::InvalidRequest,
                format!(
                    "frame of {len} bytes exceeds the limit of {} bytes",
                    self.cfg.bounds.max_frame_bytes
                ),
            );
            self.send_error(now, conn, err);
        }
        self.close_conn(now, conn, CloseReason::FrameTooLarge);
    }

    /// The result of an effect the host performed.
    pub fn handle_effect_result(&mut self, now: Instant, id: EffectId, outcome: EffectOutcome) {
        let now = self.clamp(now);
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        self.complete_effect(now, id, p, outcome);
    }

    /// Wakes expired deadlines: heartbeats, `max_runtime_sec`, lease expiry, resume windows,
    /// revocation retries.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clamp(now);
        while let Some(key) = self.out.pop_expired(now) {
            match key {
                TimerKey::Heartbeat(conn) => self.heartbeat_tick(now, conn),
                TimerKey::ResumeWindow(sid) => self.resume_window_elapsed(now, &sid),
                TimerKey::MaxRuntime(job) => self.max_runtime_elapsed(now, &job),
                TimerKey::LeaseExpiry(job) => self.lease_expired(now, &job),
                TimerKey::RevokeRetry(job, serial) => self.revoke_retry(now, &job, serial),
                TimerKey::ZeroThroughput(conn) => self.zero_throughput_check(now, conn),
                TimerKey::Hello(conn) => {
                    if self.conns.awaits_hello(conn) {
                        self.close_conn(now, conn, CloseReason::HelloTimeout);
                    }
                }
                TimerKey::FinishedJob(job) => match self.jobs.expire_finished(&job) {
                    Some(true) => self.subs.end_job(&job),
                    Some(false) => self.arm_finished_expiry(now, &job),
                    None => {}
                },
                TimerKey::ExpiredSession(sid) => self.expired_session_grace_elapsed(now, &sid),
                TimerKey::RemotePoll(sid, job) => self.remote_poll(now, &sid, &job),
                TimerKey::AdmitRetry(job) => self.admit_retry(now, &job),
            }
        }
    }

    // ---- outputs ------------------------------------------------------------------------

    /// The next frame to send, and where. Same queue as
    /// [`poll_transmit_encoded`](Self::poll_transmit_encoded); use one or the other.
    #[must_use = "drain every poll_* until None (the driving contract)"]
    pub fn poll_transmit(&mut self) -> Option<(ConnId, Frame)> {
        let (conn, out) = self.pop_transmit()?;
        let frame = match out {
            Outgoing::Plain(f) => *f,
            // The ring still holds the frame until it is acked, so this usually clones.
            Outgoing::Kept(f, _) => Arc::try_unwrap(f).unwrap_or_else(|f| (*f).clone()),
        };
        Some((conn, frame))
    }

    /// The next frame to send, already encoded (compact JSON, one WebSocket text message or
    /// one stdio line without its newline), and where. Seq-bearing frames were encoded once,
    /// when the session ring kept them, and these are the same bytes (shared, not copied);
    /// other frames are encoded here. Same queue as [`poll_transmit`](Self::poll_transmit).
    #[must_use = "drain every poll_* until None (the driving contract)"]
    pub fn poll_transmit_encoded(&mut self) -> Option<(ConnId, Bytes)> {
        let (conn, out) = self.pop_transmit()?;
        let bytes = match out {
            Outgoing::Plain(f) => self.out.scratch.encode(&f),
            Outgoing::Kept(_, b) => b,
        };
        Some((conn, bytes))
    }

    /// Pops the next transmit and accounts for it; a seq-bearing frame moves its session's
    /// delivery frontier (what the ring may evict, and when its jobs wait).
    fn pop_transmit(&mut self) -> Option<(ConnId, Outgoing)> {
        let (conn, out) = self.out.pop_transmit()?;
        let heartbeat = is_heartbeat(&out.frame().message);
        // The connection's session when its queue is now empty.
        let idle = self.conns.dequeued(self.now, conn, heartbeat);
        // The frame's session and whether it is replaying from the store (one lookup).
        let mut known = None;
        if let Outgoing::Kept(f, _) = &out
            && let (Some(sid), Some(seq)) = (&f.session_id, f.event_seq)
        {
            known = self
                .sessions
                .delivered(sid.as_str(), conn, seq)
                .map(|replaying| (sid.as_str(), replaying));
        }
        // A store replay reads its next page once the connection took the last one.
        if let Some(sid) = idle {
            let replaying = match known {
                Some((k, replaying)) if k == sid => replaying,
                _ => self.sessions.store_replaying(sid),
            };
            if replaying {
                let sid = sid.to_owned();
                self.next_store_page(conn, &sid);
            }
        }
        Some((conn, out))
    }

    /// The next effect to perform.
    #[must_use = "drain every poll_* until None (the driving contract)"]
    pub fn poll_effect(&mut self) -> Option<(EffectId, Effect)> {
        self.out.pop_effect()
    }

    /// The next event for the host.
    #[must_use = "drain every poll_* until None (the driving contract)"]
    pub fn poll_event(&mut self) -> Option<RuntimeEvent> {
        self.out.pop_event()
    }

    /// The earliest deadline; call [`Runtime::handle_timeout`] once it has passed.
    #[must_use = "sleep until this deadline, then call handle_timeout (the driving contract)"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.out.next_deadline()
    }

    // ---- read-only introspection (queue lengths and counters, for hosts and the simulator) ----

    /// Frames queued for [`poll_transmit`](Self::poll_transmit), over all connections
    /// (paused ones included).
    pub fn pending_transmits(&self) -> usize {
        self.out.transmits_len() + self.out.paused_len()
    }

    /// Frames queued for `conn` (bounded by `max_transmit_queue`, except resume replays).
    pub fn pending_transmits_for(&self, conn: ConnId) -> usize {
        self.conns.queued(conn)
    }

    /// Effects issued and not yet answered through
    /// [`handle_effect_result`](Self::handle_effect_result) that the runtime waits for.
    pub fn pending_effects(&self) -> usize {
        self.pending.len()
    }

    /// Events queued for [`poll_event`](Self::poll_event) (bounded by `max_pending_events`).
    pub fn pending_events(&self) -> usize {
        self.out.events_len()
    }

    /// The highest `event_seq` a session has assigned (`None`: no such session).
    pub fn session_last_seq(&self, session_id: &SessionId) -> Option<u64> {
        self.sessions.get(session_id.as_str()).map(|s| s.last_seq())
    }

    /// The retained-bytes accounting recomputed from scratch, for the simulation:
    /// (ring bytes, resumable ring bytes, most resumable sessions of one principal).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn recount_retained(&self) -> (usize, usize, usize) {
        self.sessions.recount()
    }

    /// Bytes of the kept [D27] messages and finished job records (`retained_bytes` minus
    /// the rings), recounted from every job record.
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    #[cfg(feature = "fuzzing")]
    pub(crate) fn kept_message_bytes(&self) -> usize {
        self.jobs.recount()
    }

    /// `true` while job `job_id` must wait: it is running and its session's buffer is full
    /// (the undelivered events — with a durable store, the not-yet-durable ones — reached
    /// `max_ring_events` or `max_ring_bytes`), or `max_pending_effects` effects await their
    /// results (with a durable store each event is an append until it completes). A host
    /// stops answering the job's agent emits (feeding none to
    /// [`handle_agent_event`](Self::handle_agent_event)) while this is `true`, and asks
    /// again after each drain: it turns `false` when the session drains, its client says
    /// `session.bye` (without a store), its resume window ends, effects complete or the job
    /// ends. Time keeps running for a waiting job (`max_runtime_sec`, lease expiry).
    pub fn job_held(&self, job_id: &JobId) -> bool {
        self.jobs.get(job_id.as_str()).is_some_and(|j| {
            !j.status().is_terminal()
                && (self.sessions.full(j.session_id())
                    || self.owner_backlogged(j.session_id())
                    || self.effects_full())
        })
    }

    /// With a durable store: session `sid`'s connection has `max_transmit_queue` frames
    /// queued here (its host writer is full and it is paused), so its jobs wait too (a
    /// subscriber is truncated); the frames already queued are bounded by that cap plus the
    /// not-yet-durable backlog.
    pub(in crate::runtime) fn owner_backlogged(&self, sid: &str) -> bool {
        self.cfg.durable
            && self
                .sessions
                .get(sid)
                .and_then(sessions::Session::conn)
                .is_some_and(|c| self.conns.queued(c) >= self.cfg.bounds.max_transmit_queue)
    }

    /// Frames and encoded bytes session `session_id` keeps for resume (`None`: no such
    /// session).
    pub fn session_retained(&self, session_id: &SessionId) -> Option<(usize, usize)> {
        self.sessions
            .get(session_id.as_str())
            .map(sessions::Session::retained)
    }

    /// Number of sessions held (attached or within their resume window).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Number of sessions detached and within their resume window (resumable now).
    pub fn resumable_session_count(&self) -> usize {
        self.sessions.resumable()
    }

    /// Number of jobs retained (running and ended).
    pub fn job_count(&self) -> usize {
        self.jobs.len()
    }

    /// The remaining budget counters of a job (`None`: unknown job or unbudgeted lease).
    pub fn job_budget(&self, job_id: &JobId) -> Option<Budget> {
        self.jobs.get(job_id.as_str())?.lease().remaining().cloned()
    }

    /// Checks the delegation invariants (§10), for the simulator, the fuzz targets and
    /// tests: no child is running after its parent's terminal; every running child is listed
    /// by its parent; a parent's remaining budget plus its live children's reservations never
    /// exceeds its own budget. `Err` names the first broken one.
    pub fn check_delegation(&self) -> Result<(), String> {
        self.jobs.check_delegation()
    }

    // ---- plumbing -----------------------------------------------------------------------

    /// Clamps an input's `now` to the latest seen (time never runs backwards inside the
    /// core) and returns it.
    #[inline]
    fn clamp(&mut self, now: Instant) -> Instant {
        if now > self.now {
            self.now = now;
        }
        self.now
    }

    fn mint(&mut self, now: Instant, kind: IdKind) -> String {
        self.ids.mint(now, kind)
    }

    fn violation(&mut self, conn: ConnId, message: String) {
        self.out
            .push_event(RuntimeEvent::ProtocolViolation { conn, message });
    }

    /// Queues an effect that expects a result, remembering what it was for.
    fn push_effect(&mut self, effect: Effect, pending: Option<Pending>) -> EffectId {
        let id = self.out.push_effect(effect);
        if let Some(p) = pending {
            self.pending.insert(id, p);
        }
        id
    }

    /// `true` when another effect that needs an answer fits (bound `max_pending_effects`).
    fn effects_full(&self) -> bool {
        self.pending.len() >= self.cfg.bounds.max_pending_effects
    }

    /// Queues `frame` for `conn`. Over the connection's transmit cap the connection is closed
    /// as a slow consumer; its session stays resumable.
    fn transmit(&mut self, conn: ConnId, frame: Frame) {
        self.transmit_capped(
            conn,
            Outgoing::Plain(Box::new(frame)),
            self.cfg.bounds.max_transmit_queue,
        );
    }

    /// [`Runtime::transmit`] of a ring-kept frame with its encoding.
    ///
    ///
    /// These bypass the transmit cap: a connection paused while its host writer is full
    /// keeps them here without being closed for it. Without a durable store they are the
    /// session's undelivered events, which its ring bounds (at `max_ring_events` undelivered
    /// the session's jobs wait, a subscriber is truncated); with one, the session's jobs wait
    /// once `max_transmit_queue` frames are queued (`job_held`), so what is queued stays
    /// under that cap plus the not-yet-durable backlog.
    fn transmit_kept(&mut self, conn: ConnId, frame: Arc<Frame>, encoded: Bytes) {
        self.transmit_capped(conn, Outgoing::Kept(frame, encoded), usize::MAX);
    }

    /// Queues a replayed frame (resume replay, subscription history): these are already
    /// bounded by the session ring's caps, so they bypass the transmit cap, and a resume
    /// always completes.
    fn transmit_replay(&mut self, conn: ConnId, out: Outgoing) {
        self.transmit_capped(conn, out, usize::MAX);
    }

    /// Queues `frame`, an unnumbered answer of session `sid`, behind every frame the session
    /// stamped before it ([`sessions::After`]): at once when those are queued, else right
    /// after the last of them. Over `max_transmit_queue` such answers waiting, the connection
    /// is closed as a slow consumer (its session stays resumable).
    fn transmit_after(&mut self, sid: &str, conn: ConnId, frame: Frame) {
        let cap = self.cfg.bounds.max_transmit_queue;
        match self.sessions.hold_after(sid, Box::new(frame), cap) {
            sessions::After::Now(f) => self.transmit_capped(conn, Outgoing::Plain(f), cap),
            sessions::After::Held => {}
            sessions::After::Full => self.close_slow_consumer(conn),
        }
    }

    fn transmit_capped(&mut self, conn: ConnId, out: Outgoing, cap: usize) {
        match self.conns.reserve(conn, cap) {
            Reserve::Queued if self.sessions.holds_after() => {
                // Answers held behind this numbered frame go right after it.
                let f = out.frame();
                let key = f.session_id.clone().zip(f.event_seq);
                self.out.push_transmit(conn, out);
                if let Some((sid, seq)) = key {
                    // Capped as when sent at once: over it, a slow consumer.
                    let cap = self.cfg.bounds.max_transmit_queue;
                    for (_, f) in self.sessions.released(sid.as_str(), seq) {
                        self.transmit_capped(conn, Outgoing::Plain(f), cap);
                    }
                }
            }
            Reserve::Queued => self.out.push_transmit(conn, out),
            Reserve::Dropped => {}
            Reserve::Full => self.close_slow_consumer(conn),
        }
    }

    /// Closes `conn` as a slow consumer: its queued frames are dropped, its session is
    /// detached (and stays resumable).
    fn close_slow_consumer(&mut self, conn: ConnId) {
        self.out.drop_transmits_for(conn);
        self.detach_session_of(conn);
        self.conns.set_phase(conn, Phase::Closing);
        self.push_effect(
            Effect::CloseConnection {
                conn,
                reason: CloseReason::SlowConsumer,
            },
            None,
        );
    }

    /// A fresh envelope on `conn`, with the connection's session id when it has one.
    fn envelope(&mut self, now: Instant, conn: ConnId, message: Message) -> Frame {
        let id = self.mint(now, IdKind::Envelope);
        let frame = Frame::new(id, message);
        match self.conns.session_of(conn) {
            Some(sid) => frame.with_session(sid.to_owned()),
            None => frame,
        }
    }

    fn send_error(&mut self, now: Instant, conn: ConnId, err: ErrorPayload) {
        let frame = self.envelope(now, conn, Message::Error(err));
        self.transmit(conn, frame);
    }

    /// Closes `conn`: stops sending to it, detaches its session and asks the host to close.
    fn close_conn(&mut self, now: Instant, conn: ConnId, reason: CloseReason) {
        if !self.conns.closable(conn) {
            return;
        }
        let _ = now;
        self.detach_session_of(conn);
        self.conns.set_phase(conn, Phase::Closing);
        self.push_effect(Effect::CloseConnection { conn, reason }, None);
    }
}
