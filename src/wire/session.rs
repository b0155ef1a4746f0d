//! Session-level payloads: handshake, resume, heartbeat, ack, listing, close (spec §6.1–§6.7).

use super::ids::{JobId, RequestId, SessionId, TraceId};
use super::lease::LeaseMap;
use super::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `{name, version}` of a client; extra fields are allowed and kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// Client name.
    pub name: String,
    /// Client version.
    pub version: String,
    /// Extra fields, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `{name, version}` of a runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// Runtime name.
    pub name: String,
    /// Runtime version.
    pub version: String,
    /// The cluster node serving this connection (a clustered runtime only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
}

/// `session.hello.payload.auth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    /// Must be exactly `"bearer"` (checked when decoding a hello).
    pub scheme: String,
    /// The bearer token.
    pub token: String,
}

impl Auth {
    /// A bearer credential.
    pub fn bearer(token: impl Into<String>) -> Self {
        Auth {
            scheme: "bearer".into(),
            token: token.into(),
        }
    }
}

/// One entry of the welcome's agent inventory: a bare name (without `agent_versions`) or the
/// rich `{name, versions, default?}` form (spec §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AgentInfo {
    /// The flat form: just the name.
    Name(String),
    /// The rich form.
    Versions {
        /// Agent name.
        name: String,
        /// Registered versions, in registration order.
        versions: Vec<String>,
        /// The version a bare name resolves to; absent when the agent has no versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default: Option<String>,
    },
    /// Any other entry (a client's hello may list agents in its own shape; the runtime ignores
    /// them), kept verbatim.
    Other(serde_json::Value),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RichAgentInfo {
    name: String,
    versions: Vec<String>,
    #[serde(default)]
    default: Option<String>,
}

impl<'de> Deserialize<'de> for AgentInfo {
    /// Read as a JSON value first (a repeated key keeps its last value, as JSON parsers do),
    /// then classified, so that decoding what was encoded gives the same entry back.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(match v {
            Value::String(name) => AgentInfo::Name(name),
            Value::Object(_) => match RichAgentInfo::deserialize(&v) {
                Ok(r) if r.default.is_some() || v.get("default").is_none() => AgentInfo::Versions {
                    name: r.name,
                    versions: r.versions,
                    default: r.default,
                },
                _ => AgentInfo::Other(v),
            },
            other => AgentInfo::Other(other),
        })
    }
}

impl AgentInfo {
    /// The agent's name, whichever form (`""` for an unrecognised entry without one).
    pub fn name(&self) -> &str {
        match self {
            AgentInfo::Name(n) | AgentInfo::Versions { name: n, .. } => n,
            AgentInfo::Other(v) => v
                .get("name")
                .and_then(serde_json::Value::as_str)
                .unwrap_or(""),
        }
    }
}

/// `capabilities` in hello and welcome.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Capabilities {
    /// Supported encodings; `["json"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encodings: Option<Vec<String>>,
    /// Feature flags (§5.3). In a welcome, the runtime's full list ([D24]).
    ///
    /// [D24]: crate::compat#d24--welcome
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    /// The agent inventory (welcome) or the client's own list (hello; ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<Vec<AgentInfo>>,
}

/// `session.hello.payload.resume`, and the whole payload of the spec's `session.resume` ([D2]).
///
/// [D2]: crate::compat#d2--resume
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeRequest {
    /// The session to resume.
    pub session_id: SessionId,
    /// The most recent resume token.
    pub resume_token: String,
    /// The highest `event_seq` the client has processed.
    pub last_event_seq: u64,
}

/// `session.hello` payload (spec §6.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Who the client is.
    pub client: ClientInfo,
    /// Bearer credentials.
    pub auth: Auth,
    /// Requested capabilities; absent means no features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// Resume an existing session instead of opening one ([D2]).
    ///
    /// [D2]: crate::compat#d2--resume
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumeRequest>,
}

impl Hello {
    /// The requested feature flags (empty when `capabilities` is absent).
    pub fn features(&self) -> &[String] {
        self.capabilities
            .as_ref()
            .and_then(|c| c.features.as_deref())
            .unwrap_or(&[])
    }
}

