#!/usr/bin/env python3
"""A process agent on the Python helper (agents/python/arcp_agent.py), for
cli/tests/process_agents.rs: input {"mode": "happy"} emits one event of several kinds and
returns its input with the job id; {"mode": "authorize"} checks an allowed and a refused
fs.read and ends with the refusal."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "agents", "python"))
from arcp_agent import run  # noqa: E402


def handler(input, ctx):
    if input["mode"] == "happy":
        ctx.log("info", "hello")
        ctx.thought("thinking")
        ctx.status("working", "step 1")
        ctx.progress(1, total=2, units="steps")
        ctx.tool_call("t1", "search", {"q": "x"})
        ctx.tool_result("t1", {"hits": 3})
        ctx.metric("latency", 12, unit="ms")
        ctx.progress(2, total=2, units="steps")
        return {"echo": input, "job_id_env": os.environ.get("ARCP_JOB_ID") == ctx.job_id,
                "protocol_env": os.environ.get("ARCP_AGENT_PROTOCOL"),
                "agent": ctx.agent,
                # The environment is cleared, then the allowlist and --agent-env.
                "runtime_env_leaked": "CARGO_MANIFEST_DIR" in os.environ,
                "agent_env": os.environ.get("ARCP_TEST_X"),
                "arcp_vars": sorted(k for k in os.environ if k.startswith("ARCP_"))}
    if input["mode"] == "authorize":
        path = ctx.authorize("fs.read", "/project/src/../src/main.rs")
        ctx.log("info", "allowed " + path)
        ctx.authorize("fs.read", "/etc/passwd")  # refused: AgentError ends the job
        return "unreachable"
    raise ValueError("unknown mode")


run(handler)
