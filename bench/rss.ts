// Scale: resident memory of `pxebootd run --dry-run` holding 10,000 nodes (a 10,000-lease dnsmasq
// file in a matched subnet: watcher tracker, queue, in-memory state with timelines, all nodes
// "ready" through the dry-run path, which plans but mounts and exports nothing). Baseline: the RSS
// of an idle node process started the same way; pxebootd with no nodes is the peak's baseline.
// The peak depends on when V8 collects, so the burst is run twice at the bench's usual log level
// (warn) and the worse figures are reported; a third run at the product's default level (info: a
// "ready" line and, in a dry run, a plan line per node) is shown beside them. A last run does it for
// real: 10,000 overlay mounts, an exports file of 10,000 lines with real `exportfs -r` runs, 10,000
// boot files and state.json, which the dry run never writes.
import { spawn } from 'node:child_process';
import { copyFileSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from '../test/helpers/lab.ts';
import { client, leaseLine, makeLab, mountsUnder, rewriteInPlace, writeConfig } from './lib/lab.ts';
import { loadSysMount } from '../provisioners/mounter.ts';
import { rssBytes, startPxebootd, statusJson } from './lib/daemon.ts';
import { figure, type Figure } from './lib/report.ts';

const N = 10_000;
const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function hwmBytes(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

async function idleNodeRss(): Promise<number> {
  const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'], { stdio: 'ignore' });
  try {
    await sleep(800);
    return rssBytes(p.pid!);
  } finally {
    p.kill('SIGKILL');
  }
}

/** Detach every overlay under `dir` with umount2(MNT_DETACH) through the addon: 10,000 umount(8) processes take a minute. */
async function detachAll(dir: string): Promise<void> {
  const sys = loadSysMount();
  if (!('mod' in sys)) throw new Error(sys.why);
  const MNT_DETACH = 2;
  for (const m of mountsUnder(dir)) await sys.mod.umount(m, MNT_DETACH);
}

/** RSS of pxebootd (--dry-run unless `real`): with no nodes, and after N nodes are ready; `logLevel` is the daemon's. */
export async function measureDaemon(logLevel: string, log: (s: string) => void, real = false, pollStatus = true): Promise<{ empty: number; full: number; hwm: number; seconds: number }> {
  const lab = makeLab(real ? 'rss-real' : 'rss');
  const cfg = writeConfig(lab);
  // BENCH_DAEMON_NODE_ARGS="--trace-gc" (or --heap-prof ...) is passed to the daemon; BENCH_KEEP_LOG=DIR keeps its logs
  const nodeArgs = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd.log'), real ? [] : ['--dry-run'], nodeArgs, logLevel);
  try {
    await sleep(1000);
    const empty = rssBytes(d.pid);
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    let text = '';
    for (let i = 1; i <= N; i++) text += leaseLine(client(99, i), expiry);
    const t0 = performance.now();
    rewriteInPlace(lab.leases, text);
    const how = real ? 'real mounts and exports' : 'dry run';
    const allReady = () => statusJson(cfg).filter((n) => n.state === 'ready').length === N;
    if (pollStatus) {
      // as an operator watching `status --watch`: the whole 10,000-node status once a second
      await waitFor(`${N} nodes ready (${how})`, allReady, 300_000, 1000);
    } else {
      // the nodes' own boot files (written last, once a node is ready), then one status call
      const cfgDir = path.join(lab.tftpRoot, 'pxelinux.cfg');
      await waitFor(`${N} boot files (${how})`, () => readdirSync(cfgDir).filter((f) => f.startsWith('01-')).length === N, 300_000, 250);
      await waitFor(`${N} nodes ready (${how})`, allReady, 10_000, 250);
    }
    const seconds = (performance.now() - t0) / 1000;
    if (real && mountsUnder(lab.nodeDir).length !== N) throw new Error(`expected ${N} overlay mounts, found ${mountsUnder(lab.nodeDir).length}`);
    log(`  log level ${logLevel}, ${how}: ${N} nodes ready after ${seconds.toFixed(1)} s (${pollStatus ? 'status polled every 1 s' : 'boot files watched, one status call at the end'})`);
    await sleep(2000);
    return { empty, full: rssBytes(d.pid), hwm: hwmBytes(d.pid), seconds };
  } finally {
    await d.stop();
    if (process.env.BENCH_KEEP_LOG) copyFileSync(path.join(lab.dir, 'pxebootd.log'), path.join(process.env.BENCH_KEEP_LOG, `rss-${real ? 'real' : 'dry'}-${pollStatus ? 'polled' : 'quiet'}-${logLevel}-${process.pid}-${Date.now()}.log`));
    if (real) await detachAll(lab.nodeDir);
  }
}

export async function benchRss(log: (s: string) => void): Promise<{ figures: Figure[]; raw: unknown }> {
  const idle = await idleNodeRss();
  const runs = [await measureDaemon('warn', log), await measureDaemon('warn', log)];
  const info = await measureDaemon('info', log);
  const real = await measureDaemon('info', log, true);
  const realQuiet = await measureDaemon('info', log, true, false);
  const worst = { empty: Math.max(...runs.map((r) => r.empty)), full: Math.max(...runs.map((r) => r.full)), hwm: Math.max(...runs.map((r) => r.hwm)) };
  const mb = (b: number) => `${(b / MB).toFixed(1)} MB`;
  log(`  idle node ${mb(idle)}; pxebootd 0 nodes ${runs.map((r) => mb(r.empty)).join(', ')}; ${N} nodes ${runs.map((r) => mb(r.full)).join(', ')} (peak ${runs.map((r) => mb(r.hwm)).join(', ')}); log level info: ${mb(info.full)} (peak ${mb(info.hwm)}); real, info: ${mb(real.full)} (peak ${mb(real.hwm)}); real, no status polling: ${mb(realQuiet.full)} (peak ${mb(realQuiet.hwm)})`);
  return {
    figures: [
      figure({ bench: 'scale', metric: `RSS at ${N} nodes (dry run), worse of 2`, unit: 'MB', value: worst.full / MB, baseline: { what: 'idle node process', value: idle / MB }, op: '<=', limit: 150 }),
      figure({ bench: 'scale', metric: `peak RSS (VmHWM) at ${N} nodes, worse of 2`, unit: 'MB', value: worst.hwm / MB, baseline: { what: 'pxebootd with 0 nodes', value: worst.empty / MB }, op: '<=', limit: 150 }),
      figure({ bench: 'scale', metric: `peak RSS (VmHWM) at ${N} nodes, log level info`, unit: 'MB', value: info.hwm / MB, baseline: { what: 'pxebootd with 0 nodes', value: info.empty / MB }, op: '<=', limit: 150, notes: 'same burst with a log line (and a plan line) per node' }),
      figure({ bench: 'scale', metric: `RSS at ${N} nodes, real mounts + exports`, unit: 'MB', value: real.full / MB, baseline: { what: 'idle node process', value: idle / MB }, op: '<=', limit: 150 }),
      figure({ bench: 'scale', metric: `peak RSS (VmHWM) at ${N} nodes, real mounts + exports`, unit: 'MB', value: real.hwm / MB, baseline: { what: 'pxebootd with 0 nodes', value: real.empty / MB }, op: '<=', limit: 150, notes: `all ${N} ready in ${real.seconds.toFixed(1)} s; status --json of all nodes polled every second` }),
      figure({ bench: 'scale', metric: `peak RSS (VmHWM) at ${N} nodes, real, no status polling`, unit: 'MB', value: realQuiet.hwm / MB, baseline: { what: 'pxebootd with 0 nodes', value: realQuiet.empty / MB }, op: '<=', limit: 150, notes: `all ${N} ready in ${realQuiet.seconds.toFixed(1)} s; boot files watched, one status call at the end` }),
    ],
    raw: { idleBytes: idle, runs, info, real, realQuiet },
  };
}
