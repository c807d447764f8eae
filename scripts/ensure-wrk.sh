#!/usr/bin/env bash
# Installs wrk (Debian's package) for `make bench` when it is not there yet: a load generator in C,
# so the load does not compete with the servers for an event loop the way a Node client would.
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
  exit 0
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "wrk is missing and installing it needs root (apt-get install wrk)" >&2
    exit 1
  fi
fi

echo "installing wrk (Debian's wrk package)"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y wrk
wrk --version 2>&1 | head -1 || true
