//! `budget`: `{cost = "0.40", currency = "USD", steps = 10, tool = "paid-tool",
//! negative_costs = []}`. Negative costs are refused by the runtime ([D31]) and logged; each
//! step authorizes `tool.call` on `tool`, then reports `cost.inference` (the runtime emits
//! `cost.budget.remaining`). Result `{steps}`; an exhausted budget ends the job
//! `BUDGET_EXHAUSTED`.
//!
//! [D31]: arcp_proto::compat#d31--negative-cost

use super::{str_field, u64_field};
use crate::agent::AgentError;
use crate::context::JobContext;
use serde_json::{Value, json};

/// Steps above this are refused (`INVALID_REQUEST`).
pub const MAX_BUDGET_STEPS: u64 = 100_000;

/// A lease-gate refusal as a `tool_result` error: `retryable: false`, as the reference.
pub(crate) fn tool_refusal(e: &AgentError) -> arcp_proto::wire::ErrorPayload {
    let mut p = e.to_payload();
    p.retryable = false;
    p
}

/// The `budget` agent.
pub async fn budget(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    let cost = str_field(&input, "cost", "0.40")?.to_owned();
    let currency = str_field(&input, "currency", "USD")?.to_owned();
    let steps = u64_field(&input, "steps", 10)?;
    let tool = str_field(&input, "tool", "paid-tool")?.to_owned();
    if steps > MAX_BUDGET_STEPS {
        return Err(AgentError::invalid_input(format!(
            "steps must be at most {MAX_BUDGET_STEPS}"
        )));
    }
    let negatives: Vec<String> = match input.get("negative_costs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(AgentError::invalid_input(
                    "negative_costs must hold decimal strings",
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(AgentError::invalid_input("negative_costs must be an array"));
        }
    };
    for v in negatives {
        // D31: the runtime refuses a negative cost (nothing emitted, no decrement).
        if ctx.cost("cost.refund", &v, &currency).await.is_err() {
            ctx.log("warn", &format!("negative cost metric rejected: {v}"))
                .await?;
        }
    }
    for i in 0..steps {
        let id = format!("step_{i}");
        ctx.tool_call(&id, &tool, json!({"step": i})).await?;
        if let Err(e) = ctx.authorize("tool.call", &tool).await {
            ctx.tool_error(&id, tool_refusal(&e)).await?;
            return Err(AgentError::new(e.code, e.message));
        }
        ctx.cost("cost.inference", &cost, &currency).await?;
        ctx.tool_result(&id, json!({"step": i})).await?;
    }
    Ok(json!({ "steps": steps }))
}
