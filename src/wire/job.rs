//! Job payloads: submit, accepted, cancel, result, error, subscribe (spec §7.6, §7, §9.8).

use super::agent::AgentRef;
use super::decimal::Budget;
use super::error::{ErrorCode, present};
use super::ids::{JobId, RequestId, TraceId};
use super::lease::{LeaseConstraints, LeaseMap};
use super::session::JobStatus;
use super::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest accepted `idempotency_key` (spec §7.1).
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 256;
/// Largest accepted `max_runtime_sec`.
pub const MAX_RUNTIME_SEC: u32 = 86_400;

/// `job.submit` payload (spec §7.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submit {
    /// `name` or `name@version`.
    pub agent: AgentRef,
    /// The agent's input; `None` when absent (treated as null).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub input: Option<Value>,
    /// Requested lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_request: Option<LeaseMap>,
    /// Constraints such as `expires_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_constraints: Option<LeaseConstraints>,
    /// 1..=256 chars; scope is the principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// 1..=86400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runtime_sec: Option<u32>,
    /// The parent job of a delegation ([D28]).
    ///
    /// [D28]: crate::compat#d28--delegation
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_job_id: Option<JobId>,
    /// The delegation id (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegate_id: Option<String>,
    /// Fields this version does not know: ignored, but part of the idempotency fingerprint.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Submit {
    /// A submit of `agent` with `input` and nothing else.
    pub fn new(agent: AgentRef, input: Value) -> Self {
        Submit {
            agent,
            input: Some(input),
            lease_request: None,
            lease_constraints: None,
            idempotency_key: None,
            max_runtime_sec: None,
            parent_job_id: None,
            delegate_id: None,
            extra: Map::new(),
        }
    }
}

/// Constraints of a provisioned credential: reference keys on output, spec keys accepted ([D13]).
///
/// [D13]: crate::compat#d13--credential-constraints
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CredentialConstraints {
    /// Budget patterns (`cost_budget`, alias `cost.budget`).
    #[serde(
        default,
        rename = "cost_budget",
        alias = "cost.budget",
        skip_serializing_if = "Option::is_none"
    )]
    pub cost_budget: Option<Vec<String>>,
    /// Model patterns (`model_use`, alias `model.use`).
    #[serde(
        default,
        rename = "model_use",
        alias = "model.use",
        skip_serializing_if = "Option::is_none"
    )]
    pub model_use: Option<Vec<String>>,
    /// When the credential stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// A provisioned credential (spec §9.8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    /// `cred_…`
    pub id: String,
    /// `"bearer"`.
    pub scheme: String,
    /// The secret.
    pub value: String,
    /// Where it is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Provider profile, e.g. `"openai"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Limits mirrored from the lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<CredentialConstraints>,
}

/// `job.accepted` payload (spec §7.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accepted {
    /// The new job.
    pub job_id: JobId,
    /// Resolved `name@version` (bare name if the agent has no versions).
    pub agent: AgentRef,
    /// When it was accepted.
    pub accepted_at: Timestamp,
    /// The effective lease.
    #[serde(default)]
    pub lease: LeaseMap,
    /// Echoed verbatim when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_constraints: Option<LeaseConstraints>,
    /// Initial counters, reference string form ([D12]).
    ///
    /// [D12]: crate::compat#d12--budget-echo
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// Echoed when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_job_id: Option<JobId>,
    /// Echoed when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegate_id: Option<String>,
    /// Echoed from the submit envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<TraceId>,
    /// Only with `provisioned_credentials` ([D26]).
    ///
    /// [D26]: crate::compat#d26--non-negotiated-features
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Vec<Credential>>,
    /// The `job.submit` envelope id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<RequestId>,
}

/// `job.cancel` payload; the job is the envelope's `job_id` ([D6]).
///
/// [D6]: crate::compat#d6--cancel
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cancel {
    /// Why (optional on input, [D6]).
    ///
    /// [D6]: crate::compat#d6--cancel
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Optional machine-readable code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// How a job ended (`final_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalStatus {
    /// Finished successfully.
    Success,
    /// Failed (`job.error`).
    Error,
    /// Cancelled ([D6]).
    ///
    /// [D6]: crate::compat#d6--cancel
    Cancelled,
    /// Exceeded `max_runtime_sec` ([D8]).
    ///
    /// [D8]: crate::compat#d8--timeout
    TimedOut,
}

impl FinalStatus {
    /// The matching [`JobStatus`].
    pub fn status(self) -> JobStatus {
        match self {
            FinalStatus::Success => JobStatus::Success,
            FinalStatus::Error => JobStatus::Error,
            FinalStatus::Cancelled => JobStatus::Cancelled,
            FinalStatus::TimedOut => JobStatus::TimedOut,
        }
    }
}

/// `job.result` payload (spec §7.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    /// How it ended.
    pub final_status: FinalStatus,
    /// The inline result; omitted when null ([D34]), a decoded explicit null kept.
    ///
    /// [D34]: crate::compat#d34--null-result
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub result: Option<Value>,
    /// The streamed result's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_id: Option<String>,
    /// Decoded bytes of the streamed result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_size: Option<u64>,
    /// Short description of a streamed result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
}

/// `job.error` payload (spec §12).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobError {
    /// `"error"` (the spec's `CANCELLED` form carries `"cancelled"`, [D6]).
    ///
    /// [D6]: crate::compat#d6--cancel
    pub final_status: FinalStatus,
    /// The §12 code.
    pub code: ErrorCode,
    /// Human-readable text.
    pub message: String,
    /// Whether a retry may succeed.
    pub retryable: bool,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    /// Omitted when empty.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub details: Option<Value>,
}

/// `job.subscribe` payload (spec §7.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribe {
    /// The job to observe.
    pub job_id: JobId,
    /// Replay logged frames first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<bool>,
    /// Replay frames after this seq of the submitting session's numbering ([D10]).
    ///
    /// [D10]: crate::compat#d10--subscribed-events
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_event_seq: Option<u64>,
}

/// `replayed` in `job.subscribed`: the reference's count or the spec's flag ([D9]).
///
/// [D9]: crate::compat#d9--job-subscribed
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Replayed {
    /// Number of replayed frames (reference, emitted).
    Count(u64),
    /// Whether anything was replayed (spec).
    Flag(bool),
}

/// `job.subscribed` payload ([D9]).
///
/// [D9]: crate::compat#d9--job-subscribed
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    /// The `job.subscribe` envelope id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<RequestId>,
    /// The observed job.
    pub job_id: JobId,
    /// Its state now.
    pub current_status: JobStatus,
    /// Resolved `name@version`.
    pub agent: AgentRef,
    /// Its lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseMap>,
    /// Its constraints (spec, [D9]).
    ///
    /// [D9]: crate::compat#d9--job-subscribed
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_constraints: Option<LeaseConstraints>,
    /// Current remaining counters (spec, [D9]).
    ///
    /// [D9]: crate::compat#d9--job-subscribed
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// Only to the submitting principal ([D9]).
    ///
    /// [D9]: crate::compat#d9--job-subscribed
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Vec<Credential>>,
    /// Parent job of a delegation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_job_id: Option<JobId>,
    /// The job's trace id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<TraceId>,
    /// Subscriber-side seq of the last replayed frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribed_from: Option<u64>,
    /// How much was replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed: Option<Replayed>,
}

/// `job.unsubscribe` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscribe {
    /// The job to stop observing.
    pub job_id: JobId,
}
