// Scale: resident memory of `pxebootd run --dry-run` holding 10,000 nodes (a 10,000-lease dnsmasq
// file in a matched subnet: watcher tracker, queue, in-memory state with timelines, all nodes
// "ready" through the dry-run path, which plans but mounts and exports nothing). Baseline: the RSS
// of an idle node process started the same way; pxebootd with no nodes is reported as a note.
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

/** RSS of pxebootd --dry-run: with no nodes, and after N nodes are ready; `nodeArgs` go to node. */
async function measureDaemon(nodeArgs: string[], log: (s: string) => void): Promise<{ empty: number; full: number; hwm: number }> {
  const lab = makeLab('rss');
  const cfg = writeConfig(lab);
  const d = await startPxebootd(cfg, lab.socket, path.join(lab.dir, 'pxebootd.log'), ['--dry-run'], nodeArgs);
  try {
    await sleep(1000);
    const empty = rssBytes(d.pid);
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    let text = '';
    for (let i = 1; i <= N; i++) text += leaseLine(client(99, i), expiry);
    const t0 = performance.now();
    rewriteInPlace(lab.leases, text);
    await waitFor(`${N} nodes ready (dry run)`, () => statusJson(cfg).filter((n) => n.state === 'ready').length === N, 180_000, 1000);
    log(`  ${nodeArgs.join(' ') || '(default node flags)'}: ${N} nodes ready (dry run) after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await sleep(2000);
    return { empty, full: rssBytes(d.pid), hwm: hwmBytes(d.pid) };
  } finally {
    await d.stop();
  }
}

export async function benchRss(log: (s: string) => void): Promise<{ figures: Figure[]; raw: unknown }> {
  const idle = await idleNodeRss();
  const def = await measureDaemon([], log);
  // evidence for the fix proposed in docs/performance.md: a smaller young generation
  const small = await measureDaemon(['--max-semi-space-size=4'], log);
  const mb = (b: number) => `${(b / MB).toFixed(1)} MB`;
  log(`  idle node ${mb(idle)}; pxebootd 0 nodes ${mb(def.empty)}; ${N} nodes ${mb(def.full)} (peak ${mb(def.hwm)}); with --max-semi-space-size=4: ${mb(small.full)} (peak ${mb(small.hwm)})`);
  return {
    figures: [
      figure({ bench: 'scale', metric: `RSS at ${N} nodes (dry run)`, unit: 'MB', value: def.full / MB, baseline: { what: 'idle node process', value: idle / MB }, op: '<=', limit: 150 }),
      figure({ bench: 'scale', metric: `peak RSS (VmHWM) at ${N} nodes`, unit: 'MB', value: def.hwm / MB, baseline: { what: 'pxebootd with 0 nodes', value: def.empty / MB }, op: '<=', limit: 150 }),
      figure({ bench: 'scale', metric: `RSS at ${N} nodes, --max-semi-space-size=4`, unit: 'MB', value: small.full / MB, baseline: { what: 'idle node process', value: idle / MB }, op: '<=', limit: 150, notes: 'experiment: same daemon, smaller V8 young generation' }),
    ],
    raw: { idleBytes: idle, default: def, semiSpace4: small },
  };
}
