#!/usr/bin/env bash
# Side by side: the Python reference runtime (A) and the Rust runtime (B) under the same load
# client, in one run. See benches/README.md.
#
#   A = benches/reference/firehose_runtime.py: the interop harness's peer_runtime.py (the
#       reference package agentruntimecontrolprotocol 1.1.3) plus a `firehose` agent;
#   B = `arcp bench --serve-only --workers W`: arcp serve's defaults (demo tokens, contract
#       agents) plus the Rust `firehose` agent, on W tokio worker threads (default 1: one
#       event-loop thread, as the reference's asyncio loop has).
#
# Both serve on loopback for the whole comparison. Each round measures A and B once (rounds
# alternate the order: A B, B A, A B, ...) with
#   arcp bench --url URL --events E --runs 1 --submits S --idle-sessions 0 --sessions 0 --no-db
#              --client-spin-us C
# (one fresh-session job of E `firehose` events, then S sequential `echo` submits on one
# session, the client polling for each reply for up to C µs before it sleeps, which leaves
# the client's own thread wake-up out of both runtimes' figures). Printed: each round's
# figures, the medians over the rounds, and B/A.
#
# Usage: benches/side_by_side.sh [--rounds N] [--events E] [--submits S] [--workers W]
#                                [--client-spin-us C] [--build]
#   --workers W          B's tokio worker threads (default 1)
#   --client-spin-us C   the load client's reply polling (default 2000, well above either
#                        runtime's p99 here; 0: the client sleeps at once)
#   --build              run `cargo build --release -p arcp-cli` first (otherwise nothing is
#                        built)
# Environment:
#   ARCP            the arcp binary (default: target/release/arcp of this repository)
#   ARCP_PEER_VENV  the reference's virtualenv, made by ../shared/interop/setup.sh
#                   (default: .peer-venv of this repository, setup.sh's default when run here)
#   ARCP_PEER_DIR   the directory holding peer_runtime.py (default: ../shared/interop)
#   ARCP_TOKEN      the bearer token both runtimes accept (default: alice-token)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS=3
EVENTS=120000
SUBMITS=2000
WORKERS=1
CLIENT_SPIN_US=2000
BUILD=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --events) EVENTS="$2"; shift 2 ;;
    --submits) SUBMITS="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --client-spin-us) CLIENT_SPIN_US="$2"; shift 2 ;;
    --build) BUILD=1; shift ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "side_by_side.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "side_by_side.sh: error: $*" >&2; exit 1; }

ARCP="${ARCP:-$REPO/target/release/arcp}"
VENV="${ARCP_PEER_VENV:-$REPO/.peer-venv}"
export ARCP_PEER_DIR="${ARCP_PEER_DIR:-$REPO/../shared/interop}"
TOKEN="${ARCP_TOKEN:-alice-token}"
PY="$VENV/bin/python"

[ -x "$PY" ] || die "no reference virtualenv at $VENV (no $PY).
  Create it with:  ARCP_PEER_VENV=$VENV bash $ARCP_PEER_DIR/setup.sh
  or point ARCP_PEER_VENV at an existing one."
"$PY" -c 'import importlib.metadata as m; assert m.version("agentruntimecontrolprotocol") == "1.1.3"' \
  2>/dev/null || die "$VENV has no agentruntimecontrolprotocol 1.1.3; rerun setup.sh on it"
[ -f "$ARCP_PEER_DIR/peer_runtime.py" ] || die "no peer_runtime.py in $ARCP_PEER_DIR (set ARCP_PEER_DIR)"
if [ "$BUILD" = 1 ]; then
  (cd "$REPO" && cargo build --release -p arcp-cli)
fi
[ -x "$ARCP" ] || die "no arcp binary at $ARCP: build it (cargo build --release -p arcp-cli, or --build) or set ARCP"

