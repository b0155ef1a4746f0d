#!/usr/bin/env python3
"""Contract agent `chunked` (1.0.0) as a process agent.
Mirrors adapters/agents/src/agents/chunked.rs: {data, encoding = "utf8" | "base64",
chunk_size = 8} streams its result (utf8: runs of chunk_size characters; base64: the UTF-8
bytes in runs of chunk_size bytes), summary "{n} chunks". Edge modes: `order: [chunk_seq...]`
emits the chunks in that order (more: false on the last one emitted; the runtime refuses
out-of-order chunks); `inline_after_chunks: true` emits one chunk, then returns {inline: data}
(refused by the runtime)."""

import base64

from _fields import bool_field, field, invalid, rust_debug_str, str_field, u64_field
from arcp_agent import run


def chunked(input, ctx):
    data = field(input, "data")
    if not isinstance(data, str):
        raise invalid("data must be a string")
    encoding = str_field(input, "encoding", "utf8")
    if encoding not in ("utf8", "base64"):
        raise invalid(f"unknown encoding {rust_debug_str(encoding)}")
    size = max(u64_field(input, "chunk_size", 8), 1)
    if encoding == "utf8":
        chunks = [data[i:i + size] for i in range(0, len(data), size)]
    else:
        raw = data.encode("utf-8")
        chunks = [base64.b64encode(raw[i:i + size]).decode("ascii") for i in range(0, len(raw), size)]
    if bool_field(input, "inline_after_chunks", False):
        ctx.result_chunk(chunks[0] if chunks else "", encoding)
        return {"inline": data}
    n = len(chunks)
    order = field(input, "order")
    if isinstance(order, list):
        last = max(len(order) - 1, 0)
        for pos, seq in enumerate(order):
            if not (isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq < 2**64):
                raise invalid("order holds chunk_seq numbers")
            if seq >= n:
                raise invalid("order names a missing chunk")
            ctx.result_chunk(chunks[seq], encoding, seq=seq, more=pos != last)
    else:
        if n == 0:
            ctx.result_chunk("", encoding)
        for c in chunks:
            ctx.result_chunk(c, encoding)
    ctx.set_summary(f"{n} chunks")
    return None


if __name__ == "__main__":
    run(chunked)
