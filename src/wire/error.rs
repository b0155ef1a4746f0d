//! The §12 error taxonomy and the error payload shared by `session.error` and `job.error`.

use super::ids::RequestId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// An ARCP error code (spec §12). Codes outside the taxonomy are kept verbatim in
/// [`ErrorCode::Other`] so a peer's vendor code never makes a frame undecodable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// Operation rejected by lease enforcement or policy.
    PermissionDenied,
    /// Delegation request expanded beyond the parent lease.
    LeaseSubsetViolation,
    /// Referenced `job_id` does not exist or is not visible.
    JobNotFound,
    /// `idempotency_key` reused with conflicting parameters.
    DuplicateKey,
    /// Requested agent is not registered.
    AgentNotAvailable,
    /// Agent name resolved but the requested version is unavailable.
    AgentVersionNotAvailable,
    /// Job ended due to client cancellation.
    Cancelled,
    /// Job exceeded `max_runtime_sec`.
    Timeout,
    /// Resume attempted after the buffer window closed (D5, D38).
    ResumeWindowExpired,
    /// Peer detected counterparty disconnection (local to each side, D25, D38).
    HeartbeatLost,
    /// The lease's `expires_at` was reached.
    LeaseExpired,
    /// A `cost.budget` counter reached zero.
    BudgetExhausted,
    /// Malformed envelope or schema violation.
    InvalidRequest,
    /// Missing or invalid authentication.
    Unauthenticated,
    /// Unrecoverable runtime fault. Always retryable.
    InternalError,
    /// A code outside the §12 taxonomy, kept as received.
    Other(String),
}

impl ErrorCode {
    /// Every code of the §12 taxonomy, in spec order.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::PermissionDenied,
        ErrorCode::LeaseSubsetViolation,
        ErrorCode::JobNotFound,
        ErrorCode::DuplicateKey,
        ErrorCode::AgentNotAvailable,
        ErrorCode::AgentVersionNotAvailable,
        ErrorCode::Cancelled,
        ErrorCode::Timeout,
        ErrorCode::ResumeWindowExpired,
        ErrorCode::HeartbeatLost,
        ErrorCode::LeaseExpired,
        ErrorCode::BudgetExhausted,
        ErrorCode::InvalidRequest,
        ErrorCode::Unauthenticated,
        ErrorCode::InternalError,
    ];

    /// The wire spelling, e.g. `"INVALID_REQUEST"`.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::LeaseSubsetViolation => "LEASE_SUBSET_VIOLATION",
            ErrorCode::JobNotFound => "JOB_NOT_FOUND",
            ErrorCode::DuplicateKey => "DUPLICATE_KEY",
            ErrorCode::AgentNotAvailable => "AGENT_NOT_AVAILABLE",
            ErrorCode::AgentVersionNotAvailable => "AGENT_VERSION_NOT_AVAILABLE",
            ErrorCode::Cancelled => "CANCELLED",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::ResumeWindowExpired => "RESUME_WINDOW_EXPIRED",
            ErrorCode::HeartbeatLost => "HEARTBEAT_LOST",
            ErrorCode::LeaseExpired => "LEASE_EXPIRED",
            ErrorCode::BudgetExhausted => "BUDGET_EXHAUSTED",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::Other(s) => s,
        }
    }

    /// Parses a wire spelling; anything outside §12 becomes [`ErrorCode::Other`].
    pub fn parse(s: &str) -> ErrorCode {
        ErrorCode::ALL
            .iter()
            .find(|c| c.as_str() == s)
            .cloned()
            .unwrap_or_else(|| ErrorCode::Other(s.to_owned()))
    }

    /// The default `retryable` flag: `true` only for `INTERNAL_ERROR` (§12, WIRE.md §11.2).
    pub fn retryable(&self) -> bool {
        matches!(self, ErrorCode::InternalError)
    }

    /// The `retryable` flag an error of this code goes out with when its author (an agent)
    /// suggested `given` (§12): `LEASE_EXPIRED` and `BUDGET_EXHAUSTED` never (a naive retry
    /// fails identically), `INTERNAL_ERROR` always; any other code keeps `given`, or
    /// [`ErrorCode::retryable`] when none was given.
    pub fn normalize_retryable(&self, given: Option<bool>) -> bool {
        match self {
            ErrorCode::LeaseExpired | ErrorCode::BudgetExhausted => false,
            ErrorCode::InternalError => true,
            _ => given.unwrap_or_else(|| self.retryable()),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = super::cowstr::CowStr::deserialize(d)?;
        Ok(ErrorCode::parse(&s))
    }
}

/// Deserializes a present field into `Some`, keeping an explicit JSON `null` as `Some(Null)`.
///
/// Used with `#[serde(default)]`, so an absent field stays `None`. This is how a decoded
/// `session.error` keeps the `"details": null` it arrived with (D21) and a `job.result`
/// keeps an explicit `"result": null` (D34).
pub(crate) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The payload of `session.error`, and the error part of a tool result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorPayload {
    /// The §12 code.
    pub code: ErrorCode,
    /// Human-readable text; never parse it.
    pub message: String,
    /// Whether a retry may succeed.
    pub retryable: bool,
    /// Extra structured detail. `None` omits the key (what the core emits, D21); a decoded
    /// `"details": null` is kept as `Some(Value::Null)` and re-encoded as such.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub details: Option<Value>,
    /// The envelope id of the request that failed (D20); absent on session-level failures
    /// and on every error the reference emits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<RequestId>,
}

impl ErrorPayload {
    /// An error with the code's default `retryable` flag and no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let retryable = code.retryable();
        ErrorPayload {
            code,
            message: message.into(),
            retryable,
            details: None,
            request_id: None,
        }
    }

    /// Names the failing request's envelope id (D20).
    pub fn with_request_id(mut self, request_id: impl Into<RequestId>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Adds a `details` object (omitted when `details` is empty, D21).
    pub fn with_details(mut self, details: serde_json::Map<String, Value>) -> Self {
        self.details = if details.is_empty() {
            None
        } else {
            Some(Value::Object(details))
        };
        self
    }
}

impl fmt::Display for ErrorPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}
