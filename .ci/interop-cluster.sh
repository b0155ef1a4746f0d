#!/usr/bin/env bash
# Issue #19: the reference client's interop scenarios through HAProxy in front of three
# `arcp serve --postgres` nodes sharing one PostgreSQL schema. HAProxy balances round-robin,
# one node per new TCP connection, so every scenario's second connection (a resume, a
# subscriber, an observer) lands on another node than its first. Expects the same closing
# line as against one node.
#
# Needs ARCP_TEST_POSTGRES_URL (eval "$(bash .ci/postgres.sh start)") and ../shared/interop;
# installs HAProxy when missing (.ci/haproxy.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

: "${ARCP_TEST_POSTGRES_URL:?start PostgreSQL first: eval \"\$(bash .ci/postgres.sh start)\"}"
PEER_DIR=${ARCP_PEER_DIR:-../shared/interop}
export ARCP_PEER_VENV=${ARCP_PEER_VENV:-.peer-venv}
export ARCP_PEER_DIR=$PEER_DIR
PY=${ARCP_PEER_PYTHON:-$ARCP_PEER_VENV/bin/python}
bash "$PEER_DIR/setup.sh" >/dev/null
HAPROXY=$(bash .ci/haproxy.sh)
cargo build -q -p arcp-cli
ARCP=target/debug/arcp

work=$(mktemp -d /tmp/arcp-cluster-interop.XXXXXX)
schema="interop_cluster_$$"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# Three nodes on free ports, each with its id.
backends=()
for n in 1 2 3; do
    "$ARCP" serve --demo --port 0 --postgres "$ARCP_TEST_POSTGRES_URL" \
        --postgres-schema "$schema" --node-id "node-$n" >"$work/node-$n.out" 2>"$work/node-$n.err" &
    pids+=($!)
    url=""
    for _ in $(seq 1 100); do
        url=$(grep -oE 'ws://[^ ]+' "$work/node-$n.out" | head -n 1 || true)
        [ -n "$url" ] && break
        sleep 0.1
    done
    [ -n "$url" ] || { echo "node-$n did not start"; cat "$work/node-$n.err"; exit 1; }
    hostport=${url#ws://}
    backends+=("${hostport%%/*}")
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
    echo "global"
    echo "    maxconn 4096"
    echo "defaults"
    echo "    mode tcp"
    echo "    timeout connect 2s"
    echo "    timeout client 120s"
    echo "    timeout server 120s"
    echo "frontend arcp"
    echo "    bind 127.0.0.1:$port"
    echo "    default_backend nodes"
    echo "backend nodes"
    echo "    balance roundrobin"
    echo "    option httpchk GET /healthz"
    echo "    http-check expect status 200"
    n=0
    for b in "${backends[@]}"; do
        n=$((n + 1))
        echo "    server node-$n $b check inter 500ms fall 2 rise 1"
    done
} >"$work/haproxy.cfg"
"$HAPROXY" -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do
    (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
    sleep 0.1
done
sleep 1 # the first health checks

log="$work/peer.log"
"$PY" "$PEER_DIR/peer_client.py" --url "ws://127.0.0.1:$port/arcp" >"$log" 2>&1 || true
got=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
grep -E '^(FAIL|SKIP) ' "$log" || true
want="25 passed, 0 failed"
if [ "$got" = "$want" ]; then
    echo "interop reference client -> HAProxy -> 3 arcp serve --postgres nodes (ws): $got"
else
    echo "interop reference client -> HAProxy -> 3 nodes: got '${got:-no closing line}', expected '$want'"
    tail -n 30 "$log"
    for n in 1 2 3; do echo "--- node-$n stderr"; tail -n 20 "$work/node-$n.err"; done
    exit 1
fi
