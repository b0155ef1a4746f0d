#!/usr/bin/env python3
"""Contract agent `echo` (1.0.0) as a process agent.
Mirrors adapters/agents/src/agents/echo.rs: result = input, verbatim; no events. A null input
gives a job.result without a `result` key (D34)."""

import _fields  # noqa: F401 - puts arcp_agent on sys.path
from arcp_agent import run


def echo(input, ctx):
    return input


if __name__ == "__main__":
    run(echo)
