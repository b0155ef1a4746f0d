#!/usr/bin/env bash
# Client-only builds pull no server-side dependency (issue #23 point 2): the facade with its
# default features, and each adapter with the features a client needs, must not have
# rusqlite (SQLite), jsonwebtoken or the RustCrypto JWT stack (rsa, p256, p384, ed25519-dalek,
# hmac), ureq (JWKS over HTTP) or clap (the CLI) among their normal dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

forbidden='^(rusqlite|libsqlite3-sys|jsonwebtoken|rsa|p256|p384|ed25519-dalek|hmac|ureq|clap|tracing-subscriber) '
failures=0
check() {
    local what=$1
    shift
    local hits
    hits=$(cargo tree -q -e normal --prefix none "$@" | sort -u | grep -E "$forbidden" || true)
    if [ -n "$hits" ]; then
        echo "client-deps $what: FORBIDDEN"
        echo "$hits" | sed 's/^/    /'
        failures=$((failures + 1))
    else
        echo "client-deps $what: ok ($(cargo tree -q -e normal --prefix none "$@" | sort -u | wc -l) crates)"
    fi
}

check "arcp-sdk (default features)" -p arcp-sdk
check "arcp-sdk --features futures,blocking" -p arcp-sdk --features futures,blocking
check "arcp-tokio (client)" -p arcp-tokio --no-default-features
check "arcp-futures (client)" -p arcp-futures --no-default-features
check "arcp-blocking (client)" -p arcp-blocking --no-default-features
check "arcp-client" -p arcp-client --features stdio,channel

# The check can fail: the runtime feature does pull them.
if cargo tree -q -e normal --prefix none -p arcp-sdk --features runtime | grep -qE '^rusqlite '; then
    echo "client-deps sanity: arcp-sdk --features runtime has rusqlite, as expected"
else
    echo "client-deps sanity: arcp-sdk --features runtime lacks rusqlite: the check is blind"
    failures=$((failures + 1))
fi
[ "$failures" -eq 0 ] || exit 1
