#!/usr/bin/env python3
"""Contract agent `rotator` (1.0.0) as a process agent.
Mirrors adapters/agents/src/agents/rotator.rs: {delay_sec = 0.2, linger_sec = 0}; after
delay_sec rotates every credential of the job (the runtime emits status credential_rotated),
waits linger_sec, result {rotated: [ids]}."""

from _fields import f64_field, seconds
from arcp_agent import run


def rotator(input, ctx):
    delay = f64_field(input, "delay_sec", 0.2)
    linger = f64_field(input, "linger_sec", 0.0)
    ctx.sleep(seconds(delay))
    rotated = []
    for c in list(ctx.credentials):
        ctx.rotate_credential(c["id"])
        rotated.append(c["id"])
    ctx.sleep(seconds(linger))
    return {"rotated": rotated}


if __name__ == "__main__":
    run(rotator)
