#!/usr/bin/env bash
# One-time set-up of a checkout: Debian packages (as root), Node >= 22.22 (Node 24 from the npm
# registry when the machine's Node is older), npm ci, and a build of dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then bash scripts/install-deps.sh; else echo "setup: not root; skipping Debian packages" >&2; fi
source scripts/node-env.sh
echo "setup: node $(node --version) at $(command -v node)"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
