//! The JSON codec: bytes → [`Frame`] with a §12 error on failure, and [`Frame`] → compact JSON.
//!
//! Decoding never panics and never buffers more than the frame it is given, which the host
//! must already have bounded by [`Limits::max_frame_bytes`] (checked again here). Every
//! failure maps to `INVALID_REQUEST` ([D18], [D19]) and names the envelope id when one
//! could be read, so the answer can carry `request_id` ([D20]).
//!
//! [D18]: crate::compat#d18--validation-failures
//! [D19]: crate::compat#d19--malformed-frame-after-hello
//! [D20]: crate::compat#d20--error-correlation

use super::cowstr::CowStr;
use super::error::{ErrorCode, ErrorPayload};
use super::ids::{JobId, RequestId, SessionId, TraceId, valid_envelope_id};
use super::job::{MAX_IDEMPOTENCY_KEY_LEN, MAX_RUNTIME_SEC};
use super::message::{ARCP_VERSION, Frame, Message, MessageType};
use serde::de::{DeserializeSeed, Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::fmt;

/// Default inbound frame cap: 1 MiB ([D35]).
///
/// [D35]: crate::compat#d35--frame-size
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1 << 20;

/// The deepest JSON nesting a frame may have: serde_json's recursion limit. It is the
/// default of [`Limits::max_depth`] and its ceiling (a larger value acts as this one).
pub const MAX_JSON_DEPTH: usize = 128;

/// Size limits applied while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted frame in bytes (WebSocket message or stdio line). Default 1 MiB.
    pub max_frame_bytes: usize,
    /// Deepest nesting of JSON arrays and objects in a frame, the envelope object counting as
    /// level 1 (so `payload` is level 2 and a submit's `input` object level 3). Deeper is
    /// [`DecodeErrorKind::TooDeep`], answered `INVALID_REQUEST` with the message `frame
    /// nesting depth exceeds limit of N`. Default and ceiling [`MAX_JSON_DEPTH`] (128): with
    /// the default, a submit's `input` may nest 126 levels.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_depth: MAX_JSON_DEPTH,
        }
    }
}

impl Limits {
    /// The nesting limit in force: `max_depth`, at most [`MAX_JSON_DEPTH`].
    fn depth(&self) -> usize {
        self.max_depth.min(MAX_JSON_DEPTH)
    }
}

/// How many bytes of `bytes` are `{` or `[`, eight bytes per step without comparing bytes:
/// a byte-wise loop costs two instrumented comparisons per byte under the fuzzers' coverage
/// instrumentation (there it was the costliest part of decoding a frame), and this count
/// runs on every frame received.
fn opening_brackets(bytes: &[u8]) -> usize {
    // `{` (0x7b) and `[` (0x5b) differ only in bit 0x20: with that bit set both are 0x7b,
    // and no other byte is.
    const SET: u64 = 0x2020_2020_2020_2020;
    const OPEN: u64 = 0x7b7b_7b7b_7b7b_7b7b;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut chunks = bytes.chunks_exact(8);
    let mut n = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let t = (word | SET) ^ OPEN;
        // The top bit of each byte is set when that byte of `t` is not zero (no carry
        // crosses a byte: (t & 0x7f) + 0x7f <= 0xfe).
        let nonzero = (((t & LOW7) + LOW7) | t) & !LOW7;
        n += 8 - nonzero.count_ones() as usize;
    }
    n + chunks
        .remainder()
        .iter()
        .filter(|&&b| b | 0x20 == b'{')
        .count()
}

