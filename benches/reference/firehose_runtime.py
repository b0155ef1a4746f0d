#!/usr/bin/env python3
"""The Python reference runtime with a `firehose` agent, for benches/side_by_side.sh.

It is `peer_runtime.py` from the interoperability harness (../shared/interop, installed with
its virtualenv by `setup.sh`), imported from ARCP_PEER_DIR and run with its own flags and
defaults (`--port N` prints `LISTENING ws://127.0.0.1:PORT/arcp`; the tokens alice-token,
bob-token and auditor-token), plus one agent that `arcp bench` needs and the harness does
not host:

  firehose@1.0.0   input {"count": N} (default 1000): N `log` events (level "info",
                   message "event 0", "event 1", ...) and the result {"events": N}, the
                   same frames as the Rust `firehose` agent that `arcp bench --serve-only`
                   registers.

Run it with the harness's virtualenv:

    ARCP_PEER_DIR=../shared/interop .peer-venv/bin/python benches/reference/firehose_runtime.py --port 0
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

# Same bound as the Rust agent (arcp_agents::agents::firehose::MAX_FIREHOSE_EVENTS).
MAX_FIREHOSE_EVENTS = 10_000_000


def _peer_runtime():
    """Imports peer_runtime.py from ARCP_PEER_DIR (default: ../shared/interop beside the repo)."""
    default = Path(__file__).resolve().parents[3] / "shared" / "interop"
    peer_dir = Path(os.environ.get("ARCP_PEER_DIR", default))
    if not (peer_dir / "peer_runtime.py").is_file():
        raise SystemExit(
            f"firehose_runtime.py: no peer_runtime.py in {peer_dir} (set ARCP_PEER_DIR)"
        )
    sys.path.insert(0, str(peer_dir))
    import peer_runtime  # noqa: PLC0415

    return peer_runtime


async def agent_firehose(inp: Any, ctx: Any) -> Any:
    """N `log` events as fast as the runtime takes them, then {"events": N}."""
    count = int((inp or {}).get("count", 1000))
    if count < 0 or count > MAX_FIREHOSE_EVENTS:
        raise ValueError(f"count must be between 0 and {MAX_FIREHOSE_EVENTS}")
    log = ctx.log
    for i in range(count):
        await log("info", f"event {i}")
    return {"events": count}


def main(argv: list[str] | None = None) -> int:
    peer = _peer_runtime()
    build = peer.build_runtime

    def build_with_firehose(args):
        runtime = build(args)
        runtime.register_agent_version("firehose", "1.0.0", agent_firehose)
        return runtime

    # peer_runtime's serve functions look build_runtime up in their module at call time:
    # everything else (flags, tokens, policy, transports) is the harness's own.
    peer.build_runtime = build_with_firehose
    return peer.main(argv)


if __name__ == "__main__":
    sys.exit(main())
