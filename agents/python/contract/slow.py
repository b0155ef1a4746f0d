#!/usr/bin/env python3
"""Contract agent `slow` (1.0.0) as a process agent.
Mirrors adapters/agents/src/agents/slow.rs: {seconds = 30, tick = 0.5}; status slow.start
("sleeping {seconds}s in {ticks} ticks", seconds printed as Rust prints an f64), then one
progress {current: k, total: ticks, units: "ticks"} per tick; result {slept, ticks}. A cancel
(and so max_runtime_sec) interrupts the sleep: ctx.sleep raises Cancelled."""

import math

from _fields import f64_field, field, invalid, rust_f64, seconds
from arcp_agent import run

MAX_SLOW_TICKS = 1_000_000


def slow(input, ctx):
    secs = max(f64_field(input, "seconds", 30.0), 0.0)
    tick = f64_field(input, "tick", 0.5)
    if tick <= 0.0:
        raise invalid("tick must be positive")
    q = secs / tick
    ticks_f = max(float(math.ceil(q)), 1.0) if math.isfinite(q) else math.inf
    if ticks_f > MAX_SLOW_TICKS:
        raise invalid(f"at most {MAX_SLOW_TICKS} ticks")
    ticks = int(ticks_f)
    ctx.status("slow.start", f"sleeping {rust_f64(secs)}s in {ticks} ticks")
    elapsed = 0.0
    for k in range(1, ticks + 1):
        step = max(min(tick, secs - elapsed), 0.0)
        ctx.sleep(seconds(step))
        elapsed += step
        ctx.progress(k, total=ticks, units="ticks")
    slept = field(input, "seconds")
    if not (isinstance(slept, (int, float)) and not isinstance(slept, bool)):
        slept = 30
    return {"slept": slept, "ticks": ticks}


if __name__ == "__main__":
    run(slow)
