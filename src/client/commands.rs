//! Commands: what the host asks the session to do. Each returns an [`ApiError`] on caller
//! misuse and sends nothing then; none is ever refused because of peer data.

use super::event::{ClientEvent, ClientState, CloseReason, RequestError, RequestKind};
use super::{ApiError, ClientSession};
use crate::time::Instant;
use crate::wire::{
    AgentRef, Bye, Cancel, LeaseConstraints, LeaseMap, ListJobs, MAX_IDEMPOTENCY_KEY_LEN,
    MAX_RUNTIME_SEC, Message, Submit, Subscribe, TraceId, Unsubscribe,
};
use crate::wire::{Feature, JobId, RequestId};
use serde_json::{Map, Value};

/// `session.list_jobs` arguments: filter, limit (1..=1000) and cursor.
pub type ListJobsRequest = ListJobs;

/// Everything `job.submit` can carry (the reference's `client.submit(...)` arguments).
#[derive(Debug, Clone, PartialEq)]
pub struct SubmitRequest {
    /// `name` or `name@version`.
    pub agent: String,
    /// The agent's input.
    pub input: Value,
    /// Requested lease; sent even when empty, as the reference does.
    pub lease_request: LeaseMap,
    /// `expires_at` and friends.
    pub lease_constraints: Option<LeaseConstraints>,
    /// 1..=256 chars; a resubmit with the same key and payload gets the same job ([D27]).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    pub idempotency_key: Option<String>,
    /// 1..=86400.
    pub max_runtime_sec: Option<u32>,
    /// The envelope `trace_id` ([D15]).
    ///
    /// [D15]: crate::compat#d15--trace-id
    pub trace_id: Option<TraceId>,
    /// The parent job of a delegation ([D28]).
    ///
    /// [D28]: crate::compat#d28--delegation
    pub parent_job_id: Option<JobId>,
}

/// The `reason` a `job.cancel` carries when the caller gives none ([D6]: the reference runtime
/// refuses a cancel without one).
///
/// [D6]: crate::compat#d6--cancel
pub const DEFAULT_CANCEL_REASON: &str = "client.cancel";

impl SubmitRequest {
    /// A submit of `agent` (`name` or `name@version`) with `input` and an empty lease.
    pub fn new(agent: impl Into<String>, input: Value) -> Self {
        SubmitRequest {
            agent: agent.into(),
            input,
            lease_request: LeaseMap::default(),
            lease_constraints: None,
            idempotency_key: None,
            max_runtime_sec: None,
            trace_id: None,
            parent_job_id: None,
        }
    }

    /// Adds (or replaces) one lease namespace.
    pub fn lease(mut self, namespace: impl Into<String>, patterns: Vec<String>) -> Self {
        let ns = namespace.into();
        match self.lease_request.0.iter_mut().find(|(n, _)| *n == ns) {
            Some(slot) => slot.1 = patterns,
            None => self.lease_request.0.push((ns, patterns)),
        }
        self
    }

    /// Sets `lease_constraints`.
    pub fn lease_constraints(mut self, c: LeaseConstraints) -> Self {
        self.lease_constraints = Some(c);
        self
    }

    /// Sets `idempotency_key`.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Sets `max_runtime_sec`.
    pub fn max_runtime_sec(mut self, secs: u32) -> Self {
        self.max_runtime_sec = Some(secs);
        self
    }

    /// Sets the envelope `trace_id`.
    pub fn trace_id(mut self, trace: TraceId) -> Self {
        self.trace_id = Some(trace);
        self
    }

    fn into_payload(self) -> Result<(Submit, Option<TraceId>), ApiError> {
        let agent =
            AgentRef::parse(&self.agent).map_err(|e| ApiError::InvalidArgument(e.to_string()))?;
        if let Some(k) = &self.idempotency_key {
            let n = k.chars().count();
            if n == 0 || n > MAX_IDEMPOTENCY_KEY_LEN {
                return Err(ApiError::InvalidArgument(format!(
                    "idempotency_key must be 1..={MAX_IDEMPOTENCY_KEY_LEN} characters"
                )));
            }
        }
        if let Some(s) = self.max_runtime_sec
            && (s == 0 || s > MAX_RUNTIME_SEC)
        {
            return Err(ApiError::InvalidArgument(format!(
                "max_runtime_sec must be 1..={MAX_RUNTIME_SEC}"
            )));
        }
        let submit = Submit {
            agent,
            input: Some(self.input),
            lease_request: Some(self.lease_request),
            lease_constraints: self.lease_constraints,
            idempotency_key: self.idempotency_key,
            max_runtime_sec: self.max_runtime_sec,
            parent_job_id: self.parent_job_id,
            delegate_id: None,
            extra: Map::new(),
        };
        Ok((submit, self.trace_id))
    }
}

