#!/usr/bin/env python3
"""A process agent speaking the line protocol by hand, misbehaving on purpose, for
cli/tests/process_agents.rs. The mode is the start line's input.mode."""

import json
import os
import signal
import subprocess
import sys
import threading
import time


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


start = json.loads(sys.stdin.readline())
mode = start["input"]["mode"]


def exit_at_stdin_eof():
    sys.stdin.read()  # `cancel`, then EOF once the runtime closes stdin
    os._exit(0)


# Every mode but the two that test the kill schedule leaves when the runtime closes stdin.
if mode not in ("ignore_cancel", "after_end"):
    threading.Thread(target=exit_at_stdin_eof, daemon=True).start()

if mode == "malformed":
    sys.stdout.write("not json\n")
    sys.stdout.flush()
    time.sleep(30)
elif mode == "oversized":
    sys.stdout.write("x" * (1048576 + 1) + "\n")
    sys.stdout.flush()
    time.sleep(30)
elif mode == "exit3":
    send({"type": "event", "kind": "log", "body": {"level": "info", "message": "bye"}})
    sys.exit(3)
elif mode == "wait_for_kill":
    send({"type": "event", "kind": "log", "body": {"level": "info", "message": "pid %d" % os.getpid()}})
    time.sleep(60)
elif mode == "ignore_cancel":
    # SIGTERM ignored; a grandchild in the same process group; stdin recorded to a file.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    grandchild = subprocess.Popen(["sleep", "120"])
    if "pidfile" in start["input"]:
        with open(start["input"]["pidfile"], "w") as f:
            f.write(str(grandchild.pid))
    send({"type": "event", "kind": "log", "body": {"level": "info", "message": "grandchild %d" % grandchild.pid}})
    with open(start["input"]["record"], "a") as f:
        for line in sys.stdin:
            f.write(line)
            f.flush()
    time.sleep(120)  # bounded: a test that fails leaves nothing running for long
elif mode == "stderr_flood":
    for i in range(1000):
        sys.stderr.write("flood %d\n" % i)
    sys.stderr.flush()
    time.sleep(1.5)
    sys.stderr.write("after\n")
    sys.stderr.flush()
    time.sleep(60)
elif mode == "stderr_total":
    # One line of 5,001 bytes (3,001 ASCII, 1,000 two-byte characters), then 60 short ones.
    sys.stderr.buffer.write(("y" * 3001 + "\u00e9" * 1000 + "\n").encode("utf-8"))
    sys.stderr.buffer.flush()
    for i in range(60):
        sys.stderr.write("line %d\n" % i)
    sys.stderr.flush()
    time.sleep(60)
elif mode == "firehose":
    # `count` log events, each written at once (a flush per line), the number written so far
    # recorded in input.progress every 1,000 lines; then the result.
    count, progress = start["input"]["count"], start["input"]["progress"]
    for i in range(count):
        sys.stdout.write('{"type":"event","kind":"log","body":{"level":"info","message":"event %d"}}\n' % i)
        sys.stdout.flush()
        if (i + 1) % 1000 == 0:
            with open(progress, "w") as f:
                f.write(str(i + 1))
    send({"type": "result", "value": {"events": count}})
elif mode == "close_stdout":
    os.close(1)
    sys.stdout = open(os.devnull, "w")
    time.sleep(30)
elif mode == "after_end":
    # SIGTERM ignored, its pid in input.pidfile; the end, then one more event.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with open(start["input"]["pidfile"], "w") as f:
        f.write(str(os.getpid()))
    send({"type": "result", "value": "done"})
    send({"type": "event", "kind": "log", "body": {"level": "info", "message": "too late"}})
    time.sleep(60)
elif mode == "many_delegates":
    # 257 delegations to `slow` children that outlive the test: their replies stay pending.
    for i in range(1, 258):
        send({"type": "delegate", "id": i, "agent": "slow", "input": {"seconds": 60, "tick": 30}})
    time.sleep(30)
elif mode == "unknown_type":
    send({"type": "shout", "id": 1})
    time.sleep(30)
elif mode == "reused_id":
    send({"type": "budget", "id": 2})
    send({"type": "budget", "id": 2})
    time.sleep(30)
