// Faults injected through the configurable command paths: `commands.mount` / `commands.exportfs`
// point at wrappers that fail while a flag file exists, then exec the real tool. The node must be
// retried with growing delays, shown as failed with the error in `status --json`, publish no boot
// file meanwhile (config last), and become ready once the flag is removed.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupAll, requireRoot, requireTool, waitFor, type Daemon } from '../../helpers/lab.ts';
import { bootFile, client, leaseLine, makeLab, rewriteInPlace, writeConfig, type BenchLab, type Lease } from '../../../bench/lib/lab.ts';
import { startPxebootd, statusJson } from '../../../bench/lib/daemon.ts';
import { checkConsistent, readEtab, readMounts, toStatusNodes } from './invariants.ts';

/** A wrapper that logs each call (ns timestamp + args) and fails while `flag` exists. */
function faultyWrapper(dir: string, tool: string, flag: string, calls: string): string {
  const p = path.join(dir, `faulty-${tool}`);
  writeFileSync(
    p,
    `#!/bin/sh\necho "$(date +%s%N) $*" >> ${calls}\nif [ -e ${flag} ]; then echo "pxg injected ${tool} fault" >&2; exit 32; fi\nexec ${requireTool(tool)} "$@"\n`,
  );
  chmodSync(p, 0o755);
  return p;
}

/** Times (ms since the epoch) of the daemon's "provision of NODE failed (attempt N)" log lines. */
function attemptTimes(logFile: string, node: string): number[] {
  const out: number[] = [];
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.startsWith('{') || !line.includes(`provision of ${node} failed (attempt`)) continue;
    out.push((JSON.parse(line) as { time: number }).time);
  }
  return out;
}

/** Call times (ms) of the wrapper whose argument list mentions `needle`. */
function callTimes(calls: string, needle: string): number[] {
  if (!existsSync(calls)) return [];
  return readFileSync(calls, 'utf8')
    .split('\n')
    .filter((l) => l.includes(needle))
    .map((l) => Number(l.split(' ')[0]) / 1e6);
}

describe('injected mount / exportfs faults', () => {
  let lab: BenchLab;
  let cfg: string;
  let d: Daemon;
  let logFile: string;
  const flags = { mount: '', exportfs: '' };
  const calls = { mount: '', exportfs: '' };
  const leases: Lease[] = [];
  const expiry = Math.floor(Date.now() / 1000) + 3600;

  before(async () => {
    requireRoot();
    lab = makeLab('faults');
    for (const t of ['mount', 'exportfs'] as const) {
      flags[t] = path.join(lab.dir, `fail-${t}`);
      calls[t] = path.join(lab.dir, `calls-${t}`);
    }
    cfg = writeConfig(lab, {
      mount: faultyWrapper(lab.dir, 'mount', flags.mount, calls.mount),
      exportfs: faultyWrapper(lab.dir, 'exportfs', flags.exportfs, calls.exportfs),
      retryBaseMs: 100,
      retryMaxMs: 1600,
    });
    logFile = path.join(lab.dir, 'pxebootd.log');
    d = await startPxebootd(cfg, lab.socket, logFile);
  });
  after(async () => {
    await d?.stop();
    await cleanupAll();
  });

  const node = (ip: string) => toStatusNodes(statusJson(cfg)).find((n) => n.ip === ip);

  // exportfs first: once one `exportfs -r` has verified the daemon's exports, a lone node's change is
  // an etab edit that runs no exportfs (provisioners/etab-apply.ts), so there would be nothing to fail
  for (const tool of ['exportfs', 'mount'] as const) {
    test(`${tool} fails: retried with backoff, failed in status, healed when fixed`, { timeout: 60_000 }, async () => {
      const c = client(99, leases.length + 1);
      leases.push(c);
      writeFileSync(flags[tool], '');
      const before = Date.now();
      rewriteInPlace(lab.leases, leases.map((l) => leaseLine(l, expiry)).join(''));

      const failed = await waitFor(`${c.ip} failed in status --json`, () => {
        const n = node(c.ip);
        return n && n.state === 'failed' && n.lastError ? n : undefined;
      }, 15_000, 100);
      assert.match(failed.lastError!, new RegExp(`injected ${tool} fault|${tool}`), 'lastError names the failing command or its stderr');
      // keep it failing long enough for several retries; each attempt really ran the failing tool
      await waitFor(`4 failed attempts of ${failed.name}`, () => attemptTimes(logFile, failed.name).length >= 4, 20_000, 100);
      const times = attemptTimes(logFile, failed.name);
      assert.ok(callTimes(calls[tool], tool === 'mount' ? failed.name : '-r').filter((t) => t >= before).length >= 4, `${tool} wrapper ran fewer than 4 times`);
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      assert.ok(gaps.length >= 3, `gaps ${gaps}`);
      // equal-jitter exponential backoff: the third gap is at least the base (100 ms) and larger than the first
      assert.ok(gaps[2]! >= 100 && gaps[2]! > gaps[0]!, `retry gaps do not grow: ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`);
      assert.equal(existsSync(bootFile(lab, c.mac)), false, 'boot file published while the node is failed');
      if (tool === 'exportfs') assert.equal(readEtab(lab.nodeDir).some((l) => l.ip === c.ip), false);

      rmSync(flags[tool]);
      await waitFor(`${c.ip} ready after the fault is removed`, () => node(c.ip)?.state === 'ready', 20_000, 100);
      await waitFor('boot file', () => existsSync(bootFile(lab, c.mac)), 5000);
      assert.ok(readMounts(lab.nodeDir).some((m) => m.mountPoint === path.join(lab.nodeDir, failed.name)));
      const problems = checkConsistent(lab, toStatusNodes(statusJson(cfg)));
      assert.deepEqual(problems, []);
    });
  }
});
