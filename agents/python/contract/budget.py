#!/usr/bin/env python3
"""Contract agent `budget` (1.0.0) as a process agent.
Mirrors adapters/agents/src/agents/budget.rs: {cost = "0.40", currency = "USD", steps = 10,
tool = "paid-tool", negative_costs = []}. Each negative cost is reported with ctx.cost; the
runtime refuses it (D31) and the agent logs "negative cost metric rejected: {value}". Each step:
tool_call, authorize tool.call on `tool` (refused: tool_result error with retryable false, then
an error end of that code), cost cost.inference (the runtime adds cost.budget.remaining),
tool_result. Result {steps}."""

from _fields import field, invalid, json_number_text, str_field, u64_field
from arcp_agent import AgentError, run

MAX_BUDGET_STEPS = 100_000


def tool_refusal(e):
    """A lease-gate refusal as a tool_result error: retryable false, as the reference."""
    return {"code": e.code, "message": e.message, "retryable": False}


def budget(input, ctx):
    cost = str_field(input, "cost", "0.40")
    currency = str_field(input, "currency", "USD")
    steps = u64_field(input, "steps", 10)
    tool = str_field(input, "tool", "paid-tool")
    if steps > MAX_BUDGET_STEPS:
        raise invalid(f"steps must be at most {MAX_BUDGET_STEPS}")
    raw = field(input, "negative_costs")
    if raw is None:
        negatives = []
    elif isinstance(raw, list):
        negatives = []
        for v in raw:
            if isinstance(v, str):
                negatives.append(v)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                negatives.append(json_number_text(v))
            else:
                raise invalid("negative_costs must hold decimal strings")
    else:
        raise invalid("negative_costs must be an array")
    for v in negatives:
        try:
            ctx.cost("cost.refund", v, currency)
        except AgentError:
            ctx.log("warn", f"negative cost metric rejected: {v}")
    for i in range(steps):
        call = f"step_{i}"
        ctx.tool_call(call, tool, {"step": i})
        try:
            ctx.authorize("tool.call", tool)
        except AgentError as e:
            ctx.tool_error(call, tool_refusal(e))
            raise AgentError(e.code, e.message) from None
        ctx.cost("cost.inference", cost, currency)
        ctx.tool_result(call, {"step": i})
    return {"steps": steps}


if __name__ == "__main__":
    run(budget)
