//! `firehose` (benchmarks only; not in [`super::contract_agents`]): `{count = 1000}` `log`
//! events as fast as the runtime takes them, result `{events: count}`.

use super::u64_field;
use crate::agent::AgentError;
use crate::context::JobContext;
use serde_json::{Value, json};

/// Counts above this are refused (`INVALID_REQUEST`).
pub const MAX_FIREHOSE_EVENTS: u64 = 10_000_000;

/// The `firehose` agent.
pub async fn firehose(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    let count = u64_field(&input, "count", 1000)?;
    if count > MAX_FIREHOSE_EVENTS {
        return Err(AgentError::invalid_input(format!(
            "count must be at most {MAX_FIREHOSE_EVENTS}"
        )));
    }
    for i in 0..count {
        ctx.log("info", &format!("event {i}")).await?;
    }
    Ok(json!({ "events": count }))
}
