#!/usr/bin/env bash
# Installs headless Chromium and its WebDriver (chromium, chromium-driver) from the OS packages
# when they are missing, for the dashboard browser test (cli/tests/dashboard_browser.rs).
# Debian/Ubuntu (apt-get) only; run as root or with passwordless sudo. Prints what it does;
# exits 0 when both `chromium` (or `chromium-browser`) and `chromedriver` are on PATH after it,
# non-zero when they could not be installed.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
browser() { have chromium || have chromium-browser; }

if browser && have chromedriver; then
    echo "chromium and chromedriver already installed"
    exit 0
fi
if ! have apt-get; then
    echo "cannot install chromium: no apt-get on this system" >&2
    exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if have sudo && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        echo "cannot install chromium: not root and no passwordless sudo" >&2
        exit 1
    fi
fi
echo "installing chromium and chromium-driver with apt-get"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver
if browser && have chromedriver; then
    echo "installed: $(chromedriver --version)"
    exit 0
fi
echo "chromium or chromedriver still missing after apt-get install" >&2
exit 1
