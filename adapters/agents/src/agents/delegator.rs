//! `delegator`: `{agent, input, lease, lease_constraints?}` delegates to a child job (§10,
//! Decision [D28]: the runtime authorizes `agent.delegate`, checks the subset lease, emits `delegate`
//! and runs the child on the same session), waits for it, and returns `{child_job_id,
//! child_agent, child_final_status, child_result?, child_error_code?}`.
//!
//! [D28]: arcp_proto::compat#d28--delegation

use crate::agent::AgentError;
use crate::context::JobContext;
use arcp_proto::wire::{AgentRef, LeaseConstraints, LeaseMap};
use serde_json::{Value, json};

/// The `delegator` agent.
pub async fn delegator(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    let agent = input
        .get("agent")
        .and_then(Value::as_str)
        .ok_or_else(|| AgentError::invalid_input("agent must be a string"))?;
    let agent =
        AgentRef::parse(agent).map_err(|e| AgentError::invalid_input(format!("agent: {e}")))?;
    let lease: LeaseMap = match input.get("lease") {
        None | Some(Value::Null) => LeaseMap::default(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| AgentError::invalid_input(format!("lease: {e}")))?,
    };
    let constraints: Option<LeaseConstraints> = match input.get("lease_constraints") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value(v.clone())
                .map_err(|e| AgentError::invalid_input(format!("lease_constraints: {e}")))?,
        ),
    };
    let child_input = input.get("input").cloned().unwrap_or(Value::Null);
    let resolved = ctx.resolve_agent(&agent);
    let child = ctx.delegate(agent, child_input, lease, constraints).await?;
    let end = ctx.wait_job(&child).await;
    let mut out = json!({
        "child_job_id": child,
        "child_agent": resolved.to_string(),
        "child_final_status": end.status.status().as_str(),
    });
    if let Some(r) = end.result {
        out["child_result"] = r;
    }
    if let Some(c) = end.error_code {
        out["child_error_code"] = json!(c.as_str());
    }
    Ok(out)
}
