#!/usr/bin/env python3
"""Contract agent `delegator` (1.0.0) as a process agent.
Mirrors adapters/agents/src/agents/delegator.rs: {agent, input, lease, lease_constraints?}
delegates to a child job (the runtime authorizes agent.delegate, checks the subset lease, emits
`delegate` and runs the child on the same session), waits for it, and returns {child_job_id,
child_agent, child_final_status, child_result?, child_error_code?}. The runtime parses `agent`,
`lease` and `lease_constraints` and words their errors as delegator.rs does ("agent: ...",
"lease: ...", "lease_constraints: ...", INVALID_REQUEST); a refusal ends the job with its code."""

from _fields import field, invalid
from arcp_agent import run


def delegator(input, ctx):
    agent = field(input, "agent")
    if not isinstance(agent, str):
        raise invalid("agent must be a string")
    lease = field(input, "lease")
    constraints = field(input, "lease_constraints")
    end = ctx.delegate(agent, field(input, "input"), lease={} if lease is None else lease,
                       lease_constraints=constraints)
    out = {
        "child_job_id": end["child_job_id"],
        "child_agent": end["agent"],
        "child_final_status": end["final_status"],
    }
    if end.get("result") is not None:
        out["child_result"] = end["result"]
    if end.get("error_code") is not None:
        out["child_error_code"] = end["error_code"]
    return out


if __name__ == "__main__":
    run(delegator)
