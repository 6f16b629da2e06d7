// Scale: resident memory of `pxebootd run --dry-run` holding 10,000 nodes (a 10,000-lease dnsmasq
// file in a matched subnet: watcher tracker, queue, in-memory state with timelines, all nodes
// "ready" through the dry-run path, which plans but mounts and exports nothing). Baseline: the RSS
// of an idle node process started the same way; pxebootd with no nodes is the peak's baseline.
// The peak depends on when V8 collects, so the burst is run twice at the bench's usual log level
// (warn) and the worse figures are reported; a third run at the product's default level (info: a
// "ready" line and, in a dry run, a plan line per node) is shown beside them.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from '../test/helpers/lab.ts';
import { client, leaseLine, makeLab, rewriteInPlace, writeConfig } from './lib/lab.ts';
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

/** RSS of pxebootd --dry-run: with no nodes, and after N nodes are ready; `logLevel` is the daemon's. */
async function measureDaemon(logLevel: string, log: (s: string) => void): Promise<{ empty: number; full: number; hwm: number; seconds: number }> {
  const lab = makeLab('rss');
  const cfg = writeConfig(lab);
  const d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd.log'), ['--dry-run'], [], logLevel);
  try {
    await sleep(1000);
    const empty = rssBytes(d.pid);
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    let text = '';
    for (let i = 1; i <= N; i++) text += leaseLine(client(99, i), expiry);
    const t0 = performance.now();
    rewriteInPlace(lab.leases, text);
    await waitFor(`${N} nodes ready (dry run)`, () => statusJson(cfg).filter((n) => n.state === 'ready').length === N, 180_000, 1000);
    const seconds = (performance.now() - t0) / 1000;
    log(`  log level ${logLevel}: ${N} nodes ready (dry run) after ${seconds.toFixed(1)} s (status polled every 1 s)`);
    await sleep(2000);
    return { empty, full: rssBytes(d.pid), hwm: hwmBytes(d.pid), seconds };
  } finally {
    await d.stop();
  }
}

export async function benchRss(log: (s: string) => void): Promise<{ figures: Figure[]; raw: unknown }> {
  const idle = await idleNodeRss();
  const runs = [await measureDaemon('warn', log), await measureDaemon('warn', log)];
  const info = await measureDaemon('info', log);
  const worst = { empty: Math.max(...runs.map((r) => r.empty)), full: Math.max(...runs.map((r) => r.full)), hwm: Math.max(...runs.map((r) => r.hwm)) };
  const mb = (b: number) => `${(b / MB).toFixed(1)} MB`;
  log(`  idle node ${mb(idle)}; pxebootd 0 nodes ${runs.map((r) => mb(r.empty)).join(', ')}; ${N} nodes ${runs.map((r) => mb(r.full)).join(', ')} (peak ${runs.map((r) => mb(r.hwm)).join(', ')}); log level info: ${mb(info.full)} (peak ${mb(info.hwm)})`);
  return {
    figures: [
      figure({ bench: 'scale', metric: `RSS at ${N} nodes (dry run), worse of 2`, unit: 'MB', value: worst.full / MB, baseline: { what: 'idle node process', value: idle / MB }, op: '<=', limit: 150 }),
      figure({ bench: 'scale', metric: `peak RSS (VmHWM) at ${N} nodes, worse of 2`, unit: 'MB', value: worst.hwm / MB, baseline: { what: 'pxebootd with 0 nodes', value: worst.empty / MB }, op: '<=', limit: 150 }),
      figure({ bench: 'scale', metric: `peak RSS (VmHWM) at ${N} nodes, log level info`, unit: 'MB', value: info.hwm / MB, baseline: { what: 'pxebootd with 0 nodes', value: info.empty / MB }, op: '<=', limit: 150, notes: 'same burst with a log line (and a plan line) per node' }),
    ],
    raw: { idleBytes: idle, runs, info },
  };
}
