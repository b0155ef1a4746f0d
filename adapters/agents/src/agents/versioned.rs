//! `versioned` (1.0.0 and 2.0.0, default 2.0.0): result `{version, input}`; no events.

use crate::agent::AgentError;
use crate::context::JobContext;
use serde_json::{Value, json};

/// The `versioned` agent (registered at both versions).
pub async fn versioned(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    Ok(json!({"version": ctx.agent().version, "input": input}))
}