impl ClientSession {
    fn require_open(&self) -> Result<(), ApiError> {
        match self.state {
            ClientState::Open => Ok(()),
            ClientState::Closed => Err(ApiError::Closed),
            s => Err(ApiError::NotOpen(s)),
        }
    }

    /// Decision [D26]: never send a gated message outside the negotiated intersection.
    ///
    /// [D26]: crate::compat#d26--non-negotiated-features
    fn require_feature(&self, feature: Feature) -> Result<(), ApiError> {
        if self.features.contains(feature) {
            Ok(())
        } else {
            Err(ApiError::FeatureNotNegotiated(feature))
        }
    }

    fn require_room(&self, pending: bool) -> Result<(), ApiError> {
        if pending && self.pending.len() >= self.config.max_pending_requests {
            return Err(ApiError::TooManyPending(self.config.max_pending_requests));
        }
        if self.transmits.len() >= self.config.max_pending_transmits {
            return Err(ApiError::TransmitQueueFull(
                self.config.max_pending_transmits,
            ));
        }
        Ok(())
    }

    fn send_request(
        &mut self,
        now: Instant,
        message: Message,
        job_id: Option<JobId>,
        trace: Option<TraceId>,
        kind: Option<RequestKind>,
    ) -> Result<RequestId, ApiError> {
        let mut frame = self.session_frame(now, message).with_trace(trace);
        frame.job_id = job_id;
        let id = frame.id.clone();
        self.send(now, frame)?;
        if let Some(kind) = kind {
            self.pending.push_back((id.clone(), kind));
        }
        Ok(RequestId::from(id))
    }

    /// `job.submit`. The runtime mints the job id; the `Accepted` event with this
    /// request id links them.
    pub fn submit(&mut self, now: Instant, req: SubmitRequest) -> Result<RequestId, ApiError> {
        let now = self.clamp(now);
        self.require_open()?;
        self.require_room(true)?;
        // Not gated (D26): cost.budget, model.use and lease_constraints inside leases.
        let (submit, trace) = req.into_payload()?;
        self.send_request(
            now,
            Message::Submit(submit),
            None,
            trace,
            Some(RequestKind::Submit),
        )
    }

    /// `job.cancel` of `job_id` ([D6]: the job is the envelope's `job_id`; without a `reason`,
    /// [`DEFAULT_CANCEL_REASON`] is sent, since the reference runtime requires one). The job's
    /// terminal frame answers it; a refusal comes as `RequestFailed` with this id ([D20]).
    ///
    /// [D6]: crate::compat#d6--cancel
    /// [D20]: crate::compat#d20--error-correlation
    pub fn cancel(
        &mut self,
        now: Instant,
        job_id: &JobId,
        reason: Option<&str>,
    ) -> Result<RequestId, ApiError> {
        let now = self.clamp(now);
        self.require_open()?;
        self.require_room(false)?;
        if job_id.is_empty() {
            return Err(ApiError::InvalidArgument("empty job_id".into()));
        }
        // D6: the reference runtime requires `reason`; send a default when none is given.
        let cancel = Cancel {
            reason: Some(reason.unwrap_or(DEFAULT_CANCEL_REASON).to_owned()),
            code: None,
        };
        self.send_request(
            now,
            Message::Cancel(cancel),
            Some(job_id.to_owned()),
            None,
            None,
        )
    }

    /// `session.ack` of everything up to `last_processed_seq` (gated by `ack`, [D26]).
    ///
    /// [D26]: crate::compat#d26--non-negotiated-features
    pub fn ack(&mut self, now: Instant, last_processed_seq: u64) -> Result<(), ApiError> {
        let now = self.clamp(now);
        self.require_open()?;
        self.require_feature(Feature::Ack)?;
        self.require_room(false)?;
        if last_processed_seq > self.seq.last() {
            return Err(ApiError::InvalidArgument(format!(
                "cannot ack {last_processed_seq}: only {} delivered",
                self.seq.last()
            )));
        }
        let ack = crate::wire::Ack { last_processed_seq };
        self.send_request(now, Message::Ack(ack), None, None, None)?;
        self.acks.on_acked(now, last_processed_seq);
        Ok(())
    }

