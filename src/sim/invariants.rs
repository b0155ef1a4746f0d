//! The invariants the simulator checks after every step (issue 9). Each check panics with a
//! message naming the invariant, so proptest shrinks to it and libFuzzer reports it.

use super::harness::SimClient;
use crate::client::{ClientEvent, ClientSession, JobOutcome, SeqSpace};
use crate::runtime::{ConnId, Runtime, RuntimeEvent};
use crate::time::Instant;
use crate::wire::{ErrorCode, Feature, FeatureSet, Frame, JobId, Message, Replayed, SessionId};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// What the checker remembers about one client's session stream.
#[derive(Debug, Default, Clone)]
pub struct StreamModel {
    /// The session the stream belongs to.
    pub session_id: Option<SessionId>,
    /// The last session-space `event_seq` delivered to the host.
    pub last_seq: u64,
    /// Jobs whose terminal was delivered in the session space.
    pub ended: BTreeSet<JobId>,
    /// Idempotent submits sent: each allows one copied terminal ([D27]).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    pub copies_allowed: u32,
    /// Per subscribed job: last subscription-space `event_seq` and whether it ended.
    pub subs: BTreeMap<JobId, (u64, bool)>,
    /// Replays announced by a `job.subscribed`: the job and the replay's first session seq
    /// (`subscribed_from - replayed + 1`, [D10]). The job's frames below it belong to its
    /// earlier stream (or an earlier replay); from it on, its terminal may come again.
    ///
    /// [D10]: crate::compat#d10--subscribed-events
    pub replays: Vec<(JobId, u64)>,
    /// Sequenced frames the client refused and surfaced as a protocol error.
    pub surfaced: u64,
    /// The client received `RESUME_WINDOW_EXPIRED` in answer to its resume.
    pub expired_sent: bool,
    /// Frames the link delivered twice to this client.
    pub duplicates: u64,
    /// The runtime refused a resume with `RESUME_WINDOW_EXPIRED` and the client surfaced it.
    pub resume_expired: bool,
}

/// Invariant state shared by every step.
#[derive(Debug, Default)]
pub struct Checker {
    /// Per client slot.
    pub streams: Vec<StreamModel>,
    /// Negotiated features per runtime connection (from its welcome ∩ the client's request).
    pub conn_features: BTreeMap<ConnId, FeatureSet>,
    /// When each job ended (from `RuntimeEvent::JobEnded`).
    pub ended_at: BTreeMap<JobId, Instant>,
    /// Credentials whose revocation the runtime gave up on (permanent-failure event).
    pub revocation_failed: BTreeSet<String>,
    /// Steps checked.
    pub steps: u64,
}

fn sequenced_terminal(m: &Message) -> bool {
    m.message_type().is_terminal()
}

impl Checker {
    /// A checker for `clients` client slots.
    pub fn new(clients: usize) -> Self {
        Checker {
            streams: vec![StreamModel::default(); clients],
            ..Checker::default()
        }
    }

    /// Decision [D26]: a frame the runtime sends on `conn` stays inside the negotiated features.
    ///
    /// [D26]: crate::compat#d26--non-negotiated-features
    pub fn runtime_frame(&mut self, conn: ConnId, frame: &Frame, requested: FeatureSet) {
        if let Message::Welcome(w) = &frame.message {
            let offered = w.capabilities.features.clone().unwrap_or_default();
            let negotiated = requested.intersection(FeatureSet::from_names(&offered));
            assert_eq!(
                w.heartbeat_interval_sec.is_some(),
                negotiated.contains(Feature::Heartbeat),
                "D26: heartbeat_interval_sec outside the negotiated features"
            );
            // D24: `capabilities.features` lists the runtime's full set, not the intersection.
            self.conn_features.insert(conn, negotiated);
            return;
        }
        let has = |f: Feature| self.conn_features.get(&conn).is_some_and(|n| n.contains(f));
        let gate = match &frame.message {
            Message::Ping(_) => Some(Feature::Heartbeat),
            Message::Jobs(_) => Some(Feature::ListJobs),
            Message::Subscribed(_) => Some(Feature::Subscribe),
            Message::Accepted(a) if a.credentials.is_some() => {
                Some(Feature::ProvisionedCredentials)
            }
            _ => None,
        };
        if let Some(g) = gate {
            assert!(has(g), "D26: runtime sent {frame:?} without {g:?}");
        }
    }

