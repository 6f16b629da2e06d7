// Boot storm: 1,000 new clients within one second (10 in-place rewrites of the lease file, 100 ms
// apart, 100 new clients each) until every boot file is present. Counts exportfs runs through a
// wrapper (commands.exportfs). Baseline: a bare loop of the same 1,000 overlay `mount` calls, spawned
// from Node with child_process (as the daemon spawns them), serially and 16 in flight (the
// provisioner's cap on concurrent mount processes); the faster one is the baseline. For context, the
// same 1,000 mounts as bare mount(2) calls through pxebootd's addon (what the daemon itself does when
// mount_method resolves to syscall): the kernel's own cost, with no process per mount.
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { bootFile, client, leaseLine, makeLab, mountsUnder, rewriteInPlace, unmountAll, watchArrivals, writeConfig } from './lib/lab.ts';
import { readDaemonTimings, startPxebootd } from './lib/daemon.ts';
import { figure, median, type Figure } from './lib/report.ts';
import { loadSysMount } from '../provisioners/mounter.ts';

const run = promisify(execFile);
const N = 1000;
const WAVES = 10;
/** the bare loop's spawns in flight: the provisioner's own cap on concurrent mount processes */
const CONCURRENCY = 16;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A wrapper that logs each call to `countFile`, then execs the real tool. */
export function countingWrapper(dir: string, tool: string, countFile: string): string {
  const p = path.join(dir, `count-${tool}.sh`);
  writeFileSync(p, `#!/bin/sh\necho "$*" >> ${countFile}\nexec ${tool} "$@"\n`);
  chmodSync(p, 0o755);
  return p;
}

/** Mount n overlays (names `${prefix}${i}`) with `concurrency` in flight, each by `mountOne`; returns ms. */
async function bareLoop(lab: ReturnType<typeof makeLab>, n: number, concurrency: number, prefix: string, mountOne: (target: string, options: string) => Promise<unknown>): Promise<number> {
  const names = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  for (const x of names) {
    for (const sub of ['upper', 'work']) mkdirSync(path.join(lab.overlayDir, x, sub), { recursive: true });
    mkdirSync(path.join(lab.nodeDir, x), { recursive: true });
  }
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < names.length) {
        const x = names[next++]!;
        const o = path.join(lab.overlayDir, x);
        await mountOne(path.join(lab.nodeDir, x), `lowerdir=${lab.lower},upperdir=${o}/upper,workdir=${o}/work,index=on,nfs_export=on`);
      }
    }),
  );
  const ms = performance.now() - t0;
  const mounted = mountsUnder(lab.nodeDir).length;
  if (mounted !== n) throw new Error(`bare loop: expected ${n} mounts under ${lab.nodeDir}, found ${mounted}`);
  unmountAll(lab.nodeDir);
  return ms;
}

/** The bare loop of mount(8) processes, spawned from Node as the daemon spawned them. */
function bareMounts(lab: ReturnType<typeof makeLab>, n: number, concurrency: number, prefix: string): Promise<number> {
  return bareLoop(lab, n, concurrency, prefix, (target, options) => run('mount', ['-t', 'overlay', 'overlay', '-o', options, target]));
}

/** The same mounts as mount(2) calls through the addon. */
function bareSyscallMounts(lab: ReturnType<typeof makeLab>, n: number, concurrency: number): Promise<number> {
  const sys = loadSysMount();
  if (!('mod' in sys)) throw new Error(sys.why);
  return bareLoop(lab, n, concurrency, 's', (target, options) => sys.mod.mount('overlay', target, 'overlay', 0, options));
}

