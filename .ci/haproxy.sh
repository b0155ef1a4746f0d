#!/usr/bin/env bash
# HAProxy for the load-balancer test (cli/tests/haproxy_rig.rs): prints the path of the
# `haproxy` binary on stdout, installing it from the OS packages (apt-get) first when none is
# found and we are root. Everything else it says goes to stderr.
#
#   HAPROXY=$(bash .ci/haproxy.sh)   # then the test finds it on PATH or in $ARCP_TEST_HAPROXY
set -euo pipefail

find_haproxy() {
    command -v haproxy 2>/dev/null || { [ -x /usr/sbin/haproxy ] && echo /usr/sbin/haproxy; }
}

if ! found=$(find_haproxy); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "haproxy.sh: installing HAProxy from the OS packages" >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy) >&2
    fi
    found=$(find_haproxy) || { echo "haproxy.sh: no haproxy binary found (and cannot install it)" >&2; exit 1; }
fi
echo "haproxy.sh: $("$found" -v | head -n 1)" >&2
echo "$found"
