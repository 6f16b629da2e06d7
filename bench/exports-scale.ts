// Exports at fleet scale: lease-to-ready of one new client on a server that already has N ready,
// exported nodes (N = 1,000, 5,000, 10,000; kernel backend, real overlay mounts and real exportfs).
// One lab grows through the sizes: a timed 1,000-node storm onto the empty server, more nodes up to
// 9,000, a timed 1,000-node storm onto the 9,000, and at each N a series of lone new leases.
// Baselines in the same run and at each N: the bare cost of one `exportfs -r` with the same exports
// files in place, and of `exportfs -o`/`-u` for one client:path (what a per-node exportfs would cost).
// Last, at the largest N, a simulated reboot (no overlays, none of our lines in etab) and pxebootd's
// start-up reconcile of every ready node, beside a bare loop of the same mounts (mount(2), 16 in
// flight) plus one `exportfs -r` of the same exports file.
// BENCH_SCALE_SAMPLES (default 9) lone leases per N; BENCH_SCALE_SIZES (default 1000,5000,10000).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, waitFor, type Daemon } from '../test/helpers/lab.ts';
import { parseMountinfo } from '../provisioners/mountinfo.ts';
import { loadSysMount } from '../provisioners/mounter.ts';
import { bootFile, client, leaseLine, makeLab, mountsUnder, rewriteInPlace, watchArrivals, writeConfig, type Lease } from './lib/lab.ts';
import { pxebootdArgv, readDaemonTimings, startPxebootd } from './lib/daemon.ts';
import { figure, median, percentile, type Figure } from './lib/report.ts';

const STORM = 1000;
const WAVES = 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The i-th node of the fleet (1-based), spread over 10.99.0.0/16 like real leases. */
const node = (i: number): Lease => client(99, i);

/**
 * ms of one run of `exportfs args` (wall clock, from this process). A failure is timed too: other
 * tests' `exportfs -r` on this machine can take the ad-hoc entry away between -o and -u.
 */
function timeExportfs(args: string[]): number {
  const t0 = performance.now();
  try {
    execFileSync('exportfs', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch {
    /* timed all the same */
  }
  return performance.now() - t0;
}

/** Detach every overlay under `dir` (umount2 MNT_DETACH through the addon: 10,000 umount(8)s take a minute). */
async function detachAll(dir: string): Promise<void> {
  const sys = loadSysMount();
  if (!('mod' in sys)) throw new Error(sys.why);
  for (const m of mountsUnder(dir)) await sys.mod.umount(m, 2);
}

/** The reboot: no overlay under `nodeDir`, none of our lines in etab (our file emptied + exportfs -r). */
async function reboot(nodeDir: string, exportsFile: string): Promise<void> {
  writeFileSync(exportsFile, '');
  execFileSync('exportfs', ['-r'], { stdio: 'ignore' });
  // a plain umount (not a lazy detach): a detached overlay keeps its upper "in use" until the last
  // reference goes, which no real reboot leaves behind and which a restore would wait out
  const sys = loadSysMount();
  if (!('mod' in sys)) throw new Error(sys.why);
  for (const m of mountsUnder(nodeDir)) await sys.mod.umount(m, 0).catch(() => sys.mod.umount(m, 2));
}

/** ms of the bare baseline: the same overlay mounts by mount(2), 16 in flight, then the exports file and one exportfs -r. */
async function bareRestore(mounts: Array<{ mp: string; opts: string }>, exportsFile: string, exportsText: string): Promise<number> {
  const sys = loadSysMount();
  if (!('mod' in sys)) throw new Error(sys.why);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < mounts.length) {
      const m = mounts[next++]!;
      await sys.mod.mount('overlay', m.mp, 'overlay', 0, m.opts);
    }
  }));
  writeFileSync(exportsFile, exportsText);
  execFileSync('exportfs', ['-r'], { stdio: 'ignore' });
  return performance.now() - t0;
}

