#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, in a temporary directory, listening only on a
# Unix socket inside it (no TCP port to collide with), owned by an unprivileged user when run
# as root (the `postgres` user, created by the Debian package).
#
#   eval "$(bash .ci/postgres.sh start)"   # exports ARCP_TEST_POSTGRES_URL, ARCP_TEST_POSTGRES_DIR
#   bash .ci/postgres.sh stop "$ARCP_TEST_POSTGRES_DIR"
#
# Installs the server from the OS packages (apt-get) when no initdb is found and we are root.
# Everything it says goes to stderr; stdout carries only the `export` lines.
set -euo pipefail

find_bin() {
    local name=$1 found
    if found=$(command -v "$name" 2>/dev/null); then
        echo "$found"
        return 0
    fi
    found=$(ls -1d /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$found" ] && echo "$found"
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    if ! find_bin initdb >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "postgres.sh: installing PostgreSQL from the OS packages" >&2
            (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
        fi
    fi
    local initdb pg_ctl
    initdb=$(find_bin initdb) || { echo "postgres.sh: no initdb (PostgreSQL server binaries) found" >&2; exit 1; }
    pg_ctl=$(find_bin pg_ctl) || { echo "postgres.sh: no pg_ctl found" >&2; exit 1; }
    local dir
    dir=$(mktemp -d /tmp/arcp-pg.XXXXXX)
    chmod 755 "$dir"
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        chown postgres: "$dir"
    fi
    as_owner "$initdb" -D "$dir/data" -U arcp -A trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    # fsync off: a throwaway cluster, nothing to keep after a crash.
    as_owner "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-c listen_addresses='' -k $dir -p 5432 -c fsync=off -c max_connections=200" start >&2 \
        || { cat "$dir/server.log" >&2; exit 1; }
    local url="host=$dir port=5432 user=arcp dbname=arcp_test"
    as_owner "$(dirname "$pg_ctl")/createdb" -h "$dir" -p 5432 -U arcp arcp_test >&2 2>/dev/null \
        || as_owner psql -h "$dir" -p 5432 -U arcp -d postgres -qc 'CREATE DATABASE arcp_test' >&2
    echo "postgres.sh: cluster in $dir, URL: $url" >&2
    printf 'export ARCP_TEST_POSTGRES_DIR=%q\n' "$dir"
    printf 'export ARCP_TEST_POSTGRES_URL=%q\n' "$url"
}

stop() {
    local dir=${1:-${ARCP_TEST_POSTGRES_DIR:-}}
    [ -n "$dir" ] && [ -d "$dir/data" ] || { echo "postgres.sh: no cluster directory given" >&2; exit 1; }
    local pg_ctl
    pg_ctl=$(find_bin pg_ctl)
    as_owner "$pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
*)
    echo "usage: $0 start | stop DIR" >&2
    exit 2
    ;;
esac