/// `true` when the JSON text nests arrays and objects deeper than `max` (strings skipped; the
/// text need not be valid JSON: the decoder reports that).
fn too_deep(bytes: &[u8], max: usize) -> bool {
    // Cheap first: fewer opening brackets than the limit, counting those inside strings too,
    // cannot nest deeper.
    if opening_brackets(bytes) <= max {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The refusal of a frame nested deeper than `limit`, naming its envelope id when it can be
/// read ([D20]; the envelope reader keeps `payload` raw, so the depth does not stop it).
///
/// [D20]: crate::compat#d20--error-correlation
fn too_deep_error(bytes: &[u8], limit: usize) -> DecodeError {
    let request_id = std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| serde_json::from_str::<RawEnvelope<'_>>(text).ok())
        .and_then(|raw| opt_string(raw.id).ok().flatten())
        .filter(|id| valid_envelope_id(id));
    DecodeError {
        kind: DecodeErrorKind::TooDeep { limit },
        request_id: request_id.map(RequestId::from),
        message_type: None,
        message: format!("frame nesting depth exceeds limit of {limit}"),
    }
}

/// What was wrong with an inbound frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// Larger than [`Limits::max_frame_bytes`] ([D35]).
    ///
    /// [D35]: crate::compat#d35--frame-size
    TooLarge {
        /// The frame's size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// Nested deeper than [`Limits::max_depth`].
    TooDeep {
        /// The limit in force.
        limit: usize,
    },
    /// Not UTF-8 JSON.
    Malformed,
    /// Valid JSON, but not an object.
    NotObject,
    /// A bad envelope field: `arcp`, `id`, `type`, `trace_id`, `event_seq`, `job_id`.
    Envelope,
    /// A `type` not in the catalogue.
    UnknownType(String),
    /// The payload does not fit its type's schema.
    Payload(MessageType),
}

/// Why a frame could not be decoded, and how to answer it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    /// The failure class.
    pub kind: DecodeErrorKind,
    /// The envelope id, when it could be read ([D20]).
    ///
    /// [D20]: crate::compat#d20--error-correlation
    pub request_id: Option<RequestId>,
    /// The message type, when it could be read.
    pub message_type: Option<MessageType>,
    /// Human-readable detail, safe to send back.
    pub message: String,
}

impl DecodeError {
    fn new(kind: DecodeErrorKind, message: impl Into<String>) -> Self {
        DecodeError {
            kind,
            request_id: None,
            message_type: None,
            message: message.into(),
        }
    }

    /// The §12 code to answer with: always `INVALID_REQUEST` ([D18], [D19]).
    ///
    /// [D18]: crate::compat#d18--validation-failures
    /// [D19]: crate::compat#d19--malformed-frame-after-hello
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidRequest
    }

    /// The `session.error` payload to answer with: `retryable: false`, no details, and
    /// `request_id` naming the failing frame when its id could be read ([D20]).
    ///
    /// [D20]: crate::compat#d20--error-correlation
    pub fn to_error_payload(&self) -> ErrorPayload {
        let p = ErrorPayload::new(self.code(), self.message.clone());
        match &self.request_id {
            Some(id) => p.with_request_id(id.clone()),
            None => p,
        }
    }
}

/// The envelope as first read: every field optional so that one bad field still lets the
/// others (above all `id`, for [D20]) be read.
///
/// [D20]: crate::compat#d20--error-correlation
#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow, default)]
    arcp: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "type")]
    ty: Option<&'a RawValue>,
    #[serde(borrow, default)]
    session_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    trace_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    job_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event_seq: Option<&'a RawValue>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
}

fn opt_string(raw: Option<&RawValue>) -> Result<Option<String>, ()> {
    match raw {
        None => Ok(None),
        Some(r) if r.get() == "null" => Ok(None),
        Some(r) => serde_json::from_str::<String>(r.get())
            .map(Some)
            .map_err(|_| ()),
    }
}

/// Decodes one complete envelope.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Frame, DecodeError> {
    // Checked up front: serde_json's recursion limit does not cover ignored fields.
    if bytes.len() <= limits.max_frame_bytes && too_deep(bytes, limits.depth()) {
        return Err(too_deep_error(bytes, limits.depth()));
    }
    if bytes.len() <= limits.max_frame_bytes
        && let Some(frame) = super::scan::decode_event(bytes)
    {
        return Ok(frame);
    }
    decode_serde(bytes, limits)
}

/// [`decode`] without the hand-written `job.event` scanner: the serde-based decoder alone.
/// Exported under the `fuzzing` feature so the fuzz target can check that both give the same
/// answer; not part of the stable API.
#[cfg(feature = "fuzzing")]
pub fn decode_general(bytes: &[u8], limits: &Limits) -> Result<Frame, DecodeError> {
    decode_general_impl(bytes, limits)
}

#[cfg(all(test, not(feature = "fuzzing")))]
fn decode_general(bytes: &[u8], limits: &Limits) -> Result<Frame, DecodeError> {
    decode_general_impl(bytes, limits)
}