    /// Decision [D26]: a frame the client sends stays inside its negotiated features.
    ///
    /// [D26]: crate::compat#d26--non-negotiated-features
    pub fn client_frame(&mut self, slot: usize, client: &ClientSession, frame: &Frame) {
        let gate = match &frame.message {
            Message::Ack(_) => Some(Feature::Ack),
            Message::ListJobs(_) => Some(Feature::ListJobs),
            Message::Subscribe(_) | Message::Unsubscribe(_) => Some(Feature::Subscribe),
            // Client pings are never gated (D26: the runtime always answers).
            _ => None,
        };
        if let Some(g) = gate {
            assert!(
                client.features().contains(g),
                "D26: client {slot} sent {:?} without {g:?}",
                frame.message_type()
            );
        }
        if let Message::Submit(s) = &frame.message
            && s.idempotency_key.is_some()
            && let Some(m) = self.streams.get_mut(slot)
        {
            m.copies_allowed += 1;
        }
    }

    /// Session-space order, exactly-once delivery and one terminal per job per stream.
    pub fn client_event(&mut self, slot: usize, ev: &ClientEvent) {
        let Some(m) = self.streams.get_mut(slot) else {
            return;
        };
        match ev {
            ClientEvent::Welcome(w) => {
                if w.resumed {
                    assert_eq!(
                        m.session_id.as_deref(),
                        Some(w.session_id.as_str()),
                        "resumed a session the client did not have"
                    );
                } else {
                    assert!(
                        m.session_id.is_none(),
                        "client {slot}: a resume silently became a new session {w:?}; \
                         events of {:?} after seq {} are lost",
                        m.session_id,
                        m.last_seq
                    );
                    m.session_id = Some(w.session_id.clone());
                    m.last_seq = 0;
                }
            }
            ClientEvent::HandshakeFailed {
                error,
                resuming: true,
            } if error.code == ErrorCode::ResumeWindowExpired => m.resume_expired = true,
            ClientEvent::SequenceGap { expected, got } => {
                panic!("client {slot}: event_seq gap, expected {expected}, got {got}");
            }
            // Spec §8.3: a duplicate breaks the session and the client resumes; only the
            // link's injected duplicates may cause that (the runtime never repeats a seq).
            ClientEvent::SequenceBroken { expected, got } => {
                assert!(
                    m.duplicates > 0 && *got < *expected,
                    "client {slot}: event_seq break, expected {expected}, got {got}"
                );
            }
            ClientEvent::JobEvent {
                job_id,
                event_seq,
                space,
                ..
            } => {
                let terminal = false;
                Self::ordered(slot, m, job_id, *event_seq, *space, terminal);
            }
            ClientEvent::Terminal {
                job_id,
                event_seq,
                space,
                outcome,
            } => {
                Self::ordered(slot, m, job_id, *event_seq, *space, true);
                let _: &JobOutcome = outcome;
            }
            // A subscription is a new stream of the job (D9/D10: its history is replayed,
            // renumbered into this session's space), so its terminal may come again.
            // Its first replayed frame may come after earlier frames of the same job (a
            // terminal among them) that were still on their way.
            ClientEvent::Subscribed { subscribed, .. } => {
                m.subs.insert(subscribed.job_id.clone(), (0, false));
                match (&subscribed.replayed, subscribed.subscribed_from) {
                    (Some(Replayed::Count(n)), Some(last)) if *n > 0 => {
                        assert!(
                            last >= *n,
                            "client {slot}: subscribed_from {last} below replayed {n}"
                        );
                        m.replays.push((subscribed.job_id.clone(), last - n + 1));
                    }
                    _ => {
                        m.ended.remove(&subscribed.job_id);
                    }
                }
            }
            _ => {}
        }
    }

    fn ordered(
        slot: usize,
        m: &mut StreamModel,
        job: &JobId,
        seq: u64,
        space: SeqSpace,
        terminal: bool,
    ) {
        match space {
            SeqSpace::Session => {
                assert_eq!(
                    seq,
                    m.last_seq + 1,
                    "client {slot}: session event_seq must be gap-free and delivered once \
                     (job {job})"
                );
                m.last_seq = seq;
                // Replays that start here or earlier: this job's re-arms it; another job's
                // did not come (truncated) and is forgotten.
                let mut rearm = false;
                m.replays.retain(|(j, first)| {
                    let due = *first <= seq;
                    rearm |= due && j == job;
                    !due
                });
                if rearm {
                    m.ended.remove(job);
                }
                if m.ended.contains(job) {
                    assert!(
                        terminal,
                        "client {slot}: live event of {job} after its terminal"
                    );
                    assert!(
                        m.copies_allowed > 0,
                        "client {slot}: second terminal of {job} without an idempotent \
                         resubmit (D27)"
                    );
                    m.copies_allowed -= 1;
                }
                if terminal {
                    m.ended.insert(job.to_owned());
                }
            }
            SeqSpace::Subscription => {
                let e = m.subs.entry(job.to_owned()).or_insert((0, false));
                assert!(
                    seq > e.0,
                    "client {slot}: subscription event_seq of {job} not increasing"
                );
                assert!(
                    !e.1,
                    "client {slot}: subscribed {job} delivered after its terminal"
                );
                *e = (seq, terminal);
            }
        }
    }