TMP="$(mktemp -d)"
A_PID=""
B_PID=""
cleanup() {
  exec 3>&- 2>/dev/null || true          # B's stdin: closing it stops B
  [ -n "$A_PID" ] && kill "$A_PID" 2>/dev/null || true
  [ -n "$B_PID" ] && { sleep 1; kill "$B_PID" 2>/dev/null || true; }
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# The URL a server printed as `LISTENING ws://…` on its stdout file (15 s bound).
listening() {
  local out="$1" pid="$2" name="$3" i
  for i in $(seq 150); do
    if grep -q '^LISTENING ' "$out" 2>/dev/null; then
      sed -n 's/^LISTENING //p' "$out" | head -1
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$TMP/$name.err" >&2; die "$name exited before listening"; }
    sleep 0.1
  done
  die "$name did not print LISTENING within 15 s"
}

"$PY" "$REPO/benches/reference/firehose_runtime.py" --port 0 >"$TMP/A.out" 2>"$TMP/A.err" &
A_PID=$!
mkfifo "$TMP/B.in"
"$ARCP" bench --serve-only --port 0 --workers "$WORKERS" <"$TMP/B.in" >"$TMP/B.out" 2>"$TMP/B.err" &
B_PID=$!
exec 3>"$TMP/B.in"
A_URL="$(listening "$TMP/A.out" "$A_PID" A)"
B_URL="$(listening "$TMP/B.out" "$B_PID" B)"

echo "# side by side: rounds $ROUNDS, events $EVENTS, submits $SUBMITS, B workers $WORKERS, client spin $CLIENT_SPIN_US us"
echo "# A (Python reference $("$PY" -c 'import importlib.metadata as m; print(m.version("agentruntimecontrolprotocol"))')): $A_URL"
echo "# B (arcp $("$ARCP" --version 2>/dev/null | awk '{print $NF}'), $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')): $B_URL"
echo "# uptime before: $(uptime)"

# One measurement of runtime $1 (A or B) at $2: appends `stream p50 p99` to $TMP/$1.rows.
measure() {
  local who="$1" url="$2" out="$TMP/$1.bench"
  if ! timeout 900 "$ARCP" bench --url "$url" --token "$TOKEN" --events "$EVENTS" --runs 1 \
      --submits "$SUBMITS" --idle-sessions 0 --sessions 0 --no-db \
      --client-spin-us "$CLIENT_SPIN_US" >"$out" 2>"$TMP/$who.bench.err"; then
    cat "$out" "$TMP/$who.bench.err" >&2
    die "arcp bench against $who ($url) failed"
  fi
  fig() { awk -v k="$1" '$1 == k { print $2 }' "$out"; }
  [ "$(fig events_received)" = "$EVENTS" ] || die "$who: events_received $(fig events_received), not $EVENTS"
  [ "$(fig accept_results_received)" = "$SUBMITS" ] || die "$who: accept_results_received $(fig accept_results_received), not $SUBMITS"
  local row
  row="$(fig events_per_sec_one_job) $(fig accept_us_p50) $(fig accept_us_p99)"
  echo "$row" >>"$TMP/$who.rows"
  echo "round $round $who events_per_sec $(fig events_per_sec_one_job) accept_us_p50 $(fig accept_us_p50) accept_us_p99 $(fig accept_us_p99)"
}

for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then
    measure A "$A_URL"; measure B "$B_URL"
  else
    measure B "$B_URL"; measure A "$A_URL"
  fi
done

# The median of column $2 of file $1 (the lower middle of an even count).
median() { awk -v c="$2" '{ print $c }' "$1" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v b="$1" -v a="$2" 'BEGIN { if (a > 0) printf "%.2f\n", b / a; else print "n/a" }'; }

A_S="$(median "$TMP/A.rows" 1)"; B_S="$(median "$TMP/B.rows" 1)"
A_P50="$(median "$TMP/A.rows" 2)"; B_P50="$(median "$TMP/B.rows" 2)"
A_P99="$(median "$TMP/A.rows" 3)"; B_P99="$(median "$TMP/B.rows" 3)"
echo "median A events_per_sec $A_S accept_us_p50 $A_P50 accept_us_p99 $A_P99"
echo "median B events_per_sec $B_S accept_us_p50 $B_P50 accept_us_p99 $B_P99"
echo "ratio_b_over_a events_per_sec $(ratio "$B_S" "$A_S") accept_us_p50 $(ratio "$B_P50" "$A_P50") accept_us_p99 $(ratio "$B_P99" "$A_P99")"
echo "# targets (issue #22): events_per_sec B/A >= 16, accept_us_p50 B/A <= 0.25"
echo "# uptime after: $(uptime)"