#[cfg(any(test, feature = "fuzzing"))]
fn decode_general_impl(bytes: &[u8], limits: &Limits) -> Result<Frame, DecodeError> {
    if bytes.len() <= limits.max_frame_bytes && too_deep(bytes, limits.depth()) {
        return Err(too_deep_error(bytes, limits.depth()));
    }
    decode_serde(bytes, limits)
}

/// The serde-based decoder, the nesting depth already checked.
fn decode_serde(bytes: &[u8], limits: &Limits) -> Result<Frame, DecodeError> {
    if bytes.len() <= limits.max_frame_bytes
        && let Some(frame) = decode_fast(bytes)
    {
        return Ok(frame);
    }
    decode_checked(bytes, limits)
}

/// The single-pass path for well-formed frames: the payload is decoded straight into its type
/// when `type` precedes it (as every known emitter writes it). Anything unusual returns `None`
/// and [`decode_checked`] runs instead, which reports the precise error.
fn decode_fast(bytes: &[u8]) -> Option<Frame> {
    // One UTF-8 check up front; the str reader then skips per-string validation.
    let text = std::str::from_utf8(bytes).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let env = FastEnvelope::deserialize(&mut de).ok()?;
    de.end().ok()?;
    let id = env.id.filter(|id| valid_envelope_id(id))?;
    let ty = env.ty?;
    if env.arcp.is_some_and(|v| &*v != ARCP_VERSION) || env.event_seq == Some(0) {
        return None;
    }
    if ty == MessageType::Cancel && env.job_id.is_none() {
        return None;
    }
    let trace_id = match env.trace_id {
        Some(t) => Some(TraceId::parse(&t).ok()?),
        None => None,
    };
    let message = match env.message {
        Some(m) => m,
        None => Message::decode_payload(ty, env.raw_payload.map_or("{}", RawValue::get)).ok()?,
    };
    // A repeated `type` key could disagree with the payload already decoded.
    if message.message_type() != ty {
        return None;
    }
    validate(&message).ok()?;
    Some(Frame {
        id,
        session_id: env.session_id,
        trace_id,
        job_id: env.job_id,
        event_seq: env.event_seq,
        message,
    })
}

struct FastEnvelope<'a> {
    arcp: Option<CowStr<'a>>,
    id: Option<String>,
    ty: Option<MessageType>,
    session_id: Option<SessionId>,
    trace_id: Option<CowStr<'a>>,
    job_id: Option<JobId>,
    event_seq: Option<u64>,
    message: Option<Message>,
    raw_payload: Option<&'a RawValue>,
}

struct PayloadSeed(MessageType);

impl<'de> DeserializeSeed<'de> for PayloadSeed {
    type Value = Message;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Message, D::Error> {
        Message::deserialize_payload(self.0, d)
    }
}

impl<'de> Deserialize<'de> for FastEnvelope<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FastEnvelope<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ARCP envelope")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut env = FastEnvelope {
                    arcp: None,
                    id: None,
                    ty: None,
                    session_id: None,
                    trace_id: None,
                    job_id: None,
                    event_seq: None,
                    message: None,
                    raw_payload: None,
                };
                while let Some(key) = map.next_key::<CowStr<'de>>()? {
                    match &*key {
                        "arcp" => env.arcp = map.next_value()?,
                        "id" => env.id = map.next_value()?,
                        "type" => {
                            let t: CowStr<'de> = map.next_value()?;
                            env.ty = Some(
                                MessageType::parse(&t)
                                    .ok_or_else(|| A::Error::custom("unknown type"))?,
                            );
                        }
                        "session_id" => env.session_id = map.next_value()?,
                        "trace_id" => env.trace_id = map.next_value()?,
                        "job_id" => env.job_id = map.next_value()?,
                        "event_seq" => env.event_seq = map.next_value()?,
                        "payload" => match env.ty {
                            Some(ty) => env.message = Some(map.next_value_seed(PayloadSeed(ty))?),
                            None => env.raw_payload = Some(map.next_value()?),
                        },
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(env)
            }
        }
        d.deserialize_map(V)
    }
}

