//! (feature `runtime`) The runtime's storage effects mapped onto this crate's records,
//! shared by every adapter (arcp-tokio, arcp-futures, arcp-blocking through arcp-host) and
//! every backend: the adapter only decides where [`run_batch`] runs (store calls block: a
//! dedicated thread).
//!
//! Every storage effect drained in one pass (and any drained while the previous batch was
//! being written) goes into one [`Batch`], applied by [`run_batch`] in a single
//! [`Store::apply`] transaction; the adapter reports the effects complete only after it
//! committed, so the runtime's write-ahead rule holds: a frame reaches the wire only after
//! the append holding it is durable. `ReadEvents` is served after that batch's writes.

use crate::{Store, StoreError, StoreOp};
use arcp_proto::runtime::{
    Admission, CredentialRecord, Effect, EffectId, EffectOutcome, IdempotencyRecord, JobRecord,
    SessionRecord, StoreSnapshot, StoredFrame,
};
use arcp_proto::wire::{
    Accepted, AgentRef, FeatureSet, Frame, JobId, JobStatus, LeaseConstraints, LeaseMap, Limits,
    Message, SessionId, Timestamp, TraceId, decode,
};
use serde_json::{Value, json};

/// Storage effects collected for one transaction, plus reads to serve after it.
#[derive(Debug, Default)]
pub struct Batch {
    ops: Vec<StoreOp>,
    ids: Vec<EffectId>,
    reads: Vec<(EffectId, Read)>,
}

/// A read (or a claim) served after the batch's writes.
#[derive(Debug)]
enum Read {
    /// `ReadEvents`.
    Events { session: String, after: u64 },
    /// `ReadJobEvents`.
    JobEvents {
        session: String,
        job: String,
        after: u64,
    },
    /// `LookupJob`.
    Job(String),
    /// `ListStoredJobs`.
    Jobs(Option<String>),
    /// `ClaimSession` (a transaction of its own).
    Claim(String),
    /// `AdmitJob` (a transaction of its own).
    AdmitJob {
        principal: String,
        session: String,
        job: String,
        max: usize,
        idempotency: Option<crate::IdempotencyRecord>,
    },
    /// `AdmitSession`.
    AdmitSession {
        principal: String,
        session: String,
        max: usize,
    },
}

impl Batch {
    /// `true` when the batch holds nothing to write or read.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.reads.is_empty() && self.ids.is_empty()
    }

    /// Adds a storage effect (`Some(id)`) or housekeeping (`None`). Returns `false` (and
    /// leaves the effect alone) when `effect` is not a storage effect.
    pub fn push(&mut self, id: Option<EffectId>, effect: &Effect) -> bool {
        let op = match effect {
            Effect::AppendEvents(frames) => {
                // Consecutive appends are one op: one multi-row insert (PostgreSQL: one
                // round trip and one fence check for the batch, not one per frame), in the
                // same order as one op each.
                if let Some(StoreOp::AppendEvents(last)) = self.ops.last_mut() {
                    last.extend(frames.iter().map(stored_event));
                    if let Some(id) = id {
                        self.ids.push(id);
                    }
                    return true;
                }
                StoreOp::AppendEvents(frames.iter().map(stored_event).collect())
            }
            Effect::PersistSession(r) => StoreOp::PutSession(session_to_store(r)),
            Effect::PersistJob(r) => StoreOp::PutJob(job_to_store(r)),
            Effect::PersistIdempotency(r) => StoreOp::PutIdempotency(idem_to_store(r)),
            Effect::PersistCredential(r) if r.revoked => {
                StoreOp::DeleteCredential(r.credential_id.clone())
            }
            Effect::PersistCredential(r) => StoreOp::PutCredential(cred_to_store(r)),
            Effect::ReadEvents {
                session_id,
                after_seq,
            } => {
                return self.read(
                    id,
                    Read::Events {
                        session: session_id.to_string(),
                        after: *after_seq,
                    },
                );
            }
            Effect::ReadJobEvents {
                session_id,
                job_id,
                after_seq,
            } => {
                return self.read(
                    id,
                    Read::JobEvents {
                        session: session_id.to_string(),
                        job: job_id.to_string(),
                        after: *after_seq,
                    },
                );
            }
            Effect::LookupJob { job_id } => return self.read(id, Read::Job(job_id.to_string())),
            Effect::ListStoredJobs { principal } => {
                return self.read(id, Read::Jobs(principal.clone()));
            }
            Effect::ClaimSession { session_id } => {
                return self.read(id, Read::Claim(session_id.to_string()));
            }
            Effect::AdmitJob {
                principal,
                session_id,
                job_id,
                max_jobs,
                idempotency,
            } => {
                return self.read(
                    id,
                    Read::AdmitJob {
                        principal: principal.clone(),
                        session: session_id.to_string(),
                        job: job_id.to_string(),
                        max: *max_jobs,
                        idempotency: idempotency.as_ref().map(idem_to_store),
                    },
                );
            }
            Effect::AdmitSession {
                principal,
                session_id,
                max_sessions,
            } => {
                return self.read(
                    id,
                    Read::AdmitSession {
                        principal: principal.clone(),
                        session: session_id.to_string(),
                        max: *max_sessions,
                    },
                );
            }
            Effect::ForwardJobMessage {
                session_id,
                job_id,
                frame,
            } => StoreOp::Forward(vec![crate::cluster::ForwardedFrame {
                session_id: session_id.to_string(),
                job_id: job_id.to_string(),
                frame: frame.encode(),
            }]),
            Effect::ForwardCancel { job_id } => StoreOp::ForwardCancel {
                job_id: job_id.to_string(),
            },
            _ => return false,
        };
        self.ops.push(op);
        if let Some(id) = id {
            self.ids.push(id);
        }
        true
    }

    /// Queues a read to serve after the writes (an effect without an id has no one to answer).
    fn read(&mut self, id: Option<EffectId>, read: Read) -> bool {
        if let Some(id) = id {
            self.reads.push((id, read));
        }
        true
    }

    /// Deletes the feed rows `ids` (forwarded frames this node stamped) in the same
    /// transaction as the appends holding them, so each is stamped exactly once.
    pub fn consume_feed(&mut self, ids: Vec<i64>) {
        if !ids.is_empty() {
            self.ops.push(StoreOp::ConsumeFeed(ids));
        }
    }

    /// Housekeeping without an effect id: a session whose resume window closed.
    pub fn delete_session(&mut self, session_id: &SessionId) {
        self.ops
            .push(StoreOp::DeleteSession(session_id.to_string()));
    }
}

