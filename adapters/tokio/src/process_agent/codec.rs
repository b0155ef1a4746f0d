//! The agent line protocol's messages (`docs/agent-protocol.md` §5, §6): what the runtime
//! writes (`start`, `reply`, `cancel`) and how one line the agent wrote is read, with the
//! protocol-error messages of §7.3.

use arcp_agents::JobContext;
use arcp_proto::wire::{Budget, ChunkEncoding, ErrorPayload};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

/// `start.protocol`.
pub(crate) const PROTOCOL: &str = "arcp-agent/1";

/// The largest request `id` (2^53 − 1, exact in every JSON implementation).
const MAX_ID: u64 = (1 << 53) - 1;

/// A runtime → agent line (without the `\n`) serialised from `v`.
fn line(v: &Value) -> Vec<u8> {
    // Serialising a `Value` into a Vec cannot fail.
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The `start` line of §5.1.
pub(crate) fn start(ctx: &JobContext, budget: Option<&Budget>) -> Vec<u8> {
    line(&json!({
        "type": "start",
        "protocol": PROTOCOL,
        "features": [],
        "job_id": ctx.job_id(),
        "agent": ctx.agent().to_string(),
        "input": ctx.input(),
        "lease": ctx.lease(),
        "lease_constraints": ctx.lease_constraints().map(|c| c.clone().zulu()),
        "budget": budget,
        "credentials": ctx.credentials(),
        "principal": ctx.principal(),
        "trace_id": ctx.trace_id(),
        "parent_job_id": ctx.parent_job_id(),
        "max_runtime_sec": ctx.max_runtime_sec(),
    }))
}

/// A successful `reply` (§5.2).
pub(crate) fn reply_ok(id: u64, result: Value) -> Vec<u8> {
    line(&json!({"type": "reply", "id": id, "ok": true, "result": result}))
}

/// A refusal `reply` (§5.2).
pub(crate) fn reply_err(id: u64, e: &ErrorPayload) -> Vec<u8> {
    line(&json!({
        "type": "reply",
        "id": id,
        "ok": false,
        "error": {"code": e.code.as_str(), "message": e.message, "retryable": e.retryable},
    }))
}

/// The `cancel` line (§5.4).
pub(crate) fn cancel(
    reason: &str,
    code: Option<&str>,
    message: Option<&str>,
    grace_ms: u64,
) -> Vec<u8> {
    line(&json!({
        "type": "cancel",
        "reason": reason,
        "code": code,
        "message": message,
        "grace_ms": grace_ms,
    }))
}

/// One line the agent wrote, read (§6).
#[derive(Debug)]
pub(crate) enum AgentLine {
    /// `event` (§6.1); `id` makes it a request.
    Event {
        id: Option<u64>,
        kind: String,
        body: Box<RawValue>,
    },
    /// `result_chunk` (§6.2).
    Chunk {
        chunk_seq: u64,
        data: String,
        encoding: ChunkEncoding,
        more: bool,
    },
    /// `authorize` (§6.3.1).
    Authorize {
        id: u64,
        namespace: String,
        target: String,
    },
    /// `cost` (§6.3.2); `amount` a decimal string or a number.
    Cost {
        id: u64,
        name: String,
        amount: Value,
        currency: String,
    },
    /// `budget` (§6.3.3).
    Budget { id: u64 },
    /// `delegate` (§6.3.4), members checked when handled (the `delegator` agent's messages).
    Delegate {
        id: u64,
        agent: String,
        input: Value,
        lease: Value,
        lease_constraints: Value,
    },
    /// `rotate_credential` (§6.3.5).
    Rotate { id: u64, credential_id: String },
    /// `result` (§6.4).
    Result {
        value: Option<Value>,
        summary: Option<String>,
    },
    /// `error` (§6.4).
    Error {
        code: String,
        message: String,
        retryable: Option<bool>,
    },
}

impl AgentLine {
    /// The request id, for a line that is a request.
    pub(crate) fn request_id(&self) -> Option<u64> {
        match self {
            AgentLine::Event { id, .. } => *id,
            AgentLine::Authorize { id, .. }
            | AgentLine::Cost { id, .. }
            | AgentLine::Budget { id }
            | AgentLine::Delegate { id, .. }
            | AgentLine::Rotate { id, .. } => Some(*id),
            AgentLine::Chunk { .. } | AgentLine::Result { .. } | AgentLine::Error { .. } => None,
        }
    }
}

/// A request id: an integer from 1 to 2^53 − 1.
#[derive(Debug, Clone, Copy)]
struct Id(u64);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(d)?;
        if n == 0 || n > MAX_ID {
            return Err(serde::de::Error::custom(format!(
                "id {n} out of range 1..=9007199254740991"
            )));
        }
        Ok(Id(n))
    }
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow, default)]
    ty: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct EventMsg {
    #[serde(default)]
    id: Option<Id>,
    kind: String,
    body: Box<RawValue>,
}