/// The checked path: every field read separately so that one bad field still lets `id` be
/// reported ([D20]).
///
/// [D20]: crate::compat#d20--error-correlation
fn decode_checked(bytes: &[u8], limits: &Limits) -> Result<Frame, DecodeError> {
    if bytes.len() > limits.max_frame_bytes {
        return Err(DecodeError::new(
            DecodeErrorKind::TooLarge {
                size: bytes.len(),
                limit: limits.max_frame_bytes,
            },
            format!(
                "frame with {} bytes exceeds limit of {} bytes",
                bytes.len(),
                limits.max_frame_bytes
            ),
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| DecodeError::new(DecodeErrorKind::Malformed, "malformed frame: not UTF-8"))?;
    // Serde would read a JSON array into the envelope struct positionally: refuse
    // non-objects before parsing.
    if !text.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => DecodeError::new(
                DecodeErrorKind::NotObject,
                "malformed frame: envelope must be a JSON object",
            ),
            Err(e) => DecodeError::new(
                DecodeErrorKind::Malformed,
                format!("malformed JSON frame: {e}"),
            ),
        });
    }
    let raw: RawEnvelope<'_> = match serde_json::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Ok(_) => {
                    DecodeError::new(DecodeErrorKind::Envelope, format!("invalid envelope: {e}"))
                }
                Err(_) => DecodeError::new(
                    DecodeErrorKind::Malformed,
                    format!("malformed JSON frame: {e}"),
                ),
            });
        }
    };
    let envelope_err = |request_id: Option<String>, ty, msg: String| DecodeError {
        kind: DecodeErrorKind::Envelope,
        request_id: request_id.map(RequestId::from),
        message_type: ty,
        message: msg,
    };

    // D16: any non-empty string up to 128 chars.
    let id = match opt_string(raw.id) {
        Ok(Some(id)) if valid_envelope_id(&id) => id,
        _ => {
            return Err(envelope_err(
                None,
                None,
                "invalid envelope: bad or missing id".into(),
            ));
        }
    };
    let rid = || Some(id.clone());

    let ty_name = match opt_string(raw.ty) {
        Ok(Some(t)) => t,
        _ => {
            return Err(envelope_err(
                rid(),
                None,
                "invalid envelope: missing type".into(),
            ));
        }
    };
    let Some(ty) = MessageType::parse(&ty_name) else {
        return Err(DecodeError {
            kind: DecodeErrorKind::UnknownType(ty_name.clone()),
            request_id: rid().map(RequestId::from),
            message_type: None,
            message: format!("unknown envelope type: {ty_name:?}"),
        });
    };

    // D17: absent means 1.1; any other value is refused.
    match opt_string(raw.arcp) {
        Ok(None) => {}
        Ok(Some(v)) if v == ARCP_VERSION => {}
        _ => {
            return Err(envelope_err(
                rid(),
                Some(ty),
                "invalid envelope: unsupported arcp version".into(),
            ));
        }
    }
    let session_id = opt_string(raw.session_id).map_err(|_| {
        envelope_err(
            rid(),
            Some(ty),
            "invalid envelope: session_id must be a string".into(),
        )
    })?;
    let job_id = opt_string(raw.job_id).map_err(|_| {
        envelope_err(
            rid(),
            Some(ty),
            "invalid envelope: job_id must be a string".into(),
        )
    })?;
    // D15: bare 32-hex, or a traceparent whose trace-id is taken.
    let trace_id = match opt_string(raw.trace_id) {
        Ok(None) => None,
        Ok(Some(t)) => {
            Some(TraceId::parse(&t).map_err(|e| envelope_err(rid(), Some(ty), e.to_string()))?)
        }
        Err(()) => {
            return Err(envelope_err(
                rid(),
                Some(ty),
                "invalid envelope: trace_id must be a string".into(),
            ));
        }
    };
    let event_seq = match raw.event_seq.map(RawValue::get) {
        None | Some("null") => None,
        Some(s) => match serde_json::from_str::<u64>(s) {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                return Err(envelope_err(
                    rid(),
                    Some(ty),
                    "invalid envelope: event_seq must be an integer >= 1".into(),
                ));
            }
        },
    };
    if ty == MessageType::Cancel && job_id.is_none() {
        // D6: the job to cancel is read from the envelope.
        return Err(envelope_err(
            rid(),
            Some(ty),
            "job.cancel requires an envelope job_id".into(),
        ));
    }

    let payload_text = match raw.payload.map(RawValue::get) {
        None | Some("null") => "{}",
        Some(p) => p,
    };
    let payload_err = |msg: String| DecodeError {
        kind: DecodeErrorKind::Payload(ty),
        request_id: Some(RequestId::from(&id)),
        message_type: Some(ty),
        message: format!("invalid {} payload: {msg}", ty.as_str()),
    };
    let message = match ty {
        // Agent data must not make a frame undecodable: fall back to the verbatim body.
        MessageType::Event => {
            super::event::JobEvent::from_json_lenient(payload_text).map(Message::Event)
        }
        _ => Message::decode_payload(ty, payload_text),
    }
    .map_err(|e| payload_err(e.to_string()))?;
    validate(&message).map_err(payload_err)?;

    Ok(Frame {
        id,
        session_id: session_id.map(SessionId::from),
        trace_id,
        job_id: job_id.map(JobId::from),
        event_seq,
        message,
    })
}

