//! `job.event` payloads: `{kind, ts, body}` with typed bodies (WIRE.md §13, COMPAT D14).
//!
//! Bodies are agent data: every typed body keeps unknown fields in `extra` and re-encodes
//! them unchanged; a kind this version does not know, or a known kind whose body does not fit
//! its shape, is kept verbatim as [`EventBody::Other`].

use super::agent::AgentRef;
use super::error::{ErrorPayload, present};
use super::lease::{LeaseConstraints, LeaseMap};
use super::timestamp::Timestamp;
use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

macro_rules! body {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            /// Fields this version does not know, kept verbatim.
            #[serde(flatten)]
            pub extra: Map<String, Value>,
        }
    };
}

body!(
    /// `log`: `{level, message, attributes?}`.
    LogBody {
        /// `debug`, `info`, `warn` or `error`.
        level: String,
        /// The line.
        message: String,
        /// Structured attributes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attributes: Option<Value>,
    }
);

body!(
    /// `thought`: `{text}`.
    ThoughtBody {
        /// The thought.
        text: String,
    }
);

body!(
    /// `tool_call`: reference names, spec names accepted (D14).
    ToolCallBody {
        /// Call id (spec: `call_id`).
        #[serde(alias = "call_id")]
        tool_call_id: String,
        /// Tool name (spec: `tool`).
        #[serde(alias = "tool")]
        name: String,
        /// Arguments (spec: `args`).
        #[serde(default, alias = "args", deserialize_with = "present", skip_serializing_if = "Option::is_none")]
        arguments: Option<Value>,
    }
);

body!(
    /// `tool_result`: `{tool_call_id, output}` or `{tool_call_id, error}` (D14).
    ToolResultBody {
        /// Call id (spec: `call_id`).
        #[serde(alias = "call_id")]
        tool_call_id: String,
        /// Output (spec: `result`).
        #[serde(default, alias = "result", deserialize_with = "present", skip_serializing_if = "Option::is_none")]
        output: Option<Value>,
        /// The failure.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorPayload>,
    }
);

body!(
    /// `status`: `{phase, message?}`; a credential rotation adds `id` and `value`.
    StatusBody {
        /// Phase name, e.g. `"credential_rotated"`.
        phase: String,
        /// Optional text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Rotated credential id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Rotated credential value (never forwarded to subscribers).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
    }
);

body!(
    /// `metric`: `{name, value, unit?, attributes?}`.
    MetricBody {
        /// Metric name; `cost.*` metrics decrement budgets.
        name: String,
        /// A number, or an exact decimal string.
        value: MetricValue,
        /// Unit; for cost metrics, the currency.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<String>,
        /// Structured attributes (spec: `dimensions`).
        #[serde(default, alias = "dimensions", skip_serializing_if = "Option::is_none")]
        attributes: Option<Value>,
    }
);

body!(
    /// `artifact_ref`: reference names, spec names accepted (D14).
    ArtifactRefBody {
        /// Artifact id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        artifact_id: Option<String>,
        /// Media type (spec: `content_type`).
        #[serde(default, alias = "content_type", skip_serializing_if = "Option::is_none")]
        media_type: Option<String>,
        /// Size (spec: `byte_size`).
        #[serde(default, alias = "byte_size", skip_serializing_if = "Option::is_none")]
        size_bytes: Option<u64>,
        /// Where it lives.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uri: Option<String>,
        /// Short description.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
        /// Content hash.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    }
);

body!(
    /// `delegate`: `{child_job_id, agent, lease?, lease_constraints?}` (WIRE.md §15).
    DelegateBody {
        /// The child job.
        child_job_id: String,
        /// Resolved child agent.
        agent: AgentRef,
        /// The child's lease.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lease: Option<LeaseMap>,
        /// The child's constraints.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lease_constraints: Option<LeaseConstraints>,
    }
);

body!(
    /// `progress`: `{current, total?, units?, message?}`; `current` any non-negative number (D33).
    ProgressBody {
        /// Work done so far.
        current: Number,
        /// Total work, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<Number>,
        /// Unit of `current`/`total`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        units: Option<String>,
        /// Optional text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    }
);

body!(
    /// `result_chunk`: one piece of a streamed result (WIRE.md §13.4).
    ResultChunkBody {
        /// `res_…`
        result_id: String,
        /// 0-based position.
        chunk_seq: u64,
        /// The data, in `encoding`.
        data: String,
        /// `utf8` or `base64`.
        encoding: ChunkEncoding,
        /// `false` on the last chunk.
        more: bool,
    }
);

/// A metric value: a JSON number (its integer or float form kept) or a decimal string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MetricValue {
    /// A JSON number.
    Number(Number),
    /// A decimal string such as `"0.40"`.
    Text(String),
}

/// Encoding of a result chunk's `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChunkEncoding {
    /// UTF-8 text.
    Utf8,
    /// Standard base64.
    Base64,
}

