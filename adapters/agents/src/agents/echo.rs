//! `echo`: result = input, verbatim; no events. A null input gives a `job.result` without a
//! `result` key ([D34]).
//!
//! [D34]: arcp_proto::compat#d34--null-result

use crate::agent::AgentError;
use crate::context::JobContext;
use serde_json::Value;

/// The `echo` agent.
pub async fn echo(input: Value, _ctx: JobContext) -> Result<Value, AgentError> {
    Ok(input)
}
