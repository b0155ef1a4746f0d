#!/usr/bin/env python3
"""Example process agent touching every ctx call once (the helper tests drive it):
thought, status, budget, cost, a confirmed vendor event, a tool call, a delegation, a
credential rotation (of the first credential), an artifact, then a streamed result of a bytes and a text chunk."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from arcp_agent import AgentError, run  # noqa: E402


def tour(input, ctx):
    ctx.thought("planning the tour")
    ctx.status("tour.start", f"protocol {ctx.start['protocol']}")
    ctx.log("info", "budget " + json.dumps(ctx.budget(), separators=(",", ":")), {"step": 1})
    ctx.cost("cost.inference", "0.25", "USD")
    try:
        ctx.event("x-vendor.note", {"n": 1}, confirm=True)
    except AgentError as e:
        ctx.log("warn", f"note refused: {e.code}")
    ctx.tool_call("t1", "search", {"q": "arcp"})
    ctx.tool_result("t1", {"hits": 2})
    child = ctx.delegate("echo", {"ping": 1}, lease={"fs.read": ["/p/**"]})
    ctx.metric("child.ok", 1 if child["final_status"] == "success" else 0, "bool")
    if ctx.credentials:
        ctx.rotate_credential(ctx.credentials[0]["id"])
    ctx.log("info", "credentials " + ",".join(c["value"] for c in ctx.credentials))
    ctx.artifact_ref(artifact_id="art_1", media_type="text/plain", size_bytes=2, uri="mem://tour")
    ctx.stream_result([b"\x00\x01\xff", "text \u2713"])
    ctx.set_summary("2 chunks")
    return None


if __name__ == "__main__":
    run(tour)
