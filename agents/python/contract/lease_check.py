#!/usr/bin/env python3
"""Contract agent `lease-check` (1.0.0) as a process agent (file name lease_check.py).
Mirrors adapters/agents/src/agents/lease_check.rs: {ops: [{capability, target, delay_sec?}],
fatal = true}. Per op i: wait delay_sec, tool_call op_i {target}, authorize (capability,
target): allowed -> tool_result {allowed: true}, "OK"; refused -> tool_result error (retryable
false), the code, and when fatal and the code is LEASE_EXPIRED or BUDGET_EXHAUSTED an error
end of that code. Result {results}."""

from _fields import bool_field, f64_field, field, invalid, seconds
from arcp_agent import AgentError, run
from budget import tool_refusal

MAX_LEASE_CHECK_OPS = 10_000


def lease_check(input, ctx):
    fatal = bool_field(input, "fatal", True)
    ops = field(input, "ops")
    if ops is None:
        ops = []
    elif not isinstance(ops, list):
        raise invalid("ops must be an array")
    if len(ops) > MAX_LEASE_CHECK_OPS:
        raise invalid(f"at most {MAX_LEASE_CHECK_OPS} ops")
    results = []
    for i, op in enumerate(ops):
        capability = field(op, "capability")
        if not isinstance(capability, str):
            raise invalid("op.capability must be a string")
        target = field(op, "target")
        if not isinstance(target, str):
            raise invalid("op.target must be a string")
        delay = f64_field(op, "delay_sec", 0.0)
        if delay > 0.0:
            ctx.sleep(seconds(delay))
        call = f"op_{i}"
        ctx.tool_call(call, capability, {"target": target})
        try:
            ctx.authorize(capability, target)
        except AgentError as e:
            ctx.tool_error(call, tool_refusal(e))
            results.append(e.code)
            if fatal and e.code in ("LEASE_EXPIRED", "BUDGET_EXHAUSTED"):
                raise AgentError(e.code, e.message) from None
            continue
        ctx.tool_result(call, {"allowed": True})
        results.append("OK")
    return {"results": results}


if __name__ == "__main__":
    run(lease_check)
