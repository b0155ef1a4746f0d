//! `lease-check`: `{ops: [{capability, target, delay_sec?}], fatal = true}`. Each op is a
//! `tool_call`, then the lease gate (expiry → pattern → budget; [D29] globs, [D30] expiry); a
//! refusal is a `tool_result` error and, when `fatal` and the code is `LEASE_EXPIRED` or
//! `BUDGET_EXHAUSTED`, ends the job with it. Result `{results: ["OK" | code, …]}`.
//!
//! [D29]: arcp_proto::compat#d29--globs
//! [D30]: arcp_proto::compat#d30--expiry

use super::budget::tool_refusal;
use super::{bool_field, f64_field, seconds};
use crate::agent::AgentError;
use crate::context::JobContext;
use arcp_proto::wire::ErrorCode;
use serde_json::{Value, json};

/// Ops above this are refused (`INVALID_REQUEST`).
pub const MAX_LEASE_CHECK_OPS: usize = 10_000;

/// The `lease-check` agent.
pub async fn lease_check(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    let fatal = bool_field(&input, "fatal", true)?;
    let ops = match input.get("ops") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(AgentError::invalid_input("ops must be an array")),
    };
    if ops.len() > MAX_LEASE_CHECK_OPS {
        return Err(AgentError::invalid_input(format!(
            "at most {MAX_LEASE_CHECK_OPS} ops"
        )));
    }
    let mut results = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let capability = op
            .get("capability")
            .and_then(Value::as_str)
            .ok_or_else(|| AgentError::invalid_input("op.capability must be a string"))?;
        let target = op
            .get("target")
            .and_then(Value::as_str)
            .ok_or_else(|| AgentError::invalid_input("op.target must be a string"))?;
        let delay = f64_field(op, "delay_sec", 0.0)?;
        if delay > 0.0 {
            ctx.sleep(seconds(delay)).await;
        }
        let id = format!("op_{i}");
        // An Err: the job has ended meanwhile (e.g. lease expiry, D30).
        ctx.tool_call(&id, capability, json!({ "target": target }))
            .await?;
        match ctx.authorize(capability, target).await {
            Ok(()) => {
                ctx.tool_result(&id, json!({"allowed": true})).await?;
                results.push(json!("OK"));
            }
            Err(e) => {
                ctx.tool_error(&id, tool_refusal(&e)).await?;
                results.push(json!(e.code.as_str()));
                if fatal && matches!(e.code, ErrorCode::LeaseExpired | ErrorCode::BudgetExhausted) {
                    return Err(AgentError::new(e.code, e.message));
                }
            }
        }
    }
    Ok(json!({ "results": results }))
}
