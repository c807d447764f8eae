#!/usr/bin/env bash
# Installs a Debian package when the program it brings is missing:
#   scripts/ops/ensure-debian-package.sh /usr/bin/chromium chromium   (the browser tests drive it)
#   scripts/ops/ensure-debian-package.sh wrk wrk                       (make bench's load generator)
# No test tool downloads a binary of its own.
set -euo pipefail

PROGRAM=${1:?usage: ensure-debian-package.sh PROGRAM PACKAGE}
PACKAGE=${2:?usage: ensure-debian-package.sh PROGRAM PACKAGE}

if command -v "$PROGRAM" >/dev/null 2>&1; then
  exit 0
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "$PROGRAM is missing and installing it needs root (apt-get install $PACKAGE)" >&2
    exit 1
  fi
fi

echo "installing $PROGRAM (Debian's $PACKAGE package)"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y "$PACKAGE"

if ! command -v "$PROGRAM" >/dev/null 2>&1; then
  echo "apt-get installed $PACKAGE, but $PROGRAM is still missing" >&2
  exit 1
fi