/// The outcome of one batch: one result per effect id.
pub type Completion = Vec<(EffectId, EffectOutcome)>;

/// Applies `batch` in one transaction, then serves its reads (at most `read_limit` frames
/// each): one outcome per effect id.
pub fn run_batch(store: &mut dyn Store, batch: Batch, read_limit: usize) -> Completion {
    let mut out = Vec::with_capacity(batch.ids.len() + batch.reads.len());
    let applied = if batch.ops.is_empty() {
        Ok(())
    } else {
        store.apply(&batch.ops)
    };
    let outcome = match &applied {
        Ok(()) => EffectOutcome::Done,
        Err(e) => EffectOutcome::Failed {
            message: format!("durable store: {e}"),
        },
    };
    out.extend(batch.ids.into_iter().map(|id| (id, outcome.clone())));
    for (id, read) in batch.reads {
        let outcome = match read {
            Read::Events { session, after } => {
                frames_read(store.read_events(&session, after, read_limit))
            }
            Read::JobEvents {
                session,
                job,
                after,
            } => frames_read(store.read_job_events(&session, &job, after, read_limit)),
            Read::Job(job_id) => match store.job(&job_id) {
                Ok(job) => EffectOutcome::JobLookedUp {
                    job: job.and_then(job_from_store).map(Box::new),
                },
                Err(e) => failed(&e),
            },
            Read::Jobs(principal) => match store.jobs() {
                Ok(jobs) => EffectOutcome::JobsListed {
                    jobs: jobs
                        .into_iter()
                        .filter(|j| principal.as_ref().is_none_or(|p| *p == j.principal))
                        .filter_map(job_from_store)
                        .collect(),
                },
                Err(e) => failed(&e),
            },
            Read::Claim(session) => claim(store, &session),
            Read::AdmitJob {
                principal,
                session,
                job,
                max,
                idempotency,
            } => admit_job(store, &principal, &session, &job, max, idempotency.as_ref()),
            Read::AdmitSession {
                principal,
                session,
                max,
            } => match store.admit_session(&principal, &session, max) {
                Ok(admitted) => EffectOutcome::SessionAdmission { admitted },
                Err(e) => failed(&e),
            },
        };
        out.push((id, outcome));
    }
    out
}

fn failed(e: &StoreError) -> EffectOutcome {
    EffectOutcome::Failed {
        message: format!("durable store: {e}"),
    }
}