#[derive(Deserialize)]
struct ChunkMsg {
    chunk_seq: u64,
    data: String,
    encoding: ChunkEncoding,
    more: bool,
}

#[derive(Deserialize)]
struct AuthorizeMsg {
    id: Id,
    namespace: String,
    target: String,
}

#[derive(Deserialize)]
struct CostMsg {
    id: Id,
    name: String,
    amount: Value,
    currency: String,
}

#[derive(Deserialize)]
struct BudgetMsg {
    id: Id,
}

#[derive(Deserialize)]
struct DelegateMsg {
    id: Id,
    agent: String,
    #[serde(default)]
    input: Value,
    #[serde(default)]
    lease: Value,
    #[serde(default)]
    lease_constraints: Value,
}

#[derive(Deserialize)]
struct RotateMsg {
    id: Id,
    credential_id: String,
}

#[derive(Deserialize)]
struct ResultMsg {
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    summary: Option<String>,
}

#[derive(Deserialize)]
struct ErrorMsg {
    code: String,
    message: String,
    #[serde(default)]
    retryable: Option<bool>,
}

/// Reads one line (without `\n` and a final `\r`); `Err` is the job's §7.3 message.
pub(crate) fn parse(bytes: &[u8], line_no: u64) -> Result<AgentLine, String> {
    let malformed = |why: String| format!("agent wrote a malformed line (line {line_no}): {why}");
    let text = std::str::from_utf8(bytes).map_err(|e| malformed(format!("invalid UTF-8: {e}")))?;
    if !text.trim_start().starts_with('{') {
        // Not JSON (the parser's reason), or not an object.
        let why = match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Err(e) => e.to_string(),
            Ok(_) => "not a JSON object".to_owned(),
        };
        return Err(malformed(why));
    }
    let head: Head<'_> = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
    let ty = match head.ty.map(|r| (r, serde_json::from_str::<&str>(r.get()))) {
        Some((_, Ok(t))) => t,
        Some((raw, Err(_))) => {
            return Err(format!(
                "agent wrote a message of unknown type {} (line {line_no})",
                raw.get()
            ));
        }
        None => {
            return Err(format!(
                "agent wrote a message of unknown type (none) (line {line_no})"
            ));
        }
    };
    fn read<'a, T: Deserialize<'a>>(text: &'a str, ty: &str, line_no: u64) -> Result<T, String> {
        serde_json::from_str(text)
            .map_err(|e| format!("agent wrote an invalid \"{ty}\" message (line {line_no}): {e}"))
    }
    Ok(match ty {
        "event" => {
            let m: EventMsg = read(text, ty, line_no)?;
            if !m.body.get().starts_with('{') {
                return Err(format!(
                    "agent wrote an invalid \"event\" message (line {line_no}): body is not an object"
                ));
            }
            AgentLine::Event {
                id: m.id.map(|i| i.0),
                kind: m.kind,
                body: m.body,
            }
        }
        "result_chunk" => {
            let m: ChunkMsg = read(text, ty, line_no)?;
            AgentLine::Chunk {
                chunk_seq: m.chunk_seq,
                data: m.data,
                encoding: m.encoding,
                more: m.more,
            }
        }
        "authorize" => {
            let m: AuthorizeMsg = read(text, ty, line_no)?;
            AgentLine::Authorize {
                id: m.id.0,
                namespace: m.namespace,
                target: m.target,
            }
        }
        "cost" => {
            let m: CostMsg = read(text, ty, line_no)?;
            if !(m.amount.is_string() || m.amount.is_number()) {
                return Err(format!(
                    "agent wrote an invalid \"cost\" message (line {line_no}): amount is not a string or a number"
                ));
            }
            AgentLine::Cost {
                id: m.id.0,
                name: m.name,
                amount: m.amount,
                currency: m.currency,
            }
        }
        "budget" => AgentLine::Budget {
            id: read::<BudgetMsg>(text, ty, line_no)?.id.0,
        },
        "delegate" => {
            let m: DelegateMsg = read(text, ty, line_no)?;
            AgentLine::Delegate {
                id: m.id.0,
                agent: m.agent,
                input: m.input,
                lease: m.lease,
                lease_constraints: m.lease_constraints,
            }
        }
        "rotate_credential" => {
            let m: RotateMsg = read(text, ty, line_no)?;
            AgentLine::Rotate {
                id: m.id.0,
                credential_id: m.credential_id,
            }
        }
        "result" => {
            let m: ResultMsg = read(text, ty, line_no)?;
            AgentLine::Result {
                value: m.value,
                summary: m.summary,
            }
        }
        "error" => {
            let m: ErrorMsg = read(text, ty, line_no)?;
            AgentLine::Error {
                code: m.code,
                message: m.message,
                retryable: m.retryable,
            }
        }
        _ => {
            return Err(format!(
                "agent wrote a message of unknown type {} (line {line_no})",
                Value::String(ty.to_owned())
            ));
        }
    })
}

