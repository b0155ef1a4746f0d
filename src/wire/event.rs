//! `job.event` payloads: `{kind, ts, body}` with typed bodies (spec §8, [D14]).
//!
//! Bodies are agent data: every typed body keeps unknown fields in `extra` and re-encodes
//! them unchanged; a kind this version does not know, or a known kind whose body does not fit
//! its shape, is kept verbatim as [`EventBody::Other`].
//!
//! [D14]: crate::compat#d14--event-body-field-names

use super::agent::AgentRef;
use super::cowstr::CowStr;
use super::error::ErrorPayload;
use super::ids::JobId;
use super::lease::{LeaseConstraints, LeaseMap};
use super::timestamp::Timestamp;
use serde::de::{DeserializeSeed, Error as _, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::fmt;

/// Declares a typed event body: a struct whose unknown fields are kept in `extra`, with a
/// hand-rolled single-pass `Deserialize` (serde's `flatten` buffers the whole body, which
/// halves codec throughput).
///
/// Field modes: `req` (required), `opt` (`Option<T>`, null reads as absent), `present`
/// (`Option<Value>`, an explicit null kept as `Some(Null)`). Aliases are the spec's names ([D14]).
///
/// [D14]: crate::compat#d14--event-body-field-names
macro_rules! body {
    ($(#[$m:meta])* $name:ident { $($(#[doc = $fd:literal])* $f:ident : $t:ty = $mode:ident $([$($alias:literal),*])?),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub struct $name {
            $($(#[doc = $fd])* #[serde(skip_serializing_if = "Skip::skip")] pub $f: $t,)*
            /// Fields this version does not know, kept verbatim.
            #[serde(flatten)]
            pub extra: Map<String, Value>,
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a ", stringify!($name), " object"))
                    }
                    #[allow(non_snake_case)]
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        $(let mut $f: Option<$t> = None;)*
                        let mut extra = Map::new();
                        while let Some(key) = map.next_key::<CowStr<'de>>()? {
                            match &*key {
                                $(stringify!($f) $($(| $alias)*)? => {
                                    if $f.is_some() {
                                        return Err(A::Error::duplicate_field(stringify!($f)));
                                    }
                                    $f = Some(body!(@read $mode map));
                                })*
                                _ => {
                                    let v: Value = map.next_value()?;
                                    extra.insert(key.0.into_owned(), v);
                                }
                            }
                        }
                        Ok($name {
                            $($f: body!(@finish $mode $f),)*
                            extra,
                        })
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
    (@read req $map:ident) => { $map.next_value()? };
    (@read opt $map:ident) => { $map.next_value()? };
    (@read present $map:ident) => { Some($map.next_value::<Value>()?) };
    (@finish req $f:ident) => { $f.ok_or_else(|| A::Error::missing_field(stringify!($f)))? };
    (@finish opt $f:ident) => { $f.flatten() };
    (@finish present $f:ident) => { $f.flatten() };
}

/// `skip_serializing_if` for body fields: absent options are omitted, everything else written.
trait Skip {
    fn skip(&self) -> bool {
        false
    }
}
impl<T> Skip for Option<T> {
    fn skip(&self) -> bool {
        self.is_none()
    }
}
impl Skip for String {}
impl Skip for JobId {}
impl Skip for u64 {}
impl Skip for bool {}
impl Skip for Number {}
impl Skip for AgentRef {}
impl Skip for MetricValue {}
impl Skip for ChunkEncoding {}

body!(
    /// `log`: `{level, message, attributes?}`.
    LogBody {
        /// `debug`, `info`, `warn` or `error`.
        level: String = req,
        /// The line.
        message: String = req,
        /// Structured attributes.
        attributes: Option<Value> = opt,
    }
);

body!(
    /// `thought`: `{text}`.
    ThoughtBody {
        /// The thought.
        text: String = req,
    }
);

body!(
    /// `tool_call`: reference names, spec names accepted ([D14]).
    ///
    /// [D14]: crate::compat#d14--event-body-field-names
    ToolCallBody {
        /// Call id (spec: `call_id`).
        tool_call_id: String = req ["call_id"],
        /// Tool name (spec: `tool`).
        name: String = req ["tool"],
        /// Arguments (spec: `args`).
        arguments: Option<Value> = present ["args"],
    }
);

body!(
    /// `tool_result`: `{tool_call_id, output}` or `{tool_call_id, error}` ([D14]).
    ///
    /// [D14]: crate::compat#d14--event-body-field-names
    ToolResultBody {
        /// Call id (spec: `call_id`).
        tool_call_id: String = req ["call_id"],
        /// Output (spec: `result`).
        output: Option<Value> = present ["result"],
        /// The failure.
        error: Option<ErrorPayload> = opt,
    }
);

body!(
    /// `status`: `{phase, message?}`; a credential rotation adds `id` and `value`.
    StatusBody {
        /// Phase name, e.g. `"credential_rotated"`.
        phase: String = req,
        /// Optional text.
        message: Option<String> = opt,
        /// Rotated credential id.
        id: Option<String> = opt,
        /// Rotated credential value (never forwarded to subscribers).
        value: Option<String> = opt,
    }
);

body!(
    /// `metric`: `{name, value, unit?, attributes?}`.
    MetricBody {
        /// Metric name; `cost.*` metrics decrement budgets.
        name: String = req,
        /// A number, or an exact decimal string.
        value: MetricValue = req,
        /// Unit; for cost metrics, the currency.
        unit: Option<String> = opt,
        /// Structured attributes (spec: `dimensions`).
        attributes: Option<Value> = opt ["dimensions"],
    }
);

body!(
    /// `artifact_ref`: reference names, spec names accepted ([D14]).
    ///
    /// [D14]: crate::compat#d14--event-body-field-names
    ArtifactRefBody {
        /// Artifact id.
        artifact_id: Option<String> = opt,
        /// Media type (spec: `content_type`).
        media_type: Option<String> = opt ["content_type"],
        /// Size (spec: `byte_size`).
        size_bytes: Option<u64> = opt ["byte_size"],
        /// Where it lives.
        uri: Option<String> = opt,
        /// Short description.
        summary: Option<String> = opt,
        /// Content hash.
        sha256: Option<String> = opt,
    }
);

body!(
    /// `delegate`: `{child_job_id, agent, lease?, lease_constraints?}` (spec §10).
    DelegateBody {
        /// The child job.
        child_job_id: JobId = req,
        /// Resolved child agent.
        agent: AgentRef = req,
        /// The child's lease.
        lease: Option<LeaseMap> = opt,
        /// The child's constraints.
        lease_constraints: Option<LeaseConstraints> = opt,
    }
);

body!(
    /// `progress`: `{current, total?, units?, message?}`; `current` any non-negative number ([D33]).
    ///
    /// [D33]: crate::compat#d33--progress-current
    ProgressBody {
        /// Work done so far.
        current: Number = req,
        /// Total work, when known.
        total: Option<Number> = opt,
        /// Unit of `current`/`total`.
        units: Option<String> = opt,
        /// Optional text.
        message: Option<String> = opt,
    }
);

body!(
    /// `result_chunk`: one piece of a streamed result (spec §8.4).
    ResultChunkBody {
        /// `res_…`
        result_id: String = req,
        /// 0-based position.
        chunk_seq: u64 = req,
        /// The data, in `encoding`.
        data: String = req,
        /// `utf8` or `base64`.
        encoding: ChunkEncoding = req,
        /// `false` on the last chunk.
        more: bool = req,
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
            match serde_json::from_str::<T>(body) {
                Ok(v) => Some(wrap(v)),
                // A duplicate key: JSON parsers (the reference's `json.loads` too) keep the
                // last one; read the body that way, so re-encoding and decoding again gives
                // the same typed body (found by the `decode` fuzz target).
                Err(_) => serde_json::from_str::<Value>(body)
                    .ok()
                    .and_then(|v| T::deserialize(v).ok())
                    .map(wrap),
            }
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

    /// Appends the body's compact JSON.
    pub(crate) fn write_body(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let out = &mut *out;
        match self {
            EventBody::Log(b) => serde_json::to_writer(out, b),
            EventBody::Thought(b) => serde_json::to_writer(out, b),
            EventBody::ToolCall(b) => serde_json::to_writer(out, b),
            EventBody::ToolResult(b) => serde_json::to_writer(out, b),
            EventBody::Status(b) => serde_json::to_writer(out, b),
            EventBody::Metric(b) => serde_json::to_writer(out, b),
            EventBody::ArtifactRef(b) => serde_json::to_writer(out, b),
            EventBody::Delegate(b) => serde_json::to_writer(out, b),
            EventBody::Progress(b) => serde_json::to_writer(out, b),
            EventBody::ResultChunk(b) => serde_json::to_writer(out, b),
            EventBody::Other { body, .. } => serde_json::to_writer(out, body),
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
    kind: Cow<'a, str>,
    ts: Timestamp,
    #[serde(borrow, default)]
    body: Option<&'a RawValue>,
}

impl JobEvent {
    /// Decodes a `job.event` payload leniently: a known kind whose body does not fit its
    /// typed shape is kept verbatim as [`EventBody::Other`] instead of failing.
    pub fn from_json_lenient(json: &str) -> Result<JobEvent, serde_json::Error> {
        let raw: RawJobEvent<'_> = serde_json::from_str(json)?;
        let body_text = raw.body.map_or("{}", RawValue::get);
        let body = EventBody::from_raw(&raw.kind, body_text)?;
        Ok(JobEvent { ts: raw.ts, body })
    }
}

/// Decodes a body straight into the type its kind names (the single-pass path).
pub(crate) struct BodySeed<'k>(pub(crate) &'k str);

impl<'de> DeserializeSeed<'de> for BodySeed<'_> {
    type Value = EventBody;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<EventBody, D::Error> {
        Ok(match self.0 {
            "log" => EventBody::Log(LogBody::deserialize(d)?),
            "thought" => EventBody::Thought(ThoughtBody::deserialize(d)?),
            "tool_call" => EventBody::ToolCall(ToolCallBody::deserialize(d)?),
            "tool_result" => EventBody::ToolResult(ToolResultBody::deserialize(d)?),
            "status" => EventBody::Status(StatusBody::deserialize(d)?),
            "metric" => EventBody::Metric(MetricBody::deserialize(d)?),
            "artifact_ref" => EventBody::ArtifactRef(ArtifactRefBody::deserialize(d)?),
            "delegate" => EventBody::Delegate(DelegateBody::deserialize(d)?),
            "progress" => EventBody::Progress(ProgressBody::deserialize(d)?),
            "result_chunk" => EventBody::ResultChunk(ResultChunkBody::deserialize(d)?),
            other => EventBody::Other {
                kind: other.to_owned(),
                body: Value::deserialize(d)?,
            },
        })
    }
}

/// Strict, single-pass decoding: a known kind's body must fit its typed shape. The codec falls
/// back to [`JobEvent::from_json_lenient`] when it does not, so agent data never makes a
/// frame undecodable.
impl<'de> Deserialize<'de> for JobEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JobEvent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a job.event payload")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JobEvent, A::Error> {
                let mut kind: Option<CowStr<'de>> = None;
                let mut ts: Option<Timestamp> = None;
                let mut body: Option<EventBody> = None;
                let mut early_body: Option<Value> = None;
                while let Some(key) = map.next_key::<CowStr<'de>>()? {
                    match &*key {
                        "kind" if kind.is_none() => kind = Some(map.next_value()?),
                        "ts" if ts.is_none() => ts = Some(map.next_value()?),
                        "body" if body.is_none() && early_body.is_none() => match &kind {
                            Some(k) => body = Some(map.next_value_seed(BodySeed(k))?),
                            None => early_body = Some(map.next_value()?),
                        },
                        "kind" | "ts" | "body" => {
                            return Err(A::Error::custom(format!("duplicate field `{}`", &*key)));
                        }
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                let kind = kind.ok_or_else(|| A::Error::missing_field("kind"))?;
                let ts = ts.ok_or_else(|| A::Error::missing_field("ts"))?;
                let body = match (body, early_body) {
                    (Some(b), _) => b,
                    (None, early) => BodySeed(&kind)
                        .deserialize(early.unwrap_or_else(|| Value::Object(Map::new())))
                        .map_err(A::Error::custom)?,
                };
                Ok(JobEvent { ts, body })
            }
        }
        d.deserialize_map(V)
    }
}
