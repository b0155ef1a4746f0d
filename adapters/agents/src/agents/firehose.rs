//! `firehose` (benchmarks only; not in [`super::contract_agents`]): `{count = 1000}` `log`
//! events as fast as the runtime takes them, result `{events: count}`.

use super::u64_field;
use crate::agent::AgentError;
use crate::context::JobContext;
use serde_json::{Value, json};

/// The `firehose` agent.
pub async fn firehose(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    let count = u64_field(&input, "count", 1000)?;
    for i in 0..count {
        ctx.log("info", &format!("event {i}")).await?;
    }
    Ok(json!({ "events": count }))
}
