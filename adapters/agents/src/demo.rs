//! Demo mode's extras beyond the contract agents: one runtime-hosted tool ([`demo_tools`])
//! and an agent that calls tools through the runtime ([`demo_agents`]'s `tool-user`), so
//! that `arcp serve --demo` shows the `tool.call` gate, the `tool_call` / `tool_result`
//! events and a tool's declared cost charged against the budget.

use crate::agent::AgentError;
use crate::agents::contract_agents;
use crate::context::JobContext;
use crate::registry::AgentRegistry;
use crate::tools::ToolRegistry;
use arcp_proto::wire::Amount;
use serde_json::{Value, json};

/// The declared cost of the demo `lookup` tool, per call.
pub const DEMO_LOOKUP_COST: &str = "USD:0.25";

/// The demo tools: `lookup`, costing [`DEMO_LOOKUP_COST`] per call and returning
/// `{"found": args["q"]}` (deterministic, no IO).
pub fn demo_tools() -> ToolRegistry {
    let mut tools = ToolRegistry::new();
    let lookup = |args: Value| async move { Ok(json!({"found": args["q"]})) };
    match Amount::parse(DEMO_LOOKUP_COST) {
        Ok(cost) => tools.register_with_cost("lookup", cost, lookup),
        // Unreachable for the constant above; the tool stays usable, free of charge.
        Err(_) => tools.register("lookup", lookup),
    };
    tools
}

/// The demo agents: the contract agents ([`contract_agents`]) plus `tool-user`, which calls
/// [`JobContext::call_tool`] for each name in `input.tools` (with arguments `{"q": name}`)
/// and returns, in order, each call's output or the code of its error (e.g.
/// `"PERMISSION_DENIED"` for a name the lease's `tool.call` does not cover).
pub fn demo_agents() -> AgentRegistry {
    let mut agents = contract_agents();
    agents.register("tool-user", None, tool_user);
    agents
}

async fn tool_user(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    let names = input["tools"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let name = name.as_str().unwrap_or_default();
        match ctx.call_tool(name, json!({ "q": name })).await {
            Ok(v) => out.push(v),
            Err(e) => out.push(json!(e.code.as_str())),
        }
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_adds_tool_user_and_a_priced_lookup() {
        let names = demo_agents().specs();
        let last = names.last().map(|s| s.name.clone());
        assert_eq!(names.len(), contract_agents().specs().len() + 1);
        assert_eq!(last.as_deref(), Some("tool-user"));
        let tools = demo_tools();
        assert_eq!(tools.names(), ["lookup"]);
        assert_eq!(
            tools.cost("lookup").map(|a| a.to_string()),
            Some(DEMO_LOOKUP_COST.to_owned())
        );
    }
}