    /// `session.list_jobs` (gated by `list_jobs`, [D26]); answered by a `Jobs` event.
    ///
    /// [D26]: crate::compat#d26--non-negotiated-features
    pub fn list_jobs(&mut self, now: Instant, req: ListJobsRequest) -> Result<RequestId, ApiError> {
        let now = self.clamp(now);
        self.require_open()?;
        self.require_feature(Feature::ListJobs)?;
        self.require_room(true)?;
        if let Some(l) = req.limit
            && !(1..=1000).contains(&l)
        {
            return Err(ApiError::InvalidArgument("limit must be 1..=1000".into()));
        }
        self.send_request(
            now,
            Message::ListJobs(req),
            None,
            None,
            Some(RequestKind::ListJobs),
        )
    }

    /// `job.subscribe` (gated by `subscribe`, [D26]); answered by a `Subscribed` event. The
    /// job's frames are delivered from now on, replayed history first when `history`. A
    /// replay of an ended job ends it again: the job's frames are accepted from the replay's
    /// first `event_seq` (`subscribed_from - replayed + 1`) on, even when the job's earlier
    /// terminal arrives after the `Subscribed` event.
    ///
    /// [D26]: crate::compat#d26--non-negotiated-features
    pub fn subscribe(
        &mut self,
        now: Instant,
        job_id: &JobId,
        history: bool,
        from_event_seq: Option<u64>,
    ) -> Result<RequestId, ApiError> {
        let now = self.clamp(now);
        self.require_open()?;
        self.require_feature(Feature::Subscribe)?;
        self.require_room(true)?;
        if job_id.is_empty() {
            return Err(ApiError::InvalidArgument("empty job_id".into()));
        }
        if self.seq.is_subscribed(job_id) {
            return Err(ApiError::AlreadySubscribed(job_id.to_owned()));
        }
        if self.seq.subscriptions() >= self.config.max_subscriptions {
            return Err(ApiError::TooManySubscriptions(
                self.config.max_subscriptions,
            ));
        }
        let sub = Subscribe {
            job_id: job_id.clone(),
            history: Some(history),
            from_event_seq,
        };
        let id = self.send_request(
            now,
            Message::Subscribe(sub),
            Some(job_id.to_owned()),
            None,
            Some(RequestKind::Subscribe(job_id.clone())),
        )?;
        self.seq.subscribe(job_id);
        // A subscription with history may replay the job's terminal again.
        self.ended.rearm(job_id);
        Ok(id)
    }

    /// `job.unsubscribe` (gated by `subscribe`, [D26]). Nothing of the job is delivered after.
    ///
    /// [D26]: crate::compat#d26--non-negotiated-features
    pub fn unsubscribe(&mut self, now: Instant, job_id: &JobId) -> Result<RequestId, ApiError> {
        let now = self.clamp(now);
        self.require_open()?;
        self.require_feature(Feature::Subscribe)?;
        self.require_room(false)?;
        if !self.seq.is_subscribed(job_id) {
            return Err(ApiError::NotSubscribed(job_id.to_owned()));
        }
        let unsub = Unsubscribe {
            job_id: job_id.clone(),
        };
        let id = self.send_request(now, Message::Unsubscribe(unsub), None, None, None)?;
        self.seq.unsubscribe(job_id);
        Ok(id)
    }

    /// `session.ping` (never gated: the runtime always answers, [D26]). Returns the nonce the
    /// `Pong` event will name.
    ///
    /// [D26]: crate::compat#d26--non-negotiated-features
    pub fn ping(&mut self, now: Instant) -> Result<String, ApiError> {
        let now = self.clamp(now);
        self.require_open()?;
        if self.pings.len() >= self.config.max_outstanding_pings {
            return Err(ApiError::TooManyPending(self.config.max_outstanding_pings));
        }
        self.require_room(false)?;
        self.send_ping(now)
    }

    /// Ends the session with `session.bye {reason}` ([D1]; the reference sends
    /// `"client.close"`). Pending requests fail; the host closes the transport after
    /// sending the bye.
    ///
    /// [D1]: crate::compat#d1--close
    pub fn close(&mut self, now: Instant, reason: &str) -> Result<(), ApiError> {
        let now = self.clamp(now);
        match self.state {
            ClientState::Closed => return Err(ApiError::Closed),
            ClientState::Disconnected => {
                self.state = ClientState::Closed;
                self.fail_pending(&RequestError::SessionClosed);
                self.push_event(ClientEvent::Closed(CloseReason::Bye));
                return Ok(());
            }
            ClientState::Handshaking | ClientState::Open => {}
        }
        let bye = Bye {
            reason: reason.to_owned(),
            code: None,
        };
        let frame = self.session_frame(now, Message::Bye(bye));
        // The bye goes out even over a full queue: it is the last frame.
        self.transmits.push_back(frame);
        self.close_session(CloseReason::Bye, RequestError::SessionClosed);
        Ok(())
    }
}
