#!/usr/bin/env python3
"""Contract agent `failing` (1.0.0) as a process agent.
Mirrors adapters/agents/src/agents/failing.rs: {message = "boom", code?}; log error "about to
fail", then an error end: without a (string) code INTERNAL_ERROR, retryable true; with one,
that code, retryable only for INTERNAL_ERROR."""

from _fields import field, str_field
from arcp_agent import AgentError, run


def failing(input, ctx):
    message = str_field(input, "message", "boom")
    code = field(input, "code")
    if not isinstance(code, str):
        code = "INTERNAL_ERROR"
    ctx.log("error", "about to fail")
    raise AgentError(code, message, retryable=code == "INTERNAL_ERROR")


if __name__ == "__main__":
    run(failing)
