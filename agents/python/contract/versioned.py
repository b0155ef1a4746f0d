#!/usr/bin/env python3
"""Contract agent `versioned` as a process agent, registered twice (1.0.0 and 2.0.0, default
2.0.0): --agent 'versioned@1.0.0=python3 versioned.py' --agent 'versioned@2.0.0=python3
versioned.py' --agent-default versioned@2.0.0.
Mirrors adapters/agents/src/agents/versioned.rs: result {version, input} with the resolved
version from `start.agent` (null for an unversioned registration); no events."""

import _fields  # noqa: F401 - puts arcp_agent on sys.path
from arcp_agent import run


def versioned(input, ctx):
    return {"version": ctx.agent_version, "input": input}


if __name__ == "__main__":
    run(versioned)
