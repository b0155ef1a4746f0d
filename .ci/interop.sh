#!/usr/bin/env bash
# The interop matrix (issue [interop]) plus the process-agent runs (issue #20), one at a
# time, each checked against its expected closing line. Needs ../shared/interop beside the
# clone.
set -euo pipefail
cd "$(dirname "$0")/.."

PEER_DIR=${ARCP_PEER_DIR:-../shared/interop}
export ARCP_PEER_VENV=${ARCP_PEER_VENV:-.peer-venv}
export ARCP_PEER_DIR=$PEER_DIR
export ARCP_PEER_PYTHON=${ARCP_PEER_PYTHON:-$ARCP_PEER_VENV/bin/python}

bash "$PEER_DIR/setup.sh" >/dev/null
cargo build -q -p arcp-cli
cargo build -q -p arcp-tokio --example interop
ARCP=target/debug/arcp
RUNNER=target/debug/examples/interop
failures=0

# expect NAME EXPECTED-LINE COMMAND...: runs COMMAND, prints its closing line, checks it.
expect() {
    local name=$1 want=$2
    shift 2
    local log
    log=$(mktemp)
    "$@" >"$log" 2>&1 || true
    local got
    got=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    grep -E '^(FAIL|SKIP) ' "$log" || true
    if [ "$got" = "$want" ]; then
        echo "interop $name: $got"
    else
        echo "interop $name: got '${got:-no closing line}', expected '$want'"
        tail -n 20 "$log"
        failures=$((failures + 1))
    fi
    rm -f "$log"
}

# Starts `arcp serve --port 0` (or COMMAND... --port 0) in the background and sets
# SERVE_PID and SERVE_URL.
start_serve() {
    local out
    out=$(mktemp)
    if [ $# -eq 0 ]; then set -- "$ARCP" serve; fi
    set -- "$@" --demo
    "$@" --port 0 >"$out" 2>&1 &
    SERVE_PID=$!
    for _ in $(seq 1 100); do
        SERVE_URL=$(grep -oE 'ws://[^ ]+' "$out" | head -n 1 || true)
        [ -n "$SERVE_URL" ] && break
        sleep 0.1
    done
    rm -f "$out"
    [ -n "$SERVE_URL" ] || { echo "$* did not print LISTENING"; exit 1; }
}

stop_serve() {
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
}

start_serve
expect "reference client -> arcp serve (ws)" "25 passed, 0 failed" \
    "$ARCP_PEER_PYTHON" "$PEER_DIR/peer_client.py" --url "$SERVE_URL"
stop_serve

expect "reference client -> arcp serve (stdio)" "20 passed, 0 failed" \
    "$ARCP_PEER_PYTHON" "$PEER_DIR/peer_client.py" --stdio "$ARCP serve --stdio --demo"

expect "rust runner -> peer_runtime.py (ws)" "24 passed, 0 failed" \
    "$RUNNER" --spawn-peer ws

expect "rust runner -> peer_runtime.py (stdio)" "20 passed, 0 failed" \
    "$RUNNER" --spawn-peer stdio

start_serve
expect "rust runner -> arcp serve (ws)" "25 passed, 0 failed" \
    "$RUNNER" --url "$SERVE_URL"
stop_serve

# Issue #20: the ten contract agents as Python process agents (agents/python/contract/),
# each replacing its built-in namesake: the same closing lines as the built-in agents.
start_serve .ci/serve-process-agents.sh
expect "reference client -> arcp serve, Python process agents (ws)" "25 passed, 0 failed" \
    "$ARCP_PEER_PYTHON" "$PEER_DIR/peer_client.py" --url "$SERVE_URL"
stop_serve

expect "reference client -> arcp serve, Python process agents (stdio)" "20 passed, 0 failed" \
    "$ARCP_PEER_PYTHON" "$PEER_DIR/peer_client.py" --stdio ".ci/serve-process-agents.sh --stdio"

# arcp-futures (issue 7): its serve example and its runner (the futures client).
FUTURES_SERVE=target/debug/examples/serve
FUTURES_RUNNER=target/debug/examples/interop
# Both adapters' examples share names in target/debug/examples (cargo's output filename
# collision): the futures ones are built only now, after every arcp-tokio run.
cargo build -q -p arcp-futures --example serve --example interop
start_serve "$FUTURES_SERVE"
expect "reference client -> arcp-futures serve (ws)" "25 passed, 0 failed" \
    "$ARCP_PEER_PYTHON" "$PEER_DIR/peer_client.py" --url "$SERVE_URL"
stop_serve

expect "arcp-futures runner -> peer_runtime.py (ws)" "24 passed, 0 failed" \
    "$FUTURES_RUNNER" --spawn-peer ws

# arcp-blocking (issue 7). Its examples share arcp-tokio's names, so building them replaces
# target/debug/examples/{serve,interop}: only after the runs above.
cargo build -q -p arcp-blocking --example serve --example interop
start_serve target/debug/examples/serve
expect "reference client -> arcp-blocking serve (ws)" "25 passed, 0 failed" \
    "$ARCP_PEER_PYTHON" "$PEER_DIR/peer_client.py" --url "$SERVE_URL"
stop_serve

expect "reference client -> arcp-blocking serve (stdio)" "20 passed, 0 failed" \
    "$ARCP_PEER_PYTHON" "$PEER_DIR/peer_client.py" --stdio "target/debug/examples/serve --stdio --demo"

expect "arcp-blocking runner -> peer_runtime.py (ws)" "24 passed, 0 failed" \
    target/debug/examples/interop --spawn-peer ws

if [ "$failures" -ne 0 ]; then
    echo "interop: $failures run(s) off their expected count"
    exit 1
fi
echo "interop: all runs as expected"
