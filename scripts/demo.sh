#!/usr/bin/env bash
# The main job on the bundled example: set up, then run the pxebootd daemon on etc/example/ in a
# scratch copy. Three dnsmasq-style leases become three ready nodes (real overlay mounts, real
# exportfs, boot files in a TFTP root); then a fourth lease is added the way dnsmasq writes it
# (truncate + rewrite in place) and becomes ready within milliseconds. Everything is torn down
# at the end. As non-root it runs `run --dry-run` instead and only prints the plan.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/node-env.sh
ROOT=$PWD
PXE=(node "$ROOT/bin/pxebootd.js")
work=$(mktemp -d /tmp/pxebootd-demo.XXXXXX)
cp -a etc/example/. "$work/"
cfg=$work/pxebootd.yaml
exports_file=/etc/exports.d/pxebootd-example.exports
daemon=

cleanup() {
  set +e
  if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then kill -TERM "$daemon"; wait "$daemon"; fi
  if [ "$(id -u)" -eq 0 ]; then
    awk -v w="$work/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount "$m"; done
    rm -f "$exports_file" && exportfs -r
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== pxebootd check"
"${PXE[@]}" check -c "$cfg"

if [ "$(id -u)" -ne 0 ]; then
  echo "== not root: pxebootd run --dry-run (prints the plan, changes nothing)"
  timeout -s INT 3 "${PXE[@]}" run --dry-run -c "$cfg" || true
  exit 0
fi

echo "== pxebootd run (log: $work/daemon.log)"
"${PXE[@]}" run -c "$cfg" > "$work/daemon.log" 2>&1 &
daemon=$!

ready() { "${PXE[@]}" status --json -c "$cfg" 2>/dev/null | node -e '
  let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
    try { const j = JSON.parse(s); const n = Array.isArray(j) ? j : j.nodes;
          process.stdout.write(String(n.filter(x => x.state === "ready").length)); } catch { process.stdout.write("0"); } });'; }
wait_ready() {
  for _ in $(seq 1 200); do [ "$(ready)" -ge "$1" ] && return 0; sleep 0.05; done
  echo "demo: nodes did not become ready; daemon log:" >&2; tail -n 30 "$work/daemon.log" >&2; return 1
}
wait_ready 3

echo "== a new client: dnsmasq rewrites its lease file in place"
lease="$(( $(date +%s) + 3600 )) 52:54:00:77:00:04 10.77.0.14 node-d *"
t0=$(date +%s%N)
{ cat "$work/leases/dnsmasq.leases"; echo "$lease"; } > "$work/leases/new" && cat "$work/leases/new" > "$work/leases/dnsmasq.leases"
until [ -e "$work/run/tftp/pxelinux.cfg/01-52-54-00-77-00-04" ]; do sleep 0.002; done
echo "   boot file for 10.77.0.14 present $(( ($(date +%s%N) - t0) / 1000000 )) ms after the lease was written"
wait_ready 4

echo "== pxebootd status"
"${PXE[@]}" status -c "$cfg"
echo "== exports ($exports_file)"
grep -v '^#' "$exports_file"
echo "== /var/lib/nfs/etab (our lines)"
grep "$work/" /var/lib/nfs/etab | cut -c1-160
echo "== overlay mounts (nfs_export=on)"
grep "$work/" /proc/self/mountinfo | grep -o "$work/run/node/[^ ]* .*nfs_export=on" | awk '{print $1, "nfs_export=on"}'
echo "== TFTP root"
(cd "$work/run/tftp" && find . -mindepth 1 | sort | sed 's/^/   /')
echo "== pxelinux.cfg/01-52-54-00-77-00-04"
sed 's/^/   /' "$work/run/tftp/pxelinux.cfg/01-52-54-00-77-00-04"
echo "== stopping the daemon (SIGTERM) and tearing the example down"
