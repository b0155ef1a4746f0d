"""The Python contract agents (contract/*.py) against a scripted runtime: the exact lines each
writes, which the runtime turns into the same frames as the built-in Rust agents
(adapters/agents/src/agents/*.rs). Run from agents/python: ``python3 -m unittest``."""

import base64
import unittest

from scripted import Agent, dumps, ev, ok, refused, start

CANCEL = {"type": "cancel", "reason": "cancelled", "code": None, "message": "interop.cancel", "grace_ms": 5000}


def invalid_end(message):
    return {"type": "error", "code": "INVALID_REQUEST", "message": message}


class ContractTest(unittest.TestCase):
    def setUp(self):
        self.agents = []

    def tearDown(self):
        for a in self.agents:
            a.kill()

    def run_agent(self, name, input, agent=None, **over):
        a = Agent(f"contract/{name}.py")
        self.agents.append(a)
        a.send(start(input, agent=agent or f"{name.replace('_', '-')}@1.0.0", **over))
        return a

    def expect(self, agent, *msgs):
        for m in msgs:
            self.assertEqual(agent.line(), dumps(m))

    def expect_end(self, agent, end, code=0):
        self.expect(agent, end)
        status, rest = agent.finish()
        self.assertEqual((status, rest), (code, []))
        self.assertEqual(agent.stderr, [None])

    # ---- echo, versioned ------------------------------------------------------------------

    def test_echo_returns_its_input_verbatim(self):
        inp = {"text": "h\u00e9llo \u2713", "n": [1, 2.5, -3], "nested": {"ok": True, "none": None}, "empty": {},
               "big": 2**53 + 1, "u64": 2**64 - 1, "i64": -(2**63)}
        for value in (inp, "still-alive", 1, [None, {}]):
            with self.subTest(value=value):
                self.expect_end(self.run_agent("echo", value), {"type": "result", "value": value})

    def test_echo_null_input_has_no_value(self):
        self.expect_end(self.run_agent("echo", None), {"type": "result"})

    def test_versioned_reports_the_resolved_version(self):
        for ref in ("versioned@1.0.0", "versioned@2.0.0"):
            a = self.run_agent("versioned", {"x": ref}, agent=ref)
            self.expect_end(a, {"type": "result", "value": {"version": ref.split("@")[1], "input": {"x": ref}}})
        a = self.run_agent("versioned", 1, agent="versioned")
        self.expect_end(a, {"type": "result", "value": {"version": None, "input": 1}})

    # ---- chatty ---------------------------------------------------------------------------

    def test_chatty_emits_every_kind_in_order(self):
        a = self.run_agent("chatty", {"count": 2})
        self.expect(a, ev("status", {"phase": "chatty.start", "message": "emitting 2 rounds"}))
        for i in range(2):
            self.expect(
                a,
                ev("log", {"level": "info", "message": f"round {i}"}),
                ev("thought", {"text": f"thinking about round {i}"}),
                ev("tool_call", {"tool_call_id": f"call_{i}", "name": "lookup", "arguments": {"round": i}}),
                ev("tool_result", {"tool_call_id": f"call_{i}", "output": {"round": i, "ok": True}}),
                ev("metric", {"name": "rounds.completed", "value": i + 1, "unit": "count"}),
                ev("progress", {"current": i + 1, "total": 2, "units": "rounds", "message": f"round {i}"}),
            )
        self.expect(a, ev("artifact_ref", {"artifact_id": "art_chatty_summary", "media_type": "text/plain",
                                           "size_bytes": 2, "uri": "mem://chatty/summary", "summary": "2 rounds"}))
        self.expect_end(a, {"type": "result", "value": {"rounds": 2, "events": 14}})

    def test_chatty_default_and_bad_inputs(self):
        a = self.run_agent("chatty", None)
        self.expect(a, ev("status", {"phase": "chatty.start", "message": "emitting 3 rounds"}))
        lines = [a.line() for _ in range(6 * 3 + 1)]
        self.assertEqual(len(lines), 19)
        self.expect_end(a, {"type": "result", "value": {"rounds": 3, "events": 20}})
        for inp, msg in (({"count": "x"}, "count must be a non-negative integer"),
                         ({"count": 3.0}, "count must be a non-negative integer"),
                         ({"count": -1}, "count must be a non-negative integer"),
                         ({"count": 100_001}, "count must be at most 100000")):
            with self.subTest(inp=inp):
                self.expect_end(self.run_agent("chatty", inp), invalid_end(msg))

    # ---- slow -----------------------------------------------------------------------------

    def test_slow_ticks(self):
        a = self.run_agent("slow", {"seconds": 0.6, "tick": 0.2})
        self.expect(a, ev("status", {"phase": "slow.start", "message": "sleeping 0.6s in 3 ticks"}))
        for k in (1, 2, 3):
            self.expect(a, ev("progress", {"current": k, "total": 3, "units": "ticks"}))
        self.expect_end(a, {"type": "result", "value": {"slept": 0.6, "ticks": 3}})

    def test_slow_is_cancellable_and_prints_seconds_as_rust(self):
        a = self.run_agent("slow", {"seconds": 30, "tick": 0.05})
        self.expect(a, ev("status", {"phase": "slow.start", "message": "sleeping 30s in 600 ticks"}),
                    ev("progress", {"current": 1, "total": 600, "units": "ticks"}))
        a.send(CANCEL)
        while True:  # progress lines written before the cancel was read
            line = a.line()
            if '"progress"' not in line:
                break
        self.assertEqual(line, dumps({"type": "error", "code": "CANCELLED", "message": "job stopped: cancelled"}))
        self.assertEqual(a.finish(close_stdin=False), (0, []))

    def test_slow_bad_tick(self):
        self.expect_end(self.run_agent("slow", {"tick": 0}), invalid_end("tick must be positive"))
        self.expect_end(self.run_agent("slow", {"seconds": 1e9, "tick": 1e-3}), invalid_end("at most 1000000 ticks"))

    # ---- failing --------------------------------------------------------------------------

    def test_failing_internal_error_is_retryable(self):
        a = self.run_agent("failing", {"message": "boom"})
        self.expect(a, ev("log", {"level": "error", "message": "about to fail"}))
        self.expect_end(a, {"type": "error", "code": "INTERNAL_ERROR", "message": "boom", "retryable": True})

    def test_failing_typed_error_is_not_retryable(self):
        a = self.run_agent("failing", {"message": "nope", "code": "PERMISSION_DENIED"})
        self.expect(a, ev("log", {"level": "error", "message": "about to fail"}))
        self.expect_end(a, {"type": "error", "code": "PERMISSION_DENIED", "message": "nope", "retryable": False})

    # ---- budget ---------------------------------------------------------------------------

    def test_budget_exhaustion(self):
        a = self.run_agent("budget", {"cost": "0.40", "steps": 10, "negative_costs": ["-0.10"]},
                           lease={"tool.call": ["paid-tool"], "cost.budget": ["USD:1.00"]},
                           budget={"USD": "USD:1.00"})
        self.expect(a, {"type": "cost", "id": 1, "name": "cost.refund", "amount": "-0.10", "currency": "USD"})
        a.send({"type": "reply", "id": 1, "ok": False, "error": {
            "code": "INVALID_REQUEST", "message": "negative cost -0.10 USD refused for cost.refund", "retryable": False}})
        self.expect(a, ev("log", {"level": "warn", "message": "negative cost metric rejected: -0.10"}))
        rid = 2
        for i in range(3):
            self.expect(a, ev("tool_call", {"tool_call_id": f"step_{i}", "name": "paid-tool", "arguments": {"step": i}}),
                        {"type": "authorize", "id": rid, "namespace": "tool.call", "target": "paid-tool"})
            a.send(ok(rid, {"target": "paid-tool"}))
            self.expect(a, {"type": "cost", "id": rid + 1, "name": "cost.inference", "amount": "0.40", "currency": "USD"})
            a.send(ok(rid + 1, {}))
            self.expect(a, ev("tool_result", {"tool_call_id": f"step_{i}", "output": {"step": i}}))
            rid += 2
        msg = "budget for USD exhausted (remaining=-0.20)"
        self.expect(a, ev("tool_call", {"tool_call_id": "step_3", "name": "paid-tool", "arguments": {"step": 3}}),
                    {"type": "authorize", "id": 8, "namespace": "tool.call", "target": "paid-tool"})
        a.send(refused(8, "BUDGET_EXHAUSTED", msg))
        self.expect(a, ev("tool_result", {"tool_call_id": "step_3",
                                          "error": {"code": "BUDGET_EXHAUSTED", "message": msg, "retryable": False}}))
        self.expect_end(a, {"type": "error", "code": "BUDGET_EXHAUSTED", "message": msg})

    def test_budget_numeric_negative_costs_and_success(self):
        a = self.run_agent("budget", {"steps": 1, "currency": "EUR", "tool": "t", "negative_costs": [-5, -0.5]})
        for rid, v in ((1, "-5"), (2, "-0.5")):
            self.expect(a, {"type": "cost", "id": rid, "name": "cost.refund", "amount": v, "currency": "EUR"})
            a.send(ok(rid, {}))  # an unbudgeted currency: the runtime accepts it
        self.expect(a, ev("tool_call", {"tool_call_id": "step_0", "name": "t", "arguments": {"step": 0}}),
                    {"type": "authorize", "id": 3, "namespace": "tool.call", "target": "t"})
        a.send(ok(3, {"target": "t"}))
        self.expect(a, {"type": "cost", "id": 4, "name": "cost.inference", "amount": "0.40", "currency": "EUR"})
        a.send(ok(4, {}))
        self.expect(a, ev("tool_result", {"tool_call_id": "step_0", "output": {"step": 0}}))
        self.expect_end(a, {"type": "result", "value": {"steps": 1}})

    def test_budget_bad_inputs(self):
        for inp, msg in (({"cost": 0.4}, "cost must be a string"),
                         ({"steps": 100_001}, "steps must be at most 100000"),
                         ({"negative_costs": "x"}, "negative_costs must be an array"),
                         ({"negative_costs": [True]}, "negative_costs must hold decimal strings")):
            with self.subTest(inp=inp):
                self.expect_end(self.run_agent("budget", inp), invalid_end(msg))

    # ---- lease-check ----------------------------------------------------------------------

    def test_lease_check_outcomes(self):
        ops = [("fs.read", "/project/src/main.rs", None),
               ("fs.read", "/etc/passwd", ("PERMISSION_DENIED", "operation fs.read:/etc/passwd not permitted by lease")),
               ("tool.call", "search", None)]
        a = self.run_agent("lease_check", {"ops": [{"capability": c, "target": t} for c, t, _ in ops]})
        for i, (c, t, refusal) in enumerate(ops, start=0):
            self.expect(a, ev("tool_call", {"tool_call_id": f"op_{i}", "name": c, "arguments": {"target": t}}),
                        {"type": "authorize", "id": i + 1, "namespace": c, "target": t})
            if refusal:
                a.send(refused(i + 1, *refusal))
                self.expect(a, ev("tool_result", {"tool_call_id": f"op_{i}", "error": {
                    "code": refusal[0], "message": refusal[1], "retryable": False}}))
            else:
                a.send(ok(i + 1, {"target": t}))
                self.expect(a, ev("tool_result", {"tool_call_id": f"op_{i}", "output": {"allowed": True}}))
        self.expect_end(a, {"type": "result", "value": {"results": ["OK", "PERMISSION_DENIED", "OK"]}})

    def test_lease_check_fatal_expiry(self):
        a = self.run_agent("lease_check", {"ops": [{"capability": "fs.read", "target": "/p/b", "delay_sec": 0.05},
                                                   {"capability": "fs.read", "target": "/p/c"}]})
        msg = "lease expired at 2026-11-24T01:32:43Z"
        self.expect(a, ev("tool_call", {"tool_call_id": "op_0", "name": "fs.read", "arguments": {"target": "/p/b"}}),
                    {"type": "authorize", "id": 1, "namespace": "fs.read", "target": "/p/b"})
        a.send(refused(1, "LEASE_EXPIRED", msg))
        self.expect(a, ev("tool_result", {"tool_call_id": "op_0", "error": {
            "code": "LEASE_EXPIRED", "message": msg, "retryable": False}}))
        self.expect_end(a, {"type": "error", "code": "LEASE_EXPIRED", "message": msg})

    def test_lease_check_bad_op(self):
        self.expect_end(self.run_agent("lease_check", {"ops": [{"target": "x"}]}),
                        invalid_end("op.capability must be a string"))
        self.expect_end(self.run_agent("lease_check", {"ops": {}}), invalid_end("ops must be an array"))

    # ---- chunked --------------------------------------------------------------------------

    def chunk(self, seq, data, encoding="utf8", more=True):
        return {"type": "result_chunk", "chunk_seq": seq, "data": data, "encoding": encoding, "more": more}

    def test_chunked_utf8(self):
        text = "ARCP streams \u00dcn\u00efc\u00f6d\u00e9 \u2713"
        a = self.run_agent("chunked", {"data": text, "chunk_size": 8})
        pieces = [text[i:i + 8] for i in range(0, len(text), 8)]
        for i, p in enumerate(pieces):
            self.expect(a, self.chunk(i, p))
        self.expect_end(a, {"type": "result", "summary": f"{len(pieces)} chunks"})

    def test_chunked_base64(self):
        text = "\u00dcn\u00efc\u00f6d\u00e9 \u2713"
        raw = text.encode("utf-8")
        a = self.run_agent("chunked", {"data": text, "encoding": "base64", "chunk_size": 5})
        pieces = [base64.b64encode(raw[i:i + 5]).decode() for i in range(0, len(raw), 5)]
        for i, p in enumerate(pieces):
            self.expect(a, self.chunk(i, p, "base64"))
        self.assertEqual(b"".join(base64.b64decode(p) for p in pieces), raw)
        self.expect_end(a, {"type": "result", "summary": f"{len(pieces)} chunks"})

    def test_chunked_edge_modes(self):
        a = self.run_agent("chunked", {"data": "", "chunk_size": 8})
        self.expect(a, self.chunk(0, ""))
        self.expect_end(a, {"type": "result", "summary": "0 chunks"})
        a = self.run_agent("chunked", {"data": "aabbcc", "chunk_size": 2, "order": [1, 0, 2]})
        self.expect(a, self.chunk(1, "bb"), self.chunk(0, "aa"), self.chunk(2, "cc", more=False))
        self.expect_end(a, {"type": "result", "summary": "3 chunks"})
        a = self.run_agent("chunked", {"data": "abcdef", "chunk_size": 4, "inline_after_chunks": True})
        self.expect(a, self.chunk(0, "abcd"))
        self.expect_end(a, {"type": "result", "value": {"inline": "abcdef"}})
        self.expect_end(self.run_agent("chunked", {"data": "x", "encoding": "hex\n"}),
                        invalid_end('unknown encoding "hex\\n"'))
        self.expect_end(self.run_agent("chunked", {"data": "ab", "order": [5]}),
                        invalid_end("order names a missing chunk"))
        self.expect_end(self.run_agent("chunked", {}), invalid_end("data must be a string"))

    # ---- delegator ------------------------------------------------------------------------

    def test_delegator(self):
        child_lease = {"fs.read": ["/project/src/**"], "cost.budget": ["USD:0.50"]}
        a = self.run_agent("delegator", {"agent": "echo", "input": {"ping": 1}, "lease": child_lease})
        self.expect(a, {"type": "delegate", "id": 1, "agent": "echo", "input": {"ping": 1}, "lease": child_lease})
        a.send(ok(1, {"child_job_id": "job_child", "agent": "echo@1.0.0", "final_status": "success",
                      "result": {"ping": 1}}))
        self.expect_end(a, {"type": "result", "value": {"child_job_id": "job_child", "child_agent": "echo@1.0.0",
                                                        "child_final_status": "success", "child_result": {"ping": 1}}})

    def test_delegator_child_error_and_refusal(self):
        a = self.run_agent("delegator", {"agent": "failing@1.0.0", "lease_constraints": {"expires_at": "2030-01-01T00:00:00Z"}})
        self.expect(a, {"type": "delegate", "id": 1, "agent": "failing@1.0.0", "input": None, "lease": {},
                        "lease_constraints": {"expires_at": "2030-01-01T00:00:00Z"}})
        a.send(ok(1, {"child_job_id": "job_c", "agent": "failing@1.0.0", "final_status": "error",
                      "error_code": "INTERNAL_ERROR"}))
        self.expect_end(a, {"type": "result", "value": {"child_job_id": "job_c", "child_agent": "failing@1.0.0",
                                                        "child_final_status": "error",
                                                        "child_error_code": "INTERNAL_ERROR"}})
        a = self.run_agent("delegator", {"agent": "echo", "lease": {"fs.write": ["/**"]}})
        self.expect(a, {"type": "delegate", "id": 1, "agent": "echo", "input": None, "lease": {"fs.write": ["/**"]}})
        a.send(refused(1, "LEASE_SUBSET_VIOLATION", "lease is not a subset"))
        self.expect_end(a, {"type": "error", "code": "LEASE_SUBSET_VIOLATION", "message": "lease is not a subset",
                            "retryable": False})
        self.expect_end(self.run_agent("delegator", {"agent": 7}), invalid_end("agent must be a string"))

    # ---- rotator --------------------------------------------------------------------------

    def test_rotator(self):
        cred = {"id": "cred_A", "scheme": "bearer", "value": "virt-A", "endpoint": "https://llm-gateway.invalid/v1"}
        a = self.run_agent("rotator", {"delay_sec": 0}, credentials=[cred])
        self.expect(a, {"type": "rotate_credential", "id": 1, "credential_id": "cred_A"})
        a.send(ok(1, {"id": "cred_A", "value": "virt-rotated-0-A"}))
        self.expect_end(a, {"type": "result", "value": {"rotated": ["cred_A"]}})
        self.expect_end(self.run_agent("rotator", {"delay_sec": 0}), {"type": "result", "value": {"rotated": []}})


if __name__ == "__main__":
    unittest.main()
