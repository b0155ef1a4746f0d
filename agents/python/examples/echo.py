#!/usr/bin/env python3
"""Example process agent: logs, optionally reads a file through the lease gate and sleeps
(cancellably), then returns its input.

    arcp serve --agent 'py-echo@1.0.0=python3 agents/python/examples/echo.py'

Input: anything. With {"read": PATH}, authorizes fs.read on PATH and reports the normalised
path as progress; with {"sleep": SECONDS}, sleeps first (a cancel interrupts it).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from arcp_agent import run  # noqa: E402


def echo(input, ctx):
    ctx.log("info", f"echo running as {ctx.agent} for {ctx.job_id}")
    if isinstance(input, dict) and "sleep" in input:
        ctx.sleep(input["sleep"])
    if isinstance(input, dict) and "read" in input:
        path = ctx.authorize("fs.read", input["read"])  # raises AgentError when refused
        ctx.progress(1, total=1, units="files", message=path)
    return input


if __name__ == "__main__":
    run(echo)
