"""Tests of arcp_agent.py through examples/echo.py, against a scripted runtime.

Run from agents/python: ``python3 -m unittest``."""

import unittest

from scripted import Agent, dumps, ev, ok, refused, start

ECHO = "examples/echo.py"
LOG = ev("log", {"level": "info", "message": "echo running as echo@1.0.0 for job_01JZ8Q4M3ZK5V0N9D2H7XWQK1F"})
BAD_LINE = "arcp_agent: the runtime sent a line that is not a JSON object"


class HelperTest(unittest.TestCase):
    def setUp(self):
        self.agents = []

    def tearDown(self):
        for a in self.agents:
            a.kill()

    def spawn(self, script=ECHO):
        a = Agent(script)
        self.agents.append(a)
        return a

    def expect(self, agent, *msgs):
        for m in msgs:
            self.assertEqual(agent.line(), dumps(m))

    def assert_end(self, agent, code=0, close_stdin=True):
        status, rest = agent.finish(close_stdin)
        self.assertEqual((status, rest), (code, []))

    def test_start_events_authorize_result(self):
        a = self.spawn()
        inp = {"read": "/project/./src/main.rs", "n": [1, 2.5, -3, None], "t": "h\u00e9llo \u2713"}
        a.send(start(inp))
        self.expect(a, LOG, {"type": "authorize", "id": 1, "namespace": "fs.read", "target": "/project/./src/main.rs"})
        a.send(ok(1, {"target": "/project/src/main.rs"}))
        self.expect(a, ev("progress", {"current": 1, "total": 1, "units": "files", "message": "/project/src/main.rs"}),
                    {"type": "result", "value": inp})
        self.assert_end(a)
        self.assertEqual(a.stderr, [None])

    def test_tour_of_every_call(self):
        creds = [{"id": "cred_A", "scheme": "bearer", "value": "virt-A"},
                 {"id": "cred_B", "scheme": "bearer", "value": "virt-B"}]
        a = self.spawn("examples/tour.py")
        a.send(start(None, agent="tour@1.0.0", budget={"USD": "USD:1.00"}, credentials=creds))
        self.expect(a, ev("thought", {"text": "planning the tour"}),
                    ev("status", {"phase": "tour.start", "message": "protocol arcp-agent/1"}),
                    {"type": "budget", "id": 1})
        a.send(ok(1, {"budget": {"USD": "USD:1.00"}}))
        self.expect(a, ev("log", {"level": "info", "message": 'budget {"USD":"USD:1.00"}', "attributes": {"step": 1}}),
                    {"type": "cost", "id": 2, "name": "cost.inference", "amount": "0.25", "currency": "USD"})
        a.send(ok(2, {}))
        self.expect(a, {"type": "event", "id": 3, "kind": "x-vendor.note", "body": {"n": 1}})
        a.send({"type": "reply", "id": 3, "ok": False, "error": {"code": "INVALID_REQUEST", "message": "no", "retryable": False}})
        self.expect(a, ev("log", {"level": "warn", "message": "note refused: INVALID_REQUEST"}),
                    ev("tool_call", {"tool_call_id": "t1", "name": "search", "arguments": {"q": "arcp"}}),
                    ev("tool_result", {"tool_call_id": "t1", "output": {"hits": 2}}),
                    {"type": "delegate", "id": 4, "agent": "echo", "input": {"ping": 1}, "lease": {"fs.read": ["/p/**"]}})
        a.send(ok(4, {"child_job_id": "job_c", "agent": "echo@1.0.0", "final_status": "success", "result": {"ping": 1}}))
        self.expect(a, ev("metric", {"name": "child.ok", "value": 1, "unit": "bool"}),
                    {"type": "rotate_credential", "id": 5, "credential_id": "cred_A"})
        a.send({"type": "credential_rotated", "id": "cred_B", "value": "virt-B2"})
        a.send(ok(5, {"id": "cred_A", "value": "virt-A2"}))
        self.expect(a, ev("log", {"level": "info", "message": "credentials virt-A2,virt-B2"}),
                    ev("artifact_ref", {"artifact_id": "art_1", "media_type": "text/plain", "size_bytes": 2, "uri": "mem://tour"}),
                    {"type": "result_chunk", "chunk_seq": 0, "data": "AAH/", "encoding": "base64", "more": True},
                    {"type": "result_chunk", "chunk_seq": 1, "data": "text \u2713", "encoding": "utf8", "more": True},
                    {"type": "result", "summary": "2 chunks"})
        self.assert_end(a)

    def test_exact_bytes_of_a_result_line(self):
        a = self.spawn()
        a.send(start({"big": 2**53 + 1, "u64": 2**64 - 1, "i64": -(2**63), "f": 1.0, "s": "\u2713\"\n"}))
        self.expect(a, LOG)
        self.assertEqual(a.line(), '{"type":"result","value":{"big":9007199254740993,"u64":18446744073709551615,'
                                   '"i64":-9223372036854775808,"f":1.0,"s":"\u2713\\"\\n"}}')
        self.assert_end(a)

    def test_null_input_gives_a_result_without_value(self):
        a = self.spawn()
        a.send(start(None))
        self.expect(a, LOG, {"type": "result"})
        self.assert_end(a)

    def test_refused_authorization_ends_with_its_code(self):
        a = self.spawn()
        a.send(start({"read": "/etc/passwd"}))
        self.expect(a, LOG, {"type": "authorize", "id": 1, "namespace": "fs.read", "target": "/etc/passwd"})
        a.send(refused(1, "PERMISSION_DENIED", "operation fs.read:/etc/passwd not permitted by lease"))
        self.expect(a, {"type": "error", "code": "PERMISSION_DENIED",
                        "message": "operation fs.read:/etc/passwd not permitted by lease", "retryable": False})
        self.assert_end(a)

    def test_cancel_interrupts_a_sleep_and_ends_cancelled(self):
        a = self.spawn()
        a.send(start({"sleep": 30, "read": "/p/a"}))
        self.expect(a, LOG)
        a.send({"type": "cancel", "reason": "cancelled", "code": None, "message": "interop.cancel", "grace_ms": 5000})
        self.expect(a, {"type": "error", "code": "CANCELLED", "message": "job stopped: cancelled"})
        self.assert_end(a, close_stdin=False)

    def test_cancel_while_waiting_for_a_reply(self):
        a = self.spawn()
        a.send(start({"read": "/p/a"}))
        self.expect(a, LOG, {"type": "authorize", "id": 1, "namespace": "fs.read", "target": "/p/a"})
        a.send({"type": "cancel", "reason": "timed_out", "code": None, "message": None, "grace_ms": 5000})
        self.expect(a, {"type": "error", "code": "CANCELLED", "message": "job stopped: timed_out"})
        self.assert_end(a)

    def test_stdin_closed_mid_job_stops_the_agent(self):
        a = self.spawn()
        a.send(start({"read": "/p/a"}))
        self.expect(a, LOG, {"type": "authorize", "id": 1, "namespace": "fs.read", "target": "/p/a"})
        a.proc.stdin.close()
        self.expect(a, {"type": "error", "code": "CANCELLED", "message": "job stopped: eof"})
        self.assert_end(a, close_stdin=False)

    def test_unknown_message_types_and_members_are_ignored(self):
        a = self.spawn()
        a.send(start({"read": "/p/a"}, x_future={"a": 1}))
        self.expect(a, LOG, {"type": "authorize", "id": 1, "namespace": "fs.read", "target": "/p/a"})
        a.send({"type": "x-advisory", "note": "ignored"})
        a.send("")
        a.send({"type": "reply", "id": 1, "ok": True, "result": {"target": "/p/a", "extra": True}, "more": 1})
        self.expect(a, ev("progress", {"current": 1, "total": 1, "units": "files", "message": "/p/a"}),
                    {"type": "result", "value": {"read": "/p/a"}})
        self.assert_end(a)

    def test_malformed_first_line(self):
        a = self.spawn()
        a.send("{not json")
        self.expect(a, {"type": "error", "code": "INTERNAL_ERROR", "message": BAD_LINE})
        self.assert_end(a, code=2)
        self.assertEqual(a.stderr, [BAD_LINE, None])

    def test_first_line_not_start(self):
        a = self.spawn()
        a.send({"type": "cancel", "reason": "cancelled"})
        self.expect(a, {"type": "error", "code": "INTERNAL_ERROR",
                        "message": "arcp_agent: the first line from the runtime is not a start message"})
        self.assert_end(a, code=2)

    def test_unsupported_protocol_version(self):
        a = self.spawn()
        a.send(start(1, protocol="arcp-agent/2"))
        self.expect(a, {"type": "error", "code": "INTERNAL_ERROR",
                        "message": 'arcp_agent: unsupported protocol "arcp-agent/2" (this helper speaks arcp-agent/1)'})
        self.assert_end(a, code=2)

    def test_invalid_start_members(self):
        for over in ({"agent": 5}, {"credentials": [1]}):
            with self.subTest(over=over):
                a = self.spawn()
                a.send(start(1, **over))
                self.expect(a, {"type": "error", "code": "INTERNAL_ERROR",
                                "message": "arcp_agent: the runtime sent an invalid start message"})
                self.assert_end(a, code=2)

    def test_malformed_line_mid_job(self):
        for bad in ("[1,2]", '{"id":1}', b"\xff{}", "\u00ff{", '{"type":"reply","id":1,"ok":true,"result":{"target":NaN'):
            with self.subTest(bad=bad):
                a = self.spawn()
                a.send(start({"read": "/p/a"}))
                self.expect(a, LOG, {"type": "authorize", "id": 1, "namespace": "fs.read", "target": "/p/a"})
                a.send(bad)
                self.expect(a, {"type": "error", "code": "INTERNAL_ERROR", "message": BAD_LINE})
                self.assert_end(a, code=2)

    def test_reply_to_an_unknown_id(self):
        a = self.spawn()
        a.send(start({"read": "/p/a"}))
        self.expect(a, LOG, {"type": "authorize", "id": 1, "namespace": "fs.read", "target": "/p/a"})
        a.send(ok(2, {"target": "/p/a"}))
        self.expect(a, {"type": "error", "code": "INTERNAL_ERROR",
                        "message": "arcp_agent: the runtime replied to unknown request id 2"})
        self.assert_end(a, code=2)

    def test_second_start(self):
        a = self.spawn()
        a.send(start({"read": "/p/a"}))
        self.expect(a, LOG, {"type": "authorize", "id": 1, "namespace": "fs.read", "target": "/p/a"})
        a.send(start(1))
        self.expect(a, {"type": "error", "code": "INTERNAL_ERROR",
                        "message": "arcp_agent: the runtime sent a second start message"})
        self.assert_end(a, code=2)

    def test_stdin_closed_before_start(self):
        a = self.spawn()
        self.assert_end(a, code=2)
        self.assertEqual(a.stderr, ["arcp_agent: stdin closed before the start message", None])


if __name__ == "__main__":
    unittest.main()
