#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (test/browser) when it is not there yet.
# Playwright drives this binary; no test tool downloads a browser of its own.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "$CHROMIUM is missing and installing it needs root (apt-get install chromium)" >&2
    exit 1
  fi
fi

echo "installing Chromium (Debian's chromium package)"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y chromium

if [[ ! -x "$CHROMIUM" ]]; then
  echo "apt-get installed chromium, but $CHROMIUM is still missing" >&2
  exit 1
fi
"$CHROMIUM" --version
