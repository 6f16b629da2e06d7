#!/usr/bin/env bash
# One-time set-up of a checkout for development and the tests: the test lab's Debian packages (as
# root; scripts/install-deps.sh leaves none of their services enabled), Node >= 22.22 (Node 24 from
# the npm registry when the machine's Node is older), npm ci, and a build of dist/. Not a way to
# install pxebootd as a service: that is the .deb (`npm run package`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then bash scripts/install-deps.sh; else echo "setup: not root; skipping Debian packages" >&2; fi
source scripts/node-env.sh
echo "setup: node $(node --version) at $(command -v node)"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