/// The spec's `session.resume` payload ([D2]): the resume fields, with the hello fields allowed
/// alongside.
///
/// [D2]: crate::compat#d2--resume
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    /// The session to resume.
    pub session_id: SessionId,
    /// The most recent resume token.
    pub resume_token: String,
    /// The highest `event_seq` the client has processed.
    pub last_event_seq: u64,
    /// Credentials, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// Client info, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientInfo>,
    /// Capabilities, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
}

/// `session.welcome` payload (spec §6.2, [D24]).
///
/// [D24]: crate::compat#d24--welcome
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// Who the runtime is.
    pub runtime: RuntimeInfo,
    /// The session id, duplicated from the envelope (the reference client requires it, [D24]).
    ///
    /// [D24]: crate::compat#d24--welcome
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<SessionId>,
    /// The token for the next resume; rotated on every welcome.
    pub resume_token: String,
    /// How long the session stays resumable after a drop.
    pub resume_window_sec: u64,
    /// Present only when `heartbeat` was negotiated ([D26]).
    ///
    /// [D26]: crate::compat#d26--non-negotiated-features
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_sec: Option<u64>,
    /// The runtime's full features and agent inventory ([D24]).
    ///
    /// [D24]: crate::compat#d24--welcome
    pub capabilities: Capabilities,
    /// When the session was accepted (the reference client requires it, [D24]).
    ///
    /// [D24]: crate::compat#d24--welcome
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<Timestamp>,
}

/// `session.ping` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ping {
    /// Echoed in the pong.
    pub nonce: String,
    /// When it was sent.
    pub sent_at: Timestamp,
}

/// `session.pong` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pong {
    /// The ping's nonce.
    pub ping_nonce: String,
    /// When the ping was received.
    pub received_at: Timestamp,
}

/// `session.ack` payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Highest `event_seq` processed.
    pub last_processed_seq: u64,
}

/// `session.list_jobs` filter.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobFilter {
    /// Match any of these statuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<String>>,
    /// Exact `name@version` match ([D11]).
    ///
    /// [D11]: crate::compat#d11--job-list-entries
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Strictly after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_after: Option<Timestamp>,
}

/// `session.list_jobs` payload.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListJobs {
    /// Which jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<JobFilter>,
    /// Page size, 1..=1000 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A job's lifecycle state (spec §7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Accepted, waiting for a slot.
    Pending,
    /// Running.
    Running,
    /// Finished successfully.
    Success,
    /// Failed.
    Error,
    /// Cancelled.
    Cancelled,
    /// Exceeded `max_runtime_sec`.
    TimedOut,
}

impl JobStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Success => "success",
            JobStatus::Error => "error",
            JobStatus::Cancelled => "cancelled",
            JobStatus::TimedOut => "timed_out",
        }
    }

    /// `true` for the four terminal states.
    pub fn is_terminal(self) -> bool {
        !matches!(self, JobStatus::Pending | JobStatus::Running)
    }
}

/// One entry of `session.jobs` ([D11]: reference fields plus the spec's).
///
/// [D11]: crate::compat#d11--job-list-entries
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    /// The job.
    pub job_id: JobId,
    /// Resolved `name@version`.
    pub agent: String,
    /// Current state.
    pub status: JobStatus,
    /// Submission time (reference name, [D11]).
    ///
    /// [D11]: crate::compat#d11--job-list-entries
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<Timestamp>,
    /// Parent job of a delegation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_job_id: Option<JobId>,
    /// The delegation id, when the submit carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegate_id: Option<String>,
    /// The job's trace id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<TraceId>,
    /// Submission time (spec name, [D11]).
    ///
    /// [D11]: crate::compat#d11--job-list-entries
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// The effective lease (spec, [D11]).
    ///
    /// [D11]: crate::compat#d11--job-list-entries
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseMap>,
    /// Highest `event_seq` in the submitting session's numbering (spec, [D11]).
    ///
    /// [D11]: crate::compat#d11--job-list-entries
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_seq: Option<u64>,
}

/// `session.jobs` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jobs {
    /// The `session.list_jobs` envelope id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<RequestId>,
    /// This page.
    pub jobs: Vec<JobSummary>,
    /// Absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `session.bye` payload ([D1]).
///
/// [D1]: crate::compat#d1--close
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bye {
    /// Why the session ends.
    pub reason: String,
    /// An optional machine-readable code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// Payload of the spec's `session.close` and `session.closed` ([D1]); both are usually `{}`.
///
/// [D1]: crate::compat#d1--close
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Close {
    /// Why the session ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
