"""A scripted runtime for tests: spawns an agent process and plays the runtime's side of the
agent line protocol (docs/agent-protocol.md) over its stdin/stdout, line by line."""

import json
import os
import queue
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 10.0


def dumps(obj):
    """The exact line the helper writes for ``obj`` (keys in insertion order)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def start(input=None, agent="echo@1.0.0", **over):
    """A ``start`` message; every member present, ``over`` replacing any of them."""
    msg = {
        "type": "start",
        "protocol": "arcp-agent/1",
        "features": [],
        "job_id": "job_01JZ8Q4M3ZK5V0N9D2H7XWQK1F",
        "agent": agent,
        "input": input,
        "lease": {},
        "lease_constraints": None,
        "budget": None,
        "credentials": [],
        "principal": "alice",
        "trace_id": None,
        "parent_job_id": None,
        "max_runtime_sec": None,
    }
    msg.update(over)
    return msg


def ev(kind, body):
    return {"type": "event", "kind": kind, "body": body}


def ok(rid, result):
    return {"type": "reply", "id": rid, "ok": True, "result": result}


def refused(rid, code, message):
    return {"type": "reply", "id": rid, "ok": False,
            "error": {"code": code, "message": message, "retryable": False}}


class Agent:
    """One agent process. ``send`` writes a line; ``line`` reads the next stdout line."""

    def __init__(self, script, *args):
        path = script if os.path.isabs(script) else os.path.join(HERE, script)
        self.proc = subprocess.Popen(
            [sys.executable, path, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=HERE)
        self.lines = queue.Queue()
        self.stderr = []
        self.pumps = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True),
                      threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append), daemon=True)]
        for t in self.pumps:
            t.start()

    @staticmethod
    def _pump(stream, sink):
        for raw in stream:
            sink(raw.decode("utf-8").rstrip("\n"))
        sink(None)

    def send(self, msg):
        """Writes ``msg`` (a dict, or a raw str or bytes written verbatim) as one line."""
        if isinstance(msg, bytes):
            data = msg + b"\n"
        else:
            data = ((msg if isinstance(msg, str) else dumps(msg)) + "\n").encode("utf-8")
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def line(self):
        """The next stdout line (``None`` at EOF)."""
        try:
            return self.lines.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError("no line from the agent within %ss; stderr: %r" % (TIMEOUT, self.stderr))

    def finish(self, close_stdin=True):
        """Closes stdin (as the runtime does after the end); returns (exit status, rest of
        stdout lines)."""
        if close_stdin:
            self.proc.stdin.close()
        code = self.proc.wait(timeout=TIMEOUT)
        for t in self.pumps:
            t.join(TIMEOUT)
        rest = []
        while True:
            item = self.line()
            if item is None:
                return code, rest
            rest.append(item)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for s in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                s.close()
            except OSError:
                pass