/// Stored frames as the runtime's (frames that do not decode are skipped).
fn frames_read(read: Result<Vec<crate::StoredEvent>, StoreError>) -> EffectOutcome {
    match read {
        Ok(events) => EffectOutcome::EventsRead {
            frames: events
                .iter()
                .filter_map(|e| decode(&e.frame, &store_limits()).ok())
                .collect(),
        },
        Err(e) => failed(&e),
    }
}

/// Serves an `AdmitJob`; a duplicate comes with its job's `job.accepted` once that job's
/// record holds it (`None` while its node is still accepting it: the runtime asks again).
fn admit_job(
    store: &mut dyn Store,
    principal: &str,
    session: &str,
    job: &str,
    max: usize,
    idempotency: Option<&crate::IdempotencyRecord>,
) -> EffectOutcome {
    match store.admit_job(principal, session, job, max, idempotency) {
        Ok(crate::StoreAdmission::Admitted) => EffectOutcome::JobAdmission(Admission::Admitted),
        Ok(crate::StoreAdmission::Duplicate {
            fingerprint,
            job_id,
        }) => {
            let accepted = match store.job(&job_id) {
                Ok(record) => record
                    .and_then(job_from_store)
                    .and_then(|j| j.accepted)
                    .map(Box::new),
                Err(e) => return failed(&e),
            };
            EffectOutcome::JobAdmission(Admission::Duplicate {
                fingerprint,
                job_id: job_id.into(),
                accepted,
            })
        }
        Ok(crate::StoreAdmission::OverLimit) => EffectOutcome::JobAdmission(Admission::OverLimit),
        Err(e) => failed(&e),
    }
}

/// Serves a `ClaimSession`: this node becomes the session's owner; the outcome carries its
/// record (its counter the larger of the record's and the highest stored seq) and its
/// unfinished jobs on other nodes.
fn claim(store: &mut dyn Store, session_id: &str) -> EffectOutcome {
    match store.claim_session(session_id) {
        Ok(Some(c)) => {
            let stored = c.last_stored_seq.unwrap_or(0);
            let mut session = session_from_store(c.session);
            session.last_event_seq = session.last_event_seq.max(stored);
            EffectOutcome::SessionClaimed {
                session: Some(session),
                jobs: c.jobs.into_iter().filter_map(job_from_store).collect(),
            }
        }
        Ok(None) => EffectOutcome::SessionClaimed {
            session: None,
            jobs: Vec::new(),
        },
        Err(e) => failed(&e),
    }
}

/// A stored session record as the runtime's.
fn session_from_store(r: crate::SessionRecord) -> SessionRecord {
    SessionRecord {
        last_event_seq: r.last_event_seq,
        session_id: r.session_id.into(),
        principal: r.principal,
        resume_token_hash: r.resume_token_hash,
        window_expires_at: r.window_expires_at.map(Timestamp::from_unix_micros),
        // Stored as names; a name this build does not know is dropped.
        features: FeatureSet::from_names(&r.features),
    }
}

/// A forwarded frame (a feed row's bytes) decoded for
/// `Runtime::handle_remote_job_message`; `None` for bytes that do not decode.
pub fn forwarded_frame(bytes: &[u8]) -> Option<Frame> {
    decode(bytes, &store_limits()).ok()
}

/// A stored job record (e.g. of a lost node's job) as the runtime's; `None` when its
/// opaque data does not decode.
pub fn job_record(r: crate::JobRecord) -> Option<JobRecord> {
    job_from_store(r)
}

/// A stored credential record as the runtime's (not revoked).
pub fn credential_record(r: crate::CredentialRecord) -> CredentialRecord {
    CredentialRecord {
        credential_id: r.credential_id,
        job_id: r.job_id.into(),
        revoked: false,
    }
}

/// Decoding frames we wrote ourselves: the inbound cap does not apply to them.
fn store_limits() -> Limits {
    Limits {
        max_frame_bytes: usize::MAX,
        ..Limits::default()
    }
}

/// Drops what lapsed while no runtime ran (sessions whose resume window closed by
/// `now_unix_micros`, with their events; expired idempotency keys), in one transaction, then
/// reads what the runtime is rebuilt from ([`snapshot`]).
///
/// # Errors
///
/// The store's error, from the pruning or the reads.
pub fn restore(store: &mut dyn Store, now_unix_micros: i64) -> Result<StoreSnapshot, StoreError> {
    store.apply(&[
        StoreOp::PruneExpiredSessions { now_unix_micros },
        StoreOp::PruneExpiredIdempotency { now_unix_micros },
    ])?;
    snapshot(store)
}