/// Range checks the schema cannot express (spec §6.1–§7); failures are `INVALID_REQUEST`.
fn validate(m: &Message) -> Result<(), String> {
    match m {
        Message::Hello(h) if h.auth.scheme != "bearer" => Err(format!(
            "auth.scheme must be \"bearer\", got {:?}",
            h.auth.scheme
        )),
        Message::Resume(r) if r.auth.as_ref().is_some_and(|a| a.scheme != "bearer") => {
            Err("auth.scheme must be \"bearer\"".into())
        }
        Message::ListJobs(l) if l.limit.is_some_and(|n| !(1..=1000).contains(&n)) => {
            Err("limit must be between 1 and 1000".into())
        }
        Message::Submit(s) => {
            if s.idempotency_key
                .as_ref()
                .is_some_and(|k| k.is_empty() || k.chars().count() > MAX_IDEMPOTENCY_KEY_LEN)
            {
                return Err("idempotency_key must be 1 to 256 characters".into());
            }
            if s.max_runtime_sec
                .is_some_and(|n| !(1..=MAX_RUNTIME_SEC).contains(&n))
            {
                return Err("max_runtime_sec must be between 1 and 86400".into());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

impl Frame {
    /// Decodes one complete envelope with the default [`Limits`].
    pub fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
        decode(bytes, &Limits::default())
    }

    /// Appends the compact JSON encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        // Serializing these types cannot fail: every map key is a string and no Serialize
        // impl returns a custom error. Should that ever change, leave `out` as it was.
        if super::encode::write_frame(self, out).is_err() {
            debug_assert!(false, "frame serialization failed");
            out.truncate(start);
        }
    }

    /// The length in bytes of the compact JSON encoding, computed without allocating.
    pub fn encoded_len(&self) -> usize {
        struct Count(usize);
        impl std::io::Write for Count {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0 += buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut c = Count(0);
        match serde_json::to_writer(&mut c, self) {
            Ok(()) => c.0,
            Err(_) => 0,
        }
    }

    /// The compact JSON encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.encode_into(&mut out);
        out
    }

    /// The compact JSON encoding as a `String`.
    pub fn to_json(&self) -> String {
        String::from_utf8(self.encode()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::opening_brackets;

    #[test]
    fn opening_brackets_counts_exactly_what_a_byte_loop_counts() {
        let naive = |b: &[u8]| b.iter().filter(|&&c| c == b'{' || c == b'[').count();
        let mut every_byte: Vec<u8> = (0..=255u8).collect();
        every_byte.extend_from_slice(b"{[{[{[{[");
        let cases: [&[u8]; 7] = [
            b"",
            b"{",
            b"[[[[[[[",
            b"{[{[{[{[",
            b"{\"a\":[1,{\"b\":\"[{\"}],\"c\":{}}",
            b"\x7b\x5b\xfb\xdb\x7a\x7c\x5a\x5c\x3b\x1b\xff\x00{",
            &every_byte,
        ];
        let expected = [0, 1, 7, 8, 6, 3, 10];
        for (case, want) in cases.iter().zip(expected) {
            assert_eq!(opening_brackets(case), want, "{case:?}");
            assert_eq!(naive(case), want, "{case:?}");
        }
    }
}