/// `reply.result` of a checked operation: `{"target": …}`.
pub(crate) fn target(t: String) -> Value {
    json!({ "target": t })
}

/// An empty `reply.result`.
pub(crate) fn empty() -> Value {
    Value::Object(Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: &str) -> String {
        parse(line.as_bytes(), 4).unwrap_err()
    }

    #[test]
    fn protocol_errors_say_what_the_agent_wrote() {
        assert_eq!(
            err("{nope"),
            "agent wrote a malformed line (line 4): key must be a string at line 1 column 2"
        );
        assert_eq!(
            err("[1]"),
            "agent wrote a malformed line (line 4): not a JSON object"
        );
        assert_eq!(
            err("nope"),
            "agent wrote a malformed line (line 4): expected ident at line 1 column 2"
        );
        assert_eq!(
            err("{\"type\":\"result\"} x"),
            "agent wrote a malformed line (line 4): trailing characters at line 1 column 19"
        );
        assert_eq!(
            parse(b"{\"type\":\"x\xff\"}", 4).unwrap_err(),
            "agent wrote a malformed line (line 4): invalid UTF-8: invalid utf-8 sequence of 1 bytes from index 10"
        );
        assert_eq!(
            err(r#"{"type":"x"}"#),
            r#"agent wrote a message of unknown type "x" (line 4)"#
        );
        assert_eq!(
            err(r#"{"type":5}"#),
            "agent wrote a message of unknown type 5 (line 4)"
        );
        assert_eq!(
            err(r#"{"kind":"log"}"#),
            "agent wrote a message of unknown type (none) (line 4)"
        );
        assert_eq!(
            err(r#"{"type":"authorize","id":1,"namespace":"fs.read"}"#),
            r#"agent wrote an invalid "authorize" message (line 4): missing field `target` at line 1 column 49"#
        );
        assert_eq!(
            err(r#"{"type":"event","kind":"log","body":[1]}"#),
            r#"agent wrote an invalid "event" message (line 4): body is not an object"#
        );
        assert_eq!(
            err(r#"{"type":"budget","id":0}"#),
            r#"agent wrote an invalid "budget" message (line 4): id 0 out of range 1..=9007199254740991 at line 1 column 24"#
        );
        assert_eq!(
            err(r#"{"type":"budget","id":9007199254740992}"#),
            r#"agent wrote an invalid "budget" message (line 4): id 9007199254740992 out of range 1..=9007199254740991 at line 1 column 39"#
        );
        assert_eq!(
            err(r#"{"type":"budget","id":1.5}"#),
            r#"agent wrote an invalid "budget" message (line 4): invalid type: floating point `1.5`, expected u64 at line 1 column 25"#
        );
    }

    #[test]
    fn known_lines_are_read_with_unknown_members_ignored() {
        let l = parse(
            br#"{"type":"event","kind":"log","body":{"level":"info","message":"m"},"x":1}"#,
            1,
        )
        .unwrap();
        let AgentLine::Event { id, kind, body } = l else {
            panic!("{l:?}")
        };
        assert_eq!((id, kind.as_str()), (None, "log"));
        assert_eq!(body.get(), r#"{"level":"info","message":"m"}"#);
        let l = parse(br#"{"type":"delegate","id":5,"agent":"echo"}"#, 1).unwrap();
        assert_eq!(l.request_id(), Some(5));
        let AgentLine::Delegate {
            input,
            lease,
            lease_constraints,
            ..
        } = l
        else {
            panic!()
        };
        assert_eq!(
            (input, lease, lease_constraints),
            (Value::Null, Value::Null, Value::Null)
        );
        let l = parse(br#"{"type":"result"}"#, 1).unwrap();
        assert!(matches!(
            l,
            AgentLine::Result {
                value: None,
                summary: None
            }
        ));
    }

    #[test]
    fn runtime_lines_have_the_documented_shape() {
        assert_eq!(
            String::from_utf8(cancel("cancelled", None, Some("bye"), 5000)).unwrap(),
            "{\"code\":null,\"grace_ms\":5000,\"message\":\"bye\",\"reason\":\"cancelled\",\"type\":\"cancel\"}\n"
        );
        let e = ErrorPayload::new(arcp_proto::wire::ErrorCode::PermissionDenied, "no");
        assert_eq!(
            String::from_utf8(reply_err(3, &e)).unwrap(),
            "{\"error\":{\"code\":\"PERMISSION_DENIED\",\"message\":\"no\",\"retryable\":false},\"id\":3,\"ok\":false,\"type\":\"reply\"}\n"
        );
    }
}