    /// Runtime events: job ends (for the credential deadline) and permanent revocation
    /// failures.
    pub fn runtime_event(&mut self, now: Instant, ev: &RuntimeEvent) {
        match ev {
            RuntimeEvent::JobEnded { job_id, .. } => {
                self.ended_at.entry(job_id.clone()).or_insert(now);
            }
            RuntimeEvent::CredentialRevocationFailed { credential_id, .. } => {
                self.revocation_failed.insert(credential_id.clone());
            }
            _ => {}
        }
    }

    /// Every minted credential of an ended job is revoked, or its permanent failure was
    /// reported, within `bound` of the later of the job's end and the mint.
    pub fn credentials(
        &self,
        now: Instant,
        minted: &BTreeMap<String, (JobId, Instant)>,
        revoked: &BTreeSet<String>,
        bound: Duration,
    ) {
        for (cred, (job, at)) in minted {
            let Some(end) = self.ended_at.get(job) else {
                continue;
            };
            let from = (*end).max(*at);
            if now > from + bound {
                assert!(
                    revoked.contains(cred) || self.revocation_failed.contains(cred),
                    "credential {cred} of ended job {job} neither revoked nor reported \
                     within {bound:?}"
                );
            }
        }
    }

    /// Every runtime and client queue within its configured limit.
    pub fn queues(rt: &Runtime, clients: &[SimClient]) {
        let b = &rt.config().bounds;
        assert!(
            rt.pending_events() <= b.max_pending_events,
            "runtime event queue"
        );
        // `max_pending_effects` refuses hellos and submits and holds running jobs; what is
        // not refused may go over it (Bounds::max_pending_effects): a job's end — its
        // terminal, its credentials' revocations — or a cancel, at most a few per job, and a
        // subscription's history or a resume's store read, at most a ring per session.
        let over = rt.job_count() * 3 + rt.session_count() * (b.max_ring_events + 2);
        assert!(
            rt.pending_effects() <= b.max_pending_effects + over,
            "runtime effects {} > {} + {over}",
            rt.pending_effects(),
            b.max_pending_effects
        );
        assert!(rt.session_count() <= b.max_sessions, "runtime sessions");
        // The retained-bytes gauges are kept incrementally: they must match a recount.
        let (rings, resumable, most) = rt.recount_retained();
        let m = rt.metrics();
        assert_eq!(
            m.retained_bytes,
            (rings + rt.kept_message_bytes()) as u64,
            "retained bytes"
        );
        assert_eq!(
            m.resumable_ring_bytes, resumable as u64,
            "resumable ring bytes"
        );
        assert!(
            most <= rt.config().limits.max_resumable_sessions_per_principal,
            "resumable sessions of one principal"
        );
        for c in clients.iter().map(|c| c.link.conn) {
            // Resume replays may exceed the live cap by at most the ring (§6.7): its
            // undelivered frames and the margin of delivered ones it keeps for a resume.
            let cap = b.max_transmit_queue + b.max_ring_events + b.ring_margin_events;
            assert!(
                rt.pending_transmits_for(c) <= cap,
                "runtime transmit queue of {c:?}: {} > {cap}",
                rt.pending_transmits_for(c)
            );
        }
        for c in clients.iter().map(|c| &c.session) {
            let cfg = c.config();
            // `close` queues its bye even over a full queue: one over the cap at most.
            assert!(
                c.pending_transmits() <= cfg.max_pending_transmits + 1,
                "client transmits"
            );
            assert!(
                c.pending_events() <= cfg.max_pending_events,
                "client events"
            );
            assert!(
                c.pending_requests() <= cfg.max_pending_requests,
                "client requests"
            );
            assert!(
                c.open_result_streams() <= cfg.max_open_results,
                "client results"
            );
        }
    }
}

/// The frame is sequenced (carries an `event_seq`).
pub fn is_sequenced(frame: &Frame) -> bool {
    frame.event_seq.is_some() || sequenced_terminal(&frame.message)
}