/** Start pxebootd (info log) and wait for its "restored N of N ready nodes" line: ms from the spawn, and its own ms. */
async function timedStart(cfg: string, logFile: string, nodes: number): Promise<{ d: Daemon; wallMs: number; restoreMs: number }> {
  const argv = pxebootdArgv();
  const t0 = performance.now();
  const d = startDaemon('pxebootd', [argv[0]!, ...argv.slice(1), 'run', '-c', cfg], { logFile, env: { ...process.env, PXEBOOTD_LOG_LEVEL: 'info' } });
  const line = await waitFor(`pxebootd restoring ${nodes} nodes (log: ${logFile})`, () => readFileSync(logFile, 'utf8').split('\n').find((l) => /"msg":"restored \d+ of \d+ ready nodes"/.test(l)), 900_000, 100);
  const wallMs = performance.now() - t0;
  const rec = JSON.parse(line) as { nodes: number; failed: number; ms: number };
  if (rec.nodes !== nodes || rec.failed !== 0) throw new Error(`reconcile restored ${rec.nodes - rec.failed} of ${rec.nodes}, expected ${nodes}: ${line}`);
  return { d, wallMs, restoreMs: rec.ms };
}

function stats(xs: number[]): { p50: number; p99: number; min: number; max: number; n: number } {
  return { p50: median(xs), p99: percentile(xs, 99), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

const fmt = (s: { p50: number; p99: number; min: number; max: number; n: number }) => `p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)}, n=${s.n})`;

export async function benchExportsScale(log: (s: string) => void): Promise<{ figures: Figure[]; raw: unknown }> {
  const samples = Number(process.env.BENCH_SCALE_SAMPLES ?? 9);
  const sizes = (process.env.BENCH_SCALE_SIZES ?? '1000,5000,10000').split(',').map(Number);
  if (samples < 5) throw new Error(`BENCH_SCALE_SAMPLES=${samples}: at least 5 runs per size`);
  const lab = makeLab('scale');
  const cfg = writeConfig(lab);
  const logFile = path.join(lab.dir, 'pxebootd.log');
  // BENCH_DAEMON_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the daemon; BENCH_KEEP_LOG=FILE keeps its debug log
  let d: Daemon = await startPxebootd(cfg, lab.socket, logFile, [], (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean), 'debug');
  const expiry = Math.floor(Date.now() / 1000) + 3600;
  const cfgDir = path.join(lab.tftpRoot, 'pxelinux.cfg');
  const arrivals = watchArrivals(cfgDir);
  const lines: string[] = [];
  let have = 0; // nodes 1..have have leases
  const addLeases = (upTo: number) => {
    for (; have < upTo; have++) lines.push(leaseLine(node(have + 1), expiry));
    rewriteInPlace(lab.leases, lines.join(''));
  };
  const readyCount = () => readdirSync(cfgDir).filter((f) => f.startsWith('01-')).length;
  const waitReady = (n: number) => waitFor(`${n} boot files`, () => readyCount() >= n, 600_000, 250);

  /** A 1,000-node storm as in bench/boot-storm.ts (10 rewrites 100 ms apart); ms until all are ready. */
  const storm = async (): Promise<number> => {
    const first = have + 1;
    const t0 = performance.now();
    for (let w = 0; w < WAVES; w++) {
      addLeases(have + STORM / WAVES);
      if (w < WAVES - 1) await sleep(100 - ((performance.now() - t0) % 100));
    }
    const ends = await Promise.all(Array.from({ length: STORM }, (_, i) => arrivals.when(path.basename(bootFile(lab, node(first + i).mac)), 600_000)));
    return Math.max(...ends) - t0;
  };

  /** `samples` lone new leases, one at a time: ms from the rewrite to the node's boot file. */
  const lone = async (): Promise<number[]> => {
    const out: number[] = [];
    for (let k = 0; k < samples; k++) {
      await sleep(300); // the server is idle between boots, as between real leases
      const c = node(have + 1);
      const t0 = performance.now();
      addLeases(have + 1);
      out.push((await arrivals.when(path.basename(bootFile(lab, c.mac)), 60_000)) - t0);
    }
    return out;
  };

  /** Bare exportfs costs with the exports files as they are now (our file holds `have` nodes). */
  const bare = (): { r: number[]; o: number[]; io: number[]; u: number[] } => {
    const spare = path.join(lab.dir, 'bare-export');
    mkdirSync(spare, { recursive: true });
    const who = `10.97.0.1:${spare}`;
    const res = { r: [] as number[], o: [] as number[], io: [] as number[], u: [] as number[] };
    for (let k = 0; k < 5; k++) res.r.push(timeExportfs(['-r']));
    for (let k = 0; k < 3; k++) {
      res.o.push(timeExportfs(['-o', 'rw,no_subtree_check,fsid=4000000000', who]));
      res.u.push(timeExportfs(['-u', who]));
      res.io.push(timeExportfs(['-i', '-o', 'rw,no_subtree_check,fsid=4000000000', who]));
      timeExportfs(['-u', who]);
    }
    return res;
  };

  const perSize: Record<number, { l2r: number[]; bare: ReturnType<typeof bare>; seenToReady: number[]; exportfsRuns: number }> = {};
  let stormEmpty = NaN;
  let stormFull = NaN;
  let reconcile: { nodes: number; wallMs: number; restoreMs: number; bareMs: number } | undefined;
  try {
    stormEmpty = await storm();
    log(`  storm of ${STORM} onto an empty server: all ready in ${stormEmpty.toFixed(0)} ms`);
    for (const n of sizes) {
      if (n === sizes[sizes.length - 1] && n >= STORM * 2 && have < n - STORM) {
        addLeases(n - STORM);
        await waitReady(n - STORM);
        await sleep(1500);
        stormFull = await storm();
        log(`  storm of ${STORM} onto ${n - STORM} ready nodes: all ready in ${stormFull.toFixed(0)} ms`);
      } else if (have < n) {
        addLeases(n);
      }
      await waitReady(n);
      await sleep(1500);
      const t0 = readDaemonTimings(logFile);
      const l2r = await lone();
      const t1 = readDaemonTimings(logFile);
      const seenToReady = t1.readyMs.slice(t0.readyMs.length);
      const exportfsRuns = (t1.byTool.exportfs?.length ?? 0) - (t0.byTool.exportfs?.length ?? 0);
      const b = bare();
      perSize[n] = { l2r, bare: b, seenToReady, exportfsRuns };
      log(`  ${n} exported nodes: lease to ready ${fmt(stats(l2r))}; inside the daemon median ${median(seenToReady).toFixed(1)} ms; exportfs runs for ${samples} leases: ${exportfsRuns}`);
      log(`    bare exportfs -r ${fmt(stats(b.r))}; exportfs -o one ${fmt(stats(b.o))}; -i -o one ${fmt(stats(b.io))}; -u one ${fmt(stats(b.u))}`);
      await sleep(500);
    }
    if (process.env.BENCH_SCALE_RECONCILE !== '0') {
      // the reboot, then pxebootd's start-up reconcile of every ready node
      await d.stop();
      const mounts = [...parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'), [lab.nodeDir]).values()].map((e) => ({
        mp: e.mountPoint,
        opts: `lowerdir=${e.superOptions.get('lowerdir')},upperdir=${e.superOptions.get('upperdir')},workdir=${e.superOptions.get('workdir')},index=on,nfs_export=on`,
      }));
      const exportsText = readFileSync(lab.exportsFile, 'utf8');
      await reboot(lab.nodeDir, lab.exportsFile);
      writeFileSync(lab.exportsFile, exportsText); // pxebootd's own file is still there after a reboot
      const started = await timedStart(cfg, path.join(lab.dir, 'pxebootd-reconcile.log'), have);
      d = started.d;
      log(`  reconcile after a reboot, ${have} ready nodes: restored in ${started.restoreMs} ms (${started.wallMs.toFixed(0)} ms from the spawn)`);
      await d.stop();
      await reboot(lab.nodeDir, lab.exportsFile);
      const bareMs = await bareRestore(mounts, lab.exportsFile, exportsText);
      log(`    bare: ${mounts.length} mount(2), 16 in flight, + one exportfs -r: ${bareMs.toFixed(0)} ms`);
      reconcile = { nodes: have, wallMs: started.wallMs, restoreMs: started.restoreMs, bareMs };
      d = await startPxebootd(cfg, lab.socket, logFile, [], [], 'debug'); // for the clean-up below
    }
  } finally {
    arrivals.close();
    await d.stop();
    await detachAll(lab.nodeDir);
    if (process.env.BENCH_KEEP_LOG) copyFileSync(logFile, process.env.BENCH_KEEP_LOG);
  }

  const figures: Figure[] = [];
  const first = sizes[0]!;
  for (const n of sizes) {
    const r = perSize[n];
    if (!r) continue;
    const s = stats(r.l2r);
    const b = stats(r.bare.r);
    const spread = `min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)} ms over ${s.n} leases`;
    figures.push(
      figure({ bench: 'exports-scale', metric: `lease to ready p50, ${n} exported (kernel)`, unit: 'ms', value: s.p50, baseline: { what: `one bare exportfs -r at ${n}`, value: b.p50 }, op: '<=', limit: 30, notes: spread }),
      figure({ bench: 'exports-scale', metric: `lease to ready p99, ${n} exported (kernel)`, unit: 'ms', value: s.p99, baseline: { what: `one bare exportfs -r at ${n}`, value: b.p50 }, op: '<=', limit: 100, notes: spread }),
      figure({ bench: 'exports-scale', metric: `exportfs -o one client:path at ${n}`, unit: 'ms', value: median(r.bare.o), baseline: { what: `one bare exportfs -r at ${n}`, value: b.p50 }, op: 'info', limit: 0, notes: `-i -o ${median(r.bare.io).toFixed(1)} ms, -u ${median(r.bare.u).toFixed(1)} ms` }),
    );
  }
  const last = sizes[sizes.length - 1]!;
  if (perSize[first] && perSize[last] && last !== first) {
    figures.push(figure({ bench: 'exports-scale', metric: `lease to ready p50 at ${last} vs at ${first}`, unit: 'x', value: median(perSize[last]!.l2r) / median(perSize[first]!.l2r), baseline: { what: 'ratio 1 = flat', value: 1 }, op: '<=', limit: 1.5 }));
  }
  if (Number.isFinite(stormFull)) {
    figures.push(
      figure({ bench: 'exports-scale', metric: `${STORM}-node storm onto ${last - STORM} ready`, unit: 'ms', value: stormFull, baseline: { what: 'the same storm onto an empty server', value: stormEmpty }, op: 'info', limit: 0 }),
      figure({ bench: 'exports-scale', metric: `storm onto ${last - STORM} vs onto empty`, unit: 'x', value: stormFull / stormEmpty, baseline: { what: 'ratio 1 = no slower', value: 1 }, op: '<=', limit: 2 }),
    );
  }
  if (reconcile) {
    figures.push(
      figure({ bench: 'exports-scale', metric: `start-up reconcile of ${reconcile.nodes} ready nodes after a reboot`, unit: 'ms', value: reconcile.wallMs, baseline: { what: 'bare loop of the same mounts + one exportfs -r', value: reconcile.bareMs }, op: 'info', limit: 0, notes: `restore step alone ${reconcile.restoreMs} ms` }),
      figure({ bench: 'exports-scale', metric: `reconcile of ${reconcile.nodes} vs the bare loop`, unit: 'x', value: reconcile.wallMs / reconcile.bareMs, baseline: { what: 'ratio 1 = as fast as the bare loop', value: 1 }, op: '<=', limit: 2 }),
    );
  }
  return { figures, raw: { samples, sizes, stormEmptyMs: stormEmpty, stormFullMs: stormFull, perSize, reconcile } };
}
