#!/usr/bin/env python3
"""Contract agent `chatty` (1.0.0) as a process agent.
Mirrors adapters/agents/src/agents/chatty.rs: {count = 3}; status chatty.start, then per round
log, thought, tool_call, tool_result, metric, progress, then one artifact_ref (6*count + 2
events); result {rounds, events}."""

from _fields import invalid, u64_field
from arcp_agent import run

MAX_CHATTY_ROUNDS = 100_000


def chatty(input, ctx):
    count = u64_field(input, "count", 3)
    if count > MAX_CHATTY_ROUNDS:
        raise invalid(f"count must be at most {MAX_CHATTY_ROUNDS}")
    ctx.status("chatty.start", f"emitting {count} rounds")
    for i in range(count):
        round_ = f"round {i}"
        call = f"call_{i}"
        ctx.log("info", round_)
        ctx.thought(f"thinking about round {i}")
        ctx.tool_call(call, "lookup", {"round": i})
        ctx.tool_result(call, {"round": i, "ok": True})
        ctx.metric("rounds.completed", i + 1, "count")
        ctx.progress(i + 1, total=count, units="rounds", message=round_)
    ctx.artifact_ref(artifact_id="art_chatty_summary", media_type="text/plain", size_bytes=2,
                     uri="mem://chatty/summary", summary=f"{count} rounds")
    return {"rounds": count, "events": 6 * count + 2}


if __name__ == "__main__":
    run(chatty)
