#!/usr/bin/env bash
# `arcp serve --demo` with the ten contract agents replaced by their Python process-agent
# versions (agents/python/contract/, issue #20); extra arguments are passed on (e.g.
# `--port 0`, `--stdio`). Run from the repository root after `cargo build -p arcp-cli`:
#   .ci/serve-process-agents.sh --port 0          # prints LISTENING ws://…
#   peer_client.py --stdio ".ci/serve-process-agents.sh --stdio"
set -euo pipefail
cd "$(dirname "$0")/.."
C=agents/python/contract
# `--demo` is given below: drop it from the extra arguments (interop.sh's start_serve adds it).
extra=()
for a in "$@"; do
    [ "$a" = --demo ] || extra+=("$a")
done
exec "${ARCP:-target/debug/arcp}" serve --demo \
    --agent "echo@1.0.0=python3 $C/echo.py" \
    --agent "chatty@1.0.0=python3 $C/chatty.py" \
    --agent "slow@1.0.0=python3 $C/slow.py" \
    --agent "budget@1.0.0=python3 $C/budget.py" \
    --agent "lease-check@1.0.0=python3 $C/lease_check.py" \
    --agent "chunked@1.0.0=python3 $C/chunked.py" \
    --agent "delegator@1.0.0=python3 $C/delegator.py" \
    --agent "failing@1.0.0=python3 $C/failing.py" \
    --agent "rotator@1.0.0=python3 $C/rotator.py" \
    --agent "versioned@1.0.0=python3 $C/versioned.py" \
    --agent "versioned@2.0.0=python3 $C/versioned.py" \
    --agent-default versioned@2.0.0 \
    ${extra[@]+"${extra[@]}"}
