"""Write an ARCP agent in Python, hosted by the arcp-proto runtime as a child process.

Speaks the agent line protocol ``arcp-agent/1`` (docs/agent-protocol.md) on stdin/stdout.
Standard library only. Usage::

    from arcp_agent import run

    def handler(input, ctx):
        ctx.log("info", "hello")
        path = ctx.authorize("fs.read", input["path"])   # raises AgentError when refused
        return {"read": path}

    run(handler)

Synchronous: a reader thread matches replies to requests by id; ``cancel`` sets a flag and
every ``ctx`` call (and a call waiting for a reply, and ``ctx.sleep``) then raises
``Cancelled``. ``run`` moves the protocol off fds 0 and 1 first, so a stray ``print`` (or a
child process) writes to stderr, which the runtime turns into ``warn`` logs.
"""

import base64
import json
import os
import sys
import threading
import time
import traceback

PROTOCOL = "arcp-agent/1"
_PREFIX = "arcp_agent: "


class AgentError(Exception):
    """Ends the job with ``job.error`` of ``code`` (a §12 code); also a refused request."""

    def __init__(self, code, message, retryable=None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.retryable = code, message, retryable

    def to_payload(self):
        """``{code, message, retryable}``, ``retryable`` defaulting as the runtime does."""
        r = self.retryable if self.retryable is not None else self.code == "INTERNAL_ERROR"
        return {"code": self.code, "message": self.message, "retryable": r}


class Cancelled(BaseException):
    """The job was stopped (``cancel``, or stdin closed). A BaseException, so that
    ``except Exception`` does not swallow it; let it propagate out of the handler."""

    def __init__(self, reason="cancelled", code=None, message=None):
        super().__init__(reason)
        self.reason, self.code, self.message = reason, code, message


# One encoder for every line (json.dumps with options builds a new one per call).
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


_WAITING = object()


class Context:
    """What the handler gets: the job (from ``start``) and every call to the runtime."""

    def __init__(self, start, out):
        self.start = start
        self.job_id = start.get("job_id")
        self.agent = start.get("agent") or ""
        name, at, version = self.agent.partition("@")
        self.agent_name, self.agent_version = name, (version if at else None)
        self.input = start.get("input")
        self.lease = start.get("lease") or {}
        self.lease_constraints = start.get("lease_constraints")
        self.expires_at = (self.lease_constraints or {}).get("expires_at")
        self.credentials = [dict(c) for c in start.get("credentials") or []]
        self.principal = start.get("principal")
        self.trace_id = start.get("trace_id")
        self.parent_job_id = start.get("parent_job_id")
        self.max_runtime_sec = start.get("max_runtime_sec")
        self.features = start.get("features") or []
        self._out = out
        self._wlock = threading.Lock()  # writes and request ids
        self._state = threading.Condition()  # pending replies, cancel
        self._next_id = 0
        self._pending = {}
        self._cancel = None
        self._ended = False
        self._chunk_seq = 0
        self._chunks = 0
        self._summary = None

    # ---- plumbing -----------------------------------------------------------------------

    def _write(self, obj, end=False):
        line = (_dumps(obj) + "\n").encode("utf-8")  # fails before anything is written
        with self._wlock:
            if self._ended:
                raise RuntimeError(_PREFIX + "the job has ended")
            self._ended = end
            self._send(line)

    def _send(self, line):
        try:
            self._out.write(line)
            self._out.flush()
        except (BrokenPipeError, ValueError, OSError):
            self._stop("eof", None, "the runtime closed the pipe")
            if not self._ended:
                raise Cancelled("eof", None, "the runtime closed the pipe") from None

    def _stop(self, reason, code, message):
        with self._state:
            if self._cancel is None:
                self._cancel = Cancelled(reason, code, message)
            self._state.notify_all()

    def _check(self):
        if self._cancel is not None:
            raise self._cancel

    def _request(self, type_, **fields):
        self._check()
        msg = {"type": type_, "id": 0, **fields}
        with self._wlock:
            self._next_id += 1
            msg["id"] = rid = self._next_id
            line = (_dumps(msg) + "\n").encode("utf-8")
            if self._ended:
                raise RuntimeError(_PREFIX + "the job has ended")
            with self._state:
                self._pending[rid] = _WAITING
            self._send(line)
        with self._state:
            while self._pending[rid] is _WAITING and self._cancel is None:
                self._state.wait()
            reply = self._pending.pop(rid)
        self._check()
        if reply.get("ok"):
            return reply.get("result") or {}
        e = reply.get("error") or {}
        raise AgentError(e.get("code", "INTERNAL_ERROR"), e.get("message", ""), e.get("retryable"))

    def _deliver(self, msg):
        """Called by the reader thread; returns an error text for a protocol violation."""
        t = msg.get("type")
        if t == "reply":
            rid = msg.get("id")
            with self._state:
                if type(rid) is not int or self._pending.get(rid, None) is not _WAITING:
                    return f"the runtime replied to unknown request id {_dumps(rid)}"
                self._pending[rid] = msg
                self._state.notify_all()
        elif t == "cancel":
            self._stop(msg.get("reason") or "cancelled", msg.get("code"), msg.get("message"))
        elif t == "credential_rotated":
            with self._state:
                for c in self.credentials:
                    if c.get("id") == msg.get("id"):
                        c["value"] = msg.get("value")
        elif t == "start":
            return "the runtime sent a second start message"
        return None  # other types: ignored (protocol §3)

    # ---- events (no answer) ---------------------------------------------------------------

    def event(self, kind, body, confirm=False):
        """Any ``job.event``. ``confirm=True`` waits for the runtime to accept it (raises
        ``AgentError`` on a refusal, e.g. a negative progress)."""
        if confirm:
            self._request("event", kind=kind, body=body)
        else:
            self._check()
            self._write({"type": "event", "kind": kind, "body": body})

    def log(self, level, message, attributes=None):
        body = {"level": level, "message": message}
        if attributes is not None:
            body["attributes"] = attributes
        self.event("log", body)

    def thought(self, text):
        self.event("thought", {"text": text})

    def status(self, phase, message=None):
        self.event("status", _opt({"phase": phase}, message=message))

    def metric(self, name, value, unit=None, attributes=None):
        self.event("metric", _opt({"name": name, "value": value}, unit=unit, attributes=attributes))

    def progress(self, current, total=None, units=None, message=None):
        self.event("progress", _opt({"current": current}, total=total, units=units, message=message))

    def tool_call(self, tool_call_id, name, arguments):
        self.event("tool_call", {"tool_call_id": tool_call_id, "name": name, "arguments": arguments})

    def tool_result(self, tool_call_id, output):
        self.event("tool_result", {"tool_call_id": tool_call_id, "output": output})

    def tool_error(self, tool_call_id, error):
        """``error``: an ``AgentError`` or a ``{code, message, retryable}`` dict."""
        payload = error.to_payload() if isinstance(error, AgentError) else error
        self.event("tool_result", {"tool_call_id": tool_call_id, "error": payload})

    def artifact_ref(self, **body):
        """``artifact_id``, ``media_type``, ``size_bytes``, ``uri``, ``summary``, ``sha256``."""
        self.event("artifact_ref", {k: v for k, v in body.items() if v is not None})

    # ---- streamed results -----------------------------------------------------------------

    def result_chunk(self, data, encoding=None, seq=None, more=True):
        """One chunk: ``str`` goes as ``utf8``, ``bytes`` as ``base64``. Chunks are numbered
        from 0 unless ``seq`` is given. The handler returns ``None`` after streaming."""
        if isinstance(data, (bytes, bytearray)):
            data, encoding = base64.b64encode(bytes(data)).decode("ascii"), encoding or "base64"
        seq = self._chunk_seq if seq is None else seq
        self._check()
        self._write({"type": "result_chunk", "chunk_seq": seq, "data": data,
                     "encoding": encoding or "utf8", "more": more})
        self._chunk_seq = max(self._chunk_seq, seq + 1)
        self._chunks += 1

    def stream_result(self, chunks, encoding=None):
        """Streams every chunk of ``chunks`` (one empty chunk if none); returns the count."""
        n = 0
        for c in chunks:
            self.result_chunk(c, encoding)
            n += 1
        if n == 0:
            self.result_chunk("", encoding)
            n = 1
        return n

    def set_summary(self, summary):
        """The ``summary`` of the streamed result's ``job.result``."""
        self._summary = summary

    # ---- requests (answered) --------------------------------------------------------------

    def authorize(self, namespace, target):
        """The lease gate. Returns the normalised target to act on; raises ``AgentError``
        (``LEASE_EXPIRED``, ``PERMISSION_DENIED``, ``BUDGET_EXHAUSTED``) when refused."""
        return self._request("authorize", namespace=namespace, target=target)["target"]

    def cost(self, name, amount, currency):
        """Reports a cost (``amount`` a decimal string such as ``"0.40"``)."""
        self._request("cost", name=name, amount=amount if isinstance(amount, (int, float)) else str(amount),
                      currency=currency)

    def budget(self):
        """The remaining counters, ``{"USD": "USD:0.60"}``, or ``None`` when unbudgeted."""
        return self._request("budget").get("budget")

    def delegate(self, agent, input=None, lease=None, lease_constraints=None):
        """Runs a child job and waits for it. Returns ``{child_job_id, agent, final_status,
        result?, error_code?}``."""
        fields = {"agent": agent, "input": input, "lease": {} if lease is None else lease}
        if lease_constraints is not None:
            fields["lease_constraints"] = lease_constraints
        return self._request("delegate", **fields)

    def rotate_credential(self, credential_id):
        """Rotates a credential; returns (and records in ``ctx.credentials``) the new value."""
        r = self._request("rotate_credential", credential_id=credential_id)
        with self._state:
            for c in self.credentials:
                if c.get("id") == r.get("id", credential_id):
                    c["value"] = r.get("value")
        return r.get("value")

    # ---- time, cancellation ---------------------------------------------------------------

    def sleep(self, seconds):
        """Sleeps; raises ``Cancelled`` as soon as the job is cancelled."""
        deadline = time.monotonic() + max(0.0, seconds)
        with self._state:
            while self._cancel is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._state.wait(left)
        raise self._cancel

    @property
    def cancelled(self):
        return self._cancel is not None


def _opt(body, **optional):
    body.update((k, v) for k, v in optional.items() if v is not None)
    return body


def _fatal(ctx, out, text):
    """A protocol failure on the runtime's side: write an INTERNAL_ERROR end (if none was
    written yet) and exit with status 2 at once."""
    line = (_dumps({"type": "error", "code": "INTERNAL_ERROR", "message": _PREFIX + text}) + "\n").encode()
    lock = ctx._wlock if ctx else threading.Lock()
    with lock:
        if not (ctx and ctx._ended):
            try:
                out.write(line)
                out.flush()
            except OSError:
                pass
        sys.stderr.write(_PREFIX + text + "\n")
        sys.stderr.flush()
        os._exit(2)


def _parse(raw):
    try:
        msg = json.loads(raw.decode("utf-8"))
    except ValueError:
        return None
    return msg if isinstance(msg, dict) and isinstance(msg.get("type"), str) else None


def _reader(ctx, inp, out):
    for raw in inp:
        if not raw.strip(b"\r\n"):
            continue
        msg = _parse(raw)
        problem = "the runtime sent a line that is not a JSON object" if msg is None else ctx._deliver(msg)
        if problem:
            _fatal(ctx, out, problem)
    ctx._stop("eof", None, "the runtime closed stdin")


def run(handler):
    """Reads ``start``, calls ``handler(input, ctx)`` and writes the end: ``result`` with its
    return value, or ``error`` from an ``AgentError`` (another exception: ``INTERNAL_ERROR``
    with its text; ``Cancelled``: ``CANCELLED``). Exits the process (status 0; 2 when the
    runtime broke the protocol)."""
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)  # stray prints and child processes' stdout go to stderr
    raw = inp.readline()
    while raw and not raw.strip(b"\r\n"):
        raw = inp.readline()
    if not raw:
        sys.stderr.write(_PREFIX + "stdin closed before the start message\n")
        os._exit(2)
    start = _parse(raw)
    if start is None:
        _fatal(None, out, "the runtime sent a line that is not a JSON object")
    if start["type"] != "start":
        _fatal(None, out, "the first line from the runtime is not a start message")
    proto = start.get("protocol")
    if proto != PROTOCOL:
        _fatal(None, out, f"unsupported protocol {_dumps(proto)} (this helper speaks {PROTOCOL})")
    try:
        ctx = Context(start, out)
    except (AttributeError, TypeError, ValueError):
        _fatal(None, out, "the runtime sent an invalid start message")
    threading.Thread(target=_reader, args=(ctx, inp, out), daemon=True).start()
    try:
        value = handler(ctx.input, ctx)
        ctx._check()
        end = {"type": "result"}
        if ctx._chunks and value is None:
            if ctx._summary is not None:
                end["summary"] = ctx._summary
        elif value is not None:
            end["value"] = value
    except Cancelled as c:
        end = {"type": "error", "code": "CANCELLED", "message": f"job stopped: {c.reason}"}
    except AgentError as e:
        end = {"type": "error", "code": e.code, "message": e.message}
        if e.retryable is not None:
            end["retryable"] = e.retryable
    except Exception as e:  # noqa: BLE001 - an agent bug ends the job, as in the reference
        traceback.print_exc()
        end = {"type": "error", "code": "INTERNAL_ERROR", "message": str(e) or type(e).__name__}
    if ctx.cancelled:
        end = {"type": "error", "code": "CANCELLED", "message": f"job stopped: {ctx._cancel.reason}"}
    try:
        ctx._write(end, end=True)
    except (TypeError, ValueError) as e:  # the return value is not JSON
        ctx._write({"type": "error", "code": "INTERNAL_ERROR", "message": f"result is not JSON: {e}"}, end=True)
    except (Cancelled, RuntimeError):
        pass
    sys.stderr.flush()
    sys.exit(0)
