#!/usr/bin/env python3
"""A process agent that writes events as fast as it can, for `arcp bench --process-agent`:
input {"count": N} (default 1000) gives N `log` events ("event 0", "event 1", ...) and the
result {"events": N}, like the Rust `firehose` agent. It speaks the line protocol directly
(standard library only), writing through one buffered stream without a flush per line; it
asks the runtime nothing, so it need not read stdin after `start`."""

import json
import sys

start = json.loads(sys.stdin.readline())
count = (start.get("input") or {}).get("count", 1000)
out = sys.stdout
head = '{"type":"event","kind":"log","body":{"level":"info","message":"event '
tail = '"}}\n'
for i in range(count):
    out.write(head + str(i) + tail)
out.write(json.dumps({"type": "result", "value": {"events": count}}) + "\n")
out.flush()