/// The runtime's [`StoreSnapshot`] from the store's records. A session's counter is the
/// larger of its record's and its highest stored event (appends may be ahead of the record),
/// so the "runtime restarted" terminal takes the next seq and a resume sees no gap. Job
/// records whose opaque data does not decode are skipped.
///
/// # Errors
///
/// The store's error from any of the reads.
///
/// A node of a cluster (`store.node_id()` is `Some`) gets no sessions (each is claimed on
/// its resume: another node may own it) and only its own jobs ([`Store::node_jobs`]) with
/// their credentials: what it must end and revoke after a restart.
pub fn snapshot(store: &mut dyn Store) -> Result<StoreSnapshot, StoreError> {
    let clustered = store.node_id().is_some();
    let mut sessions = Vec::new();
    let records = if clustered {
        Vec::new()
    } else {
        store.sessions()?
    };
    for r in records {
        let stored = store.last_event_seq(&r.session_id)?.unwrap_or(0);
        let mut session = session_from_store(r);
        session.last_event_seq = session.last_event_seq.max(stored);
        sessions.push(session);
    }
    let jobs: Vec<JobRecord> = if clustered {
        store.node_jobs()?
    } else {
        store.jobs()?
    }
    .into_iter()
    .filter_map(job_from_store)
    .collect();
    let idempotency = store
        .idempotency_records()?
        .into_iter()
        .map(|r| IdempotencyRecord {
            principal: r.principal,
            key: r.key,
            fingerprint: r.fingerprint,
            job_id: r.job_id.into(),
            expires_at: Timestamp::from_unix_micros(r.expires_at),
        })
        .collect();
    let credentials = store
        .outstanding_credentials()?
        .into_iter()
        // A cluster node revokes only its own jobs' credentials.
        .filter(|r| !clustered || jobs.iter().any(|j| j.job_id.as_str() == r.job_id))
        .map(credential_record)
        .collect();
    Ok(StoreSnapshot {
        sessions,
        jobs,
        idempotency,
        credentials,
    })
}

fn stored_event(f: &StoredFrame) -> crate::StoredEvent {
    crate::StoredEvent {
        session_id: f.session_id.to_string(),
        event_seq: f.event_seq,
        job_id: f.job_id.as_ref().map(ToString::to_string),
        frame: f.encoded.to_vec(),
    }
}

fn session_to_store(r: &SessionRecord) -> crate::SessionRecord {
    crate::SessionRecord {
        session_id: r.session_id.to_string(),
        principal: r.principal.clone(),
        resume_token_hash: r.resume_token_hash.clone(),
        last_event_seq: r.last_event_seq,
        window_expires_at: r.window_expires_at.as_ref().map(Timestamp::unix_micros),
        features: r.features.to_names(),
    }
}

fn idem_to_store(r: &IdempotencyRecord) -> crate::IdempotencyRecord {
    crate::IdempotencyRecord {
        principal: r.principal.clone(),
        key: r.key.clone(),
        fingerprint: r.fingerprint.clone(),
        job_id: r.job_id.to_string(),
        // The runtime keeps the accepted payload on the job record.
        accepted: Vec::new(),
        expires_at: r.expires_at.unix_micros(),
    }
}

fn cred_to_store(r: &CredentialRecord) -> crate::CredentialRecord {
    crate::CredentialRecord {
        credential_id: r.credential_id.clone(),
        job_id: r.job_id.to_string(),
        data: Vec::new(),
    }
}

/// The job's opaque `data` blob: everything the columns do not hold, as JSON. The terminal
/// message is kept as an encoded envelope (the wire codec is its only serializer).
fn job_to_store(r: &JobRecord) -> crate::JobRecord {
    let terminal = r
        .terminal
        .as_ref()
        .map(|m| String::from_utf8_lossy(&Frame::new("terminal", m.clone()).encode()).into_owned());
    let data = json!({
        "last_event_seq": r.last_event_seq,
        "lease": r.lease,
        "lease_constraints": r.lease_constraints,
        "trace_id": r.trace_id,
        "parent_job_id": r.parent_job_id,
        "delegate_id": r.delegate_id,
        "accepted": r.accepted,
        "terminal": terminal,
        "submitted_at": r.submitted_at,
    });
    crate::JobRecord {
        job_id: r.job_id.to_string(),
        session_id: r.session_id.to_string(),
        principal: r.principal.clone(),
        agent: r.agent.to_string(),
        status: r.status.as_str().to_owned(),
        submitted_at: r.submitted_at.unix_micros(),
        terminal: r.status.is_terminal(),
        data: serde_json::to_vec(&data).unwrap_or_default(),
    }
}

