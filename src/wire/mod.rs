//! The wire model: every ARCP v1.1 frame, typed, exactly as the reference speaks it.
//!
//! - [`Frame`] is one envelope; [`Message`] its type and typed payload.
//! - [`decode`] turns bytes into a [`Frame`] or a [`DecodeError`] that names the §12 code to
//!   answer with and the envelope id when one could be read; [`Frame::encode`] writes compact
//!   JSON in a stable field order.
//! - [`LineFramer`] frames the stdio transport.
//! - Typed ids ([`JobId`], [`SessionId`], [`RequestId`]: serde-transparent `String`s) and
//!   feature flags ([`Feature`], [`FeatureSet`]; the wire keeps their names).
//! - Ids ([`IdMinter`]), timestamps ([`Timestamp`]), exact amounts ([`Decimal`], [`Amount`]),
//!   agent refs ([`AgentRef`]) and trace ids ([`TraceId`]) take the reference's forms ([docs/compat.md]).
//!
//! [docs/compat.md]: crate::compat

mod agent;
mod codec;
mod cowstr;
mod decimal;
mod encode;
mod error;
mod event;
mod feature;
mod ids;
mod job;
mod lease;
mod message;
mod scan;
mod session;
mod stdio;
#[cfg(test)]
mod test_vectors;
mod timestamp;

pub use agent::{AgentRef, AgentRefError, MAX_AGENT_PART_LEN};
#[cfg(feature = "fuzzing")]
pub use codec::decode_general;
pub use codec::{
    DEFAULT_MAX_FRAME_BYTES, DecodeError, DecodeErrorKind, Limits, MAX_JSON_DEPTH, decode,
};
pub use decimal::{Amount, Budget, Decimal, DecimalError, MAX_DIGITS, MAX_SCALE, valid_currency};
pub use error::{ErrorCode, ErrorPayload};
pub use event::{
    ArtifactRefBody, ChunkEncoding, DelegateBody, EventBody, JobEvent, LogBody, MetricBody,
    MetricValue, ProgressBody, ResultChunkBody, StatusBody, ThoughtBody, ToolCallBody,
    ToolResultBody,
};
pub use feature::{Feature, FeatureIter, FeatureSet, UnknownFeature};
pub use ids::{
    Entropy, IdKind, IdMinter, JobId, MAX_ENVELOPE_ID_LEN, RequestId, SeededEntropy, SessionId,
    TraceId, TraceIdError, valid_envelope_id,
};
pub use job::{
    Accepted, Cancel, Credential, CredentialConstraints, FinalStatus, JobError, JobResult,
    MAX_IDEMPOTENCY_KEY_LEN, MAX_RUNTIME_SEC, Replayed, Submit, Subscribe, Subscribed, Unsubscribe,
};
pub use lease::{LeaseConstraints, LeaseMap};
pub use message::{ARCP_VERSION, Direction, Frame, Message, MessageType};
pub use session::{
    Ack, AgentInfo, Auth, Bye, Capabilities, ClientInfo, Close, Hello, JobFilter, JobStatus,
    JobSummary, Jobs, ListJobs, Ping, Pong, Resume, ResumeRequest, RuntimeInfo, Welcome,
};
pub use stdio::{LineFramer, LineTooLong};
pub(crate) use timestamp::SecondText;
pub use timestamp::{Timestamp, TimestampError};