/// A typed event body, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    /// `log`
    Log(LogBody),
    /// `thought`
    Thought(ThoughtBody),
    /// `tool_call`
    ToolCall(ToolCallBody),
    /// `tool_result`
    ToolResult(ToolResultBody),
    /// `status`
    Status(StatusBody),
    /// `metric`
    Metric(MetricBody),
    /// `artifact_ref`
    ArtifactRef(ArtifactRefBody),
    /// `delegate`
    Delegate(DelegateBody),
    /// `progress`
    Progress(ProgressBody),
    /// `result_chunk`
    ResultChunk(ResultChunkBody),
    /// Any other kind, or a known kind whose body does not fit its shape: kept verbatim.
    Other {
        /// The kind as received.
        kind: String,
        /// The body as received.
        body: Value,
    },
}

impl EventBody {
    /// The wire `kind`.
    pub fn kind(&self) -> &str {
        match self {
            EventBody::Log(_) => "log",
            EventBody::Thought(_) => "thought",
            EventBody::ToolCall(_) => "tool_call",
            EventBody::ToolResult(_) => "tool_result",
            EventBody::Status(_) => "status",
            EventBody::Metric(_) => "metric",
            EventBody::ArtifactRef(_) => "artifact_ref",
            EventBody::Delegate(_) => "delegate",
            EventBody::Progress(_) => "progress",
            EventBody::ResultChunk(_) => "result_chunk",
            EventBody::Other { kind, .. } => kind,
        }
    }

    /// Decodes `body` for `kind`, keeping it verbatim when it does not fit the typed shape.
    pub fn from_raw(kind: &str, body: &str) -> Result<EventBody, serde_json::Error> {
        fn typed<T: serde::de::DeserializeOwned>(
            body: &str,
            wrap: fn(T) -> EventBody,
        ) -> Option<EventBody> {
            serde_json::from_str::<T>(body).ok().map(wrap)
        }
        let parsed = match kind {
            "log" => typed(body, EventBody::Log),
            "thought" => typed(body, EventBody::Thought),
            "tool_call" => typed(body, EventBody::ToolCall),
            "tool_result" => typed(body, EventBody::ToolResult),
            "status" => typed(body, EventBody::Status),
            "metric" => typed(body, EventBody::Metric),
            "artifact_ref" => typed(body, EventBody::ArtifactRef),
            "delegate" => typed(body, EventBody::Delegate),
            "progress" => typed(body, EventBody::Progress),
            "result_chunk" => typed(body, EventBody::ResultChunk),
            _ => None,
        };
        match parsed {
            Some(b) => Ok(b),
            None => Ok(EventBody::Other {
                kind: kind.to_owned(),
                body: serde_json::from_str(body)?,
            }),
        }
    }

    fn serialize_body<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        match self {
            EventBody::Log(b) => m.serialize_entry("body", b),
            EventBody::Thought(b) => m.serialize_entry("body", b),
            EventBody::ToolCall(b) => m.serialize_entry("body", b),
            EventBody::ToolResult(b) => m.serialize_entry("body", b),
            EventBody::Status(b) => m.serialize_entry("body", b),
            EventBody::Metric(b) => m.serialize_entry("body", b),
            EventBody::ArtifactRef(b) => m.serialize_entry("body", b),
            EventBody::Delegate(b) => m.serialize_entry("body", b),
            EventBody::Progress(b) => m.serialize_entry("body", b),
            EventBody::ResultChunk(b) => m.serialize_entry("body", b),
            EventBody::Other { body, .. } => m.serialize_entry("body", body),
        }
    }
}

/// `job.event` payload.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEvent {
    /// When the event happened.
    pub ts: Timestamp,
    /// Kind and body.
    pub body: EventBody,
}

impl Serialize for JobEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("kind", self.body.kind())?;
        m.serialize_entry("ts", &self.ts)?;
        self.body.serialize_body(&mut m)?;
        m.end()
    }
}

#[derive(Deserialize)]
struct RawJobEvent<'a> {
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    ts: Timestamp,
    #[serde(borrow, default)]
    body: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for JobEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Bodies are decoded in a second step, by kind; a body-less event has `{}`.
        let raw = RawJobEvent::deserialize(d)?;
        let body_text = raw.body.map_or("{}", RawValue::get);
        let body = EventBody::from_raw(&raw.kind, body_text).map_err(D::Error::custom)?;
        Ok(JobEvent { ts: raw.ts, body })
    }
}
