#!/usr/bin/env bash
# The test command: set up (packages, Node 24, npm ci, build), then run every test — unit,
# integration against real daemons, and the QEMU end-to-end boot — with node:test's spec reporter.
# Needs root (mounts, exports, namespaces). Extra arguments go to `npm test` (none needed).
set -euo pipefail
cd "$(dirname "$0")/.."
# the tests exercise the mount(2) addon: a failed build of it is an error here, not a fallback
export PXEBOOTD_REQUIRE_NATIVE=1
bash scripts/setup.sh
source scripts/node-env.sh
npm test "$@"
