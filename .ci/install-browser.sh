#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/e2e); safe to run again.
# The tests drive this system browser through Playwright: no browser is ever downloaded by `playwright install`,
# and no WebDriver is needed.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(chromium --version 2>/dev/null || true)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Another apt/dpkg run (unattended upgrades, a parallel job) may hold the lock: wait up to 10 minutes for it
# instead of failing at once.
APT=(apt-get -o DPkg::Lock::Timeout=600)
$SUDO "${APT[@]}" update -q
$SUDO "${APT[@]}" install -y -q --no-install-recommends chromium fonts-liberation
chromium --version