/// The inverse of [`job_to_store`]; a record that does not parse is skipped.
fn job_from_store(r: crate::JobRecord) -> Option<JobRecord> {
    let data: Value = serde_json::from_slice(&r.data).ok()?;
    let field = |k: &str| data.get(k).cloned().unwrap_or(Value::Null);
    let status: JobStatus = serde_json::from_value(Value::String(r.status)).ok()?;
    let agent: AgentRef = r.agent.parse().ok()?;
    let lease: LeaseMap = serde_json::from_value(field("lease")).ok()?;
    let lease_constraints: Option<LeaseConstraints> =
        serde_json::from_value(field("lease_constraints")).ok()?;
    let trace_id: Option<TraceId> = serde_json::from_value(field("trace_id")).ok()?;
    let parent_job_id: Option<JobId> = serde_json::from_value(field("parent_job_id")).ok()?;
    let delegate_id: Option<String> = serde_json::from_value(field("delegate_id")).ok()?;
    let accepted: Option<Accepted> = serde_json::from_value(field("accepted")).ok()?;
    let terminal: Option<Message> = match field("terminal") {
        Value::String(s) => Some(decode(s.as_bytes(), &store_limits()).ok()?.message),
        _ => None,
    };
    let submitted_at: Timestamp = serde_json::from_value(field("submitted_at"))
        .unwrap_or_else(|_| Timestamp::from_unix_micros(r.submitted_at));
    Some(JobRecord {
        job_id: r.job_id.into(),
        session_id: r.session_id.into(),
        principal: r.principal,
        agent,
        status,
        submitted_at,
        last_event_seq: field("last_event_seq").as_u64().unwrap_or(0),
        lease,
        lease_constraints,
        trace_id,
        parent_job_id,
        delegate_id,
        accepted,
        terminal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arcp_proto::wire::{ErrorCode, JobError};

    fn append(seqs: std::ops::RangeInclusive<u64>) -> Effect {
        Effect::AppendEvents(
            seqs.map(|seq| {
                let ack = arcp_proto::wire::Ack {
                    last_processed_seq: seq,
                };
                let frame = Frame::new("sess_1", Message::Ack(ack)).with_event_seq(seq);
                let encoded = frame.encode().into();
                StoredFrame::new("sess_1".into(), seq, Some("job_1".into()), frame, encoded)
            })
            .collect(),
        )
    }

    fn seqs(op: &StoreOp) -> Vec<u64> {
        match op {
            StoreOp::AppendEvents(events) => events.iter().map(|e| e.event_seq).collect(),
            op => panic!("not an append: {op:?}"),
        }
    }

    #[test]
    fn consecutive_appends_are_one_op_in_order_and_each_effect_is_answered() {
        let mut b = Batch::default();
        assert!(b.push(Some(EffectId(1)), &append(1..=1)));
        assert!(b.push(Some(EffectId(2)), &append(2..=3)));
        assert!(b.push(None, &append(4..=4)));
        b.delete_session(&"sess_0".into());
        assert!(b.push(Some(EffectId(3)), &append(5..=5)));
        assert_eq!(b.ops.len(), 3);
        assert_eq!(seqs(&b.ops[0]), vec![1, 2, 3, 4]);
        assert!(matches!(&b.ops[1], StoreOp::DeleteSession(s) if s == "sess_0"));
        assert_eq!(seqs(&b.ops[2]), vec![5]);
        assert_eq!(b.ids, vec![EffectId(1), EffectId(2), EffectId(3)]);
    }

    #[test]
    fn job_records_round_trip_through_the_opaque_blob() {
        let rec = JobRecord {
            job_id: "job_1".into(),
            session_id: "sess_1".into(),
            principal: "alice".into(),
            agent: "versioned@2.0.0".parse().unwrap(),
            status: JobStatus::Error,
            submitted_at: Timestamp::parse("2026-11-24T01:30:43.059797Z").unwrap(),
            last_event_seq: 9,
            lease: LeaseMap(vec![("fs.read".into(), vec!["/a/**".into()])]),
            lease_constraints: None,
            trace_id: None,
            parent_job_id: Some("job_0".into()),
            delegate_id: Some("del_1".into()),
            accepted: None,
            terminal: Some(Message::JobError(JobError {
                final_status: arcp_proto::wire::FinalStatus::Error,
                code: ErrorCode::InternalError,
                message: "runtime restarted".into(),
                retryable: true,
                details: None,
                completed_at: None,
            })),
        };
        let stored = job_to_store(&rec);
        assert_eq!(stored.status, "error");
        assert!(stored.terminal);
        assert_eq!(stored.agent, "versioned@2.0.0");
        assert_eq!(job_from_store(stored), Some(rec));
    }
}
