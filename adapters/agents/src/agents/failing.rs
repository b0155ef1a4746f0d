//! `failing`: `{message = "boom", code?}`; `log error "about to fail"`, then `job.error`:
//! without `code` `INTERNAL_ERROR` (retryable), with `code` that code, retryable only for
//! `INTERNAL_ERROR`.

use super::str_field;
use crate::agent::AgentError;
use crate::context::JobContext;
use arcp_proto::wire::ErrorCode;
use serde_json::Value;

/// The `failing` agent.
pub async fn failing(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    let message = str_field(&input, "message", "boom")?.to_owned();
    let code = match input.get("code").and_then(Value::as_str) {
        Some(c) => ErrorCode::parse(c),
        None => ErrorCode::InternalError,
    };
    ctx.log("error", "about to fail").await?;
    let retryable = code == ErrorCode::InternalError;
    Err(AgentError::new(code, message).with_retryable(retryable))
}