export async function benchBootStorm(log: (s: string) => void): Promise<{ figures: Figure[]; raw: unknown }> {
  const bare = makeLab('bare');
  // each loop gets fresh layers: reusing an upper right after its umount fails with EBUSY whenever
  // some other process's private mount namespace still holds a copy of that overlay
  const bareSerial = await bareMounts(bare, N, 1, 'm');
  log(`  bare loop, serial: ${bareSerial.toFixed(0)} ms for ${N} mounts`);
  const bareConc = await bareMounts(bare, N, CONCURRENCY, 'c');
  log(`  bare loop, ${CONCURRENCY} in flight: ${bareConc.toFixed(0)} ms for ${N} mounts`);
  const bareSys = await bareSyscallMounts(makeLab('bare-sys'), N, CONCURRENCY);
  log(`  bare mount(2) loop, ${CONCURRENCY} in flight: ${bareSys.toFixed(0)} ms for ${N} mounts`);

  const lab = makeLab('storm');
  const countFile = path.join(lab.dir, 'exportfs.calls');
  // the daemon runs with the config default for queue.concurrency; BENCH_QUEUE_CONCURRENCY overrides it
  const queueConcurrency = process.env.BENCH_QUEUE_CONCURRENCY ? Number(process.env.BENCH_QUEUE_CONCURRENCY) : undefined;
  if (queueConcurrency) log(`  daemon queue.concurrency = ${queueConcurrency}`);
  const cfg = writeConfig(lab, { exportfs: countingWrapper(lab.dir, 'exportfs', countFile), concurrency: queueConcurrency });
  const logFile = path.join(lab.dir, 'pxebootd.log');
  const nodeArgs = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const d = await startPxebootd(cfg, lab.socket, logFile, [], nodeArgs, 'debug');
  const callsAtStart = existsSync(countFile) ? readFileSync(countFile, 'utf8').split('\n').filter(Boolean).length : 0;
  const arrivals = watchArrivals(path.join(lab.tftpRoot, 'pxelinux.cfg'));
  const expiry = Math.floor(Date.now() / 1000) + 3600;
  let table = '';
  for (let i = 0; i < 2000; i++) table += leaseLine(client(98, i), expiry); // some unrelated leases
  rewriteInPlace(lab.leases, table);
  await sleep(500);
  let total: number;
  const per = N / WAVES;
  try {
    const t0 = performance.now();
    for (let w = 0; w < WAVES; w++) {
      for (let i = 0; i < per; i++) table += leaseLine(client(99, w * per + i + 1), expiry);
      rewriteInPlace(lab.leases, table);
      if (w < WAVES - 1) await sleep(100 - ((performance.now() - t0) % 100));
    }
    const ends = await Promise.all(Array.from({ length: N }, (_, i) => arrivals.when(path.basename(bootFile(lab, client(99, i + 1).mac)), 60_000)));
    total = Math.max(...ends) - t0;
  } finally {
    arrivals.close();
  }
  await sleep(300);
  const calls = readFileSync(countFile, 'utf8').split('\n').filter(Boolean).length - callsAtStart;
  const mounted = mountsUnder(lab.nodeDir).length;
  await d.stop();
  unmountAll(lab.nodeDir);
  if (process.env.BENCH_KEEP_LOG) copyFileSync(logFile, process.env.BENCH_KEEP_LOG);
  const t = readDaemonTimings(logFile);
  const sum = (xs: number[] = []) => xs.reduce((a, b) => a + b, 0);
  log(`  inside the daemon: mount runs ${t.byTool.mount?.length ?? 0} (median ${median(t.byTool.mount ?? []).toFixed(1)} ms, sum ${sum(t.byTool.mount).toFixed(0)} ms); exportfs runs ${(t.byTool['count-exportfs.sh'] ?? t.byTool.exportfs ?? []).length} (sum ${sum(t.byTool['count-exportfs.sh'] ?? t.byTool.exportfs).toFixed(0)} ms); seen-to-ready median ${median(t.readyMs).toFixed(0)} ms, max ${Math.max(...t.readyMs)} ms`);
  log(`  pxebootd: all ${N} ready in ${total.toFixed(0)} ms; exportfs runs: ${calls}; mounts: ${mounted}`);
  if (mounted !== N) log(`  WARNING: expected ${N} overlay mounts, found ${mounted}`);

  // the baseline is the faster bare loop: on 2 cores, 16 concurrent mount(8)s can be slower than serial
  const best = bareSerial <= bareConc ? { what: `bare ${N} mounts, serial`, value: bareSerial } : { what: `bare ${N} mounts, ${CONCURRENCY} in flight`, value: bareConc };
  const figures = [
    figure({ bench: 'boot-storm', metric: `${N} clients all ready`, unit: 'ms', value: total, baseline: best, op: '<=', limit: 3000 }),
    figure({ bench: 'boot-storm', metric: `vs ${best.what}`, unit: 'x', value: total / best.value, baseline: { what: 'ratio 1 = bare loop', value: 1 }, op: '<=', limit: 1.5 }),
    ...(best.value === bareConc ? [] : [figure({ bench: 'boot-storm', metric: `vs bare ${N} mounts, ${CONCURRENCY} in flight`, unit: 'x', value: total / bareConc, baseline: { what: 'ratio 1 = bare loop', value: 1 }, op: '<=', limit: 1.5 })]),
    figure({ bench: 'boot-storm', metric: `vs bare ${N} mount(2) calls, ${CONCURRENCY} in flight`, unit: 'x', value: total / bareSys, baseline: { what: 'ratio 1 = bare mount(2) loop', value: 1 }, op: 'info', limit: 0 }),
    figure({ bench: 'boot-storm', metric: 'exportfs runs', unit: 'runs', value: calls, baseline: { what: 'diy: 1 per client', value: N }, op: '<=', limit: 10 }),
  ];
  return { figures, raw: { totalMs: total, exportfsRuns: calls, bareSerialMs: bareSerial, bareConcurrentMs: bareConc, bareSyscallMs: bareSys, mountMethod: process.env.BENCH_MOUNT_METHOD ?? 'config default (auto)', concurrency: CONCURRENCY, queueConcurrency: queueConcurrency ?? 'default', mounted } };
}
